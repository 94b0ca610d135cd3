"""Where a migration run stands, kept in AWS so that any machine (a laptop, the next CI job)
goes on from it: one object per migration, s3://<state bucket>/migrations/<component>/<id>/
checkpoint.json, holding each scan segment's position (the LastEvaluatedKey after its last
fully processed page) or that the segment is done.

A position is saved only after every item of the page before it was processed, so a run killed
at any moment replays at most the page it was in. That is safe: every write is conditional on
the item being what was read and change() is idempotent, so an item changed before the kill is
read again as changed and left alone. A finished run removes the object; the next run of a
finished migration starts from the beginning (and changes nothing)."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import JsonObject, Session
from bbws_infra.migrations.items import from_json_key, key_text, to_json_key

PREFIX = "migrations/"
FORMAT = 1


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Checkpoint:
    migration: str
    component: str
    table: str
    total_segments: int
    # segment -> the key to go on after (JSON form); a segment not listed starts at the top
    positions: dict[int, JsonObject] = field(default_factory=dict)
    done: list[int] = field(default_factory=list)
    started_at: str = ""
    updated_at: str = ""
    format: int = FORMAT

    def start_key(self, segment: int) -> JsonObject | None:
        """The ExclusiveStartKey of a segment (typed form), None to start at the top."""
        position = self.positions.get(segment)
        return from_json_key(position) if position else None

    def describe(self) -> dict[str, str]:
        """Per segment, where a run resuming from here starts: 'done', 'start' or the key."""
        return {str(s): "done" if s in self.done else
                key_text(self.start_key(s) or {}) or "start"
                for s in range(self.total_segments)}

    @property
    def progressed(self) -> bool:
        return bool(self.positions or self.done)

    def to_json(self) -> str:
        data = asdict(self)
        data["positions"] = {str(k): v for k, v in self.positions.items()}
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        data = json.loads(text)
        data["positions"] = {int(k): v for k, v in data.get("positions", {}).items()}
        return cls(**data)


def key(component: str, migration: str) -> str:
    return f"{PREFIX}{component}/{migration}/checkpoint.json"


class CheckpointStore:
    """The checkpoint object of one migration in one env; save() is safe from every segment's
    thread (each save writes the whole object, one at a time)."""

    def __init__(self, session: Session, env: Environment, component: str,
                 migration: str) -> None:
        self.s3 = session.client("s3", region_name=env.region)
        self.bucket, self.key = env.state_bucket, key(component, migration)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def load(self) -> Checkpoint | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        return Checkpoint.from_json(body)

    def save(self, checkpoint: Checkpoint, segment: int, next_key: JsonObject | None) -> None:
        """Record that `segment` processed every item up to next_key (None: to its end)."""
        with self._lock:
            if next_key is None:
                checkpoint.positions.pop(segment, None)
                checkpoint.done = sorted({*checkpoint.done, segment})
            else:
                checkpoint.positions[segment] = to_json_key(next_key)
            checkpoint.updated_at = now_iso()
            self.s3.put_object(Bucket=self.bucket, Key=self.key,
                               Body=checkpoint.to_json().encode(),
                               ContentType="application/json")

    def delete(self) -> None:
        with self._lock:
            self.s3.delete_object(Bucket=self.bucket, Key=self.key)
