"""Synthetic history through the bulk path: whole lifecycles, both languages."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.engine import make_sessionmaker
from complaintdesk.db.ids import id_node, id_time
from complaintdesk.db.models import Complaint, Event, FollowUp, Outbox, OwnerUnit, Unit, Visit
from complaintdesk.domain.lifecycle import Status
from complaintdesk.domain.messages import language_of_text
from complaintdesk.services.escalation import sweep
from complaintdesk.services.generate import generate
from tests.conftest import NOW


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
    assert session.scalar(select(func.count()).select_from(Visit)) >= len(closed)
    assert session.scalar(select(func.count()).select_from(FollowUp)) > len(made) // 3
    assert all(c.satisfaction is not None for c in closed)
    # Only messages inside the outbox's retention are still there, all sent.
    sent = session.scalars(select(Outbox)).all()
    assert sent
    assert all(m.status == "sent" and NOW - m.created_at < timedelta(days=31) for m in sent)
    # The generated open work was escalated in its time: no storm at the next sweep.
    assert sweep(factory, NOW).escalations == 0


def test_generate_in_two_processes_makes_every_row_once(fresh_engine: Engine) -> None:
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("several generating processes are for PostgreSQL")
    factory = make_sessionmaker(fresh_engine)
    report = generate(factory, rows=900, now=NOW, seed=5, years=1, batch=200, processes=2)
    assert report.complaints == 900
    with factory() as session:
        ids = list(session.scalars(select(Complaint.id)))
        assert len(ids) == len(set(ids)) == 900
        events = session.scalar(select(func.count()).select_from(Event)) or 0
        assert events == report.events > 900
