"""Shared set-up of the moto_monitoring unit tests: moto in-process with the extension applied
(and undone afterwards), an alerts topic encrypted with a key, and its policies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

from bbws_infra.targets import moto_monitoring, moto_monitoring_sns
from tests.support.moto_session import MotoSession

ACCOUNT = "123456789012"
SERVICES = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "backup.amazonaws.com",
            "budgets.amazonaws.com"]


def key_policy(services: list[str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"Service": services},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"}]})


def topic_policy(topic_arn: str, services: list[str], account: str = ACCOUNT) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": services}, "Action": "sns:Publish",
        "Resource": topic_arn, "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]})


@dataclass
class Aws:
    session: MotoSession

    def __call__(self, service: str) -> Any:
        return self.session.client(service)

    def topic(self, name: str = "alerts", key_services: list[str] | None = None,
              policy_services: list[str] | None = None, key: str | None = None) -> str:
        """A topic with an email and an https subscription, encrypted with a new key whose
        policy grants key_services (default: all four), its policy allowing
        policy_services (default: all four; [] keeps SNS's default policy)."""
        sns = self("sns")
        if key is None:
            key = self("kms").create_key(Policy=key_policy(
                SERVICES if key_services is None else key_services))["KeyMetadata"]["Arn"]
        arn: str = sns.create_topic(Name=name, Attributes={"KmsMasterKeyId": key})["TopicArn"]
        services = SERVICES if policy_services is None else policy_services
        if services:
            sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy",
                                     AttributeValue=topic_policy(arn, services))
        sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="oncall@example.com",
                      ReturnSubscriptionArn=True)
        sns.subscribe(TopicArn=arn, Protocol="https", Endpoint="https://hooks.example.com/bbws",
                      ReturnSubscriptionArn=True)
        return arn


def deliveries(topic_arn: str) -> list[dict[str, Any]]:
    return moto_monitoring_sns.deliveries(topic_arn)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with moto_monitoring.applied(), mock_aws():
        yield Aws(MotoSession())
