variable "name" {
  description = "Name of the dashboard, e.g. bbws-data-stores-dev."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.name))
    error_message = "The name must be 1-255 letters, digits, - and _ (a dashboard name)."
  }
}

variable "region" {
  description = "Region of the tables, the bucket and the backups."
  type        = string
}

variable "tables" {
  description = "The tables shown, one row each: name and global secondary index names."
  type = list(object({
    name    = string
    indexes = list(string)
  }))
}

variable "bucket_name" {
  description = "The template bucket whose size and object count are shown."
  type        = string
}

variable "replica" {
  description = "The replica bucket and its region, shown beside the bucket, or null where the bucket is not replicated."
  type = object({
    bucket_name = string
    region      = string
  })
  default = null
}

variable "alarm_arns" {
  description = "Alarms shown in the dashboard's status widget (none: no widget)."
  type        = list(string)
  default     = []
}

variable "period_seconds" {
  description = "Period of the DynamoDB graphs."
  type        = number
  default     = 300

  validation {
    condition     = contains([60, 300, 900, 3600], var.period_seconds)
    error_message = "The period_seconds must be 60, 300, 900 or 3600."
  }
}

variable "graphed_operations" {
  description = "Operations whose average latency (SuccessfulRequestLatency) and system errors are graphed per table."
  type        = list(string)
  default     = ["GetItem", "Query", "PutItem", "UpdateItem"]
}
