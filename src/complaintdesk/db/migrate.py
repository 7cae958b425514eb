"""Run the Alembic migrations from code (``complaintdesk db upgrade``, tests, demo)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from complaintdesk.db import fts, owner_complaints, sla_checks

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)
    if engine.dialect.name == "sqlite" and revision == "head":
        # A batch-mode rebuild of complaints in a later migration drops the FTS
        # sla_checks and owner_complaints triggers; put them back (a no-op when they
        # are there).
        with engine.begin() as connection:
            fts.install(connection)
            sla_checks.install(connection)
            owner_complaints.install(connection)


def revisions(connection: Connection) -> tuple[set[str], set[str]]:
    """The database's revisions and the code's heads: equal when the schema is current
    (an empty set for a database never migrated)."""
    current = set(MigrationContext.configure(connection).get_current_heads())
    heads = set(_script().get_heads())
    return current, heads


def schema_state(connection: Connection) -> str:
    """``ok`` (at this code's head), ``newer`` (a revision this code does not know:
    migrated by a newer version) or ``behind`` (never migrated, or not yet at head)."""
    current, heads = revisions(connection)
    if current == heads:
        return "ok"
    if current and not current <= _known():
        return "newer"
    return "behind"


def behind(engine: Engine) -> str | None:
    """Why this code should not serve this database, or None: its schema was never
    migrated, or is behind this code's head (a missing table or column would fail
    the first request that reads it). A schema *newer* than the code (a revision this
    code does not know: ``db upgrade`` run by the next version during a rolling
    upgrade) is not refused; see :func:`ahead`."""
    with engine.connect() as connection:
        if schema_state(connection) != "behind":
            return None
        current, heads = revisions(connection)
    at = ", ".join(sorted(current)) or "none (never migrated)"
    return (
        f"the database schema is at revision {at}, this version needs "
        f"{', '.join(sorted(heads))}: run `complaintdesk db upgrade` first"
    )


def ahead(engine: Engine) -> set[str]:
    """The database's revisions this code does not know (written by a newer version)."""
    with engine.connect() as connection:
        current, _ = revisions(connection)
        return current - _known()


def _known() -> set[str]:
    return {r.revision for r in _script().walk_revisions()}


@cache
def _script() -> ScriptDirectory:
    """The migrations of this code, read once a process: /readyz and serve's start
    ask for them every time, and they do not change while the process runs."""
    return ScriptDirectory(str(MIGRATIONS))
