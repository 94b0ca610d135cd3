"""The input files a plan reads, checked before anything starts: item schemas and their table
definitions, the email templates and their contracts (with a browsable preview), and the
preflight that runs those checks for a component."""
