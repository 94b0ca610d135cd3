variable "name" {
  description = "Name of the table (the schema's x-dynamodb.tableName)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.name))
    error_message = "The table name must be 3-255 characters of a-z, A-Z, 0-9, _, - and ."
  }
}

variable "billing_mode" {
  description = "Billing mode of the table. Only PAY_PER_REQUEST: the tables bill on demand and have no capacity settings."
  type        = string
  default     = "PAY_PER_REQUEST"
  nullable    = false

  validation {
    condition     = var.billing_mode == "PAY_PER_REQUEST"
    error_message = "The billing_mode must be PAY_PER_REQUEST, because the tables bill on demand and have no capacity settings."
  }
}

variable "hash_key" {
  description = "Attribute of the table's partition (hash) key; declared in attributes."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.hash_key) >= 1 && length(var.hash_key) <= 255
    error_message = "The hash_key must be an attribute name of 1-255 characters."
  }

  validation {
    condition     = contains([for attribute in var.attributes : attribute.name], var.hash_key)
    error_message = "The hash_key ${var.hash_key} must be declared in attributes."
  }
}

variable "range_key" {
  description = "Attribute of the table's sort (range) key, declared in attributes; null for a table without one."
  type        = string
  default     = null

  validation {
    condition     = var.range_key == null || try(length(var.range_key) >= 1 && length(var.range_key) <= 255, false)
    error_message = "The range_key must be null or an attribute name of 1-255 characters."
  }

  validation {
    condition     = var.range_key == null || contains([for attribute in var.attributes : attribute.name], coalesce(var.range_key, "-"))
    error_message = "The range_key ${coalesce(var.range_key, "-")} must be declared in attributes."
  }

  validation {
    condition     = var.range_key != var.hash_key
    error_message = "The range_key must differ from the hash_key."
  }
}

variable "attributes" {
  description = "The key attributes (table keys and index keys), each once: name and DynamoDB scalar type S, N or B. The table root derives the types from the schema's properties (string -> S, base64 string -> B, number/integer -> N) and passes null where a key has no such property."
  type = list(object({
    name = string
    type = string
  }))
  nullable = false

  validation {
    condition     = alltrue([for attribute in var.attributes : attribute.name != null && attribute.name != ""])
    error_message = "Every attribute needs a name."
  }

  validation {
    condition     = length(distinct([for attribute in var.attributes : attribute.name])) == length(var.attributes)
    error_message = "Each attribute must be declared once."
  }

  validation {
    condition     = alltrue([for attribute in var.attributes : contains(["S", "N", "B"], coalesce(attribute.type, "-"))])
    error_message = "Every attribute needs a type of S, N or B (a key attribute must be defined in the schema's properties as string, number or integer): ${join(", ", sort([for attribute in var.attributes : coalesce(attribute.name, "(unnamed)") if !contains(["S", "N", "B"], coalesce(attribute.type, "-"))]))}."
  }
}

variable "global_secondary_indexes" {
  description = "Global secondary indexes: name, hash_key, optional range_key (both declared in attributes), projection_type ALL, KEYS_ONLY or INCLUDE, and non_key_attributes exactly when INCLUDE."
  type = list(object({
    name               = string
    hash_key           = string
    range_key          = optional(string)
    projection_type    = string
    non_key_attributes = optional(list(string))
  }))
  default  = []
  nullable = false

  validation {
    condition     = alltrue([for index in var.global_secondary_indexes : can(regex("^[a-zA-Z0-9_.-]{3,255}$", index.name))])
    error_message = "GSI names must be 3-255 characters of a-z, A-Z, 0-9, _, - and .: ${join(", ", [for index in var.global_secondary_indexes : coalesce(index.name, "(unnamed)") if !can(regex("^[a-zA-Z0-9_.-]{3,255}$", index.name))])}."
  }

  validation {
    condition     = alltrue([for index in var.global_secondary_indexes : try(length(index.hash_key) > 0, false) && index.range_key != ""])
    error_message = "Each GSI needs a hash_key, and a range_key that is null or not empty: ${join(", ", [for index in var.global_secondary_indexes : coalesce(index.name, "(unnamed)") if !(try(length(index.hash_key) > 0, false) && index.range_key != "")])}."
  }

  validation {
    condition     = alltrue([for index in var.global_secondary_indexes : contains(["ALL", "KEYS_ONLY", "INCLUDE"], coalesce(index.projection_type, "-"))])
    error_message = "Each GSI needs a projection_type of ALL, KEYS_ONLY or INCLUDE: ${join(", ", [for index in var.global_secondary_indexes : coalesce(index.name, "(unnamed)") if !contains(["ALL", "KEYS_ONLY", "INCLUDE"], coalesce(index.projection_type, "-"))])}."
  }

  validation {
    condition     = alltrue([for index in var.global_secondary_indexes : (index.projection_type == "INCLUDE") == (try(length(index.non_key_attributes), 0) > 0)])
    error_message = "A GSI has non_key_attributes exactly when its projection_type is INCLUDE: ${join(", ", [for index in var.global_secondary_indexes : coalesce(index.name, "(unnamed)") if(index.projection_type == "INCLUDE") != (try(length(index.non_key_attributes), 0) > 0)])}."
  }

  validation {
    condition     = length(distinct([for index in var.global_secondary_indexes : index.name])) == length(var.global_secondary_indexes)
    error_message = "GSI names must be unique."
  }

  validation {
    condition     = alltrue([for key in compact(flatten([for index in var.global_secondary_indexes : [index.hash_key, index.range_key]])) : contains([for attribute in var.attributes : attribute.name], key)])
    error_message = "Every GSI's hash_key and range_key must be declared in attributes: ${join(", ", sort(distinct([for key in compact(flatten([for index in var.global_secondary_indexes : [index.hash_key, index.range_key]])) : key if !contains([for attribute in var.attributes : attribute.name], key)])))}."
  }

  validation {
    condition     = length(var.global_secondary_indexes) <= 20
    error_message = "A table has at most 20 global secondary indexes."
  }

  validation {
    condition     = alltrue([for attribute in var.attributes : contains(compact(flatten([var.hash_key, var.range_key, [for index in var.global_secondary_indexes : [index.hash_key, index.range_key]]])), attribute.name)])
    error_message = "Every attribute must be a key of the table or of a GSI (DynamoDB refuses attributes no key uses): ${join(", ", sort([for attribute in var.attributes : attribute.name if !contains(compact(flatten([var.hash_key, var.range_key, [for index in var.global_secondary_indexes : [index.hash_key, index.range_key]]])), attribute.name)]))}."
  }
}

variable "tags" {
  description = "Tags for the table. The root checks the mandatory keys once (modules/mandatory_tags)."
  type        = map(string)
  nullable    = false

  validation {
    condition     = alltrue([for key, value in var.tags : length(key) >= 1 && length(key) <= 128 && length(value) <= 256])
    error_message = "Tag keys must be 1-128 characters and tag values at most 256."
  }
}
