variable "bucket_name" {
  description = "Globally unique name of the bucket, e.g. bbws-templates-dev."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !can(regex("\\.\\.|^\\d+\\.\\d+\\.\\d+\\.\\d+$", var.bucket_name))
    error_message = "The bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit."
  }
}

variable "expiration_days" {
  description = "Days after which current object versions expire (e.g. access logs); null keeps current versions forever."
  type        = number
  default     = null

  validation {
    condition     = var.expiration_days == null ? true : var.expiration_days >= 1 && floor(var.expiration_days) == var.expiration_days
    error_message = "The expiration_days must be null or a whole number of at least 1."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions are deleted; null keeps them forever."
  type        = number
  default     = null

  validation {
    condition     = var.noncurrent_version_expiration_days == null ? true : var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "The noncurrent_version_expiration_days must be null or a whole number of at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which S3 aborts an incomplete multipart upload and deletes its parts."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "The abort_incomplete_multipart_upload_days must be a whole number of at least 1."
  }
}

variable "access_logging" {
  description = "Server access logging: target_bucket (name of a bucket in the same region that grants the logging service s3:PutObject) and target_prefix. null disables logging."
  type = object({
    target_bucket = string
    target_prefix = string
  })
  default = null
}

variable "replication" {
  description = "Replication of every object (and delete markers) to another bucket: role_arn (the role S3 assumes) and destination_bucket_arn (a versioned bucket). null disables replication."
  type = object({
    role_arn               = string
    destination_bucket_arn = string
  })
  default = null

  validation {
    condition     = var.replication == null ? true : can(regex("^arn:[a-z-]+:iam::", var.replication.role_arn)) && can(regex("^arn:[a-z-]+:s3:::", var.replication.destination_bucket_arn))
    error_message = "The replication role_arn must be an IAM role ARN and destination_bucket_arn an S3 bucket ARN."
  }
}

variable "tags" {
  description = "Tags for the bucket. The root checks the mandatory keys once (modules/mandatory_tags)."
  type        = map(string)
}
