"""Account-level answers moto lacks, added to its server so the account checks
(bbws_infra.state.account_checks) run against the sandbox with the answers AWS gives.

| operation | request | answer |
|---|---|---|
| Account GetRegionOptStatus | POST /getRegionOptStatus | `{"RegionName", "RegionOptStatus"}` |
| Account EnableRegion / DisableRegion | POST /enableRegion, /disableRegion | empty |
| Backup DescribeRegionSettings | GET /account-settings | both preference maps |
| Backup UpdateRegionSettings | PUT /account-settings | empty; the given keys replace |

The sandbox stands in for an account that is ready: an opt-in region (af-south-1) answers
ENABLED, every other region ENABLED_BY_DEFAULT, and AWS Backup has DynamoDB opted in with its
advanced features on. A test sets another answer with AWS's own operations (DisableRegion,
UpdateRegionSettings). EnableRegion and DisableRegion pass through ENABLING and DISABLING as on
AWS; how long that lasts is moto's state manager's model `account::region-opt-status`
(immediately by default; `POST /moto-api/state-manager/set-transition` with a `manual`
progression keeps a region ENABLING for that many reads). A region that is on by default cannot
be switched (ValidationException), nor can an unknown one.

Everything is kept per account (the key's account) in moto's own backends, so moto's reset
forgets it. Only the sandbox server (bbws_infra.targets.sandbox_server) and the tests import
this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from boto3 import Session
from moto.account import urls as account_urls
from moto.account.models import AccountBackend, account_backends
from moto.account.responses import AccountResponse
from moto.backup import urls as backup_urls
from moto.backup.models import BackupBackend
from moto.backup.responses import BackupResponse
from moto.core.exceptions import JsonRESTError
from moto.moto_api import state_manager
from moto.moto_api._internal.managed_state_model import ManagedState

from bbws_infra.core.untyped import JsonObject

MODEL = "account::region-opt-status"
# Regions AWS ships disabled (Account API "opt-in" regions); every other one is on by default.
OPT_IN_REGIONS = frozenset({
    "af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-west-1", "eu-central-2",
    "eu-south-1", "eu-south-2", "il-central-1", "me-central-1", "me-south-1", "mx-central-1"})
BACKUP_OPT_IN = ("Aurora", "CloudFormation", "DocumentDB", "DynamoDB", "EBS", "EC2", "EFS",
                 "FSx", "Neptune", "RDS", "Redshift", "S3", "Storage Gateway", "Timestream",
                 "VirtualMachine")
BACKUP_MANAGEMENT = ("DynamoDB", "EFS")


class ValidationException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


class RegionOptStatus(ManagedState):
    """One opt-in region's status: ENABLING becomes ENABLED, DISABLING becomes DISABLED, as
    moto's state manager says."""

    def __init__(self, status: str) -> None:
        super().__init__(MODEL, [("ENABLING", "ENABLED"), ("DISABLING", "DISABLED")])
        self.status = status

    def read(self) -> str:
        """The status, then one read counted (a `manual` progression of N times answers the
        in-between status N times)."""
        status = str(self.status)
        self.advance()
        return status


def _aws_regions() -> frozenset[str]:
    return frozenset(Session().get_available_regions("ec2"))


# --- Account ----------------------------------------------------------------------------------


def _regions(backend: AccountBackend) -> dict[str, RegionOptStatus]:
    regions: dict[str, RegionOptStatus] = backend.__dict__.setdefault("bbws_regions", {})
    return regions


def _known(region: str | None) -> str:
    if not region or region not in _aws_regions():
        raise ValidationException(f"The region name {region!r} is not valid.")
    return region


def get_region_opt_status(backend: AccountBackend, region: str | None) -> str:
    name = _known(region)
    if name not in OPT_IN_REGIONS:
        return "ENABLED_BY_DEFAULT"
    return _regions(backend).setdefault(name, RegionOptStatus("ENABLED")).read()


def _switch(backend: AccountBackend, region: str | None, status: str) -> None:
    name = _known(region)
    if name not in OPT_IN_REGIONS:
        raise ValidationException(f"{name} is enabled by default and cannot be enabled or "
                                  "disabled.")
    _regions(backend)[name] = RegionOptStatus(status)


def _account_backend(response: AccountResponse) -> AccountBackend:
    account = _body(response).get("AccountId") or response.current_account
    backend: AccountBackend = account_backends[account][response.partition]
    return backend


def response_get_region_opt_status(self: AccountResponse) -> str:
    region = _body(self).get("RegionName")
    status = get_region_opt_status(_account_backend(self), region)
    return json.dumps({"RegionName": region, "RegionOptStatus": status})


def response_enable_region(self: AccountResponse) -> str:
    _switch(_account_backend(self), _body(self).get("RegionName"), "ENABLING")
    return "{}"


def response_disable_region(self: AccountResponse) -> str:
    _switch(_account_backend(self), _body(self).get("RegionName"), "DISABLING")
    return "{}"


# --- AWS Backup -------------------------------------------------------------------------------


def region_settings(backend: BackupBackend) -> JsonObject:
    """The region's AWS Backup settings (a ready account's until updated)."""
    settings: JsonObject = backend.__dict__.setdefault("bbws_region_settings", {
        "ResourceTypeOptInPreference": dict.fromkeys(BACKUP_OPT_IN, True),
        "ResourceTypeManagementPreference": dict.fromkeys(BACKUP_MANAGEMENT, True)})
    return settings


def update_region_settings(backend: BackupBackend, update: JsonObject) -> None:
    settings = region_settings(backend)
    for key in ("ResourceTypeOptInPreference", "ResourceTypeManagementPreference"):
        for resource, value in (update.get(key) or {}).items():
            if not isinstance(value, bool):
                raise ValidationException(f"{key}.{resource} must be true or false.")
            settings[key][resource] = value


def response_describe_region_settings(self: BackupResponse) -> str:
    return json.dumps(region_settings(self.backup_backend))


def response_update_region_settings(self: BackupResponse) -> str:
    update_region_settings(self.backup_backend, _body(self))
    return "{}"


def _body(response: AccountResponse | BackupResponse) -> JsonObject:
    body = response.body
    return json.loads(body) if body else {}


_ACCOUNT: dict[str, Callable[[AccountResponse], str]] = {
    "get_region_opt_status": response_get_region_opt_status,
    "enable_region": response_enable_region, "disable_region": response_disable_region}
_BACKUP: dict[str, Callable[[BackupResponse], str]] = {
    "describe_region_settings": response_describe_region_settings,
    "update_region_settings": response_update_region_settings}


def apply() -> None:
    """Add the operations and their routes to moto (idempotent; affects this process only)."""
    state_manager.register_default_transition(MODEL, transition={"progression": "immediate"})
    for path in ("getRegionOptStatus", "enableRegion", "disableRegion"):
        account_urls.url_paths[f"{{0}}/{path}$"] = AccountResponse.dispatch
    for name, function in _ACCOUNT.items():
        setattr(AccountResponse, name, function)
    backup_urls.url_paths["{0}/account-settings$"] = backup_urls.response.dispatch
    for name, handler in _BACKUP.items():
        setattr(BackupResponse, name, handler)
