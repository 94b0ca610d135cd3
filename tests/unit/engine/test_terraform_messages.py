"""Terraform's errors reach people as plain text."""

from __future__ import annotations

from bbws_infra.engine import terraform


def test_diagnostics_drop_colour_codes_and_cli_config_noise():
    result = terraform.Result(
        argv=("state", "push"), returncode=1, stdout="",
        stderr="There are some problems with the CLI configuration:\n"
               "\x1b[31mFailed to refresh destination state: state data in S3 does not have "
               "the expected content.\x1b[0m\x1b[0m\n", seconds=0.1)
    assert terraform.diagnostics(result) == ("Failed to refresh destination state: state data "
                                             "in S3 does not have the expected content.")
