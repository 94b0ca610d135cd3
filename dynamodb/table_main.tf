# One table component (linked as main.tf into dynamodb/<component>/): the table defined by the
# component's <entity>.schema.json and its AWS Backup plan. The component is the directory name.

locals {
  component   = basename(abspath(path.module))
  schema_path = one(tolist(fileset(path.module, "*.schema.json")))

  tags = module.mandatory_tags.tags
}

module "mandatory_tags" {
  source = "../../modules/mandatory_tags"

  tags = merge(var.tags, {
    Environment  = var.environment
    Component    = "dynamodb"
    BackupPolicy = var.backup_policy
  })
  extra_required_keys = ["BackupPolicy"]
}

module "table" {
  source = "../../modules/dynamodb_table"

  schema_path = "${path.module}/${local.schema_path}"
  tags        = local.tags
}

module "backup" {
  source = "../../modules/backup"

  providers = {
    aws    = aws
    aws.dr = aws.dr
  }

  name           = "bbws-${local.component}-${var.environment}"
  schedule       = var.backup_schedule
  retention_days = var.backup_retention_days
  copy_to_dr     = var.backup_copy_to_dr
  resource_arns  = [module.table.table_arn]
  tags           = local.tags
}
