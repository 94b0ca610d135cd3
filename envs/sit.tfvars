# SIT environment: the single source of its values (Terraform and the task runner read this file).
environment = "sit"
account_id  = "815856636111"
region      = "af-south-1"
dr_region   = "eu-west-1"

deletion_protection = false
pre_deploy_backup   = false

# Whether invoke verify's data stage may write (and then delete) a canary item in each table;
# off, it only reads (docs/release.md).
verify_canary_writes = true

backup_policy         = "daily"
backup_schedule       = "cron(0 2 * * ? *)"
backup_retention_days = 14
backup_copy_to_dr     = false

noncurrent_version_expiration_days = 60
access_logging_enabled             = true
replication_enabled                = false

# What watches the data stores (monitoring/alerts): see docs/monitoring.md.
monitoring = {
  alarms_enabled        = true
  alert_email_addresses = ["bbws-platform-alerts@kimmyai.io"]
  budget_limit_usd      = 1000
}

tags = {
  Project    = "BBWS WP Containers"
  Owner      = "Tebogo"
  CostCenter = "AWS"
  ManagedBy  = "Terraform"
}
