"""The tasks behave like any CLI: `invoke <task> --help` prints the task's help, and a required
flag left out is named before anything starts.

Invoke makes every parameter without a default a positional argument, and a positional argument
still waiting for its value swallows the next word, `--help` included: `invoke plan --help` ran
the plan with the environment '--help'. So every parameter is a flag here, and the ones without
a default are checked for by name instead."""

from __future__ import annotations

import functools
import inspect

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task

from bbws_infra.core.errors import UserError
from bbws_infra.core.untyped import TaskBody


def required_flags(task: Task[TaskBody]) -> list[str]:
    """The flags a task cannot run without: its parameters that have no default."""
    parameters = list(inspect.signature(task.body).parameters.values())[1:]  # after the context
    return [f"--{p.name.replace('_', '-')}" for p in parameters if p.default is p.empty]


def flags_only(collection: Collection) -> Collection:
    """Make every parameter of every task (sub-collections too) a flag, and refuse a run that
    lacks a required one; the collection, for `ns = flags_only(Collection(...))`."""
    for name in collection.task_names:
        task = collection[name]
        task.positional = []
        if not getattr(task.body, "checks_flags", False):  # once, if called again
            task.body = _requiring(task.body, name, required_flags(task))
    return collection


def _requiring(body: TaskBody, name: str, flags: list[str]) -> TaskBody:
    if not flags:
        return body

    # wraps: Invoke reads the flags from the signature, which inspect follows to `body`
    @functools.wraps(body)
    def run(context: Context, *args: object, **kwargs: object) -> object:
        missing = [f for f in flags if kwargs.get(f[2:].replace("-", "_")) is None]
        if missing:
            raise Exit(f"error: `invoke {name}` needs {', '.join(missing)}; see invoke {name} "
                       "--help. Nothing was started.", code=UserError.exit_code)
        return body(context, *args, **kwargs)

    # a mark on the function object, which mypy does not let a def grow
    run.checks_flags = True  # type: ignore[attr-defined]
    return run
