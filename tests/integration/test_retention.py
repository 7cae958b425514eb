"""The outbox keeps delivered messages only for a retention period."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.models import Complaint, Event, Outbox
from complaintdesk.domain.taxonomy import Channel
from complaintdesk.services import intake
from complaintdesk.services.delivery import LogChannel, deliver
from complaintdesk.services.retention import (
    Delivery,
    deliveries,
    one_form,
    purge_outbox,
    record,
)
from tests.conftest import NOW, Org


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
    # One short string a delivery: to whom, by what channel, when (the whole seconds
    # after the event: sent at NOW + 95.7 s, the event at NOW); read with its time.
    assert received.data["sent"] == ["owner sms +95"]
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
    assert record("owner", "sms", NOW - timedelta(seconds=3), NOW) == "owner sms -3"
    assert record("owner", "sms", None, NOW) == "owner sms"
    # An event purged before 7 December 2026 (objects), then with the time (strings),
    # then seconds after the event (since a second change that day).
    data = {
        "delivered": [{"to": "owner", "ch": "sms", "at": "2026-11-02T09:00:00+00:00"}],
        "sent": ["42 wechat 2026-11-03T01:02:03Z", "42 sms +3600", "owner sms -3", "7 log"],
    }
    assert deliveries(data, NOW) == [
        Delivery("owner", "sms", "2026-11-02T09:00:00+00:00"),
        Delivery("42", "wechat", "2026-11-03T01:02:03Z"),
        Delivery("42", "sms", "2026-11-02T10:00:00Z"),
        Delivery("owner", "sms", "2026-11-02T08:59:57Z"),
        Delivery("7", "log", None),
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
