"""The checks of a deployed monitoring component (monitoring/alerts): the alerts topic, its
key, its subscriptions, every CloudWatch alarm, the backup-failure rule, the budget and the
dashboard, each against what the source defines: the planned values of a plan of the source
(names, metrics, dimensions, thresholds, actions, with every Terraform default applied), and,
independently of the Terraform, against the table schemas: every table and index the schemas
define has its throttle alarms where the env's tfvars switch alarms on."""

from __future__ import annotations

import json
from pathlib import Path

from bbws_infra.core.registry import Component, Environment
from bbws_infra.core.untyped import Client, Json, JsonObject, Session
from bbws_infra.inputs.schemas import load_table_definition
from bbws_infra.release.verify_checks import (
    ABSENT,
    MISSING,
    Check,
    CheckList,
    expected_tags,
    get_or_none,
    normal_document,
    pages,
    planned_resources,
    tag_checks,
    tag_map,
)
from bbws_infra.state.alarm_states import env_alarms

SAME = "as the source"
PENDING_CONFIRMATION = "PendingConfirmation"  # SNS's SubscriptionArn until its owner confirms


def monitoring_component(session: Session, env: Environment, component: Component,
                         source_root: Path, plan_json: JsonObject) -> list[Check]:
    checks = CheckList(component.name)
    topic_arn = _topic_checks(checks, session, env, component, plan_json)
    _subscription_checks(checks, session, env, plan_json, topic_arn)
    alarms = _alarm_checks(checks, session, env, plan_json)
    _coverage_checks(checks, env, source_root, alarms, topic_arn)
    _rule_checks(checks, session, env, plan_json)
    _budget_checks(checks, session, env, plan_json)
    _dashboard_checks(checks, session, env, plan_json)
    return checks


def _values(plan_json: JsonObject, kind: str) -> list[JsonObject]:
    return [resource.get("values") or {} for resource in planned_resources(plan_json, kind)]


def _differences(expected: dict[str, Json], found: dict[str, Json]) -> str:
    """SAME, or which settings differ and how: `threshold 5 (source 0)`."""
    wrong = [f"{name} {json.dumps(found.get(name))} (source {json.dumps(value)})"
             for name, value in expected.items()
             if normal_document(found.get(name)) != normal_document(value)]
    return SAME if not wrong else "differs: " + "; ".join(wrong)


# ---- topic and key -----------------------------------------------------------------------

def _topic_checks(checks: CheckList, session: Session, env: Environment, component: Component,
                  plan_json: JsonObject) -> str | None:
    """The topic, its policy (whole, as the source writes it) and its key: a customer-managed
    key whose policy lets the publishing services encrypt (the AWS-managed aws/sns key would
    drop every alert). The topic's ARN, or None when it is missing."""
    sns = session.client("sns", region_name=env.region)
    kms = session.client("kms", region_name=env.region)
    topic_arn = None
    for topic in _values(plan_json, "aws_sns_topic"):
        name = str(topic.get("name"))
        arn = f"arn:aws:sns:{env.region}:{env.account_id}:{name}"
        found = get_or_none(sns.get_topic_attributes, TopicArn=arn)
        attributes = (found or {}).get("Attributes", {})
        checks.add(f"topic {name}", "exists", "exists" if found else MISSING)
        if found is None:
            continue
        topic_arn = arn
        key_id = attributes.get("KmsMasterKeyId")
        described = get_or_none(kms.describe_key, KeyId=key_id) if key_id else None
        key = described["KeyMetadata"] if described else None
        checks.add(f"topic {name}: encryption", "a customer-managed KMS key",
                   "none" if not key_id else
                   "a customer-managed KMS key" if key and key["KeyManager"] == "CUSTOMER"
                   else f"{key_id} (AWS-managed: services cannot publish)")
        deployed = attributes.get("Policy")
        checks.add(f"topic {name}: whole policy", SAME,
                   SAME if deployed and normal_document(json.loads(deployed))
                   == normal_document(json.loads(str(topic.get("policy"))))
                   else f"differs: {deployed}")
        tags = tag_map(sns.list_tags_for_resource(ResourceArn=arn).get("Tags", []))
        tag_checks(checks, f"topic {name}", expected_tags(env, component), tags)
        if key:
            _key_checks(checks, kms, key["Arn"], plan_json)
    return topic_arn


def _key_checks(checks: CheckList, client: Client, key_arn: str, plan_json: JsonObject
                ) -> None:
    for key in _values(plan_json, "aws_kms_key"):
        deployed = json.loads(client.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
        planned = json.loads(str(key.get("policy")))
        checks.add("topic key: whole policy", SAME,
                   SAME if normal_document(deployed) == normal_document(planned)
                   else f"differs: {json.dumps(deployed)}")
        rotation = client.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"]
        checks.add("topic key: rotation", key.get("enable_key_rotation"), rotation)


# ---- subscriptions -------------------------------------------------------------------------

def _subscription_checks(checks: CheckList, session: Session, env: Environment,
                         plan_json: JsonObject, topic_arn: str | None) -> None:
    """Each subscription the source defines, and none other: an address subscribed by hand
    would receive alerts nobody reviewed. A subscription waiting for its owner's confirmation
    passes, and says so: until then that address receives nothing."""
    if topic_arn is None:
        return
    sns = session.client("sns", region_name=env.region)
    deployed = pages(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic_arn)
    by_endpoint = {(s["Protocol"], s["Endpoint"]): s for s in deployed}
    wanted = {(str(s.get("protocol")), str(s.get("endpoint")))
              for s in _values(plan_json, "aws_sns_topic_subscription")}
    for protocol, endpoint in sorted(wanted):
        found = by_endpoint.get((protocol, endpoint))
        state = MISSING if found is None else (
            "subscribed, pending confirmation by its owner"
            if found["SubscriptionArn"] == PENDING_CONFIRMATION else "subscribed")
        checks.add(f"subscription {protocol} {endpoint}",
                   state if found is not None else "subscribed", state)
    for protocol, endpoint in sorted(set(by_endpoint) - wanted):
        checks.add(f"subscription {protocol} {endpoint}", ABSENT, "subscribed")


# ---- alarms --------------------------------------------------------------------------------

def _dimensions(dimensions: Json) -> dict[str, str]:
    """Terraform's map or CloudWatch's [{Name, Value}] as one map."""
    if isinstance(dimensions, dict):
        return {str(k): str(v) for k, v in dimensions.items()}
    return {d["Name"]: d["Value"] for d in dimensions or []}


def _planned_alarm(values: JsonObject) -> dict[str, Json]:
    """The settings of one planned alarm, in CloudWatch's terms."""
    queries = []
    for query in values.get("metric_query") or []:
        metric = (query.get("metric") or [{}])[0] if query.get("metric") else None
        queries.append({
            "Id": query.get("id"), "Expression": query.get("expression") or None,
            "ReturnData": bool(query.get("return_data")),
            "Metric": None if metric is None else {
                "Namespace": metric.get("namespace"), "MetricName": metric.get("metric_name"),
                "Dimensions": _dimensions(metric.get("dimensions")),
                "Period": metric.get("period"), "Stat": metric.get("stat")}})
    return {
        "Namespace": values.get("namespace") or None,
        "MetricName": values.get("metric_name") or None,
        "Dimensions": _dimensions(values.get("dimensions")),
        "Statistic": values.get("statistic") or None,
        "Period": values.get("period") or None,
        "Threshold": float(values.get("threshold") or 0),
        "ComparisonOperator": values.get("comparison_operator"),
        "EvaluationPeriods": values.get("evaluation_periods"),
        "DatapointsToAlarm": values.get("datapoints_to_alarm"),
        "TreatMissingData": values.get("treat_missing_data"),
        "ActionsEnabled": values.get("actions_enabled"),
        "AlarmActions": sorted(values.get("alarm_actions") or []),
        "OKActions": sorted(values.get("ok_actions") or []),
        "Metrics": queries,
    }


def _deployed_alarm(alarm: JsonObject) -> dict[str, Json]:
    """The same settings of one alarm as DescribeAlarms returns it."""
    queries = []
    for query in alarm.get("Metrics") or []:
        stat = query.get("MetricStat")
        queries.append({
            "Id": query.get("Id"), "Expression": query.get("Expression") or None,
            "ReturnData": bool(query.get("ReturnData", True)),
            "Metric": None if stat is None else {
                "Namespace": stat["Metric"].get("Namespace"),
                "MetricName": stat["Metric"].get("MetricName"),
                "Dimensions": _dimensions(stat["Metric"].get("Dimensions")),
                "Period": stat.get("Period"), "Stat": stat.get("Stat")}})
    return {
        "Namespace": alarm.get("Namespace"), "MetricName": alarm.get("MetricName"),
        "Dimensions": _dimensions(alarm.get("Dimensions")),
        "Statistic": alarm.get("Statistic"), "Period": alarm.get("Period"),
        "Threshold": float(alarm.get("Threshold") or 0),
        "ComparisonOperator": alarm.get("ComparisonOperator"),
        "EvaluationPeriods": alarm.get("EvaluationPeriods"),
        "DatapointsToAlarm": alarm.get("DatapointsToAlarm"),
        "TreatMissingData": alarm.get("TreatMissingData"),
        "ActionsEnabled": alarm.get("ActionsEnabled"),
        "AlarmActions": sorted(alarm.get("AlarmActions") or []),
        "OKActions": sorted(alarm.get("OKActions") or []),
        "Metrics": queries,
    }


def _alarm_checks(checks: CheckList, session: Session, env: Environment,
                  plan_json: JsonObject) -> list[JsonObject]:
    """One check per alarm the source defines (every setting), and one per bbws alarm of the
    env it does not define. The deployed alarms."""
    deployed = env_alarms(session, env)
    by_name = {alarm["AlarmName"]: alarm for alarm in deployed}
    planned = {str(values.get("alarm_name")): values
               for values in _values(plan_json, "aws_cloudwatch_metric_alarm")}
    for name, values in sorted(planned.items()):
        alarm = by_name.get(name)
        checks.add(f"alarm {name}", SAME, MISSING if alarm is None else
                   _differences(_planned_alarm(values), _deployed_alarm(alarm)))
    for name in sorted(set(by_name) - set(planned)):
        checks.add(f"alarm {name}", ABSENT, "exists")
    return deployed


def _coverage_checks(checks: CheckList, env: Environment, source_root: Path,
                     alarms: list[JsonObject], topic_arn: str | None) -> None:
    """From the schemas, not the Terraform: where the env's tfvars switch alarms on, every
    table and every index has a read and a write throttle alarm notifying the topic, and every
    table a system-errors alarm; a new table folder is covered with no other change."""
    if not (env.values.get("monitoring") or {}).get("alarms_enabled"):
        return
    watched = set()
    for alarm in alarms:
        if topic_arn not in (alarm.get("AlarmActions") or []):
            continue
        metrics = [alarm] if alarm.get("MetricName") else [
            {"MetricName": q["MetricStat"]["Metric"]["MetricName"],
             "Dimensions": q["MetricStat"]["Metric"].get("Dimensions")}
            for q in alarm.get("Metrics") or [] if q.get("MetricStat")]
        for metric in metrics:
            dims = _dimensions(metric.get("Dimensions"))
            watched.add((metric["MetricName"], dims.get("TableName"),
                         dims.get("GlobalSecondaryIndexName")))
    for schema_path in sorted(source_root.glob("dynamodb/*/*.schema.json")):
        definition = load_table_definition(schema_path)
        table = definition.table_name
        for index in [None, *(gsi.name for gsi in definition.gsis)]:
            for metric_name in ("ReadThrottleEvents", "WriteThrottleEvents"):
                where = f"table {table}" + (f" index {index}" if index else "")
                checks.add(f"alarm coverage: {where}: {metric_name}", "an alarm to the topic",
                           "an alarm to the topic" if (metric_name, table, index) in watched
                           else "none")
        checks.add(f"alarm coverage: table {table}: SystemErrors", "an alarm to the topic",
                   "an alarm to the topic" if ("SystemErrors", table, None) in watched
                   else "none")


# ---- backup-failure rule, budget, dashboard ------------------------------------------------

def _rule_checks(checks: CheckList, session: Session, env: Environment,
                 plan_json: JsonObject) -> None:
    events = session.client("events", region_name=env.region)
    targets = {str(t.get("rule")): t for t in _values(plan_json, "aws_cloudwatch_event_target")}
    for rule in _values(plan_json, "aws_cloudwatch_event_rule"):
        name = str(rule.get("name"))
        found = get_or_none(events.describe_rule, Name=name)
        checks.add(f"event rule {name}", SAME, MISSING if found is None else _differences(
            {"EventPattern": json.loads(str(rule.get("event_pattern"))),
             "State": "ENABLED" if rule.get("is_enabled", True) else "DISABLED"},
            {"EventPattern": json.loads(found.get("EventPattern") or "null"),
             "State": found.get("State")}))
        target = targets.get(name)
        if found is None or target is None:
            continue
        deployed = {t["Id"]: t for t in events.list_targets_by_rule(Rule=name)["Targets"]}
        one = deployed.get(str(target.get("target_id")))
        transformer = (target.get("input_transformer") or [{}])[0]
        checks.add(f"event rule {name}: target {target.get('target_id')}", SAME,
                   MISSING if one is None else _differences(
                       {"Arn": target.get("arn"),
                        "InputPathsMap": transformer.get("input_paths"),
                        "InputTemplate": transformer.get("input_template")},
                       {"Arn": one.get("Arn"),
                        "InputPathsMap": (one.get("InputTransformer") or {}).get("InputPathsMap"),
                        "InputTemplate": (one.get("InputTransformer") or {}).get("InputTemplate")}))


def _budget_checks(checks: CheckList, session: Session, env: Environment,
                   plan_json: JsonObject) -> None:
    budgets = session.client("budgets", region_name="us-east-1")  # a global service
    for budget in _values(plan_json, "aws_budgets_budget"):
        name = str(budget.get("name"))
        found = get_or_none(budgets.describe_budget, AccountId=env.account_id, BudgetName=name)
        deployed = (found or {}).get("Budget") or {}
        checks.add(f"budget {name}", SAME, MISSING if not deployed else _differences(
            {"limit": float(str(budget.get("limit_amount"))), "unit": budget.get("limit_unit"),
             "period": budget.get("time_unit"), "type": budget.get("budget_type")},
            {"limit": float(deployed["BudgetLimit"]["Amount"]),
             "unit": deployed["BudgetLimit"]["Unit"], "period": deployed.get("TimeUnit"),
             "type": deployed.get("BudgetType")}))
        if not deployed:
            continue
        found_notifications = _notifications(budgets, env.account_id, name)
        for notification in budget.get("notification") or []:
            key = (str(notification["notification_type"]),
                   str(notification["comparison_operator"]),
                   float(notification["threshold"]), str(notification["threshold_type"]))
            what = f"budget {name}: alert {key[0].lower()} above {key[2]:g}%"
            subscribers = found_notifications.get(key)
            checks.add(what, SAME, MISSING if subscribers is None else _differences(
                {"sns": sorted(notification.get("subscriber_sns_topic_arns") or []),
                 "email": sorted(notification.get("subscriber_email_addresses") or [])},
                subscribers))


def _notifications(client: Client, account_id: str, name: str
                   ) -> dict[tuple[str, str, float, str], dict[str, Json]]:
    """(type, comparison, threshold, threshold type) -> subscribers by kind, as deployed."""
    found = {}
    for notification in pages(client, "describe_notifications_for_budget", "Notifications",
                              AccountId=account_id, BudgetName=name):
        subscribers = pages(client, "describe_subscribers_for_notification", "Subscribers",
                            AccountId=account_id, BudgetName=name, Notification=notification)
        key = (notification["NotificationType"], notification["ComparisonOperator"],
               float(notification["Threshold"]), notification.get("ThresholdType", "PERCENTAGE"))
        found[key] = {kind: sorted(s["Address"] for s in subscribers
                                   if s["SubscriptionType"] == kind.upper())
                      for kind in ("sns", "email")}
    return found


def _dashboard_checks(checks: CheckList, session: Session, env: Environment,
                      plan_json: JsonObject) -> None:
    cloudwatch = session.client("cloudwatch", region_name=env.region)
    for dashboard in _values(plan_json, "aws_cloudwatch_dashboard"):
        name = str(dashboard.get("dashboard_name"))
        found = get_or_none(cloudwatch.get_dashboard, DashboardName=name)
        checks.add(f"dashboard {name}", SAME, MISSING if found is None else
                   SAME if normal_document(json.loads(found["DashboardBody"]))
                   == normal_document(json.loads(str(dashboard.get("dashboard_body"))))
                   else "differs (edited outside Terraform?)")
