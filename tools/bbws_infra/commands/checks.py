"""The static checks and the tasks around them: fmt, validate-schemas, validate-templates,
templates.preview, the gates (one, or every one: check), docs.render, infracost and bench."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.markup import escape

from bbws_infra.commands.common import console, err_console, guarded, rel
from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import load_environment, resolve_components, resolve_target
from bbws_infra.gates import static_checks
from bbws_infra.plans import bundle

if TYPE_CHECKING:
    from bbws_infra.gates.results import GateResult


@guarded
def fmt(*, fix: bool = False) -> int:
    """Rewrite the formatting (checking it is the fmt gate)."""
    problems = static_checks.terraform_fmt(fix)
    if problems:
        err_console.print(problems, markup=False)
        return 1
    console.print("fixed formatting")
    return 0


def _report_findings(what: str, findings: Sequence[object]) -> int:
    for finding in findings:
        err_console.print(str(finding), markup=False)
    if findings:
        err_console.print(f"[red]error:[/red] {len(findings)} problem(s) in the {what}.")
        return 1
    console.print(f"{what}: no problems")
    return 0


@guarded
def validate_schemas() -> int:
    from bbws_infra.inputs import schemas

    return _report_findings("table schemas", schemas.validate_all())


@guarded
def validate_templates() -> int:
    from bbws_infra.inputs import templates

    return _report_findings("email templates", templates.validate_all())


@guarded
def templates_preview() -> int:
    from bbws_infra.inputs.template_preview import build_preview

    index = build_preview()
    console.print(f"preview written; open {rel(index)} in a browser")
    return 0


def _print_gates(run: Callable[[], list[GateResult]], as_json: bool) -> int:
    """Run the gates, print their results; 1 when a blocking gate fails, or when the
    repository's files changed while they ran (a gate writes only under the work directory:
    CI's check session proves it on every run)."""
    from bbws_infra.core import git
    from bbws_infra.gates.gates import exit_code, format_results, results_json

    before = git.worktree_changes()
    results = run()
    after = git.worktree_changes() or {}
    # Plain text, not a terminal-width table: the same output in a terminal, a CI log and a
    # pasted bug report.
    print(results_json(results) if as_json else format_results(results))
    if before is not None and after != before:
        changed = sorted(path for path in {*before, *after}
                         if before.get(path) != after.get(path))
        err_console.print("[red]error:[/red] " + escape(
            f"the repository's files changed while the gates ran ({', '.join(changed)}): a "
            "gate must write only under the work directory, or a file was saved meanwhile; "
            "run the gates again."))
        return 1
    return exit_code(results)


@guarded
def gate(*, name: str, as_json: bool = False) -> int:
    """One gate (see gates.GATES)."""
    from bbws_infra.gates.gates import run_gate

    return _print_gates(lambda: [run_gate(name)], as_json)


@guarded
def check(*, as_json: bool = False, names: tuple[str, ...] | None = None) -> int:
    """Every gate (or the named ones), concurrently where independent, one summary."""
    from bbws_infra.gates.gates import run_check

    return _print_gates(lambda: run_check(names), as_json)


@guarded
def docs_render(*, every: bool = False) -> int:
    """Render the docs' new and changed Mermaid blocks to SVG."""
    from bbws_infra.docs import diagrams

    written = diagrams.render_docs(every=every)
    for path in written:
        print(f"{'wrote' if path.exists() else 'removed'} {rel(path)}")
    if not written:
        print(f"every diagram SVG in {diagrams.DIAGRAMS_DIR} is current")
    return 0


@guarded
def infracost(*, env: str, target: str | None, as_json: bool = False) -> int:
    """Advisory monthly cost of the env's saved plans."""
    from bbws_infra.gates.cost import price_saved_plans

    environment = load_environment(env)
    target_name = resolve_target(target)
    plans = bundle.saved_plan_jsons(target_name, environment.name)
    if not plans:
        raise UserError(f"No saved plans for {environment.name} ({target_name}) to price; run: "
                        f"invoke plan --env {environment.name} --target {target_name}")
    report = price_saved_plans(environment.name, plans)
    if as_json:
        print(report.to_json())
    else:
        console.print(report.text(), markup=False)
        missing = [c.name for c in resolve_components(None) if c.name not in plans]
        if missing:
            console.print(f"not priced (no saved plan): {', '.join(missing)}")
    return 0
