variable "name" {
  description = "Base name of the vault, plan, rule, IAM role and selection, e.g. bbws-tenants-dev."
  type        = string

  validation {
    # Vault and selection names allow [A-Za-z0-9_-] up to 50 characters; the DR vault's name
    # ("<name>-dr") is the longest derived name.
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{1,46}$", var.name))
    error_message = "The name must be 2-47 characters of letters, digits, - and _, starting with a letter or digit."
  }
}

variable "schedule" {
  description = "AWS Backup schedule expression of the plan's rule, e.g. cron(0 * * * ? *)."
  type        = string

  validation {
    condition     = can(regex("^cron\\(.+\\)$", var.schedule))
    error_message = "The schedule must be a cron(...) expression."
  }
}

variable "retention_days" {
  description = "Days a recovery point (and its DR copy) is kept before AWS Backup deletes it."
  type        = number

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 36500 && floor(var.retention_days) == var.retention_days
    error_message = "The retention_days must be a whole number between 1 and 36500."
  }
}

variable "start_window_minutes" {
  description = "Minutes after the scheduled time within which a backup job must start, or it is cancelled."
  type        = number
  default     = 60

  validation {
    condition     = var.start_window_minutes >= 60 && floor(var.start_window_minutes) == var.start_window_minutes
    error_message = "The start_window_minutes must be a whole number of at least 60."
  }
}

variable "completion_window_minutes" {
  description = "Minutes after the scheduled time within which a backup job must complete, or it is cancelled. Must exceed start_window_minutes by at least 60."
  type        = number
  default     = 180

  validation {
    condition     = var.completion_window_minutes >= 120 && floor(var.completion_window_minutes) == var.completion_window_minutes
    error_message = "The completion_window_minutes must be a whole number of at least 120."
  }
}

variable "copy_to_dr" {
  description = "Create a vault in the aws.dr provider's region and copy every recovery point to it."
  type        = bool
}

variable "resource_arns" {
  description = "ARNs of the resources (here: DynamoDB tables) the plan backs up."
  type        = list(string)

  validation {
    condition     = length(var.resource_arns) > 0 && alltrue([for arn in var.resource_arns : can(regex("^arn:[a-z-]+:[a-z0-9-]+:", arn))])
    error_message = "The resource_arns must be a non-empty list of ARNs."
  }
}

variable "tags" {
  description = "Tags for the vaults, plan, recovery points and IAM role. The root checks the mandatory keys once (modules/mandatory_tags)."
  type        = map(string)
}
