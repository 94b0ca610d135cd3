"""Where Terraform state and the deployment records live: the state bucket and lock table, the
S3 versions of each component's state, the deployment ledger, and the state's health (doctor)."""
