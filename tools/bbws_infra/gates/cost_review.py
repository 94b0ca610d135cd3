"""What a reviewer of a plan reads beside its summary: the monthly cost now and after the apply,
and the data migrations the apply would run per table.

The plan job writes one review.json beside each bundle it made (`invoke plan-review`); the
pull-request comment and the job summaries render them. A review names the plan file's hash:
one left beside a newer bundle is ignored, never shown as that bundle's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bbws_infra.core.registry import PROMOTION_ORDER
from bbws_infra.gates.cost import threshold_sentence
from bbws_infra.gates.cost_diff import usd

REVIEW_FILE = "review.json"
FORMAT = 1


@dataclass(frozen=True)
class PendingMigration:
    id: str
    description: str


@dataclass
class PlanReview:
    env: str
    component: str
    commit: str
    plan_sha256: str
    state_serial: int  # the state the plan was made against
    now_usd: float
    after_usd: float
    threshold_usd: float | None
    engine: str
    table: bool  # a table component (it may have data migrations)
    migrations: list[PendingMigration] = field(default_factory=list)
    migrations_unknown: str = ""  # why the pending migrations could not be read
    warnings: list[str] = field(default_factory=list)
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> PlanReview:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"review format {data.get('format')!r}, expected {FORMAT}")
        data["migrations"] = [PendingMigration(**m) for m in data.get("migrations") or []]
        return cls(**data)


def read_review(directory: Path, plan_sha256: str) -> PlanReview | None:
    """The review beside a bundle, when it was written for that very plan file."""
    try:
        review = PlanReview.from_json((directory / REVIEW_FILE).read_text())
    except (OSError, ValueError, TypeError):
        return None
    return review if review.plan_sha256 == plan_sha256 else None


def _ordered(reviews: list[PlanReview]) -> list[PlanReview]:
    order = {name: index for index, name in enumerate(PROMOTION_ORDER)}
    return sorted(reviews, key=lambda r: (order.get(r.env, 99), r.component))


def cost_markdown(reviews: list[PlanReview]) -> str:
    """Per env: a table of each component's monthly cost now, after the apply and the
    difference, the total, and the review threshold's verdict (over it: a warning)."""
    parts = []
    envs = list(dict.fromkeys(r.env for r in _ordered(reviews)))
    for env in envs:
        mine = [r for r in _ordered(reviews) if r.env == env]
        now, after = sum(r.now_usd for r in mine), sum(r.after_usd for r in mine)
        threshold = mine[0].threshold_usd
        lines = [f"#### Monthly cost in {env} (USD)", "",
                 "| component | now | after apply | difference |", "|---|---:|---:|---:|"]
        lines += [f"| {r.component} | {usd(r.now_usd)} | {usd(r.after_usd)} | "
                  f"{usd(r.after_usd - r.now_usd, signed=True)} |" for r in mine]
        lines.append(f"| **total** | **{usd(now)}** | **{usd(after)}** | "
                     f"**{usd(after - now, signed=True)}** |")
        lines.append("")
        verdict = threshold_sentence(env, after, threshold)
        if threshold is not None and after > threshold:
            lines += ["> [!WARNING]", f"> **{verdict}**"]
        else:
            lines.append(verdict)
        unpriced = [w for r in mine for w in r.warnings]
        if unpriced:
            lines += ["", "Not in the estimate:", *(f"- {w}" for w in unpriced)]
        engines = sorted({r.engine for r in mine})
        lines += ["", f"<sub>priced with the {'; '.join(engines)} and "
                      f"envs/{env}.usage.yml</sub>", ""]
        parts.append("\n".join(lines))
    return "\n".join(parts)


def migrations_markdown(reviews: list[PlanReview]) -> str:
    """Per env and table, the data migrations the apply would run after the table's apply."""
    lines = []
    for review in _ordered(reviews):
        if not review.table:
            continue
        where = f"{review.env} `{review.component}`"
        if review.migrations_unknown:
            lines.append(f"- {where}: not known ({review.migrations_unknown})")
        elif review.migrations:
            runs = "; then ".join(f"`{m.id}` over {review.component} ({m.description})"
                                  for m in review.migrations)
            lines.append(f"- {where}: then runs {runs}")
        else:
            lines.append(f"- {where}: none pending")
    if not lines:
        return ""
    return "#### Data migrations the apply would run\n\n" + "\n".join(lines) + "\n"


def review_text(review: PlanReview) -> str:
    """One component's review as plain lines, for the log."""
    line = (f"{review.component} in {review.env}: {usd(review.now_usd)} USD a month now, "
            f"{usd(review.after_usd)} after the apply "
            f"({usd(review.after_usd - review.now_usd, signed=True)})")
    if review.table:
        if review.migrations_unknown:
            line += f"; pending data migrations not known ({review.migrations_unknown})"
        elif review.migrations:
            line += "; then runs " + ", ".join(m.id for m in review.migrations) + \
                f" over {review.component}"
        else:
            line += "; no data migration pending"
    return line
