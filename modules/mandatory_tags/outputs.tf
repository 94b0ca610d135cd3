output "tags" {
  description = "The tags, once they are known to carry every mandatory key with a value."
  value       = var.tags

  precondition {
    condition     = length(local.missing_keys) == 0
    error_message = "The tags lack ${join(", ", local.missing_keys)}; every resource must carry ${join(", ", local.mandatory_keys)}."
  }

  precondition {
    condition     = length(local.empty_keys) == 0
    error_message = "The tags ${join(", ", local.empty_keys)} are empty; every tag needs a value."
  }
}
