"""Triggers that keep ``sla_checks`` (the sweeper's index of next checks) in step
with ``complaints.sla_check_at`` and ``closed_at``.

An open complaint with a next check has one row; a closed one, or one with nothing
left to check, has none. The triggers run inside the statement that writes the
complaint, so a create or an update costs no extra round trip. On PostgreSQL the
bulk path writes with ``session_replication_role = replica`` (triggers off) and adds
its rows itself (``services/bulk.py``, ``ON CONFLICT DO NOTHING`` for when they fire).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from complaintdesk.db import triggers

_PG = [
    """
    CREATE OR REPLACE FUNCTION complaints_sla_check() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.sla_check_at IS NULL OR NEW.closed_at IS NOT NULL THEN
            DELETE FROM sla_checks WHERE complaint_id = NEW.id;
        ELSE
            INSERT INTO sla_checks (complaint_id, check_at)
            VALUES (NEW.id, NEW.sla_check_at)
            ON CONFLICT (complaint_id) DO UPDATE SET check_at = EXCLUDED.check_at;
        END IF;
        RETURN NULL;
    END $$
    """,
    "DROP TRIGGER IF EXISTS tg_complaints_sla_check_insert ON complaints",
    """
    CREATE TRIGGER tg_complaints_sla_check_insert AFTER INSERT ON complaints
    FOR EACH ROW WHEN (NEW.sla_check_at IS NOT NULL AND NEW.closed_at IS NULL)
    EXECUTE FUNCTION complaints_sla_check()
    """,
    "DROP TRIGGER IF EXISTS tg_complaints_sla_check_update ON complaints",
    """
    CREATE TRIGGER tg_complaints_sla_check_update AFTER UPDATE OF sla_check_at, closed_at
    ON complaints FOR EACH ROW WHEN (
        OLD.sla_check_at IS DISTINCT FROM NEW.sla_check_at
        OR OLD.closed_at IS DISTINCT FROM NEW.closed_at
    ) EXECUTE FUNCTION complaints_sla_check()
    """,
]

_SQLITE = [
    """
    CREATE TRIGGER IF NOT EXISTS tg_complaints_sla_check_insert AFTER INSERT ON complaints
    WHEN NEW.sla_check_at IS NOT NULL AND NEW.closed_at IS NULL
    BEGIN
        INSERT INTO sla_checks (complaint_id, check_at) VALUES (NEW.id, NEW.sla_check_at)
        ON CONFLICT (complaint_id) DO UPDATE SET check_at = excluded.check_at;
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS tg_complaints_sla_check_update
    AFTER UPDATE OF sla_check_at, closed_at ON complaints
    WHEN OLD.sla_check_at IS NOT NEW.sla_check_at OR OLD.closed_at IS NOT NEW.closed_at
    BEGIN
        DELETE FROM sla_checks
        WHERE complaint_id = NEW.id AND (NEW.sla_check_at IS NULL OR NEW.closed_at IS NOT NULL);
        INSERT INTO sla_checks (complaint_id, check_at)
        SELECT NEW.id, NEW.sla_check_at WHERE NEW.sla_check_at IS NOT NULL AND NEW.closed_at IS NULL
        ON CONFLICT (complaint_id) DO UPDATE SET check_at = excluded.check_at;
    END
    """,
]


def install(connection: Connection) -> None:
    """Create the triggers (again: a no-op when they are there; on SQLite, nothing
    before revision 0009 made the table)."""
    triggers.install(connection, "sla_checks", _PG, _SQLITE)


def uninstall(connection: Connection) -> None:
    for name in ("tg_complaints_sla_check_insert", "tg_complaints_sla_check_update"):
        on = " ON complaints" if connection.dialect.name == "postgresql" else ""
        connection.execute(text(f"DROP TRIGGER IF EXISTS {name}{on}"))
    if connection.dialect.name == "postgresql":
        connection.execute(text("DROP FUNCTION IF EXISTS complaints_sla_check()"))
