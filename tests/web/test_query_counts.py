"""List pages cost a fixed number of queries, however many complaints they show."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.engine import (
    BEGIN_AT_CHECKOUT,
    GENERIC_PLANS,
    PLANS,
    make_sessionmaker,
    unit_of_work,
)
from complaintdesk.db.models import Staff
from complaintdesk.domain.taxonomy import Channel, Role, StaffDepartment
from complaintdesk.services import accounts, intake, org, queries
from complaintdesk.web.app import create_app
from tests.conftest import NOW, Org, build_org
from tests.web.conftest import PASSWORD, SECRET, Api, Browser, Clock


@contextmanager
def count_queries(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _register(api: Api, acme: Org, n: int) -> None:
    for i in range(n):
        r = api.as_(acme.guard).post(
            "/api/v1/complaints",
            json={
                "project_id": str(acme.project.id),
                "owner_id": str(acme.owner.id),
                "text": f"楼道灯坏了 {i}",
            },
        )
        assert r.status_code == 201


def _cost(api: Api, acme: Org, engine: Engine, path: str) -> int:
    with count_queries(engine) as statements:
        r = api.as_(acme.guard).get(path)  # the first receiver: his queue holds them all
        assert r.status_code == 200
    body = r.json()
    assert len(body["items"] if isinstance(body, dict) else body) >= 1
    return len(statements)


def test_list_queue_and_history_do_not_grow_with_the_page(
    api: Api, acme: Org, engine: Engine
) -> None:
    paths = [
        "/api/v1/complaints?limit=50",
        "/api/v1/complaints/queue",
        f"/api/v1/owners/{acme.owner.id}/complaints",
    ]
    _register(api, acme, 2)
    few = {p: _cost(api, acme, engine, p) for p in paths}
    _register(api, acme, 20)
    many = {p: _cost(api, acme, engine, p) for p in paths}
    assert many == few, (few, many)
    assert all(n <= 10 for n in many.values()), many


CREATE_STATEMENTS = {"sqlite": 8, "postgresql": 5}
"""A create by an owner's repeat that upgrades the earlier complaint, the costliest
kind: the caller and their projects (1), the owner and where they live, with on
PostgreSQL the owner's turn (advisory lock) in the same query (1), the repeat lookup
(1), the earlier complaint's upgrade (1), then the writes: on PostgreSQL one
statement for the complaint, its events, the owner's message and the link to their
page that the message carries; on SQLite one INSERT per table (4). Its department is
the lead, on the row: no complaint_departments row (0013)."""

CALLER_ONLY_STATEMENTS = {"sqlite": 6, "postgresql": 4}
"""A create for a caller who is not a known owner (a phone number), no repeat: the
caller (1), on PostgreSQL the phone's turn (1), the repeat lookup (1), the writes (1
on PostgreSQL; on SQLite 3: no link, the message goes to the phone)."""

_INSERT_COMPLAINT = re.compile(r"\bINSERT INTO complaints\b")


def _create_cost(
    api: Api, acme: Org, engine: Engine, body: dict[str, object], status: int = 201, **kw: object
) -> list[str]:
    with count_queries(engine) as statements:
        r = api.as_(acme.guard).post("/api/v1/complaints", json=body, **kw)
        assert r.status_code == status, r.text
    return statements


def test_create_costs_a_fixed_number_of_statements(api: Api, acme: Org, engine: Engine) -> None:
    body: dict[str, object] = {
        "project_id": str(acme.project.id),
        "owner_id": str(acme.owner.id),
        "labels": {"nature": "help_seeking", "category": "equipment"},
    }
    first = _create_cost(api, acme, engine, {**body, "text": "楼道灯坏了"})
    repeat = _create_cost(api, acme, engine, {**body, "text": "楼道灯还是坏的"})
    # A longer history for the same owner, on other matters.
    for i in range(20):
        other = {**body, "labels": {"category": "management"}, "text": f"停车收费不合理 {i}"}
        _create_cost(api, acme, engine, other)
    # Repeats a dissatisfaction complaint (the upgraded one): nothing to upgrade.
    _create_cost(api, acme, engine, {**body, "text": "楼道灯又坏了"})
    later = _create_cost(api, acme, engine, {**body, "text": "楼道灯第四次坏了"})
    for statements in (repeat, later):
        # The earlier complaint is upgraded by one UPDATE; the new row is written once.
        assert sum(s.startswith("UPDATE complaints") for s in statements) == 1, statements
        assert sum(bool(_INSERT_COMPLAINT.search(s)) for s in statements) == 1
    assert len(repeat) == len(later) == CREATE_STATEMENTS[engine.dialect.name], repeat
    assert len(first) <= len(repeat)
    caller_only = _create_cost(
        api,
        acme,
        engine,
        {"project_id": str(acme.project.id), "caller_phone": "13900000000", "text": "电梯坏了"},
    )
    # No owner to read and nothing to upgrade (on PostgreSQL the turn is then a
    # statement of its own).
    assert len(caller_only) == CALLER_ONLY_STATEMENTS[engine.dialect.name], caller_only
    # With an Idempotency-Key: one lookup more (has this key been used?), and the key
    # written with the rest (in the one statement on PostgreSQL, its own INSERT on
    # SQLite); the retry reads the key and the complaint, writes nothing.
    keyed = {"project_id": str(acme.project.id), "caller_phone": "13900000001", "text": "水管漏水"}
    key = {"headers": {"Idempotency-Key": "query-count-1"}}
    made = _create_cost(api, acme, engine, keyed, **key)
    assert len(made) == len(caller_only) + 1 + (engine.dialect.name == "sqlite"), made
    retry = _create_cost(api, acme, engine, keyed, 200, **key)
    assert not any(s.lstrip().upper().startswith(("INSERT", "WITH", "UPDATE")) for s in retry)


def _hot_cost(api: Api, viewer: Staff, engine: Engine, path: str) -> tuple[list[str], Any]:
    with count_queries(engine) as statements:
        r = api.as_(viewer).get(path)
        assert r.status_code == 200, r.text
    return statements, r.json()


def test_hot_reads_cost_a_fixed_number_of_statements(
    api: Api, acme: Org, engine: Engine, clock: Clock
) -> None:
    """Each hot read sends what it must and no more (docs/capacity.md, the read path):
    the caller's token (with their staff row and projects), on PostgreSQL the
    transaction's plan kind, the page with its co-handling departments in the same
    statement (the queue's four scans in one); the staff it names come from the
    session or the process's memory of them once read (``queries.people``). The
    departments, the people, their projects and the queue's parts were each a
    statement of their own."""
    _register(api, acme, 3)
    page = api.as_(acme.admin).get("/api/v1/complaints?limit=3").json()["items"]
    dispatched = page[0]["id"]
    r = api.as_(acme.agent).post(
        f"/api/v1/complaints/{dispatched}/dispatch",
        json={
            "department": "engineering",
            "assignee_id": str(acme.engineer.id),
            "also": ["cleaning", "security"],
        },
    )
    assert r.status_code == 200, r.text
    shown = [
        {"department": "cleaning", "lead": False},
        {"department": "engineering", "lead": True},
        {"department": "security", "lead": False},
    ]
    clock.advance(days=60)  # all three past their deadlines: the overdue list shows them
    plans = 1 if engine.dialect.name == "postgresql" else 0
    reads = {
        # token, plans, the page
        "/api/v1/complaints?limit=20": (acme.admin, 2 + plans),
        # token, plans, the four scans
        "/api/v1/complaints/queue?limit=20": (acme.guard, 2 + plans),
        # token, the owner, plans, the page
        f"/api/v1/owners/{acme.owner.id}/complaints": (acme.admin, 3 + plans),
        # token, plans, the page
        f"/api/v1/projects/{acme.project.id}/overdue": (acme.manager, 2 + plans),
        # token, the complaint, plans, its events
        f"/api/v1/complaints/{dispatched}/events": (acme.admin, 3 + plans),
    }
    queries.forget_people()
    for path, (viewer, expected) in reads.items():
        # The first read writes the token's last use (once a minute) and may read
        # the people named (the receiver, the assignee, who acted) once.
        _hot_cost(api, viewer, engine, path)
        statements, body = _hot_cost(api, viewer, engine, path)
        assert len(statements) == expected, (path, [s[:60] for s in statements])
        assert not any("FROM complaint_departments WHERE" in s[:400] for s in statements)
        assert not any("FROM staff" in s for s in statements[1:]), path
        if isinstance(body, dict):
            items = {c["id"]: c for c in body["items"]}
            assert len(items) == 3, path
            assert items[dispatched]["departments"] == shown, path
            assert all(len(c["departments"]) == 1 for i, c in items.items() if i != dispatched)


def test_the_people_a_page_names_are_read_once_a_minute_and_a_change_shows(
    api: Api, acme: Org, engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staff a page names (its receivers and assignees) are read once and then
    remembered by the process for ``PEOPLE_CACHE_SECONDS``; a change of their role or
    department made in this process shows at once."""
    _register(api, acme, 2)
    queries.forget_people()
    path = "/api/v1/complaints?limit=20"

    def staff_reads() -> tuple[int, dict[str, Any]]:
        statements, body = _hot_cost(api, acme.admin, engine, path)
        return sum("FROM staff" in s for s in statements), body["items"][0]["first_receiver"]

    assert staff_reads()[0] == 1  # the guard, first receiver of both
    reads, receiver = staff_reads()
    assert reads == 0 and receiver["role"] == acme.guard.role
    org.update_staff(
        session, acme.admin, acme.guard.id, role=Role.SUPERVISOR,
        department=StaffDepartment(acme.guard.department), project_ids=[acme.project.id],
        active=True, now=NOW,
    )  # fmt: skip
    session.commit()
    reads, receiver = staff_reads()
    assert reads == 1 and receiver["role"] == Role.SUPERVISOR.value
    # Past the minute, read again.
    monkeypatch.setattr(queries, "PEOPLE_CACHE_SECONDS", 0.0)
    assert staff_reads()[0] == 1


def test_a_hot_read_begins_its_transaction_with_generic_plans(fresh_engine: Engine) -> None:
    """On PostgreSQL a hot read's route asks for generic plans before its first
    statement (``web.deps.generic_plan_reads``): the pool begins its transaction with
    them, in the round trip that checks the connection, so neither a ``SET LOCAL``
    nor a ping is a statement of its own; its page runs under them, and the next
    transaction on the same connection under the default again."""
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("plan kinds are PostgreSQL's")
    factory = make_sessionmaker(fresh_engine)
    with unit_of_work(factory) as session:
        acme = build_org(session)
        token = accounts.issue_token(session, acme.guard, NOW)
        complaint = intake.register(
            session, acme.guard,
            intake.NewComplaint(
                project_id=acme.project.id, text="楼道灯坏了", channel=Channel.PHONE,
                owner_id=acme.owner.id,
            ),
            KeywordClassifier(), NOW,
        )  # fmt: skip
    fresh_engine.dispose()  # so that the requests below take connections from the pool
    app = create_app(factory, classifier=KeywordClassifier(), clock=lambda: NOW)
    modes: dict[str, str] = {}

    def mode(_c: object, cursor: Any, statement: str, *_: object) -> None:
        for table in ("complaints", "api_tokens"):
            if statement.startswith("SELECT") and f"FROM {table}" in statement:
                shown = cursor.connection.execute("SHOW plan_cache_mode").fetchone()
                modes.setdefault(table, shown[0])

    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client, count_queries(fresh_engine) as statements:
        event.listen(fresh_engine, "before_cursor_execute", mode)
        try:
            r = client.get("/api/v1/complaints?limit=20", headers=headers)
            assert r.status_code == 200 and len(r.json()["items"]) == 1
            hot, hot_modes = list(statements), dict(modes)
            statements.clear()
            modes.clear()
            # Not a hot read: the default plans, as before.
            r = client.get(f"/api/v1/complaints/{complaint.id}", headers=headers)
            assert r.status_code == 200
        finally:
            event.remove(fresh_engine, "before_cursor_execute", mode)
    # The token (its last use written once a minute) and the page: no SET LOCAL.
    assert not any("plan_cache_mode" in s for s in hot), hot
    assert len([s for s in hot if s.startswith("SELECT")]) == 2, hot
    assert hot_modes == {"api_tokens": "force_generic_plan", "complaints": "force_generic_plan"}
    assert modes == {"api_tokens": "auto", "complaints": "auto"}


def test_the_consoles_hot_pages_begin_their_transaction_with_generic_plans(
    fresh_engine: Engine,
) -> None:
    """The console's pages of the hot lists (My work with its overdue filter, a
    complaint's page with its timeline and the owner's history, the review queue)
    declare themselves hot reads as the API's routes do (``GenericPlanReads``): their
    transaction begins with generic plans, so no ``SET LOCAL`` is sent and every read
    of complaints, events and the owner's history runs under them."""
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("plan kinds are PostgreSQL's")
    factory = make_sessionmaker(fresh_engine)
    with unit_of_work(factory) as session:
        acme = build_org(session)
        org.set_password(session, acme.guard, PASSWORD)
        complaint = intake.register(
            session, acme.guard,
            intake.NewComplaint(
                project_id=acme.project.id, text="楼道灯坏了", channel=Channel.PHONE,
                owner_id=acme.owner.id,
            ),
            KeywordClassifier(), NOW,
        )  # fmt: skip
        username = acme.guard.username
    fresh_engine.dispose()
    later = NOW + timedelta(days=30)  # past its deadlines: on the overdue filter
    app = create_app(
        factory, classifier=KeywordClassifier(), clock=lambda: later, secret_key=SECRET
    )
    modes: dict[str, set[str]] = {}

    def mode(_c: object, cursor: Any, statement: str, *_: object) -> None:
        for table in ("complaints", "events", "owner_complaints", "staff"):
            reads = statement.startswith(("SELECT", "WITH"))  # owner history: WITH ids AS
            if reads and f"FROM {table} " in statement:
                shown = cursor.connection.execute("SHOW plan_cache_mode").fetchone()
                modes.setdefault(table, set()).add(shown[0])

    with TestClient(app, base_url="http://testserver") as client:
        browser = Browser(client, app)
        assert browser.sign_in(username).status_code == 303
        for path in ("/work?overdue=1&scope=mine", f"/complaints/{complaint.id}", "/review"):
            modes.clear()
            with count_queries(fresh_engine) as statements:
                event.listen(fresh_engine, "before_cursor_execute", mode)
                try:
                    r = client.get(path)
                finally:
                    event.remove(fresh_engine, "before_cursor_execute", mode)
            assert r.status_code == 200, (path, r.text[:300])
            assert not any("plan_cache_mode" in s for s in statements), (path, statements)
            assert modes and all(m == {"force_generic_plan"} for m in modes.values()), (
                path,
                modes,
            )
            if path.startswith("/work"):
                assert "楼道灯坏了" in r.text  # the overdue complaint is on the page
            if path.startswith("/complaints"):
                assert {"complaints", "events", "owner_complaints"} <= set(modes), modes


@pytest.mark.parametrize("check", ["ping", "begin", GENERIC_PLANS])
def test_a_connection_gone_while_pooled_is_replaced_when_taken(
    fresh_engine: Engine, check: str
) -> None:
    """The check as a connection is taken (the pre-ping, the ``BEGIN`` of a web
    request, or the ``BEGIN`` with the unit of work's plan kind) finds a connection
    the server closed and takes a new one."""
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("the pool's check is PostgreSQL's")
    with fresh_engine.connect() as first, fresh_engine.connect() as second:
        gone = second.scalar(text("SELECT pg_backend_pid()"))
        second.commit()
        first.execute(text("SELECT pg_terminate_backend(:p)"), {"p": gone})
        first.commit()
    # Both back in the pool, one of them closed by the server.
    plans = GENERIC_PLANS if check == GENERIC_PLANS else None
    token = PLANS.set(plans)
    begin = BEGIN_AT_CHECKOUT.set(check == "begin")
    try:
        with fresh_engine.connect() as one, fresh_engine.connect() as two:
            for connection in (one, two):
                assert connection.scalar(text("SELECT pg_backend_pid()")) != gone
                assert connection.scalar(text("SHOW plan_cache_mode")) == (plans or "auto")
    finally:
        BEGIN_AT_CHECKOUT.reset(begin)
        PLANS.reset(token)


def test_a_web_request_begins_its_transaction_as_it_takes_a_connection(
    fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A web request's transaction begins as the pool hands its session a connection
    (``db.engine.BEGIN_AT_CHECKOUT``, set by ``web.deps.get_session``): that ``BEGIN``
    checks the connection, so no request sends the pre-ping's ``SELECT 1`` as a round
    trip of its own; what it writes is committed as before. Work outside a request
    (the sweeper, maintenance, which may ask for autocommit) still pings."""
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("the pool's check is PostgreSQL's")
    factory = make_sessionmaker(fresh_engine)
    with unit_of_work(factory) as session:
        acme = build_org(session)
        token = accounts.issue_token(session, acme.guard, NOW)
        project_id, owner_id = acme.project.id, acme.owner.id
    fresh_engine.dispose()
    pings: list[object] = []
    ping = fresh_engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(fresh_engine.dialect, "do_ping", counted)
    app = create_app(factory, classifier=KeywordClassifier(), clock=lambda: NOW)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        r = client.post(
            "/api/v1/complaints",
            json={"project_id": str(project_id), "owner_id": str(owner_id), "text": "楼道灯坏了"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        made = r.json()["id"]
        for path in ("/api/v1/staff/me", f"/api/v1/complaints/{made}", "/api/v1/complaints"):
            for _ in range(2):  # the second time from the pool
                assert client.get(path, headers=headers).status_code == 200, path
        missing = client.get("/api/v1/complaints/1", headers=headers)
        assert missing.status_code == 404  # a failed request: rolled back, connection reused
        assert client.get("/api/v1/staff/me", headers=headers).status_code == 200
    assert pings == []
    with fresh_engine.connect() as connection:  # not a request: pinged as before
        assert connection.scalar(
            text("SELECT count(*) FROM complaints WHERE id = :i"), {"i": int(made)}
        ) == 1  # fmt: skip
    with fresh_engine.connect() as connection:  # as maintenance asks for autocommit
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        assert autocommit.scalar(text("SELECT 1")) == 1
    assert len(pings) == 2
