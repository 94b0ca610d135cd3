# Outputs of one table component (linked as outputs.tf into dynamodb/<component>/).

output "table_name" {
  description = "Name of the table."
  value       = module.table.table_name
}

output "table_arn" {
  description = "ARN of the table."
  value       = module.table.table_arn
}

output "stream_arn" {
  description = "ARN of the table's stream (NEW_AND_OLD_IMAGES)."
  value       = module.table.stream_arn
}

output "global_secondary_index_names" {
  description = "Names of the table's global secondary indexes, sorted."
  value       = module.table.global_secondary_index_names
}

output "backup_vault_name" {
  description = "Name of the backup vault."
  value       = module.backup.vault_name
}

output "backup_vault_arn" {
  description = "ARN of the backup vault."
  value       = module.backup.vault_arn
}

output "backup_dr_vault_arn" {
  description = "ARN of the DR-region vault receiving the copies, or null when backup_copy_to_dr is false."
  value       = module.backup.dr_vault_arn
}

output "backup_plan_id" {
  description = "ID of the backup plan."
  value       = module.backup.plan_id
}

output "backup_selection_id" {
  description = "ID of the backup selection."
  value       = module.backup.selection_id
}
