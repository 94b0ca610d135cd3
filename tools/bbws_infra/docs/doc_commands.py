"""Every `invoke ...` command the Markdown shows, checked against the real tasks with Invoke's own
parser: the task exists, each flag exists and gets a value when it needs one, and concrete
environment, component and target values are real. Documented read-only commands with concrete
values are also what the end-to-end docs test runs on the sandbox (see docs/README.md).

Commands are read from shell code blocks (bash, sh, shell, console; `\\` continues a line)
and from inline code. `<placeholder>` and upper-case (`--version-id V`) values, `[optional
parts]`, `a|b` alternatives and `...` make a command a pattern: checked, never run.
A bare `invoke <task>` in prose names the task and is only checked for existing."""

from __future__ import annotations

import importlib.util
import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from invoke.collection import Collection
from invoke.exceptions import ParseError
from invoke.parser import Parser
from invoke.parser.context import ParserContext

from bbws_infra.core import cli, registry
from bbws_infra.core.findings import Finding
from bbws_infra.core.paths import REPO_ROOT, relative_name
from bbws_infra.docs import markdown

SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console", "zsh"})
# Tasks that only read, or write only under the work directory: a documented example of one
# with concrete values is run on the sandbox by the docs test.
READ_ONLY_TASKS = frozenset({
    "alarms", "backups", "doctor", "drift", "fmt", "history", "iam-policy", "init", "matrix",
    "migrations", "plan", "report", "sandbox.env", "sandbox.status", "state-versions", "status",
    "templates.preview",
    "validate", "validate-schemas", "validate-templates", "verify",
})
_WRITING_FLAGS = frozenset({"--fix", "--fix-digest"})
_INVOKE = re.compile(r"(?:^|(?<=[\s\"'(]))invoke(?=\s)")
# Where a documented command ends inside a shell line or a quoted message (a sentence's
# `;`, `.` or `,`).
_COMMAND_END = re.compile(r"\)\"|\)|\s(?:\||&&|;|>|2>|#)\s?|(?<!\.)[;.,](?=\s|$)")
_PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*|<[^>]*>")
_VALUE_FLAGS = {"env": "env", "to": "env", "component": "component", "target": "target"}


@dataclass(frozen=True)
class DocCommand:
    """One documented command: where it is and its words after `invoke`."""

    file: str
    line: int
    words: tuple[str, ...]
    pattern: bool  # holds a placeholder, an optional part, alternatives or an ellipsis

    @property
    def text(self) -> str:
        return shlex.join(("invoke", *self.words))

    @property
    def task(self) -> str | None:
        return next((w for w in self.words if not w.startswith("-")), None)

    @property
    def runnable(self) -> bool:
        """A concrete read-only command on the sandbox: safe for the docs test to run."""
        words = set(self.words)
        return (not self.pattern and len(self.words) > 1 and self.task in READ_ONLY_TASKS
                and not words & _WRITING_FLAGS and "aws" not in words
                and not any(w.startswith(("--help", "-h")) for w in self.words))


class DocProblem(Finding):
    """A problem in the docs: the one Finding, printed as `<file>:<line>: <sentence>`."""

    def __str__(self) -> str:
        return self.located()


def _split(text: str) -> tuple[tuple[str, ...], bool]:
    """The words of a command and whether it is a pattern rather than a runnable command."""
    pattern = bool(re.search(r"[\[\]|<>]|\.\.\.", text))
    text = re.sub(r"[\[\]]", " ", text).replace("...", " ... ")
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    pattern = pattern or any(_PLACEHOLDER.fullmatch(w) for w in words)
    return tuple(words), pattern


def _from_line(text: str) -> list[str]:
    """The `invoke ...` commands inside one shell line (also inside `$(...)`)."""
    found = []
    for match in _INVOKE.finditer(text):
        rest = text[match.end():]
        end = _COMMAND_END.search(rest)
        found.append(rest[:end.start()] if end else rest)
    return found


def _joined(lines: tuple[str, ...], first: int) -> list[tuple[int, str]]:
    """Shell lines with `\\` continuations joined, each with the number of its first line."""
    joined, current, start = [], "", first
    for offset, line in enumerate(lines):
        if not current:
            start = first + offset
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        joined.append((start, current + line))
        current = ""
    if current:
        joined.append((start, current))
    return joined


def commands(root: Path = REPO_ROOT) -> list[DocCommand]:
    """Every documented `invoke` command of the tree's Markdown, in file order."""
    found = []
    for path in markdown.files(root):
        name = relative_name(path, root)
        text = path.read_text(encoding="utf-8")
        fenced, prose = markdown.split(text)
        candidates: list[tuple[int, str]] = []
        for block in fenced:
            if block.language in SHELL_LANGUAGES:
                candidates += _joined(block.lines, block.line + 1)
        for number, line in prose:
            candidates += [(number, code) for code in markdown.inline_code(line)]
        for number, line in sorted(candidates, key=lambda item: item[0]):
            if line.lstrip().startswith("#"):
                continue
            for command in _from_line(line):
                words, pattern = _split(command)
                found.append(DocCommand(name, number, words, pattern))
    return found


@cache
def _tasks() -> Collection:
    """The repository's tasks, loaded under a private name (Invoke hands out each help text
    once, so the tasks a running `invoke` loaded are left alone)."""
    spec = importlib.util.spec_from_file_location("_bbws_documented_tasks",
                                                  REPO_ROOT / "tasks.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {REPO_ROOT / 'tasks.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Collection.from_module(module)


@cache
def _parser() -> tuple[Parser, dict[str, ParserContext]]:
    """Invoke's parser over the repository's tasks."""
    contexts = _tasks().to_contexts()
    return Parser(contexts=contexts), {c.name: c for c in contexts if c.name is not None}


@cache
def _choices() -> dict[str, frozenset[str]]:
    return {"env": frozenset(registry.env_names()), "component": frozenset(registry.COMPONENTS),
            "target": frozenset(registry.TARGETS)}


def _takes_value(context: ParserContext, flag: str) -> bool:
    return flag in context.flags and context.flags[flag].takes_value


def check(command: DocCommand) -> str | None:
    """What is wrong with a documented command, or None."""
    parser, contexts = _parser()
    words = list(command.words)
    if words[:1] in (["--help"], ["-h"]):
        words = words[1:]
        if len(words) > 1 or (words and words[0] not in contexts
                              and not _PLACEHOLDER.fullmatch(words[0])):
            return f"`invoke --help` takes one task name; choose from: {', '.join(contexts)}."
        return None
    if words[:1] in (["--list"], ["-l"], ["..."], []):
        return None
    task = words[0]
    if words[1:] in (["--help"], ["-h"]) and _PLACEHOLDER.fullmatch(task):
        return None  # `invoke <task> --help`: any task's help
    if task not in contexts:
        return f"there is no task {task!r}; choose from: {', '.join(contexts)}."
    if words[1:] in (["--help"], ["-h"]):
        return None  # the task's help
    unknown = [w.split("=")[0] for w in words[1:]
               if w.startswith("-") and w.split("=")[0] not in contexts[task].flags]
    if unknown:
        flags = ", ".join(sorted(f for f in contexts[task].flags if f.startswith("--")))
        return f"`invoke {task}` has no flag {unknown[0]}; its flags: {flags}."
    if len(words) == 1:
        return None  # the task named in prose
    # `...` stands for a flag's value after a flag that takes one, otherwise for more flags.
    shown = [("<...>" if _takes_value(contexts[task], previous) else None) if word == "..."
             else word for previous, word in zip(["", *words], words, strict=False)]
    words = [word for word in shown if word is not None]
    try:
        parsed = parser.parse_argv(words)
    except ParseError as error:
        return f"Invoke cannot parse it: {error}"
    if len(parsed) != 1:
        return f"it runs {len(parsed)} tasks ({', '.join(str(c.name) for c in parsed)}); show one."
    missing = [f for f in cli.required_flags(_tasks()[task]) if not parsed[0].flags[f].got_value]
    if missing and not command.pattern:  # a pattern such as `invoke apply ... --no-verify`
        return f"`invoke {task}` needs {', '.join(missing)}."
    choices = _choices()
    for argument in parsed[0].args.values():
        kind = _VALUE_FLAGS.get(argument.name)
        if not kind or not argument.got_value or _PLACEHOLDER.search(str(argument.value)):
            continue
        values = [v for v in re.split(r"[,|]", str(argument.value)) if v]
        wrong = [v for v in values if v not in choices[kind]]
        if wrong:
            return (f"{wrong[0]!r} is no valid --{argument.name} value; choose from: "
                    f"{', '.join(sorted(choices[kind]))}.")
    return None


def problems(root: Path = REPO_ROOT) -> list[DocProblem]:
    """Every documented command that names a task, flag or value that does not exist."""
    found = []
    for command in commands(root):
        message = check(command)
        if message:
            found.append(DocProblem(command.file, command.line, f"{command.text}: {message}"))
    return found


def link_problems(root: Path = REPO_ROOT) -> list[DocProblem]:
    """Relative links (and their #anchors) that lead nowhere."""
    found = []
    anchors: dict[Path, set[str]] = {}  # many links lead into the same few documents

    def anchors_of(document: Path) -> set[str]:
        if document not in anchors:
            anchors[document] = markdown.anchors(document.read_text(encoding="utf-8"))
        return anchors[document]

    for path in markdown.files(root):
        name = relative_name(path, root)
        for number, target in markdown.links(path.read_text(encoding="utf-8")):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: and the like
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path.resolve()
            if not linked.exists():
                found.append(DocProblem(name, number, f"the link {target} leads to no file."))
            elif anchor and linked.suffix == ".md" and anchor not in anchors_of(linked):
                found.append(DocProblem(name, number, f"the link {target} names no heading of "
                                                      f"{relative_name(linked, root)}."))
    return found
