# One dashboard of an environment's data stores, readable on one screen: a row per table
# (consumed capacity, throttles, latency and errors, its indexes included), then the template
# bucket (size, objects, the replica's in the DR region), AWS Backup jobs and the account's
# DynamoDB user errors; the alarms' states on top when there are alarms.

locals {
  width  = 6 # four graphs per row on CloudWatch's 24-column grid
  height = 6
  # The alarm widget takes the first row when shown.
  first_row = length(var.alarm_arns) == 0 ? 0 : 4

  table_rows = [
    for row, table in var.tables : [
      for column, widget in [
        {
          title = "${table.name}: consumed capacity"
          stat  = "Sum"
          metrics = concat(
            [for metric in ["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"] : ["AWS/DynamoDB", metric, "TableName", table.name]],
            flatten([for index in table.indexes : [
              for metric in ["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"] : ["AWS/DynamoDB", metric, "TableName", table.name, "GlobalSecondaryIndexName", index]
            ]]),
          )
        },
        {
          title = "${table.name}: throttle events"
          stat  = "Sum"
          metrics = concat(
            [for metric in ["ReadThrottleEvents", "WriteThrottleEvents"] : ["AWS/DynamoDB", metric, "TableName", table.name]],
            flatten([for index in table.indexes : [
              for metric in ["ReadThrottleEvents", "WriteThrottleEvents"] : ["AWS/DynamoDB", metric, "TableName", table.name, "GlobalSecondaryIndexName", index]
            ]]),
          )
        },
        {
          title   = "${table.name}: latency (ms)"
          stat    = "Average"
          metrics = [for operation in var.graphed_operations : ["AWS/DynamoDB", "SuccessfulRequestLatency", "TableName", table.name, "Operation", operation]]
        },
        {
          title   = "${table.name}: system errors"
          stat    = "Sum"
          metrics = [for operation in var.graphed_operations : ["AWS/DynamoDB", "SystemErrors", "TableName", table.name, "Operation", operation]]
        },
        ] : {
        type   = "metric"
        x      = column * local.width
        y      = local.first_row + row * local.height
        width  = local.width
        height = local.height
        properties = {
          title   = widget.title
          region  = var.region
          view    = "timeSeries"
          stacked = false
          stat    = widget.stat
          period  = var.period_seconds
          metrics = widget.metrics
        }
      }
    ]
  ]

  last_row = local.first_row + length(var.tables) * local.height
  # S3 storage metrics arrive once a day.
  storage_widgets = concat(
    [
      {
        title   = "${var.bucket_name}: size (bytes)"
        region  = var.region
        metrics = [["AWS/S3", "BucketSizeBytes", "BucketName", var.bucket_name, "StorageType", "StandardStorage"]]
      },
      {
        title   = "${var.bucket_name}: objects"
        region  = var.region
        metrics = [["AWS/S3", "NumberOfObjects", "BucketName", var.bucket_name, "StorageType", "AllStorageTypes"]]
      },
    ],
    var.replica == null ? [] : [
      {
        title   = "${var.replica.bucket_name}: objects (${var.replica.region})"
        region  = var.replica.region
        metrics = [["AWS/S3", "NumberOfObjects", "BucketName", var.replica.bucket_name, "StorageType", "AllStorageTypes"]]
      },
    ],
  )

  other_widgets = concat(
    [for widget in local.storage_widgets : merge(widget, { stat = "Average", period = 86400 })],
    [
      {
        title  = "AWS Backup: DynamoDB jobs"
        region = var.region
        stat   = "Sum"
        period = 3600
        metrics = [for metric in ["NumberOfBackupJobsCompleted", "NumberOfBackupJobsFailed", "NumberOfCopyJobsFailed"] :
        ["AWS/Backup", metric, "ResourceType", "DynamoDB"]]
      },
      {
        title   = "DynamoDB user errors (account)"
        region  = var.region
        stat    = "Sum"
        period  = var.period_seconds
        metrics = [["AWS/DynamoDB", "UserErrors"]]
      },
    ],
  )

  alarm_widgets = length(var.alarm_arns) == 0 ? [] : [{
    type   = "alarm"
    x      = 0
    y      = 0
    width  = 24
    height = local.first_row
    properties = {
      title  = "Alarms"
      alarms = var.alarm_arns
    }
  }]

  widgets = concat(
    local.alarm_widgets,
    flatten(local.table_rows),
    [for position, widget in local.other_widgets : {
      type   = "metric"
      x      = (position % 4) * local.width
      y      = local.last_row + floor(position / 4) * local.height
      width  = local.width
      height = local.height
      properties = merge(widget, {
        view    = "timeSeries"
        stacked = false
      })
    }],
  )
}

resource "aws_cloudwatch_dashboard" "data_stores" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.widgets })
}
