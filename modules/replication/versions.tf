terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 3.39.0, < 7.0.0"
      # aws: the source bucket's region (IAM role); aws.dr: the region of the replica bucket.
      configuration_aliases = [aws.dr]
    }
  }
}
