"""The life of a complaint: its states and which action may move it where.

received → dispatched → in_progress → resolved → visited → closed, with reopen
(an unsatisfied return visit sends it back to dispatched) and withdrawal by the owner.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from complaintdesk.domain.errors import TransitionNotAllowed


class Status(StrEnum):
    RECEIVED = "received"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    VISITED = "visited"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"

    @property
    def is_open(self) -> bool:
        return self not in FINAL_STATES


FINAL_STATES = frozenset({Status.CLOSED, Status.WITHDRAWN})
OPEN_STATES = tuple(s for s in Status if s not in FINAL_STATES)


class Action(StrEnum):
    DISPATCH = "dispatch"
    START = "start"
    RESOLVE = "resolve"
    VISIT_SATISFIED = "visit_satisfied"
    VISIT_UNSATISFIED = "visit_unsatisfied"
    CLOSE = "close"
    WITHDRAW = "withdraw"


_TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    # Re-dispatching (to another department or person) is allowed until work is done.
    Action.DISPATCH: (
        frozenset({Status.RECEIVED, Status.DISPATCHED, Status.IN_PROGRESS}),
        Status.DISPATCHED,
    ),
    Action.START: (frozenset({Status.DISPATCHED}), Status.IN_PROGRESS),
    Action.RESOLVE: (frozenset({Status.DISPATCHED, Status.IN_PROGRESS}), Status.RESOLVED),
    Action.VISIT_SATISFIED: (frozenset({Status.RESOLVED}), Status.VISITED),
    # Not satisfied: the complaint is reopened and goes back to the department.
    Action.VISIT_UNSATISFIED: (frozenset({Status.RESOLVED}), Status.DISPATCHED),
    Action.CLOSE: (frozenset({Status.VISITED}), Status.CLOSED),
    Action.WITHDRAW: (frozenset(OPEN_STATES), Status.WITHDRAWN),
}


class Outcome(StrEnum):
    """How a complaint was resolved."""

    FIXED = "fixed"  # the problem was put right
    ANSWERED = "answered"  # a question answered, a suggestion taken up
    NOT_OUR_RESPONSIBILITY = "not_our_responsibility"  # explained, never "nothing to do with me"
    CANNOT_FIX_NOW = "cannot_fix_now"  # explained, with what happens next

    @property
    def needs_explanation(self) -> bool:
        """Not ours, or not now: the owner must have been told why and what next."""
        return self in (Outcome.NOT_OUR_RESPONSIBILITY, Outcome.CANNOT_FIX_NOW)


def is_effective(nature: str, outcome: Outcome) -> bool:
    """An effective complaint (有效投诉) is a justified dissatisfaction complaint: by
    default every dissatisfaction complaint, unless it turned out not to be ours."""
    return nature == "dissatisfaction" and outcome is not Outcome.NOT_OUR_RESPONSIBILITY


_STATUS_ZH = {
    Status.RECEIVED: "已受理",
    Status.DISPATCHED: "已派单",
    Status.IN_PROGRESS: "处理中",
    Status.RESOLVED: "已处理",
    Status.VISITED: "已回访",
    Status.CLOSED: "已结案",
    Status.WITHDRAWN: "已撤销",
}

# What staff and owners read in English (the code is for machines: "visited" alone does
# not say that the return visit was paid).
_STATUS_EN = {
    Status.RECEIVED: "Received",
    Status.DISPATCHED: "Dispatched",
    Status.IN_PROGRESS: "In progress",
    Status.RESOLVED: "Resolved",
    Status.VISITED: "Return visit done",
    Status.CLOSED: "Closed",
    Status.WITHDRAWN: "Withdrawn",
}


def status_name(status: Status, lang: str = "zh") -> str:
    return _STATUS_EN[status] if lang == "en" else _STATUS_ZH[status]


def allowed_actions(status: Status) -> list[Action]:
    """The actions that may be taken on a complaint in ``status``."""
    return [a for a, (sources, _) in _TRANSITIONS.items() if status in sources]


def next_status(status: Status, action: Action) -> Status:
    """The state ``action`` leads to from ``status``; refuses what is not allowed."""
    sources, target = _TRANSITIONS[action]
    if status not in sources:
        allowed = ", ".join(a.value for a in allowed_actions(status)) or "none"
        raise TransitionNotAllowed(
            f"cannot {action.value} a complaint that is {status.value} "
            f"(allowed now: {allowed}) / 投诉当前状态为「{_STATUS_ZH[status]}」,不能执行该操作"
        )
    return target


STATUS_EVENTS: dict[str, Status] = {
    "received": Status.RECEIVED,
    **{action.value: target for action, (_, target) in _TRANSITIONS.items()},
}
"""The status an event of each kind moves a complaint to (a status event's kind is
its action, or ``received``)."""


def loaded_ending(
    status: str, visited: bool, steps_known: bool = False
) -> tuple[str, str | None, str | None]:
    """``(kind, field, new)`` of the event that ends a bulk-loaded complaint's history
    (``status`` its final one; ``visited``: a return visit came before it;
    ``steps_known``: the events before it are every step it went through, as
    ``generate`` makes them, not the few an import knows). Where the step before it
    says the status it left, it stores none of the three, as a live event does
    (:func:`status_changes` works them out): a withdrawal whose steps are known (it may
    follow any open one), a closing after a return visit. Otherwise (imported history
    that did not say how it went) it stores the status it reached, the one it left
    unknown."""
    if status == Status.WITHDRAWN:
        if steps_known:
            return Action.WITHDRAW.value, None, None
        return Action.WITHDRAW.value, "status", Status.WITHDRAWN.value
    if visited:
        return Action.CLOSE.value, None, None
    return Action.CLOSE.value, "status", Status.CLOSED.value


def status_changes(
    events: Iterable[tuple[str, str | None, str | None, str | None]],
) -> list[tuple[str | None, str | None, str | None]]:
    """Each event's ``(field, old, new)`` from its ``(kind, field, old, new)`` as
    stored, a complaint's events in order.

    Since a change of 7 December 2026 a status event stores none of the three (its
    kind says the new status, the event before it the old one: about 27 bytes of every
    such event, six or so a complaint): they are worked out here, ``("status", <the
    status before>, <the kind's status>)``. An event that stored them (written before,
    or a bulk-loaded closing with no step before it) keeps what it stored; so does
    every other event."""
    status: str | None = None
    found: list[tuple[str | None, str | None, str | None]] = []
    for kind, field, old, new in events:
        reached = STATUS_EVENTS.get(kind)
        if reached is not None and field is None and old is None and new is None:
            field, old, new = "status", status, reached.value
        if field == "status":
            status = new
        found.append((field, old, new))
    return found
