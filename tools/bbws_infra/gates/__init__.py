"""The static gates behind `invoke check` (Terraform fmt and validate, scanners, workflows,
ruff, mypy, docs) and the offline cost estimate of saved plans."""
