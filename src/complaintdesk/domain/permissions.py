"""Who may do what to a complaint. Seeing is decided by scope (company and project);
acting by role, department and the person's relation to the complaint."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from complaintdesk.domain.lifecycle import Action, Status, allowed_actions
from complaintdesk.domain.taxonomy import Role, StaffDepartment


class Permission(StrEnum):
    REGISTER = "register"
    RELABEL = "relabel"
    DISPATCH = "dispatch"
    WORK = "work"  # start, resolve, follow up as the acting department
    FOLLOW_UP = "follow_up"
    VISIT = "visit"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    MANAGE = "manage"  # projects: administrators only; staff: see can_manage_staff
    LOWER_URGENCY = "lower_urgency"  # a correction that moves the deadlines out
    AUDIT = "audit"  # search the audit trail: administrators only


@dataclass(frozen=True)
class ActorView:
    id: int
    role: Role
    department: StaffDepartment


@dataclass(frozen=True)
class ComplaintView:
    first_receiver_id: int
    assignee_id: int | None
    departments: frozenset[str]


_COORDINATORS = frozenset({Role.AGENT, Role.SUPERVISOR, Role.MANAGER, Role.ADMIN})


def can(actor: ActorView, permission: Permission, complaint: ComplaintView | None = None) -> bool:
    """Whether ``actor`` (already known to see the complaint) may take ``permission``.

    The first receiver (首问负责制) stays accountable until closure, so they may always
    coordinate their complaint: dispatch it, follow it up, visit and close it.
    """
    if permission is Permission.REGISTER:
        return True  # anyone of any department receives complaints
    if permission in (Permission.MANAGE, Permission.AUDIT):
        return actor.role is Role.ADMIN
    if permission is Permission.LOWER_URGENCY:
        return _may_lower_urgency(actor, complaint)
    if permission in (Permission.RELABEL, Permission.FOLLOW_UP):
        return True
    is_first_receiver = complaint is not None and complaint.first_receiver_id == actor.id
    coordinator = (
        actor.role in _COORDINATORS or actor.department is StaffDepartment.CUSTOMER_SERVICE
    )
    if permission in (Permission.DISPATCH, Permission.VISIT, Permission.CLOSE, Permission.WITHDRAW):
        return coordinator or is_first_receiver
    if permission is Permission.WORK:
        if complaint is None:
            return False
        return (
            complaint.assignee_id == actor.id
            or actor.department.value in complaint.departments
            or actor.role.rank >= Role.SUPERVISOR.rank
        )
    return False


def _may_lower_urgency(actor: ActorView, complaint: ComplaintView | None) -> bool:
    """Lowering an urgency (an emergency's 4 hours becoming 7 days) is a supervisor's
    call: customer service's supervisors, who coordinate every complaint, or those of a
    department that owns this one; managers and administrators above them."""
    if actor.role.rank >= Role.MANAGER.rank:
        return True
    if actor.role is not Role.SUPERVISOR or complaint is None:
        return False
    return (
        actor.department is StaffDepartment.CUSTOMER_SERVICE
        or actor.department.value in complaint.departments
    )


def can_manage_staff(
    actor: ActorView,
    actor_projects: frozenset[int],
    target_role: Role,
    target_projects: frozenset[int],
) -> bool:
    """Whether ``actor`` may create, or deactivate, staff of ``target_role`` working on
    ``target_projects``.

    Administrators manage everyone. A project manager manages the staff below them on
    their own projects only, so that no one can grant themselves more than they have.
    """
    if actor.role is Role.ADMIN:
        return True
    if actor.role is Role.MANAGER:
        return (
            target_role.rank < Role.MANAGER.rank
            and bool(target_projects)
            and target_projects <= actor_projects
        )
    return False


ACTION_PERMISSION: dict[Action, Permission] = {
    Action.DISPATCH: Permission.DISPATCH,
    Action.START: Permission.WORK,
    Action.RESOLVE: Permission.WORK,
    Action.VISIT_SATISFIED: Permission.VISIT,
    Action.VISIT_UNSATISFIED: Permission.VISIT,
    Action.CLOSE: Permission.CLOSE,
    Action.WITHDRAW: Permission.WITHDRAW,
}
"""The permission each step of the lifecycle needs (the services require the same)."""


class Task(StrEnum):
    """What a person can do to a complaint besides moving its state."""

    RELABEL = "relabel"
    FOLLOW_UP = "follow_up"
    MESSAGE_OWNER = "message_owner"


def available_actions(actor: ActorView, status: Status, complaint: ComplaintView) -> list[str]:
    """What ``actor`` may do to the complaint now: the steps its state allows that
    their permissions allow (a return visit once, for both outcomes), then the other
    tasks of an open complaint."""
    actions: list[str] = []
    for action in allowed_actions(status):
        if not can(actor, ACTION_PERMISSION[action], complaint):
            continue
        name = "visit" if action in (Action.VISIT_SATISFIED, Action.VISIT_UNSATISFIED) else action
        if name not in actions:
            actions.append(str(name))
    if status.is_open:
        if can(actor, Permission.RELABEL, complaint):
            actions.append(Task.RELABEL.value)
        if can(actor, Permission.FOLLOW_UP, complaint):
            actions.append(Task.FOLLOW_UP.value)
            actions.append(Task.MESSAGE_OWNER.value)
    return actions


def can_administer_project(
    actor: ActorView, actor_projects: frozenset[int], project_id: int
) -> bool:
    """Whether ``actor`` may change a project's settings, buildings and units:
    administrators any of their company's, a project manager their own."""
    if actor.role is Role.ADMIN:
        return True
    return actor.role is Role.MANAGER and project_id in actor_projects
