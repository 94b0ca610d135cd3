"""Task runner behind `invoke`: Terraform engine, sandbox, registries and validators."""
