"""Several sweepers at once escalate each breach exactly once (real commits)."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import Engine, select

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.engine import make_sessionmaker, unit_of_work
from complaintdesk.db.models import Complaint, Event, Outbox
from complaintdesk.domain.taxonomy import Channel
from complaintdesk.services import intake
from complaintdesk.services.escalation import SweepReport, sweep
from tests.conftest import NOW, build_org


def test_concurrent_sweepers_escalate_each_breach_once(fresh_engine: Engine) -> None:
    factory = make_sessionmaker(fresh_engine)
    with unit_of_work(factory) as session:
        acme = build_org(session)
        for n in range(40):
            intake.register(
                session,
                acme.guard,
                intake.NewComplaint(
                    project_id=acme.project.id,
                    text=f"楼道灯坏了 第{n}次",
                    channel=Channel.PHONE,
                    caller_name=f"caller {n}",
                    caller_phone=f"1390000{n:04d}",
                ),
                KeywordClassifier(),
                NOW,
            )
    late = NOW + timedelta(days=4)  # past the response deadline of every urgency
    reports: list[SweepReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        try:
            barrier.wait()
            reports.append(sweep(factory, late, batch=7))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with factory() as session:
        rows = session.execute(select(Complaint.response_level, Complaint.resolution_level)).all()
        events = session.execute(
            select(Event.complaint_id, Event.field).where(Event.kind == "escalated")
        ).all()
        delayed = session.scalars(select(Outbox.complaint_id).where(Outbox.kind == "delayed"))
        delayed_ids = list(delayed)
    # Four days on, a normal complaint's response clock (24 h) is past twice its window
    # (level 2) and its resolution clock (72 h) just past its deadline (level 1).
    assert [tuple(r) for r in rows] == [(2, 1)] * 40
    # One escalation per clock per complaint, however many sweepers ran.
    assert len(events) == 80 and len(set(events)) == 80
    assert sum(r.escalations for r in reports) == 80
    # The owner heard once that it is late.
    assert len(delayed_ids) == 40 and len(set(delayed_ids)) == 40
