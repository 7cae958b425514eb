"""Run the Alembic migrations from code (``complaintdesk db upgrade``, tests, demo)."""

from __future__ import annotations

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
    heads = set(ScriptDirectory.from_config(alembic_config(connection.engine)).get_heads())
    return current, heads


def behind(engine: Engine) -> str | None:
    """Why this code should not serve this database (its schema is not the code's
    head: never migrated, behind, or written by a newer version), or None."""
    with engine.connect() as connection:
        current, heads = revisions(connection)
    if current == heads:
        return None
    at = ", ".join(sorted(current)) or "none (never migrated)"
    return (
        f"the database schema is at revision {at}, this version needs "
        f"{', '.join(sorted(heads))}: run `complaintdesk db upgrade` first "
        "(or run the version that wrote it)"
    )
