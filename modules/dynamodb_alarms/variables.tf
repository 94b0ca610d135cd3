variable "table_name" {
  description = "Name of the DynamoDB table the alarms watch."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.table_name))
    error_message = "The table_name must be a DynamoDB table name (3-255 of a-z, A-Z, 0-9, _, - and .)."
  }
}

variable "index_names" {
  description = "Global secondary indexes of the table; each gets its own read and write throttle alarms."
  type        = list(string)
  default     = []
}

variable "environment" {
  description = "Environment name, the last part of every alarm name."
  type        = string
}

variable "thresholds" {
  description = "Alarm thresholds and evaluation: an alarm fires when the Sum over period_seconds exceeds its threshold in datapoints_to_alarm of evaluation_periods periods."
  type = object({
    throttle_events     = number
    system_errors       = number
    period_seconds      = number
    evaluation_periods  = number
    datapoints_to_alarm = number
  })

  validation {
    condition     = var.thresholds.throttle_events >= 0 && var.thresholds.system_errors >= 0
    error_message = "The thresholds must not be negative."
  }

  validation {
    condition     = contains([60, 300, 900, 3600], var.thresholds.period_seconds)
    error_message = "The period_seconds must be 60, 300, 900 or 3600."
  }

  validation {
    condition     = var.thresholds.evaluation_periods >= 1 && var.thresholds.datapoints_to_alarm >= 1 && var.thresholds.datapoints_to_alarm <= var.thresholds.evaluation_periods
    error_message = "The evaluation_periods must be at least 1 and datapoints_to_alarm between 1 and evaluation_periods."
  }
}

variable "system_error_operations" {
  description = "DynamoDB operations whose SystemErrors are summed into the table's system-errors alarm (the metric exists only per operation; a metric-math alarm holds at most 10 metrics)."
  type        = list(string)
  default = [
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query",
    "Scan", "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems",
  ]

  validation {
    condition     = length(var.system_error_operations) >= 1 && length(var.system_error_operations) <= 10
    error_message = "Between 1 and 10 operations (CloudWatch's limit of metrics in one alarm)."
  }
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires and when it recovers (the alerts topic)."
  type        = list(string)
}

variable "tags" {
  description = "Tags of every alarm."
  type        = map(string)
}
