# One DynamoDB table from typed inputs: the table root decodes the `x-dynamodb` member of the
# entity's JSON Schema (the single source of the keys and GSIs, docs/architecture.md, "Tables")
# and passes the name, keys, key attributes and indexes; the variables' validations check them.

# Deletion protection: 3.39 has no deletion_protection_enabled and prevent_destroy cannot be
# variable, so the task runner's plan guard refuses deletes/replacements where the environment
# sets deletion_protection = true (docs/decisions/deletion-protection.md).
resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV_AWS_119:Encryption uses the AWS-managed key aws/dynamodb (SSE-KMS) by design, not a customer-managed CMK (docs/architecture.md, Encryption).
  name         = var.name
  billing_mode = var.billing_mode
  hash_key     = var.hash_key
  range_key    = var.range_key

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
    for_each = var.attributes
    content {
      name = attribute.value.name
      type = attribute.value.type
    }
  }

  dynamic "global_secondary_index" {
    for_each = var.global_secondary_indexes
    content {
      name               = global_secondary_index.value.name
      hash_key           = global_secondary_index.value.hash_key
      range_key          = global_secondary_index.value.range_key
      projection_type    = global_secondary_index.value.projection_type
      non_key_attributes = global_secondary_index.value.projection_type == "INCLUDE" ? global_secondary_index.value.non_key_attributes : null
    }
  }

  # Adding a GSI to a table that holds data waits for its backfill, which on a large table
  # takes hours (docs/runbooks/deployment.md, "Long waits: GSI backfills"); the provider's
  # default (60m) would fail the apply while DynamoDB goes on building. The release
  # workflows' apply and rollback jobs allow more than this.
  timeouts {
    update = "4h"
  }

  tags = var.tags
}
