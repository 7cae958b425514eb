"""Read-side queries: lists with filters and cursors, queues, histories, timelines.

Each hot query is served by one index (see ``db/models.py``): an agent's open queue
by deadline, an owner's history, a project's overdue list, a complaint's timeline.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    bindparam,
    func,
    literal,
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from complaintdesk.db import folding
from complaintdesk.db.engine import GENERIC_PLANS, transaction_plans
from complaintdesk.db.ids import LOW_BITS, id_floor
from complaintdesk.db.models import (
    SHOWN_COLUMNS,
    Complaint,
    ComplaintDepartment,
    Event,
    FollowUp,
    Outbox,
    Owner,
    OwnerComplaint,
    ShownComplaint,
    Staff,
    Visit,
    co_handling_codes,
)
from complaintdesk.domain.errors import InvalidInput, NotFound
from complaintdesk.domain.lifecycle import OPEN_STATES, Action, Status, status_changes
from complaintdesk.domain.taxonomy import labels_of
from complaintdesk.services import retention
from complaintdesk.services.common import can_see_project, visible_project_ids

MAX_PAGE = 200
_Row = TypeVar("_Row", Event, FollowUp, Visit, Outbox)
_Shown = TypeVar("_Shown", Complaint, ShownComplaint)
_OPEN = [s.value for s in OPEN_STATES]


def open_work() -> ColumnElement[bool]:
    """Open (not closed, not withdrawn), spelt as the partial open-work indexes'
    predicate (``db/models.py``: ``closed_at IS NULL``) so that they serve it."""
    return Complaint.closed_at.is_(None)


def closed() -> ColumnElement[bool]:
    """Closed or withdrawn, spelt as the partial index of closed complaints'
    predicate (``closed_at IS NOT NULL``, migration 0012) so that it serves it."""
    return Complaint.closed_at.is_not(None)


def generic_plans(session: Session) -> None:
    """On PostgreSQL, have this transaction's statements run from plans made once per
    connection (generic plans of the prepared statements psycopg makes of a statement
    it has seen five times), not planned again at every request.

    Planning is the largest cost of a read over a partitioned history: a statement
    that may reach every month is planned against every month's partition and each of
    its indexes (20-70 ms at 37 months on this machine, 200 ms on a fresh connection)
    while running it takes about a millisecond. A generic plan prunes months at run
    time from the bound values (the id range, the cursor), so it reads what a custom
    plan would. What a partial index depends on (open work, the flags) is written
    into the statement, not bound, so that the generic plan still uses those indexes
    (``tests/integration/test_partitions_and_plans.py`` checks both kinds of plan).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    if transaction_plans(session.connection()) == GENERIC_PLANS:
        return  # begun with them (a hot read's route: ``engine.PLANS``)
    session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))


@dataclass(frozen=True)
class ComplaintFilter:
    """Filters of the complaint list; None means any."""

    project_id: int | None = None
    status: str | None = None
    nature: str | None = None
    category: str | None = None
    urgency: str | None = None
    department: str | None = None
    assignee_id: int | None = None
    first_receiver_id: int | None = None
    owner_id: int | None = None
    open: bool | None = None
    overdue: bool | None = None
    needs_review: bool | None = None
    repeat: bool | None = None
    risk: bool | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None


def overdue(now: datetime) -> ColumnElement[bool]:
    """Open and past a deadline the owner is waiting on: not yet answered after the
    response deadline, or not yet resolved after the resolution deadline."""
    return open_work() & or_(
        Complaint.responded_at.is_(None) & (Complaint.respond_by < now),
        Complaint.resolved_at.is_(None) & (Complaint.resolve_by < now),
    )


def _seen_by(actor: Staff, *, as_filter: bool = False) -> ColumnElement[bool]:
    """The complaints ``actor`` may see: their company's, in the projects they see.
    ``as_filter``: spelt so that no index is chosen for it (``+ 0``), only checked on
    the rows another condition finds."""
    return _seen(actor.company_id, visible_project_ids(actor), as_filter=as_filter)


def _seen(
    company_id: Any, visible: set[int] | None, *, as_filter: bool = False
) -> ColumnElement[bool]:
    """The complaints of ``company_id`` (a value or a bound parameter) in the projects
    ``visible`` (None: all of them): :func:`_seen_by`'s condition."""
    company: Any = Complaint.company_id + 0 if as_filter else Complaint.company_id
    project: Any = Complaint.project_id + 0 if as_filter else Complaint.project_id
    seen: ColumnElement[bool] = company == company_id
    if visible is not None:
        seen = seen & project.in_(visible or [-1])
    return seen


def _scoped(actor: Staff) -> Select[Complaint]:
    return select(Complaint).where(_seen_by(actor))


def shown(session: Session, query: Select[Complaint]) -> list[Complaint]:
    """The complaints ``query`` reads, to be shown: with their co-handling departments'
    codes read by the same statement (``models.co_handling_codes``), not by a second
    one a page."""
    rows = session.execute(query.add_columns(co_handling_codes())).all()
    for complaint, codes in rows:
        complaint.read_co_handling(codes)
    return [complaint for complaint, _ in rows]


def shown_rows(session: Session, query: Select[Any]) -> list[ShownComplaint]:
    """The complaints ``query`` (a select of complaints: its conditions, order and
    limit) reads, to be shown, as plain columns (:class:`~complaintdesk.db.models.
    ShownComplaint`): only the columns a view shows, and the co-handling
    departments' codes, by the same statement; not loaded as ORM instances.

    For a read whose complaints are only shown (an API list's page): a page of 100
    took about 3 ms of CPU to load as instances against 1.5 ms as these rows, and
    its views and wire form read each column faster from a tuple than through the
    ORM's instrumented attributes (docs/capacity.md, the read path, step 17). What
    this session has not yet flushed is flushed first, as a query would."""
    statement = query.with_only_columns(
        *_shown_columns(), co_handling_codes(), maintain_column_froms=False
    )
    make = ShownComplaint._make
    return [make(row) for row in _read_rows(session, statement)]


def _shown_columns() -> list[ColumnElement[Any]]:
    return [Complaint.__table__.c[name] for name in SHOWN_COLUMNS]


def _read_rows(session: Session, statement: Select[Any]) -> Sequence[Sequence[Any]]:
    """``statement``'s rows, as the session's connection reads them (no ORM loading);
    what the session has not yet flushed is flushed first, as a query would."""
    session.flush()
    return session.connection().execute(statement).all()


def co_handling_loaded(session: Session, complaints: Sequence[Complaint]) -> None:
    """Make sure each complaint knows its co-handling departments: those read without
    their codes (``shown``) or rows (by another use case's query) have their rows
    loaded, all in one statement (none when every complaint knows them)."""
    missing = {c.id: c for c in complaints if not c.knows_co_handling() and c.id is not None}
    if not missing:
        return
    found: dict[int, list[ComplaintDepartment]] = {i: [] for i in missing}
    query = (
        select(ComplaintDepartment)
        .where(ComplaintDepartment.complaint_id.in_(missing))
        .order_by(ComplaintDepartment.department)
    )
    for row in session.scalars(query):
        found[row.complaint_id].append(row)
    for complaint_id, rows in found.items():
        set_committed_value(missing[complaint_id], "co_handling", rows)


def id_at(moment: datetime) -> int:
    """The smallest id made at ``moment`` (clamped to the id range)."""
    try:
        return id_floor(moment)
    except ValueError:
        return 0 if moment.year < 2050 else MAX_ID


def id_after(moment: datetime) -> int:
    """An id larger than any made at or before ``moment``'s millisecond."""
    floor = id_at(moment)
    return floor if floor == MAX_ID else min(floor + (1 << LOW_BITS), MAX_ID)


def filtered(actor: Staff, flt: ComplaintFilter, now: datetime) -> Select[Complaint]:
    """The complaints ``actor`` may see that pass ``flt``: the list's and search's
    common query. Each filter is answerable from an index (``db/models.py``)."""
    query = _scoped(actor)
    for name in (
        "project_id",
        "status",
        "nature",
        "category",
        "urgency",
        "department",
        "assignee_id",
        "first_receiver_id",
        "owner_id",
    ):
        value = getattr(flt, name)
        if value is not None:
            query = query.where(getattr(Complaint, name) == value)
    if flt.status in _OPEN:
        query = query.where(open_work())  # found among open work (its indexes)
    elif flt.status is not None:
        query = query.where(closed())  # a final state: among closed work (its index)
    if flt.open is not None:
        query = query.where(open_work() if flt.open else closed())
    if flt.overdue is not None:
        query = query.where(overdue(now) if flt.overdue else ~overdue(now))
    if flt.repeat is not None:
        query = query.where(
            Complaint.repeat_of_id.is_not(None) if flt.repeat else Complaint.repeat_of_id.is_(None)
        )
    # Flags as "= true", not "IS TRUE", and not bound: the planner matches them to
    # their partial indexes (in a generic plan too).
    if flt.needs_review is not None:
        query = query.where(
            Complaint.needs_review == true() if flt.needs_review else ~Complaint.needs_review
        )
    if flt.risk is not None:
        query = query.where(Complaint.at_risk == true() if flt.risk else ~Complaint.at_risk)
    # A time window is a range of the time-ordered id (the primary key, and on
    # PostgreSQL the partition key: only the months asked for are read); the
    # received_at test keeps the edges exact to the microsecond.
    if flt.received_from is not None:
        query = query.where(
            Complaint.id >= id_at(flt.received_from), Complaint.received_at >= flt.received_from
        )
    if flt.received_to is not None:
        query = query.where(
            Complaint.id < id_after(flt.received_to), Complaint.received_at < flt.received_to
        )
    return query


def list_complaints(
    session: Session,
    actor: Staff,
    flt: ComplaintFilter,
    now: datetime,
    *,
    cursor: int | None = None,
    limit: int = 50,
) -> tuple[list[ShownComplaint], int | None]:
    """A page of complaints the actor may see, newest first, and the next cursor. The
    complaints as rows to show (:func:`shown_rows`)."""
    check_limit(limit, MAX_PAGE)
    generic_plans(session)
    query = filtered(actor, flt, now)
    if cursor is not None:
        query = query.where(Complaint.id < cursor)
    if flt.status == Status.WITHDRAWN.value:
        rows = _withdrawn(session, query, cursor, limit + 1)
    else:
        rows = shown_rows(session, query.order_by(Complaint.id.desc()).limit(limit + 1))
    return _newest_page(rows, limit)


def check_limit(limit: int, most: int) -> None:
    """A page's size, 1 to ``most``: else a clear error naming ``limit``."""
    if not 1 <= limit <= most:
        raise InvalidInput(f"limit is 1 to {most}", field="limit")


def _newest_page(
    rows: list[_Shown], limit: int, *, more: bool = False
) -> tuple[list[_Shown], int | None]:
    """The first ``limit`` of the rows read newest first, and the next page's cursor
    (the last id shown) when there is more: a row past them, or ``more`` known
    otherwise."""
    return rows[:limit], rows[limit - 1].id if len(rows) > limit or more else None


def withdrawn_ids(below: int | None, n: int) -> Select[int]:
    """The ids of the ``n`` newest withdrawn complaints below ``below``, from the
    partial index of withdrawal events (the kind written inline for it)."""
    query = (
        select(Event.complaint_id)
        .where(Event.kind == literal(Action.WITHDRAW.value, String(), literal_execute=True))
        .order_by(Event.complaint_id.desc())
        .limit(n)
    )
    return query if below is None else query.where(Event.complaint_id < below)


def _withdrawn(
    session: Session, query: Select[Complaint], below: int | None, wanted: int
) -> list[ShownComplaint]:
    """Up to ``wanted`` complaints of ``query`` (withdrawn ones), newest first: their
    ids from the index of withdrawal events (newest complaint first), then those
    complaints, in batches that grow until the page is full or none are left.

    Nothing on complaints indexes ``status`` (HOT updates, migration 0009); reading
    the newest complaints until enough withdrawn ones turn up read 27,000 at 1M."""
    found: list[ShownComplaint] = []
    batch = wanted
    while len(found) < wanted:
        ids = list(dict.fromkeys(session.scalars(withdrawn_ids(below, batch))))
        if not ids:
            break
        chosen = query.where(Complaint.id.in_(ids)).order_by(Complaint.id.desc())
        found.extend(shown_rows(session, chosen.limit(wanted - len(found))))
        if len(ids) < batch:
            break
        below, batch = ids[-1], min(batch * 4, 2000)
    return found


QUEUE_PAGE = 100
_NO_DEADLINE = datetime.max.replace(tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
MAX_ID = 2**63 - 1
_DAY_OF_IDS = 86_400_000 << LOW_BITS


def _due(c: Complaint) -> datetime:
    """When a queued complaint is next due: a follow-up date or the resolution deadline."""
    moments = [d for d in (c.next_follow_up_at, c.resolve_by) if d is not None]
    return min(moments) if moments else _NO_DEADLINE


def queue_cursor(c: Complaint) -> str:
    """The opaque position after ``c`` in a queue: its due moment and id."""
    return _position_cursor(_due(c), c.id)


def _position_cursor(at: datetime, id_: int) -> str:
    """A page's position as a moment and an id (the queue's and the overdue list's):
    read back by :func:`_parse_queue_cursor`, compared by :func:`_past`."""
    return f"{(at - _EPOCH) // _MICRO}.{id_}"


def _past(column: Any, after: tuple[datetime, int]) -> Any:
    """``(column, id)`` after the position ``after``, as a row comparison."""
    position = tuple_(literal(after[0], column.type), literal(after[1], BigInteger()))
    return tuple_(column, Complaint.id) > position


def _parse_queue_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        micros, id_ = (int(part) for part in cursor.split("."))
        if not 0 < id_ < 2**63:  # ids are 64-bit: the database would refuse the query
            raise ValueError(id_)
        return _EPOCH + micros * _MICRO, id_
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(
            "cursor is the next_cursor of the previous page / 游标无效", field="cursor"
        ) from exc


def queue_page(
    session: Session, actor: Staff, *, limit: int = QUEUE_PAGE, cursor: str | None = None
) -> tuple[list[Complaint], str | None]:
    """A page of the actor's open work (assigned to them, or received by them: they
    stay accountable until closure), what is due first (a follow-up date or the
    resolution deadline) first, and the cursor of the next page.

    Four range scans of the partial open-work indexes, each at most ``limit + 1`` rows
    long: (assignee | first receiver) x (deadline | follow-up date), sent as one
    statement (``UNION ALL``) with the co-handling departments. A row after the
    cursor is after it by both of its dates, so each scan starts past the cursor, and
    the first ``limit`` of the merged scans are the first ``limit`` of the queue.
    Company and project visibility are checked on those rows only (``+ 0`` keeps the
    planner from intersecting them with the project's whole history). An open
    complaint always has a resolution deadline, so every one of them is reached.
    """
    check_limit(limit, MAX_PAGE)
    after = _parse_queue_cursor(cursor) if cursor is not None else None
    generic_plans(session)
    visible = visible_project_ids(actor)
    params: dict[str, Any] = {"actor": actor.id, "company": actor.company_id, "n": limit + 1}
    if visible is not None:
        params["projects"] = sorted(visible) or [-1]
    if after is not None:
        params["after_at"], params["after_id"] = after
    statement = _queue_statement(visible is not None, after is not None)
    rows: dict[int, Complaint] = {}
    for c, codes in session.execute(statement, params):
        c.read_co_handling(codes)
        rows.setdefault(c.id, c)
    ordered = sorted(rows.values(), key=lambda c: (_due(c), c.id))
    next_cursor = queue_cursor(ordered[limit - 1]) if len(ordered) > limit else None
    return ordered[:limit], next_cursor


@functools.cache
def _queue_statement(scoped: bool, after: bool) -> Select[Complaint, str]:
    """The queue's four scans as one statement (``UNION ALL``), with the complaints'
    co-handling departments; its values bound (``actor``, ``company``, ``n``, and
    ``projects``, ``after_at``, ``after_id`` when ``scoped`` and ``after``). Made once
    a process for each of its four shapes: building the union's columns took about
    6 ms of Python a request, more than PostgreSQL's 2-3 ms to run it (read_1m)."""
    me = bindparam("actor", type_=BigInteger())
    seen = [(Complaint.company_id + 0) == bindparam("company", type_=BigInteger()), open_work()]
    if scoped:
        seen.append((Complaint.project_id + 0).in_(bindparam("projects", expanding=True)))
    position = tuple_(
        bindparam("after_at", type_=Complaint.resolve_by.type),
        bindparam("after_id", type_=BigInteger()),
    )
    parts = []
    for mine in (Complaint.assignee_id == me, Complaint.first_receiver_id == me):
        for by, other in (
            (Complaint.resolve_by, Complaint.next_follow_up_at),
            (Complaint.next_follow_up_at, Complaint.resolve_by),
        ):
            part = select(Complaint.__table__).where(mine, *seen, by.is_not(None))
            if after:
                past_by = tuple_(by, Complaint.id) > position
                past_other = tuple_(other, Complaint.id) > position
                part = part.where(past_by, other.is_(None) | past_other)
            # Each scan limited on its own (in a subquery: SQLite takes no LIMIT on a
            # member of a UNION).
            part = part.order_by(by, Complaint.id).limit(bindparam("n", type_=Integer()))
            parts.append(select(part.subquery()))
    scans = union_all(*parts).subquery("scans")
    return select(aliased(Complaint, scans), co_handling_codes(scans.c.id))


def my_queue(session: Session, actor: Staff, *, limit: int = QUEUE_PAGE) -> list[Complaint]:
    """The first page of the actor's open work (see :func:`queue_page`)."""
    return queue_page(session, actor, limit=limit)[0]


HISTORY_PAGE = 20
MAX_HISTORY_PAGE = 100
"""Owner history and the overdue list page like the list: 20 a page by default, up to
100 with ``limit``, the rest by cursor (docs/api.md)."""


def overdue_cursor(c: Complaint | ShownComplaint) -> str:
    """The opaque position after ``c`` in an overdue list: its resolution deadline
    and id (the queue's cursor format)."""
    return _position_cursor(c.resolve_by if c.resolve_by is not None else _NO_DEADLINE, c.id)


def project_overdue(
    session: Session,
    actor: Staff,
    project_id: int,
    now: datetime,
    *,
    limit: int = HISTORY_PAGE,
    cursor: str | None = None,
) -> tuple[list[ShownComplaint], str | None]:
    """A page of the project's open complaints past a deadline the owner waits on, by
    resolution deadline (then id), and the cursor of the next page: from the partial
    index of the project's open work by deadline, starting past the cursor. The
    complaints as rows to show (:func:`shown_rows`)."""
    check_limit(limit, MAX_HISTORY_PAGE)
    if not can_see_project(actor, project_id):
        raise NotFound(f"project {project_id} not found")
    after = _parse_queue_cursor(cursor) if cursor is not None else None
    generic_plans(session)
    query = _scoped(actor).where(Complaint.project_id == project_id, overdue(now))
    if after is not None:
        query = query.where(_past(Complaint.resolve_by, after))
    query = query.order_by(Complaint.resolve_by, Complaint.id).limit(limit + 1)
    rows = shown_rows(session, query)
    next_cursor = overdue_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def owner_history(
    session: Session,
    actor: Staff,
    owner: Owner,
    *,
    limit: int = HISTORY_PAGE,
    cursor: int | None = None,
) -> tuple[list[ShownComplaint], int | None]:
    """A page of the owner's complaints the actor may see, newest first, and the
    cursor of the next page (the last id shown) when the owner has older complaints;
    the complaints as rows to show (:func:`shown_rows`).

    One statement: the owner's newest ids from ``owner_complaints`` (one descent of
    its primary key, the ids side by side), then those complaints by their primary
    key, scoped to what the actor may see (checked on each row: the primary key is
    the index every read of one complaint uses, so the one most likely in memory).
    Merging the months' ``(owner_id, id)`` indexes instead descended every month
    and read the owner's newest complaint in each, whether the page reached that
    month or not (docs/capacity.md, step 15). Whether there is more is told by the
    ids alone: one id past the page is read, its complaint is not (at 30 million
    most complaints are read from disk, an index leaf and a heap page each: a page
    of 20 read 21). So a next page can be empty when every older complaint of the
    owner is one the actor may not see (another project's, for a supervisor), or is
    gone. Such ids are skipped and the next ids read, so a page is full whenever
    there is more the actor may see; each further round reads about twice the ids of
    the one before (up to ``_HISTORY_BATCH_MAX``), so an owner with hundreds of
    complaints the actor may not see costs a few statements, not one per page of
    them."""
    check_limit(limit, MAX_HISTORY_PAGE)
    generic_plans(session)
    rows: list[ShownComplaint] = []
    below = cursor
    wanted = limit
    visible = visible_project_ids(actor)
    make = ShownComplaint._make
    while True:
        found = _read_rows(
            session, owner_page(owner.id, actor.company_id, wanted, visible=visible, below=below)
        )
        for row in found:
            if row[1] is not None:  # the complaint, if the actor may see it
                rows.append(make(row[1:-1]))
        more = bool(found) and found[0][-1] > len(found)  # ids past the ones read
        if len(rows) >= limit:
            return _newest_page(rows, limit, more=more)
        if not more:
            return rows, None
        below = found[-1][0]
        wanted = min(wanted * 2 + 1, _HISTORY_BATCH_MAX - 1)


_HISTORY_BATCH_MAX = 1600
"""The most ids one round of :func:`owner_history` reads (their complaints, and one
more id)."""


def owner_page(
    owner_id: Any,
    company_id: Any,
    wanted: Any,
    *,
    visible: set[int] | None = None,
    below: Any = None,
) -> Select[Any]:
    """One round of :func:`owner_history`: the owner's ``wanted`` newest ids (below
    ``below``), each with its complaint's shown columns and co-handling codes when the
    complaint is ``company_id``'s and in ``visible``'s projects (None: any), else
    NULLs; and in each row's last column how many ids the round found when it looked
    for one more (``wanted + 1`` when there are older ones: their complaints are not
    read). Values or bound parameters (the benches compile it with parameters:
    bench/bench_read_sql.py, bench/owner_page_layouts.py)."""
    complaints = Complaint.__table__
    newest = select(OwnerComplaint.complaint_id.label("id")).where(
        OwnerComplaint.owner_id == owner_id
    )
    if below is not None:
        newest = newest.where(OwnerComplaint.complaint_id < below)
    ids = newest.order_by(OwnerComplaint.complaint_id.desc()).limit(wanted + 1).cte("ids")
    page = select(ids.c.id).order_by(ids.c.id.desc()).limit(wanted).subquery()
    seen = (complaints.c.id == page.c.id) & _seen(company_id, visible, as_filter=True)
    found = select(func.count()).select_from(ids).scalar_subquery()
    return (
        select(page.c.id, *_shown_columns(), co_handling_codes(), found)
        .select_from(page.outerjoin(complaints, seen))
        .order_by(page.c.id.desc())
    )


def _history(session: Session, model: type[_Row], complaint: Complaint) -> list[_Row]:
    """Rows about one complaint in the order they were made (ids are time-ordered).

    None is older than the complaint (a day's leeway for clocks): on PostgreSQL the
    months before the complaint's are not read."""
    generic_plans(session)
    since = max(complaint.id - _DAY_OF_IDS, 0)
    query = (
        select(model)
        .where(model.complaint_id == complaint.id, model.id >= since)
        .order_by(model.id)
    )
    return list(session.scalars(query))


def timeline(session: Session, complaint: Complaint) -> list[Event]:
    """The complaint's events in order, each status event with its ``field``, ``old``
    and ``new``: stored by events written before a change of 7 December 2026 (and by
    the bulk path's closings with no step before them), worked out from the kinds for
    the others (``status_changes``). They are set as loaded values, not changes:
    nothing is written back."""
    events = stored_events(session, complaint)
    changes = status_changes((e.kind, e.field, e.old, e.new) for e in events)
    for event, (field, old, new) in zip(events, changes, strict=True):
        if event.field is None and field is not None:
            set_committed_value(event, "field", field)
            set_committed_value(event, "old", old)
            set_committed_value(event, "new", new)
    return events


def stored_events(session: Session, complaint: Complaint) -> list[Event]:
    """The complaint's events as written, in order: its rows, with those folded into
    one row once its month settled (``db compact``, ``db/folding.py``) unfolded."""
    return folding.expand(_history(session, Event, complaint))


def follow_ups(session: Session, complaint: Complaint) -> list[FollowUp]:
    return _history(session, FollowUp, complaint)


def event_data(event: Event) -> dict[str, Any] | None:
    """An event's data in one form, whatever version stored it (history is not
    rewritten): delivery records as ``sent`` strings with their time
    (``retention.one_form``), a ``received`` event's labels as an object (stored as
    one string since 7 December 2026). What the API answers."""
    data = retention.one_form(event.data, event.at)
    if data is not None and isinstance(data.get("labels"), str):
        data = {**data, "labels": labels_of(data["labels"])}
    return data


def event_assignee(event: Event) -> str | None:
    """The staff id an event names as the complaint's assignee: a dispatch's or a
    start's ``data.assignee`` (the first assignment, since session 6), an
    ``assigned`` event's new one (a later change; before session 6, every
    assignment). None for an event that assigns nobody."""
    value = event.new if event.kind == "assigned" else (event.data or {}).get("assignee")
    return _id_text(value)


def event_repeat_of(event: Event) -> str | None:
    """The earlier complaint an event links this one to as its repeat: the received
    event's ``data.repeat_of`` (since session 6), or the ``new`` of a
    ``repeat_flagged`` event (what was written before)."""
    value = event.new if event.kind == "repeat_flagged" else (event.data or {}).get("repeat_of")
    return _id_text(value)


def _id_text(value: object) -> str | None:
    text = str(value) if isinstance(value, int | str) else ""
    return text if text.isdigit() else None


def timeline_people(
    session: Session, timeline: list[Event], notes: list[FollowUp]
) -> dict[int, Person]:
    """The staff a complaint's timeline and follow-up notes name (who acted, who
    wrote, who was assigned), by id (:func:`people`: as the API's events name them)."""
    ids = (
        {e.actor_id for e in timeline if e.actor_id}
        | {f.staff_id for f in notes}
        | {int(a) for e in timeline if (a := event_assignee(e)) is not None}
    )
    return people(session, ids)


@dataclass(frozen=True)
class Person:
    """A staff member as a complaint or its history names them: what the API's
    ``StaffBrief`` and the pages show."""

    id: int
    name: str
    department: str
    role: str

    @classmethod
    def of(cls, staff: Staff) -> Person:
        return cls(staff.id, staff.name, staff.department, staff.role)


PEOPLE_CACHE_SECONDS = 60.0
"""Every page of complaints names their receivers and assignees, who are few and whose
name, department and role change seldom (``org.update_staff``): each process
remembers them for a minute, as it does projects' time zones (a change shows in this
process at once, in the others within that minute). A statement a hot read (one
round trip to PostgreSQL: on this machine's loaded windows the round trips, not the
statements' work, are what a hot read waits for; docs/capacity.md, the read path)."""
_PEOPLE: dict[int, tuple[Person, float]] = {}
_PEOPLE_MOST = 100_000


def people(session: Session, ids: set[int]) -> dict[int, Person]:
    """The staff of ``ids`` to name them, by id: those the session holds (as this
    transaction sees them), those this process read in the last
    ``PEOPLE_CACHE_SECONDS``, and the rest in one query."""
    found: dict[int, Person] = {}
    missing: set[int] = set()
    fresh_after = time.monotonic() - PEOPLE_CACHE_SECONDS
    for staff_id in ids:
        held = session.identity_map.get(identity_key(Staff, staff_id))
        cached = _PEOPLE.get(staff_id)
        if isinstance(held, Staff):
            found[staff_id] = Person.of(held)
        elif cached is not None and cached[1] > fresh_after:
            found[staff_id] = cached[0]
        else:
            missing.add(staff_id)
    if missing:
        query = select(Staff.id, Staff.name, Staff.department, Staff.role)
        rows = session.execute(query.where(Staff.id.in_(missing))).all()
        now = time.monotonic()
        if len(_PEOPLE) + len(rows) > _PEOPLE_MOST:
            _PEOPLE.clear()
        for row in rows:
            person = found[row[0]] = Person(*row)
            _PEOPLE[person.id] = (person, now)
    return found


def forget_people(*staff_ids: int) -> None:
    """Forget what this process remembers of these staff (of everyone, without ids):
    their name, department or role changed."""
    if not staff_ids:
        _PEOPLE.clear()
    for staff_id in staff_ids:
        _PEOPLE.pop(staff_id, None)


def visits(session: Session, complaint: Complaint) -> list[Visit]:
    return _history(session, Visit, complaint)


def owner_messages(session: Session, complaint: Complaint) -> list[Outbox]:
    """What the complainant (an owner or an unidentified caller) was told."""
    return [m for m in _history(session, Outbox, complaint) if m.staff_id is None]


@dataclass(frozen=True)
class WorkFilter:
    """Filters of "My work"; None means any. ``scope``: "mine" (first receiver or
    assignee), "department" (also what my department is involved in), "project"
    (every open complaint of my projects: supervisors and above)."""

    scope: str = "department"
    status: str | None = None
    nature: str | None = None
    category: str | None = None
    urgency: str | None = None
    department: str | None = None
    overdue: bool | None = None
    escalated: bool | None = None
    needs_review: bool | None = None
    risk: bool | None = None
    repeat: bool | None = None


WORK_SCOPES = ("mine", "department", "project")


def my_work(
    session: Session,
    actor: Staff,
    flt: WorkFilter,
    now: datetime,
    *,
    page: int = 1,
    page_size: int = 25,
) -> tuple[list[Complaint], bool]:
    """One page of the open complaints ``actor`` answers for, by deadline (soonest, so
    the most overdue, first), and whether there is a next page.

    Served by the partial open-work indexes (by project or person, then deadline):
    open work stays small however large history grows, and a page reads at most
    ``page * page_size + 1`` rows of it.
    """
    if flt.scope not in WORK_SCOPES:
        raise InvalidInput(f"scope is one of {', '.join(WORK_SCOPES)}", field="scope")
    if not 1 <= page_size <= MAX_PAGE or not 1 <= page <= 1000:
        raise InvalidInput("page is 1 to 1000", field="page")
    generic_plans(session)
    query = _scoped(actor).where(open_work())
    mine = (Complaint.assignee_id == actor.id) | (Complaint.first_receiver_id == actor.id)
    if flt.scope == "mine":
        query = query.where(mine)
    elif flt.scope == "department":
        # Involved: the lead (the row's department) or co-handling (a row of its own).
        co_handling = select(ComplaintDepartment.complaint_id).where(
            ComplaintDepartment.complaint_id == Complaint.id,
            ComplaintDepartment.department == actor.department,
        )
        query = query.where(
            mine | (Complaint.department == actor.department) | co_handling.exists()
        )
    for name in ("status", "nature", "category", "urgency", "department", "needs_review"):
        value = getattr(flt, name)
        if value is not None:
            query = query.where(getattr(Complaint, name) == value)
    if flt.overdue is not None:
        query = query.where(overdue(now) if flt.overdue else ~overdue(now))
    if flt.escalated is not None:
        escalated = (
            (Complaint.response_level > 0)
            | (Complaint.resolution_level > 0)
            | (Complaint.visit_level > 0)
        )
        query = query.where(escalated if flt.escalated else ~escalated)
    if flt.risk is not None:
        query = query.where(Complaint.at_risk.is_(flt.risk))
    if flt.repeat is not None:
        query = query.where(
            Complaint.repeat_of_id.is_not(None) if flt.repeat else Complaint.repeat_of_id.is_(None)
        )
    query = (
        query.order_by(Complaint.resolve_by, Complaint.id)
        .offset((page - 1) * page_size)
        .limit(page_size + 1)
    )
    rows = shown(session, query)
    return rows[:page_size], len(rows) > page_size


def follow_ups_due(
    session: Session, actor: Staff, until: datetime, *, limit: int = 50
) -> list[Complaint]:
    """Open complaints the actor answers for (first receiver or assignee) whose next
    follow-up date is before ``until`` (the end of today), soonest first."""
    generic_plans(session)
    rows: dict[int, Complaint] = {}
    for mine in (Complaint.assignee_id == actor.id, Complaint.first_receiver_id == actor.id):
        query = (
            _scoped(actor)
            .where(mine, open_work(), Complaint.next_follow_up_at < until)
            .order_by(Complaint.next_follow_up_at)
            .limit(limit)
        )
        for c in shown(session, query):
            rows.setdefault(c.id, c)
    return sorted(rows.values(), key=lambda c: (c.next_follow_up_at, c.id))[:limit]


def visits_due(session: Session, actor: Staff, *, limit: int = 50) -> list[Complaint]:
    """Resolved complaints of the actor's projects waiting for their return visit,
    the earliest deadline first (resolved is an open state: among open work)."""
    generic_plans(session)
    query = (
        _scoped(actor)
        .where(Complaint.status == Status.RESOLVED.value, open_work())
        .order_by(Complaint.visit_by, Complaint.id)
        .limit(limit)
    )
    return shown(session, query)


def review_queue(
    session: Session, actor: Staff, *, page: int = 1, page_size: int = 25
) -> tuple[list[Complaint], bool]:
    """Open complaints whose labels the classifier was unsure of, oldest first."""
    generic_plans(session)
    query = (
        _scoped(actor)
        .where(open_work(), Complaint.needs_review == true())
        .order_by(Complaint.id)
        .offset((page - 1) * page_size)
        .limit(page_size + 1)
    )
    rows = shown(session, query)
    return rows[:page_size], len(rows) > page_size
