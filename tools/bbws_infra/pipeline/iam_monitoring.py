"""The permissions the monitoring component (monitoring/alerts) needs, as two managed policies
attached beside each role's permissions policy (prod's has no room left): the reads, for every
role (plan, drift, verify and `invoke alarms` read the alerts topic, its key, the alarms, the
rule, the budget and the dashboard), and the writes, for the roles that deploy. Names are the
ones monitoring/alerts/main.tf gives: bbws-alerts-<env>, bbws-...-<env> alarms,
bbws-backup-failures-<env>, bbws-monthly-cost-<env>, bbws-data-stores-<env>."""

from __future__ import annotations

from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import JsonObject
from bbws_infra.pipeline.iam_documents import POLICY_VERSION, arn, fitting, partition, statement


def monitoring_read_policy_name(env: Environment) -> str:
    return f"bbws-infra-monitoring-read-{env.name}"


def monitoring_write_policy_name(env: Environment) -> str:
    return f"bbws-infra-monitoring-write-{env.name}"


def _names(env: Environment) -> dict[str, list[str]]:
    """ARNs of what monitoring/alerts creates, by kind."""
    topic = f"bbws-alerts-{env.name}"
    return {
        "topic": [arn(env, "sns", topic)],
        # the key's id is generated: any key of the env's account and region
        "key": [arn(env, "kms", "key/*")],
        "alias": [arn(env, "kms", f"alias/{topic}")],
        "alarms": [arn(env, "cloudwatch", f"alarm:bbws-*-{env.name}")],
        # dashboards and budgets are global: no region in their ARNs
        "dashboard": [f"arn:{partition(env)}:cloudwatch::{env.account_id}:"
                      f"dashboard/bbws-data-stores-{env.name}"],
        "rule": [arn(env, "events", f"rule/bbws-backup-failures-{env.name}")],
        "budget": [f"arn:{partition(env)}:budgets::{env.account_id}:"
                   f"budget/bbws-monthly-cost-{env.name}"],
    }


def monitoring_read_policy(env: Environment) -> JsonObject:
    """What reading the monitoring needs (a plan's refresh, verify, drift, `invoke alarms`)."""
    names = _names(env)
    statements = [
        statement("AlertsTopicRead", ["sns:GetSubscriptionAttributes", "sns:GetTopicAttributes",
                                      "sns:ListSubscriptionsByTopic",
                                      "sns:ListTagsForResource"], names["topic"]),
        statement("AlertsKeyRead", ["kms:DescribeKey", "kms:GetKeyPolicy",
                                    "kms:GetKeyRotationStatus", "kms:ListResourceTags"],
                  names["key"]),
        # DescribeAlarms names its alarms (a refresh), or a name prefix (`invoke alarms`)
        statement("AlarmsRead", ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"],
                  names["alarms"]),
        statement("DashboardRead", ["cloudwatch:GetDashboard"], names["dashboard"]),
        statement("BackupFailureRuleRead", ["events:DescribeRule", "events:ListTagsForResource",
                                            "events:ListTargetsByRule"], names["rule"]),
        # DescribeBudget, DescribeNotificationsForBudget, DescribeSubscribersForNotification
        statement("BudgetRead", ["budgets:ViewBudget"], names["budget"]),
        # `invoke alarms` shows each table's last backup job; IAM cannot scope this listing
        statement("BackupJobsList", ["backup:ListBackupJobs"], ["*"]),
    ]
    return fitting({"Version": POLICY_VERSION, "Statement": statements},
                   f"The monitoring read policy of {env.name}")


def monitoring_write_policy(env: Environment) -> JsonObject:
    """What creating, changing and deleting the monitoring needs (deploying roles only)."""
    names = _names(env)
    statements = [
        # sns:TagResource: CreateTopic with tags is authorised as it too. (The subscriptions
        # set no attributes: no sns:SetSubscriptionAttributes.)
        statement("AlertsTopicWrite", [
            "sns:CreateTopic", "sns:DeleteTopic", "sns:SetTopicAttributes", "sns:Subscribe",
            "sns:TagResource", "sns:Unsubscribe", "sns:UntagResource"], names["topic"]),
        # CreateKey names no key yet; IAM cannot scope it.
        statement("AlertsKeyCreate", ["kms:CreateKey"], ["*"]),
        # kms:TagResource: CreateKey with tags needs it on every key of the account and region
        # (key/*), which KMS checks before the key exists.
        statement("AlertsKeyWrite", [
            "kms:EnableKeyRotation", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion",
            "kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription"], names["key"]),
        # an alias operation authorises on the alias and on its key
        statement("AlertsKeyAlias", ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
                  names["alias"] + names["key"]),
        # cloudwatch:TagResource: PutMetricAlarm with tags is authorised as it too.
        statement("AlarmsWrite", ["cloudwatch:DeleteAlarms", "cloudwatch:PutMetricAlarm",
                                  "cloudwatch:TagResource", "cloudwatch:UntagResource"],
                  names["alarms"]),
        statement("DashboardWrite", ["cloudwatch:DeleteDashboards", "cloudwatch:PutDashboard"],
                  names["dashboard"]),
        statement("BackupFailureRuleWrite", [
            "events:DeleteRule", "events:PutRule", "events:PutTargets", "events:RemoveTargets",
            "events:TagResource", "events:UntagResource"], names["rule"]),
        # CreateBudget, UpdateBudget, DeleteBudget and their notifications
        statement("BudgetWrite", ["budgets:ModifyBudget"], names["budget"]),
    ]
    return fitting({"Version": POLICY_VERSION, "Statement": statements},
                   f"The monitoring write policy of {env.name}")
