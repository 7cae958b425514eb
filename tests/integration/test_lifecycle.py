"""The life of a complaint through the service functions, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.models import Complaint, Event, LabelCorrection, Outbox
from complaintdesk.domain.errors import Forbidden, InvalidInput, NotFound, TransitionNotAllowed
from complaintdesk.domain.taxonomy import Channel, Department
from complaintdesk.services import (
    closing,
    dispatch,
    follow_up,
    intake,
    labels,
    queries,
    resolve,
    visits,
)
from complaintdesk.services.common import get_complaint
from complaintdesk.services.escalation import sweep
from tests.conftest import NOW, Org

CLASSIFIER = KeywordClassifier()


def _register(session: Session, acme: Org, text: str = "8号楼电梯停了两天了,还没人来修", **kw):  # type: ignore[no-untyped-def]
    new = intake.NewComplaint(
        project_id=acme.project.id, text=text, channel=Channel.PHONE, owner_id=acme.owner.id, **kw
    )
    return intake.register(session, acme.guard, new, CLASSIFIER, NOW)


def _kinds(session: Session, complaint: Complaint) -> list[str]:
    return list(
        session.scalars(
            select(Event.kind).where(Event.complaint_id == complaint.id).order_by(Event.id)
        )
    )


def test_registering_records_first_receiver_labels_deadlines_and_tells_owner(
    session: Session, acme: Org
) -> None:
    c = _register(session, acme)
    assert c.first_receiver_id == acme.guard.id
    assert c.status == "received"
    assert c.category == "equipment" and c.department == "engineering"
    assert c.model_version == CLASSIFIER.version
    assert c.respond_by is not None and c.respond_by > NOW
    assert c.sla_check_at == c.respond_by
    outbox = session.scalars(select(Outbox).where(Outbox.complaint_id == c.id)).all()
    assert [m.kind for m in outbox] == ["received"]
    assert outbox[0].recipient == acme.owner.phone
    assert "guard" in outbox[0].body


def test_whole_lifecycle_with_reopen(session: Session, acme: Org) -> None:
    c = _register(session, acme)
    dispatch.dispatch(
        session,
        acme.agent,
        c,
        NOW + timedelta(minutes=5),
        department=Department.ENGINEERING,
        assignee_id=acme.engineer.id,
    )
    dispatch.start(session, acme.engineer, c, NOW + timedelta(minutes=10))
    resolve.resolve(
        session,
        acme.engineer,
        c,
        NOW + timedelta(hours=3),
        outcome=resolve.Outcome.FIXED,
        resolution="更换了电梯门机板",
    )
    visits.record_visit(
        session, acme.agent, c, NOW + timedelta(hours=5), satisfaction=2, comment="还是有异响"
    )
    assert c.status == "dispatched" and c.reopen_count == 1 and c.resolved_at is None
    resolve.resolve(
        session,
        acme.engineer,
        c,
        NOW + timedelta(hours=8),
        outcome=resolve.Outcome.FIXED,
        resolution="更换导轨",
    )
    visits.record_visit(session, acme.agent, c, NOW + timedelta(hours=9), satisfaction=5)
    with pytest.raises(InvalidInput) as err:
        closing.close(session, acme.agent, c, NOW + timedelta(hours=10), closing.Summary())
    assert err.value.field == "summary_cause"
    closing.close(
        session,
        acme.agent,
        c,
        NOW + timedelta(hours=10),
        closing.Summary(
            cause="门机板老化",
            lesson="巡检未覆盖",
            corrective_action="更换",
            preventive_action="纳入月度巡检",
        ),
    )
    assert c.status == "closed"
    assert c.first_receiver_id == acme.guard.id
    # The first assignment is in the dispatch event, not an "assigned" event of its own.
    assert _kinds(session, c) == [
        "received",
        "dispatch",
        "start",
        "resolve",
        "visit_unsatisfied",
        "resolve",
        "visit_satisfied",
        "close",
    ]
    sent = session.scalars(
        select(Outbox.kind).where(Outbox.complaint_id == c.id).order_by(Outbox.id)
    ).all()
    assert sent == [
        "received",
        "dispatched",
        "resolved",
        "reopened",
        "resolved",
        "visited",
        "closed",
    ]


def _events(session: Session, complaint: Complaint) -> list[Event]:
    return list(
        session.scalars(select(Event).where(Event.complaint_id == complaint.id).order_by(Event.id))
    )


def test_the_first_assignment_is_recorded_in_the_dispatch_event(
    session: Session, acme: Org
) -> None:
    """One event, not two: the dispatch names its first assignee (``data.assignee``);
    a later change of assignee keeps its own ``assigned`` event, old -> new."""
    c = _register(session, acme)
    dispatch.dispatch(
        session,
        acme.agent,
        c,
        NOW + timedelta(minutes=5),
        department=Department.ENGINEERING,
        assignee_id=acme.engineer.id,
    )
    assert c.assignee_id == acme.engineer.id
    events = _events(session, c)
    assert [e.kind for e in events] == ["received", "dispatch"]
    assert events[1].data == {"department": "engineering", "assignee": str(acme.engineer.id)}
    # The status change is not stored (the kind says it); the timeline works it out.
    assert (events[1].field, events[1].old, events[1].new) == (None, None, None)
    shown = queries.timeline(session, c)[1]
    assert (shown.field, shown.old, shown.new) == ("status", "received", "dispatched")
    # Sent on again, to someone else: the change has its own event.
    dispatch.dispatch(
        session,
        acme.agent,
        c,
        NOW + timedelta(minutes=9),
        department=Department.ENGINEERING,
        assignee_id=acme.eng_supervisor.id,
    )
    events = _events(session, c)
    assert [e.kind for e in events] == ["received", "dispatch", "dispatch", "assigned"]
    assert "assignee" not in (events[2].data or {})
    assigned = events[3]
    assert (assigned.field, assigned.old, assigned.new) == (
        "assignee_id",
        str(acme.engineer.id),
        str(acme.eng_supervisor.id),
    )
    # Dispatched once more, to the same person: nothing about the assignee.
    dispatch.dispatch(
        session,
        acme.agent,
        c,
        NOW + timedelta(minutes=12),
        department=Department.ENGINEERING,
        assignee_id=acme.eng_supervisor.id,
    )
    assert [e.kind for e in _events(session, c)][4:] == ["dispatch"]
    assert "assignee" not in (_events(session, c)[4].data or {})


def test_starting_unassigned_work_records_the_starter_in_the_start_event(
    session: Session, acme: Org
) -> None:
    c = _register(session, acme)
    dispatch.dispatch(
        session, acme.agent, c, NOW + timedelta(minutes=5), department=Department.ENGINEERING
    )
    dispatch.start(session, acme.engineer, c, NOW + timedelta(minutes=10))
    assert c.assignee_id == acme.engineer.id
    events = _events(session, c)
    assert [e.kind for e in events] == ["received", "dispatch", "start"]
    assert "assignee" not in (events[1].data or {})
    assert events[2].data == {"assignee": str(acme.engineer.id)}


def test_refused_transitions_say_what_is_allowed(session: Session, acme: Org) -> None:
    c = _register(session, acme)
    with pytest.raises(TransitionNotAllowed) as err:
        resolve.resolve(
            session, acme.eng_supervisor, c, NOW, outcome=resolve.Outcome.FIXED, resolution="x"
        )
    assert "allowed now: dispatch, withdraw" in err.value.message
    with pytest.raises(TransitionNotAllowed):
        visits.record_visit(session, acme.agent, c, NOW, satisfaction=5)
    closing.withdraw(session, acme.agent, c, NOW, reason="业主自行解决")
    with pytest.raises(TransitionNotAllowed):
        dispatch.dispatch(session, acme.agent, c, NOW, department=Department.ENGINEERING)


def test_not_our_responsibility_needs_an_explanation(session: Session, acme: Org) -> None:
    c = _register(session, acme, text="小区门口的市政路灯坏了")
    dispatch.dispatch(session, acme.agent, c, NOW, department=Department.ENGINEERING)
    with pytest.raises(InvalidInput) as err:
        resolve.resolve(
            session,
            acme.engineer,
            c,
            NOW,
            outcome=resolve.Outcome.NOT_OUR_RESPONSIBILITY,
            resolution="市政设施",
        )
    assert err.value.field == "owner_explanation"
    resolve.resolve(
        session,
        acme.engineer,
        c,
        NOW,
        outcome=resolve.Outcome.NOT_OUR_RESPONSIBILITY,
        resolution="市政设施",
        owner_explanation="已告知业主并代为报修12345",
    )
    assert c.status == "resolved" and c.effective is False


def test_guard_cannot_resolve_what_engineering_holds(session: Session, acme: Org) -> None:
    c = _register(session, acme)
    dispatch.dispatch(session, acme.guard, c, NOW, department=Department.ENGINEERING)
    with pytest.raises(Forbidden):
        resolve.resolve(session, acme.guard, c, NOW, outcome=resolve.Outcome.FIXED, resolution="x")


def test_other_projects_and_companies_do_not_see_the_complaint(session: Session, acme: Org) -> None:
    c = _register(session, acme)
    with pytest.raises(NotFound):
        get_complaint(session, acme.cleaner_other_project, c.id)
    with pytest.raises(NotFound):
        get_complaint(session, acme.outsider, c.id)
    assert get_complaint(session, acme.admin, c.id) is c


def test_label_correction_is_kept_and_moves_deadlines(session: Session, acme: Org) -> None:
    c = _register(session, acme, text="请问物业费可以按月交吗")
    old_respond_by = c.respond_by
    labels.correct_labels(session, acme.agent, c, {"urgency": "high", "nature": "consulting"}, NOW)
    corrections = session.scalars(
        select(LabelCorrection).where(LabelCorrection.complaint_id == c.id)
    ).all()
    assert {x.label for x in corrections} == {"urgency"} or {x.label for x in corrections} == {
        "urgency",
        "nature",
    }
    assert c.urgency == "high" and c.label_source == "staff"
    assert c.respond_by is not None and old_respond_by is not None
    assert c.respond_by < old_respond_by
    with pytest.raises(InvalidInput):
        labels.correct_labels(session, acme.agent, c, {"category": "plumbing"}, NOW)


def test_repeat_of_a_communication_complaint_upgrades_both(session: Session, acme: Org) -> None:
    first = _register(session, acme, text="楼道灯不亮了,麻烦安排师傅换个灯泡")
    assert first.nature == "help_seeking"
    second = intake.register(
        session,
        acme.guard,
        intake.NewComplaint(
            project_id=acme.project.id,
            text="楼道的灯麻烦来修一下",
            channel=Channel.PHONE,
            owner_id=acme.owner.id,
        ),
        CLASSIFIER,
        NOW + timedelta(days=3),
    )
    assert second.repeat_of_id == first.id
    assert first.nature == "dissatisfaction" and first.upgraded
    assert second.nature == "dissatisfaction"
    # The link is recorded in the received event (no "repeat_flagged" event of its own),
    # and each upgrade in an event of the complaint it changed.
    events = _events(session, second)
    assert [e.kind for e in events] == ["received", "upgraded"]
    assert events[0].data is not None and events[0].data["repeat_of"] == str(first.id)
    assert events[0].data["labels"].split(" ")[0] == "dissatisfaction"  # nature first
    assert [e.kind for e in _events(session, first)] == ["received", "upgraded"]
    assert "repeat_of" not in (_events(session, first)[0].data or {})


def test_risk_flags_in_both_languages(session: Session, acme: Org) -> None:
    c = _register(session, acme, text="再不修我就不交物业费了,还要找媒体曝光")
    assert c.risk_flags == ["withhold_fees", "media"]
    c2 = _register(session, acme, text="Fix the leak or I will sue and call the mayor's office")
    assert set(c2.risk_flags) == {"lawsuit", "government"}


def test_sweeper_escalates_each_level_once_and_upgrades_communication(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    c = _register(session, acme, text="楼道灯不亮了,麻烦安排师傅换个灯泡")
    session.commit()
    assert c.nature == "help_seeking" and c.respond_by is not None
    late = c.respond_by + timedelta(minutes=1)
    report = sweep(factory, late)
    assert report.escalations == 1 and report.upgraded == 1
    again = sweep(factory, late + timedelta(minutes=1))
    assert again.escalations == 0
    session.expire_all()
    c = session.get(Complaint, c.id)
    assert c is not None
    assert c.response_level == 1 and c.nature == "dissatisfaction" and c.response_breached
    notified = set(
        session.scalars(
            select(Outbox.recipient).where(Outbox.complaint_id == c.id, Outbox.kind == "escalated")
        )
    )
    assert notified == {acme.guard.email, acme.eng_supervisor.email}
    assert (
        "delayed" in session.scalars(select(Outbox.kind).where(Outbox.complaint_id == c.id)).all()
    )
    much_later = c.respond_by + (c.respond_by - c.received_at) + timedelta(minutes=1)
    report = sweep(factory, much_later)
    session.expire_all()
    c = session.get(Complaint, c.id)
    assert c is not None and c.response_level == 2
    managers = set(
        session.scalars(
            select(Outbox.recipient).where(Outbox.complaint_id == c.id, Outbox.kind == "escalated")
        )
    )
    assert acme.manager.email in managers


def test_follow_up_sets_next_date_and_counts_as_response(session: Session, acme: Org) -> None:
    c = _register(session, acme)
    later = NOW + timedelta(days=2)
    follow_up.add_follow_up(
        session,
        acme.guard,
        c,
        NOW + timedelta(minutes=3),
        note="已电话安抚业主,等待配件",
        next_follow_up_at=later,
    )
    assert c.next_follow_up_at == later and c.responded_at is not None
    with pytest.raises(InvalidInput):
        follow_up.add_follow_up(session, acme.guard, c, NOW, note="   ")


def test_corrections_become_training_examples(session: Session, acme: Org) -> None:
    from complaintdesk.services.corrections import corrected_examples

    c = _register(session, acme, text="楼道灯不亮了,麻烦安排师傅换个灯泡")
    _register(session, acme, text="物业费可以按月交吗")  # not corrected: not an example
    labels.correct_labels(session, acme.agent, c, {"urgency": "high"}, NOW)
    # Lowering the urgency is a supervisor's (here the manager's) call, with a reason.
    labels.correct_labels(
        session,
        acme.manager,
        c,
        {"urgency": "low", "department": "security"},
        NOW,
        reason="只是灯泡",
    )
    examples = corrected_examples(session)
    expected = {
        "text": "楼道灯不亮了,麻烦安排师傅换个灯泡",
        "nature": c.nature,
        "category": c.category,
        "urgency": "low",
        "department": "security",
    }
    assert examples == [expected]
    # The intake labels as one string; events stored before with an object read the same.
    received = _events(session, c)[0]
    assert received.data is not None
    intake_labels = received.data["labels"]
    assert isinstance(intake_labels, str) and len(intake_labels.split(" ")) == 4
    nature, category, urgency, department = intake_labels.split(" ")
    received.data = {
        **received.data,
        "labels": {
            "nature": nature,
            "category": category,
            "urgency": urgency,
            "department": department,
        },
    }
    session.flush()
    assert corrected_examples(session) == [expected]


def test_a_late_return_visit_escalates_but_neither_upgrades_nor_says_delayed(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    c = _register(session, acme, text="请问物业费可以按月交吗")
    assert c.nature == "consulting"
    dispatch.dispatch(
        session, acme.agent, c, NOW + timedelta(minutes=5), department=Department.FINANCE
    )
    resolve.resolve(
        session,
        acme.eng_supervisor,
        c,
        NOW + timedelta(minutes=30),
        outcome=resolve.Outcome.ANSWERED,
        resolution="可以按月交",
    )
    session.commit()
    assert c.visit_by is not None
    report = sweep(factory, c.visit_by + timedelta(minutes=1))
    session.expire_all()
    c = session.get(Complaint, c.id)
    assert c is not None
    assert report.escalations == 1 and c.visit_level == 1
    assert c.nature == "consulting" and not c.upgraded
    kinds = session.scalars(select(Outbox.kind).where(Outbox.complaint_id == c.id)).all()
    assert "delayed" not in kinds and "escalated" in kinds


def test_dispatching_elsewhere_corrects_the_department_label(session: Session, acme: Org) -> None:
    c = _register(session, acme)
    assert c.department == "engineering"
    dispatch.dispatch(session, acme.agent, c, NOW, department=Department.SECURITY)
    corrections = session.scalars(
        select(LabelCorrection).where(LabelCorrection.complaint_id == c.id)
    ).all()
    assert [(x.label, x.old, x.new) for x in corrections] == [
        ("department", "engineering", "security")
    ]
    assert c.department == "security" and c.label_source == "staff"


def test_correcting_to_emergency_makes_it_critical(session: Session, acme: Org) -> None:
    c = _register(session, acme, text="楼道灯不亮了,麻烦安排师傅换个灯泡")
    assert c.urgency == "normal"
    labels.correct_labels(session, acme.agent, c, {"category": "emergency"}, NOW)
    assert c.urgency == "critical"
    assert c.respond_by == NOW + timedelta(minutes=15)


def test_repeats_are_looked_for_within_the_project(session: Session, acme: Org) -> None:
    _register(session, acme, text="楼道灯不亮了,麻烦安排师傅换个灯泡")
    acme.agent.projects.append(acme.other_project)
    session.flush()
    other = intake.register(
        session,
        acme.agent,
        intake.NewComplaint(
            project_id=acme.other_project.id,
            text="楼道灯不亮了",
            channel=Channel.PHONE,
            owner_id=acme.owner.id,
        ),
        CLASSIFIER,
        NOW + timedelta(days=1),
    )
    assert other.repeat_of_id is None


def test_history_before_2020_is_refused(session: Session, acme: Org) -> None:
    from datetime import UTC, datetime

    with pytest.raises(InvalidInput) as err:
        intake.register(
            session,
            acme.guard,
            intake.NewComplaint(
                project_id=acme.project.id, text="电梯坏了", channel=Channel.PHONE, caller_name="x"
            ),
            CLASSIFIER,
            datetime(2019, 6, 1, tzinfo=UTC),
        )
    assert err.value.field == "received_at"


def test_each_step_writes_the_complaint_row_once(session: Session, acme: Org) -> None:
    """Each step of the lifecycle, run as a request runs it (nothing loaded yet), sends
    one UPDATE of the complaint: a second one would leave a second row version (and,
    when the first is not HOT, more index entries) for the same step."""
    c = _register(session, acme)
    session.commit()
    engine = session.get_bind()
    updates: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("UPDATE complaints"):
            updates.append(statement)

    steps = {
        "dispatch": lambda c, t: dispatch.dispatch(
            session, acme.agent, c, t, department=Department.ENGINEERING,
            assignee_id=acme.engineer.id,
        ),
        "start": lambda c, t: dispatch.start(session, acme.engineer, c, t),
        "resolve": lambda c, t: resolve.resolve(
            session, acme.engineer, c, t, outcome=resolve.Outcome.FIXED, resolution="换了门机板"
        ),
        "visit_unsatisfied": lambda c, t: visits.record_visit(
            session, acme.agent, c, t, satisfaction=2, comment="还是有异响"
        ),
        "resolve again": lambda c, t: resolve.resolve(
            session, acme.engineer, c, t, outcome=resolve.Outcome.FIXED, resolution="换导轨"
        ),
        "visit_satisfied": lambda c, t: visits.record_visit(
            session, acme.agent, c, t, satisfaction=5
        ),
        "close": lambda c, t: closing.close(
            session, acme.agent, c, t,
            closing.Summary(
                cause="老化", lesson="巡检", corrective_action="换", preventive_action="查"
            ),
        ),
    }  # fmt: skip
    sent = {}
    sqlalchemy.event.listen(engine, "before_cursor_execute", count)
    try:
        for hours, (name, step) in enumerate(steps.items(), 1):
            session.expunge_all()  # a new request: nothing in the session yet
            complaint = session.get(Complaint, c.id)
            assert complaint is not None
            updates.clear()
            step(complaint, NOW + timedelta(hours=hours))
            session.commit()
            sent[name] = len(updates)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", count)
    assert sent == dict.fromkeys(steps, 1)
