output "topic_arn" {
  description = "ARN of the alerts topic bbws-alerts-<env>."
  value       = module.alerts_topic.topic_arn
}

output "alarm_names" {
  description = "Names of every CloudWatch alarm of the env, sorted (none where alarms are off)."
  value       = sort(concat(flatten([for table in module.table_alarms : table.alarm_names]), aws_cloudwatch_metric_alarm.user_errors[*].alarm_name))
}

output "backup_rule_name" {
  description = "Name of the EventBridge rule that turns failed AWS Backup jobs into alerts."
  value       = module.backup_alerts.rule_name
}

output "budget_name" {
  description = "Name of the monthly cost budget."
  value       = module.cost_budget.budget_name
}

output "dashboard_name" {
  description = "Name of the dashboard."
  value       = module.dashboard.dashboard_name
}
