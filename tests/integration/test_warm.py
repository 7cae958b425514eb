"""``complaintdesk db warm``: the hot indexes read into PostgreSQL's shared buffers
(pg_prewarm), newest month first, within a budget; nothing to do on SQLite."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from complaintdesk.cli import app
from complaintdesk.db import warm
from complaintdesk.services.generate import generate
from complaintdesk.settings import get_settings
from tests.conftest import Databases

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@contextmanager
def _cli_database(url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()


def _months_keys(engine: Engine) -> list[tuple[str, int]]:
    """The complaints partitions' primary keys and their blocks, newest month first
    (the month is in the partition's name; the default partition last)."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT t.relname, c.relname, pg_relation_size(c.oid) / 8192 "
                "FROM pg_partition_tree('pk_complaints') p JOIN pg_class c ON c.oid = p.relid "
                "JOIN pg_index x ON x.indexrelid = c.oid JOIN pg_class t ON t.oid = x.indrelid "
                "WHERE p.isleaf"
            )
        ).all()
    months = sorted((r for r in rows if r[0] != "complaints_default"), reverse=True)
    default = [r for r in rows if r[0] == "complaints_default"]
    return [(f"public.{r[1]}", int(r[2])) for r in months + default]


def _in_buffers(engine: Engine, names: list[str]) -> dict[str, tuple[int, int]]:
    """Per index: its blocks in shared buffers (pg_buffercache), and its blocks."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT n, (SELECT count(*) FROM pg_buffercache b WHERE b.relfilenode = "
                "pg_relation_filenode(to_regclass(n)) AND b.reldatabase = (SELECT oid FROM "
                "pg_database WHERE datname = current_database())), "
                "pg_relation_size(to_regclass(n)) / 8192 FROM unnest(CAST(:n AS text[])) AS n"
            ),
            {"n": names},
        ).all()
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def test_the_months_primary_keys_are_read_newest_first_within_the_budget(
    databases: Databases, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    engine = databases.new("postgresql")
    try:
        generate(sessionmaker(engine), rows=1500, now=NOW, years=0.3, company_code="warm")
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_buffercache"))
            # A rebuilt index is written past shared buffers: none of its blocks is in
            # them until something reads it (as after a restart or a restore).
            connection.execute(text("REINDEX INDEX pk_complaints"))
            connection.execute(text("REINDEX INDEX pk_owner_complaints"))
        keys = _months_keys(engine)
        names = [name for name, _ in keys]
        assert all(cached == 0 for cached, _ in _in_buffers(engine, names).values())
        # The budget holds the months up to the newest one with complaints in it (the
        # months made ahead are one block each), not the one before it.
        newest = next(i for i, (_, blocks) in enumerate(keys) if blocks > 1)
        first = keys[: newest + 1]
        assert keys[newest + 1][1] > 1  # an older month with complaints, left out
        budget_kb = sum(blocks for _, blocks in first) * 8

        with _cli_database(engine.url.render_as_string(hide_password=False), monkeypatch, tmp_path):
            result = CliRunner().invoke(app, ["db", "warm", "--budget", f"{budget_kb}kB"])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        *relations, totals = lines
        # Priority order: the months' keys newest first, then owner_complaints' key,
        # then the small hot indexes.
        assert [r["index"] for r in relations[: len(keys)]] == names
        assert relations[len(keys)]["index"] == "public.pk_owner_complaints"
        assert {r["of"] for r in relations[len(keys) + 1 :]} == {warm.SMALL}
        assert [r["index"] for r in relations if r["warmed_blocks"]] == [n for n, _ in first]
        assert all(r["warmed_blocks"] == r["blocks"] for r in relations[: len(first)])
        left = relations[len(first) :]
        assert all(r["left_out"] == "over the budget" for r in left)
        assert totals["warmed"] == len(first)
        assert totals["warmed_blocks"] == sum(blocks for _, blocks in first)
        assert totals["left_out"] == len(left)
        assert totals["left_out_blocks"] == sum(r["blocks"] for r in left)
        assert totals["extension_created"] is True

        cached = _in_buffers(engine, names)
        for name, blocks in first:
            assert cached[name] == (blocks, blocks), name
        older = keys[newest + 1][0]
        assert cached[older][0] == 0, cached[older]

        # One block more: the next month's key is read in part, its first block.
        part = warm.warm(engine, (budget_kb + 8) * 1024)
        assert [r.read_blocks for r in part.relations[: newest + 2]] == [
            *(blocks for _, blocks in first),
            1,
        ]
        assert part.left_out[0].name == older and part.left_out[0].left_blocks > 0
        assert not any(r.read_blocks for r in part.relations[newest + 2 :])

        # The default budget (half of shared_buffers) holds them all here.
        report = warm.warm(engine)
        assert not report.left_out and not report.created_extension
        assert report.budget_bytes == report.shared_buffers_bytes // 2
        cached = _in_buffers(engine, [*names, "public.pk_owner_complaints"])
        assert all(n == blocks and blocks > 0 for n, blocks in cached.values()), cached
    finally:
        engine.dispose()


def test_the_warm_reads_on_a_connection_of_its_own_not_one_of_the_pool(
    databases: Databases,
) -> None:
    """serve's warm at start runs beside requests that share its engine's pool: it
    reads on a connection of its own, so requests are never left waiting for one
    (review SHOULD: it held one of the pool's while it ran). Here the pool has one
    connection, held by a request the whole time: the warm still reads everything, and
    between its relations it holds none of the pool's."""
    from complaintdesk.db.engine import make_engine

    made = databases.new("postgresql")
    url = made.url.render_as_string(hide_password=False)
    made.dispose()
    engine = make_engine(url, pool_size=1, max_overflow=0, pool_timeout=2)
    try:
        with engine.connect() as connection:
            connection.execute(text(warm.CREATE_EXTENSION))
            connection.commit()
        checked_out: list[int] = []

        def stop() -> bool:
            checked_out.append(engine.pool.checkedout())  # type: ignore[attr-defined]
            return False

        with engine.connect() as request:  # the pool's only connection, in use
            request.execute(text("SELECT 1"))
            checked_out.clear()
            report = warm.warm(engine, stop=stop, create=False)
            assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        assert report.relations and not report.left_out
        assert report.read_blocks == sum(r.blocks for r in report.relations)
        # One check per relation read, each seeing only the request's connection out.
        assert checked_out == [1] * len(report.read)
    finally:
        engine.dispose()


def test_serves_warm_at_start_reads_the_hot_indexes_beside_serving_and_ends(
    databases: Databases, caplog: pytest.LogCaptureFixture
) -> None:
    """serve's warm at start (PostgreSQL) runs in a thread of its own, reads the hot
    indexes into shared buffers, logs what it read, and ends by itself. (It was a test
    on SQLite, where there is nothing to warm: it passed whether warming worked or not.)"""
    from complaintdesk.runtime import Runtime
    from complaintdesk.serving import WarmAtStart
    from complaintdesk.settings import Settings

    engine = databases.new("postgresql")
    url = engine.url.render_as_string(hide_password=False)
    runtime = Runtime.from_settings(Settings(database_url=url))
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text(warm.CREATE_EXTENSION))  # as `db warm` did once
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_buffercache"))
            connection.execute(text("REINDEX INDEX pk_complaints"))  # cold, as after a restore
            connection.execute(text("REINDEX INDEX pk_owner_complaints"))
        names = [name for name, _ in _months_keys(engine)] + ["public.pk_owner_complaints"]
        assert all(cached == 0 for cached, _ in _in_buffers(engine, names).values())

        warming = WarmAtStart(runtime)
        with caplog.at_level(logging.INFO, logger="complaintdesk.db.warm"):
            warming.start()
            assert warming.wait(300)
        assert not warming.alive
        report = warming.report
        assert report is not None and not report.stopped and not report.left_out
        assert {r.name for r in report.read} >= set(names)
        cached = _in_buffers(engine, names)
        assert all(n == blocks and blocks > 0 for n, blocks in cached.values()), cached
        assert f"warmed {len(report.read)} indexes" in caplog.text
    finally:
        runtime.engine.dispose()
        engine.dispose()


def test_a_budget_over_shared_buffers_is_cut_to_it(databases: Databases) -> None:
    engine = databases.new("postgresql")
    try:
        report = warm.warm(engine, 2**50)
        assert report.capped and report.budget_bytes == report.shared_buffers_bytes
        assert report.relations and not report.left_out
    finally:
        engine.dispose()


def test_a_role_that_may_not_create_the_extension_is_told_what_to_run(
    databases: Databases,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = databases.new("postgresql")
    role = f"cd_warm_{uuid.uuid4().hex[:8]}"
    admin = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER')
    try:
        url = make_url(admin).set(username=role, password=None)
        with _cli_database(url.render_as_string(hide_password=False), monkeypatch, tmp_path):
            result = CliRunner().invoke(app, ["db", "warm"])
        assert result.exit_code == 2, result.output
        assert "CREATE EXTENSION IF NOT EXISTS pg_prewarm;" in result.stderr
        assert "superuser" in result.stderr and role in result.stderr
        assert "Traceback" not in result.output and result.exception is not None
        assert isinstance(result.exception, SystemExit)
        # serve's warm at start says the same in its log, and serving goes on.
        from complaintdesk.db.engine import make_engine

        limited = make_engine(url.render_as_string(hide_password=False))
        with caplog.at_level(logging.WARNING, logger="complaintdesk.db.warm"):
            assert warm.warm_and_log(limited) is None
        limited.dispose()
        assert "CREATE EXTENSION IF NOT EXISTS pg_prewarm;" in caplog.text
        # Nor does a role that may create it: serve's warm never changes the schema.
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="complaintdesk.db.warm"):
            assert warm.warm_and_log(engine) is None
        assert "complaintdesk db warm" in caplog.text
        with engine.connect() as conn:
            assert warm._extension_schema(conn) is None
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        engine.dispose()


def test_on_sqlite_there_is_nothing_to_warm(
    databases: Databases, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    engine = databases.new("sqlite")
    assert warm.warm(engine).relations == []
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    with _cli_database(url, monkeypatch, tmp_path):
        result = CliRunner().invoke(app, ["db", "warm"])
        refused = CliRunner().invoke(app, ["db", "warm", "--budget", "a lot"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("nothing to warm")
    assert refused.exit_code == 2


def test_budgets_are_read_in_postgresql_units() -> None:
    assert warm.parse_size("512MB") == 512 * 2**20
    assert warm.parse_size("2gb") == 2 * 2**30
    assert warm.parse_size("1.5 GB") == 3 * 2**29
    assert warm.parse_size("64kB") == 64 * 2**10
    assert warm.parse_size("300") == 300 * 2**20
    with pytest.raises(ValueError):
        warm.parse_size("-1GB")
