variable "name" {
  description = "Name of the EventBridge rule, e.g. bbws-backup-failures-dev."
  type        = string

  validation {
    condition     = can(regex("^[.\\-_A-Za-z0-9]{1,64}$", var.name))
    error_message = "The name must be 1-64 letters, digits, ., - and _ (an EventBridge rule name)."
  }
}

variable "failed_states" {
  description = "Job states that raise an alert, for backup and copy jobs alike."
  type        = list(string)
  default     = ["FAILED", "ABORTED", "EXPIRED"]

  validation {
    condition     = length(var.failed_states) > 0 && alltrue([for state in var.failed_states : contains(["FAILED", "ABORTED", "EXPIRED", "PARTIAL"], state)])
    error_message = "The failed_states must be some of FAILED, ABORTED, EXPIRED and PARTIAL."
  }
}

variable "topic_arn" {
  description = "ARN of the SNS topic the alerts go to; its policy must let events.amazonaws.com publish."
  type        = string
}

variable "tags" {
  description = "Tags of the rule."
  type        = map(string)
}
