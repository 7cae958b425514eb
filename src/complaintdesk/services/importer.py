"""Importing complaints in bulk from CSV, JSON Lines or Parquet.

The file is streamed in batches (constant memory whatever its size). Each batch is
checked row by row with the same domain rules as intake (text hygiene, taxonomy
codes, dates, SLA policy); rows that come without labels are classified together;
the good rows are written by the set-based bulk path (:mod:`services.bulk`). Every
rejected row is reported with its line number (row number for Parquet) and reason,
and the rest load.

**Resumable.** A run is recorded in ``import_runs`` under the file's SHA-256; each
batch commits atomically with the run's last line. Running the same import again
after an interruption starts after that line, so nothing loads twice; running it
after it finished loads nothing.

**History is history.** A row whose status is final (``closed``, ``withdrawn``)
loads as closed: no owner message, no deadlines, nothing for the sweeper. An open
row gets deadlines either from the import (``deadlines="now"``: the clocks start
now) or from its own received time (``deadlines="received"``); in that case the
escalation levels it has already reached are recorded as reached, so the next sweep
does not escalate a whole history at once. Bulk import sends no messages: the owners
were told by the system the rows come from.

**Indexes after the load.** Into a PostgreSQL database whose history tables are still
empty (a group's go-live), the history tables' secondary indexes are dropped before
the load and made once after it, as ``generate`` does (:func:`bulk.defer_if_empty`,
:func:`bulk.finish_deferred`; noted in ``bulk_deferred_indexes``). An interrupted run
leaves them noted; resumed, it goes on without them while the tables hold only its
own rows, and makes them at its end; any other load makes them first.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import multiprocessing.context
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.base import Classifier, default_classifier
from complaintdesk.db.engine import unit_of_work
from complaintdesk.db.ids import BULK_BIT, BULK_SLOT_LIMIT, id_floor, id_time, new_id
from complaintdesk.db.models import Company, ImportRun, Owner, Project, Staff, scaled_confidences
from complaintdesk.domain import rules, sla
from complaintdesk.domain.errors import DomainError, InvalidInput
from complaintdesk.domain.lifecycle import FINAL_STATES, Status
from complaintdesk.domain.taxonomy import LABELS, Channel, Urgency, parse_labels
from complaintdesk.services import bulk
from complaintdesk.services.common import policy_for

BATCH = 5000
COLUMNS = (
    "text",
    "project",
    "channel",
    "owner_phone",
    "caller_name",
    "caller_phone",
    "location",
    "summary",
    "received_at",
    "status",
    "closed_at",
    *LABELS,
)
_IMPORTABLE = (Status.RECEIVED, *sorted(FINAL_STATES))
_CHANNELS = frozenset(c.value for c in Channel)


class Deadlines(StrEnum):
    """Where an open imported complaint's SLA clocks start."""

    NOW = "now"  # at the import: its people have the full time from now
    RECEIVED = "received"  # at its own received time: late rows are recorded as late


class Indexes(StrEnum):
    """What an import does with the history tables' secondary indexes (PostgreSQL)."""

    AUTO = "auto"  # made after the load when the history tables are empty, else kept
    AFTER = "after"  # made after the load; refused when the database has history
    KEEP = "keep"  # kept up to date row by row during the load


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


@dataclass
class ImportReport:
    run_id: int = 0
    imported: int = 0
    closed: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    resumed_after: int = 0  # the last line an earlier run had committed
    already_done: bool = False
    seconds: float = 0.0
    deferred_indexes: int = 0  # secondary indexes made after the load
    index_seconds: float = 0.0  # making them, and ANALYZE
    reserved_ids: bool = False  # ids from a slot held for the run (bulk.own_bulk_slot)


@dataclass(frozen=True)
class Progress:
    """How far an import is: for a progress line on a terminal."""

    rows: int
    imported: int
    rejected: int
    seconds: float
    fraction: float  # of the file read, 0 … 1

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        if self.fraction <= 0 or self.seconds <= 0:
            return None
        return self.seconds * (1 - self.fraction) / self.fraction


# --- reading, one row at a time -------------------------------------------------------


class _Counting(io.RawIOBase):
    """A binary file that counts the bytes read through it (for progress)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


Row = tuple[int, dict[str, Any] | str]
"""(line number, the row's fields), or (line number, why it cannot be read)."""


class Source:
    """The rows of one file, streamed; ``fraction`` says how much has been read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = max(path.stat().st_size, 1)
        self._counter: _Counting | None = None
        self._parquet_rows = 0
        self._parquet_total = 1

    @property
    def fraction(self) -> float:
        if self._counter is not None:
            return min(self._counter.count / self.size, 1.0)
        return min(self._parquet_rows / self._parquet_total, 1.0)

    def rows(self) -> Iterator[Row]:
        suffix = self.path.suffix.lower()
        if suffix == ".parquet":
            yield from self._parquet()
            return
        with self.path.open("rb") as raw:
            self._counter = _Counting(raw)
            buffered = io.BufferedReader(self._counter, buffer_size=1 << 20)
            # Bad bytes become lone surrogates, which the text rules refuse with the
            # row's line number (instead of one error for the whole file).
            stream = io.TextIOWrapper(
                buffered, encoding="utf-8-sig", errors="surrogateescape", newline=""
            )
            if suffix in (".jsonl", ".ndjson", ".json"):
                yield from _jsonl(stream)
            else:
                yield from _csv(stream)

    def _parquet(self) -> Iterator[Row]:
        import pyarrow.parquet as pq

        file = pq.ParquetFile(self.path)
        self._parquet_total = max(file.metadata.num_rows, 1)
        number = 0
        for batch in file.iter_batches(batch_size=BATCH):
            for row in batch.to_pylist():
                number += 1
                self._parquet_rows = number
                yield number, {k: _parquet_value(v) for k, v in row.items()}


def _parquet_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()  # checked like text: a zone is required
    return value


def _jsonl(stream: io.TextIOWrapper) -> Iterator[Row]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"not valid JSON: {exc.msg}"
            continue
        yield number, row if isinstance(row, dict) else "a line must be a JSON object"


def _csv(stream: io.TextIOWrapper) -> Iterator[Row]:
    reader = csv.DictReader(stream)
    try:
        names = reader.fieldnames
    except csv.Error as exc:
        yield 1, f"cannot read the header: {exc}"
        return
    if "text" not in (names or []):
        yield 1, f"the header has no column 'text'; columns: {', '.join(COLUMNS)}"
        return
    first = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield first, f"not valid CSV: {exc}"
            first = reader.line_num + 1
            continue
        yield first, row  # a quoted field may span lines: the row's first line
        first = reader.line_num + 1


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- checking one row -----------------------------------------------------------------


@dataclass(frozen=True)
class _ProjectInfo:
    id: int
    policy: sla.SlaPolicy


@dataclass
class _Good:
    line: int
    text: str
    project: _ProjectInfo
    channel: str
    owner_phone: str | None
    caller_name: str | None
    caller_phone: str | None
    location: str | None
    summary: str | None
    received_at: datetime
    status: Status
    closed_at: datetime | None
    labels: dict[str, str]


def _text(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text, not {type(value).__name__}", field=name)
    return value


def _time(row: dict[str, Any], name: str, now: datetime) -> datetime | None:
    stamp = _text(row, name)
    if stamp is None:
        return None
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError as exc:
        raise InvalidInput(f"not an ISO 8601 time: {stamp!r}", field=name) from exc
    if at.tzinfo is None:
        raise InvalidInput("give a time zone, e.g. 2026-01-05T09:30+08:00", field=name)
    return rules.check_past(at, now, field=name)


_SEEN_LABELS = 4096  # label combinations remembered (the taxonomy has 504 valid ones)


class _Checker:
    def __init__(
        self, projects: dict[str, _ProjectInfo], default_project: str | None, now: datetime
    ) -> None:
        self.projects = projects
        self.default_project = default_project
        self.now = now
        self._seen_labels: dict[tuple[Any, ...], dict[str, str]] = {}

    def _labels(self, row: dict[str, Any]) -> dict[str, str]:
        """The row's labels, checked (the same few combinations come again and again:
        each is checked once; the dict is shared, never changed)."""
        key = tuple(row.get(n) for n in LABELS)
        try:
            labels = self._seen_labels.get(key)
        except TypeError:  # a value that is no text (a JSON list): refused just below
            labels = None
        if labels is None:
            labels = parse_labels({n: v for n in LABELS if (v := _text(row, n))})
            if len(self._seen_labels) < _SEEN_LABELS:
                self._seen_labels[key] = labels
        return labels

    def check(self, line: int, row: dict[str, Any]) -> _Good:
        raw_text = _text(row, "text")
        if raw_text is None:
            raise InvalidInput("the text is empty", field="text")
        text_ = rules.clean_text(raw_text, field="text")
        code = _text(row, "project") or self.default_project
        if code is None:
            raise InvalidInput("no project: give a project column or --project", field="project")
        project = self.projects.get(code)
        if project is None:
            raise InvalidInput(f"unknown project {code!r}", field="project")
        channel = _text(row, "channel") or Channel.OTHER.value
        if channel not in _CHANNELS:
            raise InvalidInput(
                f"unknown channel {channel!r}; one of: " + ", ".join(c.value for c in Channel),
                field="channel",
            )
        received_at = _time(row, "received_at", self.now) or self.now
        status_code = _text(row, "status") or Status.RECEIVED.value
        if status_code not in _IMPORTABLE:
            raise InvalidInput(
                f"status {status_code!r} cannot be imported; one of: "
                + ", ".join(s.value for s in _IMPORTABLE),
                field="status",
            )
        status = Status(status_code)
        closed_at = _time(row, "closed_at", self.now)
        if status.is_open and closed_at is not None:
            raise InvalidInput("closed_at is given but the status is open", field="closed_at")
        if not status.is_open:
            closed_at = closed_at or received_at
            if closed_at < received_at:
                raise InvalidInput("is before received_at", field="closed_at")
        labels = self._labels(row)
        caller_name = rules.clean_short(
            _text(row, "caller_name"), field="caller_name", max_chars=200
        )
        caller_phone = rules.clean_short(
            _text(row, "caller_phone"), field="caller_phone", max_chars=40
        )
        owner_phone = rules.clean_short(
            _text(row, "owner_phone"), field="owner_phone", max_chars=40
        )
        if owner_phone is None and caller_name is None and caller_phone is None:
            caller_name = "(imported)"
        return _Good(
            line=line,
            text=text_,
            project=project,
            channel=channel,
            owner_phone=owner_phone,
            caller_name=caller_name,
            caller_phone=caller_phone,
            location=rules.clean_short(_text(row, "location"), field="location", max_chars=300),
            summary=rules.clean_short(_text(row, "summary"), field="summary", max_chars=10_000),
            received_at=received_at,
            status=status,
            closed_at=closed_at,
            labels=labels,
        )


# --- the run --------------------------------------------------------------------------


def _receiver(session: Session, username: str, company_code: str | None) -> Staff:
    query = select(Staff).where(Staff.username == username, Staff.active.is_(True))
    if company_code is not None:
        query = query.join(Company, Company.id == Staff.company_id).where(
            Company.code == company_code
        )
    found = session.scalars(query).all()
    if len(found) != 1:
        raise InvalidInput(
            f"{len(found)} active staff named {username!r}; give the company", field="--as"
        )
    return found[0]


def import_file(
    factory: sessionmaker[Session],
    path: Path,
    *,
    username: str,
    project_code: str | None,
    company_code: str | None,
    now: datetime,
    deadlines: Deadlines = Deadlines.NOW,
    classifier: Classifier | None = None,
    batch: int = BATCH,
    processes: int = 1,
    progress: Callable[[Progress], None] | None = None,
    after_batch: Callable[[int], None] | None = None,
    indexes: Indexes = Indexes.AUTO,
    index_workers: int = 2,
) -> ImportReport:
    """Load ``path``; see the module's docstring. ``processes`` > 1 checks and
    classifies batches in that many processes (PostgreSQL: each opens its own
    connection to the database ``factory`` is bound to), committing them in file
    order. ``after_batch`` is called with the last committed line after each batch
    (a test interrupts a run there). ``indexes``: see :class:`Indexes` and
    :func:`_deferral`; ``index_workers``: how many indexes are made at a time after
    the load."""
    started = time.monotonic()
    digest = file_hash(path)
    with unit_of_work(factory) as session:
        receiver = _receiver(session, username, company_code)
        receiver_id, company_id = receiver.id, receiver.company_id
        projects = {
            p.code: _ProjectInfo(p.id, policy_for(p))
            for p in session.scalars(select(Project).where(Project.company_id == company_id))
        }
        run = session.scalar(
            select(ImportRun).where(
                ImportRun.company_id == company_id, ImportRun.file_hash == digest
            )
        )
        if run is not None and run.finished_at is not None:
            return ImportReport(run_id=run.id, resumed_after=run.last_line, already_done=True)
        known = None if run is None else (run.id, run.last_line, run.imported)
        url = session.get_bind().engine.url.render_as_string(hide_password=False)
    # Decided before the run is recorded: an import refused here leaves nothing.
    deferred = _deferral(factory, indexes, None if known is None else (known[0], known[2]))
    if known is not None:
        run_id, done_line, _ = known
    else:
        with unit_of_work(factory) as session:
            run = ImportRun(
                id=new_id(),
                company_id=company_id,
                file_name=path.name[:300],
                file_hash=digest,
                started_at=now,
                updated_at=now,
                last_line=0,
                imported=0,
                rejected=0,
            )
            session.add(run)
            run_id, done_line = run.id, 0
    report = ImportReport(run_id=run_id, resumed_after=done_line, deferred_indexes=deferred)
    source = Source(path)
    seen = 0

    def batches() -> Iterator[list[Row]]:
        nonlocal seen
        pending: list[Row] = []
        for number, row in source.rows():
            if number <= done_line:
                continue
            seen += 1
            pending.append((number, row))
            if len(pending) >= batch:
                yield pending
                pending = []
        if pending:
            yield pending

    def record(done: _Done) -> None:
        report.rejected += done.rejected
        report.imported += done.imported
        report.closed += done.closed
        if progress is not None:
            elapsed = time.monotonic() - started
            rejected = len(report.rejected)
            progress(Progress(seen, report.imported, rejected, elapsed, source.fraction))
        if after_batch is not None:
            after_batch(done.last_line)

    # Into empty history tables the run holds one slot of the bulk ids throughout and
    # takes its numbers there by batch, reading nothing (bulk.own_bulk_slot).
    with bulk.own_bulk_slot(factory) as slot:
        numbers = None
        if slot is not None:
            numbers = bulk.Numbers(
                _context().Value("q", 0), first=slot * BULK_SLOT_LIMIT, limit=BULK_SLOT_LIMIT
            )
        report.reserved_ids = numbers is not None
        loader = _Loader(
            _Checker(projects, project_code, now), receiver_id, company_id, run_id, now,
            deadlines, numbers,
        )  # fmt: skip
        if processes > 1:
            _parallel(url, loader, batches(), processes, record)
        else:
            for rows in batches():
                record(loader.commit(factory, loader.prepare(factory, rows, classifier)))
    # Made before the run is marked finished: interrupted while making them, the run
    # is resumed (nothing left to load) and makes the rest.
    if report.deferred_indexes:
        report.index_seconds = bulk.finish_deferred(factory, workers=index_workers)
    with unit_of_work(factory) as session:
        session.execute(
            text("UPDATE import_runs SET finished_at = :now, updated_at = :now WHERE id = :id"),
            {"now": now, "id": run_id},
        )
    report.rejected.sort(key=lambda r: r.line)
    report.seconds = time.monotonic() - started
    return report


def _deferral(
    factory: sessionmaker[Session], indexes: Indexes, resumed: tuple[int, int] | None
) -> int:
    """Whether this run makes the history tables' secondary indexes after its load:
    how many (0: they are kept up to date during it).

    - Noted as deferred while the history tables hold this run's rows and nothing
      else (an interrupted run resumed, ``resumed``: its id and how many complaints it
      has imported; none for a new run: no follow-up or visit; no event made outside
      the bulk loaders' ids, so nothing has been served from them meanwhile): they
      stay deferred, and the run makes them at its end.
    - Noted by any other load (an interrupted ``generate`` or import, or one whose
      database has been used since): made first, as ``generate`` makes them.
    - Then, unless ``keep``: deferred when the history tables are empty; otherwise
      kept, or, for ``after``, the import is refused (nothing loaded).
    """
    with unit_of_work(factory) as session:
        if _dialect(session) != "postgresql":
            if indexes is Indexes.AFTER:
                raise InvalidInput("indexes are made after the load on PostgreSQL only",
                                   field="--indexes")  # fmt: skip
            return 0
        noted = bulk.deferred_count(session)
        if noted and indexes is not Indexes.KEEP and _only_run(session, resumed):
            return noted
    if noted:
        bulk.restore_indexes(factory)
    if indexes is Indexes.KEEP:
        return 0
    dropped = bulk.defer_if_empty(factory)
    if dropped is None:
        if indexes is Indexes.AFTER:
            raise InvalidInput(
                "the database has complaints: its indexes are kept up to date during an "
                "import (--indexes after is for a database without history)",
                field="--indexes",
            )
        return 0
    return len(dropped)


RESUME_CLOCK_MARGIN = timedelta(hours=1)
"""How much earlier than a resumed run's start (its id's moment) its check looks for
events a serving process wrote: another server's clock may be behind this one's."""


def _only_run(session: Session, resumed: tuple[int, int] | None) -> bool:
    """Whether the history tables hold one interrupted import's rows and nothing else
    (``resumed``: its id and how many complaints it has loaded; None: a new run, so
    none): read on resuming a run whose indexes are deferred, so it reads only what
    it must, never a whole table of history:

    - the complaints, counted up to one more than the run has loaded;
    - whether any follow-up or visit exists (the run makes none);
    - whether any event has a serving process's id (the services' ids have the bulk
      bit clear), among the events made since the run began: its indexes were dropped
      over empty tables and the tables hold its complaints only, so an event a server
      wrote is on one of them, written after the run began, and its id (the moment it
      was made) is no older than the run's, give or take other servers' clocks
      (:data:`RESUME_CLOCK_MARGIN`). The run's own events are history, in the older
      months' partitions the bound leaves out (but for rows of the last hour)."""
    run_id, imported = resumed if resumed is not None else (None, 0)
    counted = session.scalar(
        text("SELECT count(*) FROM (SELECT 1 FROM complaints LIMIT :n) AS c"), {"n": imported + 1}
    )
    if counted != imported:
        return False
    if any(
        session.scalar(text(f"SELECT EXISTS (SELECT 1 FROM {table})"))
        for table in ("follow_ups", "visits")
    ):
        return False
    # A new run: no complaint, so no event either (each event is a complaint's).
    since = 0 if run_id is None else id_floor(id_time(run_id) - RESUME_CLOCK_MARGIN)
    return not session.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM events WHERE id >= :since "
            "AND id & CAST(:bit AS bigint) = 0)"
        ),
        {"since": since, "bit": BULK_BIT},
    )


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@dataclass
class _Prepared:
    stage: list[list[Any]]
    rejected: list[Rejected]
    last_line: int


@dataclass(frozen=True)
class _Done:
    """What a committed batch did."""

    imported: int
    closed: int
    rejected: list[Rejected]
    last_line: int


@dataclass(frozen=True)
class _Loader:
    """Checks, classifies and writes the batches of one run (picklable: the parallel
    path hands it to its processes)."""

    checker: _Checker
    receiver_id: int
    company_id: int
    run_id: int
    now: datetime
    deadlines: Deadlines
    numbers: bulk.Numbers | None = None  # the run's own slot's (bulk.own_bulk_slot)

    def prepare(
        self, factory: sessionmaker[Session], rows: list[Row], classifier: Classifier | None
    ) -> _Prepared:
        """Check and classify a batch; reads owners, writes nothing."""
        rejected: list[Rejected] = []
        good: list[_Good] = []
        for number, row in rows:
            if isinstance(row, str):
                rejected.append(Rejected(number, row))
                continue
            try:
                good.append(self.checker.check(number, row))
            except DomainError as exc:
                where = f" ({exc.field})" if exc.field else ""
                rejected.append(Rejected(number, f"{exc.message}{where}"))
        unlabelled = [g for g in good if len(g.labels) < len(LABELS)]
        # Loaded only when a row needs it: pre-labelled files never pay for the model.
        model = classifier or (default_classifier() if unlabelled else None)
        predictions = model.predict([g.text for g in unlabelled]) if model and unlabelled else []
        by_line = {g.line: p for g, p in zip(unlabelled, predictions, strict=True)}
        phones = {g.owner_phone for g in good if g.owner_phone}
        with unit_of_work(factory) as session:
            owners = _owners(session, self.company_id, phones)
        stage: list[list[Any]] = []
        for g in good:
            owner_id = None
            if g.owner_phone is not None:
                owner_id = owners.get(g.owner_phone)
                if owner_id is None:
                    rejected.append(
                        Rejected(g.line, f"no owner with phone {g.owner_phone} (owner_phone)")
                    )
                    continue
            stage.append(
                _stage_row(g, by_line.get(g.line), owner_id, self.receiver_id, self.company_id,
                           self.run_id, self.now, self.deadlines)
            )  # fmt: skip
        rejected.sort(key=lambda r: r.line)
        return _Prepared(stage, rejected, rows[-1][0])

    def commit(
        self,
        factory: sessionmaker[Session],
        batch: _Prepared,
        order: _InOrder | None = None,
        seq: int = 0,
    ) -> _Done:
        """Write a prepared batch and move the run's mark past it, atomically.
        ``order``: a parallel run's batch number ``seq`` writes beside the batch before
        it and commits after it (:class:`_InOrder`).

        The batch's months get their partitions first, in a transaction of their own
        (:func:`bulk.make_partitions`), in one process as in several: the batch's
        transaction reads ids (:func:`bulk.lock`) before it writes, and had it then
        made a month, it would have waited for the partition makers' lock while
        holding the table, and another import making a month (holding that lock,
        waiting for the table) waited for it: a deadlock, and one import failed
        (two imports at once, session 14)."""
        if order is None:
            bulk.make_partitions(factory, batch.stage, lambda: None)
        else:
            if not bulk.make_partitions(factory, batch.stage, lambda: order.wait_commit(seq)):
                order.wait_commit(seq)  # a month left busy: write_batch makes it, alone
            order.wait_slot(seq)
        # A month left busy there is tried once more by write_batch (then its rows go
        # to the default partition, and a warning says so).
        with unit_of_work(factory) as session:
            slot = None if self._reserved(session, batch) else bulk.lock(session)
            if order is not None:
                order.slot_taken(seq)
            if slot is not None:
                bulk.assign_ids(session, batch.stage, slot)
            bulk.write_batch(session, batch.stage, tries=1)
            if batch.rejected:
                session.execute(
                    text(
                        "INSERT INTO import_rejections (run_id, line, reason) VALUES (:r, :l, :why)"
                    ),
                    [
                        {"r": self.run_id, "l": r.line, "why": r.reason[:1000]}
                        for r in batch.rejected
                    ],
                )
            if order is not None:
                order.wait_commit(seq)
            session.execute(
                text(
                    "UPDATE import_runs SET last_line = :last, imported = imported + :n, "
                    "rejected = rejected + :bad, updated_at = :now WHERE id = :id"
                ),
                {"last": batch.last_line, "n": len(batch.stage), "bad": len(batch.rejected),
                 "now": self.now, "id": self.run_id},
            )  # fmt: skip
        if order is not None:
            order.committed(seq)
        closed = sum(1 for row in batch.stage if row[bulk.col("closed_at")] is not None)
        return _Done(len(batch.stage), closed, batch.rejected, batch.last_line)

    def _reserved(self, session: Session, batch: _Prepared) -> bool:
        """Give the batch ids from the run's own numbers, if it has any left (else the
        batch takes a slot and reads, as any loader's: :func:`bulk.lock`)."""
        if self.numbers is None:
            return False
        bulk.prepare_reserved(session)
        try:
            bulk.assign_ids(session, batch.stage, numbers=self.numbers)
        except bulk.NumbersUsedUp:
            return False
        return True


class _Abandoned(Exception):
    """Another process of a parallel run failed: this one's batch is rolled back."""


class _InOrder:
    """How the batches of a parallel run (numbered ``seq`` in file order) keep it
    while their processes write at the same time: a batch takes its id slot after
    the batch before it has taken one, and commits after that batch has committed.
    The run's mark is therefore always a line before which everything is loaded (an
    interrupted run resumes after it), and no batch ever waits for a later one (the
    only waits in the database are for earlier batches: no deadlock). Between the two
    waits each batch COPYs its rows in its own transaction, beside the others'.
    Counters shared by the run's processes (``multiprocessing`` Values)."""

    def __init__(self, slots: Any, commits: Any, failed: Any) -> None:
        self.slots, self.commits, self.failed = slots, commits, failed

    def _wait(self, counter: Any, seq: int) -> None:
        while counter.value != seq:
            if self.failed.value:
                raise _Abandoned
            time.sleep(0.002)

    def wait_slot(self, seq: int) -> None:
        self._wait(self.slots, seq)

    def slot_taken(self, seq: int) -> None:
        with self.slots.get_lock():
            self.slots.value = seq + 1

    def wait_commit(self, seq: int) -> None:
        self._wait(self.commits, seq)

    def committed(self, seq: int) -> None:
        with self.commits.get_lock():
            self.commits.value = seq + 1


def _worker(url: str, loader: _Loader, tasks: Any, results: Any, order: _InOrder) -> None:
    """One process of a parallel import: prepares the batches it takes and commits
    each in file order (:class:`_InOrder`)."""
    from complaintdesk.db.engine import make_engine, make_sessionmaker

    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    try:
        while (task := tasks.get()) is not None:
            seq, rows = task
            try:
                prepared = loader.prepare(factory, rows, None)
                done = loader.commit(factory, prepared, order, seq)
            except _Abandoned:
                return
            except BaseException as exc:
                order.failed.value = 1
                results.put((seq, f"{type(exc).__name__}: {exc}"))
                raise
            results.put((seq, done))
    finally:
        engine.dispose()


def _context() -> multiprocessing.context.ForkContext | multiprocessing.context.SpawnContext:
    """The processes of a parallel import (and its shared counters): forked where the
    system can (Linux), else spawned (:func:`_parallel`)."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _parallel(
    url: str,
    loader: _Loader,
    batches: Iterator[list[Row]],
    processes: int,
    record: Callable[[_Done], None],
) -> None:
    import queue

    # Forked where the system can (Linux): a spawned process imports the whole
    # application again before its first batch (1-3 s of CPU each here, where no
    # bytecode is cached: 20-50 us a row of a 100,000-row import in two processes).
    # A forked worker makes its own engine and never touches the parent's connections.
    context = _context()
    tasks = context.Queue(maxsize=processes * 2)  # bounded: memory stays constant
    results = context.Queue()
    failed = context.Value("b", 0)
    order = _InOrder(context.Value("q", 0), context.Value("q", 0), failed)
    workers = [
        context.Process(target=_worker, args=(url, loader, tasks, results, order))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    sent = received = 0

    def collect(block: bool) -> None:
        nonlocal received
        while received < sent:
            try:
                _, done = results.get(timeout=0.5 if block else 0.0)
            except queue.Empty:
                # A worker killed without raising (SIGKILL, the kernel's OOM killer)
                # says nothing: its exit code does. The others would wait for its
                # batch for ever; the finally below tells them to give up theirs.
                dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
                if failed.value or dead or not any(w.is_alive() for w in workers):
                    why = f" (exit code {dead[0]})" if dead else ""
                    raise RuntimeError(f"an import process failed{why}") from None
                if not block:
                    return
                continue
            if isinstance(done, str):
                raise RuntimeError(f"an import process failed: {done}")
            received += 1
            record(done)

    try:
        for rows in batches:
            while True:
                try:
                    tasks.put((sent, rows), timeout=0.5)
                    break
                except queue.Full:
                    collect(block=False)
            sent += 1
            collect(block=False)
        for _ in workers:
            tasks.put(None)
        collect(block=True)
    finally:
        failed.value = failed.value or int(received < sent)
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()


def _owners(session: Session, company_id: int, phones: set[str]) -> dict[str, int]:
    """Owner ids by phone (the earliest owner when several share a phone)."""
    found: dict[str, int] = {}
    if not phones:
        return found
    rows = session.execute(
        select(Owner.phone, Owner.id)
        .where(Owner.company_id == company_id, Owner.phone.in_(sorted(phones)))
        .order_by(Owner.id.desc())
    )
    for phone, id_ in rows:
        if phone is not None:
            found[phone] = id_
    return found


def _stage_row(
    g: _Good,
    prediction: Any,
    owner_id: int | None,
    receiver_id: int,
    company_id: int,
    run_id: int,
    now: datetime,
    deadlines: Deadlines,
) -> list[Any]:
    if prediction is not None:
        labels = rules.apply_label_rules(
            {**prediction.labels(), **g.labels}, urgency_given="urgency" in g.labels
        )
        confidence: dict[str, int | None] = scaled_confidences(prediction.confidence)
        model_version = prediction.model_version
        needs_review = prediction.needs_review
        source = "auto"
    else:
        labels = g.labels
        confidence, model_version, needs_review, source = {}, None, False, "import"
    risks = [r.value for r in rules.risk_flags(g.text)]
    # Both JSON values written out as bulk.dumps would (most rows have no risk).
    risk_json = bulk.dumps(risks) if risks else "[]"
    received_data = f'{{"import":"{run_id}","line":{g.line}}}'
    row = bulk.new_row(
        company_id=company_id,
        project_id=g.project.id,
        owner_id=owner_id,
        caller_name=g.caller_name,
        caller_phone=g.caller_phone,
        channel=g.channel,
        text=g.text,
        summary=g.summary,
        location=g.location,
        received_at=g.received_at,
        first_receiver_id=receiver_id,
        status=g.status.value,
        label_source=source,
        **{f"confidence_{label}": value for label, value in confidence.items()},
        model_version=model_version,
        needs_review=needs_review,
        upgraded=False,
        clock_started_at=g.received_at,
        response_level=0,
        resolution_level=0,
        visit_level=0,
        response_breached=False,
        resolution_breached=False,
        risk_flags=risk_json,
        at_risk=bool(risks),
        reopen_count=0,
        version=1,
        updated_at=g.closed_at or g.received_at,
        ev_received=True,
        received_data=received_data,
        **labels,
    )
    if not g.status.is_open:
        row[bulk.col("closed_at")] = g.closed_at
        row[bulk.col("ev_closed")] = True
        return row
    # An open row: its clocks run from now, or from its own time with the levels it
    # has already reached recorded as reached (the sweeper raises only what is new).
    targets = g.project.policy.for_urgency(Urgency(labels["urgency"]))
    start = now if deadlines is Deadlines.NOW else g.received_at
    respond_by, resolve_by = start + targets.response, start + targets.resolution
    clocks = sla.running_clocks(
        received_at=start,
        respond_by=respond_by,
        responded_at=None,
        clock_started_at=start,
        resolve_by=resolve_by,
        resolved_at=None,
        visit_by=None,
        visited=False,
        is_open=True,
    )
    levels = {c.clock: int(c.level_at(now)) for c in clocks}
    row[bulk.col("respond_by")] = respond_by
    row[bulk.col("resolve_by")] = resolve_by
    row[bulk.col("clock_started_at")] = start
    row[bulk.col("response_level")] = levels.get(sla.Clock.RESPONSE, 0)
    row[bulk.col("resolution_level")] = levels.get(sla.Clock.RESOLUTION, 0)
    row[bulk.col("response_breached")] = levels.get(sla.Clock.RESPONSE, 0) > 0
    row[bulk.col("resolution_breached")] = levels.get(sla.Clock.RESOLUTION, 0) > 0
    row[bulk.col("sla_check_at")] = sla.next_check(clocks, now)
    return row
