"""Real flows recorded on the sandbox and evaluated as the role each job assumes.

moto's recorder keeps every request the sandbox serves; a flow is one `invoke` run between
resetting and downloading the recording. Each request is attributed to an environment by the
access key that signed it (the sandbox gives each account its own) and evaluated, by the kept
evaluator (tests/support/iam_evaluation.py), against the generated policies of the role the
flow's job assumes (bbws_infra.pipeline.job_roles), as IAM would: its permissions policy, the
ledger guard and the previous-environment read policy; a read of the previous environment's
ledger crosses accounts, so that bucket's policy (ledger_read_bucket_policy) must allow it too.
"""

from __future__ import annotations

import functools
import json
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bbws_infra.core.registry import PROMOTION_ORDER, Environment, load_environment
from bbws_infra.pipeline import iam_policy
from bbws_infra.pipeline.job_roles import role_for
from tests.support.aws_monitoring_requests import KmsKeys
from tests.support.aws_requests import Call, calls, load_recording
from tests.support.iam_evaluation import Decision, Evaluation, evaluate, is_write
from tests.support.repo_copies import Copy

# Requests a flow makes, is refused in AWS and carries on: each with the reason it may fail.
TOLERATED = {
    "iam:GetUser": "provider 3.39 first asks for the caller's IAM user to learn the account "
                   "id; refused (role credentials), it asks sts:GetCallerIdentity instead",
}
SESSION = "github-actions"


@dataclass
class Flow:
    """One `invoke` run of a job, and what it sent to the sandbox."""

    name: str
    env: str | None  # the environment the job runs for; None: every env (status)
    args: tuple[str, ...]
    calls: list[Call] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def role(self) -> str:
        role = role_for(self.args[0], self.args[1:])
        assert role is not None, f"{self.args[0]} uses no AWS role?"
        return role

    def __str__(self) -> str:
        return f"{self.name} ({' '.join(self.args)})"


@dataclass(frozen=True)
class Checked:
    """One request of a flow as the flow's role makes it, and IAM's decision."""

    flow: Flow
    call: Call
    env: str  # whose role makes it
    role: str
    decision: Decision

    def __str__(self) -> str:
        return (f"{self.flow} as {iam_policy.role_name(load_environment(self.env), self.role)}:"
                f" {self.call} -> {self.decision.decision} ({self.decision.explain})")


class Recorder:
    """The recorder of a repository copy's sandbox."""

    def __init__(self, copy: Copy) -> None:
        self.copy = copy
        self.kms_keys = KmsKeys()  # KMS keys and aliases an earlier flow created

    def _server(self) -> dict[str, Any]:
        server: dict[str, Any] = json.loads((self.copy.work / "sandbox" / "server.json")
                                            .read_text())
        return server

    def _call(self, verb: str, method: str = "POST") -> str:
        port = self._server()["port"]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/recorder/{verb}",
                                         method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            return str(response.read().decode())

    def run(self, flow: Flow, *, codes: tuple[int, ...] = (0,)) -> Flow:
        """Run the flow's invoke with the recorder on (it must exit with one of `codes`); its
        requests as IAM sees them."""
        self._call("reset-recording")
        self._call("start-recording")
        started = time.monotonic()
        try:
            result = self.copy.invoke(*flow.args)
        finally:
            self._call("stop-recording")
            flow.seconds = time.monotonic() - started
        assert result.returncode in codes, f"{flow}: {result.stdout}{result.stderr}"
        known = self._server()["credentials"]  # the accounts the sandbox has keys for yet
        keys = {known[e.account_id]["access_key"]: e
                for e in map(load_environment, PROMOTION_ORDER) if e.account_id in known}
        flow.calls = calls(load_recording(self._call("download-recording", "GET")), keys,
                           self.kms_keys)
        assert flow.calls, f"nothing recorded for {flow}"
        return flow


REPOSITORY = "acme/bbws-infra"


@functools.cache
def _policies(env_name: str) -> dict[str, Any]:
    documents: dict[str, Any] = iam_policy.policies(load_environment(env_name), REPOSITORY)
    return documents


def holds(env: Environment, role: str) -> dict[str, Mapping[str, Any]]:
    """Every identity policy attached to the role, by name, as iam_policy.policies() says:
    its permissions policy and each shared policy attached to it (ledger guard, protected
    deletes guard, previous-environment reads)."""
    documents = _policies(env.name)
    name = iam_policy.role_name(env, role)
    attached: dict[str, Mapping[str, Any]] = {
        name: documents[f"{role.replace('-', '_')}_role"]["permissions_policy"]}
    for shared in documents.values():
        if name in shared.get("attach_to", ()):
            attached[shared["policy_name"]] = shared["policy_document"]
    return attached


def principal(env: Environment, role: str) -> str:
    return f"arn:aws:sts::{env.account_id}:assumed-role/{iam_policy.role_name(env, role)}/" \
           f"{SESSION}"


Holding = Callable[[Environment, str], dict[str, Mapping[str, Any]]]


def as_role(flow: Flow, call: Call, role: str | None = None, holding: Holding = holds
            ) -> tuple[str, Evaluation]:
    """The request as the flow's job makes it in AWS: signed by another environment's key
    it is the promotion's read of the previous environment's ledger, made by this
    environment's role in that account (allowed by both the role and that bucket's policy)."""
    acting = load_environment(flow.env or call.env)
    role = role or flow.role
    owner = load_environment(call.env)
    policy = call.resource_policy  # a KMS key's policy
    if owner.name != acting.name:
        assert call.request.action.startswith("s3:") and owner.state_bucket in \
            call.request.resource, f"{flow}: a request in another account: {call}"
        policy = iam_policy.ledger_read_bucket_policy(owner, acting)
    return acting.name, Evaluation(call.request, principal(acting, role), holding(acting, role),
                                   owner.account_id, policy)


def sandbox_only(flow: Flow, call: Call) -> bool:
    """The sandbox's reader session of another environment first checks that environment's
    state backend exists (sandbox.session_for: HeadBucket, DescribeTable); on AWS the reader
    session is a plain one that makes neither call, so neither is evaluated."""
    if flow.env is None or call.env == flow.env:
        return False
    owner = load_environment(call.env)
    return (call.operation, call.request.resource) in (
        ("HeadBucket", f"arn:aws:s3:::{owner.state_bucket}"),
        ("DescribeTable", f"arn:aws:dynamodb:{owner.region}:{owner.account_id}:table/"
                          f"{owner.lock_table}"))


def check(flows: Iterable[Flow], role: str | None = None, holding: Holding = holds
          ) -> list[Checked]:
    """Every request of every flow evaluated as the flow's role (or `role`), holding the
    generated policies (or what `holding` gives), in one batch."""
    pending = [(flow, call, *as_role(flow, call, role, holding))
               for flow in flows for call in flow.calls if not sandbox_only(flow, call)]
    decisions = evaluate([evaluation for _, _, _, evaluation in pending])
    return [Checked(flow, call, env, role or flow.role, decision)
            for (flow, call, env, _), decision in zip(pending, decisions, strict=True)]


def refused(checked: Iterable[Checked]) -> list[str]:
    """Every request the role does not allow, except the tolerated ones."""
    return sorted({str(c) for c in checked
                   if not c.decision.allowed and c.call.request.action not in TOLERATED})


def writes(flows: Iterable[Flow]) -> list[Flow]:
    """The flows, each with only its write requests (access level Write, Permissions
    management or Tagging)."""
    return [Flow(f.name, f.env, f.args, [c for c in f.calls if is_write(c.request.action)])
            for f in flows]
