# An SNS topic for alerts, encrypted with its own KMS key. A customer-managed key, not the
# AWS-managed alias/aws/sns: that key's policy grants no service principal, so CloudWatch,
# EventBridge and Budgets could not publish to the topic and every alert would be dropped
# without an error anywhere (docs/decisions/monitoring.md).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
  # Built from the name: the topic's policy names the topic, which then exists only after it.
  topic_arn = "arn:${data.aws_partition.current.partition}:sns:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:${var.name}"
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is the key itself; the account-root statement is AWS's default, handing the key's administration to IAM policies (docs/decisions/monitoring.md).
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself; writes stay with the account's IAM policies and the publishing services may only encrypt (docs/decisions/monitoring.md).
  #checkov:skip=CKV_AWS_356:In a key policy "*" means this key only, not every resource (docs/decisions/monitoring.md).

  # The account keeps control of the key through IAM (without this statement a key can become
  # unmanageable).
  statement {
    sid       = "AccountAdministersKey"
    effect    = "Allow"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }

  # Publishing to an encrypted topic makes the publisher's service encrypt the message.
  statement {
    sid       = "PublishersEncryptAlerts"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = var.publisher_services
    }
  }
}

resource "aws_kms_key" "alerts" {
  description             = "Encrypts the ${var.name} SNS topic."
  deletion_window_in_days = var.key_deletion_window_days
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "alerts" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.alerts.key_id
}

resource "aws_sns_topic" "alerts" {
  name              = var.name
  kms_master_key_id = aws_kms_key.alerts.arn
  # On the topic itself, not in an aws_sns_topic_policy: the topic reads its policy back on
  # every refresh, and a policy set by a second resource shows as drift of the topic.
  policy = data.aws_iam_policy_document.topic.json
  tags   = var.tags
}

data "aws_iam_policy_document" "topic" {
  # Only the listed services of this account publish. Subscribing and reading the topic stay
  # with this account's IAM principals (same-account access needs no topic policy statement).
  statement {
    sid       = "ServicesOfThisAccountPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [local.topic_arn]

    principals {
      type        = "Service"
      identifiers = var.publisher_services
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.email_addresses)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sns_topic_subscription" "webhook" {
  count = var.webhook_endpoint == null ? 0 : 1

  topic_arn              = aws_sns_topic.alerts.arn
  protocol               = "https"
  endpoint               = var.webhook_endpoint
  endpoint_auto_confirms = true
}
