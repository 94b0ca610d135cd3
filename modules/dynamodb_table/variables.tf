variable "schema_path" {
  description = "Path of the entity's JSON Schema file. Its top-level `x-dynamodb` member defines the table (tableName, billingMode, hashKey, rangeKey, globalSecondaryIndexes); its `properties` give the key attribute types."
  type        = string

  validation {
    condition     = can(jsondecode(file(var.schema_path))["x-dynamodb"])
    error_message = "The schema_path must name a readable JSON file with a top-level \"x-dynamodb\" member."
  }
}

variable "tags" {
  description = "Tags for the table. The root checks the mandatory keys once (modules/mandatory_tags)."
  type        = map(string)
}
