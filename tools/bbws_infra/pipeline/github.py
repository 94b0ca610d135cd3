"""What the tasks add when GitHub Actions runs them: Markdown for the job summary, step
outputs, one pull-request comment per environment that each new plan updates instead of adding
another, and reads of the REST API (a run's approvals: approvals.py).

Outside Actions (no GITHUB_STEP_SUMMARY, GITHUB_OUTPUT, pull request) the writing functions
here do nothing, so the tasks behave the same on a laptop.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.untyped import Json, JsonObject

# GitHub refuses an issue or pull-request comment body longer than this (characters).
COMMENT_LIMIT = 65_536


def job_summary(markdown: str) -> bool:
    """Append to the job summary when running in GitHub Actions; whether it did."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip() + "\n\n")
    return True


def pull_request_number() -> int | None:
    """The pull request this run belongs to (from the event payload), if any."""
    event = os.environ.get("GITHUB_EVENT_PATH")
    if not event or not Path(event).exists():
        return None
    payload = json.loads(Path(event).read_text())
    number = (payload.get("pull_request") or {}).get("number")
    return int(number) if number else None


class GitHubError(OperationError):
    """GitHub's API answered with an error, or could not be reached or read (status None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def api_url() -> str:
    """The REST API of the GitHub the run belongs to (GITHUB_API_URL; github.com otherwise)."""
    return os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")


def get_json(url: str, token: str, timeout: float = 30) -> Json:
    """GET one REST API resource as JSON; GitHubError with one sentence when that fails."""
    return request("GET", url, token, timeout=timeout)


def request(method: str, url: str, token: str, body: JsonObject | None = None,
            timeout: float = 30) -> Json:
    """One REST API call with a JSON body; its JSON answer, or GitHubError with one sentence."""
    data = json.dumps(body).encode() if body is not None else None
    prepared = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
        "Content-Type": "application/json", "X-GitHub-Api-Version": "2022-11-28"})
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise GitHubError(f"GitHub answered {error.code} to {method} {url}.",
                          error.code) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise GitHubError(f"Could not reach GitHub at {url} ({reason}).") from None
    except ValueError:  # the body is not JSON (or not UTF-8)
        raise GitHubError(f"GitHub's answer to {method} {url} is not JSON.") from None


def truncated(markdown: str, limit: int, pointer: str) -> str:
    """markdown whole when it fits in limit characters; otherwise cut at a line end, with the
    pointer (where to read the rest) after it, the whole within limit."""
    if len(markdown) <= limit:
        return markdown
    note = f"\n\n---\n**Truncated** to fit GitHub's comment limit: {pointer}\n"
    room = limit - len(note)
    if room <= 0:
        raise ValueError("the truncation note alone exceeds the limit")
    cut = markdown.rfind("\n", 0, room)
    kept = markdown[:cut if cut > 0 else room]
    if kept.count("```") % 2:  # never leave a code block open
        kept = kept[:kept.rfind("```")].rstrip()
    return kept.rstrip() + note


def run_url() -> str:
    """This workflow run's page (job summaries, artifacts), or "" outside Actions."""
    repository, run_id = os.environ.get("GITHUB_REPOSITORY"), os.environ.get("GITHUB_RUN_ID")
    if not repository or not run_id:
        return ""
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    return f"{server}/{repository}/actions/runs/{run_id}"


def upsert_comment(marker: str, markdown: str, pointer: str = "see the job summary") -> str:
    """Create, or update in place, the one comment of this pull request that starts with the
    hidden marker; a sentence saying what was done. A body over GitHub's limit is truncated,
    the pointer saying where the whole text is."""
    number = pull_request_number()
    if number is None:
        return "not a pull request run: no comment written"
    token = os.environ.get("GITHUB_TOKEN")
    repository = os.environ.get("GITHUB_REPOSITORY")
    if not token or not repository:
        raise UserError("Commenting needs GITHUB_TOKEN and GITHUB_REPOSITORY (GitHub Actions "
                        "sets the second; pass the first from secrets.GITHUB_TOKEN).")
    api = api_url()
    head = f"<!-- {marker} -->\n"
    body = head + truncated(markdown, COMMENT_LIMIT - len(head), pointer)
    comments_url = f"{api}/repos/{repository}/issues/{number}/comments"
    page = 1
    while True:
        listed = request("GET", f"{comments_url}?per_page=100&page={page}", token)
        for comment in listed:
            if str(comment.get("body", "")).startswith(f"<!-- {marker} -->"):
                request("PATCH", f"{api}/repos/{repository}/issues/comments/{comment['id']}",
                         token, {"body": body})
                return f"updated the plan comment on pull request #{number}"
        if len(listed) < 100:
            break
        page += 1
    request("POST", comments_url, token, {"body": body})
    return f"commented the plan on pull request #{number}"


def set_output(name: str, value: str) -> bool:
    """Set a step output (GITHUB_OUTPUT) when running in GitHub Actions; whether it did."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return False
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(f"{name}={value}\n")
    return True
