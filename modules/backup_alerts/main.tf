# Every AWS Backup job or copy job of the account's region that ends badly (failed, aborted,
# expired) becomes one readable message on the alerts topic. AWS Backup emits these events to
# the default event bus of the region the job runs in, at no charge.

resource "aws_cloudwatch_event_rule" "failed_jobs" {
  name        = var.name
  description = "AWS Backup and copy jobs that end in ${join(", ", var.failed_states)} (docs/runbooks/alarms.md#backup-job-failed)."
  event_pattern = jsonencode({
    source        = ["aws.backup"]
    "detail-type" = ["Backup Job State Change", "Copy Job State Change"]
    detail = {
      state = var.failed_states
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "alerts_topic" {
  rule      = aws_cloudwatch_event_rule.failed_jobs.name
  target_id = "alerts-topic"
  arn       = var.topic_arn

  input_transformer {
    input_paths = {
      kind     = "$.detail-type"
      state    = "$.detail.state"
      resource = "$.detail.resourceArn"
      vault    = "$.detail.backupVaultName"
      copy_to  = "$.detail.destinationBackupVaultArn"
      reason   = "$.detail.statusMessage"
      account  = "$.account"
      region   = "$.region"
      time     = "$.time"
    }
    # Backup jobs name their vault (vault), copy jobs their destination (copy_to); the other
    # stays empty.
    input_template = "\"AWS Backup: <kind> <state> for <resource> (vault <vault>, copy to <copy_to>, account <account>, <region>, <time>): <reason>. What to do: docs/runbooks/alarms.md#backup-job-failed\""
  }
}
