"""Installing the SQL triggers that keep a side table in step with ``complaints``
(``sla_checks``, ``owner_complaints``): one way for each of them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text


def install(
    connection: Connection, table: str, postgresql: Sequence[str], sqlite: Sequence[str]
) -> None:
    """Run the dialect's statements (again: a no-op when the triggers are there). On
    SQLite nothing is made before ``table`` exists (a database not yet at the
    migration that makes it: the triggers are put back after a batch rebuild)."""
    if connection.dialect.name == "postgresql":
        statements = postgresql
    else:
        there = connection.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}
        ).first()
        statements = sqlite if there is not None else ()
    for statement in statements:
        connection.execute(text(statement))
