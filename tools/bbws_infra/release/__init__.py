"""Changing an environment and checking it: the one deploy path, promotion, rollback, other
commits' worktrees, verification of what is deployed, and drift made outside Terraform."""
