"""SQLite's full-text index of complaints: an FTS5 table over ``search_terms``.

External content (the terms live once, in ``complaints``), rowid = complaint id, kept
in step by triggers: the documented FTS5 pattern. PostgreSQL needs none of this (a GIN
expression index, migration 0004).

``install`` is idempotent and runs after every SQLite upgrade, because a later
migration that rebuilds the complaints table in batch mode drops its triggers.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS complaints_fts USING fts5(search_terms, "
    "content='complaints', content_rowid='id', tokenize='unicode61')"
)
_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS complaints_fts_insert AFTER INSERT ON complaints BEGIN "
    "INSERT INTO complaints_fts(rowid, search_terms) VALUES (new.id, new.search_terms); END",
    "CREATE TRIGGER IF NOT EXISTS complaints_fts_delete AFTER DELETE ON complaints BEGIN "
    "INSERT INTO complaints_fts(complaints_fts, rowid, search_terms) "
    "VALUES ('delete', old.id, old.search_terms); END",
    "CREATE TRIGGER IF NOT EXISTS complaints_fts_update AFTER UPDATE OF search_terms "
    "ON complaints BEGIN "
    "INSERT INTO complaints_fts(complaints_fts, rowid, search_terms) "
    "VALUES ('delete', old.id, old.search_terms); "
    "INSERT INTO complaints_fts(rowid, search_terms) VALUES (new.id, new.search_terms); END",
)


def install(connection: Connection, *, rebuild: bool = False) -> None:
    """Create the FTS5 table and its triggers if missing (SQLite only)."""
    if connection.dialect.name != "sqlite":
        return
    connection.execute(text(_TABLE))
    for trigger in _TRIGGERS:
        connection.execute(text(trigger))
    if rebuild:
        connection.execute(text("INSERT INTO complaints_fts(complaints_fts) VALUES ('rebuild')"))


def uninstall(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    for name in ("insert", "delete", "update"):
        connection.execute(text(f"DROP TRIGGER IF EXISTS complaints_fts_{name}"))
    connection.execute(text("DROP TABLE IF EXISTS complaints_fts"))
