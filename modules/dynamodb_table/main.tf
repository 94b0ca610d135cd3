# One DynamoDB table, defined by the `x-dynamodb` member of an entity's JSON Schema: the schema
# file is the single source of the table's keys and GSIs (docs/architecture.md, "Tables").

locals {
  schema     = jsondecode(file(var.schema_path))
  definition = local.schema["x-dynamodb"]
  properties = try(local.schema.properties, {})

  table_name               = try(tostring(local.definition.tableName), "")
  billing_mode             = try(tostring(local.definition.billingMode), "PAY_PER_REQUEST")
  hash_key                 = try(tostring(local.definition.hashKey), "")
  range_key                = try(tostring(local.definition.rangeKey), "")
  global_secondary_indexes = try(local.definition.globalSecondaryIndexes, [])
  global_secondary_index_names = [
    for index in local.global_secondary_indexes : try(tostring(index.name), "")
  ]

  # Only key attributes (table and GSI keys) are declared to DynamoDB, each once.
  key_attribute_names = distinct(compact(flatten([
    local.hash_key,
    local.range_key,
    [for index in local.global_secondary_indexes : [try(index.hashKey, ""), try(index.rangeKey, "")]],
  ])))

  # Each key attribute's JSON Schema: its entry in `properties`, merged over the definition it
  # references when that is a local "#/$defs/<name>" (or "#/definitions/<name>") $ref.
  definitions = merge(try(local.schema["$defs"], {}), try(local.schema.definitions, {}))
  key_attribute_schemas = {
    for name in local.key_attribute_names : name => merge(
      try(local.definitions[trimprefix(trimprefix(local.properties[name]["$ref"], "#/$defs/"), "#/definitions/")], {}),
      try(local.properties[name], {}),
    )
  }

  # JSON Schema type -> DynamoDB scalar type: string -> S (B when base64-encoded), number and
  # integer -> N. null marks an attribute that is missing from `properties` or cannot be a key.
  key_attribute_types = {
    for name, property in local.key_attribute_schemas : name => try(
      property.type == "string" ? (try(property.contentEncoding, "") == "base64" ? "B" : "S") :
      contains(["number", "integer"], property.type) ? "N" : null,
      null
    )
  }
  invalid_key_attributes = sort([for name, type in local.key_attribute_types : name if type == null])

  invalid_indexes = [
    for index in local.global_secondary_indexes : try(tostring(index.name), "(unnamed)")
    if !can(regex("^[a-zA-Z0-9_.-]{3,255}$", index.name)) ||
    try(index.hashKey, "") == "" ||
    !contains(["ALL", "KEYS_ONLY", "INCLUDE"], try(index.projectionType, "")) ||
    (try(index.projectionType, "") == "INCLUDE") != (length(try(index.nonKeyAttributes, [])) > 0)
  ]
}

# Deletion protection: 3.39 has no deletion_protection_enabled and prevent_destroy cannot be
# variable, so the task runner's plan guard refuses deletes/replacements where the environment
# sets deletion_protection = true (docs/decisions/deletion-protection.md).
resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV_AWS_119:Encryption uses the AWS-managed key aws/dynamodb (SSE-KMS) by design, not a customer-managed CMK (docs/architecture.md, Encryption).
  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = local.hash_key
  range_key    = local.range_key == "" ? null : local.range_key

  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  # No kms_key_arn: DynamoDB encrypts with the AWS-managed key aws/dynamodb.
  server_side_encryption {
    enabled = true
  }

  point_in_time_recovery {
    enabled = true
  }

  dynamic "attribute" {
    for_each = local.key_attribute_types
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = local.global_secondary_indexes
    content {
      name               = global_secondary_index.value.name
      hash_key           = global_secondary_index.value.hashKey
      range_key          = try(global_secondary_index.value.rangeKey, null)
      projection_type    = global_secondary_index.value.projectionType
      non_key_attributes = global_secondary_index.value.projectionType == "INCLUDE" ? try(global_secondary_index.value.nonKeyAttributes, null) : null
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", local.table_name))
      error_message = "${var.schema_path}: x-dynamodb.tableName must be 3-255 characters of a-z, A-Z, 0-9, _, - and ."
    }
    precondition {
      condition     = local.billing_mode == "PAY_PER_REQUEST"
      error_message = "${var.schema_path}: x-dynamodb.billingMode must be PAY_PER_REQUEST, because the tables bill on demand and have no capacity settings."
    }
    precondition {
      condition     = local.hash_key != ""
      error_message = "${var.schema_path}: x-dynamodb.hashKey is missing."
    }
    precondition {
      condition     = length(local.invalid_key_attributes) == 0
      error_message = "${var.schema_path}: key attributes must be defined in properties as string, number or integer: ${join(", ", local.invalid_key_attributes)}."
    }
    precondition {
      condition     = length(local.invalid_indexes) == 0
      error_message = "${var.schema_path}: each GSI needs a valid name, a hashKey, a projectionType of ALL, KEYS_ONLY or INCLUDE, and nonKeyAttributes exactly when INCLUDE: ${join(", ", local.invalid_indexes)}."
    }
    precondition {
      condition     = length(distinct(local.global_secondary_index_names)) == length(local.global_secondary_index_names)
      error_message = "${var.schema_path}: GSI names must be unique."
    }
  }
}
