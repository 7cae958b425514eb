"""Set-ups the bulk write path's tests share (import, generate, the deferred indexes):
each written once here instead of in every test (duplicates, session 14)."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.engine import make_sessionmaker, unit_of_work
from complaintdesk.services import bulk
from tests.conftest import Databases, build_org


def pg_factory(engine: Engine, reason: str) -> sessionmaker[Session]:
    """For a PostgreSQL-only test (skipped on SQLite with ``reason``): its session
    factory."""
    if engine.dialect.name != "postgresql":
        pytest.skip(reason)
    return make_sessionmaker(engine)


def pg_company(engine: Engine, reason: str) -> tuple[sessionmaker[Session], str]:
    """:func:`pg_factory`, and the code of a company built by ``build_org``, committed."""
    factory = pg_factory(engine, reason)
    with unit_of_work(factory) as session:
        return factory, build_org(session).company.code


def indexes(engine: Engine) -> dict[str, str]:
    """The indexes of the history tables (the partitioned parents and the outbox), by
    name, each definition without its casts and brackets (PostgreSQL prints a
    re-made predicate's casts in another order)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
                "WHERE t.relname = ANY(:t)"
            ),
            {"t": list(bulk.DEFERRABLE)},
        )
        return {name: _shape(definition) for name, definition in rows}


def _shape(definition: str) -> str:
    for noise in ("::character varying", "::text[]", "::text", "ONLY ", "(", ")", " "):
        definition = definition.replace(noise, "")
    return definition


class Deferred(NamedTuple):
    """A new PostgreSQL database whose secondary indexes a go-live's load has dropped
    and noted (``bulk.defer_if_empty``), not made again yet."""

    engine: Engine
    factory: sessionmaker[Session]
    before: dict[str, str]  # its indexes before (:func:`indexes`)
    dropped: list[str]


def deferred_database(databases: Databases) -> Deferred:
    """:class:`Deferred`: the tests of ``bulk.restore_indexes`` start from it (the
    caller disposes of the engine)."""
    engine = databases.new("postgresql")
    factory = make_sessionmaker(engine)
    before = indexes(engine)
    dropped = bulk.defer_if_empty(factory)
    assert dropped, "an empty database has secondary indexes to defer"
    return Deferred(engine, factory, before, dropped)
