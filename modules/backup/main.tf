# AWS Backup for a set of resources: a vault, a plan with one scheduled rule (optionally copying
# every recovery point to a vault in the DR region), the service role AWS Backup assumes, and the
# selection that assigns the resources to the plan.
#
# Vaults use AWS Backup's default encryption (the AWS-managed key aws/backup): the design uses
# AWS-managed keys throughout (docs/architecture.md, "Encryption").

data "aws_partition" "current" {}

resource "aws_backup_vault" "this" {
  #checkov:skip=CKV_AWS_166:AWS-managed encryption by design; the vault uses the AWS-managed key aws/backup, not a customer-managed CMK (docs/architecture.md, Encryption).
  name = var.name
  tags = var.tags
}

resource "aws_backup_vault" "dr" {
  #checkov:skip=CKV_AWS_166:AWS-managed encryption by design; the vault uses the AWS-managed key aws/backup, not a customer-managed CMK (docs/architecture.md, Encryption).
  count    = var.copy_to_dr ? 1 : 0
  provider = aws.dr

  name = "${var.name}-dr"
  tags = var.tags
}

resource "aws_backup_plan" "this" {
  name = var.name

  rule {
    rule_name           = "scheduled-backup"
    target_vault_name   = aws_backup_vault.this.name
    schedule            = var.schedule
    start_window        = var.start_window_minutes
    completion_window   = var.completion_window_minutes
    recovery_point_tags = var.tags

    lifecycle {
      delete_after = var.retention_days
    }

    dynamic "copy_action" {
      for_each = aws_backup_vault.dr
      content {
        destination_vault_arn = copy_action.value.arn

        lifecycle {
          delete_after = var.retention_days
        }
      }
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.completion_window_minutes >= var.start_window_minutes + 60
      error_message = "The completion_window_minutes must exceed start_window_minutes by at least 60."
    }
  }
}

data "aws_iam_policy_document" "backup_assume_role" {
  statement {
    sid     = "AllowAwsBackupToAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "backup" {
  name               = "${var.name}-backup"
  description        = "Role AWS Backup assumes to back up and restore the resources of plan ${var.name}."
  assume_role_policy = data.aws_iam_policy_document.backup_assume_role.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "backup" {
  for_each = toset([
    "AWSBackupServiceRolePolicyForBackup",
    "AWSBackupServiceRolePolicyForRestores",
  ])

  role       = aws_iam_role.backup.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/${each.value}"
}

resource "aws_backup_selection" "this" {
  name         = var.name
  plan_id      = aws_backup_plan.this.id
  iam_role_arn = aws_iam_role.backup.arn
  resources    = var.resource_arns

  # The role must hold its permissions before AWS Backup validates the selection.
  depends_on = [aws_iam_role_policy_attachment.backup]
}

# Until the sandbox emulator learnt CreateBackupSelection the selection had a count toggle.
moved {
  from = aws_backup_selection.this[0]
  to   = aws_backup_selection.this
}
