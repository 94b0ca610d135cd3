output "alarm_names" {
  description = "Names of the table's alarms, sorted."
  value       = sort(concat([for alarm in aws_cloudwatch_metric_alarm.throttles : alarm.alarm_name], [aws_cloudwatch_metric_alarm.system_errors.alarm_name]))
}

output "alarm_arns" {
  description = "ARNs of the table's alarms by name."
  value = merge(
    { for alarm in aws_cloudwatch_metric_alarm.throttles : alarm.alarm_name => alarm.arn },
    { (aws_cloudwatch_metric_alarm.system_errors.alarm_name) = aws_cloudwatch_metric_alarm.system_errors.arn },
  )
}
