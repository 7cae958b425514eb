"""Run the Alembic migrations from code (``complaintdesk db upgrade``, tests, demo)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from complaintdesk.db import fts, sla_checks

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
        # and sla_checks triggers; put them back (a no-op when they are there).
        with engine.begin() as connection:
            fts.install(connection)
            sla_checks.install(connection)
