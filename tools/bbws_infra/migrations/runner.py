"""Run one migration over its table, safely on live data:

- parallel scan segments (Segment/TotalSegments), one thread each, page by page: memory stays
  flat whatever the table's size (a page, three dry-run samples and ten failure notes at most);
- every write a conditional UpdateItem (items.plan_write): a write refused because the item
  changed since it was read reads it again, applies change() again and retries, MAX_ATTEMPTS
  times, then reports the item as failed; an application's write is never overwritten;
- idempotent: change(item) == item (or None) means no write, and change() is checked to leave
  its own result alone, so a second run, or a page replayed after a crash, changes nothing;
- resumable: each segment's position is checkpointed after each page it fully processed;
- paced by a token bucket (throttle.py) shared by the segments;
- where the env takes backups before changes (prod), an on-demand backup of the table is taken
  and AVAILABLE before the first write (none when there is nothing to write).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from bbws_infra.core.errors import OperationError
from bbws_infra.core.registry import COMPONENTS, Environment
from bbws_infra.core.untyped import Client, JsonObject, Session
from bbws_infra.engine import interrupts
from bbws_infra.inputs import schemas
from bbws_infra.migrations import items
from bbws_infra.migrations.catalog import Item, Migration
from bbws_infra.migrations.checkpoints import Checkpoint, CheckpointStore, now_iso
from bbws_infra.migrations.progress import Counts, ProgressLine, ReportedProgress
from bbws_infra.migrations.throttle import TokenBucket, page_size
from bbws_infra.state import backups, ledger

MAX_ATTEMPTS = 5  # writes of one item refused because it changed meanwhile, before giving up
SAMPLES = 3  # before/after pairs a dry run shows
FAILURES_KEPT = 10  # failed items named in the report (all are counted)
FAULT_STAGE = "migrate-page"  # interrupts.checkpoint stage: after a page's checkpoint is saved


class NotReady(OperationError):
    """The table, or the index the migration needs, is not there (ACTIVE) yet."""


@dataclass
class Options:
    dry_run: bool = False
    rate: int = 2000
    segments: int = 4


@dataclass
class Outcome:
    migration: Migration
    table: str
    counts: Counts
    started_at: str
    finished_at: str = ""
    resumed_from: dict[str, str] = field(default_factory=dict)
    backups: list[str] = field(default_factory=list)
    samples: list[tuple[Item, Item]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    completed: bool = False  # every segment scanned to its end
    interrupted: bool = False
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        if self.interrupted:
            return ledger.INTERRUPTED
        if self.completed and not self.error and self.counts.failed == 0:
            return ledger.APPLIED
        return ledger.NOT_APPLIED


def table_of(component: str) -> tuple[str, list[str]]:
    """The component's table name and key attribute names, from its schema."""
    definition = schemas.load_table_definition(schemas.schema_file(COMPONENTS[component]))
    keys = [k for k in (definition.hash_key, definition.range_key) if k]
    return definition.table_name, keys


def unmet_need(description: JsonObject, migration: Migration) -> str | None:
    """Why the table (DescribeTable's Table) is not ready for the migration, or None."""
    if migration.needs_index:
        indexes = {g["IndexName"]: g.get("IndexStatus", "ACTIVE")
                   for g in description.get("GlobalSecondaryIndexes", [])}
        status = indexes.get(migration.needs_index)
        if status != "ACTIVE":
            return (f"it needs index {migration.needs_index}, which is "
                    f"{'missing' if status is None else status} on table "
                    f"{description['TableName']}")
    if migration.needs_attribute:
        defined = {a["AttributeName"] for a in description.get("AttributeDefinitions", [])}
        keyed = migration.needs_attribute in {
            k["AttributeName"] for g in description.get("GlobalSecondaryIndexes", [])
            for k in g["KeySchema"]}
        if migration.needs_index and not keyed and migration.needs_attribute not in defined:
            return (f"it needs attribute {migration.needs_attribute}, which no index of table "
                    f"{description['TableName']} has as a key yet")
    return None


class _Run:
    """The state one run shares between its segment threads."""

    def __init__(self, session: Session, env: Environment, migration: Migration,
                 options: Options, outcome: Outcome, key_names: list[str],
                 checkpoint: Checkpoint, store: CheckpointStore | None,
                 should_stop: Callable[[], bool]) -> None:
        self.session, self.env, self.migration, self.options = session, env, migration, options
        self.outcome, self.key_names, self.checkpoint = outcome, key_names, checkpoint
        self.store, self.should_stop = store, should_stop
        self.dynamodb: Client = session.client("dynamodb", region_name=env.region)
        self.bucket = TokenBucket(options.rate)
        self.limit = page_size(options.rate, checkpoint.total_segments)
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._backed_up = threading.Event()
        if not env.pre_deploy_backup:
            self._backed_up.set()
        self._backup_lock = threading.Lock()
        self._backup_error: OperationError | None = None

    def stopped(self) -> bool:
        return self.stop.is_set() or self.should_stop()

    # ---- one segment ---------------------------------------------------------------------

    def segment(self, segment: int) -> None:
        start = self.checkpoint.start_key(segment)
        request: JsonObject = {"TableName": self.outcome.table, "Segment": segment,
                               "TotalSegments": self.checkpoint.total_segments,
                               "Limit": self.limit}
        scan_filter = self.migration.scan_filter
        if scan_filter is not None:
            request["FilterExpression"] = scan_filter.expression
            if scan_filter.names:
                request["ExpressionAttributeNames"] = scan_filter.names
            if scan_filter.values:
                request["ExpressionAttributeValues"] = {
                    k: items.to_wire(v) for k, v in scan_filter.values.items()}
        while not self.stopped():
            # wait until the pages read so far are paid for, then pay for this one by what it
            # read (a page may end before Limit, at 1 MB)
            if not self.bucket.acquire(0, self.stopped):
                return
            if start is not None:
                request["ExclusiveStartKey"] = start
            page = self.dynamodb.scan(**request)
            returned = page.get("Items", [])
            scanned = page.get("ScannedCount", len(returned))
            self.bucket.spend(scanned)
            # the items the filter passed over are seen and need nothing
            self.outcome.counts.add(seen=scanned, skipped=scanned - len(returned))
            for raw in returned:
                if self.stopped():
                    return  # this page is not checkpointed: the next run replays it
                self.item(raw)
            start = page.get("LastEvaluatedKey")
            if self.store is not None:
                self.store.save(self.checkpoint, segment, start)
                interrupts.checkpoint(FAULT_STAGE)
            if start is None:
                return

    # ---- one item ------------------------------------------------------------------------

    def changed(self, item: Item) -> Item | None:
        """What the migration makes of the item, None when nothing; ChangeError when change()
        does not leave its own result alone (it would never settle)."""
        select = self.migration.select
        if select is not None and not select(copy.deepcopy(item)):
            return None
        new = self.migration.change(copy.deepcopy(item))
        if new is None or new == item:
            return None
        again = self.migration.change(copy.deepcopy(new))
        if again is not None and again != new:
            raise items.ChangeError("change() is not idempotent: applied to its own result it "
                                    "changes it again")
        return new

    def item(self, raw: JsonObject) -> None:
        key = {name: raw[name] for name in self.key_names if name in raw}
        try:
            old = items.to_python(raw)
            new = self.changed(old)
            if new is None:
                self.outcome.counts.add(skipped=1)
            elif self.options.dry_run:
                self.outcome.counts.add(changed=1)
                with self._lock:
                    if len(self.outcome.samples) < SAMPLES:
                        self.outcome.samples.append((old, new))
            else:
                self.write(raw, old, new)
        except (ClientError, BotoCoreError):
            raise  # the table or the connection, not this item: stop the run
        except OperationError:
            raise
        except Exception as error:  # the migration's code failed on this item
            self.fail(key, f"{type(error).__name__}: {error}")

    def write(self, raw: JsonObject, old: Item, new: Item) -> None:
        for _ in range(MAX_ATTEMPTS):
            write = items.plan_write(raw, old, new, self.key_names)
            self.backup_once()
            try:
                self.dynamodb.update_item(**write.request(self.outcome.table))
                self.outcome.counts.add(changed=1)
                return
            except ClientError as error:
                code = error.response["Error"]["Code"]
                if code != "ConditionalCheckFailedException":
                    self.fail(write.key, f"{code}: {error.response['Error'].get('Message')}")
                    return
            # changed since it was read: read it again and start over from what it is now
            self.outcome.counts.add(conflicts=1)
            found = self.dynamodb.get_item(TableName=self.outcome.table, Key=write.key,
                                           ConsistentRead=True).get("Item")
            if found is None:  # deleted meanwhile: nothing to migrate
                self.outcome.counts.add(skipped=1)
                return
            raw, old = found, items.to_python(found)
            changed = self.changed(old)
            if changed is None:  # the application already made it right
                self.outcome.counts.add(skipped=1)
                return
            new = changed
        self.fail({n: raw[n] for n in self.key_names},
                  f"changed by another writer {MAX_ATTEMPTS} times in a row while it was "
                  "migrated; the next run takes it up")

    def fail(self, key: JsonObject, why: str) -> None:
        self.outcome.counts.add(failed=1)
        with self._lock:
            if len(self.outcome.failures) < FAILURES_KEPT:
                self.outcome.failures.append(f"{items.key_text(key)}: {why}")

    def backup_once(self) -> None:
        """Where the env backs up before changes: the table's backup, AVAILABLE, before the
        first write of the run (every other segment waits for it)."""
        if self._backed_up.is_set():
            return
        with self._backup_lock:
            if self._backed_up.is_set():
                return
            if self._backup_error is not None:  # one attempt per run: the others stop too
                raise self._backup_error
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            table = self.outcome.table
            try:
                arn = backups.backup_and_wait(self.session, self.env, table,
                                              f"pre-migrate-{table}-{stamp}")
            except Exception as error:
                self._backup_error = OperationError(
                    f"The backup of table {table} in {self.env.name} before migrating it "
                    f"failed ({error}); nothing was written.")
                raise self._backup_error from None
            self.outcome.backups.append(arn)
            self._backed_up.set()


def run(session: Session, env: Environment, migration: Migration, options: Options,
        console: Console, should_stop: Callable[[], bool] = interrupts.requested,
        report: Callable[[str], None] | None = None) -> Outcome:
    """Run (or with options.dry_run, count) one migration; the outcome, also when stopped by a
    signal (outcome.interrupted). NotReady when the table or a needed index is not there.
    Progress goes to a line of its own on console, or to report() when given."""
    table, key_names = table_of(migration.component)
    outcome = Outcome(migration, table, Counts(), started_at=now_iso())
    dynamodb = session.client("dynamodb", region_name=env.region)
    try:
        description = dynamodb.describe_table(TableName=table)["Table"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        raise NotReady(f"{migration.component} {migration.id}: table {table} does not exist "
                       f"in {env.name}; deploy it first.") from None
    why = unmet_need(description, migration)
    if why is not None:
        if not options.dry_run:
            raise NotReady(f"{migration.component} {migration.id} waits: {why}; deploy the "
                           "commit that adds it first.")
        outcome.notes.append(f"a real run waits until {why.removeprefix('it ')}")
    store = None if options.dry_run else CheckpointStore(session, env, migration.component,
                                                         migration.id)
    checkpoint = store.load() if store is not None else None
    if checkpoint is not None and checkpoint.progressed:
        outcome.resumed_from = checkpoint.describe()
        if checkpoint.total_segments != options.segments:
            outcome.notes.append(f"resuming with the checkpoint's {checkpoint.total_segments} "
                                 f"segments (not {options.segments})")
    else:
        checkpoint = Checkpoint(migration.id, migration.component, table, options.segments,
                                started_at=outcome.started_at)
    state = _Run(session, env, migration, options, outcome, key_names, checkpoint, store,
                 should_stop)
    pending = [s for s in range(checkpoint.total_segments) if s not in checkpoint.done]
    share = len(pending) / checkpoint.total_segments
    title, estimate = f"{migration.component} {migration.id}", int(
        description.get("ItemCount", 0) * share)
    line = ProgressLine(console, title, estimate) if report is None else \
        ReportedProgress(report, title, estimate)
    with line.shown(), ThreadPoolExecutor(max_workers=max(1, len(pending)),
                                          thread_name_prefix="segment") as pool:
        futures = [pool.submit(state.segment, s) for s in pending]
        _wait(futures, state, outcome, line)
    outcome.completed = not outcome.error and not outcome.interrupted and \
        all(f.exception() is None for f in futures) and not state.stopped()
    if outcome.completed and store is not None:
        store.delete()  # finished: the next run of this migration starts from the top
    outcome.finished_at = now_iso()
    return outcome


def _wait(futures: list[Future[None]], state: _Run, outcome: Outcome,
          line: ProgressLine) -> None:
    """Wait for the segments, showing progress; a signal stops every segment after the item
    it is on, a segment's error stops the others."""
    try:
        while True:
            done, running = wait(futures, timeout=0.25)
            line.update(outcome.counts)
            errors = [f.exception() for f in done if f.exception() is not None]
            if errors and not state.stop.is_set():
                state.stop.set()
                outcome.error = str(errors[0])
            if not running:
                break
            if state.should_stop():
                state.stop.set()
    except KeyboardInterrupt:
        state.stop.set()
        wait(futures)  # a second signal is recorded, never raised (interrupts.py)
    if state.should_stop():
        outcome.interrupted = True
    line.update(outcome.counts)
