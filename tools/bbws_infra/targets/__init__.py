"""Where Terraform runs: the sandbox (moto server with the AWS Backup operations moto lacks) or
real AWS, and the staging of a source tree's git-tracked files into a folder per command."""
