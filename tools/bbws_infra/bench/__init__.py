"""`invoke bench`: wall-clock numbers of the Terraform paths, measured in a throw-away copy of
the repository (which the end-to-end tests use too)."""
