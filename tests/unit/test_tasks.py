"""The CLI surface: every task and flag documented; bad input refused before anything runs."""

import tasks


def _all_tasks(collection):
    yield from collection.tasks.values()
    for sub in collection.collections.values():
        yield from _all_tasks(sub)


def test_every_task_and_flag_has_help():
    for task in _all_tasks(tasks.ns):
        assert task.__doc__, f"{task.name} has no docstring"
        undocumented = [a.name for a in task.get_arguments() if not a.help]
        assert not undocumented, f"{task.name}: flags without help: {undocumented}"
