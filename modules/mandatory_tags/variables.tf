variable "tags" {
  description = "The tags every resource of the root will carry."
  type        = map(string)
}

variable "extra_required_keys" {
  description = "Keys this root requires on top of the organisation's (e.g. BackupPolicy for tables)."
  type        = list(string)
  default     = []
}
