"""The AWS Backup operations moto lacks, added to its Backup backend so the sandbox runs the
backup module exactly as on AWS.

moto 5.2 answers CreateBackupPlan, GetBackupPlan and DeleteBackupPlan, but not UpdateBackupPlan
(so a change of schedule or retention sat for minutes in the provider's retries on HTTP 500)
nor the backup selections. `apply()` adds, with the request and response shapes of the AWS
Backup REST API (botocore's service model):

| operation | request | notes |
|---|---|---|
| UpdateBackupPlan | POST /backup/plans/{id} | new VersionId; the plan document is replaced |
| CreateBackupSelection | PUT /backup/plans/{id}/selections/ | |
| GetBackupSelection | GET /backup/plans/{id}/selections/{selection id} | |
| DeleteBackupSelection | DELETE /backup/plans/{id}/selections/{selection id} | |
| ListBackupSelections | GET /backup/plans/{id}/selections/ | MaxResults and NextToken |

and makes DeleteBackupPlan refuse a plan that still has selections (InvalidRequestException),
as AWS does. CreateBackupSelection refuses, as AWS does, an IamRoleArn that AWS Backup cannot
assume: a role missing from the account, or one whose trust policy does not allow the
service principal backup.amazonaws.com (InvalidParameterValueException "IAM Role <arn> cannot
be assumed by AWS Backup", the text the provider retries on while a new role propagates).

moto's own routes (`/backup/plans/<anything>`) already reach these URIs, and its rest-json
dispatch names the method from botocore's model (method and URI to the operation,
CreateBackupSelection to `create_backup_selection`), so adding the methods is enough.

Errors follow AWS: an unknown or deleted plan is InvalidParameterValueException "Cannot find
Backup plan ..." for the selection operations (the provider matches that text) and
ResourceNotFoundException for UpdateBackupPlan; an unknown selection is
ResourceNotFoundException. Only the sandbox server (bbws_infra.targets.sandbox_server) and the unit
tests import this module.
"""

from __future__ import annotations

import copy
import json
import re
from urllib.parse import parse_qs, unquote

from moto.backup.exceptions import (
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from moto.backup.models import BackupBackend, Plan
from moto.backup.responses import BackupResponse
from moto.core.utils import unix_time
from moto.iam.models import iam_backends
from moto.moto_api._internal import mock_random

from bbws_infra.core.untyped import JsonObject

PLAN_NOT_FOUND = "Failed reading Backup plan with provided version"  # moto's own wording
PLAN_HAS_SELECTIONS = ("Related backup plan selections must be deleted prior to backup plan "
                       "deletion")
MAX_RESULTS = 1000
BACKUP_PRINCIPAL = "backup.amazonaws.com"
_PATH = re.compile(r"/backup/plans/(?P<plan>[^/]+)(?:/selections/?(?P<selection>[^/]*))?/?$")


class Selection:
    """One backup selection: the resources (or tag conditions) assigned to a plan."""

    def __init__(self, plan_id: str, body: JsonObject, creator_request_id: str | None
                 ) -> None:
        self.selection_id = str(mock_random.uuid4())
        self.plan_id = plan_id
        self.body = body
        self.creator_request_id = creator_request_id
        self.creation_date = unix_time()

    def to_get_dict(self) -> JsonObject:
        result = {"BackupSelection": self.body, "SelectionId": self.selection_id,
                  "BackupPlanId": self.plan_id, "CreationDate": self.creation_date}
        if self.creator_request_id:
            result["CreatorRequestId"] = self.creator_request_id
        return result

    def to_list_dict(self) -> JsonObject:
        result = {"SelectionId": self.selection_id, "SelectionName": self.body["SelectionName"],
                  "BackupPlanId": self.plan_id, "CreationDate": self.creation_date,
                  "IamRoleArn": self.body["IamRoleArn"]}
        if self.creator_request_id:
            result["CreatorRequestId"] = self.creator_request_id
        return result


# --- backend ---------------------------------------------------------------------------------


def _selections(backend: BackupBackend) -> dict[str, dict[str, Selection]]:
    """Selections per plan id. Kept in the backend's own __dict__, so moto's reset (which
    clears that dict) forgets them with everything else."""
    selections: dict[str, dict[str, Selection]] = backend.__dict__.setdefault(
        "bbws_selections", {})
    return selections


def _versions(backend: BackupBackend) -> dict[str, dict[str, Plan]]:
    """Earlier versions of each plan (plan id -> version id -> snapshot), for GetBackupPlan
    with an old VersionId."""
    versions: dict[str, dict[str, Plan]] = backend.__dict__.setdefault(
        "bbws_plan_versions", {})
    return versions


def _live_plan(backend: BackupBackend, plan_id: str) -> Plan | None:
    plan = backend.plans.get(plan_id)
    return plan if plan is not None and plan.deletion_date is None else None


def _selection_plan(backend: BackupBackend, plan_id: str) -> Plan:
    plan = _live_plan(backend, plan_id)
    if plan is None:
        raise InvalidParameterValueException(msg=f"Cannot find Backup plan with ID {plan_id}")
    return plan


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


def _trusts_backup(document: str) -> bool:
    """Whether a role's trust policy lets AWS Backup assume it."""
    try:
        policy = json.loads(unquote(document)) if isinstance(document, str) else document
    except ValueError:
        return False
    for statement in _as_list(policy.get("Statement") if isinstance(policy, dict) else None):
        if not isinstance(statement, dict) or str(statement.get("Effect")).lower() != "allow":
            continue
        actions = {str(a).lower() for a in _as_list(statement.get("Action"))}
        principal = statement.get("Principal")
        services = _as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if actions & {"sts:assumerole", "sts:*", "*"} and BACKUP_PRINCIPAL in services:
            return True
    return False


def backup_can_assume(backend: BackupBackend, role_arn: str) -> bool:
    """Whether the role exists in the account and trusts AWS Backup."""
    iam = iam_backends[backend.account_id][backend.partition]
    role = next((r for r in iam.get_roles() if r.arn == role_arn), None)
    return role is not None and _trusts_backup(role.assume_role_policy_document)


def list_page(items: list[JsonObject], query: dict[str, list[str]], key: str) -> JsonObject:
    """One page of a Backup listing under `key`, as its maxResults and nextToken ask."""
    try:
        start = int(query.get("nextToken", ["0"])[0])
        size = int(query.get("maxResults", [str(MAX_RESULTS)])[0])
    except ValueError:
        raise InvalidParameterValueException(msg="Invalid nextToken or maxResults.") from None
    if not 1 <= size <= MAX_RESULTS or start < 0:
        raise InvalidParameterValueException(msg="Invalid nextToken or maxResults.")
    page: JsonObject = {key: items[start:start + size]}
    if start + size < len(items):
        page["NextToken"] = str(start + size)
    return page


def _check_role(backend: BackupBackend, role_arn: str) -> None:
    if not backup_can_assume(backend, role_arn):
        raise InvalidParameterValueException(
            msg=f"IAM Role {role_arn} cannot be assumed by AWS Backup")


def update_backup_plan(self: BackupBackend, backup_plan_id: str,
                       backup_plan: JsonObject) -> Plan:
    plan = _live_plan(self, backup_plan_id)
    if plan is None:
        raise ResourceNotFoundException(msg=PLAN_NOT_FOUND)
    if not backup_plan.get("Rules"):
        raise InvalidParameterValueException(msg="A backup plan needs at least one rule.")
    # moto's Plan fills each rule's defaults (windows, time zone) and RuleId: the same as
    # CreateBackupPlan gives a new plan.
    fresh = Plan(backup_plan=copy.deepcopy(backup_plan),
                 creator_request_id=plan.creator_request_id, backend=self)
    _versions(self).setdefault(backup_plan_id, {})[plan.version_id] = copy.copy(plan)
    plan.backup_plan = fresh.backup_plan
    plan.advanced_backup_settings = fresh.advanced_backup_settings
    plan.version_id = mock_random.get_random_string(length=48)
    return plan


_original_get_backup_plan = BackupBackend.get_backup_plan
_original_delete_backup_plan = BackupBackend.delete_backup_plan


def get_backup_plan(self: BackupBackend, backup_plan_id: str, version_id: str | None) -> Plan:
    """As moto's, and an earlier VersionId of an updated plan returns that version."""
    old = _versions(self).get(backup_plan_id, {}).get(version_id or "")
    return old if old is not None else _original_get_backup_plan(self, backup_plan_id,
                                                                  version_id)


def delete_backup_plan(self: BackupBackend, backup_plan_id: str
                       ) -> tuple[str, str, float, str]:
    if _live_plan(self, backup_plan_id) is not None and _selections(self).get(backup_plan_id):
        raise InvalidRequestException(msg=PLAN_HAS_SELECTIONS)
    return _original_delete_backup_plan(self, backup_plan_id)


def create_backup_selection(self: BackupBackend, backup_plan_id: str,
                            backup_selection: JsonObject,
                            creator_request_id: str | None) -> Selection:
    _selection_plan(self, backup_plan_id)
    for key in ("SelectionName", "IamRoleArn"):
        if not backup_selection.get(key):
            raise InvalidParameterValueException(msg=f"{key} must not be empty.")
    if not (backup_selection.get("Resources") or backup_selection.get("ListOfTags")
            or backup_selection.get("Conditions")):
        raise InvalidParameterValueException(
            msg="Invalid backup selection. Either 'ListOfTags' or 'Resources' section must be "
                "non-empty.")
    _check_role(self, backup_selection["IamRoleArn"])
    plan_selections = _selections(self).setdefault(backup_plan_id, {})
    if creator_request_id:  # a retried request: the selection it already created
        for existing in plan_selections.values():
            if existing.creator_request_id == creator_request_id:
                return existing
    selection = Selection(backup_plan_id, backup_selection, creator_request_id)
    plan_selections[selection.selection_id] = selection
    return selection


def get_backup_selection(self: BackupBackend, backup_plan_id: str,
                         selection_id: str) -> Selection:
    _selection_plan(self, backup_plan_id)
    selection = _selections(self).get(backup_plan_id, {}).get(selection_id)
    if selection is None:
        raise ResourceNotFoundException(
            msg=f"Failed reading backup selection {selection_id} of plan {backup_plan_id}")
    return selection


def delete_backup_selection(self: BackupBackend, backup_plan_id: str,
                            selection_id: str) -> None:
    get_backup_selection(self, backup_plan_id, selection_id)
    del _selections(self)[backup_plan_id][selection_id]


def list_backup_selections(self: BackupBackend, backup_plan_id: str) -> list[Selection]:
    _selection_plan(self, backup_plan_id)
    return list(_selections(self).get(backup_plan_id, {}).values())


# --- responses -------------------------------------------------------------------------------


def _ids(response: BackupResponse) -> tuple[str, str]:
    """(plan id, selection id or "") from the request path."""
    match = _PATH.search(response.path)
    if match is None:
        return "", ""
    return unquote(match["plan"]), unquote(match["selection"] or "")


def _body(response: BackupResponse) -> JsonObject:
    return json.loads(response.body) if response.body else {}


def response_update_backup_plan(self: BackupResponse) -> str:
    plan_id, _ = _ids(self)
    plan = update_backup_plan(self.backup_backend, backup_plan_id=plan_id,
                              backup_plan=_body(self).get("BackupPlan") or {})
    return json.dumps(plan.to_dict())


def response_create_backup_selection(self: BackupResponse) -> str:
    plan_id, _ = _ids(self)
    params = _body(self)
    selection = create_backup_selection(
        self.backup_backend, backup_plan_id=plan_id,
        backup_selection=params.get("BackupSelection") or {},
        creator_request_id=params.get("CreatorRequestId"))
    return json.dumps({"SelectionId": selection.selection_id, "BackupPlanId": plan_id,
                       "CreationDate": selection.creation_date})


def response_get_backup_selection(self: BackupResponse) -> str:
    plan_id, selection_id = _ids(self)
    selection = get_backup_selection(self.backup_backend, backup_plan_id=plan_id,
                                     selection_id=selection_id)
    return json.dumps(selection.to_get_dict())


def response_delete_backup_selection(self: BackupResponse) -> str:
    plan_id, selection_id = _ids(self)
    delete_backup_selection(self.backup_backend, backup_plan_id=plan_id,
                            selection_id=selection_id)
    return "{}"


def response_list_backup_selections(self: BackupResponse) -> str:
    plan_id, _ = _ids(self)
    selections = list_backup_selections(self.backup_backend, backup_plan_id=plan_id)
    return json.dumps(list_page([s.to_list_dict() for s in selections],
                                parse_qs(self.parsed_url.query), "BackupSelectionsList"))


_BACKEND = {
    "update_backup_plan": update_backup_plan,
    "get_backup_plan": get_backup_plan,
    "delete_backup_plan": delete_backup_plan,
    "create_backup_selection": create_backup_selection,
    "get_backup_selection": get_backup_selection,
    "delete_backup_selection": delete_backup_selection,
    "list_backup_selections": list_backup_selections,
}
_RESPONSES = {
    "update_backup_plan": response_update_backup_plan,
    "create_backup_selection": response_create_backup_selection,
    "get_backup_selection": response_get_backup_selection,
    "delete_backup_selection": response_delete_backup_selection,
    "list_backup_selections": response_list_backup_selections,
}


def apply() -> None:
    """Add the operations to moto's Backup classes (idempotent; affects this process only)."""
    for name, function in _BACKEND.items():
        setattr(BackupBackend, name, function)
    for name, function in _RESPONSES.items():
        setattr(BackupResponse, name, function)
