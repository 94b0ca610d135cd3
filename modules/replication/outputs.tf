output "role_arn" {
  description = "ARN of the replication role, available once its permissions are attached."
  value       = aws_iam_role.replication.arn

  # Objects written before the role may act would fail to replicate.
  depends_on = [aws_iam_role_policy.replication]
}

output "replica_bucket_name" {
  description = "Name of the replica bucket in the DR region."
  value       = module.replica_bucket_policy.bucket_name
}

output "replica_bucket_arn" {
  description = "ARN of the replica bucket in the DR region."
  value       = module.replica_bucket.arn
}
