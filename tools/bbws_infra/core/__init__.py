"""The ground every part stands on: errors and their exit codes, where things live, the one
place `Any` may be written, the project's lists (environments from envs/<env>.tfvars, components,
the Terraform tree), the input-file readers those lists and the validators share, and the shapes
the tasks use to take flags and print findings and tables. Imports no other part."""
