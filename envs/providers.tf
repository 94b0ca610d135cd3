# Terraform settings and providers shared by every component root (each root links this
# file as providers.tf). Emulator endpoints are never written here: the task runner adds
# them in its work directory for --target sandbox only.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Exactly the release the sandbox tests, on both targets: the lock file beside this one
      # (providers.lock.hcl, linked into each root as .terraform.lock.hcl) holds its official
      # hashes and init runs with -lockfile=readonly. Modules keep the floor >= 3.39.0 and
      # avoid what 5.x/6.x removed, so raising this pin is a planned upgrade
      # (docs/decisions/provider-pin.md).
      version = "= 3.39.0"
    }
  }

  # Bucket, key, region and lock table come from the task runner (-backend-config).
  backend "s3" {}
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.account_id]
}

# Disaster-recovery region: backup copies and the replica bucket (PROD only).
provider "aws" {
  alias               = "dr"
  region              = var.dr_region
  allowed_account_ids = [var.account_id]
}
