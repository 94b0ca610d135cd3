"""Module READMEs against their .tf files (tools/bbws_infra/docs/module_docs.py): today's READMEs
match; every way an Inputs or Outputs table can go stale is named with the README's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.docs import module_docs
from bbws_infra.gates import gates

VARIABLES = '''variable "name" {
  description = "Name."
  type        = string
}

variable "mode" {
  type    = string
  default = "ON_DEMAND"
}

variable "indexes" {
  type = list(object({
    name      = string
    range_key = optional(string)
  }))
  default = []
}

variable "retention_days" {
  type    = number
  default = null
}
'''

OUTPUTS = '''output "arn" {
  value = "x"
}

output "id" {
  value = "y"
}
'''

README = '''# demo

## Inputs

| name | type | required | default | description |
|---|---|---|---|---|
| `name` | `string` | yes | | Name. |
| `mode` | `string` | no | `"ON_DEMAND"` | Mode. |
| `indexes` | `list(object({name = string, range_key = optional(string)}))` | no | `[]` | Indexes. |
| `retention_days` | number | no | null | Days. |

## Outputs

| name | description |
|---|---|
| `arn`, `id` | The thing. |
'''


def _module(root: Path, readme: str = README, variables: str = VARIABLES,
            outputs: str = OUTPUTS) -> Path:
    module = root / "modules" / "demo"
    module.mkdir(parents=True)
    for name, text in (("variables.tf", variables), ("outputs.tf", outputs),
                       ("README.md", readme)):
        (module / name).write_text(text)
    return root


def _problems(root: Path) -> list[str]:
    return [str(problem) for problem in module_docs.problems(root)]


def test_todays_module_readmes_match_their_tf_files():
    assert _problems(REPO_ROOT) == []
    assert len(list((REPO_ROOT / "modules").glob("*/README.md"))) >= 6


def test_a_readme_written_as_the_tf_files_passes(tmp_path: Path):
    assert _problems(_module(tmp_path)) == []


def test_a_stale_inputs_table_is_caught_row_by_row(tmp_path: Path):
    stale = (README
             .replace("| `name` | `string` | yes |", "| `name` | `number` | yes |")
             .replace('| no | `"ON_DEMAND"` |', '| no | `"PROVISIONED"` |')
             .replace("| `retention_days` | number | no | null |",
                      "| `retention_days` | number | yes | |")
             .replace("| `indexes` |", "| `old_name` |"))
    assert _problems(_module(tmp_path, stale)) == [
        "modules/demo/README.md:5: the Inputs table lacks `indexes`, declared in variables.tf.",
        "modules/demo/README.md:7: the type of `name` is `string` in variables.tf, but the "
        "README says `number`.",
        'modules/demo/README.md:8: the default of `mode` is `"ON_DEMAND"` in variables.tf, but '
        'the README says `"PROVISIONED"`.',
        "modules/demo/README.md:9: the Inputs table names `old_name`, which variables.tf does "
        "not declare (one variable a row, its name in backticks).",
        "modules/demo/README.md:10: `retention_days` is optional (a default) in variables.tf, "
        "but the README marks it required.",
        "modules/demo/README.md:10: the default of `retention_days` is `null` in variables.tf, "
        "but the README says nothing.",
    ]


def test_a_changed_variables_tf_makes_the_readme_stale(tmp_path: Path):
    variables = VARIABLES.replace("    range_key = optional(string)\n", "") + (
        'variable "tags" {\n  type = map(string)\n}\n')
    assert _problems(_module(tmp_path, variables=variables)) == [
        "modules/demo/README.md:5: the Inputs table lacks `tags`, declared in variables.tf.",
        "modules/demo/README.md:9: the type of `indexes` is `list(object({name = string}))` in "
        "variables.tf, but the README says `list(object({name = string, range_key = "
        "optional(string)}))`.",
    ]


def test_a_stale_outputs_table_is_caught(tmp_path: Path):
    stale = README.replace("| `arn`, `id` | The thing. |", "| `arn`, `old_id` | The thing. |")
    assert _problems(_module(tmp_path, stale)) == [
        "modules/demo/README.md:14: the Outputs table lacks `id`, declared in outputs.tf.",
        "modules/demo/README.md:16: the Outputs table names `old_id`, which outputs.tf does not "
        "declare.",
    ]


def test_a_second_row_and_a_bad_required_cell_are_caught(tmp_path: Path):
    row = "| `name` | `string` | yes | | Name. |\n"
    stale = README.replace(row, row + row.replace("yes", "maybe"))
    assert _problems(_module(tmp_path, stale)) == [
        "modules/demo/README.md:8: `name` has a second row in the Inputs table."]
    shuffled = README.replace(row, row.replace("| yes |", "| sure |"))
    assert _problems(_module(tmp_path / "again", shuffled)) == [
        "modules/demo/README.md:7: the required cell of `name` must be yes or no."]


def test_missing_tables_columns_and_readme(tmp_path: Path):
    old_columns = README.replace("| name | type | required | default | description |",
                                 "| name | type | default | description |")
    assert _problems(_module(tmp_path / "columns", old_columns)) == [
        "modules/demo/README.md:5: the Inputs table's columns must be name | type | required | "
        "default | description."]
    no_outputs = README.split("## Outputs")[0]
    assert _problems(_module(tmp_path / "outputs", no_outputs)) == [
        "modules/demo/README.md:1: has no `## Outputs` table; outputs.tf declares arn, id."]
    root = _module(tmp_path / "none")
    (root / "modules" / "demo" / "README.md").unlink()
    assert _problems(root) == [
        "modules/demo/README.md:1: is missing; every module documents its inputs and outputs."]


def test_a_broken_variables_tf_is_named_with_its_line(tmp_path: Path):
    (problem,) = _problems(_module(tmp_path, variables='variable "name" {\n  type = \n}\n'))
    assert problem.startswith("modules/demo/variables.tf:")
    assert "is not valid HCL" in problem


@pytest.mark.parametrize(("value", "text"), [
    (None, "null"), (True, "true"), (7, "7"), ('"PAY"', '"PAY"'), ([], "[]"),
    ("${map(string)}", "map(string)"), (['"a"', 1], '["a", 1]'), ({"a": 1}, "{a = 1}"),
])
def test_hcl_text_writes_values_back_as_hcl(value, text):
    assert module_docs.hcl_text(value) == text


def test_the_docs_gate_reports_stale_module_readmes(tmp_path: Path):
    stale = README.replace("| `name` | `string` |", "| `name` | `number` |")
    checked = gates.gate_docs(_module(tmp_path, stale))
    assert [(f.file, f.line, f.rule) for f in checked.findings] == [
        ("modules/demo/README.md", 7, "doc-module")]
