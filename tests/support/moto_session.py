"""The slice of boto3.Session the tools use, for unit tests against moto in-process."""

from __future__ import annotations

from typing import Any

import boto3


class MotoSession:
    def client(self, service: str, region_name: str | None = None) -> Any:
        return boto3.client(service, region_name=region_name or "af-south-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")
