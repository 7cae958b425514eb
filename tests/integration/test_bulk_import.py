"""Bulk import on real databases: streaming, resuming, history as history, ids."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import signal
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db import partitions
from complaintdesk.db.engine import make_sessionmaker, unit_of_work
from complaintdesk.db.ids import id_node, id_time, new_id
from complaintdesk.db.models import Complaint, Event, ImportRejection, ImportRun, Outbox
from complaintdesk.domain.errors import InvalidInput
from complaintdesk.domain.lifecycle import Status
from complaintdesk.services import bulk, importer, queries
from complaintdesk.services.common import policy_for
from complaintdesk.services.escalation import sweep
from complaintdesk.services.importer import Deadlines, Indexes, import_file
from tests.conftest import NOW, Databases, Org, build_org
from tests.integration.bulk_setup import deferred_database, indexes, pg_company, pg_factory

LABELS = {
    "nature": "help_seeking",
    "category": "equipment",
    "urgency": "normal",
    "department": "engineering",
}


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _count(session: Session, model: type[object], *where: object) -> int:
    session.expire_all()
    query = select(func.count()).select_from(model)
    for clause in where:
        query = query.where(clause)  # type: ignore[arg-type]
    return session.scalar(query) or 0


class _Interrupted(Exception):
    pass


def _import_interrupted(
    factory: sessionmaker[Session], path: Path, company: str, *, batch: int, after_line: int
) -> None:
    """An import of ``path`` as the company's agent, interrupted after the first batch
    that reaches ``after_line`` has committed (as a Ctrl-C between batches would)."""

    def stop(last_line: int) -> None:
        if last_line >= after_line:
            raise _Interrupted

    with pytest.raises(_Interrupted):
        import_file(
            factory, path, username="agent", project_code=None, company_code=company, now=NOW,
            batch=batch, after_batch=stop,
        )  # fmt: skip


def test_more_than_4096_rows_stamped_with_one_instant_load_without_a_clash(
    factory: sessionmaker[Session], session: Session, acme: Org, tmp_path: Path
) -> None:
    session.commit()
    instant = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    rows = [
        {"text": f"楼道灯坏了 {n}", "project": "P1", "received_at": instant.isoformat(), **LABELS}
        for n in range(5000)
    ]
    first = import_file(
        factory, _jsonl(tmp_path / "a.jsonl", rows), username="agent", project_code=None,
        company_code=acme.company.code, now=NOW, batch=3000,
    )  # fmt: skip
    # A second file of the same instant, loaded later, takes the numbers after them.
    second = import_file(
        factory, _jsonl(tmp_path / "b.jsonl", rows[:100]), username="agent", project_code=None,
        company_code=acme.company.code, now=NOW,
    )  # fmt: skip
    assert (first.imported, second.imported) == (5000, 100)
    ids = list(session.scalars(select(Complaint.id).where(Complaint.project_id == acme.project.id)))
    assert len(ids) == len(set(ids)) == 5100
    assert {id_time(i) for i in ids} == {instant}
    assert min(id_node(i) for i in ids) >= 512  # the bulk loaders' nodes


def test_closed_history_loads_closed_without_messages_or_escalations(
    factory: sessionmaker[Session], session: Session, acme: Org, tmp_path: Path
) -> None:
    session.commit()
    long_ago = NOW - timedelta(days=400)
    rows = [
        {
            "text": f"电梯坏了 {n}",
            "project": "P1",
            "owner_phone": acme.owner.phone,
            "received_at": (long_ago + timedelta(hours=n)).isoformat(),
            "status": "closed" if n % 4 else "withdrawn",
            "closed_at": (long_ago + timedelta(hours=n, days=2)).isoformat(),
            **LABELS,
        }
        for n in range(40)
    ]
    # Open rows dated long ago with clocks from their own dates: late, but not a storm.
    rows += [
        {"text": f"水压低 {n}", "project": "P1", "received_at": long_ago.isoformat(), **LABELS}
        for n in range(10)
    ]
    outbox_before = _count(session, Outbox)
    report = import_file(
        factory, _jsonl(tmp_path / "history.jsonl", rows), username="agent", project_code=None,
        company_code=acme.company.code, now=NOW, deadlines=Deadlines.RECEIVED,
    )  # fmt: skip
    assert (report.imported, report.closed, report.rejected) == (50, 40, [])
    closed = session.scalars(
        select(Complaint).where(Complaint.owner_id == acme.owner.id, Complaint.text.like("电梯%"))
    ).all()
    assert len(closed) == 40
    assert all(c.status in (Status.CLOSED, Status.WITHDRAWN) for c in closed)
    assert all(c.sla_check_at is None and c.respond_by is None for c in closed)
    assert all(c.closed_at == c.received_at + timedelta(days=2) for c in closed)
    kinds = set(
        session.scalars(select(Event.kind).where(Event.complaint_id.in_([c.id for c in closed])))
    )
    assert kinds == {"received", "close", "withdraw"}
    # The receipt stores no status change (its kind says it); the closing or
    # withdrawal stores one, the status it left unknown (an import knows no steps
    # between). Read through the timeline, both say what they said when stored.
    for final in (Status.CLOSED, Status.WITHDRAWN):
        some = next(c for c in closed if c.status == final)
        stored = session.execute(
            select(Event.kind, Event.field, Event.old, Event.new)
            .where(Event.complaint_id == some.id)
            .order_by(Event.id)
        ).all()
        closing = "close" if final == Status.CLOSED else "withdraw"
        assert [tuple(r) for r in stored] == [
            ("received", None, None, None),
            (closing, "status", None, final),
        ]
        assert [(e.field, e.old, e.new) for e in queries.timeline(session, some)] == [
            ("status", None, "received"),
            ("status", None, final),
        ]
    late = session.scalars(select(Complaint).where(Complaint.text.like("水压低%"))).all()
    assert all(c.resolution_breached and c.resolution_level == 2 for c in late)
    assert _count(session, Outbox) == outbox_before  # nobody was told anything
    events_before = _count(session, Event)
    result = sweep(factory, NOW)
    assert result.escalations == 0 and result.upgraded == 0
    assert _count(session, Outbox) == outbox_before
    assert _count(session, Event) == events_before


def test_open_rows_get_deadlines_from_now_by_default(
    factory: sessionmaker[Session], session: Session, acme: Org, tmp_path: Path
) -> None:
    session.commit()
    old = (NOW - timedelta(days=30)).isoformat()
    import_file(
        factory, _jsonl(tmp_path / "open.jsonl", [{"text": "门禁坏了", "received_at": old}]),
        username="agent", project_code="P1", company_code=acme.company.code, now=NOW,
    )  # fmt: skip
    complaint = session.scalars(select(Complaint).where(Complaint.text == "门禁坏了")).one()
    assert complaint.status == Status.RECEIVED
    assert complaint.received_at == NOW - timedelta(days=30)
    assert complaint.respond_by is not None and complaint.respond_by > NOW
    assert complaint.sla_check_at == complaint.respond_by
    assert complaint.label_source == "auto" and complaint.model_version  # classified
    assert sweep(factory, NOW).escalations == 0


def test_parquet_and_csv_load_the_same_way(
    factory: sessionmaker[Session], session: Session, acme: Org, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    session.commit()
    table = pa.table(
        {
            "text": ["Lift stuck again", "", "路灯不亮"],
            "project": ["P1", "P1", "P404"],
            "received_at": ["2026-01-05T09:30:00+08:00", None, None],
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    report = import_file(
        factory, tmp_path / "in.parquet", username="agent", project_code=None,
        company_code=acme.company.code, now=NOW,
    )  # fmt: skip
    assert report.imported == 1
    assert [(r.line, "P404" in r.reason) for r in report.rejected] == [(2, False), (3, True)]
    # A quoted CSV field over two lines: the next row's line number is still right.
    (tmp_path / "in.csv").write_text(
        'text,project\n"first line\nsecond line",P1\n,P1\n', encoding="utf-8"
    )
    report = import_file(
        factory, tmp_path / "in.csv", username="agent", project_code=None,
        company_code=acme.company.code, now=NOW,
    )  # fmt: skip
    assert report.imported == 1 and [r.line for r in report.rejected] == [4]


def test_import_streams_a_file_larger_than_its_memory_budget(
    factory: sessionmaker[Session], session: Session, acme: Org, tmp_path: Path
) -> None:
    session.commit()
    filler = "电梯又坏了,已经三天没人来修,老人上下楼非常不方便。" * 40
    path = _jsonl(
        tmp_path / "big.jsonl",
        ({"text": f"{n} {filler}", "project": "P1", **LABELS} for n in range(3000)),  # type: ignore[arg-type]
    )
    size = path.stat().st_size
    budget = size // 4
    assert size > 6_000_000
    tracemalloc.start()
    try:
        report = import_file(
            factory, path, username="agent", project_code=None, company_code=acme.company.code,
            now=NOW, batch=100,
        )  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.imported == 3000
    assert peak < budget, f"peak {peak:,} bytes for a {size:,}-byte file"


def test_an_interrupted_import_resumes_without_loading_anything_twice(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    factory = make_sessionmaker(fresh_engine)
    with unit_of_work(factory) as session:
        acme = build_org(session)
        company = acme.company.code
    rows: list[dict[str, object]] = [
        {"text": f"垃圾没人收 {n}", "project": "P1", **LABELS} for n in range(20)
    ]
    rows[7] = {"text": "", "project": "P1"}  # line 8 is refused, in whichever run reads it
    path = _jsonl(tmp_path / "resume.jsonl", rows)

    _import_interrupted(factory, path, company, batch=5, after_line=10)  # two batches
    with factory() as session:
        assert _count(session, Complaint) == 9  # two batches of five, one refused
    second = import_file(
        factory, path, username="agent", project_code=None, company_code=company, now=NOW,
        batch=5,
    )  # fmt: skip
    assert second.resumed_after == 10 and second.imported == 10 and second.rejected == []
    third = import_file(
        factory, path, username="agent", project_code=None, company_code=company, now=NOW
    )
    assert third.already_done and third.imported == 0
    with factory() as session:
        texts = list(session.scalars(select(Complaint.text)))
        assert len(texts) == len(set(texts)) == 19
        run = session.scalars(select(ImportRun)).one()
        assert (run.last_line, run.imported, run.rejected) == (20, 19, 1)
        assert run.finished_at is not None
        assert [r.line for r in session.scalars(select(ImportRejection))] == [8]


def test_a_parallel_import_commits_in_file_order_and_loads_every_row_once(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    factory, company = pg_company(fresh_engine, "several import processes are for PostgreSQL")
    rows: list[dict[str, object]] = [{"text": f"路灯不亮 {n}", "project": "P1"} for n in range(40)]
    rows[5] = {"text": "路灯不亮", "project": "P404"}
    rows[33] = {"text": "", "project": "P1"}
    path = _jsonl(tmp_path / "parallel.jsonl", rows)
    report = import_file(
        factory, path, username="agent", project_code=None, company_code=company, now=NOW,
        batch=4, processes=2,
    )  # fmt: skip
    assert report.imported == 38
    assert [r.line for r in report.rejected] == [6, 34]
    with factory() as session:
        texts = list(session.scalars(select(Complaint.text)))
        assert len(texts) == len(set(texts)) == 38
        assert all(t.startswith("路灯不亮 ") for t in texts)
        run = session.scalars(select(ImportRun)).one()
        assert (run.last_line, run.imported, run.rejected) == (40, 38, 2)


def test_a_parallel_import_whose_process_is_killed_stops_and_resumes(
    fresh_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed without a word (SIGKILL, the OOM killer) while the other waits
    for its batch: the import stops with an error instead of waiting for ever (review,
    session 12), and the next run loads what is left, each row once."""
    factory, company = pg_company(fresh_engine, "several import processes are for PostgreSQL")
    rows: list[dict[str, object]] = [{"text": f"电梯异响 {n}", "project": "P1"} for n in range(40)]
    path = _jsonl(tmp_path / "killed.jsonl", rows)
    commit = importer._Loader.commit

    def killed_at_its_second_batch(self: importer._Loader, *args: object, **kw: object) -> object:
        if kw.get("seq", args[3] if len(args) > 3 else 0) == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return commit(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(importer._Loader, "commit", killed_at_its_second_batch)

    def waited_too_long(*_: object) -> None:
        raise TimeoutError("the import still waits for the killed process's batch")

    previous = signal.signal(signal.SIGALRM, waited_too_long)
    signal.alarm(120)
    try:
        with pytest.raises(RuntimeError, match="exit code -9"):
            import_file(
                factory, path, username="agent", project_code=None, company_code=company,
                now=NOW, batch=4, processes=2,
            )  # fmt: skip
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    monkeypatch.undo()
    with factory() as session:
        loaded = _count(session, Complaint)
    assert loaded < 40
    again = import_file(
        factory, path, username="agent", project_code=None, company_code=company, now=NOW,
        batch=4, processes=2,
    )  # fmt: skip
    assert again.imported == 40 - loaded
    with factory() as session:
        texts = list(session.scalars(select(Complaint.text)))
        assert len(texts) == len(set(texts)) == 40


def test_a_parallel_import_s_batches_write_side_by_side_and_commit_in_file_order(
    fresh_engine: Engine,
) -> None:
    """Two batches of a parallel run: the second takes its slot after the first, writes
    its rows while the first's transaction is still open, and commits after it."""
    factory = pg_factory(fresh_engine, "several import processes are for PostgreSQL")
    with unit_of_work(factory) as session:
        acme = build_org(session)
        project = importer._ProjectInfo(acme.project.id, policy_for(acme.project))
        run = ImportRun(
            id=new_id(), company_id=acme.company.id, file_name="f", file_hash="h",
            started_at=NOW, updated_at=NOW, last_line=0, imported=0, rejected=0,
        )  # fmt: skip
        session.add(run)
        ids = (run.id, acme.agent.id, acme.company.id)
    checker = importer._Checker({"P1": project}, "P1", NOW)
    loader = importer._Loader(checker, ids[1], ids[2], ids[0], NOW, Deadlines.NOW)
    batches = [
        loader.prepare(factory, [(n, {"text": f"水管漏水 {n}", **LABELS}) for n in lines], None)
        for lines in ((1, 2), (3, 4))
    ]
    for batch in batches:  # months made beforehand: neither batch waits to make one
        bulk.make_partitions(factory, batch.stage, lambda: None)
    log: list[str] = []
    second_written = threading.Event()

    class Watched(importer._InOrder):
        def slot_taken(self, seq: int) -> None:
            log.append(f"slot {seq}")
            super().slot_taken(seq)

        def wait_commit(self, seq: int) -> None:
            if seq == 1:
                second_written.set()
            elif not second_written.wait(timeout=30):  # the first's transaction is open
                log.append("the second batch did not write beside the first")
            super().wait_commit(seq)

        def committed(self, seq: int) -> None:
            log.append(f"commit {seq}")
            super().committed(seq)

    context = multiprocessing.get_context("spawn")
    order = Watched(context.Value("q", 0), context.Value("q", 0), context.Value("b", 0))
    with ThreadPoolExecutor(max_workers=2) as pool:
        second = pool.submit(loader.commit, factory, batches[1], order, 1)
        time.sleep(0.2)  # the second batch is first to ask: it waits for the first's slot
        first = pool.submit(loader.commit, factory, batches[0], order, 0)
        done = [first.result(), second.result()]
    assert log == ["slot 0", "slot 1", "commit 0", "commit 1"]
    assert [d.last_line for d in done] == [2, 4]
    with factory() as session:
        assert _count(session, Complaint) == 4
        assert session.get(ImportRun, ids[0]).last_line == 4  # type: ignore[union-attr]


def test_foreign_keys_are_checked_again_after_a_bulk_batch(
    factory: sessionmaker[Session], session: Session, acme: Org, tmp_path: Path
) -> None:
    """The bulk batch may skip the per-row checks of references it made itself; the
    rest of the transaction has them back."""
    session.commit()
    path = _jsonl(tmp_path / "one.jsonl", [{"text": "电梯坏了", "project": "P1", **LABELS}])
    with unit_of_work(factory) as other:
        stage = [
            bulk.new_row(
                company_id=acme.company.id, project_id=acme.project.id, channel="phone",
                text="x", received_at=NOW, first_receiver_id=acme.agent.id, status="received",
                nature="consulting", category="management", urgency="low",
                department="customer_service", label_source="import", needs_review=False,
                upgraded=False, clock_started_at=NOW, response_level=0, resolution_level=0,
                visit_level=0, response_breached=False, resolution_breached=False,
                risk_flags="[]", at_risk=False, reopen_count=0, version=1, updated_at=NOW,
                ev_received=True,
            )
        ]  # fmt: skip
        slot = bulk.lock(other)
        bulk.assign_ids(other, stage, slot)
        bulk.write_batch(other, stage)
        with pytest.raises(IntegrityError), other.begin_nested():
            other.add(Event(complaint_id=1, at=NOW, kind="received"))
            other.flush()
    assert import_file(
        factory, path, username="agent", project_code=None, company_code=acme.company.code,
        now=NOW,
    ).imported == 1  # fmt: skip


def test_batches_written_at_the_same_time_take_different_slots(fresh_engine: Engine) -> None:
    """Two loaders at one instant: each batch holds its own slice of the bulk ids."""
    factory = pg_factory(fresh_engine, "SQLite serialises writers; every batch takes slot 0")
    instant = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    with factory() as first, factory() as second, first.begin(), second.begin():
        slots = (bulk.lock(first), bulk.lock(second))
        made = [
            bulk.IdAllocator(session, "complaints", slot).allocate([instant] * 3)
            for session, slot in zip((first, second), slots, strict=True)
        ]
    assert slots[0] != slots[1]
    assert len(set(made[0]) | set(made[1])) == 6
    assert {id_time(i) for ids_ in made for i in ids_} == {instant}


def _slot(id_: int) -> int:
    """The bulk slot an id was taken in."""
    return (id_ & (bulk.RESERVED_NUMBERS - 1)) // bulk.BULK_SLOT_LIMIT


def test_an_import_into_empty_tables_holds_a_slot_and_reads_no_ids(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    """A go-live import (empty history tables) holds one slot of the bulk
    ids for its whole run and takes its numbers there by batch: no statement reads
    ids (before: a probe a table a batch, and a max() a millisecond once the period
    had rows). Another import at the same instant, started while it runs (into tables
    that have rows by then), takes another slot and reads the next free numbers, as
    any loader did; every id unique, at that instant."""
    factory, company = pg_company(fresh_engine, "bulk id slots are PostgreSQL's")
    instant = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)

    def rows(prefix: str, n: int) -> list[dict[str, object]]:
        return [
            {"text": f"{prefix} {i}", "project": "P1", "received_at": instant.isoformat(),
             "status": "closed", **LABELS}
            for i in range(n)
        ]  # fmt: skip

    probes: list[str] = []
    beside: list[importer.ImportReport] = []

    def seen(_conn: object, _cursor: object, statement: str, _parameters: object,
             _context: object, _many: bool) -> None:  # fmt: skip
        if "id BETWEEN" in statement and not inside:
            probes.append(statement)

    inside: list[bool] = []  # while the other import runs

    def meanwhile(last_line: int) -> None:
        if last_line == 100:  # the run's first batch is in
            inside.append(True)
            beside.append(
                import_file(
                    factory,
                    _jsonl(tmp_path / "beside.jsonl", rows("电梯坏了", 50)),
                    username="agent",
                    project_code=None,
                    company_code=company,
                    now=NOW,
                )
            )
            inside.clear()

    event.listen(fresh_engine, "before_cursor_execute", seen)
    try:
        run = import_file(
            factory, _jsonl(tmp_path / "golive.jsonl", rows("楼道灯坏了", 300)),
            username="agent", project_code=None, company_code=company, now=NOW, batch=100,
            after_batch=meanwhile,
        )  # fmt: skip
    finally:
        event.remove(fresh_engine, "before_cursor_execute", seen)
    assert (run.imported, run.reserved_ids) == (300, True)
    assert (beside[0].imported, beside[0].reserved_ids) == (50, False)
    assert probes == []
    with factory() as session:
        found = session.execute(select(Complaint.id, Complaint.text)).all()
        events = list(session.scalars(select(Event.id)))
    assert len(found) == len({i for i, _ in found}) == 350
    assert len(events) == len(set(events)) == 700  # received and closed
    run_slots = {_slot(i) for i, t in found if t.startswith("楼道灯坏了")}
    beside_slots = {_slot(i) for i, t in found if t.startswith("电梯坏了")}
    assert run_slots == {7} and run_slots.isdisjoint(beside_slots)  # slots 7 … 1 tried
    assert {id_time(i) for i, _ in found} == {instant}
    # Loaded again at that instant later (the tables have rows): the next free numbers.
    again = import_file(
        factory, _jsonl(tmp_path / "later.jsonl", rows("水压低", 30)), username="agent",
        project_code=None, company_code=company, now=NOW,
    )  # fmt: skip
    assert (again.imported, again.reserved_ids) == (30, False)
    with factory() as session:
        assert _count(session, Complaint) == 380


def test_a_run_whose_own_numbers_are_used_up_reads_the_free_ones(
    fresh_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that holds a slot takes its numbers by batch; when they are used up (here
    after the first batch: a file whose every batch has many rows at one instant uses
    them faster) its next batches take a slot each and read the next free numbers, as
    before, and the run loads every row once. In two processes: the count of numbers
    taken is the run's, shared."""
    factory, company = pg_company(fresh_engine, "bulk id slots are PostgreSQL's")
    instant = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    taken = bulk.Numbers.take

    def once(self: bulk.Numbers, width: int) -> int:
        if self.counter.value:
            raise bulk.NumbersUsedUp("used up")
        return taken(self, width)

    monkeypatch.setattr(bulk.Numbers, "take", once)
    rows = [
        {"text": f"楼道灯坏了 {i}", "project": "P1", "received_at": instant.isoformat(), **LABELS}
        for i in range(250)
    ]
    report = import_file(
        factory, _jsonl(tmp_path / "one.jsonl", rows), username="agent", project_code=None,
        company_code=company, now=NOW, batch=100, processes=2,
    )  # fmt: skip
    assert (report.imported, report.reserved_ids) == (250, True)
    with factory() as session:
        ids = list(session.scalars(select(Complaint.id).order_by(Complaint.id)))
    assert len(ids) == len(set(ids)) == 250
    slots = Counter(_slot(i) for i in ids)
    assert slots[7] == 100 and sum(slots.values()) == 250  # one batch in the run's slot


# --- indexes made after the load (an empty PostgreSQL database) -----------------------


def _history_rows(n: int) -> list[dict[str, object]]:
    """Closed and open rows, labelled and not, some with an owner: a go-live's file."""
    long_ago = NOW - timedelta(days=500)
    rows: list[dict[str, object]] = []
    for i in range(n):
        at = long_ago + timedelta(hours=7 * i)
        row: dict[str, object] = {"text": f"电梯坏了 lift broken {i}", "project": "P1",
                                  "received_at": at.isoformat()}  # fmt: skip
        if i % 5:
            row |= {"status": "closed", "closed_at": (at + timedelta(days=2)).isoformat()}
        if i % 3:
            row |= LABELS
        if i % 4 == 0:
            row["owner_phone"] = "13800000001"
        rows.append(row)
    return rows


def _loaded(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every complaint and event an import made, as stored (without the staff's and the
    owner's own ids, made apart in each database, nor the run's id in the data)."""
    with engine.connect() as conn:
        complaints = conn.execute(
            text(
                "SELECT id, text, status, nature, category, urgency, department, label_source, "
                "model_version, needs_review, received_at, closed_at, respond_by, resolve_by, "
                "sla_check_at, response_level, resolution_level, search_terms, risk_flags, "
                "owner_id IS NOT NULL FROM complaints ORDER BY id"
            )
        ).all()
        events = conn.execute(
            text(
                "SELECT id, complaint_id, kind, at, field, old, new, data->>'line' FROM events "
                "ORDER BY id"
            )
        ).all()
    return [tuple(r) for r in complaints], [tuple(r) for r in events]


def _index_health(engine: Engine) -> tuple[int, int, set[int]]:
    """(invalid indexes of the history tables and their months, noted deferred
    indexes, each complaints month's index count)."""
    with engine.connect() as conn:
        invalid = conn.scalar(
            text(
                "SELECT count(*) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                "WHERE NOT (i.indisvalid AND i.indisready) AND t.relname ~ "
                "'^(complaints|events|follow_ups|visits|outbox|sla_checks)'"
            )
        )
        noted = bulk.deferred_count(Session(bind=conn))
        per_month = conn.scalars(
            text(
                "SELECT (SELECT count(*) FROM pg_indexes WHERE tablename = "
                "inhrelid::regclass::text) FROM pg_inherits "
                "WHERE inhparent = 'complaints'::regclass"
            )
        ).all()
    return int(invalid or 0), noted, set(per_month)


def _search_count(engine: Engine) -> int:
    with engine.connect() as conn:  # the search index preferred
        conn.execute(text("SET enable_seqscan = off"))
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM complaints WHERE "
                    "to_tsvector('simple', search_terms) @@ to_tsquery('simple', 'lift')"
                )
            )
            or 0
        )


def test_an_import_into_an_empty_database_makes_its_indexes_after_the_load(
    fresh_engine: Engine, databases: Databases, tmp_path: Path
) -> None:
    """Deferred and made after: the same rows, the same indexes, all valid, as an
    import that kept them up to date (into a second empty database)."""
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("indexes are deferred on PostgreSQL")
    kept_engine = databases.new("postgresql")
    path = _jsonl(tmp_path / "golive.jsonl", _history_rows(300))
    before = indexes(fresh_engine)
    reports = []
    for engine, mode in ((fresh_engine, Indexes.AUTO), (kept_engine, Indexes.KEEP)):
        factory = make_sessionmaker(engine)
        with unit_of_work(factory) as session:
            company = build_org(session).company.code
        seen: list[int] = []

        def during(last_line: int, engine: Engine = engine, seen: list[int] = seen) -> None:
            seen.append(len(indexes(engine)))

        report = import_file(
            factory, path, username="agent", project_code=None, company_code=company,
            now=NOW, batch=70, indexes=mode, after_batch=during,
        )  # fmt: skip
        reports.append(report)
        if mode is Indexes.AUTO:
            assert max(seen) < len(before) - 15  # the load ran without them
        else:
            assert set(seen) == {len(before)}
    deferred, kept = reports
    assert deferred.deferred_indexes >= 20 and kept.deferred_indexes == 0
    assert deferred.imported == kept.imported == 300 and deferred.rejected == kept.rejected == []
    assert indexes(fresh_engine) == indexes(kept_engine) == before
    health = _index_health(fresh_engine)
    assert health[:2] == (0, 0) and health == _index_health(kept_engine)
    assert len(health[2]) == 1  # every month has the parent's indexes
    assert _loaded(fresh_engine) == _loaded(kept_engine)
    assert _search_count(fresh_engine) == _search_count(kept_engine) == 300
    kept_engine.dispose()


def test_an_interrupted_deferred_import_resumes_and_makes_every_index(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    factory, company = pg_company(fresh_engine, "indexes are deferred on PostgreSQL")
    before = indexes(fresh_engine)
    rows = _history_rows(40)
    rows[12] = {"text": "", "project": "P1"}  # line 13 is refused, in whichever run reads it
    path = _jsonl(tmp_path / "resume.jsonl", rows)

    _import_interrupted(factory, path, company, batch=10, after_line=20)
    with factory() as session:
        waiting = bulk.deferred_count(session)
        assert waiting >= 20 and _count(session, Complaint) == 19
    assert "ix_complaints_owner" not in indexes(fresh_engine)
    # Resumed (in two processes): the tables hold its rows only, so it goes on
    # without them, and makes them at its end.
    second = import_file(
        factory, path, username="agent", project_code=None, company_code=company, now=NOW,
        batch=10, processes=2,
    )  # fmt: skip
    assert (second.resumed_after, second.imported, second.deferred_indexes) == (20, 20, waiting)
    assert second.rejected == []
    assert indexes(fresh_engine) == before and _index_health(fresh_engine)[:2] == (0, 0)
    with factory() as session:
        texts = list(session.scalars(select(Complaint.text)))
        assert len(texts) == len(set(texts)) == 39
        run = session.scalars(select(ImportRun)).one()
        assert (run.last_line, run.imported, run.rejected, run.finished_at is not None) == (
            40, 39, 1, True
        )  # fmt: skip
        assert [r.line for r in session.scalars(select(ImportRejection))] == [13]


def test_a_deferred_import_used_meanwhile_makes_the_indexes_first_when_resumed(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    """Interrupted, then the database is used (an event written by a serving process):
    the resumed run makes the indexes before it loads, and loads with them."""
    factory, company = pg_company(fresh_engine, "indexes are deferred on PostgreSQL")
    before = indexes(fresh_engine)
    path = _jsonl(tmp_path / "used.jsonl", _history_rows(30))

    _import_interrupted(factory, path, company, batch=10, after_line=0)  # after one batch
    with unit_of_work(factory) as session:
        assert bulk.deferred_count(session) >= 20
        some = session.scalars(select(Complaint.id).limit(1)).one()
        session.add(Event(complaint_id=some, at=NOW, kind="note"))  # a serving node's id
    seen: list[int] = []
    second = import_file(
        factory, path, username="agent", project_code=None, company_code=company, now=NOW,
        batch=10, after_batch=lambda _: seen.append(len(indexes(fresh_engine))),
    )  # fmt: skip
    assert (second.imported, second.deferred_indexes) == (20, 0)
    assert set(seen) == {len(before)}  # made before the rest loaded
    assert indexes(fresh_engine) == before and _index_health(fresh_engine)[:2] == (0, 0)


def test_a_resumed_deferred_import_checks_only_the_events_made_since_it_began(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    """Resuming with its indexes deferred, a run checks that nothing was served from
    the tables meanwhile: no event with a serving process's id. It reads only the
    events made since it began, not the whole table (review SHOULD: it scanned every
    month of the events, and at a go-live's size that is the whole history); it still
    loads nothing twice, and an event a server wrote meanwhile is still seen."""
    factory, company = pg_company(fresh_engine, "indexes are deferred on PostgreSQL")
    path = _jsonl(tmp_path / "bounded.jsonl", _history_rows(40))
    _import_interrupted(factory, path, company, batch=10, after_line=20)
    with fresh_engine.connect() as connection:
        history = set(
            connection.scalars(
                text(
                    "SELECT DISTINCT tableoid::regclass::text FROM events "
                    "WHERE tableoid <> 'events_default'::regclass"
                )
            )
        )
    assert history  # the loaded rows' months (not the default partition)

    checks: list[tuple[str, object]] = []

    def seen(_conn: object, _cursor: object, statement: str, parameters: object,
             _context: object, _many: bool) -> None:  # fmt: skip
        if "FROM events" in statement and "& CAST" in statement:
            checks.append((statement, parameters))

    event.listen(fresh_engine, "before_cursor_execute", seen)
    try:
        second = import_file(
            factory, path, username="agent", project_code=None, company_code=company,
            now=NOW, batch=10,
        )  # fmt: skip
    finally:
        event.remove(fresh_engine, "before_cursor_execute", seen)
    assert (second.resumed_after, second.imported) == (20, 20) and second.deferred_indexes
    with factory() as session:
        texts = list(session.scalars(select(Complaint.text)))
        assert len(texts) == len(set(texts)) == 40  # nothing loaded twice
    assert len(checks) == 1
    statement, parameters = checks[0]
    with fresh_engine.connect() as connection:
        plan = connection.exec_driver_sql(
            f"EXPLAIN (FORMAT JSON) {statement}",
            parameters,  # type: ignore[arg-type]
        ).scalar()
    read = set(_relations(plan))
    assert read and not read & history, read  # none of the loaded months


def _relations(plan: object) -> Iterator[str]:
    """The relations a plan (EXPLAIN's JSON) reads."""
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            yield str(plan["Relation Name"])
        for value in plan.values():
            yield from _relations(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _relations(value)


def test_a_database_with_history_keeps_its_indexes_during_an_import(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    factory, company = pg_company(fresh_engine, "indexes are deferred on PostgreSQL")
    first = import_file(
        factory, _jsonl(tmp_path / "first.jsonl", _history_rows(5)), username="agent",
        project_code=None, company_code=company, now=NOW, indexes=Indexes.KEEP,
    )  # fmt: skip
    assert (first.imported, first.deferred_indexes) == (5, 0)
    before = indexes(fresh_engine)
    path = _jsonl(tmp_path / "more.jsonl", _history_rows(30)[5:])
    # Asked for explicitly: refused, nothing loaded, no run recorded.
    with pytest.raises(InvalidInput, match="has complaints"):
        import_file(
            factory, path, username="agent", project_code=None, company_code=company, now=NOW,
            indexes=Indexes.AFTER,
        )  # fmt: skip
    with factory() as session:
        assert _count(session, Complaint) == 5 and _count(session, ImportRun) == 1
    seen: list[int] = []
    report = import_file(
        factory, path, username="agent", project_code=None, company_code=company, now=NOW,
        batch=10, after_batch=lambda _: seen.append(len(indexes(fresh_engine))),
    )  # fmt: skip
    assert (report.imported, report.deferred_indexes) == (25, 0)
    assert set(seen) == {len(before)} and indexes(fresh_engine) == before
    with factory() as session:
        assert bulk.deferred_count(session) == 0


def test_two_runs_restoring_the_deferred_indexes_at_once_make_each_once(
    databases: Databases,
) -> None:
    """Two imports into empty tables may both end by making the deferred indexes, at
    the same moment: each index is made once, by the run that claims its note, and
    neither fails (two builds of one index, or of two indexes over the same columns of
    one table, at once: a name taken twice in PostgreSQL's catalogue). Reviewer's case:
    before, 3 of 3 such runs failed with a UniqueViolation on pg_class."""
    import threading

    engine, factory, before, dropped = deferred_database(databases)
    assert len(dropped) > 10
    made: dict[int, list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(n: int) -> None:
        barrier.wait()
        try:
            made[n] = bulk.restore_indexes(factory, workers=2)
        except BaseException as exc:  # the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, [str(e).splitlines()[0] for e in errors]
    assert sorted(made[0] + made[1]) == sorted(dropped)  # each made once, all made
    assert indexes(engine) == before
    with factory() as session:
        assert bulk.deferred_count(session) == 0
        invalid = session.scalar(text("SELECT count(*) FROM pg_index WHERE NOT indisvalid"))
    assert invalid == 0


def _two_go_live_files(tmp_path: Path) -> tuple[Path, Path, int, int]:
    """Two go-live files of the same months, some rows of both at the very same
    instants, each with two rows refused: (first, second, good rows of each)."""
    first, second = _history_rows(240), _history_rows(180)
    for row in second:
        row["text"] = str(row["text"]).replace("电梯坏了 lift", "水管漏水 pipe")
    for rows in (first, second):
        rows[9] = {"text": "", "project": "P1"}
        rows[50] = {"text": "门禁坏了", "project": "P404"}
    return (
        _jsonl(tmp_path / "north.jsonl", first),
        _jsonl(tmp_path / "south.jsonl", second),
        len(first) - 2,
        len(second) - 2,
    )


@pytest.mark.parametrize("start", ["together", "once_the_first_has_rows"])
def test_two_go_live_imports_at_once_load_every_row_once_and_make_every_index(
    databases: Databases, tmp_path: Path, start: str
) -> None:
    """Two imports of different files into one empty database at the same time (two
    sites' histories on go-live day), from two threads: both finish (docs/bulk.md:
    "both load without them and both end by making them"), every good row of each
    file is there once, no id is taken twice, the refused rows are reported with their
    lines, the deferred indexes are all made and valid when both have ended, and no
    bulk id slot is left held. ``together``: both start at one moment (each holds a
    slot of its own, or the later, finding rows, takes slots batch by batch);
    ``once_the_first_has_rows``: the second starts after the first's first batch has
    committed, and the first goes on only once the second has committed one (the
    second reads ids in its batches' transactions while the first makes months).
    Before, a batch that had read ids then made a month in its own transaction: it
    waited for the partition makers' lock holding the table, the other import held
    that lock and waited for the table, and PostgreSQL ended one import (deadlock
    detected: in 2 runs of 3)."""
    engine = databases.new("postgresql")
    factory = make_sessionmaker(engine)
    with unit_of_work(factory) as session:
        company = build_org(session).company.code
    before = indexes(engine)
    north, south, north_good, south_good = _two_go_live_files(tmp_path)
    reports: dict[str, importer.ImportReport] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)
    first_in, second_in = threading.Event(), threading.Event()

    def after_first(_line: int) -> None:
        if start != "together" and not first_in.is_set():
            first_in.set()
            second_in.wait(120)  # the second is under way before the first goes on

    def after_second(_line: int) -> None:
        second_in.set()

    def run(name: str, path: Path, after: Callable[[int], None]) -> None:
        try:
            if start == "together":
                barrier.wait(60)
            elif name == "south":
                assert first_in.wait(120)
            reports[name] = import_file(
                factory, path, username="agent", project_code=None, company_code=company,
                now=NOW, batch=30, after_batch=after, classifier=KeywordClassifier(),
            )  # fmt: skip
        except BaseException as exc:  # the test reports it
            errors.append(exc)
            first_in.set()
            second_in.set()

    threads = [
        threading.Thread(target=run, args=("north", north, after_first)),
        threading.Thread(target=run, args=("south", south, after_second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not any(t.is_alive() for t in threads), "an import is still running after 300 s"
    assert not errors, [f"{type(e).__name__}: {e}".splitlines()[0] for e in errors]
    for name, good in (("north", north_good), ("south", south_good)):
        report = reports[name]
        assert report.imported == good, name
        assert [r.line for r in report.rejected] == [10, 51], name
    assert reports["north"].deferred_indexes + reports["south"].deferred_indexes >= 20
    with factory() as session:
        texts = Counter(session.scalars(select(Complaint.text)))
        ids = list(session.scalars(select(Complaint.id)))
        events = list(session.scalars(select(Event.id)))
        runs = session.execute(select(ImportRun.imported, ImportRun.finished_at)).all()
        advisory = session.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
    assert sum(1 for t in texts if t.startswith("电梯坏了")) == north_good
    assert sum(1 for t in texts if t.startswith("水管漏水")) == south_good
    assert set(texts.values()) == {1} and len(texts) == north_good + south_good
    assert len(ids) == len(set(ids)) and len(events) == len(set(events))
    assert sorted(r.imported for r in runs) == sorted((north_good, south_good))
    assert all(r.finished_at is not None for r in runs)
    assert advisory == 0  # no slot held, no restore lock left
    assert indexes(engine) == before
    invalid, noted, per_month = _index_health(engine)
    assert (invalid, noted) == (0, 0) and len(per_month) == 1
    assert _search_count(engine) == north_good  # "lift" is in the first file's texts
    engine.dispose()


def test_the_clash_keys_predict_the_names_postgresql_gives_the_partitions_indexes(
    databases: Databases,
) -> None:
    """The groups that :func:`bulk.restore_indexes` builds side by side come from the
    names PostgreSQL chooses for each partition's index: every restored index of a
    partitioned table has, on each of its partitions, an index named from the columns
    part :func:`bulk._column_names` reads (``complaints_2026_12_company_id_id_idx``, or
    the same with a number); the two indexes over the company's columns share a key,
    the complaints' other indexes do not, and the outbox's each have their own."""
    engine, factory, _, _ = deferred_database(databases)
    with factory() as session:
        noted = [
            (name, table, definition)
            for name, table, definition in session.execute(
                text("SELECT name, tablename, definition FROM bulk_deferred_indexes")
            )
        ]
        columns = bulk._column_names(session, [n for n in noted if n[1] != "outbox"])
        assert session.scalar(text("SELECT count(*) FROM pg_class WHERE relname ~ 'probe'")) == 0
    assert columns["ix_complaints_search"] == "project_id_to_tsvector"
    bulk.restore_indexes(factory, workers=2)
    keys = {
        name: bulk._clash_key(table, name, table != "outbox", columns.get(name), 18)
        for name, table, _ in noted
    }
    assert keys["ix_complaints_company"] == keys["ix_complaints_closed_company"]
    complaints = [n for n in keys if n.startswith("ix_complaints_")]
    assert len(complaints) == 19 and len({keys[n] for n in complaints}) == 15
    assert keys["ix_outbox_due"] != keys["ix_outbox_complaint"]
    checked = 0
    with engine.connect() as conn:
        for name, _, _ in noted:
            children = conn.execute(
                text(
                    "SELECT p.relname, c.relname FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_index x ON x.indexrelid = c.oid "
                    "JOIN pg_class p ON p.oid = x.indrelid WHERE i.inhparent = to_regclass(:n)"
                ),
                {"n": name},
            ).all()
            for partition, child in children:
                assert re.fullmatch(rf"{partition}_{columns[name]}_idx\d*", child), (name, child)
                checked += 1
    assert checked >= 19 * 4  # the complaints' at least, on each of their months


def test_a_restore_builds_beside_a_held_group_and_an_interrupted_build_resumes(
    databases: Databases,
) -> None:
    """The complaints' indexes are made on two connections at once, one group per
    clash key: while another run holds the search index's key, every other index is
    made (before, one table's indexes were one group, so the search index's wait held
    back all 19). That build, interrupted (its connection ended while it waits), keeps
    its note; the next restore makes it."""
    engine, factory, before, dropped = deferred_database(databases)
    assert "ix_complaints_search" in dropped
    errors: list[BaseException] = []
    with engine.connect() as holder:
        holder.execute(
            text("SELECT pg_advisory_lock(CAST(:k AS integer), hashtext(:t))"),
            {"k": bulk._RESTORE_LOCK, "t": "complaints:project_id_to_tsvector"},
        )

        def run() -> None:
            try:
                bulk.restore_indexes(factory, workers=2)
            except BaseException as exc:  # the test reports it
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 60
        waiting: list[str] = []
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                waiting = list(conn.scalars(text("SELECT name FROM bulk_deferred_indexes")))
                blocked = conn.scalar(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE wait_event = 'advisory' "
                        "AND datname = current_database()"
                    )
                )
            if waiting == ["ix_complaints_search"] and blocked:
                break
            time.sleep(0.1)
        assert waiting == ["ix_complaints_search"]  # all the others made meanwhile
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": blocked})
        thread.join(60)
        holder.execute(text("SELECT pg_advisory_unlock_all()"))
        holder.commit()
    assert not thread.is_alive() and len(errors) == 1  # the interrupted build's
    assert "ix_complaints_search" not in indexes(engine)
    with factory() as session:
        assert bulk.deferred_count(session) == 1  # its note kept
    assert bulk.restore_indexes(factory, workers=2) == ["ix_complaints_search"]
    assert indexes(engine) == before
    with factory() as session:
        assert bulk.deferred_count(session) == 0


def test_a_restore_behind_a_held_table_stops_saying_which_and_what_to_do(
    databases: Databases,
) -> None:
    """The restore's planning (the tables' sizes, the probe of an index's column names)
    waits for a table's lock at most bulk.PROBE_LOCK_TIMEOUT a try (before: for ever,
    unseen, behind an ACCESS EXCLUSIVE lock): behind a writer's transaction it tries
    again and goes on once it commits; behind a held ACCESS EXCLUSIVE lock (a VACUUM
    FULL, a migration) it stops with TableBusy naming the table, the holder and what
    to do, and the indexes stay noted; the next restore makes them (review item)."""
    engine, factory, before, dropped = deferred_database(databases)
    with engine.connect() as holder:
        holder.execute(text("LOCK TABLE complaints IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        with pytest.raises(bulk.TableBusy) as busy:
            bulk.restore_indexes(factory, workers=2)
        waited = time.monotonic() - started
        holder.rollback()
    said = str(busy.value)
    assert said.startswith("the deferred indexes were not made: a lock on complaints")
    assert "AccessExclusive on complaints" in said and "LOCK TABLE complaints" in said
    assert "run the same import again" in said and "bulk_deferred_indexes" in said
    assert waited < 60  # PROBE_ATTEMPTS_HELD tries of 2 s
    with factory() as session:
        assert bulk.deferred_count(session) == len(dropped)  # nothing made, all noted
    # The probe of the column names itself: its parent held, alone (EXCLUSIVE).
    with factory() as session:
        noted = session.execute(
            text("SELECT name, tablename, definition FROM bulk_deferred_indexes "
                 "WHERE tablename = 'events'")
        ).all()  # fmt: skip
        with engine.connect() as holder:
            holder.execute(text("LOCK TABLE ONLY events IN EXCLUSIVE MODE"))
            with pytest.raises(bulk.TableBusy, match=r"a lock on events was waited for 3 "):
                bulk._column_names(session, [tuple(n) for n in noted])
            holder.rollback()
    # A writer's open transaction (a batch) is waited through: tried again until it ends.
    with engine.connect() as writer:
        writer.execute(text("LOCK TABLE complaints IN ROW EXCLUSIVE MODE"))
        threading.Timer(3.0, writer.rollback).start()
        made = bulk.restore_indexes(factory, workers=2)
    assert sorted(made) == sorted(dropped)
    assert indexes(engine) == before
    engine.dispose()


# --- a month's partition busy (its locks held: db compact, a VACUUM) ------------------


def _import_beside_a_held_month(
    engine: Engine, path: Path, company: str, month: datetime, *, release_at_wait: int | None
) -> tuple[int, int]:
    """Import ``path`` (its rows all in ``month``, whose complaints partition is missing:
    the other tables' are made first) while another transaction holds a lock on an
    existing month of complaints, as ``db compact`` does: making ``month``'s partition
    waits for it. ``release_at_wait``: let go when making it starts waiting for the
    n-th time (None: hold until the import ends). Returns the waits seen, and the
    complaints left in the default partition."""
    with engine.begin() as connection:
        for table in ("events", "follow_ups", "visits"):
            partitions.create_month(connection, table, month)
        existing = connection.scalar(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'complaints'::regclass AND c.relname <> "
                "'complaints_default' ORDER BY c.relname LIMIT 1"
            )
        )
    waits: set[object] = set()
    held, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with engine.connect() as holder, engine.connect() as watcher:
                holder.execute(text(f"LOCK TABLE {existing} IN SHARE UPDATE EXCLUSIVE MODE"))
                held.set()
                while not done.is_set():
                    # Each attempt to make the month waits anew (its own waitstart).
                    waits.update(
                        watcher.scalars(
                            text(
                                "SELECT waitstart FROM pg_locks WHERE NOT granted "
                                "AND waitstart IS NOT NULL AND relation = CAST(:r AS regclass)"
                            ),
                            {"r": existing},
                        )
                    )
                    watcher.rollback()
                    if release_at_wait is not None and len(waits) >= release_at_wait:
                        holder.rollback()
                    done.wait(0.02)
                holder.rollback()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
            held.set()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(60)
        report = import_file(
            make_sessionmaker(engine), path, username="agent", project_code=None,
            company_code=company, now=NOW, batch=100, indexes=Indexes.KEEP,
        )  # fmt: skip
    finally:
        done.set()
        thread.join(60)
    assert errors == [] and report.rejected == []
    with engine.connect() as connection:
        in_default = connection.scalar(text("SELECT count(*) FROM complaints_default"))
    return len(waits), int(in_default or 0)


def test_a_batch_whose_month_is_busy_tries_again_then_says_its_rows_went_to_the_default(
    fresh_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bulk batch makes its months' partitions first; one whose locks are held past
    partitions.MAKE_LOCK_TIMEOUT is left (busy), and its rows go to the default
    partition. The batch tries once more; if still busy it says which month's rows
    went there (review SHOULD: it said nothing, and did not try again)."""
    _, company = pg_company(fresh_engine, "partitions are PostgreSQL's")
    first = datetime(2025, 3, 1, tzinfo=UTC)
    second = datetime(2025, 5, 1, tzinfo=UTC)

    def rows(month: datetime, tag: str) -> list[dict[str, object]]:
        return [
            {"text": f"电梯坏了 {tag} {i}", "project": "P1", **LABELS, "status": "closed",
             "received_at": (month + timedelta(days=3, hours=i)).isoformat(),
             "closed_at": (month + timedelta(days=5, hours=i)).isoformat()}
            for i in range(3)
        ]  # fmt: skip

    # Held past the first attempt only: the second makes the month, nothing in default.
    path = _jsonl(tmp_path / "retry.jsonl", rows(first, "a"))
    with caplog.at_level(logging.WARNING, logger="complaintdesk.services.bulk"):
        waits, in_default = _import_beside_a_held_month(
            fresh_engine, path, company, first, release_at_wait=2
        )
    assert (waits, in_default) == (2, 0)
    assert "default partition" not in caplog.text
    with fresh_engine.connect() as connection:
        made = partitions.partition_name("complaints", first)
        assert connection.scalar(text(f"SELECT count(*) FROM {made}")) == 3

    # Held through both attempts: the rows go to the default partition, and it is said.
    caplog.clear()
    path = _jsonl(tmp_path / "busy.jsonl", rows(second, "b"))
    with caplog.at_level(logging.WARNING, logger="complaintdesk.services.bulk"):
        waits, in_default = _import_beside_a_held_month(
            fresh_engine, path, company, second, release_at_wait=None
        )
    assert (waits, in_default) == (2, 3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "3 complaints of 2025-05" in warnings[0] and "default partition" in warnings[0]
    assert "complaints_2025_05" in warnings[0]


def test_serve_and_readyz_say_when_an_interrupted_go_live_left_its_indexes_unmade(
    fresh_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An import into empty tables (``--indexes auto``) drops the history tables'
    secondary indexes and makes them at its end; interrupted, they stay unmade until it
    is run again. A server started meanwhile serves (the answers are right, reads of
    those tables scan), and says so: a warning as ``serve`` starts, and /readyz's
    ``indexes`` check, still ready (review SHOULD: neither said anything)."""
    from fastapi.testclient import TestClient

    from complaintdesk import serving
    from complaintdesk.classify.keyword import KeywordClassifier
    from complaintdesk.web.app import create_app

    factory = make_sessionmaker(fresh_engine)
    client = TestClient(create_app(factory, classifier=KeywordClassifier()))
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["indexes"] == "ok"
    with caplog.at_level(logging.WARNING, logger="complaintdesk.serve"):
        assert serving.warn_deferred_indexes(factory) == "ok"
    assert caplog.text == ""
    if fresh_engine.dialect.name != "postgresql":
        return  # indexes are deferred on PostgreSQL only
    with unit_of_work(factory) as session:
        company = build_org(session).company.code
    path = _jsonl(tmp_path / "golive.jsonl", _history_rows(20))
    _import_interrupted(factory, path, company, batch=10, after_line=0)
    with factory() as session:
        waiting = bulk.deferred_count(session)
    assert waiting >= 20

    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    said = ready.json()["checks"]["indexes"]
    assert said.startswith(f"deferred: {waiting} secondary indexes"), said
    assert "run the same import again" in said and "scan" in said
    with caplog.at_level(logging.WARNING, logger="complaintdesk.serve"):
        assert serving.warn_deferred_indexes(factory) == said
    assert said in caplog.text

    # Resumed, the import makes them: nothing more to say.
    import_file(
        factory, path, username="agent", project_code=None, company_code=company, now=NOW,
        batch=10,
    )  # fmt: skip
    assert client.get("/readyz").json()["checks"]["indexes"] == "ok"
