"""The documented `invoke` commands, links and anchors are read and checked as a person would
expect: every way a command can be wrong is found with file and line, and patterns are checked
but never counted as runnable."""

from __future__ import annotations

from pathlib import Path

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.docs import doc_commands, markdown

DOC = """# Guide

Run `invoke plan --env dev --component tenants` first, then `invoke apply`.

```bash
invoke history --env dev \\
  --limit 5
eval "$(invoke sandbox.env --env dev)" && aws s3 ls
invoke plan --env dev | tee plan.log  # a comment
# invoke nothing --here
```

```text
invoke this-is-output --not-checked
```

- `invoke rollback --env prod --component tenants --version-id <V> --confirm rollback-prod`
- `invoke verify --env dev [--component tenants] [--json]`
- `invoke promote --to sit|prod --confirm ...`
- `invoke unlock --env prod --component tenants --lock-id ID`
- `invoke --help rollback`
"""

BAD = """# Bad

```bash
invoke plann --env dev
invoke plan --envx dev
invoke plan --env qa
invoke plan --env dev --component tenants,nope
invoke apply --env dev --confirm
invoke --help nope
```
"""


def _tree(tmp_path: Path, **docs: str) -> Path:
    for name, text in docs.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_commands_are_read_from_shell_blocks_and_inline_code(tmp_path: Path):
    root = _tree(tmp_path, **{"docs__guide.md": DOC})
    found = [(c.line, c.text, c.pattern, c.runnable) for c in doc_commands.commands(root)]
    assert found == [
        (3, "invoke plan --env dev --component tenants", False, True),
        (3, "invoke apply", False, False),  # a task named in prose
        (6, "invoke history --env dev --limit 5", False, True),
        (8, "invoke sandbox.env --env dev", False, True),
        (9, "invoke plan --env dev", False, True),
        (17, "invoke rollback --env prod --component tenants --version-id '<V>' --confirm "
             "rollback-prod", True, False),
        (18, "invoke verify --env dev --component tenants --json", True, False),
        (19, "invoke promote --to 'sit|prod' --confirm ...", True, False),
        (20, "invoke unlock --env prod --component tenants --lock-id ID", True, False),
        (21, "invoke --help rollback", False, False),
    ]
    assert doc_commands.problems(root) == []


def test_every_kind_of_wrong_command_is_found_with_file_and_line(tmp_path: Path):
    root = _tree(tmp_path, **{"README.md": BAD})
    problems = doc_commands.problems(root)
    assert [(p.file, p.line) for p in problems] == [("README.md", n) for n in range(4, 10)]
    messages = [p.message for p in problems]
    assert "there is no task 'plann'" in messages[0]
    assert "`invoke plan` has no flag --envx; its flags: --component," in messages[1]
    assert "'qa' is no valid --env value; choose from: dev, prod, sit." in messages[2]
    assert "'nope' is no valid --component value" in messages[3]
    assert "needed value and was not given one" in messages[4]
    assert "`invoke --help` takes one task name" in messages[5]


def test_writing_and_aws_commands_are_never_runnable(tmp_path: Path):
    root = _tree(tmp_path, **{"README.md": "```bash\n"
                              "invoke apply --env dev --confirm deploy-dev\n"
                              "invoke doctor --env dev --fix-digest\n"
                              "invoke fmt --fix\n"
                              "invoke plan --env prod --target aws\n"
                              "invoke doctor --env dev\n```\n"})
    runnable = [c.text for c in doc_commands.commands(root) if c.runnable]
    assert runnable == ["invoke doctor --env dev"]


def test_links_and_anchors_must_lead_somewhere(tmp_path: Path):
    root = _tree(tmp_path, **{
        "docs__a.md": "# Top\n\n## Backups and DR\n\n[ok](b.md#the-b-side) [ok](#backups-and-dr)"
                      " [web](https://example.com) `[code](nowhere.md)`\n"
                      "[gone](missing.md) [bad anchor](b.md#nope) ![img](diagrams/x.svg)\n",
        "docs__b.md": "# The `b` side\n",
    })
    problems = [(p.line, p.message) for p in doc_commands.link_problems(root)]
    assert problems == [
        (6, "the link missing.md leads to no file."),
        (6, "the link b.md#nope names no heading of docs/b.md."),
        (6, "the link diagrams/x.svg leads to no file."),
    ]


def test_headings_make_github_anchors():
    text = "# What this repository owns\n## Backups and DR\n## Backups and DR\n## `invoke` (v2)\n"
    assert markdown.anchors(text) == {"what-this-repository-owns", "backups-and-dr",
                                      "backups-and-dr-1", "invoke-v2"}


def test_markdown_files_skip_run_time_data_and_fixtures(tmp_path: Path):
    root = _tree(tmp_path, **{"README.md": "", "docs__x.md": "", "build__y.md": "",
                              "tests__fixtures__z.md": "", ".venv__w.md": ""})
    assert [p.relative_to(root).as_posix() for p in markdown.files(root)] == ["README.md",
                                                                             "docs/x.md"]


def test_the_repository_docs_name_only_real_tasks_flags_and_files():
    problems = doc_commands.problems(REPO_ROOT) + doc_commands.link_problems(REPO_ROOT)
    assert problems == [], "\n".join(map(str, problems))
    documented = {c.task for c in doc_commands.commands(REPO_ROOT)}
    # The README and the runbooks show the everyday tasks.
    assert {"plan", "apply", "promote", "rollback", "verify", "history", "state-versions",
            "doctor", "unlock"} <= documented


def test_a_command_inside_a_quoted_message_ends_with_its_sentence(tmp_path: Path):
    root = _tree(tmp_path, **{"README.md": (
        "| `error: stale; plan again: invoke plan --env dev --component tenants; nothing was "
        "changed.` | `run: invoke doctor --env dev.` | `invoke apply ...` |\n")})
    assert [c.text for c in doc_commands.commands(root)] == [
        "invoke plan --env dev --component tenants", "invoke doctor --env dev", "invoke apply ..."]
    assert doc_commands.problems(root) == []


def test_required_flags_and_help_after_the_task_name(tmp_path: Path):
    root = _tree(tmp_path, **{"README.md": "```bash\ninvoke plan --component tenants\n"
                              "invoke apply ... --no-verify\ninvoke plan --help\n"
                              "invoke <task> --help\ninvoke nope --help\n```\n"})
    assert [(p.line, p.message.split(";")[0]) for p in doc_commands.problems(root)] == [
        (2, "invoke plan --component tenants: `invoke plan` needs --env."),
        (6, "invoke nope --help: there is no task 'nope'")]
