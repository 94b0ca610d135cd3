# Templates component: the email-template bucket of one environment, its access-log bucket, the
# PROD replica in the DR region, and the template objects under ./templates.

locals {
  tags = module.mandatory_tags.tags

  bucket_name         = "bbws-templates-${var.environment}"
  log_bucket_name     = "${local.bucket_name}-logs"
  replica_bucket_name = "${local.bucket_name}-replica"
  access_log_prefix   = "${local.bucket_name}/"

  # Logs are kept as long as the template versions they explain; an expired log's noncurrent
  # version is removed the next day.
  log_noncurrent_version_expiration_days = 1

  template_dir   = "${path.module}/templates"
  template_files = fileset(local.template_dir, "**/*.{html,txt}")
  content_types = {
    html = "text/html; charset=utf-8"
    txt  = "text/plain; charset=utf-8"
  }
}

data "aws_partition" "current" {}

module "mandatory_tags" {
  source = "../../modules/mandatory_tags"

  tags = merge(var.tags, {
    Environment = var.environment
    Component   = "s3"
  })
}

# --- Access logs ------------------------------------------------------------------------------

module "log_bucket" {
  source = "../../modules/s3_bucket"
  count  = var.access_logging_enabled ? 1 : 0

  bucket_name                        = local.log_bucket_name
  expiration_days                    = var.noncurrent_version_expiration_days
  noncurrent_version_expiration_days = local.log_noncurrent_version_expiration_days
  tags                               = local.tags
}

# Log-delivery permission as AWS recommends it: a bucket policy for the logging service principal,
# limited to this source bucket and account. The ACL alternative (acl = "log-delivery-write" or a
# grant to the LogDelivery group) fails on buckets created since April 2023, whose default object
# ownership (BucketOwnerEnforced) disables ACLs.
data "aws_iam_policy_document" "log_delivery" {
  count = var.access_logging_enabled ? 1 : 0

  statement {
    sid       = "AllowS3ServerAccessLogDelivery"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${module.log_bucket[0].arn}/${local.access_log_prefix}*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:s3:::${local.bucket_name}"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

module "log_bucket_policy" {
  source = "../../modules/bucket_policy"
  count  = var.access_logging_enabled ? 1 : 0

  bucket_name             = module.log_bucket[0].id
  bucket_arn              = module.log_bucket[0].arn
  source_policy_documents = [data.aws_iam_policy_document.log_delivery[0].json]
}

# --- Disaster recovery (PROD) -----------------------------------------------------------------

module "replication" {
  source = "../../modules/replication"
  count  = var.replication_enabled ? 1 : 0

  providers = {
    aws    = aws
    aws.dr = aws.dr
  }

  source_bucket_name                 = local.bucket_name
  replica_bucket_name                = local.replica_bucket_name
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  tags                               = local.tags
}

# --- Template bucket --------------------------------------------------------------------------

module "templates_bucket" {
  source = "../../modules/s3_bucket"

  bucket_name                        = local.bucket_name
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days

  # Read through the log bucket policy: S3 refuses logging until the target grants delivery.
  access_logging = var.access_logging_enabled ? {
    target_bucket = module.log_bucket_policy[0].bucket_name
    target_prefix = local.access_log_prefix
  } : null

  replication = var.replication_enabled ? {
    role_arn               = module.replication[0].role_arn
    destination_bucket_arn = module.replication[0].replica_bucket_arn
  } : null

  tags = local.tags
}

module "templates_bucket_policy" {
  source = "../../modules/bucket_policy"

  bucket_name = module.templates_bucket.id
  bucket_arn  = module.templates_bucket.arn
}

resource "aws_s3_bucket_object" "template" {
  #checkov:skip=CKV_AWS_186:SSE-S3 (AES-256) by design; objects take the bucket's default encryption, not a customer-managed KMS key (docs/architecture.md, Encryption).
  for_each = local.template_files

  bucket       = module.templates_bucket.id
  key          = each.value
  source       = "${local.template_dir}/${each.value}"
  etag         = filemd5("${local.template_dir}/${each.value}")
  content_type = local.content_types[lower(reverse(split(".", each.value))[0])]
  # The bucket is BucketOwnerEnforced (ACLs disabled): S3 refuses every upload that sets an ACL
  # except bucket-owner full control, and provider 3.39 always sends one ("private" unless
  # told). See docs/decisions/s3-object-ownership.md.
  acl  = "bucket-owner-full-control"
  tags = local.tags
}
