"""The sweeper: marks deadline breaches and escalates them, exactly once per level.

Level 1 goes to the supervisors of the lead department, level 2 to the project's
managers; the first receiver hears of every escalation (首问负责制), the owner hears
that it is delayed, and a communication complaint that breached is upgraded to a
dissatisfaction complaint.

Several sweepers may run at once. Each takes complaints due for a check with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's IMMEDIATE transactions serialise
them), and a complaint's ``version`` column refuses a write based on a stale read,
so a breach is escalated by exactly one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, true
from sqlalchemy.orm import Session, aliased, lazyload, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from complaintdesk.db.engine import unit_of_work
from complaintdesk.db.models import Complaint, Event, SlaCheck, Staff
from complaintdesk.domain import rules, sla
from complaintdesk.domain.messages import MessageKind
from complaintdesk.domain.taxonomy import Nature, Role
from complaintdesk.services.common import clocks, record_event, refresh_sla_check, staff_in_project
from complaintdesk.services.intake import upgrade_nature
from complaintdesk.services.notify import tell_owner, tell_staff
from complaintdesk.services.queries import generic_plans
from complaintdesk.services.reminders import remind_due

_LEVEL_COLUMN = {
    sla.Clock.RESPONSE: "response_level",
    sla.Clock.RESOLUTION: "resolution_level",
    sla.Clock.VISIT: "visit_level",
}


@dataclass
class SweepReport:
    checked: int = 0
    escalations: int = 0
    upgraded: int = 0
    reminders: int = 0  # people reminded of a follow-up date (services/reminders.py)


def sweep(factory: sessionmaker[Session], now: datetime, *, batch: int = 200) -> SweepReport:
    """Escalate every breach due at ``now``; one transaction per batch."""
    report = SweepReport()
    while True:
        with unit_of_work(factory) as session:
            due = _claim_due(session, now, batch)
            for complaint in due:
                report.checked += 1
                try:
                    with session.begin_nested():
                        _sweep_one(session, complaint, now, report)
                except StaleDataError:
                    continue  # another sweeper got there first; it did the work
        if len(due) < batch:
            report.reminders = remind_due(factory, now, batch=batch)
            return report


def _claim_due(session: Session, now: datetime, batch: int) -> list[Complaint]:
    """The open complaints whose next check is due, the earliest first, locked.

    From a generic plan (``queries.generic_plans``): planned for each claim, the join
    to complaints is planned against every month's partition (30-100 ms at 37 months,
    against 0.2 ms of execution); the generic plan prunes the months at run time, per
    complaint, and is made once per connection."""
    generic_plans(session)
    postgresql = session.get_bind().dialect.name == "postgresql"
    return list(session.scalars(due_query(now, batch, lock=postgresql)))


def due_query(now: datetime, batch: int, *, lock: bool) -> Select[Complaint]:
    """The sweeper's claim: the first ``batch`` due checks from the narrow
    ``sla_checks`` table's index (``db/models.py`` says why it is not an index of
    complaints), each complaint then read by its id.

    With ``lock`` (PostgreSQL), each complaint is read and locked ``FOR UPDATE SKIP
    LOCKED`` in a subquery of its own, one due check at a time, so the plan can only
    be that: the due checks first, then one month's primary key a check. As a plain
    join, the generic plan chose its join by estimates (a third of ``sla_checks`` due
    for an unknown ``now``), and at 30 million complaints it hashed every open
    complaint of every month against them: 1.9-2.6 s a claim instead of milliseconds
    (docs/capacity.md, session 11). A complaint another sweeper or a request holds is
    skipped and the next due check's taken in its place, up to :data:`_DUE_READ`
    times ``batch`` checks read (a short claim ends the sweep); the triggers keep
    ``sla_checks`` in step with the complaints, so none is skipped for being stale.
    SQLite (one writer at a time) has no ``LATERAL``: the plain join there."""
    if not lock:
        return (
            select(Complaint)
            .join(SlaCheck, SlaCheck.complaint_id == Complaint.id)
            .where(
                SlaCheck.check_at <= now,
                Complaint.closed_at.is_(None),
                Complaint.sla_check_at <= now,
            )
            .order_by(SlaCheck.check_at)
            .limit(batch)
            # The sweep reads no complaint's departments: not loaded (on access they would be).
            .options(lazyload(Complaint.co_handling))
        )
    due = (
        select(SlaCheck.complaint_id, SlaCheck.check_at)
        .where(SlaCheck.check_at <= now)
        .order_by(SlaCheck.check_at)
        .limit(batch * _DUE_READ)
        .subquery("due")
    )
    one = (
        select(Complaint)
        .where(
            Complaint.id == due.c.complaint_id,
            Complaint.closed_at.is_(None),
            Complaint.sla_check_at <= now,
        )
        .limit(1)
        .with_for_update(skip_locked=True)
        .lateral("claimed")
    )
    claimed = aliased(Complaint, one)
    return (
        select(claimed)
        .select_from(due)
        .join(one, true())
        .order_by(due.c.check_at)
        .limit(batch)
        .options(lazyload(claimed.co_handling))
    )


_DUE_READ = 4
"""The claim reads this many times ``batch`` due checks, so that complaints other
sweepers or requests hold (skipped) are made up by the next due ones: a claim that
comes back short ends the sweep."""


def _sweep_one(session: Session, complaint: Complaint, now: datetime, report: SweepReport) -> None:
    levels = {clock: getattr(complaint, column) for clock, column in _LEVEL_COLUMN.items()}
    due = sla.escalations_due(clocks(complaint), levels, now)
    told_late = any(levels[c] for c in sla.Clock if c.owner_waiting)
    for clock, level in due:
        setattr(complaint, _LEVEL_COLUMN[clock], int(level))
        if clock is sla.Clock.RESPONSE:
            complaint.response_breached = True
        elif clock is sla.Clock.RESOLUTION:
            complaint.resolution_breached = True
        event = _escalate(session, complaint, clock, sla.Level(levels[clock]), level, now)
        report.escalations += 1
        if clock.owner_waiting and not told_late:
            # The owner hears once that it is late, when it first becomes late.
            tell_owner(session, complaint, MessageKind.DELAYED, event, now)
            told_late = True
        if rules.upgrade_on_breach(Nature(complaint.nature), clock):
            upgrade_nature(session, complaint, None, now, reason=f"{clock.value} deadline missed")
            report.upgraded += 1
    refresh_sla_check(complaint, now)
    session.flush()


def _escalate(
    session: Session,
    complaint: Complaint,
    clock: sla.Clock,
    old: sla.Level,
    level: sla.Level,
    now: datetime,
) -> Event:
    """Record the escalation and tell everyone on the way up: the supervisors when
    level 1 is passed, the managers at level 2, and always the first receiver."""
    targets: list[Staff] = []
    if old < sla.Level.SUPERVISOR <= level:
        targets += staff_in_project(
            session,
            complaint.company_id,
            complaint.project_id,
            role=Role.SUPERVISOR,
            department=complaint.department,
        )
    if level >= sla.Level.MANAGER:
        targets += staff_in_project(
            session, complaint.company_id, complaint.project_id, role=Role.MANAGER, department=None
        )
    to = "manager" if level >= sla.Level.MANAGER else "supervisor"
    event = record_event(
        session,
        complaint,
        None,
        "escalated",
        now,
        field=_LEVEL_COLUMN[clock],
        old=int(old),
        new=int(level),
        data={"clock": clock.value, "to": to, "notified": [str(s.id) for s in targets]},
    )
    receiver = session.get(Staff, complaint.first_receiver_id)
    recipients = {s.id: s for s in targets}
    if receiver is not None:
        recipients[receiver.id] = receiver
    # Codes: the message puts them into each recipient's language.
    values = {
        "clock": clock.value,
        "level": str(int(level)),
        "to": to,
        "receiver": receiver.name if receiver is not None else "-",
    }
    for staff in recipients.values():
        tell_staff(session, complaint, staff, MessageKind.ESCALATED, event, now, **values)
    return event
