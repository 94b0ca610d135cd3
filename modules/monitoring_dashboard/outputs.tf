output "dashboard_name" {
  description = "Name of the dashboard."
  value       = aws_cloudwatch_dashboard.data_stores.dashboard_name
}

output "dashboard_arn" {
  description = "ARN of the dashboard."
  value       = aws_cloudwatch_dashboard.data_stores.dashboard_arn
}

output "widget_count" {
  description = "Number of widgets on the dashboard."
  value       = length(local.widgets)
}
