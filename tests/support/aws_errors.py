"""Asking the sandbox (or moto in-process) for requests it must refuse, as AWS would."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bbws_infra.targets import moto_s3_policy


def unvalidated_client(service: str) -> Any:
    """A client for moto in-process that sends what it is given: boto3 would refuse most
    malformed requests itself, and the point is what the server does."""
    return boto3.client(service, region_name="af-south-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(parameter_validation=False))


def refusal(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    """(code, message, HTTP status) of the error the call must raise."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return (response["Error"]["Code"], response["Error"]["Message"],
            response["ResponseMetadata"]["HTTPStatusCode"])


def send_as_insecure(s3: Any) -> None:
    """Every request of this S3 client counts as plain HTTP to the sandbox
    (aws:SecureTransport false), as a request without TLS would on AWS."""

    def mark(request: Any, **_: Any) -> None:
        request.headers[moto_s3_policy.INSECURE_HEADER] = "true"

    s3.meta.events.register("before-sign.s3.*", mark)
