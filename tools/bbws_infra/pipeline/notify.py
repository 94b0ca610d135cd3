"""One Slack message per deployment event (deploy, promote, rollback, drift...), posted to an
incoming webhook with the standard library only. A message names env, action, result,
components, commit and who, and links the workflow run and, where the run has them, the plan
summary and the ledger records it wrote.

The webhook URL is a secret (whoever holds it can post to the channel): it comes from the
argument or SLACK_WEBHOOK_URL, and no message, error or return value ever contains it.
Without a webhook nothing is sent and that is not an error, so local runs need no Slack.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.untyped import JsonObject

WEBHOOK_VARIABLE = "SLACK_WEBHOOK_URL"
SHORT_COMMIT = 12  # as the task runner's own messages shorten commits
# Words for a result (GitHub job results and the task runner's own), no emoji; failure in
# capitals so it stands out in a channel.
RESULT_MARKERS = {
    "success": "succeeded", "succeeded": "succeeded", "applied": "succeeded",
    "failure": "FAILED", "failed": "FAILED", "error": "FAILED",
    "cancelled": "cancelled", "canceled": "cancelled",
    "rejected": "rejected", "refused": "rejected",
    "skipped": "skipped",
}


@dataclass(frozen=True)
class Event:
    env: str
    components: list[str]
    commit: str
    action: str  # e.g. deploy, promote, rollback, drift
    result: str  # e.g. success, failure, cancelled, rejected
    who: str
    run_url: str
    # More places to read, each (label, https URL): the plan summary, the ledger records.
    links: tuple[tuple[str, str], ...] = ()

    @property
    def marker(self) -> str:
        """The result as one word: succeeded, FAILED, cancelled, rejected, ..."""
        result = self.result.strip()
        return RESULT_MARKERS.get(result.lower(), result or "unknown")

    @property
    def short_commit(self) -> str:
        return self.commit.strip()[:SHORT_COMMIT] or "(no commit)"

    @property
    def component_list(self) -> str:
        return ", ".join(self.components) or "(no components)"


def run_result(apply: str, plan: str = "success", approval: str = "") -> str:
    """A release run's result from its jobs' (GitHub's success, failure, cancelled, skipped):
    a failed or cancelled plan; a refused approval job (a reviewer rejected it: GitHub fails
    the job) is a rejection; otherwise the apply's. An apply skipped after a good plan and
    no failed approval was rejected too (its own environment's reviewer rejected it)."""
    if plan and plan != "success":
        return plan
    if approval in ("failure", "cancelled"):
        return "rejected" if approval == "failure" else "cancelled"
    return "rejected" if apply == "skipped" else apply


def _escape(text: str) -> str:
    """Slack mrkdwn control characters, escaped as Slack asks (&, <, >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(event: Event) -> JsonObject:
    """The Slack payload: `text` (the notification and fallback line) and `blocks` (the
    laid-out message). Everything needed is in the text alone too."""
    e = {name: _escape(value) for name, value in (
        ("env", event.env), ("action", event.action), ("marker", event.marker),
        ("components", event.component_list), ("commit", event.short_commit),
        ("who", event.who or "unknown"), ("url", event.run_url))}
    headline = f"{e['env']}: {e['action']} {e['marker']}"
    text = f"{headline} ({e['components']}) at {e['commit']} by {e['who']}"
    if event.run_url:
        text += f"; run: {e['url']}"
    links = [(_escape(label), _escape(url)) for label, url in event.links if url]
    text += "".join(f"; {label}: {url}" for label, url in links)
    fields = [("Environment", e["env"]), ("Action", e["action"]), ("Result", e["marker"]),
              ("Components", e["components"]), ("Commit", f"`{e['commit']}`"),
              ("By", e["who"])]
    blocks: list[JsonObject] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"}
                                       for name, value in fields]},
    ]
    shown = ([("Workflow run", e["url"])] if event.run_url else []) + links
    if shown:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"<{url}|{label}>"} for label, url in shown]})
    return {"text": text, "blocks": blocks}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would resend the message (or a GET without it) elsewhere; Slack never
    # redirects a webhook, so the 3xx itself is reported as the answer.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def send(event: Event, webhook_url: str | None = None, timeout: float = 10.0) -> str:
    """Post the event's message; a sentence saying what happened. Without a webhook (the
    argument, else SLACK_WEBHOOK_URL) nothing is sent. Raises OperationError when Slack does
    not accept it."""
    url = (webhook_url if webhook_url is not None else os.environ.get(WEBHOOK_VARIABLE, ""))
    url = url.strip()
    what = f"the {event.env} {event.action} notification"
    if not url:
        return f"No Slack webhook is set ({WEBHOOK_VARIABLE}), so {what} was not sent."
    if not url.lower().startswith(("https://", "http://")):
        raise UserError(f"The Slack webhook ({WEBHOOK_VARIABLE}) is not an http(s) URL; "
                        f"{what} was not sent.")
    body = json.dumps(message(event)).encode()
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json; charset=utf-8"})
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=timeout) as response:
            status = response.status
            answer = response.read(200)
    except urllib.error.HTTPError as error:
        status, answer = error.code, _read(error)
    except (ValueError, http.client.InvalidURL):
        # e.g. a bad port or a control character; its text would quote the URL
        raise UserError(f"The Slack webhook ({WEBHOOK_VARIABLE}) is not a valid URL; {what} "
                        "was not sent.") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        # The reason names the failure, never the URL (it is not included in these errors,
        # and is removed should a reason ever carry it).
        reason = getattr(error, "reason", None) or error
        raise OperationError(f"Could not reach the Slack webhook "
                             f"({_without(str(reason), url)}); {what} was not sent.") from None
    if not 200 <= status < 300:
        said = _without(answer.decode("utf-8", "replace").strip(), url)[:100]
        raise OperationError(f"The Slack webhook answered HTTP {status}"
                             f"{f' ({said})' if said else ''}; {what} was not sent.")
    return f"Sent {what} to Slack."


def _read(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read(200)
    except (OSError, http.client.HTTPException):
        return b""


def _without(text: str, url: str) -> str:
    """text with the webhook URL (and its secret path) cut out."""
    path = url.split("://", 1)[-1].partition("/")[2]
    for secret in (url, path):
        if secret:
            text = text.replace(secret, "<webhook>")
    return text
