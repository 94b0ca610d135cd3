"""The bench task: where the time of the Terraform paths people wait on goes."""

from __future__ import annotations

from bbws_infra.commands.common import guarded
from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import load_environment


@guarded
def bench(*, env: str, repeats: int, only: str | None = None, as_json: bool = False) -> int:
    from bbws_infra.bench.bench import ONLY, main

    load_environment(env)
    if repeats < 1:
        raise UserError("--repeats must be at least 1.")
    if only is not None and only not in ONLY:
        raise UserError(f"--only {only!r}: the entries that run alone are {', '.join(ONLY)}.")
    return main(env, repeats, only, as_json)
