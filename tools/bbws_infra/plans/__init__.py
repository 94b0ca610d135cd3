"""Terraform operations on components: init, plan (saved as a bundle a reviewer approves, with
its summary and deletion guard), apply of a saved plan, state; and the runner that does one
operation over several components at once."""
