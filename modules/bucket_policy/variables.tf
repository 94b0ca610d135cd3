variable "bucket_name" {
  description = "Name of the bucket the policy is attached to."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "The bucket_name must be a valid S3 bucket name."
  }
}

variable "bucket_arn" {
  description = "ARN of the same bucket; the TLS-only statement covers it and every object in it."
  type        = string

  validation {
    condition     = can(regex("^arn:[a-z-]+:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_arn))
    error_message = "The bucket_arn must be an S3 bucket ARN (arn:<partition>:s3:::<bucket>)."
  }
}

variable "source_policy_documents" {
  description = "Extra IAM policy JSON documents whose statements are merged into the policy (e.g. allowing the S3 logging service to write access logs). Statement ids must be unique and must not be DenyInsecureTransport."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for document in var.source_policy_documents : can(jsondecode(document).Statement)])
    error_message = "Each source_policy_documents entry must be an IAM policy JSON document with a Statement member."
  }
}
