# Per-environment inputs shared by every component root (each root links this file as
# env_variables.tf). Values live only in envs/<env>.tfvars.

variable "environment" {
  description = "Environment name; also the suffix of bucket names and the Environment tag."
  type        = string
  validation {
    # Which environments exist, and their order, is the task runner's registry (envs/*.tfvars).
    condition     = can(regex("^[a-z][a-z0-9]*$", var.environment))
    error_message = "The environment must be a short lowercase name such as dev."
  }
}

variable "account_id" {
  description = "AWS account that owns this environment; the provider refuses any other."
  type        = string
  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "The account_id must be a 12-digit AWS account id."
  }
}

variable "region" {
  description = "Primary region of the environment."
  type        = string
  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "The region must look like af-south-1."
  }
}

variable "dr_region" {
  description = "Disaster-recovery region for backup copies and the replica bucket (used only where DR is enabled)."
  type        = string
  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.dr_region))
    error_message = "The dr_region must look like eu-west-1."
  }
}

variable "deletion_protection" {
  description = "When true the task runner refuses plans that delete or replace a table, bucket or backup vault unless explicitly overridden."
  type        = bool
}

variable "pre_deploy_backup" {
  description = "When true the task runner takes an on-demand backup of every table a deployment, promotion or rollback changes, and waits for it, before applying (no Terraform resource reads it)."
  type        = bool
  default     = false
}

variable "verify_canary_writes" {
  description = "When true the data stage of invoke verify (run after every apply too) writes one marked canary item to each table, queries it through every documented access pattern and deletes it; when false it only reads (no Terraform resource reads it)."
  type        = bool
  default     = false
}

variable "backup_policy" {
  description = "Backup cadence, written to the BackupPolicy tag of every table."
  type        = string
  validation {
    condition     = contains(["daily", "hourly"], var.backup_policy)
    error_message = "The backup_policy must be daily or hourly."
  }
}

variable "backup_schedule" {
  description = "AWS Backup schedule expression for the table backup plan."
  type        = string
  validation {
    condition     = can(regex("^cron\\(.+\\)$", var.backup_schedule))
    error_message = "The backup_schedule must be a cron(...) expression."
  }
}

variable "backup_retention_days" {
  description = "Days AWS Backup keeps each recovery point."
  type        = number
  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 36500
    error_message = "The backup_retention_days must be between 1 and 36500."
  }
}

variable "backup_copy_to_dr" {
  description = "Copy every recovery point to a vault in dr_region."
  type        = bool
}

variable "noncurrent_version_expiration_days" {
  description = "Days a noncurrent template version is kept before S3 expires it."
  type        = number
  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "The noncurrent_version_expiration_days must be at least 1."
  }
}

variable "access_logging_enabled" {
  description = "Write S3 server access logs for the template bucket to a separate log bucket."
  type        = bool
}

variable "replication_enabled" {
  description = "Replicate the template bucket to a replica bucket in dr_region."
  type        = bool
}

variable "tags" {
  description = "Organisation tags applied to every resource (Project, Owner, CostCenter, ManagedBy); each root checks the full mandatory set once, through modules/mandatory_tags."
  type        = map(string)
}

variable "monitoring" {
  description = "What watches the env's data stores (the monitoring/alerts component): who is alerted, which CloudWatch alarms exist and their thresholds, the monthly budget. Backup-failure alerts and the budget are on in every env."
  type = object({
    # Table and account CloudWatch alarms; an env may go without (dev), never without
    # backup-failure and budget alerts.
    alarms_enabled        = bool
    alert_email_addresses = list(string)
    # An HTTPS endpoint (chat integration) that confirms its SNS subscription itself.
    alert_webhook_endpoint = optional(string)
    # An alarm fires when the Sum over period_seconds exceeds its threshold in
    # datapoints_to_alarm of evaluation_periods periods.
    throttle_events_threshold = optional(number, 0)
    system_errors_threshold   = optional(number, 0)
    user_errors_threshold     = optional(number, 10)
    period_seconds            = optional(number, 300)
    evaluation_periods        = optional(number, 1)
    datapoints_to_alarm       = optional(number, 1)
    # Monthly cost budget of the account, alerting on actual cost past the first percentage and
    # on forecast cost past the second.
    budget_limit_usd              = number
    budget_actual_alert_percent   = optional(number, 80)
    budget_forecast_alert_percent = optional(number, 100)
  })

  validation {
    condition     = length(var.monitoring.alert_email_addresses) >= 1
    error_message = "The monitoring.alert_email_addresses must name at least one address: nobody would hear of a failed backup or an overrun budget."
  }

  validation {
    condition     = var.monitoring.budget_limit_usd > 0
    error_message = "The monitoring.budget_limit_usd must be more than 0."
  }
}
