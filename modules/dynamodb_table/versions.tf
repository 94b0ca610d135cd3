terraform {
  # 1.9: a variable's validation may read other variables (keys declared in attributes).
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 3.39.0, < 7.0.0"
    }
  }
}
