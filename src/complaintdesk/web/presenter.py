"""The read model of a complaint, shared by the JSON API and the pages.

:func:`present` turns complaint rows into :class:`ComplaintView`s: the labels with
their names in both languages, the people by name, the project's time zone for
local times, and what the viewer may do now (the lifecycle's steps the state allows,
filtered by the viewer's permissions: :func:`~complaintdesk.domain.permissions.
available_actions`, not a rule of its own). The JSON schema copies a view; the
pages read it directly and ask it for names in the viewer's language.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from complaintdesk.db.models import Complaint, Project, ShownComplaint, Staff
from complaintdesk.domain.lifecycle import Outcome, Status, allowed_actions, status_name
from complaintdesk.domain.permissions import ActorView, available_actions
from complaintdesk.domain.permissions import ComplaintView as PermissionView
from complaintdesk.domain.taxonomy import (
    Category,
    Channel,
    Department,
    Nature,
    StaffDepartment,
    Target,
    Urgency,
    display_name,
)
from complaintdesk.i18n import N_, translator
from complaintdesk.services import queries
from complaintdesk.services.common import actor_view, complaint_view
from complaintdesk.services.notify import reference
from complaintdesk.services.queries import Person, co_handling_loaded

DEFAULT_TIMEZONE = "Asia/Shanghai"
_T = TypeVar("_T", Staff, Project)


@functools.cache
def zone(name: str | None) -> ZoneInfo:
    """The time zone called ``name``; the default one for an unknown name."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


@dataclass(frozen=True)
class Named:
    """A code with its display names: ``names = {"zh": …, "en": …}``."""

    code: str
    names: dict[str, str]

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names["zh"]

    @classmethod
    def of(
        cls, code: Status | Nature | Category | Urgency | Department | Channel | Target
    ) -> Named:
        return _named(type(code), code.value)


@functools.cache
def _named(kind: type[StrEnum], value: str) -> Named:
    """A code's names, made once per code (by its kind too: codes of two kinds may be
    spelt alike): every complaint of a list shows four labels, a status, a channel
    and a target, whose names never change while a process runs. Shared between
    views, so read only."""
    code = kind(value)
    if isinstance(code, Status):
        return Named(code.value, {"zh": status_name(code, "zh"), "en": status_name(code, "en")})
    return Named(code.value, {"zh": display_name(code, "zh"), "en": display_name(code, "en")})


@functools.cache
def department_named(code: str) -> Named:
    try:
        return Named.of(Department(code))
    except ValueError:
        dept = StaffDepartment(code)
        return Named(code, {"zh": display_name(dept, "zh"), "en": display_name(dept, "en")})


@dataclass(frozen=True)
class LabelView:
    field: str
    value: Named
    confidence: float | None


@dataclass(frozen=True)
class ComplaintView:
    """One complaint as people see it. ``row`` is the complaint itself (read only):
    an ORM instance, or the columns a list read to show it (``ShownComplaint``, as
    the API's long lists read them); ``confidence`` its labels' confidences
    (``label_confidence``), worked out once."""

    row: Complaint | ShownComplaint
    reference: str
    status: Named
    labels: dict[str, LabelView]
    target: Named
    channel: Named
    departments: list[tuple[Named, bool]]
    receiver: Person | None
    assignee: Person | None
    timezone: str
    allowed_actions: list[str]  # what the state allows, whoever asks
    actions: list[str] | None  # what the viewer may do now (None: no viewer)
    confidence: dict[str, float] | None

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def is_open(self) -> bool:
        return Status(self.row.status).is_open

    def local(self, at: datetime | None) -> datetime | None:
        """``at`` in the project's time zone."""
        return at.astimezone(zone(self.timezone)) if at is not None else None

    def overdue_by(self, now: datetime) -> timedelta | None:
        """How long past the deadline the owner is waiting on (None: not overdue)."""
        c = self.row
        if not self.is_open:
            return None
        late = [
            now - deadline
            for deadline, done in ((c.respond_by, c.responded_at), (c.resolve_by, c.resolved_at))
            if deadline is not None and done is None and deadline < now
        ]
        return max(late) if late else None

    def can(self, action: str) -> bool:
        return self.actions is not None and action in self.actions

    @property
    def outcome(self) -> Outcome | None:
        return Outcome(self.row.resolution_outcome) if self.row.resolution_outcome else None


def present(
    session: Session,
    complaints: Sequence[Complaint | ShownComplaint],
    viewer: Staff | None = None,
) -> list[ComplaintView]:
    """Views of ``complaints`` (ORM instances, or rows read to be shown:
    ``queries.shown_rows``); the people and projects they name are loaded in two
    queries whatever the number of complaints (and their co-handling departments in
    a third, for complaints read without them: ``queries.shown`` and
    ``queries.shown_rows`` read them with the complaints)."""
    co_handling_loaded(session, [c for c in complaints if isinstance(c, Complaint)])
    people = queries.people(
        session,
        {c.first_receiver_id for c in complaints}
        | {c.assignee_id for c in complaints if c.assignee_id is not None},
    )
    zones = _zones(session, {c.project_id for c in complaints})
    actor = actor_view(viewer) if viewer is not None else None
    views = []
    for c in complaints:
        status = Status(c.status)
        label_confidence = c.label_confidence
        confidence = label_confidence or {}
        views.append(
            ComplaintView(
                row=c,
                reference=reference(c),
                status=Named.of(status),
                labels={
                    "nature": LabelView(
                        "nature", _label(Nature, c.nature), _float(confidence.get("nature"))
                    ),
                    "category": LabelView(
                        "category", _label(Category, c.category), _float(confidence.get("category"))
                    ),
                    "urgency": LabelView(
                        "urgency", _label(Urgency, c.urgency), _float(confidence.get("urgency"))
                    ),
                    "department": LabelView(
                        "department",
                        _label(Department, c.department),
                        _float(confidence.get("department")),
                    ),
                },
                target=_target(c.category),
                channel=_channel(c.channel),
                departments=[(department_named(code), lead) for code, lead in c.departments],
                receiver=people.get(c.first_receiver_id),
                assignee=people.get(c.assignee_id) if c.assignee_id is not None else None,
                timezone=zones.get(c.project_id, DEFAULT_TIMEZONE),
                allowed_actions=list(_allowed(status)),
                actions=None if actor is None else list(_actions(actor, status, complaint_view(c))),
                confidence=label_confidence,
            )
        )
    return views


def present_one(
    session: Session, complaint: Complaint, viewer: Staff | None = None
) -> ComplaintView:
    return present(session, [complaint], viewer)[0]


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@functools.cache
def _label(kind: type[Nature | Category | Urgency | Department], code: str) -> Named:
    return Named.of(kind(code))


@functools.cache
def _target(category: str) -> Named:
    return Named.of(Category(category).target)


@functools.cache
def _allowed(status: Status) -> tuple[str, ...]:
    return tuple(a.value for a in allowed_actions(status))


@functools.lru_cache(maxsize=4096)
def _actions(actor: ActorView, status: Status, complaint: PermissionView) -> tuple[str, ...]:
    """What the viewer may do: a pure function of who they are, the state and the
    complaint's people and departments (all frozen), which repeat down a list."""
    return tuple(available_actions(actor, status, complaint))


@functools.cache
def _channel(code: str) -> Named:
    try:
        return Named.of(Channel(code))
    except ValueError:
        return Named(code, {"zh": code, "en": code})


def _loaded(session: Session, model: type[_T], ids: set[int]) -> tuple[dict[int, _T], set[int]]:
    """The rows of ``ids`` already in the session (no query), and the ids still missing."""
    found: dict[int, _T] = {}
    for row_id in ids:
        row = session.identity_map.get(identity_key(model, row_id))
        if isinstance(row, model):
            found[row_id] = row
    return found, ids - set(found)


_ZONE_CACHE: dict[int, tuple[str, float]] = {}
ZONE_CACHE_SECONDS = 60.0
"""A project's time zone is read for every complaint shown and changes almost never:
each process remembers it for a minute (a change shows within that minute)."""


def _zones(session: Session, project_ids: set[int]) -> dict[int, str]:
    loaded, missing = _loaded(session, Project, project_ids)
    zones = {pid: p.timezone for pid, p in loaded.items()}
    fresh_after = time.monotonic() - ZONE_CACHE_SECONDS
    for pid in list(missing):
        cached = _ZONE_CACHE.get(pid)
        if cached is not None and cached[1] > fresh_after:
            zones[pid] = cached[0]
            missing.discard(pid)
    if missing:
        rows = session.execute(select(Project.id, Project.timezone).where(Project.id.in_(missing)))
        now = time.monotonic()
        for pid, tz in rows:
            zones[pid] = tz
            _ZONE_CACHE[pid] = (tz, now)
    return zones


# --- What the owner reads of a complaint's history --------------------------------------


@dataclass(frozen=True)
class OwnerStep:
    """One line of a complaint's history as its owner reads it, in their language."""

    at: datetime
    text: str


_OWNER_WORDS = {
    "received": N_("Received by %(name)s."),
    "dispatch": N_("Passed to %(department)s."),
    "start": N_("Work has started."),
    Outcome.FIXED.value: N_("Dealt with: %(text)s"),
    Outcome.ANSWERED.value: N_("Answered: %(text)s"),
    Outcome.NOT_OUR_RESPONSIBILITY.value: N_("Not ours to fix. What we told you: %(text)s"),
    Outcome.CANNOT_FIX_NOW.value: N_("Cannot be fully fixed yet: %(text)s"),
    "visit_satisfied": N_("You rated it %(score)s of 5: satisfied. Thank you."),
    "visit_unsatisfied": N_("You rated it %(score)s of 5: not satisfied. It is back at work."),
    "late": N_("Taking longer than promised: a supervisor is following it up."),
    "close": N_("Closed."),
    "withdraw": N_("Withdrawn at your request."),
}


def owner_steps(session: Session, complaint: Complaint, lang: str) -> list[OwnerStep]:
    """The complaint's history in plain words for its owner: what was done and what
    they were told; staff's own notes, label corrections and internal flags are left
    out."""
    t = translator(lang)
    staff_names = {
        s.id: s.name
        for s in session.scalars(select(Staff).where(Staff.id == complaint.first_receiver_id))
    }
    steps = []
    told_late = False
    for event in queries.stored_events(session, complaint):
        data = event.data or {}
        key: str | None = None
        values: dict[str, object] = {}
        if event.kind == "received":
            key, values = event.kind, {"name": staff_names.get(event.actor_id or 0, "-")}
        elif event.kind == "dispatch":
            dept = department_named(str(data.get("department") or complaint.department))
            key, values = event.kind, {"department": dept.name(lang)}
        elif event.kind == "resolve":
            outcome = str(data.get("outcome") or Outcome.FIXED.value)
            key = outcome if outcome in _OWNER_WORDS else Outcome.FIXED.value
            values = {"text": data.get("owner_explanation") or data.get("resolution") or ""}
        elif event.kind in ("visit_satisfied", "visit_unsatisfied"):
            key, values = event.kind, {"score": data.get("satisfaction", "-")}
        elif event.kind == "escalated" and data.get("clock") in ("response", "resolution"):
            # The owner hears once that it is late, as their message said.
            key = None if told_late else "late"
            told_late = True
        elif event.kind in ("start", "close", "withdraw"):
            key = event.kind
        if key is not None:
            steps.append(OwnerStep(event.at, t(_OWNER_WORDS[key], **values)))
    return steps
