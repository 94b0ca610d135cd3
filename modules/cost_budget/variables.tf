variable "name" {
  description = "Name of the budget, e.g. bbws-monthly-cost-dev."
  type        = string

  validation {
    condition     = can(regex("^[^:\\\\]{1,100}$", var.name))
    error_message = "The name must be 1-100 characters without : or \\ (a budget name)."
  }
}

variable "limit_usd" {
  description = "Monthly cost the account is expected to stay under, in USD."
  type        = number

  validation {
    condition     = var.limit_usd > 0
    error_message = "The limit_usd must be more than 0."
  }
}

variable "actual_alert_percent" {
  description = "Alert when the month's actual cost passes this percentage of the limit."
  type        = number
  default     = 80

  validation {
    condition     = var.actual_alert_percent > 0 && var.actual_alert_percent <= 1000
    error_message = "The actual_alert_percent must be between 0 (exclusive) and 1000."
  }
}

variable "forecast_alert_percent" {
  description = "Alert when the month's forecast cost passes this percentage of the limit."
  type        = number
  default     = 100

  validation {
    condition     = var.forecast_alert_percent > 0 && var.forecast_alert_percent <= 1000
    error_message = "The forecast_alert_percent must be between 0 (exclusive) and 1000."
  }
}

variable "topic_arn" {
  description = "ARN of the SNS topic the alerts go to; its policy must let budgets.amazonaws.com publish."
  type        = string
}

variable "email_addresses" {
  description = "Addresses AWS Budgets emails directly as well (at most 10)."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.email_addresses) <= 10
    error_message = "AWS Budgets sends a notification to at most 10 email addresses."
  }
}

variable "period_start" {
  description = "First day the budget counts, as YYYY-MM-DD_hh:mm (UTC)."
  type        = string
  default     = "2026-01-01_00:00"

  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-01_00:00$", var.period_start))
    error_message = "The period_start must be the first day of a month, as YYYY-MM-01_00:00."
  }
}
