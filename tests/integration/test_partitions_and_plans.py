"""PostgreSQL's history layout: monthly partitions made ahead, hot queries that read
only the months they need, and every list filter answered from an index.

Plans are read with EXPLAIN after loading a few thousand complaints through the bulk
path and ANALYZE; the planner is left to choose (nothing is switched off)."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import sql
from sqlalchemy import Connection, Engine, Select, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db import partitions
from complaintdesk.db.ids import id_floor
from complaintdesk.db.models import Complaint, Event, Owner, Staff
from complaintdesk.services import closing, escalation, queries, search
from tests.conftest import Databases, generated_company_admin

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _partitions(connection: Connection, table: str) -> set[str]:
    rows = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": table},
    )
    return {r[0] for r in rows}


def test_every_history_table_has_this_and_the_next_months_and_a_default(pg: Session) -> None:
    connection = pg.connection()
    this_month = partitions.month_start(datetime.now(UTC))
    for table in partitions.PARTITIONED:
        names = _partitions(connection, table)
        expected = {
            partitions.partition_name(table, partitions.add_months(this_month, n))
            for n in range(partitions.AHEAD_MONTHS + 1)
        }
        assert expected <= names, (table, sorted(names))
        assert f"{table}_default" in names
    assert "outbox" not in partitions.PARTITIONED  # kept small by its retention instead


def test_maintenance_makes_months_ahead_once(pg: Session) -> None:
    connection = pg.connection()
    later = partitions.add_months(partitions.month_start(datetime.now(UTC)), 7)
    made = partitions.maintain(connection, later, ahead=2)
    assert partitions.partition_name("complaints", partitions.add_months(later, 2)) in made.created
    assert partitions.partition_name("events", later) in made.created
    assert partitions.maintain(connection, later, ahead=2).created == []
    # Each month holds exactly its ids.
    low, high = partitions.bounds(later)
    bound = connection.scalar(
        text("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = :n"),
        {"n": partitions.partition_name("complaints", later)},
    )
    assert bound == f"FOR VALUES FROM ('{low}') TO ('{high}')"


@pytest.mark.parametrize(
    ("moment", "month"),
    [
        ("2025-06-01T03:00:00+08:00", "2025_05"),  # 2025-05-31T19:00Z
        ("2025-05-31T22:00:00-05:00", "2025_06"),  # 2025-06-01T03:00Z
    ],
)
def test_the_months_made_for_a_time_with_an_offset_are_its_utc_months(
    pg: Session, moment: str, month: str
) -> None:
    """A loader gives ``ensure`` the times it read (an import keeps the file's offset):
    the month made must be the one the time's ids fall in, its UTC month (review,
    session 12: at +08:00 a month's first hours made nothing, and the batch's rows
    went to the default partition)."""
    connection = pg.connection()
    at = datetime.fromisoformat(moment)
    name = f"complaints_{month}"
    assert connection.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is None
    assert not partitions.all_made(connection, at, at)
    made = partitions.ensure(connection, at, at)
    assert name in made.created
    assert partitions.month_start(at) == partitions.month_start(at.astimezone(UTC))
    low, high = partitions.bounds(partitions.month_start(at))
    assert low <= id_floor(at) < high


def test_two_writers_reaching_a_missing_month_at_once_take_turns(
    loaded_db: tuple[Engine, int, int, int],
) -> None:
    """generate's processes (or a loader beside serve's maintenance) may both find a
    month missing: the second waits for the first and finds its partition, instead of
    failing on "relation already exists" when the first commits."""
    engine = loaded_db[0]
    month = partitions.add_months(partitions.month_start(datetime.now(UTC)), 20)
    name = partitions.partition_name("complaints", month)
    second: dict[str, object] = {}
    with engine.connect() as first:
        first_pid = first.scalar(text("SELECT pg_backend_pid()"))
        assert partitions.create_month(first, "complaints", month) is True  # not committed

        def other_writer() -> None:
            try:
                with engine.begin() as connection:
                    second["pid"] = connection.scalar(text("SELECT pg_backend_pid()"))
                    second["made"] = partitions.create_month(connection, "complaints", month)
            except Exception as exc:  # the test reports what the writer met
                second["error"] = exc

        thread = threading.Thread(target=other_writer)
        thread.start()
        with engine.connect() as watcher:  # until the second writer waits on the first
            for _ in range(600):
                waiting = watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid <> :p "
                        "AND datname = current_database() AND wait_event_type = 'Lock'"
                    ),
                    {"p": first_pid},
                )
                if waiting or not thread.is_alive():
                    break
                watcher.rollback()
                thread.join(0.05)
        first.commit()
    thread.join(30)
    assert "error" not in second, second.get("error")
    assert second["made"] is False
    with engine.connect() as connection:
        assert name in _partitions(connection, "complaints")


@dataclass
class Loaded:
    admin: Staff
    agent: Staff
    project_id: int


@pytest.fixture(scope="module")
def loaded_db(databases: Databases) -> Iterator[tuple[Engine, int, int, int]]:
    """A PostgreSQL database of its own with 4,000 complaints of the last weeks
    (through the bulk path), a dozen withdrawn, some with follow-up dates, analysed;
    made once for this module."""
    engine = databases.new("postgresql")
    factory = sessionmaker(engine, expire_on_commit=False)
    admin_id = generated_company_admin(factory, "plans", rows=4000, years=0.05, batch=4000, now=NOW)
    with factory() as session, session.begin():
        admin = session.get(Staff, admin_id)
        assert admin is not None
        # A dozen complaints withdrawn by their owners, through the service.
        for complaint in session.scalars(
            select(Complaint).where(queries.open_work()).order_by(Complaint.id).limit(12)
        ):
            closing.withdraw(session, admin, complaint, NOW, reason="已自行解决 / sorted")
        busiest = session.execute(
            select(Complaint.assignee_id, Complaint.project_id)
            .where(Complaint.assignee_id.is_not(None), queries.open_work())
            .group_by(Complaint.assignee_id, Complaint.project_id)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        ids = (admin.id, busiest[0], busiest[1])
    with engine.begin() as connection:
        partitions.ensure(connection, NOW - timedelta(days=90), NOW)  # older, empty months
        # A third of the open complaints have a follow-up date (generate sets none).
        connection.execute(
            text(
                "UPDATE complaints SET next_follow_up_at = resolve_by - interval '1 hour' "
                "WHERE status IN ('received', 'dispatched', 'in_progress') AND id % 3 = 0"
            )
        )
        for table in partitions.PARTITIONED:
            connection.execute(text(f"ANALYZE {table}"))
    yield engine, *ids
    engine.dispose()


@pytest.fixture
def pg(loaded_db: tuple[Engine, int, int, int]) -> Iterator[Session]:
    with Session(loaded_db[0]) as session:
        yield session
        session.rollback()


@pytest.fixture
def loaded(pg: Session, loaded_db: tuple[Engine, int, int, int]) -> Loaded:
    admin, agent = pg.get(Staff, loaded_db[1]), pg.get(Staff, loaded_db[2])
    assert admin is not None and agent is not None
    return Loaded(admin, agent, loaded_db[3])


def _plan(session: Session, query: Select[tuple[Complaint]] | Select[tuple[Event]]) -> str:
    connection = session.connection()
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    rows = connection.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
    return "\n".join(r[0] for r in rows)


def _generic_plan(session: Session, query: Select[tuple[Complaint]]) -> str:
    """The plan PostgreSQL runs a prepared statement from once it plans it generically
    (``queries.generic_plans``): planned without the bound values, months pruned at run
    time."""
    connection = session.connection()
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    return _generic_plan_of(session, str(compiled), compiled.params)


def _generic_plan_of(session: Session, body: str, params: Mapping[str, object]) -> str:
    """:func:`_generic_plan` of a statement as the driver was sent it."""
    connection = session.connection()
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}"

    statement = re.sub(r"%\((\w+)\)s", number, body)
    name = f"plan_{uuid.uuid4().hex[:12]}"
    raw = connection.connection.driver_connection
    assert raw is not None
    values = ", ".join(sql.Literal(params[n]).as_string(raw) for n in names)
    connection.exec_driver_sql(f"PREPARE {name} AS {statement}")
    connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    try:
        rows = connection.exec_driver_sql(f"EXPLAIN EXECUTE {name}({values})".replace("%", "%%"))
        return "\n".join(r[0] for r in rows)
    finally:
        connection.exec_driver_sql(f"DEALLOCATE {name}")
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = auto")


def _indexes_used(session: Session, plan: str) -> set[str]:
    """The definitions of the indexes a plan scans (partition indexes by their own
    generated names, so compared by what they index)."""
    names = set(re.findall(r"Index (?:Only )?Scan(?: Backward)? using (\w+)", plan))
    names |= set(re.findall(r"Bitmap Index Scan on (\w+)", plan))
    return {
        re.sub(
            r"^.* USING ",
            "",
            session.scalar(text("SELECT pg_get_indexdef(to_regclass(:n))"), {"n": n}) or "",
        )
        for n in names
    }


def _seq_scans_of_rows(session: Session, plan: str) -> list[str]:
    """Sequential scans of complaint or event partitions of more than one page (one
    of an empty partition reads nothing; of a one-page partition, one page: the
    planner rightly prefers it to an index, e.g. this month's events when the tests
    run in the month after their data's, holding only the withdrawals made now)."""
    scanned = re.findall(r"Seq Scan on ((?:complaints|events)_\w+)", plan)
    return [
        name
        for name in scanned
        if (session.scalar(text("SELECT pg_relation_size(to_regclass(:n))"), {"n": name}) or 0)
        > 8192
    ]


def _scanned(plan: str, table: str) -> set[str]:
    return set(re.findall(rf"{table}_(?:\d{{4}}_\d{{2}}|default)(?!\w)", plan))


def test_one_complaint_reads_one_month_and_its_timeline_none_before(
    pg: Session, loaded: Loaded
) -> None:
    complaint = pg.scalars(select(Complaint).order_by(Complaint.id).limit(1)).one()
    month = partitions.month_start(complaint.received_at)
    plan = _plan(pg, select(Complaint).where(Complaint.id == complaint.id))
    assert _scanned(plan, "complaints") == {partitions.partition_name("complaints", month)}
    since = max(complaint.id - queries._DAY_OF_IDS, 0)
    plan = _plan(
        pg,
        select(Event)
        .where(Event.complaint_id == complaint.id, Event.id >= since)
        .order_by(Event.id),
    )
    scanned = _scanned(plan, "events")
    assert partitions.partition_name("events", month) in scanned
    older = partitions.partition_name("events", partitions.add_months(month, -1))
    assert older in _partitions(pg.connection(), "events") and older not in scanned
    assert _seq_scans_of_rows(pg, plan) == []
    events = queries.timeline(pg, complaint)
    assert events and events[0].kind == "received"


def test_a_time_window_reads_only_its_months(pg: Session, loaded: Loaded) -> None:
    month = partitions.month_start(NOW)
    window = queries.ComplaintFilter(
        received_from=month + timedelta(days=3), received_to=month + timedelta(days=10)
    )
    query = queries.filtered(loaded.admin, window, NOW).order_by(Complaint.id.desc()).limit(51)
    assert _scanned(_plan(pg, query), "complaints") == {
        partitions.partition_name("complaints", month)
    }
    # The list does return that window's complaints.
    rows, _ = queries.list_complaints(pg, loaded.admin, window, NOW, limit=200)
    assert rows and all(month <= c.received_at < month + timedelta(days=10) for c in rows)


def test_a_search_window_reads_only_its_months(pg: Session, loaded: Loaded) -> None:
    phrases = search.terms.parse_query("电梯")
    low, high = id_floor(NOW - timedelta(days=7)), id_floor(NOW + timedelta(minutes=1))
    query = (
        queries.filtered(loaded.admin, queries.ComplaintFilter(project_id=loaded.project_id), NOW)
        .where(search._match("postgresql", phrases, low, high))
        .where(Complaint.id >= low, Complaint.id < high)
        .order_by(Complaint.id.desc())
        .limit(21)
    )
    assert _scanned(_plan(pg, query), "complaints") == {
        partitions.partition_name("complaints", partitions.month_start(NOW))
    }


def _filters(loaded: Loaded) -> dict[str, queries.ComplaintFilter]:
    agent = loaded.agent.id
    return {
        "none": queries.ComplaintFilter(),
        "project_id": queries.ComplaintFilter(project_id=loaded.project_id),
        "status=received": queries.ComplaintFilter(status="received"),
        "status=closed": queries.ComplaintFilter(status="closed"),
        "nature": queries.ComplaintFilter(nature="consulting"),
        "category": queries.ComplaintFilter(category="emergency"),
        "urgency": queries.ComplaintFilter(urgency="critical"),
        "department": queries.ComplaintFilter(department="finance"),
        "assignee_id": queries.ComplaintFilter(assignee_id=agent),
        "first_receiver_id": queries.ComplaintFilter(first_receiver_id=agent),
        "owner_id": queries.ComplaintFilter(owner_id=1),
        "open": queries.ComplaintFilter(open=True),
        "open=false": queries.ComplaintFilter(open=False),
        "overdue": queries.ComplaintFilter(overdue=True),
        "status=withdrawn": queries.ComplaintFilter(status="withdrawn"),
        "needs_review": queries.ComplaintFilter(needs_review=True),
        "repeat": queries.ComplaintFilter(repeat=True),
        "risk": queries.ComplaintFilter(risk=True),
        "received window": queries.ComplaintFilter(
            received_from=NOW - timedelta(days=20), received_to=NOW - timedelta(days=13)
        ),
    }


def test_every_list_filter_is_answered_from_an_index(pg: Session, loaded: Loaded) -> None:
    """Planned with the values (custom plan) and without them (the generic plan the
    list runs from, ``queries.generic_plans``): never a sequential scan of history."""
    seq_scans = {}
    for name, flt in _filters(loaded).items():
        query = queries.filtered(loaded.admin, flt, NOW).order_by(Complaint.id.desc()).limit(51)
        plans = [("generic", _generic_plan(pg, query))]
        if name != "status=withdrawn":
            plans.append(("custom", _plan(pg, query)))
        for kind, plan in plans:
            if _seq_scans_of_rows(pg, plan):
                seq_scans[f"{name} ({kind})"] = plan
    assert not seq_scans, "\n\n".join(f"{k}:\n{v}" for k, v in seq_scans.items())


def test_withdrawn_are_listed_from_the_index_of_withdrawal_events(
    pg: Session, loaded: Loaded
) -> None:
    """No index on complaints names status (HOT updates); the list finds withdrawn
    complaints through their withdrawal events, newest first, page by page, exactly
    the ones a scan would find."""
    expected = list(
        pg.scalars(
            select(Complaint.id)
            .where(Complaint.status == "withdrawn", Complaint.company_id == loaded.admin.company_id)
            .order_by(Complaint.id.desc())
        )
    )
    assert len(expected) > 7
    flt = queries.ComplaintFilter(status="withdrawn")
    seen: list[int] = []
    cursor = None
    while True:
        rows, cursor = queries.list_complaints(pg, loaded.admin, flt, NOW, cursor=cursor, limit=3)
        seen += [c.id for c in rows]
        if cursor is None:
            break
    assert seen == expected
    ids = queries.withdrawn_ids(expected[2], 4)
    for plan in (_plan(pg, ids), _generic_plan(pg, ids)):
        used = _indexes_used(pg, plan)
        assert used == {"btree (complaint_id) WHERE ((kind)::text = 'withdraw'::text)"}, plan


# Rare flags each have a partial index holding only their rows; both plans use it.
# Open and final states are found among open or closed work (closed_at, set once);
# no index names status: it would keep every status change from being a HOT update
# (docs/capacity.md). Withdrawn is read from its events (test above).
_PARTIAL_INDEX_OF = {
    "status=received": "WHERE (closed_at IS NULL)",
    "open": "WHERE (closed_at IS NULL)",
    "status=closed": "btree (company_id, id) WHERE (closed_at IS NOT NULL)",
    "open=false": "btree (company_id, id) WHERE (closed_at IS NOT NULL)",
    "needs_review": "WHERE needs_review",
    "repeat": "WHERE (repeat_of_id IS NOT NULL)",
    "risk": "WHERE at_risk",
}


def test_rare_values_are_read_from_their_partial_index(pg: Session, loaded: Loaded) -> None:
    filters = _filters(loaded)
    missed = {}
    for name, predicate in _PARTIAL_INDEX_OF.items():
        query = (
            queries.filtered(loaded.admin, filters[name], NOW)
            .order_by(Complaint.id.desc())
            .limit(51)
        )
        for kind, plan in (("custom", _plan(pg, query)), ("generic", _generic_plan(pg, query))):
            used = _indexes_used(pg, plan)
            if not any(predicate in d for d in used):
                missed[f"{name} ({kind})"] = f"{sorted(used)}\n{plan}"
    assert not missed, "\n\n".join(f"{k}:\n{v}" for k, v in missed.items())


def test_no_complaint_index_names_a_column_each_step_changes(pg: Session) -> None:
    """Updates of a complaint stay HOT (no new index entries) only while no index, nor
    an index's predicate, names what the lifecycle's steps change (migration 0009)."""
    definitions = pg.scalars(
        text("SELECT indexdef FROM pg_indexes WHERE tablename = 'complaints'")
    ).all()
    assert any("closed_at IS NOT NULL" in d for d in definitions)
    for changing in ("status", "sla_check_at", "version", "updated_at"):
        named = [d for d in definitions if re.search(rf"\b{changing}\b", d)]
        assert named == [], changing


def test_the_queue_reads_open_work_not_the_project_history(pg: Session, loaded: Loaded) -> None:
    """The queue's four scans, sent as one statement: each from its open-work index
    (by deadline or by follow-up date, of the assignee or the first receiver), never
    the project's whole history, under the generic plan the service asks for."""
    sent: list[tuple[str, dict[str, object]]] = []
    connection = pg.connection()
    from sqlalchemy import event

    def keep(_c: object, _cur: object, statement: str, params: object, *_: object) -> None:
        if statement.lstrip().startswith("SELECT") and "complaints" in statement:
            sent.append((statement, dict(params)))  # type: ignore[call-overload]

    event.listen(connection, "before_cursor_execute", keep)
    try:
        rows, cursor = queries.queue_page(pg, loaded.agent, limit=3)
        later, _ = queries.queue_page(pg, loaded.agent, limit=3, cursor=cursor)
    finally:
        event.remove(connection, "before_cursor_execute", keep)
    assert rows and later and cursor is not None
    assert len(sent) == 2, [s for s, _ in sent]  # one statement a page
    for statement, params in sent:
        plan = _generic_plan_of(pg, statement, params)
        assert "BitmapAnd" not in plan and "project_id_id_idx" not in plan
        assert _seq_scans_of_rows(pg, plan) == [], plan
        used = {d.split(" WHERE ")[0] for d in _indexes_used(pg, plan)}
        # The four open-work indexes (and the co-handling departments' primary key,
        # unless the planner reads that small table whole).
        assert used - {"btree (complaint_id, department)"} == {
            "btree (assignee_id, resolve_by)",
            "btree (first_receiver_id, resolve_by)",
            "btree (assignee_id, next_follow_up_at)",
            "btree (first_receiver_id, next_follow_up_at)",
        }, plan


def test_owner_history_reads_the_owners_ids_then_the_page_by_id(
    pg: Session, loaded: Loaded
) -> None:
    """The page's ids from one index of ``owner_complaints`` (0015), the complaints by
    primary key, months pruned at run time: no month's ``(owner_id, id)`` index is
    descended (that merge read the owner's newest complaint in every month), nor
    ``(company_id, id)``."""
    owner_id = pg.scalar(
        select(Complaint.owner_id)
        .where(Complaint.owner_id.is_not(None))
        .group_by(Complaint.owner_id)
        .order_by(func.count().desc())
        .limit(1)
    )
    owner = pg.get(Owner, owner_id)
    assert owner is not None
    sent: list[tuple[str, dict[str, object]]] = []
    connection = pg.connection()
    from sqlalchemy import event

    def keep(_c: object, _cur: object, statement: str, params: object, *_: object) -> None:
        if "owner_complaints" in statement:
            sent.append((statement, dict(params)))  # type: ignore[call-overload]

    event.listen(connection, "before_cursor_execute", keep)
    try:
        rows, cursor = queries.owner_history(pg, loaded.admin, owner, limit=2)
        older, _ = queries.owner_history(pg, loaded.admin, owner, limit=2, cursor=cursor)
    finally:
        event.remove(connection, "before_cursor_execute", keep)
    expected = pg.scalars(
        select(Complaint.id).where(Complaint.owner_id == owner_id).order_by(Complaint.id.desc())
    ).all()
    assert len(expected) >= 5 and [c.id for c in rows + older] == expected[:4]  # 2 pages
    assert len(sent) == 2
    for statement, params in sent:
        plan = _generic_plan_of(pg, statement, params)
        used = {d.split(" WHERE ")[0] for d in _indexes_used(pg, plan)}
        # The complaints by primary key (the index every read of one complaint uses).
        assert used == {"btree (owner_id, complaint_id)", "btree (id)"}, plan
        assert _seq_scans_of_rows(pg, plan) == [] and "Seq Scan on owner_complaints" not in plan


def test_reads_run_from_generic_plans_on_postgresql(pg: Session, loaded: Loaded) -> None:
    """The list, queue and timeline ask PostgreSQL for plans made once per connection."""
    queries.list_complaints(pg, loaded.admin, queries.ComplaintFilter(), NOW, limit=5)
    assert pg.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
    pg.rollback()
    assert pg.scalar(text("SHOW plan_cache_mode")) == "auto"  # for this transaction only
    queries.queue_page(pg, loaded.agent, limit=5)
    assert pg.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
    pg.rollback()
    # Search plans each window's statement for its words (a generic plan is blind to
    # how common they are).
    search.search(pg, loaded.admin, "电梯", queries.ComplaintFilter(), NOW)
    assert pg.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"


def test_the_sweepers_claim_reads_the_due_index_from_a_generic_plan(
    pg: Session, loaded: Loaded
) -> None:
    """The claim is planned once per connection: planned for each claim, its join was
    planned against every month (30-100 ms at 37 months); generically, the months are
    pruned at run time, complaint by complaint, and no month is scanned."""
    later = NOW + timedelta(days=30)  # the open complaints' checks are due by then
    claimed = escalation._claim_due(pg, later, 50)
    assert claimed
    assert pg.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
    plan = _generic_plan(pg, escalation.due_query(later, 50, lock=True))
    assert "LockRows" in plan
    assert _seq_scans_of_rows(pg, plan) == []
    used = {d.split(" WHERE ")[0] for d in _indexes_used(pg, plan)}
    assert "btree (check_at)" in used and "btree (id)" in used, plan
    pg.rollback()


def test_the_sweepers_claim_reads_each_due_complaint_by_id_whatever_the_estimates(
    pg: Session, loaded: Loaded
) -> None:
    """The claim's plan does not depend on the planner's estimates: each due check's
    complaint is read by its id, one month's index at a time. As a plain join, at 30
    million complaints the generic plan hashed every open complaint of every month
    against the due checks (1.9-2.6 s a claim). Nested loops made to look dear here
    stand for such estimates: the claim is still read check by check, and claims the
    same complaints."""
    later = NOW + timedelta(days=30)
    first = [c.id for c in escalation._claim_due(pg, later, 50)]
    pg.rollback()
    pg.execute(text("SET enable_nestloop = off"))
    plan = _generic_plan(pg, escalation.due_query(later, 50, lock=True))
    assert "Hash Join" not in plan and "Merge Join" not in plan, plan
    assert "Nested Loop" in plan and "Limit" in plan, plan
    assert _seq_scans_of_rows(pg, plan) == []
    again = [c.id for c in escalation._claim_due(pg, later, 50)]
    assert len(first) == 50 and again == first
    pg.rollback()


def test_maintenance_moves_rows_waiting_in_the_default_partition(
    pg: Session, loaded: Loaded
) -> None:
    """Rows of a month that had no partition (maintenance lapsed) are moved into the
    month's own partition by the maintenance that serve runs; references hold and are
    still enforced afterwards."""
    connection = pg.connection()
    old = pg.scalars(
        select(Complaint.id).where(Complaint.id.in_(select(Event.complaint_id))).limit(1)
    ).one()
    month = partitions.add_months(partitions.month_start(datetime.now(UTC)), 14)
    low, _ = partitions.bounds(month)
    new, new_event = low + 1000, low + 2000
    columns = [c.name for c in Complaint.__table__.columns if c.name != "id"]
    listed = ", ".join(columns)
    connection.execute(
        text(f"INSERT INTO complaints (id, {listed}) SELECT :new, {listed} FROM complaints "
             "WHERE id = :old"),
        {"new": new, "old": old},
    )  # fmt: skip
    event_columns = [
        c.name for c in Event.__table__.columns if c.name not in ("id", "complaint_id")
    ]
    listed = ", ".join(event_columns)
    connection.execute(
        text(f"INSERT INTO events (id, complaint_id, {listed}) SELECT :id, :new, {listed} "
             "FROM events WHERE complaint_id = :old LIMIT 1"),
        {"id": new_event, "new": new, "old": old},
    )  # fmt: skip

    def where(table: str, id_: int) -> str:
        return str(
            connection.scalar(
                text(f"SELECT tableoid::regclass::text FROM {table} WHERE id = :i"), {"i": id_}
            )
        )

    assert where("complaints", new) == "complaints_default"
    assert where("events", new_event) == "events_default"

    report = partitions.maintain(connection, datetime.now(UTC))

    complaints_month = partitions.partition_name("complaints", month)
    events_month = partitions.partition_name("events", month)
    assert report.moved == {complaints_month: 1, events_month: 1}
    assert report.waiting_in_default == []
    assert where("complaints", new) == complaints_month
    assert where("events", new_event) == events_month
    assert connection.scalar(text("SHOW session_replication_role")) == "origin"
    # The event still points at its complaint, and the key is still enforced.
    assert connection.scalar(
        text("SELECT count(*) FROM events e JOIN complaints c ON c.id = e.complaint_id "
             "WHERE e.id = :e"), {"e": new_event},
    ) == 1  # fmt: skip
    with pytest.raises(IntegrityError), connection.begin_nested():
        connection.execute(text("DELETE FROM complaints WHERE id = :i"), {"i": new})
    assert partitions.maintain(connection, datetime.now(UTC)).moved == {}
