"""A throw-away git copy of the repository with its own work directory and sandbox, for the
end-to-end tests that commit, dirty the tree or go through the release order (dev, sit, prod)
without touching the real repository."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bbws_infra.bench import repo_copy
from bbws_infra.core.registry import load_environment
from bbws_infra.targets.sandbox import SandboxSession
from tests.support.cli import PRELOAD, PreloadedCli
from tests.support.work_dirs import fresh_work_dir


class Copy:
    """A repository copy with its own work directory and sandbox. Its `invoke` runs the copy's
    CLI as a user in the copy would (repo_copy.run_cli), each command in a process forked from
    one that imported the copy's code once (PreloadedCli)."""

    def __init__(self, root: Path, work: Path) -> None:
        self.root = root
        self.work = work
        self._cli = PreloadedCli(root, repo_copy.cli_env(root, work), PRELOAD)

    def invoke(self, *args: str, **extra: str | None) -> subprocess.CompletedProcess[str]:
        return self._cli.run(args, repo_copy.cli_env(self.root, self.work, extra or None))

    def shell_env(self, extra: dict[str, str | None]) -> dict[str, str]:
        """The environment of a workflow's shell line in the copy: the CLI's, its `invoke`
        forked from the same preloaded CLI."""
        return self._cli.shell_env(repo_copy.cli_env(self.root, self.work, extra))

    def close(self) -> None:
        """Stop the preloaded CLI (its sandbox is stopped by `invoke sandbox.down`)."""
        self._cli.close()

    def ok(self, *args: str) -> str:
        result = self.invoke(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def refused(self, *args: str) -> str:
        result = self.invoke(*args)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        return " ".join(result.stderr.split())

    def bundle_dir(self, env: str, component: str) -> Path:
        return self.work / "plans" / "sandbox" / env / component

    def session(self, env_name: str) -> SandboxSession:
        env = load_environment(env_name)
        server = json.loads((self.work / "sandbox" / "server.json").read_text())
        key = server["credentials"][env.account_id]
        return SandboxSession(f"http://127.0.0.1:{server['port']}", key["access_key"],
                              key["secret_key"], env.region)

    def snapshot(self, env_name: str) -> dict:
        """Everything a refusal must leave alone: state object versions and ledger records
        (both in the state bucket), the tables and their items, the buckets and their objects,
        the vaults of the env's account, and every file of its bundles."""
        env = load_environment(env_name)
        session = self.session(env_name)
        s3, dynamodb = session.client("s3"), session.client("dynamodb")
        versions = s3.list_object_versions(Bucket=env.state_bucket)
        plans = self.work / "plans" / "sandbox" / env_name
        tables = dynamodb.list_tables()["TableNames"]
        buckets = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
        # objects of the data buckets: the state bucket is "state" above, and S3 writes access
        # logs for every request, this snapshot's reads included
        data_buckets = [b for b in buckets
                        if b != env.state_bucket and not b.endswith("-logs")]
        return {
            # every lock taken and released leaves a version of its lock object (`.tflock`)
            # in the versioned bucket, as the lock table's item leaves nothing: not state
            "state": sorted((v["Key"], v["VersionId"]) for v in versions.get("Versions", [])
                            if not v["Key"].endswith(".tflock")),
            "tables": tables,
            "items": {t: sorted(json.dumps(i, sort_keys=True)
                                for i in dynamodb.scan(TableName=t)["Items"]) for t in tables},
            "buckets": buckets,
            "objects": {b: sorted((o["Key"], o["VersionId"]) for o in
                                  s3.list_object_versions(Bucket=b).get("Versions", []))
                        for b in data_buckets},
            "vaults": sorted(v["BackupVaultName"] for v in
                             session.client("backup").list_backup_vaults()["BackupVaultList"]),
            "bundles": {str(p.relative_to(plans)): hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in sorted(plans.rglob("*")) if p.is_file()},
        }


    def commit(self, message: str) -> str:
        """Commit everything in the copy; the new HEAD."""
        repo_copy.git(self.root, "add", "-A")
        repo_copy.git(self.root, "commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return repo_copy.git(self.root, "rev-parse", "HEAD").strip()

    def json(self, *args: str) -> object:
        return json.loads(self.ok(*args, "--json"))

    def deployments(self, env: str, *args: str) -> list[dict]:
        """The env's history without the data migration runs (which a table's apply and
        promotion make after the deployment itself), newest first."""
        records = self.json("history", "--env", env, *args)
        assert isinstance(records, list)
        return [r for r in records if r["action"] != "migrate"]


def make_copy(name: str, work: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Copy]:
    """A module's copy: yielded, then its sandbox stopped."""
    base = tmp_path_factory.mktemp(name)
    repo = repo_copy.copy_repository(base / "repo")
    own = Copy(repo, fresh_work_dir(base / "work", work))
    yield own
    own.invoke("sandbox.down")
    own.close()
