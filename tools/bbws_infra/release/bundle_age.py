"""How old a bundle may be when it is applied: the default limit and the durations --max-age
takes. Apart from deploy so that the task definitions read the default without loading the
deploy path."""

from __future__ import annotations

import re

from bbws_infra.core.errors import UserError

DEFAULT_MAX_AGE = "24h"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """'24h', '90m', '30s', '2d' or plain seconds -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not match:
        raise UserError(f"--max-age {text!r} is not a duration; write e.g. 24h, 90m or 30s.")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]
