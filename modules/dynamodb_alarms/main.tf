# The alarms of one DynamoDB table: read and write throttle events of the table and of each
# global secondary index, and the table's system errors (HTTP 500s) summed over the operations.
# Names are bbws-<table>[-<index>]-<what>-<env>; docs/runbooks/alarms.md explains each.

locals {
  # "" is the table itself; every index adds its own pair of throttle alarms.
  throttled = merge([
    for index in concat([""], var.index_names) : {
      for direction in ["read", "write"] :
      "${index == "" ? "" : "${index}-"}${direction}" => {
        index       = index
        metric_name = direction == "read" ? "ReadThrottleEvents" : "WriteThrottleEvents"
        direction   = direction
      }
    }
  ]...)
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  for_each = local.throttled

  alarm_name = "bbws-${var.table_name}-${each.key}-throttles-${var.environment}"
  alarm_description = format("%s throttle events on %s%s above %d per %d s: requests are being rejected (docs/runbooks/alarms.md#throttles).",
    title(each.value.direction), var.table_name, each.value.index == "" ? "" : " index ${each.value.index}",
  var.thresholds.throttle_events, var.thresholds.period_seconds)

  namespace   = "AWS/DynamoDB"
  metric_name = each.value.metric_name
  dimensions = merge(
    { TableName = var.table_name },
    each.value.index == "" ? {} : { GlobalSecondaryIndexName = each.value.index },
  )
  statistic           = "Sum"
  period              = var.thresholds.period_seconds
  evaluation_periods  = var.thresholds.evaluation_periods
  datapoints_to_alarm = var.thresholds.datapoints_to_alarm
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.thresholds.throttle_events
  # No requests, no throttles: missing data is healthy.
  treat_missing_data = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions
  tags          = var.tags
}

resource "aws_cloudwatch_metric_alarm" "system_errors" {
  alarm_name        = "bbws-${var.table_name}-system-errors-${var.environment}"
  alarm_description = "DynamoDB system errors (HTTP 500) on ${var.table_name} above ${var.thresholds.system_errors} per ${var.thresholds.period_seconds} s, all operations summed (docs/runbooks/alarms.md#system-errors)."

  dynamic "metric_query" {
    for_each = var.system_error_operations

    content {
      id          = "m${metric_query.key}"
      return_data = false

      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = "SystemErrors"
        dimensions = {
          TableName = var.table_name
          Operation = metric_query.value
        }
        stat   = "Sum"
        period = var.thresholds.period_seconds
      }
    }
  }

  metric_query {
    id          = "errors"
    expression  = "SUM(METRICS())"
    label       = "SystemErrors on ${var.table_name}"
    return_data = true
  }

  evaluation_periods  = var.thresholds.evaluation_periods
  datapoints_to_alarm = var.thresholds.datapoints_to_alarm
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.thresholds.system_errors
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions
  tags          = var.tags
}
