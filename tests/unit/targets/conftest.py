"""Fixtures of the sandbox extension tests."""

from __future__ import annotations

from tests.unit.targets.monitoring_fixtures import aws

__all__ = ["aws"]
