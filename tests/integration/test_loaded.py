"""Instances put in a session as if loaded, from a Core row (db/loaded.py: the token
check's one statement, services/accounts.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event, inspect, select
from sqlalchemy.orm import Session

from complaintdesk.db.loaded import as_loaded, column_keys
from complaintdesk.db.models import Staff
from tests.conftest import Org


def test_a_core_row_becomes_the_instance_a_query_would_have_loaded(
    session: Session, acme: Org
) -> None:
    table: Table = Staff.__table__  # type: ignore[assignment]
    session.commit()
    row = session.execute(select(table.c.id, *table.c).where(table.c.id == acme.agent.id)).one()
    keys = column_keys(Staff)
    assert keys[0] == "id" and len(keys) == len(table.c)
    # The one the session holds already, as a query's loading would give.
    assert as_loaded(session, Staff, keys, row, 1) is acme.agent

    session.expunge_all()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    bind = session.connection()
    event.listen(bind, "before_cursor_execute", count)
    try:
        made = as_loaded(session, Staff, keys, row, 1)
        assert inspect(made).persistent and not session.dirty
        assert (made.id, made.username, made.role) == (acme.agent.id, "agent", acme.agent.role)
        assert session.get(Staff, acme.agent.id) is made
    finally:
        event.remove(bind, "before_cursor_execute", count)
    assert statements == []  # nothing read: the row is the instance
