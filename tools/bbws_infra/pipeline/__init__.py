"""What the tasks add when the CI pipeline runs them: GitHub job summaries and plan comments,
approval counts, Slack messages, and the IAM roles GitHub Actions assumes in each account."""
