"""Synthetic history through the bulk path: whole lifecycles, both languages."""

from __future__ import annotations

import multiprocessing
import re
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.base import default_classifier
from complaintdesk.db import partitions
from complaintdesk.db.engine import make_sessionmaker
from complaintdesk.db.ids import id_node, id_time
from complaintdesk.db.models import Complaint, Event, FollowUp, Outbox, OwnerUnit, Unit, Visit
from complaintdesk.domain import rules
from complaintdesk.domain.lifecycle import Status
from complaintdesk.domain.messages import language_of_text
from complaintdesk.services import bulk, queries
from complaintdesk.services.escalation import sweep
from complaintdesk.services.generate import generate
from complaintdesk.services.retention import deliveries, record
from tests.conftest import NOW
from tests.integration.bulk_setup import indexes, pg_factory


def test_generate_makes_history_with_whole_lifecycles(
    factory: sessionmaker[Session], session: Session
) -> None:
    report = generate(factory, rows=3000, now=NOW, seed=11, years=1, company_code="gen-test")
    assert report.complaints == 3000
    rows = session.scalars(select(Complaint)).all()
    made = [c for c in rows if id_node(c.id) >= 512]
    assert len(made) == 3000
    assert all(id_time(c.id) == c.received_at for c in made)  # ids say when
    statuses = Counter(c.status for c in made)
    assert statuses[Status.CLOSED] > 2000  # most history is closed
    assert statuses[Status.WITHDRAWN] > 0
    open_ = [c for c in made if Status(c.status).is_open]
    overdue = [c for c in open_ if c.resolve_by and c.resolve_by < NOW - timedelta(days=30)]
    assert overdue, "a share of old complaints is still open and overdue"
    assert {language_of_text(c.text) for c in made} == {"zh", "en"}
    # Repeats point at the same owner's earlier complaint on the same matter.
    by_id = {c.id: c for c in made}
    repeats = [c for c in made if c.repeat_of_id is not None]
    assert repeats
    for c in repeats:
        earlier = by_id[c.repeat_of_id]
        assert (earlier.owner_id, earlier.category) == (c.owner_id, c.category)
        assert earlier.received_at < c.received_at
    # Each repeat's received event names the earlier complaint, as the live path's does
    # (data.repeat_of, the id as a string); no other received event names one.
    received = dict(
        session.execute(
            select(Event.complaint_id, Event.data).where(
                Event.kind == "received", Event.complaint_id.in_(list(by_id))
            )
        ).all()
    )
    assert len(received) == len(made)
    for c in made:
        expected = None if c.repeat_of_id is None else str(c.repeat_of_id)
        assert (received[c.id] or {}).get("repeat_of") == expected, c.id
    assert any("sent" in (received[c.id] or {}) for c in repeats), "with a delivery record too"
    # Incidents: many owners of one building within hours.
    building_of = {
        owner: building
        for owner, building in session.execute(
            select(OwnerUnit.owner_id, Unit.building_id).join(Unit, Unit.id == OwnerUnit.unit_id)
        )
    }
    by_building: dict[tuple[int, str], list[Complaint]] = {}
    for c in sorted(made, key=lambda c: c.received_at):
        assert c.owner_id is not None
        by_building.setdefault((building_of[c.owner_id], c.category), []).append(c)
    assert any(
        len({x.owner_id for x in group[i : i + 5]}) == 5
        and group[i + 4].received_at - group[i].received_at <= timedelta(hours=3)
        for group in by_building.values()
        for i in range(len(group) - 4)
    ), "an incident: five owners of one building within three hours"
    closed = [c for c in made if c.status == Status.CLOSED]
    ids = [c.id for c in closed]
    kinds = Counter(session.scalars(select(Event.kind).where(Event.complaint_id.in_(ids[:500]))))
    for kind in ("received", "dispatch", "start", "resolve", "visit_satisfied", "close"):
        assert kinds[kind] == min(len(ids), 500), kind
    # The steps store no status change (each follows the one before); the timeline
    # answers every one, as the bulk path stored them before.
    assert not session.scalars(
        select(Event.field).where(Event.complaint_id.in_(ids[:500]), Event.field.is_not(None))
    ).first()
    assert [(e.kind, e.field, e.old, e.new) for e in queries.timeline(session, closed[0])] == [
        ("received", "status", None, "received"),
        ("dispatch", "status", "received", "dispatched"),
        ("start", "status", "dispatched", "in_progress"),
        ("resolve", "status", "in_progress", "resolved"),
        ("visit_satisfied", "status", "resolved", "visited"),
        ("close", "status", "visited", "closed"),
    ]
    withdrawn = next(c for c in made if c.status == Status.WITHDRAWN)
    assert [(e.kind, e.field, e.old, e.new) for e in queries.timeline(session, withdrawn)] == [
        ("received", "status", None, "received"),
        ("withdraw", "status", "received", "withdrawn"),  # as a live withdrawal reads
    ]
    assert session.scalar(select(func.count()).select_from(Visit)) >= len(closed)
    assert session.scalar(select(func.count()).select_from(FollowUp)) > len(made) // 3
    assert all(c.satisfaction is not None for c in closed)
    # Older messages left their delivery record in the event, as JSON (the bulk path
    # COPYs it in binary on PostgreSQL: an object, not a string).
    old = [c.id for c in made if c.received_at < NOW - timedelta(days=40)][:50]
    records = session.execute(
        select(Event.at, Event.data).where(Event.complaint_id.in_(old), Event.kind == "received")
    ).all()
    assert len(records) == len(old)
    # The same record as the outbox purge writes (retention.record): the event's one
    # record, stored as the string: the channel and the seconds from the event to the
    # sending (2 to 60 here), the owner unnamed.
    assert all(r is not None and re.fullmatch(r"sms \+\d+", r["sent"]) for _, r in records), (
        records[:3]
    )
    at, data = records[0]
    first = deliveries(data, at)[0]
    assert first.at is not None
    sent = datetime.fromisoformat(first.at)
    assert timedelta(seconds=1) <= sent - at <= timedelta(seconds=61)
    assert data["sent"] == record("owner", "sms", sent, at)
    # Times and codes read back as they were made.
    assert all(c.label_source == "auto" for c in made)
    # Risk flags as the write path finds them in the words (the classifier's generator
    # writes some owners who threaten to withhold fees or go to the media).
    for c in made:
        assert c.risk_flags == [r.value for r in rules.risk_flags(c.text)], c.text
        assert c.at_risk == bool(c.risk_flags)
    assert any(c.at_risk for c in made)
    # "Needs review" where the classifier was unsure, until someone dispatched it.
    waiting = [c for c in made if c.assignee_id is None]
    unsure = default_classifier().predict([c.text for c in waiting])
    assert [c.needs_review for c in waiting] == [p.needs_review for p in unsure]
    assert not any(c.needs_review for c in made if c.assignee_id is not None)
    assert all(c.search_terms for c in made)
    # Only messages inside the outbox's retention are still there, all sent.
    sent = session.scalars(select(Outbox)).all()
    assert sent
    assert all(m.status == "sent" and NOW - m.created_at < timedelta(days=31) for m in sent)
    # The generated open work was escalated in its time: no storm at the next sweep.
    assert sweep(factory, NOW).escalations == 0


def test_generate_in_two_processes_makes_every_row_once(fresh_engine: Engine) -> None:
    factory = pg_factory(fresh_engine, "several generating processes are for PostgreSQL")
    report = generate(factory, rows=900, now=NOW, seed=5, years=1, batch=200, processes=2)
    assert report.complaints == 900
    with factory() as session:
        ids = list(session.scalars(select(Complaint.id)))
        assert len(ids) == len(set(ids)) == 900
        events = session.scalar(select(func.count()).select_from(Event)) or 0
        assert events == report.events > 900


def test_generate_writes_in_time_order_with_the_hours_weighted(fresh_engine: Engine) -> None:
    """The batches follow each other through the year, as a live system writes: each
    month's rows lie in the order of their ids (PostgreSQL's correlation of a column's
    values with the rows' physical order: about 0 for rows written in random order);
    and more complaints come in the evening than at night, every day alike."""
    factory = make_sessionmaker(fresh_engine)
    generate(factory, rows=4000, now=NOW, seed=3, years=1, batch=50, processes=1)
    with factory() as session:
        received = list(session.scalars(select(Complaint.received_at)))
    hours = Counter(at.hour for at in received)
    assert hours[19] + hours[20] > 8 * (hours[2] + hours[3])  # weights 4.5 against 0.2
    days = Counter(at.date() for at in received)
    assert len(days) > 300  # spread over the year
    if fresh_engine.dialect.name != "postgresql":
        return
    with fresh_engine.begin() as conn:
        conn.execute(text("ANALYZE complaints"))
        correlations = conn.scalars(
            text(
                "SELECT s.correlation FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename "
                "WHERE s.attname = 'id' AND c.reltuples >= 100 AND c.oid IN "  # whole months
                "(SELECT inhrelid FROM pg_inherits WHERE inhparent = 'complaints'::regclass)"
            )
        ).all()
    assert len(correlations) >= 12
    assert min(correlations) > 0.9, correlations  # 80 batches, about 7 a month
    # Every row in its month's partition: a batch's later steps (events, follow-ups,
    # visits, days or weeks after the complaints) reach months no complaint of the
    # batch is in, and rows written before their month's partition is made stay in the
    # default partition, which then keeps that month from ever getting one.
    with fresh_engine.connect() as conn:
        waiting = {
            table: conn.scalar(text(f"SELECT count(*) FROM {table}_default"))
            for table in partitions.PARTITIONED
        }
        months = conn.scalar(
            text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")
        )
    assert waiting == dict.fromkeys(partitions.PARTITIONED, 0)
    assert months >= 13  # the year's months, and the default


def test_generate_into_an_empty_database_makes_the_indexes_after_the_load(
    fresh_engine: Engine,
) -> None:
    factory = pg_factory(fresh_engine, "indexes are deferred on PostgreSQL")
    before = indexes(fresh_engine)
    report = generate(factory, rows=1500, now=NOW, seed=5, years=1, batch=500, processes=2)
    assert report.deferred_indexes >= 20  # complaints' list indexes, search, events, …
    after = indexes(fresh_engine)
    # Every index there was is there again, with the same definition, and every month
    # the load made has the parents' indexes too.
    assert after == before
    with fresh_engine.connect() as conn:
        months = conn.scalars(
            text(
                "SELECT inhrelid::regclass::text FROM pg_inherits "
                "WHERE inhparent = 'complaints'::regclass"
            )
        ).all()
        per_month = {
            m: conn.scalar(text("SELECT count(*) FROM pg_indexes WHERE tablename = :m"), {"m": m})
            for m in months
        }
        parent = conn.scalar(text("SELECT count(*) FROM pg_indexes WHERE tablename = 'complaints'"))
        assert conn.scalar(text("SELECT count(*) FROM bulk_deferred_indexes")) == 0
        # The search index answers again.
        found = conn.scalar(
            text(
                "SELECT count(*) FROM complaints "
                "WHERE to_tsvector('simple', search_terms) @@ to_tsquery('simple', 'lift')"
            )
        )
    assert len(months) > 12 and set(per_month.values()) == {parent}
    assert found is not None
    # A second run into the database that now has complaints keeps its indexes.
    again = generate(factory, rows=200, now=NOW, seed=6, years=1, company_code="gen-2")
    assert again.complaints == 200 and again.deferred_indexes == 0
    assert indexes(fresh_engine) == after


def test_indexes_left_dropped_by_an_interrupted_load_are_made_by_the_next_run(
    fresh_engine: Engine,
) -> None:
    factory = pg_factory(fresh_engine, "indexes are deferred on PostgreSQL")
    before = indexes(fresh_engine)
    with fresh_engine.begin() as conn:  # a load that dropped them, then died
        dropped = bulk.defer_indexes(conn)
    assert "ix_complaints_owner" in dropped and "ix_complaints_owner" not in indexes(fresh_engine)
    report = generate(factory, rows=100, now=NOW, seed=5, years=1, defer_indexes=False)
    assert report.complaints == 100
    assert indexes(fresh_engine).items() >= before.items()


def test_a_run_over_empty_tables_owns_the_bulk_id_range_and_takes_ids_by_batch(
    fresh_engine: Engine,
) -> None:
    factory = pg_factory(fresh_engine, "the bulk id range is held with PostgreSQL advisory locks")

    def free_slots() -> int:
        with fresh_engine.connect() as other:  # another loader's batch
            return sum(
                bool(
                    other.scalar(
                        text("SELECT pg_try_advisory_xact_lock(CAST(:k AS integer), :s)"),
                        {"k": bulk._LOCK_KEY, "s": s},
                    )
                )
                for s in range(bulk.BULK_SLOTS)
            )

    with bulk.own_bulk_ids(factory) as empty:
        assert empty
        assert free_slots() == 0  # other loaders wait until the run ends
    assert free_slots() == bulk.BULK_SLOTS
    # An import holds a slot for its whole run (own_bulk_slot): the run does not wait
    # for it (holding the others meanwhile), it takes slots batch by batch.
    with fresh_engine.connect() as importing:
        importing.execute(
            text("SELECT pg_advisory_lock(CAST(:k AS integer), 7)"), {"k": bulk._LOCK_KEY}
        )
        with bulk.own_bulk_ids(factory) as empty:
            assert not empty
            assert free_slots() == bulk.BULK_SLOTS - 1  # only the import's is held
        importing.execute(text("SELECT pg_advisory_unlock_all()"))
    # Ids by the run's numbers: each batch takes as many numbers of every millisecond
    # as it has rows in one millisecond of one table, so batches never meet.
    numbers = bulk.Numbers(multiprocessing.get_context("spawn").Value("q", 0))
    at = NOW - timedelta(days=3)
    batches = []
    for size in (1, 5000, 3):  # 5,000 rows stamped with one instant in one batch
        rows = [
            bulk.new_row(received_at=at, ev_received=True, ev_closed=True, closed_at=at)
            for _ in range(size)
        ]
        bulk.assign_ids(None, rows, numbers=numbers)  # type: ignore[arg-type]  # reads nothing
        batches.append(rows)
    made = [r[bulk.col("id")] for rows in batches for r in rows]
    events = [
        r[bulk.col(c)] for rows in batches for r in rows for c in ("ev_received", "ev_closed")
    ]
    assert len(set(made)) == len(made) == 5004 and len(set(events)) == len(events) == 10008
    assert {id_time(i) for i in made} == {at} and all(id_node(i) >= 512 for i in made)
    assert numbers.counter.value == 2 + 10_000 + 6  # the widest table (events) of each batch
    # Once there is history, a run takes ids after what is stored, slot by slot.
    generate(factory, rows=50, now=NOW, seed=5, years=1)
    with bulk.own_bulk_ids(factory) as empty:
        assert not empty
        assert free_slots() == bulk.BULK_SLOTS
