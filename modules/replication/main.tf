# Cross-region replication target for a bucket: the replica bucket in the DR region (private,
# versioned, SSE-S3, TLS-only) and the least-privilege IAM role S3 assumes to replicate. The
# source bucket itself sets replication_configuration with this module's outputs.

data "aws_partition" "current" {}

locals {
  # Built from the names so the role and its policy do not wait for (or cycle with) the buckets.
  source_bucket_arn  = "arn:${data.aws_partition.current.partition}:s3:::${var.source_bucket_name}"
  replica_bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${var.replica_bucket_name}"
}

module "replica_bucket" {
  source = "../s3_bucket"

  providers = {
    aws = aws.dr
  }

  bucket_name                        = var.replica_bucket_name
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  tags                               = var.tags
}

module "replica_bucket_policy" {
  source = "../bucket_policy"

  providers = {
    aws = aws.dr
  }

  bucket_name = module.replica_bucket.id
  bucket_arn  = module.replica_bucket.arn
}

data "aws_iam_policy_document" "replication_assume_role" {
  statement {
    sid     = "AllowS3ToAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "replication" {
  name               = "${var.source_bucket_name}-replication"
  description        = "Role S3 assumes to replicate ${var.source_bucket_name} to ${var.replica_bucket_name}."
  assume_role_policy = data.aws_iam_policy_document.replication_assume_role.json
  tags               = var.tags
}

data "aws_iam_policy_document" "replication" {
  statement {
    sid       = "ReadSourceReplicationConfiguration"
    effect    = "Allow"
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [local.source_bucket_arn]
  }

  statement {
    sid    = "ReadSourceObjectVersions"
    effect = "Allow"
    actions = [
      "s3:GetObjectVersionForReplication",
      "s3:GetObjectVersionAcl",
      "s3:GetObjectVersionTagging",
    ]
    resources = ["${local.source_bucket_arn}/*"]
  }

  statement {
    sid       = "WriteReplicaObjects"
    effect    = "Allow"
    actions   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    resources = ["${local.replica_bucket_arn}/*"]
  }
}

resource "aws_iam_role_policy" "replication" {
  name   = "replicate-to-${var.replica_bucket_name}"
  role   = aws_iam_role.replication.id
  policy = data.aws_iam_policy_document.replication.json
}
