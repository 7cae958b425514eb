"""Fixtures shared by every test that needs a database.

Each database test runs twice: on SQLite and on PostgreSQL. The PostgreSQL server
comes from ``COMPLAINTDESK_TEST_PG_URL`` (default: the local server); each run makes
its own database, migrates it once with Alembic and drops it at the end. Each test
runs inside a transaction that is rolled back, so tests never see each other's rows.
Under ``CI=true`` a missing PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.engine import make_engine
from complaintdesk.db.migrate import upgrade
from complaintdesk.db.models import Company, Owner, Project, Staff, Unit
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.services import org

PG_URL = os.environ.get("COMPLAINTDESK_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin_url() -> str:
    return make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)


class Databases:
    """Makes and drops throw-away databases for one test session."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.pg_made: list[str] = []

    def new(self, backend: str, revision: str = "head") -> Engine:
        """A new database of ``backend``, migrated to ``revision``."""
        name = f"cd_test_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            engine = make_engine(f"sqlite:///{self.tmp / (name + '.db')}")
        else:
            try:
                with psycopg.connect(_pg_admin_url(), autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
            except psycopg.OperationalError as exc:
                if os.environ.get("CI") == "true":
                    pytest.fail(f"PostgreSQL is required under CI=true: {exc}")
                pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
            self.pg_made.append(name)
            url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
            engine = make_engine(url)
        upgrade(engine, revision)
        return engine

    def drop_all(self) -> None:
        if not self.pg_made:
            return
        with psycopg.connect(_pg_admin_url(), autocommit=True) as conn:
            for name in self.pg_made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("db"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session", params=BACKENDS)
def engine(request: pytest.FixtureRequest, databases: Databases) -> Iterator[Engine]:
    engine = databases.new(request.param)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions joined to one outer transaction that is rolled back after the test:
    their commits only release savepoints."""
    connection = engine.connect()
    outer = connection.begin()
    yield sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    outer.rollback()
    connection.close()


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as s:
        yield s


@pytest.fixture
def fresh_engine(
    request: pytest.FixtureRequest, databases: Databases, engine: Engine
) -> Iterator[Engine]:
    """A database of its own whose commits are real (for concurrency tests)."""
    fresh = databases.new(engine.dialect.name)
    yield fresh
    fresh.dispose()


NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass
class Org:
    """A company with two projects and staff of every role, built through the services."""

    company: Company
    other_company: Company
    project: Project
    other_project: Project
    unit: Unit
    owner: Owner
    guard: Staff  # security, staff: a first receiver from outside customer service
    agent: Staff  # customer service agent
    engineer: Staff
    eng_supervisor: Staff
    manager: Staff
    admin: Staff
    cleaner_other_project: Staff
    outsider: Staff  # another company's agent


def build_org(session: Session) -> Org:
    suffix = uuid.uuid4().hex[:6]
    company = org.create_company(session, code=f"acme-{suffix}", name="Acme 物业")
    other = org.create_company(session, code=f"other-{suffix}", name="Other Co")
    project = org.create_project(session, company, code="P1", name="翠湖花园")
    other_project = org.create_project(session, company, code="P2", name="Riverside")
    building = org.add_building(session, project, "8号楼")
    unit = org.add_unit(session, building, "8-1201")
    owner = org.create_owner(
        session, company, name="王女士", phone="13800000001", unit_ids=[unit.id]
    )

    def staff(
        username: str,
        dept: StaffDepartment,
        role: Role,
        projects: list[Project],
        company_: Company = company,
    ) -> Staff:
        return org.create_staff(
            session,
            company_,
            username=f"{username}",
            name=username,
            department=dept,
            role=role,
            project_ids=[p.id for p in projects],
            email=f"{username}@example.test",
        )

    return Org(
        company=company,
        other_company=other,
        project=project,
        other_project=other_project,
        unit=unit,
        owner=owner,
        guard=staff("guard", StaffDepartment.SECURITY, Role.STAFF, [project]),
        agent=staff("agent", StaffDepartment.CUSTOMER_SERVICE, Role.AGENT, [project]),
        engineer=staff("engineer", StaffDepartment.ENGINEERING, Role.STAFF, [project]),
        eng_supervisor=staff("eng-sup", StaffDepartment.ENGINEERING, Role.SUPERVISOR, [project]),
        manager=staff("manager", StaffDepartment.MANAGEMENT, Role.MANAGER, [project]),
        admin=staff("admin", StaffDepartment.MANAGEMENT, Role.ADMIN, []),
        cleaner_other_project=staff(
            "cleaner", StaffDepartment.CLEANING, Role.STAFF, [other_project]
        ),
        outsider=org.create_staff(
            session,
            other,
            username="outsider",
            name="outsider",
            department=StaffDepartment.CUSTOMER_SERVICE,
            role=Role.AGENT,
        ),
    )


def generated_company_admin(
    factory: sessionmaker[Session],
    code: str,
    *,
    rows: int,
    years: float,
    batch: int,
    now: datetime = NOW,
) -> int:
    """History made by ``generate`` (the bulk path) for a company ``code``, and an
    admin of that company made through the services (generate makes no staff who may
    read the whole company), committed. Returns the admin's id."""
    from complaintdesk.services.generate import generate

    generate(factory, rows=rows, now=now, years=years, company_code=code, batch=batch)
    with factory() as session, session.begin():
        company = session.scalars(select(Company).where(Company.code == code)).one()
        admin = org.create_staff(
            session, company, username=f"{code}-admin", name="admin",
            department=StaffDepartment.MANAGEMENT, role=Role.ADMIN,
        )  # fmt: skip
        return admin.id


@pytest.fixture
def acme(session: Session) -> Org:
    return build_org(session)
