"""Every IAM policy proven by evaluation over the real flows, least privilege both ways.

In a throw-away copy of the repository, with the sandbox's recorder on, the jobs' flows run per
env in promotion order: dev's plan and apply, sit's and prod's promotion (its plan job, then
its reviewed apply), verify, drift, doctor and the read-outs, status over every env; then a
second commit (a reworded template and a re-keyed table, which replaces the table: the destroy
flow, in prod with its --allow-destroy) goes the same way, and a component is rolled back (in
dev with --restore-state). Each request is evaluated by the kept evaluator against the
generated policies of the role its job assumes (tests/support/iam_flows.py):

- every request is allowed (a missing permission fails naming flow, action and resource);
- every grant of every role is used by some request of a flow that role runs (a permission no
  flow uses fails naming its statement and action), unless listed with a reason below;
- removing a used permission fails the evaluation, naming it;
- the plan role is refused every write of the deploy flows but its own lock items and verify's
  canaries (a migration's writes are the deploying roles' alone).
"""

from __future__ import annotations

import copy as deepcopy
import fnmatch
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from bbws_infra.bench import table_items
from bbws_infra.core.registry import (
    BREAK_GLASS,
    COMPONENTS,
    PROMOTION_ORDER,
    Environment,
    load_environment,
)
from bbws_infra.pipeline import iam_policy
from bbws_infra.pipeline.iam_policy import DEPLOY, PLAN, ROLES
from bbws_infra.release import canary
from bbws_infra.state import state_backend
from tests.support.iam_evaluation import DENY, Evaluation, Request, evaluate, expand
from tests.support.iam_flows import (
    TOLERATED,
    Checked,
    Flow,
    Recorder,
    check,
    holds,
    principal,
    refused,
    writes,
)
from tests.support.repo_copies import Copy, make_copy

pytestmark = pytest.mark.e2e

RUN = "tenants,templates,alerts"  # a table, the template bucket, the monitoring: every kind
TABLE = "module.table.aws_dynamodb_table.this"
BACKFILL = "0001_backfill_active_partition"
TEMPLATE = "s3/templates/templates/receipts/receipt.html"
# Grants no flow here uses, each with the reason it stays: "<Sid> <action>" (in every env and
# role holding it), "<Sid> <action> <env>" or "<Sid> <action> <role>".
_DELETES = "removing a resource (a component or feature removed); no flow here removes one"
_TAGS = "a change of the mandatory tags (tags are otherwise given at creation); no flow here " \
        "changes tags"
_ROLE_UPDATES = "a change of a service role in place (trust policy, description, session " \
                "length); no flow here changes a role"
_KMS = ("AWS Backup uses the AWS-managed key aws/backup on the caller's behalf when a vault is "
        "created (kms:ViaService); the sandbox's AWS Backup makes no KMS call")
_ACCOUNT = ("the account health read policy's account checks (regions enabled, AWS Backup's "
            "region settings, owned bucket names): doctor makes them with --target aws only "
            "(on the sandbox it skips the account rows); tests/e2e/test_first_real_deploy.py "
            "runs them against the sandbox's answers")
_DEV_ALARMS = ("dev's tfvars switch its CloudWatch alarms off (monitoring.alarms_enabled); sit "
               "and prod create and read theirs, dev's roles would when they are switched on")
_MONITORING_READS = ("the monitoring read policy is the same for every role; only `invoke "
                     "alarms`, a plan-role task, lists backup jobs")
_SIT_ROLLBACK = ("the rollback job's listing and reading of earlier state versions; rollback "
                 "runs in dev and prod here, sit's is the same task")
_NOTHING_TO_MIGRATE = ("a migration writes only items that need it; the tables sit and prod get "
                       "(and those break-glass replaces) are new and empty")
UNEXERCISED: dict[str, str] = {
    # the tables' items (pipeline/iam_data.py)
    "MigrationCheckpointsRead s3:GetObject plan":
        "read while a migration is not yet applied (invoke migrations shows where its unfinished "
        "run stands); here the deploy path applies every migration before a plan-role job looks",
    "MigrationItemWrites dynamodb:GetItem":
        "a migration reads an item again when a concurrent write changed it under the run; no "
        "flow here writes while a migration runs",
    "MigrationItemWrites dynamodb:UpdateItem sit": _NOTHING_TO_MIGRATE,
    "MigrationItemWrites dynamodb:UpdateItem prod": _NOTHING_TO_MIGRATE,
    "MigrationItemWrites dynamodb:UpdateItem break-glass": _NOTHING_TO_MIGRATE,
    "AwsManagedKeyViaBackupForNewVaults kms:CreateGrant": _KMS,
    "AwsManagedKeyViaBackupForNewVaults kms:Decrypt": _KMS,
    "AwsManagedKeyViaBackupForNewVaults kms:DescribeKey": _KMS,
    "AwsManagedKeyViaBackupForNewVaults kms:GenerateDataKey": _KMS,
    "AwsManagedKeyViaBackupForNewVaults kms:RetireGrant": _KMS,
    "BackupPlansAndSelections backup:DeleteBackupPlan": _DELETES,
    "BackupVaults backup:DeleteBackupVault": _DELETES,
    "TemplateLogAndReplicaBuckets s3:DeleteBucket*": _DELETES,
    "ServiceRolesOfBackupAndReplication iam:DeleteRole": _DELETES,
    "ServiceRolesOfBackupAndReplication iam:ListInstanceProfilesForRole":
        "provider 3.39 lists a role's instance profiles before deleting it; " + _DELETES,
    "OnlyAwsBackupPoliciesOnBackupRoles iam:DetachRolePolicy": _DELETES,
    "ReplicationRoleInlinePolicy iam:DeleteRolePolicy": _DELETES,
    "TemplateLogAndReplicaBuckets s3:DeleteObject*":
        "removing a template (an object) or emptying a bucket before it is removed; the "
        "flows here reword and add templates",
    "BackupPlansAndSelections backup:TagResource": _TAGS,
    "BackupPlansAndSelections backup:UntagResource": _TAGS,
    "BackupVaults backup:TagResource": _TAGS,
    "BackupVaults backup:UntagResource": _TAGS,
    "TablesAndPreDeployBackups dynamodb:TagResource": _TAGS,
    "TablesAndPreDeployBackups dynamodb:UntagResource": _TAGS,
    "ServiceRolesOfBackupAndReplication iam:UntagRole": _TAGS,
    "ServiceRolesOfBackupAndReplication iam:UpdateAssumeRolePolicy": _ROLE_UPDATES,
    "ServiceRolesOfBackupAndReplication iam:UpdateRole": _ROLE_UPDATES,
    "ServiceRolesOfBackupAndReplication iam:UpdateRoleDescription": _ROLE_UPDATES,
    "BackupPlansAndSelections backup:UpdateBackupPlan":
        "a change of a backup plan's rules in place; no flow here changes the schedule",
    "TablesAndPreDeployBackups dynamodb:UpdateTable":
        "an in-place table change (an index, throughput); the flows here replace a table",
    "TablesAndPreDeployBackups dynamodb:UpdateTimeToLive":
        "provider 3.39 sets TTL only on a table that has a TTL attribute; none of the run "
        "tables has one",
    "StateBucketListForBackendAndRollback s3:ListBucketVersions sit": _SIT_ROLLBACK,
    "StateObjects s3:GetObjectVersion sit": _SIT_ROLLBACK,
    "TablesAndPreDeployBackups dynamodb:DeleteTable prod":
        "granted as in every env, but the protected-deletes guard denies it to prod's deploy "
        "role (proven below); only the break-glass role deletes a prod table",
    "AccountRegionsEnabled account:GetRegionOptStatus": _ACCOUNT,
    "BackupRegionSettingsAndOwnedBuckets backup:DescribeRegionSettings": _ACCOUNT,
    "BackupRegionSettingsAndOwnedBuckets s3:ListAllMyBuckets": _ACCOUNT,
    # the monitoring component (monitoring/alerts)
    "AlertsTopicWrite sns:DeleteTopic": _DELETES,
    "AlertsTopicWrite sns:Unsubscribe":
        "removing a subscription (an address taken out of the tfvars) or the topic; " + _DELETES,
    "AlertsKeyWrite kms:ScheduleKeyDeletion": _DELETES,
    "AlertsKeyAlias kms:DeleteAlias": _DELETES,
    "AlarmsWrite cloudwatch:DeleteAlarms":
        "removing an alarm (a table or an index removed, alarms switched off); " + _DELETES,
    "DashboardWrite cloudwatch:DeleteDashboards": _DELETES,
    "BackupFailureRuleWrite events:DeleteRule": _DELETES,
    "BackupFailureRuleWrite events:RemoveTargets": _DELETES,
    "AlertsTopicWrite sns:UntagResource": _TAGS,
    "AlertsKeyWrite kms:UntagResource": _TAGS,
    "AlarmsWrite cloudwatch:UntagResource": _TAGS,
    "BackupFailureRuleWrite events:TagResource":
        "tags of an existing rule (PutRule gives a new rule its tags); " + _TAGS,
    "BackupFailureRuleWrite events:UntagResource": _TAGS,
    "AlertsKeyWrite kms:PutKeyPolicy":
        "a change of the alerts key's policy in place (a publishing service added); the key "
        "gets its policy at creation and no flow here changes it",
    "AlertsKeyWrite kms:UpdateKeyDescription":
        "a change of the alerts key's description in place; no flow here changes it",
    "AlertsKeyAlias kms:UpdateAlias":
        "pointing the alias at a replacement key; no flow here replaces the key",
    "AlarmsRead cloudwatch:ListTagsForResource dev": _DEV_ALARMS,
    "AlarmsWrite cloudwatch:PutMetricAlarm dev": _DEV_ALARMS,
    "AlarmsWrite cloudwatch:TagResource dev": _DEV_ALARMS,
    "BackupJobsList backup:ListBackupJobs deploy": _MONITORING_READS,
    "BackupJobsList backup:ListBackupJobs break-glass": _MONITORING_READS,
    "ServiceRolesOfBackupAndReplication iam:GetRolePolicy dev":
        "provider 3.39 reads each inline policy a role has; only the replication roles (prod) "
        "have one, a refresh would read one added by hand",
    "ServiceRolesOfBackupAndReplication iam:GetRolePolicy sit":
        "provider 3.39 reads each inline policy a role has; only the replication roles (prod) "
        "have one, a refresh would read one added by hand",
}


@pytest.fixture(scope="module")
def copy(work, tmp_path_factory):
    yield from make_copy("iam-flows", work, tmp_path_factory)


def _release(copy: Copy, recorder: Recorder, env: str, *extra: str) -> list[Flow]:
    """The jobs that take RUN's components to env: plan and apply (dev), or a promotion's
    plan job and its reviewed apply."""
    run = ("--component", RUN)
    if env == PROMOTION_ORDER[0]:
        return [recorder.run(Flow("plan", env, ("plan", "--env", env, *run))),
                recorder.run(Flow("apply", env, ("apply", "--env", env, *run, "--confirm",
                                                  f"deploy-{env}", *extra)))]
    return [recorder.run(Flow("promote-plan", env, ("promote", "--to", env, *run,
                                                    "--plan-only"))),
            recorder.run(Flow("promote", env, ("promote", "--to", env, *run, "--reviewed",
                                               "--confirm", f"promote-{env}", *extra)))]


def _read_outs(recorder: Recorder, env: str) -> list[Flow]:
    run = ("--component", RUN)
    # drift exits 2 when it finds drift: on the sandbox prod's replication role reads back
    # its inline policy late; what it asked for is what counts here
    return [recorder.run(Flow(name, env, (name, "--env", env, *args)), codes=codes)
            for name, args, codes in (
                ("verify", run, (0,)), ("drift", run, (0, 2)), ("doctor", run, (0,)),
                ("history", (), (0,)), ("state-versions", ("--component", "templates"), (0,)),
                ("backups", (), (0,)), ("alarms", (), (0,)), ("report", (), (0,)),
                ("migrations", ("--component", "tenants"), (0,)),
                ("migrate", ("--component", "tenants", "--dry-run", "--rerun", BACKFILL),
                 (0,)))]


def _migration_rerun(copy: Copy, recorder: Recorder, env: str) -> Flow:
    """Tenants an older writer left without activePartition (written by an administrator: not
    recorded), and the backfill run again over them: a real migration's writes."""
    table_items.write_tenants(copy.session(env).client("dynamodb"), "tenants", 40)
    return recorder.run(Flow("migrate", env, (
        "migrate", "--env", env, "--component", "tenants", "--rerun", BACKFILL, "--confirm",
        f"migrate-{env}")))


@pytest.fixture(scope="module")
def flows(copy: Copy) -> list[Flow]:
    started = time.monotonic()
    copy.ok("sandbox.up")
    for env in PROMOTION_ORDER:
        # an administrator's work before any role exists (the state bucket and lock table;
        # the sandbox makes the account's key on first use): not recorded
        copy.ok("bootstrap", "--env", env)
    recorder = Recorder(copy)
    recorded: list[Flow] = []
    for env in PROMOTION_ORDER:
        recorded += _release(copy, recorder, env)
        recorded += _read_outs(recorder, env)
        if env == PROMOTION_ORDER[0]:
            recorded.append(_migration_rerun(copy, recorder, env))
    recorded.append(recorder.run(Flow("status", None, ("status",))))
    first = {env: copy.json("state-versions", "--env", env, "--component", "templates")[0]
             for env in PROMOTION_ORDER}
    # the second commit: a template reworded, the tenants table re-keyed (DynamoDB can only
    # replace it: the destroy flow; prod's guard wants it named)
    (copy.root / TEMPLATE).write_text((copy.root / TEMPLATE).read_text() + "<!-- v2 -->\n")
    schema = copy.root / "dynamodb" / "tenants" / "tenant.schema.json"
    schema.write_text(schema.read_text().replace('"rangeKey": "SK"', '"rangeKey": "id"'))
    copy.commit("reword a receipt; re-key tenants")
    for env in PROMOTION_ORDER:
        destroy = (("--allow-destroy", f"tenants:{TABLE}", "--confirm-destroy",
                    f"destroy-{env}") if env == "prod" else ())
        recorded += [_renamed(f, "destroy") for f in _release(copy, recorder, env, *destroy)]
    for env, extra in (("dev", ("--restore-state",)), ("prod", ())):
        recorded.append(recorder.run(Flow("rollback", env, (
            "rollback", "--env", env, "--component", "templates", "--version-id",
            first[env]["version_id"], "--confirm", f"rollback-{env}", *extra))))
    print(f"\nflows recorded in {time.monotonic() - started:.0f} s: " + ", ".join(
        f"{f.name} {f.env or 'all'} {f.seconds:.0f}" for f in recorded))
    return recorded


def _renamed(flow: Flow, kind: str) -> Flow:
    flow.name = f"{flow.name} ({kind})"
    return flow


@pytest.fixture(scope="module")
def checked(flows: list[Flow]) -> list[Checked]:
    return check(flows)


def test_every_request_of_every_flow_is_allowed_to_the_role_its_job_assumes(
        flows: list[Flow], checked: list[Checked]):
    assert refused(checked) == []
    # and the allow-list is needed: what it tolerates is really refused
    assert all(not c.decision.allowed for c in checked if c.call.request.action in TOLERATED)
    counts = Counter((c.env, c.role) for c in checked)
    recorded = sum(len(f.calls) for f in flows)
    print(f"\n{recorded} requests recorded (with implied ones), {len(checked)} evaluated "
          f"({recorded - len(checked)} the sandbox's own reader-session checks); per env and "
          "role: " + ", ".join(f"{env} {role} {n}" for (env, role), n in sorted(counts.items())))
    assert {role for _, role in counts} == {*ROLES, BREAK_GLASS}
    assert {env for env, _ in counts} == set(PROMOTION_ORDER)


def test_the_flows_cover_what_the_issue_lists(flows: list[Flow]):
    names = {(f.name, f.env) for f in flows}
    for env in PROMOTION_ORDER:
        assert {(n, env) for n in ("verify", "drift", "doctor", "history", "state-versions",
                                   "backups", "alarms", "migrations", "migrate")} <= names
    assert {("plan", "dev"), ("apply", "dev"), ("promote", "sit"), ("promote", "prod"),
            ("promote (destroy)", "prod"), ("rollback", "dev"), ("rollback", "prod")} <= names
    everything = [c.request.action for f in flows for c in f.calls]
    # implied authorisations are evaluated too: handing the backup role to AWS Backup
    assert "iam:PassRole" in everything and "dynamodb:DeleteTable" in everything
    # the monitoring, as deployed and read (the alarms only where the tfvars switch them on)
    assert {"sns:CreateTopic", "kms:CreateKey", "kms:CreateAlias", "cloudwatch:PutDashboard",
            "events:PutRule", "budgets:ModifyBudget", "cloudwatch:DescribeAlarms",
            "budgets:ViewBudget", "backup:ListBackupJobs"} <= set(everything)
    alarms = {c.env for f in flows for c in f.calls
              if c.request.action == "cloudwatch:PutMetricAlarm"}
    assert alarms == {"sit", "prod"}


def test_every_tolerated_refusal_names_one_real_action():
    """The allow-list is no hiding place: each entry is one action AWS knows, no pattern."""
    for action in TOLERATED:
        assert expand(action) == [action]


# --- least privilege, the other way -------------------------------------------------------


def _granted(env: Environment, role: str) -> set[tuple[str, str, str]]:
    """(policy, Sid, action pattern) of every Allow the role holds."""
    return {(name, s["Sid"], action) for name, document in holds(env, role).items()
            for s in document["Statement"] if s["Effect"] == "Allow" for action in s["Action"]}


# The deploy and break-glass roles run the same tasks (a promotion) and hold the same grants
# (break-glass without the protected-deletes Deny): a grant of either is used when a flow of
# either needs it, each flow evaluated as the role in question. Their jobs also run doctor
# after a failure (the workflows' last step), so doctor's reads count for them too.
_FAMILY = {PLAN: (PLAN,), DEPLOY: (DEPLOY, BREAK_GLASS), BREAK_GLASS: (DEPLOY, BREAK_GLASS)}


@pytest.fixture(scope="module")
def checked_as(flows: list[Flow]) -> dict[str, list[Checked]]:
    """Every request of the flows of each role's family, evaluated as that role."""
    return {role: check([f for f in flows if (f.role in family or f.args[0] == "doctor")
                         and f.env is not None
                         and role in iam_policy.roles(load_environment(f.env))], role=role)
            for role, family in _FAMILY.items()}


def _used(checked: list[Checked], env: str) -> set[tuple[str, str, str]]:
    used = set()
    for c in checked:
        if c.env != env or not c.decision.allowed:
            continue
        for policy, sid in c.decision.grants:
            used.add((policy, sid, c.call.request.action.lower()))
    return used


@pytest.mark.parametrize(("env_name", "role"), [
    (e, r) for e in PROMOTION_ORDER for r in iam_policy.roles(load_environment(e))])
def test_every_grant_is_used_by_a_flow_of_its_role(checked_as: dict[str, list[Checked]],
                                                    env_name: str, role: str):
    env = load_environment(env_name)
    used = _used(checked_as[role], env_name)
    unused = []
    for policy, sid, pattern in sorted(_granted(env, role)):
        actions = {a.lower() for a in expand(pattern)}
        excused = {f"{sid} {pattern}", f"{sid} {pattern} {env_name}",
                   f"{sid} {pattern} {role}"} & set(UNEXERCISED)
        if not excused and not any(p == policy and s == sid and a in actions
                                   for p, s, a in used):
            unused.append(f"{sid}: {pattern}")
    assert not unused, f"granted to {iam_policy.role_name(env, role)}, used by no flow: {unused}"


def test_every_excuse_names_a_grant_some_role_holds():
    """The list of unused grants stays honest: each entry names a statement and action some
    role holds as written (in the env or by the role it names, when it names one)."""
    held = {(env_name, role, sid, pattern)
            for env_name in PROMOTION_ORDER
            for role in iam_policy.roles(load_environment(env_name))
            for _, sid, pattern in _granted(load_environment(env_name), role)}
    for excuse in UNEXERCISED:
        sid, pattern, *where = excuse.split(" ")
        assert any(s == sid and p == pattern and (not where or where[0] in (e, r))
                   for e, r, s, p in held), excuse


# --- proofs -------------------------------------------------------------------------------


def _without(action: str, resource_part: str | None = None):
    """The generated policies with `action` removed from every Allow (only from those whose
    resources contain `resource_part`, when given)."""

    made: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}

    def holding(env: Environment, role: str) -> dict[str, Mapping[str, Any]]:
        # asked once per request: made once per (env, role), the same documents after that
        if (env.name, role) not in made:
            made[env.name, role] = without(env, role)
        return made[env.name, role]

    def without(env: Environment, role: str) -> dict[str, Mapping[str, Any]]:
        documents = deepcopy.deepcopy(holds(env, role))
        for document in documents.values():
            for statement in document["Statement"]:
                if statement["Effect"] != "Allow":
                    continue
                if resource_part and not any(resource_part in r for r in statement["Resource"]):
                    continue
                statement["Action"] = [a for a in statement["Action"] if a != action]
            document["Statement"] = [s for s in document["Statement"] if s["Action"]]
        return documents

    return holding


@pytest.mark.parametrize(("action", "resource_part", "expected"), [
    ("dynamodb:UpdateContinuousBackups", None, "dynamodb:UpdateContinuousBackups on "
     "arn:aws:dynamodb:"),
    ("iam:PassRole", None, "iam:PassRole on arn:aws:iam::"),
    ("s3:PutObject", "/ledger/", "s3:PutObject on arn:aws:s3:::bbws-terraform-state-"),
    ("dynamodb:PutItem", None, "dynamodb:PutItem on arn:aws:dynamodb:"),
    ("backup:CreateBackupSelection", None, "backup:CreateBackupSelection on arn:aws:backup:"),
    ("s3:GetObject", "/ledger/", "s3:GetObject on arn:aws:s3:::bbws-terraform-state-"),
    # the monitoring: an alarm, the tags CreateTopic gives, the key side of an alias, the
    # budget (read by every role), the rule's target, the alarms' listing
    ("cloudwatch:PutMetricAlarm", None, "cloudwatch:PutMetricAlarm on arn:aws:cloudwatch:"),
    ("sns:TagResource", None, "sns:TagResource on arn:aws:sns:"),
    ("kms:CreateAlias", "key/", "kms:CreateAlias on arn:aws:kms:"),
    ("budgets:ViewBudget", None, "budgets:ViewBudget on arn:aws:budgets::"),
    ("events:PutTargets", None, "events:PutTargets on arn:aws:events:"),
    ("backup:ListBackupJobs", None, "backup:ListBackupJobs on * (ListBackupJobs)"),
])
def test_removing_a_used_permission_fails_naming_it(flows: list[Flow], action: str,
                                                   resource_part: str | None, expected: str):
    found = refused(check(flows, holding=_without(action, resource_part)))
    assert found, f"nothing refused without {action}"
    assert all(action in line for line in found), found[:3]
    assert any(expected in line for line in found), found[:3]
    if resource_part == "/ledger/":  # records and intents (ledger-intents/)
        assert all("/ledger" in line for line in found), found[:3]


def _lock_item(c: Checked) -> bool:
    """Taking or releasing a state lock (a lock table item, or the S3 backend's `.tflock`
    object): the one write the plan role may make."""
    request = c.call.request
    if request.action in ("s3:PutObject", "s3:DeleteObject"):
        return request.resource.endswith(".tflock")
    keys = [str(k) for k in request.context.get("dynamodb:LeadingKeys", [])]
    # (a migration's lease is an item of the lock table too: the deploying roles' alone)
    return (request.action in ("dynamodb:PutItem", "dynamodb:DeleteItem")
            and request.resource.endswith(f":table/{load_environment(c.env).lock_table}")
            and bool(keys) and not any(k.endswith("-md5") or "/migrations/" in k
                                       for k in keys))


def _canary_item(c: Checked) -> bool:
    """Writing or deleting one of verify's canaries in a data table: the other write any role
    that runs verify makes (pipeline/iam_data.py)."""
    request = c.call.request
    keys = [str(k) for k in request.context.get("dynamodb:LeadingKeys", [])]
    return (request.action in ("dynamodb:PutItem", "dynamodb:DeleteItem")
            and not request.resource.endswith(f":table/{load_environment(c.env).lock_table}")
            and bool(keys) and all(any(fnmatch.fnmatchcase(k, p)
                                       for p in canary.LEADING_KEY_PATTERNS) for k in keys))


def test_the_plan_role_is_refused_every_write_of_the_deploy_flows(flows: list[Flow]):
    deploying = writes(f for f in flows if f.role != PLAN)
    results = check(deploying, role=PLAN)
    assert len(results) > 100
    allowed = [str(c) for c in results
               if c.decision.allowed and not _lock_item(c) and not _canary_item(c)]
    assert allowed == []
    assert all(c.decision.allowed for c in results if _lock_item(c) or _canary_item(c))
    # a migration's writes (its item updates, checkpoints and lease) are the deploy role's
    migration = [c for c in results if c.call.request.action == "dynamodb:UpdateItem"
                 or "/migrations/" in c.call.request.resource
                 or any("/migrations/" in str(k) for k in
                        c.call.request.context.get("dynamodb:LeadingKeys", []))]
    assert migration and not any(c.decision.allowed for c in migration)
    actions = {c.call.request.action for c in results}
    assert {"dynamodb:CreateTable", "dynamodb:DeleteTable", "s3:CreateBucket", "s3:PutObject",
            "iam:CreateRole", "iam:PassRole", "backup:CreateBackupVault",
            "dynamodb:CreateBackup", "sns:CreateTopic", "sns:SetTopicAttributes",
            "kms:CreateKey", "kms:CreateAlias", "cloudwatch:PutMetricAlarm",
            "cloudwatch:PutDashboard", "events:PutRule", "events:PutTargets",
            "budgets:ModifyBudget"} <= actions, actions
    # and what the plan flows themselves write is their locks and verify's canaries (dev and
    # sit, where the tfvars allow canary writes), nothing else
    planning = check(writes(f for f in flows if f.role == PLAN))
    assert planning and all(_lock_item(c) or _canary_item(c) for c in planning), [
        str(c) for c in planning if not (_lock_item(c) or _canary_item(c))]
    assert {c.env for c in planning if _canary_item(c)} == {
        e for e in PROMOTION_ORDER if load_environment(e).verify_canary_writes}


def test_a_plan_locks_its_state_under_the_lock_id_the_plan_role_names(flows: list[Flow]):
    """Terraform's S3 backend, as it runs: the lock item is `<bucket>/<key>`, the digest
    `<bucket>/<key>-md5` only read; the plan role's LeadingKeys condition names exactly it."""
    env = load_environment("dev")
    (plan,) = [f for f in flows if (f.name, f.env) == ("plan", "dev")]
    locks = sorted(state_backend.lock_id(env, COMPONENTS[c].state_key) for c in RUN.split(","))

    def keys(action: str) -> list[str]:
        return sorted(k for c in plan.calls if c.request.action == action
                      for k in c.request.context.get("dynamodb:LeadingKeys", []))

    assert keys("dynamodb:PutItem") == keys("dynamodb:DeleteItem") == locks
    assert {lock + "-md5" for lock in locks} <= set(keys("dynamodb:GetItem"))
    condition = next(s["Condition"] for s in iam_policy.permissions_policy(env, PLAN)[
        "Statement"] if s["Sid"] == "PlanLocksStatesOnly")
    assert set(locks) <= set(condition["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"])


def test_the_prod_deploy_role_deletes_nothing_protected_and_break_glass_may(flows: list[Flow]):
    """Where deletion protection is on (prod), the deploy role is explicitly denied deleting a
    table, bucket or backup vault; the destroy flow ran as the break-glass role, which may.
    The table the destroy flow replaced was deleted by a request the deploy role is refused."""
    prod = load_environment("prod")
    (destroy,) = [f for f in flows if (f.name, f.env) == ("promote (destroy)", "prod")]
    assert destroy.role == BREAK_GLASS
    deleted = [c for c in destroy.calls if c.request.action == "dynamodb:DeleteTable"]
    assert deleted
    protected = [
        *(Request("dynamodb:DeleteTable", f"arn:aws:dynamodb:{prod.region}:{prod.account_id}:"
                                          f"table/{t}") for t in ("tenants", "products",
                                                                  "campaigns")),
        Request("s3:DeleteBucket", "arn:aws:s3:::bbws-templates-prod"),
        Request("backup:DeleteBackupVault", f"arn:aws:backup:{prod.region}:{prod.account_id}:"
                                            "backup-vault:bbws-tenants-prod"),
        *(c.request for c in deleted)]

    def decisions(role: str) -> list[str]:
        return [d.decision for d in evaluate([
            Evaluation(r, principal(prod, role), holds(prod, role), prod.account_id)
            for r in protected])]

    assert decisions(DEPLOY) == [DENY] * len(protected)
    assert decisions(BREAK_GLASS) == ["Allow"] * len(protected)
    # the whole destroy flow as the deploy role: refused exactly its protected deletes
    as_deploy = check([destroy], role=DEPLOY)
    assert {(c.call.request.action, c.decision.decision) for c in as_deploy
            if not c.decision.allowed and c.call.request.action not in TOLERATED} == {
        ("dynamodb:DeleteTable", DENY)}
