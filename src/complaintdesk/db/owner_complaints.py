"""Triggers that keep ``owner_complaints`` (an owner's complaints by id, one narrow
unpartitioned table) in step with ``complaints.owner_id``.

An owner's history reads the owner's newest complaint ids from this table's primary
key, one index leaf for most owners, and then those complaints by id; without it, it
descends every month's ``(owner_id, id)`` index (docs/capacity.md, step 15). A
complaint's owner is set when it is made and never changed, so only inserts are
followed (a row for a complaint that no longer exists is skipped by the reader).
On PostgreSQL the bulk path writes with ``session_replication_role = replica``
(triggers off) and adds its rows itself (``services/bulk.py``, ``ON CONFLICT DO
NOTHING`` for when they fire); so does the partition maintenance that moves rows out
of a default partition (the same rows, the same ids: nothing to add).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from complaintdesk.db import triggers

_PG = [
    """
    CREATE OR REPLACE FUNCTION complaints_owner_index() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO owner_complaints (owner_id, complaint_id) VALUES (NEW.owner_id, NEW.id)
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$
    """,
    "DROP TRIGGER IF EXISTS tg_complaints_owner_index ON complaints",
    """
    CREATE TRIGGER tg_complaints_owner_index AFTER INSERT ON complaints
    FOR EACH ROW WHEN (NEW.owner_id IS NOT NULL) EXECUTE FUNCTION complaints_owner_index()
    """,
]

_SQLITE = [
    """
    CREATE TRIGGER IF NOT EXISTS tg_complaints_owner_index AFTER INSERT ON complaints
    WHEN NEW.owner_id IS NOT NULL
    BEGIN
        INSERT INTO owner_complaints (owner_id, complaint_id) VALUES (NEW.owner_id, NEW.id)
        ON CONFLICT DO NOTHING;
    END
    """,
]


BACKFILL_FROM = (
    "INSERT INTO owner_complaints (owner_id, complaint_id) "
    "SELECT owner_id, id FROM {source} WHERE owner_id IS NOT NULL ORDER BY owner_id, id "
    "ON CONFLICT DO NOTHING"
)
"""The rows of the complaints in ``{source}`` (one partition of complaints) that are not
there yet (``db/online.fill_by_partition``)."""

BACKFILL = BACKFILL_FROM.format(source="complaints")
"""Every existing complaint's row (a migration's or a repair's)."""


def install(connection: Connection) -> None:
    """Create the triggers (again: a no-op when they are there; on SQLite, nothing
    before revision 0015 made the table)."""
    triggers.install(connection, "owner_complaints", _PG, _SQLITE)


def uninstall(connection: Connection) -> None:
    on = " ON complaints" if connection.dialect.name == "postgresql" else ""
    connection.execute(text(f"DROP TRIGGER IF EXISTS tg_complaints_owner_index{on}"))
    if connection.dialect.name == "postgresql":
        connection.execute(text("DROP FUNCTION IF EXISTS complaints_owner_index()"))
