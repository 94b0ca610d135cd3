"""The sandbox's emulator: moto's server with the AWS Backup operations moto lacks
(bbws_infra.targets.moto_backup).

    python -m bbws_infra.targets.sandbox_server -H 127.0.0.1 -p <port>

takes the arguments of `moto_server` and runs moto's own server main() after adding the
operations, so everything else behaves exactly as `moto_server` does. sandbox.py starts it.
"""

from __future__ import annotations

import sys

from moto import server

from bbws_infra.targets import moto_backup, moto_validation


def main(argv: list[str] | None = None) -> None:
    moto_backup.apply()
    moto_validation.apply()
    server.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
