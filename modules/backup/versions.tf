terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 3.39.0, < 7.0.0"
      # aws.dr: the disaster-recovery region that receives the recovery point copies.
      configuration_aliases = [aws.dr]
    }
  }
}
