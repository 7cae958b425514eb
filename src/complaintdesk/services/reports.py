"""The numbers supervisors and managers are judged by: one service the dashboard reads.

Everything is counted over complaints *received* in a bounded window (at most
:data:`MAX_WINDOW`) of the projects the reader may see, optionally of one lead
department. A complaint's id is stamped with its receipt time (see ``db.ids``), so
the window is an id range and each query is served by ``ix_complaints_project
(project_id, id)`` (one project, or a reader's few) or ``ix_complaints_company
(company_id, id)`` (an administrator's whole company): the work grows with the
window, never with the whole history. docs/reports.md says which query serves which
figure and defines each rate.

Rollups kept current (a later issue) will answer the same :func:`report` call for
closed periods; the dashboard and any export only ever call :func:`report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from complaintdesk.db.ids import id_floor
from complaintdesk.db.models import Building, Complaint, Project, Staff, Unit
from complaintdesk.domain.errors import Forbidden, InvalidInput
from complaintdesk.domain.lifecycle import Status
from complaintdesk.domain.taxonomy import Department, Role
from complaintdesk.services.common import get_project, project_zone, visible_project_ids

MAX_WINDOW = timedelta(days=366)
"""The longest window one report reads: the queries stay bounded however long the
history grows (longer views will read rollups)."""

READERS = frozenset({Role.SUPERVISOR, Role.MANAGER, Role.ADMIN})


class Granularity:
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Filters:
    """What the reader asks for: a window of local dates (inclusive), optionally one
    project and one lead department."""

    start: date
    end: date
    project_id: int | None = None
    department: Department | None = None


@dataclass(frozen=True)
class Bucket:
    label: str  # the local date the bucket starts on, e.g. 2026-11-02
    start: datetime
    count: int


@dataclass(frozen=True)
class Rates:
    """The counts behind the rates; each rate is None when nothing was counted."""

    received: int = 0  # received in the window and not withdrawn
    withdrawn: int = 0
    responded: int = 0  # had a first response from staff
    resolved: int = 0  # dealt with: resolved, visited or closed
    visited: int = 0  # have a return-visit score
    satisfied: int = 0  # whose latest score is 3 (基本满意) or better
    decided: int = 0  # resolved, or breached a deadline: their SLA outcome is known
    on_time: int = 0  # decided with neither deadline breached
    repeats: int = 0  # flagged as a repeat of an earlier complaint
    judged: int = 0  # resolved with an effective / not effective judgement
    effective: int = 0  # judged effective (有效投诉)

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def response_rate(self) -> float | None:
        return self._share(self.responded, self.received)

    @property
    def resolution_rate(self) -> float | None:
        return self._share(self.resolved, self.received)

    @property
    def satisfaction_rate(self) -> float | None:
        return self._share(self.satisfied, self.visited)

    @property
    def sla_compliance(self) -> float | None:
        return self._share(self.on_time, self.decided)

    @property
    def repeat_rate(self) -> float | None:
        return self._share(self.repeats, self.received)

    @property
    def effective_rate(self) -> float | None:
        return self._share(self.effective, self.judged)


@dataclass(frozen=True)
class Pair:
    building: str
    project_code: str
    category: str
    count: int


@dataclass(frozen=True)
class Report:
    filters: Filters
    zone: str
    granularity: str
    volume: list[Bucket]
    by_nature: dict[str, int]
    by_category: dict[str, int]
    by_channel: dict[str, int]
    rates: Rates
    top_pairs: list[Pair] = field(default_factory=list)


@dataclass(frozen=True)
class _Scope:
    company_id: int
    project_ids: list[int] | None  # None: the whole company (an administrator)
    department: Department | None
    low: int  # id range of the window
    high: int
    start: datetime
    end: datetime

    def where(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = [
            Complaint.company_id == self.company_id,
            Complaint.id >= self.low,
            Complaint.id < self.high,
        ]
        if self.project_ids is not None:
            clauses.append(Complaint.project_id.in_(self.project_ids or [-1]))
        if self.department is not None:
            clauses.append(Complaint.department == self.department.value)
        return clauses


def require_reader(actor: Staff) -> None:
    if Role(actor.role) not in READERS:
        raise Forbidden("reports are for supervisors and managers / 报表仅限主管和经理查看")


def report(session: Session, actor: Staff, filters: Filters) -> Report:
    """Every figure of the dashboard for ``filters``, as ``actor`` may see them."""
    require_reader(actor)
    if filters.end < filters.start:
        raise InvalidInput("the period ends before it starts / 结束日期早于开始日期", field="end")
    project = get_project(session, actor, filters.project_id) if filters.project_id else None
    zone = project_zone(project)
    start = datetime.combine(filters.start, time(), zone)
    end = datetime.combine(filters.end + timedelta(days=1), time(), zone)
    if end - start > MAX_WINDOW:
        raise InvalidInput(
            f"a report covers at most {MAX_WINDOW.days} days / 报表时间范围最长 "
            f"{MAX_WINDOW.days} 天",
            field="start",
        )
    visible = visible_project_ids(actor)
    project_ids = (
        [project.id] if project is not None else (None if visible is None else sorted(visible))
    )
    scope = _Scope(
        actor.company_id,
        project_ids,
        filters.department,
        id_floor(start),
        id_floor(end),
        start,
        end,
    )
    granularity, edges = _edges(filters.start, filters.end, zone)
    return Report(
        filters=filters,
        zone=str(zone),
        granularity=granularity,
        volume=volume(session, scope, edges),
        by_nature=mix(session, scope, Complaint.nature),
        by_category=mix(session, scope, Complaint.category),
        by_channel=mix(session, scope, Complaint.channel),
        rates=rates(session, scope),
        top_pairs=top_pairs(session, scope),
    )


def _edges(start: date, end: date, zone: tzinfo) -> tuple[str, list[datetime]]:
    """Bucket boundaries in local time: days up to two months, weeks (from Monday) up
    to half a year, months beyond. Computed here, so daylight saving and month lengths
    are right on every database."""
    days = (end - start).days + 1
    if days <= 62:
        granularity, first = Granularity.DAY, start
    elif days <= 183:
        granularity, first = Granularity.WEEK, start - timedelta(days=start.weekday())
    else:
        granularity, first = Granularity.MONTH, start.replace(day=1)

    def step(d: date) -> date:
        if granularity == Granularity.DAY:
            return d + timedelta(days=1)
        if granularity == Granularity.WEEK:
            return d + timedelta(days=7)
        return date(d.year + d.month // 12, d.month % 12 + 1, 1)

    edges: list[datetime] = []
    d = first
    while d <= end:
        edges.append(datetime.combine(d, time(), zone))
        d = step(d)
    edges.append(datetime.combine(d, time(), zone))
    return granularity, edges


def volume(session: Session, scope: _Scope, edges: Sequence[datetime]) -> list[Bucket]:
    """Complaints received per bucket: one grouped scan of the window, each row put in
    its bucket by comparing its id with the buckets' first ids."""
    bounds = [id_floor(e) for e in edges[1:-1]]
    bucket = case(*[(Complaint.id < b, i) for i, b in enumerate(bounds)], else_=len(bounds)).label(
        "bucket"
    )
    rows = session.execute(select(bucket, func.count()).where(*scope.where()).group_by(bucket))
    counts = {int(b): int(n) for b, n in rows}
    return [
        Bucket(edges[i].date().isoformat(), edges[i], counts.get(i, 0))
        for i in range(len(edges) - 1)
    ]


def mix(session: Session, scope: _Scope, column: Any) -> dict[str, int]:
    """Complaints received in the window by one label (nature, category or channel)."""
    rows = session.execute(select(column, func.count()).where(*scope.where()).group_by(column))
    return {str(code): int(n) for code, n in sorted(rows, key=lambda r: (-r[1], r[0]))}


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


_DONE = [Status.RESOLVED.value, Status.VISITED.value, Status.CLOSED.value]


def rates(session: Session, scope: _Scope) -> Rates:
    """The counts behind the rates, in one scan of the window."""
    live = Complaint.status != Status.WITHDRAWN.value
    breached = Complaint.response_breached.is_(True) | Complaint.resolution_breached.is_(True)
    resolved = Complaint.status.in_(_DONE)
    decided = and_(live, resolved | breached)
    row = session.execute(
        select(
            _count(live),
            _count(Complaint.status == Status.WITHDRAWN.value),
            _count(and_(live, Complaint.responded_at.is_not(None))),
            _count(resolved),
            _count(Complaint.satisfaction.is_not(None)),
            _count(Complaint.satisfaction >= 3),
            _count(decided),
            _count(and_(decided, ~breached)),
            _count(and_(live, Complaint.repeat_of_id.is_not(None))),
            _count(and_(resolved, Complaint.effective.is_not(None))),
            _count(and_(resolved, Complaint.effective.is_(True))),
        ).where(*scope.where())
    ).one()
    return Rates(*(int(v) for v in row))


def top_pairs(session: Session, scope: _Scope, *, limit: int = 10) -> list[Pair]:
    """Where the same kind of trouble keeps coming from: the buildings and categories
    with the most complaints in the window (a problem to fix at the root)."""
    count = func.count().label("n")
    rows = session.execute(
        select(Building.name, Project.code, Complaint.category, count)
        .join(Unit, Unit.id == Complaint.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .join(Project, Project.id == Building.project_id)
        .where(*scope.where())
        .group_by(Building.id, Building.name, Project.code, Complaint.category)
        .order_by(count.desc(), Building.name, Complaint.category)
        .limit(limit)
    )
    return [Pair(name, code, category, int(n)) for name, code, category, n in rows]
