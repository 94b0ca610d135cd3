# One table component (linked as main.tf into dynamodb/<component>/): the table defined by the
# component's <entity>.schema.json and its AWS Backup plan. The component is the directory name.

locals {
  component   = basename(abspath(path.module))
  schema_file = one(tolist(fileset(path.module, "*.schema.json")))

  tags = module.mandatory_tags.tags
}

# The schema is decoded once, here: its `x-dynamodb` member is the single source of the table's
# keys and GSIs, its `properties` give the key attributes' types. A missing member becomes an
# empty value that the module's validations reject.
locals {
  schema           = jsondecode(file("${path.module}/${local.schema_file}"))
  table_definition = try(local.schema["x-dynamodb"], {})
  properties       = try(local.schema.properties, {})

  hash_key  = try(tostring(local.table_definition.hashKey), "")
  range_key = try(tostring(local.table_definition.rangeKey), null)
  global_secondary_indexes = [
    for index in try(local.table_definition.globalSecondaryIndexes, []) : {
      name               = try(tostring(index.name), "")
      hash_key           = try(tostring(index.hashKey), "")
      range_key          = try(tostring(index.rangeKey), null)
      projection_type    = try(tostring(index.projectionType), "")
      non_key_attributes = try(tolist(index.nonKeyAttributes), null)
    }
  ]

  # Only key attributes (table and GSI keys) are declared to DynamoDB, each once.
  key_attribute_names = distinct(compact(flatten([
    local.hash_key,
    local.range_key,
    [for index in local.global_secondary_indexes : [index.hash_key, index.range_key]],
  ])))

  # Each key attribute's JSON Schema: its entry in `properties`, merged over the definition it
  # references when that is a local "#/$defs/<name>" (or "#/definitions/<name>") $ref.
  schema_definitions = merge(try(local.schema["$defs"], {}), try(local.schema.definitions, {}))
  key_attribute_schemas = {
    for name in local.key_attribute_names : name => merge(
      try(local.schema_definitions[trimprefix(trimprefix(local.properties[name]["$ref"], "#/$defs/"), "#/definitions/")], {}),
      try(local.properties[name], {}),
    )
  }

  # JSON Schema type -> DynamoDB scalar type: string -> S (B when base64-encoded), number and
  # integer -> N. null marks an attribute that is missing from `properties` or cannot be a key.
  key_attributes = [
    for name, property in local.key_attribute_schemas : {
      name = name
      type = try(
        property.type == "string" ? (try(property.contentEncoding, "") == "base64" ? "B" : "S") :
        contains(["number", "integer"], property.type) ? "N" : null,
        null
      )
    }
  ]
}

module "mandatory_tags" {
  source = "../../modules/mandatory_tags"

  tags = merge(var.tags, {
    Environment  = var.environment
    Component    = "dynamodb"
    BackupPolicy = var.backup_policy
  })
  extra_required_keys = ["BackupPolicy"]
}

module "table" {
  source = "../../modules/dynamodb_table"

  name                     = try(tostring(local.table_definition.tableName), "")
  billing_mode             = try(tostring(local.table_definition.billingMode), "PAY_PER_REQUEST")
  hash_key                 = local.hash_key
  range_key                = local.range_key
  attributes               = local.key_attributes
  global_secondary_indexes = local.global_secondary_indexes
  tags                     = local.tags
}

module "backup" {
  source = "../../modules/backup"

  providers = {
    aws    = aws
    aws.dr = aws.dr
  }

  name           = "bbws-${local.component}-${var.environment}"
  schedule       = var.backup_schedule
  retention_days = var.backup_retention_days
  copy_to_dr     = var.backup_copy_to_dr
  resource_arns  = [module.table.table_arn]
  tags           = local.tags
}
