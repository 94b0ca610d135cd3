# The one place the mandatory tags are checked: every root passes its merged tags through this
# module and tags its resources with the output, so nothing is created without them.

locals {
  mandatory_keys = distinct(concat(
    ["Environment", "Project", "Owner", "CostCenter", "ManagedBy", "Component"],
    var.extra_required_keys,
  ))
  missing_keys = [for key in local.mandatory_keys : key if !contains(keys(var.tags), key)]
  empty_keys   = [for key, value in var.tags : key if trimspace(value) == ""]
}
