"""`invoke report`: the status page. Reads every env (or those named) with read calls only,
writes <out>/index.html and <out>/report.json from one model, adds the short version to the
GitHub job summary when run in Actions, and with --screenshot renders the page in headless
Chromium to <out>/report.png. Exit 0, or 1 when something could not be read (the page is
still written and says what) or the screenshot failed."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from bbws_infra.commands.common import console, guarded, rel
from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.paths import work_dir
from bbws_infra.core.registry import (
    env_names,
    load_environment,
    resolve_components,
    resolve_target,
)
from bbws_infra.pipeline import github
from bbws_infra.report import browser, html_page, summary
from bbws_infra.report.collect import collect
from bbws_infra.report.verdicts import env_verdict
from bbws_infra.targets import targets

PAGE, DATA, PNG = "index.html", "report.json", "report.png"


def _envs(env: str | None) -> list[str]:
    """The envs named (comma-separated), in promotion order; all of them by default."""
    known = env_names()
    if env in (None, "", "all"):
        return known
    wanted = [name.strip() for name in env.split(",")]
    for name in wanted:
        load_environment(name)  # one sentence naming the valid choices
    return [name for name in known if name in wanted]


def _write(path: Path, text: str) -> None:
    """Atomically: a reader (a browser, an artifact upload) never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the page from a web server or a colleague
    os.replace(temp, path)


@guarded
def report(*, env: str | None = None, target: str | None = None, out: str | None = None,
           as_json: bool = False, screenshot: bool = False) -> int:
    """Write the status page (and its data as JSON); 1 when it is partial."""
    target_name = resolve_target(target)
    environments = [load_environment(name) for name in _envs(env)]
    folder = Path(out).resolve() if out else work_dir() / "report"
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {out}: not a folder; nothing was written.")
    model = collect(lambda e: targets.reader_session(target_name, e), target_name,
                    environments, resolve_components(None))
    data = json.dumps(model.to_json(), indent=2)
    _write(folder / DATA, data + "\n")
    _write(folder / PAGE, html_page.render(model))
    github.job_summary(summary.markdown(model, PAGE))
    if as_json:
        print(data)
    else:
        for status in model.envs:
            console.print(f"{status.env}: {env_verdict(status)[0]}", markup=False)
        console.print(f"wrote {rel(folder / PAGE)} and {rel(folder / DATA)} "
                      f"({model.seconds:.1f} s)", markup=False)
    if screenshot:
        png = browser.screenshot(folder / PAGE, folder / PNG)
        if not as_json:
            console.print(f"wrote {rel(png)}", markup=False)
    return OperationError.exit_code if model.partial else 0
