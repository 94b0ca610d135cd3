output "id" {
  description = "Name of the bucket. Read through the public access block so that consumers (policies, objects) wait until the bucket is locked down."
  value       = aws_s3_bucket_public_access_block.this.bucket
}

output "arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "bucket_regional_domain_name" {
  description = "Region-specific domain name of the bucket."
  value       = aws_s3_bucket.this.bucket_regional_domain_name
}
