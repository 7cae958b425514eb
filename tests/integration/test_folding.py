"""A settled complaint's events folded into one row (``db compact``, db/folding.py):
every reader sees the same history as before, on both databases."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db import folding, partitions
from complaintdesk.db.ids import LOW_BITS, id_time
from complaintdesk.db.models import Complaint, Event, Outbox, Staff
from complaintdesk.domain.taxonomy import Channel, Department
from complaintdesk.services import (
    closing,
    dispatch,
    intake,
    labels,
    owner_reply,
    queries,
    resolve,
    visits,
)
from complaintdesk.services.common import record_event
from complaintdesk.services.corrections import corrected_examples
from complaintdesk.services.delivery import LogChannel, deliver
from complaintdesk.services.generate import generate
from complaintdesk.services.retention import purge_outbox, records
from complaintdesk.web.presenter import owner_steps
from tests.conftest import NOW, Databases, Org, build_org

CLASSIFIER = KeywordClassifier()
SUMMARY = closing.Summary(
    cause="门机板老化", lesson="巡检未覆盖", corrective_action="更换", preventive_action="月检"
)


def _register(session: Session, acme: Org, text: str, minutes: int) -> Complaint:
    new = intake.NewComplaint(
        project_id=acme.project.id, text=text, channel=Channel.PHONE, owner_id=acme.owner.id
    )
    return intake.register(session, acme.guard, new, CLASSIFIER, NOW + timedelta(minutes=minutes))


def _closed(
    session: Session, acme: Org, text: str, minutes: int, *, correct: bool = False
) -> Complaint:
    c = _register(session, acme, text, minutes)
    at = NOW + timedelta(minutes=minutes)
    if correct:  # a staff correction: the complaint becomes a training example
        labels.correct_labels(session, acme.agent, c, {"urgency": "high"}, at)
    dispatch.dispatch(
        session,
        acme.agent,
        c,
        at + timedelta(minutes=5),
        department=Department.ENGINEERING,
        assignee_id=acme.engineer.id,
    )
    dispatch.start(session, acme.engineer, c, at + timedelta(minutes=10))
    resolve.resolve(
        session, acme.engineer, c, at + timedelta(hours=3),
        outcome=resolve.Outcome.FIXED, resolution="更换了电梯门机板",
    )  # fmt: skip
    visits.record_visit(session, acme.agent, c, at + timedelta(hours=5), satisfaction=5)
    closing.close(session, acme.agent, c, at + timedelta(hours=6), SUMMARY)
    return c


def _seen(events: list[Event]) -> list[tuple[Any, ...]]:
    return [
        (e.id, e.complaint_id, e.at, e.actor_id, e.kind, e.field, e.old, e.new, e.data,
         queries.event_data(e))
        for e in events
    ]  # fmt: skip


def _rows(session: Session, complaint: Complaint) -> list[str]:
    return list(
        session.scalars(
            select(Event.kind).where(Event.complaint_id == complaint.id).order_by(Event.id)
        )
    )


def test_a_folded_complaint_reads_as_before_everywhere(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    closed = _closed(session, acme, "楼道灯不亮了,麻烦安排师傅换个灯泡", 0, correct=True)
    withdrawn = _register(session, acme, "楼道灯不亮了", 1)
    closing.withdraw(session, acme.agent, withdrawn, NOW + timedelta(hours=1), reason="自己修好了")
    still_open = _register(session, acme, "门禁坏了", 2)
    session.commit()
    log = LogChannel()
    channels = {"sms": log, "email": log, "wechat": log, "log": log}
    assert deliver(factory, channels, NOW + timedelta(hours=7)).sent > 5
    purge_outbox(factory, NOW + timedelta(days=40))  # every message past retention
    session.expire_all()
    timelines = {c.id: _seen(queries.timeline(session, c)) for c in (closed, withdrawn, still_open)}
    steps = owner_steps(session, closed, "en")
    examples = corrected_examples(session)
    withdrawn_page = queries.list_complaints(
        session, acme.admin, queries.ComplaintFilter(status="withdrawn"), NOW
    )
    assert len(timelines[closed.id]) >= 6 and examples and withdrawn_page[0]
    assert any("sent" in (e[8] or {}) for e in timelines[closed.id])  # delivery records
    before_rows = _rows(session, still_open)

    low, high = partitions.bounds(partitions.month_start(id_time(closed.id)))
    report = folding.fold(session.connection(), low, high)
    session.expire_all()

    # The closed one is one row; the withdrawn one keeps its withdraw event beside
    # its fold (the withdrawn list's index); the open one is as it was.
    assert report.complaints == 2
    assert _rows(session, closed) == [folding.FOLDED]
    assert _rows(session, withdrawn) == [folding.FOLDED, "withdraw"]
    assert _rows(session, still_open) == before_rows
    for c in (closed, withdrawn, still_open):
        assert _seen(queries.timeline(session, c)) == timelines[c.id], c.id
    assert owner_steps(session, closed, "en") == steps
    assert corrected_examples(session) == examples  # the received event's labels
    assert (
        queries.list_complaints(
            session, acme.admin, queries.ComplaintFilter(status="withdrawn"), NOW
        )
        == withdrawn_page
    )

    # Twice: nothing to do.
    assert folding.fold(session.connection(), low, high).complaints == 0
    assert _rows(session, closed) == [folding.FOLDED]

    # An event after the fold (the complaint taken up again) is a row of its own; the
    # timeline has both; the next fold takes it in.
    later = record_event(
        session, closed, acme.manager, "follow_up", NOW + timedelta(days=50), data={"note": "复查"}
    )
    session.flush()
    session.expire_all()
    merged = _seen(queries.timeline(session, closed))
    assert merged[:-1] == timelines[closed.id] and merged[-1][0] == later.id
    assert merged[-1][4] == "follow_up" and merged[-1][8] == {"note": "复查"}
    assert _rows(session, closed) == [folding.FOLDED, "follow_up"]
    assert folding.fold(session.connection(), low, high).complaints == 1
    session.expire_all()
    assert _rows(session, closed) == [folding.FOLDED]
    assert _seen(queries.timeline(session, closed)) == merged


def test_a_complaint_with_messages_waiting_is_not_folded(session: Session, acme: Org) -> None:
    closed = _closed(session, acme, "8号楼电梯停了两天了", 0)  # its messages not sent yet
    session.flush()
    kinds = _rows(session, closed)
    low, high = partitions.bounds(partitions.month_start(id_time(closed.id)))
    assert folding.fold(session.connection(), low, high).complaints == 0
    assert _rows(session, closed) == kinds


def test_encoding_is_compact_and_exact() -> None:
    epoch = datetime(2020, 1, 1, tzinfo=UTC)  # the ids' (db/ids.py)

    def made(ms: int, low: int) -> int:
        return (ms << LOW_BITS) | low

    at = epoch + timedelta(milliseconds=1000, microseconds=300)
    later = timedelta(days=3)
    entries = [
        folding.Entry(made(1000, 5), at, 7, "received", {"labels": "a b c d"}, None, None, None),
        folding.Entry(made(1500, 6), at + timedelta(milliseconds=500, microseconds=-3), None,
                      "escalated", None, None, None, None),
        folding.Entry(made(1500, 7), at + timedelta(milliseconds=500, microseconds=1) + later,
                      8, "assigned", None, "assignee", "7", "8"),
        folding.Entry(made(1501, 0), at + timedelta(milliseconds=501, microseconds=-3), 8,
                      "some_new_kind", {"x": 1}, None, None, None),
    ]  # fmt: skip
    row_id, row_at, folded = folding.encode(list(reversed(entries)))
    assert (row_id, row_at) == (made(1000, 5), at)
    # One string of the fixed parts: actors once; then a kind's letter (or its name),
    # the id's milliseconds after the one before and its low bits, the change of the
    # microseconds from the id's millisecond to the time, the actor's place (base 36,
    # 0 left empty); then each entry's data, a field, old or new with its data.
    assert folded == [
        "7,8;r,,5,,0;e,dw,6,-3,;a,,7,3b2ozk04,1;some_new_kind,1,,-3b2ozk04,1",
        {"labels": "a b c d"},
        None,
        [None, "assignee", "7", "8"],
        {"x": 1},
    ]
    assert folding.decode(row_id, row_at, folded) == entries
    data = folding.pack(folded)
    assert list(data) == ["packed"] and len(data["packed"]) < len(json.dumps(folded))
    assert folding.unpack(data) == folded


def _files(engine: Engine, *tables: str) -> tuple[int, ...]:
    with engine.connect() as connection:
        return tuple(
            int(connection.scalar(text("SELECT pg_relation_filenode(:t)"), {"t": t}) or 0)
            for t in tables
        )


def test_compact_folds_a_settled_month_and_rewrites_its_events(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL: the month's events partition is rewritten (its room given back),
    the timelines read as before, and a second compaction folds nothing."""
    engine = databases.new("postgresql")
    try:
        factory = sessionmaker(engine)
        generate(factory, rows=1500, now=NOW, years=0.3, company_code="fold", batch=1500)
        month = partitions.add_months(partitions.month_start(NOW), -2)
        events = partitions.partition_name("events", month)
        low, high = partitions.bounds(month)
        with factory() as session:
            some = list(
                session.scalars(
                    select(Complaint)
                    .where(Complaint.id >= low, Complaint.id < high)
                    .order_by(Complaint.id)
                    .limit(60)
                )
            )
            assert len(some) == 60
            before = {c.id: _seen(queries.timeline(session, c)) for c in some}
            rows_before = session.scalar(select(func.count()).select_from(Event))
        complaints = partitions.partition_name("complaints", month)
        files_before = _files(engine, events, complaints)

        # Without --fold, compaction folds nothing and rewrites no heap.
        plain = partitions.compact_month(engine, month)
        assert (plain.folded, plain.rewritten) == (0, [])
        assert _files(engine, events, complaints) == files_before
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(Event)) == rows_before

        report = partitions.compact_month(engine, month, fold=True)

        assert report.folded > 100 and report.folded_rows > 3 * report.folded
        assert report.rewritten == [events] and events in report.tables
        # The events partition rewritten whole (a new file), the complaints' not.
        files_after = _files(engine, events, complaints)
        assert files_after[0] != files_before[0] and files_after[1] == files_before[1]
        with factory() as session:
            assert {c.id: _seen(queries.timeline(session, c)) for c in some} == before
            rows_after = session.scalar(select(func.count()).select_from(Event))
        assert rows_before - rows_after == report.folded_rows - report.folded

        with engine.connect() as connection:
            left_room = partitions.rewrite_wanted(connection, events)
        assert report.again == ([events] if left_room else []) and report.busy == []
        again = partitions.compact_month(engine, month, fold=True)
        # Nothing to fold; rewritten again only if the first rewrite had to keep the
        # deleted rows (a transaction older than the fold ran on the server meanwhile).
        assert again.folded == 0
        assert again.rewritten == ([events] if left_room else [])
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(Event)) == rows_after
            assert {c.id: _seen(queries.timeline(session, c)) for c in some} == before

        # The month before, while a transaction reads its events: the rewrite is given
        # up after its lock's timeout and the partition named; run again, it is done.
        earlier = partitions.add_months(month, -1)
        earlier_events = partitions.partition_name("events", earlier)
        holding, release = threading.Event(), threading.Event()

        def read_meanwhile() -> None:
            with engine.connect() as reader:
                reader.execute(text(f"SELECT count(*) FROM {earlier_events}"))  # its lock
                holding.set()
                release.wait(120)
                reader.rollback()

        rewrite = partitions._rewrite

        def rewrite_then_end_the_read(connection: Any, name: str) -> bool:
            try:
                return rewrite(connection, name)
            finally:  # the reindex after it waits for the reader's transaction
                release.set()

        monkeypatch.setattr(partitions, "_rewrite", rewrite_then_end_the_read)
        reading = threading.Thread(target=read_meanwhile)
        reading.start()
        assert holding.wait(60)
        busy = partitions.compact_month(engine, earlier, fold=True)
        reading.join(60)
        monkeypatch.setattr(partitions, "_rewrite", rewrite)
        assert busy.folded > 0 and busy.busy == [earlier_events] and busy.rewritten == []
        done = partitions.compact_month(engine, earlier, fold=True)
        assert done.folded == 0 and done.rewritten == [earlier_events] and done.busy == []
    finally:
        engine.dispose()


def test_a_message_committed_while_the_fold_runs_keeps_its_delivery_record(
    fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff message the owner of a closed complaint between the fold's choice of
    complaints ("closed, nothing in the outbox") and its read of their events. On one
    snapshot the fold does not see that event, which stays a row of its own: the
    purge then finds it by id and keeps its delivery record. (At READ COMMITTED the
    event was folded while its message waited, and the record was lost.)"""
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("SQLite's transactions are IMMEDIATE: the message waits for the fold's")
    factory = sessionmaker(fresh_engine, expire_on_commit=False)
    with factory() as session:
        acme = build_org(session)
        complaint = _closed(session, acme, "楼道灯不亮了,麻烦安排师傅换个灯泡", 0)
        session.commit()
        complaint_id, agent_id = complaint.id, acme.agent.id
    log = LogChannel()
    channels = {"sms": log, "email": log, "wechat": log, "log": log}
    deliver(factory, channels, NOW + timedelta(hours=7))
    purge_outbox(factory, NOW + timedelta(days=40))
    chosen = folding._settled

    def chosen_then_messaged(*args: Any, **kwargs: Any) -> list[int]:
        ids = chosen(*args, **kwargs)
        if complaint_id in ids:
            with factory() as other:  # another connection, committed at once
                owner_reply.message_owner(
                    other,
                    other.get_one(Staff, agent_id),
                    other.get_one(Complaint, complaint_id),
                    "复查结果: 灯已更换",
                    NOW + timedelta(days=41),
                )
                other.commit()
        return ids

    monkeypatch.setattr(folding, "_settled", chosen_then_messaged)
    low, high = partitions.bounds(partitions.month_start(id_time(complaint_id)))
    assert folding.fold(fresh_engine, low, high).complaints == 1
    monkeypatch.setattr(folding, "_settled", chosen)
    with factory() as session:
        kinds = sorted(
            session.scalars(select(Event.kind).where(Event.complaint_id == complaint_id))
        )
        assert kinds == [folding.FOLDED, "owner_messaged"]
    deliver(factory, channels, NOW + timedelta(days=41, hours=1))
    purge_outbox(factory, NOW + timedelta(days=80))
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Outbox)) == 0  # purged
        timeline = queries.timeline(session, session.get_one(Complaint, complaint_id))
        messaged = [e for e in timeline if e.kind == "owner_messaged"]
        assert len(messaged) == 1 and records(messaged[0].data or {}), messaged[0].data
