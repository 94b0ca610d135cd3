output "table_name" {
  description = "Name of the table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the table."
  value       = aws_dynamodb_table.this.arn
}

output "stream_arn" {
  description = "ARN of the table's stream (NEW_AND_OLD_IMAGES)."
  value       = aws_dynamodb_table.this.stream_arn
}

output "global_secondary_index_names" {
  description = "Names of the table's global secondary indexes, sorted."
  value       = sort([for index in aws_dynamodb_table.this.global_secondary_index : index.name])
}
