"""List pages cost a fixed number of queries, however many complaints they show."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event

from tests.conftest import Org
from tests.web.conftest import Api


@contextmanager
def count_queries(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _register(api: Api, acme: Org, n: int) -> None:
    for i in range(n):
        r = api.as_(acme.guard).post(
            "/api/v1/complaints",
            json={
                "project_id": str(acme.project.id),
                "owner_id": str(acme.owner.id),
                "text": f"楼道灯坏了 {i}",
            },
        )
        assert r.status_code == 201


def _cost(api: Api, acme: Org, engine: Engine, path: str) -> int:
    with count_queries(engine) as statements:
        r = api.as_(acme.guard).get(path)  # the first receiver: his queue holds them all
        assert r.status_code == 200
    assert len(r.json()) >= 1
    return len(statements)


def test_list_queue_and_history_do_not_grow_with_the_page(
    api: Api, acme: Org, engine: Engine
) -> None:
    paths = [
        "/api/v1/complaints?limit=50",
        "/api/v1/complaints/queue",
        f"/api/v1/owners/{acme.owner.id}/complaints",
    ]
    _register(api, acme, 2)
    few = {p: _cost(api, acme, engine, p) for p in paths}
    _register(api, acme, 20)
    many = {p: _cost(api, acme, engine, p) for p in paths}
    assert many == few, (few, many)
    assert all(n <= 10 for n in many.values()), many
