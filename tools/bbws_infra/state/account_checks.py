"""Read-only checks of a real AWS account before the first apply: what the sandbox cannot know
and what would otherwise fail half-way through an apply. `invoke doctor --target aws` reports
them as findings; `invoke bootstrap --target aws` refuses, creating nothing, while one fails.

- the env's regions are enabled for the account (af-south-1 is an opt-in region): the Account
  API's GetRegionOptStatus, one global endpoint that answers even for a region that is off
  (a call into a disabled region itself is refused), one permission;
- AWS Backup manages DynamoDB in the primary region: DynamoDB opted in, and its advanced
  features on (the cross-region copy of DynamoDB backups needs them): DescribeRegionSettings;
- every bucket name the env will create is free or already this account's: HeadBucket (404
  free, 403 someone else's) and ListBuckets (a bucket we can reach but do not list is not ours).
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import Client, Session
from bbws_infra.state.doctor import Finding
from bbws_infra.state.planned_buckets import planned_buckets

ACCOUNT = "(account)"  # the component column of these findings: they are the account's
REGION = "region"
BACKUP_OPT_IN = "backup DynamoDB opt-in"
BACKUP_ADVANCED = "backup advanced DynamoDB"
BUCKET_NAME = "bucket"
CHECKS = (REGION, BACKUP_OPT_IN, BACKUP_ADVANCED, BUCKET_NAME)

ENABLED = ("ENABLED", "ENABLED_BY_DEFAULT")
# The Account API has one endpoint in the aws partition.
ACCOUNT_API_REGION = "us-east-1"
SKIPPED_ON_SANDBOX = ("account checks (enabled regions, AWS Backup settings, bucket names): "
                      "skipped on the sandbox; they run with --target aws")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "")) or "error"


def _unreadable(check: str, what: str, error: Exception, action: str) -> Finding:
    cause = _code(error) if isinstance(error, ClientError) else type(error).__name__
    return Finding(ACCOUNT, check, False, f"{what} could not be read ({cause})",
                   f"let the caller use {action}, then run the check again.")


def _region(account: Client, env: Environment, region: str) -> Finding:
    check = f"{REGION} {region}"
    try:
        status = str(account.get_region_opt_status(RegionName=region)["RegionOptStatus"])
    except (ClientError, BotoCoreError) as error:
        return _unreadable(check, f"the opt-in status of {region}", error,
                           "account:GetRegionOptStatus")
    if status in ENABLED:
        return Finding(ACCOUNT, check, True, status)
    fix = {
        "ENABLING": f"wait until AWS finishes enabling {region} (it can take minutes to hours); "
                    f"aws account get-region-opt-status --region-name {region} then says "
                    "ENABLED.",
    }.get(status, f"enable {region} for account {env.account_id} (AWS console: Account, AWS "
                  f"Regions, Enable; or aws account enable-region --region-name {region}) "
                  "and wait until it is ENABLED.")
    return Finding(ACCOUNT, check, False, status, fix)


def region_findings(session: Session, env: Environment) -> list[Finding]:
    """The primary region, and the DR region where the env uses it."""
    account = session.client("account", region_name=ACCOUNT_API_REGION)
    regions = [env.region, *([env.dr_region] if env.uses_dr else [])]
    return [_region(account, env, region) for region in dict.fromkeys(regions)]


def backup_findings(session: Session, env: Environment) -> list[Finding]:
    """DynamoDB opted in to AWS Backup, and its advanced features on, in the primary region."""
    region = env.region
    try:
        settings = session.client("backup", region_name=region).describe_region_settings()
    except (ClientError, BotoCoreError) as error:
        return [_unreadable(check, f"AWS Backup's settings in {region}", error,
                            "backup:DescribeRegionSettings")
                for check in (BACKUP_OPT_IN, BACKUP_ADVANCED)]
    opted_in = (settings.get("ResourceTypeOptInPreference") or {}).get("DynamoDB") is True
    advanced = (settings.get("ResourceTypeManagementPreference") or {}).get("DynamoDB") is True
    update = f"aws backup update-region-settings --region {region}"
    return [
        Finding(ACCOUNT, BACKUP_OPT_IN, opted_in,
                f"DynamoDB {'is' if opted_in else 'is not'} opted in to AWS Backup in {region}",
                "" if opted_in else
                f"opt DynamoDB in to AWS Backup in {region} (AWS Backup console: Settings, "
                f"Service opt-in; or {update} --resource-type-opt-in-preference "
                "DynamoDB=true); until then the backup plans back up no table."),
        Finding(ACCOUNT, BACKUP_ADVANCED, advanced,
                f"advanced features for DynamoDB are {'on' if advanced else 'off'} in {region}",
                "" if advanced else
                f"turn on AWS Backup's advanced features for DynamoDB in {region} (AWS Backup "
                f"console: Settings, Advanced features for Amazon DynamoDB backups; or {update} "
                "--resource-type-management-preference DynamoDB=true); the cross-region copy "
                "of table backups needs them."),
    ]


def _owned_buckets(s3: Client) -> set[str]:
    names: set[str] = set()
    for page in s3.get_paginator("list_buckets").paginate():
        names.update(str(b["Name"]) for b in page.get("Buckets", []))
    return names


def _bucket(s3: Client, env: Environment, name: str, owned: set[str]) -> Finding:
    check = f"{BUCKET_NAME} {name}"
    if name in owned:
        return Finding(ACCOUNT, check, True, "exists in this account")
    taken = (f"bucket names are global and {name} is taken: have it deleted in the account "
             "that owns it, or rename it where the repository names it (the component's "
             "main.tf; the state buckets: Environment.state_bucket)")
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as error:
        code = _code(error)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return Finding(ACCOUNT, check, True, "free")
        if code in ("403", "AccessDenied", "Forbidden"):
            return Finding(ACCOUNT, check, False, "owned by another account (HeadBucket: 403)",
                           f"{taken}.")
        return _unreadable(check, f"bucket {name}", error, "s3:ListBucket on it")
    return Finding(ACCOUNT, check, False,
                   f"owned by another account (it answers HeadBucket but is not among account "
                   f"{env.account_id}'s buckets)", f"{taken}.")


def bucket_findings(session: Session, env: Environment) -> list[Finding]:
    """Each bucket the env will create: free, or already this account's."""
    s3 = session.client("s3", region_name=env.region)
    try:
        owned = _owned_buckets(s3)
    except (ClientError, BotoCoreError) as error:
        return [_unreadable(BUCKET_NAME, "the account's buckets", error,
                            "s3:ListAllMyBuckets")]
    return [_bucket(s3, env, name, owned) for name in planned_buckets(env)]


def examine_account(session: Session, env: Environment) -> list[Finding]:
    """Every account check, regions first; with the primary region off the others are not
    made (every call into that region would be refused)."""
    regions = region_findings(session, env)
    if not regions[0].ok:
        return regions
    return [*regions, *backup_findings(session, env), *bucket_findings(session, env)]


def refusal(findings: list[Finding]) -> str:
    """One sentence per failed check, for a task that refuses to go on; empty when none
    failed."""
    failed = [f for f in findings if not f.ok]
    return "\n".join(f"{f.check}: {f.found}; {f.fix}" for f in failed)
