output "bucket_name" {
  description = "Name of the template bucket."
  value       = module.templates_bucket.id
}

output "bucket_arn" {
  description = "ARN of the template bucket."
  value       = module.templates_bucket.arn
}

output "log_bucket_name" {
  description = "Name of the access-log bucket, or null when access logging is disabled."
  value       = one(module.log_bucket[*].id)
}

output "log_bucket_arn" {
  description = "ARN of the access-log bucket, or null when access logging is disabled."
  value       = one(module.log_bucket[*].arn)
}

output "replica_bucket_name" {
  description = "Name of the DR replica bucket, or null when replication is disabled."
  value       = one(module.replication[*].replica_bucket_name)
}

output "replica_bucket_arn" {
  description = "ARN of the DR replica bucket, or null when replication is disabled."
  value       = one(module.replication[*].replica_bucket_arn)
}

output "replication_role_arn" {
  description = "ARN of the replication IAM role, or null when replication is disabled."
  value       = one(module.replication[*].role_arn)
}

output "template_keys" {
  description = "Object keys of the uploaded templates, sorted."
  value       = sort(keys(aws_s3_bucket_object.template))
}
