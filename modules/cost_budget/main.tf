# A monthly cost budget of the whole account with two alerts to the alerts topic (and by email):
# actual cost past actual_alert_percent of the limit, and forecast cost past
# forecast_alert_percent. Budgets without actions cost nothing.

resource "aws_budgets_budget" "monthly_cost" {
  name              = var.name
  budget_type       = "COST"
  limit_amount      = format("%.2f", var.limit_usd)
  limit_unit        = "USD"
  time_unit         = "MONTHLY"
  time_period_start = var.period_start

  notification {
    notification_type          = "ACTUAL"
    comparison_operator        = "GREATER_THAN"
    threshold                  = var.actual_alert_percent
    threshold_type             = "PERCENTAGE"
    subscriber_sns_topic_arns  = [var.topic_arn]
    subscriber_email_addresses = var.email_addresses
  }

  notification {
    notification_type          = "FORECASTED"
    comparison_operator        = "GREATER_THAN"
    threshold                  = var.forecast_alert_percent
    threshold_type             = "PERCENTAGE"
    subscriber_sns_topic_arns  = [var.topic_arn]
    subscriber_email_addresses = var.email_addresses
  }
}
