# PROD environment: the single source of its values (Terraform and the task runner read this file).
environment = "prod"
account_id  = "093646564004"
region      = "af-south-1"
dr_region   = "eu-west-1"

deletion_protection = true
pre_deploy_backup   = true

# Whether invoke verify's data stage may write (and then delete) a canary item in each table;
# off, it only reads (docs/release.md).
verify_canary_writes = false

backup_policy         = "hourly"
backup_schedule       = "cron(0 * * * ? *)"
backup_retention_days = 90
backup_copy_to_dr     = true

noncurrent_version_expiration_days = 90
access_logging_enabled             = true
replication_enabled                = true

# What watches the data stores (monitoring/alerts): see docs/monitoring.md.
monitoring = {
  alarms_enabled        = true
  alert_email_addresses = ["bbws-platform-alerts@kimmyai.io"]
  budget_limit_usd      = 5000
}

tags = {
  Project    = "BBWS WP Containers"
  Owner      = "Tebogo"
  CostCenter = "AWS"
  ManagedBy  = "Terraform"
}
