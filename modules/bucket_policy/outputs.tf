output "policy_json" {
  description = "The bucket policy document (JSON)."
  value       = data.aws_iam_policy_document.this.json
}

output "bucket_name" {
  description = "Name of the bucket, read back once the policy is attached (depend on it to act only after the policy exists)."
  value       = aws_s3_bucket_policy.this.bucket
}
