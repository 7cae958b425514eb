"""The outbox keeps delivered messages only for a retention period."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db import partitions
from complaintdesk.db.engine import make_sessionmaker, unit_of_work
from complaintdesk.db.ids import id_floor
from complaintdesk.db.models import Complaint, Event, Outbox
from complaintdesk.domain.taxonomy import Channel
from complaintdesk.services import intake, retention
from complaintdesk.services.common import record_event
from complaintdesk.services.delivery import LogChannel, deliver
from complaintdesk.services.retention import (
    Delivery,
    deliveries,
    make_room,
    one_form,
    purge_outbox,
    record,
)
from tests.conftest import NOW, Org, build_org


def _register(session: Session, acme: Org, text: str, days: int) -> Complaint:
    new = intake.NewComplaint(
        project_id=acme.project.id, text=text, channel=Channel.PHONE, owner_id=acme.owner.id
    )
    complaint = intake.register(
        session, acme.agent, new, KeywordClassifier(), NOW + timedelta(days=days)
    )
    session.commit()
    return complaint


def test_delivered_messages_past_retention_are_purged_and_their_delivery_kept(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    log = LogChannel()
    channels = {"sms": log, "email": log, "wechat": log, "log": log}
    old = _register(session, acme, "电梯坏了", 0)
    assert deliver(factory, channels, NOW + timedelta(seconds=95.7)).sent == 1
    recent = _register(session, acme, "The lobby light is out", 20)
    assert deliver(factory, channels, NOW + timedelta(days=20)).sent == 1
    waiting = _register(session, acme, "门禁坏了", 40)  # not delivered yet

    report = purge_outbox(factory, NOW + timedelta(days=40), retention=timedelta(days=30))

    assert (report.purged, report.recorded) == (1, 1)
    session.expire_all()
    left = {m.complaint_id: m.status for m in session.scalars(select(Outbox))}
    assert left == {recent.id: "sent", waiting.id: "pending"}
    received = session.scalars(
        select(Event).where(Event.complaint_id == old.id, Event.kind == "received")
    ).one()
    assert received.data is not None
    # One short string a delivery: by what channel, when (the whole seconds after the
    # event: sent at NOW + 95.7 s, the event at NOW), to the owner (not named); the
    # event's only record, stored as the string, not a list of one. Read with its time.
    assert received.data["sent"] == "sms +95"
    assert "delivered" not in received.data
    assert deliveries(received.data, received.at) == [
        Delivery("owner", "sms", "2026-11-02T09:01:35Z")
    ]
    assert one_form(received.data, received.at)["sent"] == ["owner sms 2026-11-02T09:01:35Z"]
    assert len(received.data["labels"].split(" ")) == 4  # the intake labels, kept
    assert purge_outbox(factory, NOW + timedelta(days=40)).purged == 0


def test_a_staff_delivery_names_the_staff_member_and_older_records_still_read() -> None:
    at = NOW + timedelta(seconds=0.6)
    assert record("123456789", "email", at) == "123456789 email 2026-11-02T09:00:00Z"
    # Stored: the whole seconds from the event's second to the sending's (0.6 s after
    # an event at 08:59:59.9 is a second later; before the event, negative).
    since = NOW - timedelta(seconds=0.1)
    assert record("123456789", "email", at, since) == "123456789 email +1"
    # The owner's: the channel and the seconds, no name (session 9).
    assert record("owner", "sms", NOW - timedelta(seconds=3), NOW) == "sms -3"
    assert record("owner", "sms", None, NOW) == "owner sms"
    # An event purged before 7 December 2026 (objects), then with the time (strings),
    # then seconds after the event (since a second change that day), then the owner
    # unnamed (session 9).
    data = {
        "delivered": [{"to": "owner", "ch": "sms", "at": "2026-11-02T09:00:00+00:00"}],
        "sent": [
            "42 wechat 2026-11-03T01:02:03Z",
            "42 sms +3600",
            "owner sms -3",
            "7 log",
            "wechat +5",
        ],
    }
    assert deliveries(data, NOW) == [
        Delivery("owner", "sms", "2026-11-02T09:00:00+00:00"),
        Delivery("42", "wechat", "2026-11-03T01:02:03Z"),
        Delivery("42", "sms", "2026-11-02T10:00:00Z"),
        Delivery("owner", "sms", "2026-11-02T08:59:57Z"),
        Delivery("7", "log", None),
        Delivery("owner", "wechat", "2026-11-02T09:00:05Z"),
    ]
    # One record, stored as the string.
    assert deliveries({"sent": "email +61"}, NOW) == [
        Delivery("owner", "email", "2026-11-02T09:01:01Z")
    ]
    assert deliveries({"sent": "42 email +61"}, NOW) == [
        Delivery("42", "email", "2026-11-02T09:01:01Z")
    ]


def test_one_form_turns_older_records_into_strings_and_leaves_the_rest() -> None:
    assert one_form(None) is None
    plain = {"labels": {"nature": "complaint"}, "note": "x"}
    assert one_form(plain, NOW) is plain
    timed = {"labels": {"nature": "complaint"}, "sent": ["owner sms 2026-12-08T01:02:03Z"]}
    assert one_form(timed, NOW) == timed
    # Seconds after the event become the time; the stored data is not changed.
    counted = {"reason": "r", "sent": ["owner sms +61", "9 email 2026-12-08T01:02:03Z"]}
    assert one_form(counted, NOW) == {
        "reason": "r",
        "sent": ["owner sms 2026-11-02T09:01:01Z", "9 email 2026-12-08T01:02:03Z"],
    }
    assert counted["sent"][0] == "owner sms +61"
    old = {
        "note": "x",
        "delivered": [
            {"to": "owner", "ch": "sms", "at": "2026-11-02T17:00:00+08:00"},
            {"to": "7", "ch": "email", "at": "not a time"},
        ],
    }
    assert one_form(old) == {
        "note": "x",
        "sent": ["owner sms 2026-11-02T09:00:00Z", "7 email not a time"],
    }
    assert "delivered" in old  # the stored data is not changed


def test_the_short_records_answer_what_the_records_before_them_answered() -> None:
    """Session 9's records (the owner unnamed, one record as a string) answer the API
    exactly what the records written before them for the same deliveries answer."""
    before = [
        {"reason": "r", "sent": ["owner sms +61"]},
        {"sent": ["owner wechat -2", "917688400358207488 email +3600", "owner sms +3600"]},
        {"sent": ["42 log +0"]},
        {"note": "x", "sent": ["owner email +0"]},
    ]
    after = [
        {"reason": "r", "sent": "sms +61"},
        {"sent": ["wechat -2", "917688400358207488 email +3600", "sms +3600"]},
        {"sent": "42 log +0"},
        {"note": "x", "sent": "email +0"},
    ]
    for old, new in zip(before, after, strict=True):
        assert one_form(new, NOW) == one_form(old, NOW)
        assert deliveries(new, NOW) == deliveries(old, NOW)
    assert one_form(after[0], NOW) == {"reason": "r", "sent": ["owner sms 2026-11-02T09:01:01Z"]}
    assert after[0]["sent"] == "sms +61"  # the stored data is not changed


def test_an_event_with_several_messages_keeps_them_as_a_list_in_order(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    """An event whose messages leave the outbox in two purges (batches) gets the second
    one's records after the first's: one record stored as a string, then a list."""
    log = LogChannel()
    channels = {"sms": log, "email": log, "wechat": log, "log": log}
    complaint = _register(session, acme, "电梯坏了", 0)
    received = session.scalars(
        select(Event).where(Event.complaint_id == complaint.id, Event.kind == "received")
    ).one()
    # A second message for the same event, to a staff member (as an escalation's).
    first = session.scalars(select(Outbox)).one()
    session.add(
        Outbox(
            company_id=first.company_id,
            complaint_id=complaint.id,
            staff_id=acme.agent.id,
            kind="escalated",
            channel="email",
            recipient="agent@example.com",
            language="zh",
            subject="s",
            body="b",
            dedupe_key=f"staff:{acme.agent.id}:{received.id}",
            created_at=NOW,
            next_attempt_at=NOW,
        )
    )
    session.commit()
    assert deliver(factory, channels, NOW + timedelta(seconds=30)).sent == 2
    report = purge_outbox(factory, NOW + timedelta(days=40), retention=timedelta(days=30), batch=1)
    assert (report.purged, report.recorded) == (2, 2)
    session.expire_all()
    data = session.get(Event, received.id).data
    assert data is not None
    assert data["sent"] == ["sms +30", f"{acme.agent.id} email +30"]
    answered = one_form(data, received.at)
    assert answered is not None
    at = f"{(received.at + timedelta(seconds=30)).replace(microsecond=0):%Y-%m-%dT%H:%M:%S}Z"
    assert answered["sent"] == [f"owner sms {at}", f"{acme.agent.id} email {at}"]


def _sent_messages(
    factory: sessionmaker[Session], complaint_id: int, company_id: int, n: int
) -> None:
    """``n`` events of one complaint, each with a message sent a day after it: rows
    enough to fill a few pages of the events' month."""
    with unit_of_work(factory) as session:
        for i in range(n):
            event = record_event(
                session, complaint_id, None, "follow_up", NOW, data={"note": "x" * 120}
            )
            session.add(
                Outbox(
                    company_id=company_id,
                    complaint_id=complaint_id,
                    kind="received",
                    channel="sms",
                    recipient="13800000001",
                    language="zh",
                    subject="s",
                    body="b",
                    dedupe_key=f"owner:{event.id}",
                    status="sent",
                    created_at=NOW,
                    next_attempt_at=NOW,
                    # the first half sent on day 1, the second on day 2
                    sent_at=NOW + timedelta(days=1 + (2 * i) // n, seconds=i),
                )
            )


def _events_pages(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                text(
                    "SELECT sum(pg_relation_size(relid)) / 8192 FROM pg_partition_tree('events') "
                    "WHERE isleaf"
                )
            )
        )


def test_a_purge_vacuums_the_months_it_rewrote_so_the_next_purge_reuses_their_room(
    fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each record rewrites its event; the old versions' room is reused by the next
    purge only once a VACUUM that cleans the indexes has seen it (one that skips them,
    as PostgreSQL does when dead rows are on under 2 % of the pages, leaves their room
    out of the free space map). The purge does it itself once a month's rewritten
    rows reach its threshold: the next purge of as many events takes no new pages
    (before: as many again; with a plain VACUUM, as many again too)."""
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("VACUUM and the free space map are PostgreSQL's")
    factory = make_sessionmaker(fresh_engine)
    with unit_of_work(factory) as session:
        acme = build_org(session)
        complaint = intake.register(
            session,
            acme.agent,
            intake.NewComplaint(
                project_id=acme.project.id,
                text="电梯坏了",
                channel=Channel.PHONE,
                owner_id=acme.owner.id,
            ),
            KeywordClassifier(),
            NOW,
        )
        ids = (complaint.id, acme.company.id)
    _sent_messages(factory, *ids, n=1200)
    with fresh_engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        # The month's other events, without messages: 50 times as many, so that a
        # purge's dead rows are on under 2 % of its pages, as at scale (where a
        # VACUUM skips the indexes unless told not to, and the room stays unused).
        connection.execute(
            text(
                "INSERT INTO events (id, complaint_id, at, kind, data) "
                "SELECT :low + g, :complaint, :at, 'follow_up', "
                "jsonb_build_object('note', repeat('y', 120)) "
                "FROM generate_series(1, 60000) g"
            ),
            {
                "low": id_floor(datetime.now(UTC) - timedelta(seconds=5)),
                "complaint": ids[0],
                "at": NOW,
            },
        )
        connection.execute(text("VACUUM ANALYZE events"))
    start = _events_pages(fresh_engine)
    monkeypatch.setattr(retention, "REUSE_ROWS", 100)
    monkeypatch.setattr(retention, "REUSE_SHARE", 0.005)

    first = purge_outbox(factory, NOW + timedelta(days=32))  # day 1's messages
    assert (first.purged, first.recorded) == (600, 600)
    assert len(first.vacuumed) == 1  # the month's partition
    grown = _events_pages(fresh_engine) - start
    assert grown > 0  # the new versions, before any room was free

    second = purge_outbox(factory, NOW + timedelta(days=33))  # day 2's
    assert (second.purged, second.recorded) == (600, 600)
    # Written where the first purge's old versions were: a few pages more at most
    # (the new versions are a little longer); without the vacuum, as many again.
    more = _events_pages(fresh_engine) - start - grown
    assert more <= grown // 4, (start, grown, more)


def test_a_month_is_vacuumed_once_its_rewritten_rows_reach_the_threshold(
    fresh_engine: Engine,
) -> None:
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("VACUUM is PostgreSQL's")
    month = partitions.month_start(NOW)
    assert make_room(fresh_engine, Counter({month: 5})) == []  # under REUSE_ROWS
    assert len(make_room(fresh_engine, Counter({month: 5}), least=5)) == 1
    assert make_room(fresh_engine, Counter({month: 5}), least=6) == []
