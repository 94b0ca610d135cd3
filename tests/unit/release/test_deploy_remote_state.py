"""The deploy path reads the current state object before Terraform runs: a document it cannot
read is one sentence that names the way back, never a traceback."""

from __future__ import annotations

import json

import pytest
from moto import mock_aws

from bbws_infra.core.errors import UserError
from bbws_infra.core.registry import discover_components, load_environment
from bbws_infra.release import deploy
from tests.support.moto_session import MotoSession


@pytest.fixture
def state():
    with mock_aws():
        session = MotoSession()
        env = load_environment("dev")
        s3 = session.client("s3")
        s3.create_bucket(Bucket=env.state_bucket,
                         CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
        s3.put_bucket_versioning(Bucket=env.state_bucket,
                                 VersioningConfiguration={"Status": "Enabled"})
        component = discover_components()["products"]

        def put(body: bytes) -> None:
            s3.put_object(Bucket=env.state_bucket, Key=component.state_key, Body=body)

        yield session, env, component, put


def test_a_readable_state_gives_lineage_and_serial(state):
    session, env, component, put = state
    assert deploy.remote_state(session, env, component) == deploy.RemoteState("", 0)
    put(json.dumps({"lineage": "L", "serial": 7}).encode())
    now = deploy.remote_state(session, env, component)
    assert (now.lineage, now.serial) == ("L", 7) and now.version_id


@pytest.mark.parametrize("body", [b'{"lineage": "L", "serial": 7, "resour', b"[1, 2]"])
def test_a_damaged_current_state_is_refused_in_one_sentence(state, body):
    session, env, component, put = state
    put(body)
    with pytest.raises(UserError) as refused:
        deploy.remote_state(session, env, component)
    message = str(refused.value)
    assert message.startswith("The current state of products in dev (S3 version ")
    assert "is not a readable state document" in message
    assert "docs/runbooks/rollback.md" in message and message.endswith("nothing was changed.")
