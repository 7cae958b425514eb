"""The sweeper's index of next checks (``sla_checks``) follows each complaint through
its life, on both databases: a row while it is open with something to check, the
same moment as the complaint's ``sla_check_at``, none once it is closed or withdrawn."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.models import Complaint, SlaCheck
from complaintdesk.domain.taxonomy import Channel, Department
from complaintdesk.services import closing, dispatch, intake, resolve, visits
from tests.conftest import NOW, Org


def _register(session: Session, acme: Org) -> Complaint:
    new = intake.NewComplaint(
        project_id=acme.project.id,
        text="8号楼电梯停了两天了,还没人来修",
        channel=Channel.PHONE,
        owner_id=acme.owner.id,
    )
    return intake.register(session, acme.guard, new, KeywordClassifier(), NOW)


def _check(session: Session, complaint: Complaint) -> object:
    session.flush()
    return session.scalar(select(SlaCheck.check_at).where(SlaCheck.complaint_id == complaint.id))


def test_the_next_check_follows_the_complaint_until_it_closes(session: Session, acme: Org) -> None:
    c = _register(session, acme)
    assert c.sla_check_at is not None
    assert _check(session, c) == c.sla_check_at
    first = c.sla_check_at
    dispatch.dispatch(
        session,
        acme.agent,
        c,
        NOW + timedelta(minutes=5),
        department=Department.ENGINEERING,
        assignee_id=acme.engineer.id,
    )
    assert c.sla_check_at is not None and c.sla_check_at != first  # responded: next clock
    assert _check(session, c) == c.sla_check_at
    resolve.resolve(
        session,
        acme.engineer,
        c,
        NOW + timedelta(hours=3),
        outcome=resolve.Outcome.FIXED,
        resolution="更换了电梯门机板",
    )
    assert _check(session, c) == c.sla_check_at
    visits.record_visit(session, acme.agent, c, NOW + timedelta(hours=5), satisfaction=5)
    assert _check(session, c) == c.sla_check_at  # None once nothing is left to check
    closing.close(
        session,
        acme.agent,
        c,
        NOW + timedelta(hours=10),
        closing.Summary(
            cause="门机板老化",
            lesson="巡检未覆盖",
            corrective_action="更换",
            preventive_action="巡检",
        ),
    )
    assert c.closed_at is not None
    assert _check(session, c) is None


def test_a_withdrawn_complaint_leaves_the_sweepers_index(session: Session, acme: Org) -> None:
    c = _register(session, acme)
    assert _check(session, c) is not None
    closing.withdraw(session, acme.guard, c, NOW + timedelta(hours=1), reason="已自行解决")
    assert _check(session, c) is None
