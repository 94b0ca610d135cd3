# DEV environment: the single source of its values (Terraform and the task runner read this file).
environment = "dev"
account_id  = "536580886816"
region      = "af-south-1"
dr_region   = "eu-west-1"

deletion_protection = false
pre_deploy_backup   = false

# Whether invoke verify's data stage may write (and then delete) a canary item in each table;
# off, it only reads (docs/release.md).
verify_canary_writes = true

backup_policy         = "daily"
backup_schedule       = "cron(0 2 * * ? *)"
backup_retention_days = 7
backup_copy_to_dr     = false

noncurrent_version_expiration_days = 30
access_logging_enabled             = true
replication_enabled                = false

# What watches the data stores (monitoring/alerts): see docs/monitoring.md.
monitoring = {
  alarms_enabled        = false
  alert_email_addresses = ["bbws-platform-alerts@kimmyai.io"]
  budget_limit_usd      = 500
}

tags = {
  Project    = "BBWS WP Containers"
  Owner      = "Tebogo"
  CostCenter = "AWS"
  ManagedBy  = "Terraform"
}
