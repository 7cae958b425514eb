"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

GENERIC_PLANS = "force_generic_plan"
PLANS: ContextVar[str | None] = ContextVar("complaintdesk_plans", default=None)
"""The plan kind (PostgreSQL's ``plan_cache_mode``) the current unit of work asks for
from its first statement: a hot read's route sets it (``web.deps.generic_plan_reads``)
so that its transaction begins with it, in the round trip that begins it, not in one
of its own (``queries.generic_plans`` then has nothing to send)."""
BEGIN_AT_CHECKOUT: ContextVar[bool] = ContextVar("complaintdesk_begin_at_checkout", default=False)
"""Whether the current unit of work begins its transaction as the pool hands it a
connection: a web request's (``web.deps.get_session``), whose session begins one with
its first statement anyway. The ``BEGIN`` then checks the connection, in the round
trip that begins the transaction, where the pre-ping's ``SELECT 1`` was a round trip
of its own. Never set for work that sets its own isolation (autocommit: partition
maintenance, the bulk loader's locks, migrations): psycopg refuses to change it
inside a transaction."""
_PLANS_KEY = "complaintdesk_plans"


def normalise_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    pool_pre_ping: bool = True,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url``; the pool settings apply to PostgreSQL (SQLite files
    keep SQLAlchemy's defaults: one writer at a time whatever the pool)."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _sqlite_transactions(engine)
        return engine
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        **kwargs,
    )
    _postgresql_checkout(engine, pre_ping=pool_pre_ping)
    return engine


def _postgresql_checkout(engine: Engine, *, pre_ping: bool) -> None:
    """Check a pooled connection as it is taken (``pre_ping``: SQLAlchemy's pre-ping, a
    ``SELECT 1`` of its own before the transaction's ``BEGIN``), and for a unit of
    work that asks for a plan kind (:data:`PLANS`), begin its transaction with it:
    ``BEGIN; SET LOCAL plan_cache_mode = …`` in one round trip, which checks the
    connection too. A hot read so sends one round trip where the ping, psycopg's
    ``BEGIN`` and the ``SET LOCAL`` took three (docs/capacity.md, the read path).
    Any other web request (:data:`BEGIN_AT_CHECKOUT`) begins its transaction with a
    plain ``BEGIN`` as the check: one round trip where the ping and psycopg's
    ``BEGIN`` took two. A connection that fails the check is replaced, as after a
    failed pre-ping."""

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        record.info.pop(_PLANS_KEY, None)
        plans = PLANS.get()
        try:
            if plans is not None or BEGIN_AT_CHECKOUT.get():
                command = "BEGIN"
                if plans is not None:
                    command += f"; SET LOCAL plan_cache_mode = {_plan_kind(plans)}"
                result = dbapi_connection.pgconn.exec_(command.encode())
                if result.status != _COMMAND_OK:
                    raise exc.DisconnectionError(result.get_error_message())
                if plans is not None:
                    record.info[_PLANS_KEY] = plans
            elif pre_ping:
                engine.dialect.do_ping(dbapi_connection)
        except exc.DisconnectionError:
            raise
        except Exception as error:  # the driver's: the connection is gone or broken
            raise exc.DisconnectionError(str(error)) from error

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _ended(connection: Connection) -> None:
        connection.info.pop(_PLANS_KEY, None)  # a SET LOCAL lasts one transaction

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info.pop(_PLANS_KEY, None)


_COMMAND_OK = 1  # libpq's PGRES_COMMAND_OK
_PLAN_KINDS = ("auto", "force_generic_plan", "force_custom_plan")


def _plan_kind(plans: str) -> str:
    if plans not in _PLAN_KINDS:
        raise ValueError(f"plan_cache_mode is one of {_PLAN_KINDS}")
    return plans


def transaction_plans(connection: Connection) -> str | None:
    """The plan kind the connection's transaction began with (:data:`PLANS`), if any."""
    plans = connection.info.get(_PLANS_KEY)
    return plans if isinstance(plans, str) else None


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, begin transactions, and begin them IMMEDIATE.

    pysqlite's own transaction handling breaks SAVEPOINT; and a deferred transaction
    that reads and then writes can fail at once when another writer got in between.
    IMMEDIATE takes the write lock up front and waits for it (busy timeout) instead.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits once at the end if nothing failed, else rolls back."""
    with factory() as session, session.begin():
        yield session
