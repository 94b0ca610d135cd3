output "topic_arn" {
  description = "ARN of the alerts topic."
  value       = aws_sns_topic.alerts.arn
}

output "topic_name" {
  description = "Name of the alerts topic."
  value       = aws_sns_topic.alerts.name
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the topic."
  value       = aws_kms_key.alerts.arn
}

output "subscription_arns" {
  description = "ARNs of the subscriptions by endpoint (an email subscription's ARN is \"pending confirmation\" until its owner confirms)."
  value = merge(
    { for address, subscription in aws_sns_topic_subscription.email : address => subscription.arn },
    { for subscription in aws_sns_topic_subscription.webhook : subscription.endpoint => subscription.arn },
  )
}
