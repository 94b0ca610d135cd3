"""What each `invoke` task does: tasks.py holds the flags and help, and makes one call here."""
