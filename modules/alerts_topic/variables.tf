variable "name" {
  description = "Name of the topic and of its key's alias, e.g. bbws-alerts-dev."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,256}$", var.name))
    error_message = "The name must be 1-256 letters, digits, - and _ (an SNS topic name)."
  }
}

variable "publisher_services" {
  description = "Service principals allowed to publish to the topic (and to use its key), e.g. cloudwatch.amazonaws.com; nobody else may publish."
  type        = list(string)

  validation {
    condition     = length(var.publisher_services) > 0 && alltrue([for service in var.publisher_services : can(regex("^[a-z0-9-]+\\.amazonaws\\.com$", service))])
    error_message = "The publisher_services must be one or more service principals such as cloudwatch.amazonaws.com."
  }
}

variable "email_addresses" {
  description = "Addresses subscribed to the topic; each must confirm the subscription from the email AWS sends."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", address))])
    error_message = "Each email address must look like name@example.com."
  }
}

variable "webhook_endpoint" {
  description = "An HTTPS endpoint (e.g. a chat integration) subscribed to the topic, or null. It must confirm the subscription itself (SNS posts a SubscriptionConfirmation first)."
  type        = string
  default     = null

  validation {
    condition     = var.webhook_endpoint == null || can(regex("^https://[^\\s]+$", var.webhook_endpoint))
    error_message = "The webhook_endpoint must be an https:// URL or null."
  }
}

variable "key_deletion_window_days" {
  description = "Days KMS waits before deleting the topic's key after it is removed."
  type        = number
  default     = 30

  validation {
    condition     = var.key_deletion_window_days >= 7 && var.key_deletion_window_days <= 30 && floor(var.key_deletion_window_days) == var.key_deletion_window_days
    error_message = "The key_deletion_window_days must be a whole number between 7 and 30."
  }
}

variable "tags" {
  description = "Tags of the topic and its key."
  type        = map(string)
}
