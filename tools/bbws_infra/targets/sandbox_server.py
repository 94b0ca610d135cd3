"""The sandbox's emulator: moto's server, first extended so that it answers as AWS does where
moto does not, and faster where moto is slow with the same answers (each extension's module
says what it adds or replaces):

- moto_backup: the AWS Backup operations moto lacks (plan updates, selections);
- moto_backup_jobs: on-demand backup jobs (start, describe, list), failing as AWS does;
- moto_account: the account answers doctor's checks read (a region's opt-in status, AWS
  Backup's region settings);
- moto_monitoring: what provider 3.39 calls for alerts (AWS Budgets' subscriber operations),
  CloudWatch alarm actions and EventBridge targets delivering to SNS as AWS does (policies
  checked, every delivery recorded, nothing sent);
- moto_validation: every request checked against botocore's service model, plus AWS's semantic
  rules (moto_semantics), refused with the service's own error;
- moto_s3_rules: S3 as AWS enforces it (owner-enforced buckets refuse ACLs, lifecycle day
  limits, bucket-policy principals, aws:SecureTransport; moto_s3_policy evaluates policies);
- moto_json: DynamoDB's items written into answers directly, as moto's model walk writes them;
- moto_managed_policies: AWS's managed policies read once per server, not once per IAM backend
  (six partitions of every account);
- moto_requests: moto's list of its service packages read once, and a request's operation
  looked up by its name, not again for every request;
- moto_scan: DynamoDB's Scan reads a page from the table's keys sorted once (moto sorts the
  whole table for every page), with moto's answers;
- moto_conditions: each ConditionExpression or FilterExpression parsed once per text and names,
  not again for every request (twice per UpdateItem), with moto's answers;
- moto_waits: with BBWS_SANDBOX_WAIT_SECONDS set, DynamoDB's CREATING/UPDATING/ENABLING
  states last that long, so the provider's waits are exercised;
- sandbox_http: every answer written in one piece (status line, headers and body), as
  Terraform's S3 backend needs to read its state lock's answer reliably; connections kept
  between requests, without werkzeug's wait for a readable socket after each answer.

    python -m bbws_infra.targets.sandbox_server -H 127.0.0.1 -p <port>

takes the arguments of `moto_server` and runs moto's own server main() after applying the
extensions, so everything else behaves exactly as `moto_server` does. sandbox.py starts it.
"""

from __future__ import annotations

import sys

from moto import server

from bbws_infra.core import process_end
from bbws_infra.targets import (
    moto_account,
    moto_backup,
    moto_backup_jobs,
    moto_conditions,
    moto_json,
    moto_managed_policies,
    moto_monitoring,
    moto_requests,
    moto_s3_rules,
    moto_scan,
    moto_validation,
    moto_waits,
    sandbox_http,
)

# Applied in this order, each once, before the server starts.
EXTENSIONS = (moto_backup, moto_backup_jobs, moto_account, moto_monitoring, moto_s3_rules,
              moto_json, moto_managed_policies, moto_requests, moto_scan, moto_conditions,
              moto_validation, moto_waits, sandbox_http)


def main(argv: list[str] | None = None) -> None:
    # `invoke sandbox.down` waits for the server to end; its tables and buckets can hold
    # hundreds of thousands of objects.
    process_end.skip_final_collections()
    for extension in EXTENSIONS:
        extension.apply()
    server.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
