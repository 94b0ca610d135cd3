"""Each module README's Inputs and Outputs tables against the module's variables.tf and
outputs.tf, read with python-hcl2, so the tables cannot go stale.

The Inputs table has the columns name, type, required, default and description: one variable a
row, its type and default written as in variables.tf (backticks and spacing aside), required
`yes` exactly when the variable has no default (the default cell is then empty). The Outputs
table's first column names the outputs, one or more a row (`a`, `b`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bbws_infra.core import tfvars
from bbws_infra.core.errors import InputFileError
from bbws_infra.core.paths import relative_name
from bbws_infra.core.registry import MODULES_DIR
from bbws_infra.core.untyped import Json, JsonObject
from bbws_infra.docs import markdown
from bbws_infra.docs.doc_commands import DocProblem

INPUT_COLUMNS = ("name", "type", "required", "default", "description")
_CODE_NAME = re.compile(r"`([A-Za-z_][\w-]*)`")


@dataclass(frozen=True)
class Variable:
    """A variable as variables.tf declares it: type and default as HCL text (None: absent)."""

    name: str
    type: str | None
    default: str | None

    @property
    def required(self) -> bool:
        return self.default is None


def hcl_text(value: Json) -> str:
    """python-hcl2's value of an expression written back as HCL (strings keep their quotes)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value[2:-1] if value.startswith("${") and value.endswith("}") else value
    if isinstance(value, list):
        return "[" + ", ".join(hcl_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {hcl_text(item)}" for key, item in value.items()
                               if not key.startswith("__")) + "}"
    return str(value)


def _compact(text: str) -> str:
    """A type or default as compared: without backticks and whitespace."""
    return re.sub(r"\s+", "", text.replace("`", ""))


def _said(text: str | None) -> str:
    """A type or default in a sentence: in backticks, or `nothing` when absent or empty."""
    bare = (text or "").replace("`", "").strip()
    return f"`{bare}`" if bare else "nothing"


def _blocks(document: JsonObject, kind: str) -> dict[str, JsonObject]:
    """The `kind` blocks (variable, output) of a parsed file by name, in file order."""
    return {name.strip('"'): body for block in document.get(kind, [])
            for name, body in block.items()}


def variables(path: Path, root: Path) -> list[Variable]:
    """The variables a variables.tf declares."""
    if not path.exists():
        return []
    return [Variable(name, hcl_text(body["type"]) if "type" in body else None,
                     hcl_text(body["default"]) if "default" in body else None)
            for name, body in _blocks(tfvars.parse_file(path, root), "variable").items()]


def outputs(path: Path, root: Path) -> list[str]:
    """The names of the outputs an outputs.tf declares."""
    return list(_blocks(tfvars.parse_file(path, root), "output")) if path.exists() else []


@dataclass(frozen=True)
class Table:
    """A Markdown table: the line of its header row, the header cells and each row's line and
    cells."""

    line: int
    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]

    def column(self, name: str) -> int | None:
        return self.header.index(name) if name in self.header else None


def _cells(line: str) -> tuple[str, ...]:
    """The cells of a table row (a `|` inside backticks or escaped does not split)."""
    cells, current, in_code = [], "", False
    for previous, char in zip(" " + line, line, strict=False):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code and previous != "\\":
            cells.append(current.strip())
            current = ""
        else:
            current += char
    cells.append(current.strip())
    return tuple(cells[1:-1] if line.strip().startswith("|") else cells)


def section_table(text: str, heading: str) -> Table | None:
    """The first table below the `## <heading>` heading (before the next heading)."""
    lines: list[tuple[int, str]] = []
    inside = False
    for number, line in markdown.prose_lines(text):
        if re.match(r"^#{1,6}\s", line):
            if inside:
                break
            inside = re.match(rf"^##\s+{re.escape(heading)}\s*$", line) is not None
        elif inside and line.lstrip().startswith("|"):
            lines.append((number, line))
        elif inside and lines:
            break
    if len(lines) < 2:
        return None
    (header_line, header), *rows = lines
    return Table(header_line, tuple(c.lower() for c in _cells(header)),
                 tuple((n, _cells(row)) for n, row in rows[1:]))


def _input_row_problems(variable: Variable, cells: tuple[str, ...], table: Table) -> list[str]:
    """What one Inputs row says wrongly about its variable."""
    def cell(name: str) -> str:
        index = table.column(name)
        return cells[index] if index is not None and index < len(cells) else ""

    found = []
    if _compact(cell("type")) != _compact(variable.type or ""):
        found.append(f"the type of `{variable.name}` is {_said(variable.type)} in variables.tf, "
                     f"but the README says {_said(cell('type'))}.")
    written_required = cell("required").lower()
    if written_required not in ("yes", "no"):
        found.append(f"the required cell of `{variable.name}` must be yes or no.")
    elif (written_required == "yes") != variable.required:
        which = "required (no default)" if variable.required else "optional (a default)"
        marked = "required" if written_required == "yes" else "optional"
        found.append(f"`{variable.name}` is {which} in variables.tf, but the README marks it "
                     f"{marked}.")
    if _compact(cell("default")) != _compact(variable.default or ""):
        found.append(f"the default of `{variable.name}` is {_said(variable.default)} in "
                     f"variables.tf, but the README says {_said(cell('default'))}.")
    return found


def input_problems(readme: str, declared: list[Variable]) -> list[tuple[int, str]]:
    """(line, sentence) for every way the Inputs table differs from variables.tf."""
    table = section_table(readme, "Inputs")
    if table is None:
        return [(1, "has no `## Inputs` table; variables.tf declares "
                    f"{', '.join(v.name for v in declared)}.")] if declared else []
    if table.header != INPUT_COLUMNS:
        return [(table.line, f"the Inputs table's columns must be {' | '.join(INPUT_COLUMNS)}.")]
    by_name = {v.name: v for v in declared}
    found, seen = [], set()
    for number, cells in table.rows:
        names = _CODE_NAME.findall(cells[0]) if cells else []
        name = names[0] if len(names) == 1 else (cells[0] if cells else "")
        if name in seen:
            found.append((number, f"`{name}` has a second row in the Inputs table."))
        elif name not in by_name:
            found.append((number, f"the Inputs table names `{name}`, which variables.tf does "
                                  "not declare (one variable a row, its name in backticks)."))
        else:
            found += [(number, p) for p in _input_row_problems(by_name[name], cells, table)]
        seen.add(name)
    found += [(table.line, f"the Inputs table lacks `{v.name}`, declared in variables.tf.")
              for v in declared if v.name not in seen]
    return found


def output_problems(readme: str, declared: list[str]) -> list[tuple[int, str]]:
    """(line, sentence) for every output name the Outputs table adds or lacks."""
    table = section_table(readme, "Outputs")
    if table is None:
        return [(1, "has no `## Outputs` table; outputs.tf declares "
                    f"{', '.join(declared)}.")] if declared else []
    found, seen = [], set()
    for number, cells in table.rows:
        for name in _CODE_NAME.findall(cells[0]) if cells else []:
            if name not in declared:
                found.append((number, f"the Outputs table names `{name}`, which outputs.tf "
                                      "does not declare."))
            seen.add(name)
    found += [(table.line, f"the Outputs table lacks `{name}`, declared in outputs.tf.")
              for name in declared if name not in seen]
    return found


def module_problems(module: Path, root: Path) -> list[DocProblem]:
    """A module README's tables against the module's variables.tf and outputs.tf."""
    readme = module / "README.md"
    name = relative_name(readme, root)
    try:
        declared_inputs = variables(module / "variables.tf", root)
        declared_outputs = outputs(module / "outputs.tf", root)
    except InputFileError as error:
        return [DocProblem(error.file, error.line or 1, error.message)]
    if not readme.exists():
        return [DocProblem(name, 1, "is missing; every module documents its inputs and "
                                    "outputs.")] if declared_inputs or declared_outputs else []
    text = readme.read_text(encoding="utf-8")
    found = input_problems(text, declared_inputs) + output_problems(text, declared_outputs)
    return sorted(DocProblem(name, line, message) for line, message in found)


def problems(root: Path) -> list[DocProblem]:
    """Every module README (modules/<m>/README.md) whose tables differ from its .tf files."""
    modules = root / MODULES_DIR
    if not modules.is_dir():
        return []
    return [problem for module in sorted(p for p in modules.iterdir() if p.is_dir())
            for problem in module_problems(module, root)]
