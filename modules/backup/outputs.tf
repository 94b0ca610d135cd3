output "vault_name" {
  description = "Name of the primary-region backup vault."
  value       = aws_backup_vault.this.name
}

output "vault_arn" {
  description = "ARN of the primary-region backup vault."
  value       = aws_backup_vault.this.arn
}

output "dr_vault_arn" {
  description = "ARN of the DR-region vault that receives the copies, or null when copy_to_dr is false."
  value       = one(aws_backup_vault.dr[*].arn)
}

output "plan_id" {
  description = "ID of the backup plan."
  value       = aws_backup_plan.this.id
}

output "plan_arn" {
  description = "ARN of the backup plan."
  value       = aws_backup_plan.this.arn
}

output "iam_role_arn" {
  description = "ARN of the IAM role AWS Backup assumes."
  value       = aws_iam_role.backup.arn
}

output "selection_id" {
  description = "ID of the backup selection."
  value       = aws_backup_selection.this.id
}
