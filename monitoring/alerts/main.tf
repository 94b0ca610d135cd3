# Monitoring component: what watches one environment's data stores. The alerts topic
# bbws-alerts-<env> (email and webhook subscriptions from envs/<env>.tfvars), the alarms of every
# table the schemas under dynamodb/ define (a new table folder gets its alarms with no change
# here), the account's DynamoDB user errors, AWS Backup job failures, the monthly budget and the
# dashboard. docs/monitoring.md explains the whole; docs/runbooks/alarms.md each alert.

locals {
  tags = module.mandatory_tags.tags

  # Every table schema of the repository: its x-dynamodb member names the table and its indexes
  # (the same member the table components build their tables from).
  schema_files = fileset("${path.module}/../../dynamodb", "*/*.schema.json")
  tables = [
    for file in sort(tolist(local.schema_files)) : {
      name    = jsondecode(file("${path.module}/../../dynamodb/${file}"))["x-dynamodb"].tableName
      indexes = sort([for index in try(jsondecode(file("${path.module}/../../dynamodb/${file}"))["x-dynamodb"].globalSecondaryIndexes, []) : index.name])
    }
  ]

  # The template bucket and its replica are named by s3/templates/main.tf.
  templates_bucket_name = "bbws-templates-${var.environment}"
  replica_bucket_name   = "${local.templates_bucket_name}-replica"

  alarm_thresholds = {
    throttle_events     = var.monitoring.throttle_events_threshold
    system_errors       = var.monitoring.system_errors_threshold
    period_seconds      = var.monitoring.period_seconds
    evaluation_periods  = var.monitoring.evaluation_periods
    datapoints_to_alarm = var.monitoring.datapoints_to_alarm
  }
  table_alarms = var.monitoring.alarms_enabled ? { for table in local.tables : table.name => table } : {}

  alarm_arns = concat(
    flatten([for table in module.table_alarms : values(table.alarm_arns)]),
    aws_cloudwatch_metric_alarm.user_errors[*].arn,
  )
}

module "mandatory_tags" {
  source = "../../modules/mandatory_tags"

  tags = merge(var.tags, {
    Environment = var.environment
    Component   = "monitoring"
  })
}

module "alerts_topic" {
  source = "../../modules/alerts_topic"

  name = "bbws-alerts-${var.environment}"
  # Alarms, backup-job events, budgets, and AWS Backup's own vault notifications.
  publisher_services = [
    "cloudwatch.amazonaws.com",
    "events.amazonaws.com",
    "budgets.amazonaws.com",
    "backup.amazonaws.com",
  ]
  email_addresses  = var.monitoring.alert_email_addresses
  webhook_endpoint = var.monitoring.alert_webhook_endpoint
  tags             = local.tags
}

module "table_alarms" {
  source   = "../../modules/dynamodb_alarms"
  for_each = local.table_alarms

  table_name    = each.value.name
  index_names   = each.value.indexes
  environment   = var.environment
  thresholds    = local.alarm_thresholds
  alarm_actions = [module.alerts_topic.topic_arn]
  tags          = local.tags
}

# UserErrors (HTTP 400s: bad requests, failed conditions are counted elsewhere) exists only for
# the account and region as a whole, not per table.
resource "aws_cloudwatch_metric_alarm" "user_errors" {
  count = var.monitoring.alarms_enabled ? 1 : 0

  alarm_name          = "bbws-dynamodb-user-errors-${var.environment}"
  alarm_description   = "DynamoDB user errors (HTTP 400) in the account above ${var.monitoring.user_errors_threshold} per ${var.monitoring.period_seconds} s (docs/runbooks/alarms.md#user-errors)."
  namespace           = "AWS/DynamoDB"
  metric_name         = "UserErrors"
  statistic           = "Sum"
  period              = var.monitoring.period_seconds
  evaluation_periods  = var.monitoring.evaluation_periods
  datapoints_to_alarm = var.monitoring.datapoints_to_alarm
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.monitoring.user_errors_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [module.alerts_topic.topic_arn]
  ok_actions          = [module.alerts_topic.topic_arn]
  tags                = local.tags
}

module "backup_alerts" {
  source = "../../modules/backup_alerts"

  name      = "bbws-backup-failures-${var.environment}"
  topic_arn = module.alerts_topic.topic_arn
  tags      = local.tags
}

module "cost_budget" {
  source = "../../modules/cost_budget"

  name                   = "bbws-monthly-cost-${var.environment}"
  limit_usd              = var.monitoring.budget_limit_usd
  actual_alert_percent   = var.monitoring.budget_actual_alert_percent
  forecast_alert_percent = var.monitoring.budget_forecast_alert_percent
  topic_arn              = module.alerts_topic.topic_arn
  email_addresses        = var.monitoring.alert_email_addresses
}

module "dashboard" {
  source = "../../modules/monitoring_dashboard"

  name        = "bbws-data-stores-${var.environment}"
  region      = var.region
  tables      = local.tables
  bucket_name = local.templates_bucket_name
  replica = var.replication_enabled ? {
    bucket_name = local.replica_bucket_name
    region      = var.dr_region
  } : null
  alarm_arns     = local.alarm_arns
  period_seconds = var.monitoring.period_seconds
}
