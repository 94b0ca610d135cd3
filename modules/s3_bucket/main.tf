# A private, versioned, SSE-S3 encrypted bucket. Settings use the aws_s3_bucket inline blocks
# because provider 3.39 (the offline floor) has no separate aws_s3_bucket_* configuration
# resources; 5.x/6.x deprecate these blocks but still accept them
# (docs/decisions/provider-pin.md).

# The template buckets use SSE-S3 (AES-256) by design, not a customer-managed KMS key
# (docs/architecture.md, "Encryption").
#trivy:ignore:AVD-AWS-0132
resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_145:Default encryption is SSE-S3 (AES-256) by design, not SSE-KMS with a customer-managed key (docs/architecture.md, Encryption).
  #checkov:skip=CKV2_AWS_62:Event notifications are not part of the design; nothing consumes bucket events.
  bucket        = var.bucket_name
  force_destroy = false

  versioning {
    enabled = true
  }

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        sse_algorithm = "AES256"
      }
    }
  }

  lifecycle_rule {
    id                                     = "housekeeping"
    enabled                                = true
    abort_incomplete_multipart_upload_days = var.abort_incomplete_multipart_upload_days

    dynamic "expiration" {
      for_each = var.expiration_days == null ? [] : [var.expiration_days]
      content {
        days = expiration.value
      }
    }

    dynamic "noncurrent_version_expiration" {
      for_each = var.noncurrent_version_expiration_days == null ? [] : [var.noncurrent_version_expiration_days]
      content {
        days = noncurrent_version_expiration.value
      }
    }
  }

  dynamic "logging" {
    for_each = var.access_logging == null ? [] : [var.access_logging]
    content {
      target_bucket = logging.value.target_bucket
      target_prefix = logging.value.target_prefix
    }
  }

  dynamic "replication_configuration" {
    for_each = var.replication == null ? [] : [var.replication]
    content {
      role = replication_configuration.value.role_arn

      # Every object: an empty-prefix filter (replication configuration V2). Provider 3.39's inline
      # block has no delete_marker_replication_status and sends DeleteMarkerReplication =
      # Disabled for V2 rules, so deletions are not mirrored (the replica keeps every version).
      # A V1 rule (no filter) would replicate delete markers on AWS, but S3 emulators read it
      # back as V2, which shows as a permanent diff in the sandbox.
      rules {
        id       = "replicate-every-object"
        status   = "Enabled"
        priority = 1

        filter {
          prefix = ""
        }

        destination {
          bucket        = replication_configuration.value.destination_bucket_arn
          storage_class = "STANDARD"
        }
      }
    }
  }

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
