variable "source_bucket_name" {
  description = "Name of the bucket whose objects are replicated (in the aws provider's region). Also the prefix of the role name (<source_bucket_name>-replication)."
  type        = string

  validation {
    # The role name "<source_bucket_name>-replication" must stay within IAM's 64 characters.
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,50}[a-z0-9]$", var.source_bucket_name))
    error_message = "The source_bucket_name must be a valid S3 bucket name of at most 52 characters."
  }
}

variable "replica_bucket_name" {
  description = "Name of the replica bucket created in the aws.dr provider's region, e.g. bbws-templates-prod-replica."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.replica_bucket_name))
    error_message = "The replica_bucket_name must be a valid S3 bucket name."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent versions in the replica bucket are deleted (normally the source bucket's value); null keeps them forever."
  type        = number
  default     = null

  validation {
    condition     = var.noncurrent_version_expiration_days == null ? true : var.noncurrent_version_expiration_days >= 1
    error_message = "The noncurrent_version_expiration_days must be null or at least 1."
  }
}

variable "tags" {
  description = "Tags for the replica bucket and the IAM role. The root checks the mandatory keys once (modules/mandatory_tags)."
  type        = map(string)
}
