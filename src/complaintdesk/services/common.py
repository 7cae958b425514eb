"""What every use case needs: scope checks, permission checks, events, SLA upkeep."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, String, bindparam, exists, func, select, true
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from complaintdesk.db.ids import new_id
from complaintdesk.db.models import (
    Complaint,
    Event,
    Owner,
    OwnerUnit,
    Project,
    ShownComplaint,
    Staff,
    StaffProject,
    Unit,
    co_handling_codes,
)
from complaintdesk.domain import sla
from complaintdesk.domain.errors import Forbidden, NotFound
from complaintdesk.domain.lifecycle import Action, Status, next_status
from complaintdesk.domain.permissions import ActorView, ComplaintView, Permission, can
from complaintdesk.domain.taxonomy import Role, StaffDepartment, Urgency


def actor_view(actor: Staff) -> ActorView:
    return ActorView(actor.id, Role(actor.role), StaffDepartment(actor.department))


def complaint_view(complaint: Complaint | ShownComplaint) -> ComplaintView:
    return ComplaintView(
        first_receiver_id=complaint.first_receiver_id,
        assignee_id=complaint.assignee_id,
        departments=frozenset({complaint.department, *complaint.co_handling_departments()}),
    )


def visible_project_ids(actor: Staff) -> set[int] | None:
    """The projects whose complaints ``actor`` may see; None means every project of
    their company (administrators)."""
    if actor.role == Role.ADMIN:
        return None
    return actor.project_ids


def can_see_project(actor: Staff, project_id: int) -> bool:
    visible = visible_project_ids(actor)
    return visible is None or project_id in visible


def get_project(session: Session, actor: Staff, project_id: int) -> Project:
    """The project, if it is the actor's to know of; else NotFound (never Forbidden:
    what is not theirs does not exist for them)."""
    project = session.get(Project, project_id)
    if project is None or project.company_id != actor.company_id:
        raise NotFound(f"project {project_id} not found", field="project_id")
    if not can_see_project(actor, project_id):
        raise NotFound(f"project {project_id} not found", field="project_id")
    return project


def get_owner(session: Session, actor: Staff, owner_id: int, *, take_turn: bool = False) -> Owner:
    """The owner, if the actor may know of them: an owner of the actor's company who
    lives in, or has complained in, one of the actor's projects (administrators: any
    owner of their company). Else NotFound: an owner placed in no unit who has not
    complained is known to administrators only, not to the whole company.

    The owner and whether they live here are read in one query (it is on every create).
    With ``take_turn``, on PostgreSQL the same query takes the owner's turn (intake's
    lock, see :func:`turn_lock`): the caller's next statements see every create for
    this owner committed before, and the next create for them waits for this
    transaction to end."""
    visible = visible_project_ids(actor)
    turn = take_turn and session.get_bind().dialect.name == "postgresql"
    if visible is None and not turn:
        owner = session.get(Owner, owner_id)
        lives_here = True
    else:
        statement = (
            (_OWNER_TURN if visible is None else _OWNER_LIVES_IN_TURN) if turn else _OWNER_LIVES_IN
        )
        row = session.execute(
            statement,
            {
                "owner_id": owner_id,
                "visible": list(visible or ()) or [-1],
                "turn": owner_turn(owner_id),
            },
        ).first()
        owner, lives_here = (row[0], bool(row[1])) if row is not None else (None, False)
    if owner is None or owner.company_id != actor.company_id:
        raise NotFound(f"owner {owner_id} not found", field="owner_id")
    if lives_here or visible is None:
        return owner
    complained_here = session.scalar(
        select(Complaint.id)
        .where(Complaint.owner_id == owner.id, Complaint.project_id.in_(visible or [-1]))
        .limit(1)
    )
    if complained_here is None:
        raise NotFound(f"owner {owner_id} not found", field="owner_id")
    return owner


_OWNER_LIVES_IN = select(
    Owner,
    exists(
        select(OwnerUnit.unit_id)
        .join(Unit, Unit.id == OwnerUnit.unit_id)
        .where(
            OwnerUnit.owner_id == Owner.id,
            Unit.project_id.in_(bindparam("visible", expanding=True)),
        )
    ),
).where(Owner.id == bindparam("owner_id"))
"""The owner and whether they live in one of the ``visible`` projects: built once (on
every create; made per call, the statement cost about as much CPU as running it)."""

TURN_SEED = 0x6364_696E_7461_6B65  # "cdintake": the seed of intake's advisory lock keys


def turn_lock(key: ColumnElement[str]) -> ColumnElement[Any]:
    """PostgreSQL: wait for, then hold until the transaction ends, the turn of the
    caller named ``key`` (``owner:<id>``, ``phone:<number>``, ``unit:<id>``): creates
    by one caller take turns, so the second sees the first (intake's repeat check)."""
    return func.pg_advisory_xact_lock(func.hashtextextended(key, TURN_SEED))


def owner_turn(owner_id: int) -> str:
    return f"owner:{owner_id}"


_OWNER_LIVES_IN_TURN = _OWNER_LIVES_IN.add_columns(turn_lock(bindparam("turn", type_=String)))
_OWNER_TURN = select(Owner, true(), turn_lock(bindparam("turn", type_=String))).where(
    Owner.id == bindparam("owner_id")
)


def _complaint(session: Session, complaint_id: int) -> Complaint | None:
    """The complaint: from the session if it holds it, else read with its co-handling
    departments' codes in the same statement (``models.co_handling_codes``)."""
    if identity_key(Complaint, complaint_id) in session.identity_map:
        return session.get(Complaint, complaint_id)
    row = session.execute(
        select(Complaint, co_handling_codes()).where(Complaint.id == complaint_id)
    ).first()
    if row is None:
        return None
    complaint, codes = row
    complaint.read_co_handling(codes)
    return complaint


def get_complaint(session: Session, actor: Staff, complaint_id: int) -> Complaint:
    complaint = _complaint(session, complaint_id)
    if (
        complaint is None
        or complaint.company_id != actor.company_id
        or not can_see_project(actor, complaint.project_id)
    ):
        raise NotFound(f"complaint {complaint_id} not found")
    return complaint


def require(actor: Staff, permission: Permission, complaint: Complaint | None = None) -> None:
    view = complaint_view(complaint) if complaint is not None else None
    if not can(actor_view(actor), permission, view):
        raise Forbidden(
            f"{actor.role} of {actor.department} may not {permission.value} this complaint "
            f"/ 无权执行此操作"
        )


def record_event(
    session: Session,
    complaint: Complaint | int,
    actor: Staff | None,
    kind: str,
    at: datetime,
    *,
    field: str | None = None,
    old: Any = None,
    new: Any = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Append one line to the history of ``complaint`` (the row, or its id when the
    row is not loaded)."""
    event = Event(
        id=new_id(),
        complaint_id=complaint if isinstance(complaint, int) else complaint.id,
        at=at,
        actor_id=actor.id if actor is not None else None,
        kind=kind,
        field=field,
        old=None if old is None else str(old),
        new=None if new is None else str(new),
        data=data,
    )
    session.add(event)
    return event


def transition(
    session: Session, complaint: Complaint, actor: Staff | None, action: Action, at: datetime
) -> Event:
    """Move the complaint by ``action`` (refused if not allowed now) and record it.

    The event is the action alone: its kind says the new status and the event before
    it the old one, so neither is stored (``field``, ``old`` and ``new`` are worked
    out on reading, :func:`complaintdesk.domain.lifecycle.status_changes`)."""
    complaint.status = next_status(Status(complaint.status), action).value
    return record_event(session, complaint, actor, action.value, at)


DEFAULT_TIMEZONE = "Asia/Shanghai"


def project_zone(project: Project | None) -> ZoneInfo:
    """The time zone a project's people read times in (default Asia/Shanghai)."""
    name = getattr(project, "timezone", None) or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def policy_for(project: Project) -> sla.SlaPolicy:
    if not project.sla_overrides:
        return sla.DEFAULT_POLICY
    return sla.SlaPolicy.with_overrides(project.sla_overrides)


def targets_for(session: Session, complaint: Complaint) -> sla.Targets:
    project = session.get(Project, complaint.project_id)
    assert project is not None
    return policy_for(project).for_urgency(Urgency(complaint.urgency))


def set_deadlines(session: Session, complaint: Complaint, now: datetime) -> None:
    """(Re)compute the deadlines from the urgency, then when the sweeper looks next."""
    targets = targets_for(session, complaint)
    complaint.respond_by = complaint.received_at + targets.response
    complaint.resolve_by = complaint.clock_started_at + targets.resolution
    if complaint.resolved_at is not None:
        complaint.visit_by = complaint.resolved_at + targets.visit
    refresh_sla_check(complaint, now)


def clocks(complaint: Complaint) -> list[sla.ClockState]:
    return sla.running_clocks(
        received_at=complaint.received_at,
        respond_by=complaint.respond_by,
        responded_at=complaint.responded_at,
        clock_started_at=complaint.clock_started_at,
        resolve_by=complaint.resolve_by,
        resolved_at=complaint.resolved_at,
        visit_by=complaint.visit_by,
        visited=complaint.visited_at is not None,
        is_open=Status(complaint.status).is_open,
    )


def refresh_sla_check(complaint: Complaint, now: datetime) -> None:
    complaint.sla_check_at = sla.next_check(clocks(complaint), now)


def mark_responded(complaint: Complaint, now: datetime) -> None:
    """The first thing staff do after registration is the first response."""
    if complaint.responded_at is None:
        complaint.responded_at = now
        if complaint.respond_by is not None and now > complaint.respond_by:
            complaint.response_breached = True
        refresh_sla_check(complaint, now)


def staff_in_project(
    session: Session, company_id: int, project_id: int, *, role: Role, department: str | None
) -> list[Staff]:
    """Active staff of ``role`` (and department) who work on ``project_id``."""
    query = (
        select(Staff)
        .join(StaffProject, StaffProject.staff_id == Staff.id)
        .where(
            Staff.company_id == company_id,
            Staff.active.is_(True),
            Staff.role == role.value,
            StaffProject.project_id == project_id,
        )
        .order_by(Staff.id)
    )
    if department is not None:
        query = query.where(Staff.department == department)
    return list(session.scalars(query))
