"""Every input file a component's plan reads, checked before anything starts: a broken schema,
contract or template must stop the plan with file, line and one sentence, never reach Terraform
as a module error."""

from __future__ import annotations

from pathlib import Path

from bbws_infra.core.findings import Finding
from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import Component


def component_findings(component: Component, repo_root: Path = REPO_ROOT) -> list[Finding]:
    """Problems in the files a component's root reads: its item schemas, and its template
    contracts and templates."""
    from bbws_infra.inputs import schemas

    root = repo_root / component.root
    findings: list[Finding] = []
    for path in schemas.schema_files(repo_root, component):
        findings += schemas.validate_schema_file(path, repo_root)
    if (root / "contracts.json").exists():
        from bbws_infra.inputs import templates

        findings += templates.validate_all(repo_root)
    return findings


def check_components(components: list[Component], repo_root: Path = REPO_ROOT
                     ) -> list[Finding]:
    return [f for component in components for f in component_findings(component, repo_root)]
