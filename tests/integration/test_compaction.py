"""A settled month's indexes are rebuilt packed (``complaintdesk db compact``)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from complaintdesk.cli import app
from complaintdesk.db import partitions
from complaintdesk.runtime import utcnow
from complaintdesk.services.generate import generate
from complaintdesk.settings import get_settings
from tests.conftest import NOW as CONFTEST_NOW
from tests.conftest import Databases

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MONTH = datetime(2026, 9, 1, tzinfo=UTC)


def _index_state(engine: Engine) -> tuple[int, list[tuple[str, bool, bool]]]:
    """September's complaint index bytes, and per index of its partitions: name,
    valid, still a partition of its parent index."""
    with engine.connect() as connection:
        size = connection.scalar(text("SELECT pg_indexes_size('complaints_2026_09')"))
        rows = connection.execute(
            text(
                "SELECT c.relname, x.indisvalid, EXISTS (SELECT 1 FROM pg_inherits i "
                "WHERE i.inhrelid = c.oid) FROM pg_index x JOIN pg_class c "
                "ON c.oid = x.indexrelid WHERE x.indrelid IN ("
                "'complaints_2026_09'::regclass, 'events_2026_09'::regclass)"
            )
        ).all()
    return int(size or 0), sorted((r[0], r[1], r[2]) for r in rows)


def test_a_settled_month_gets_its_indexes_packed_and_still_used(databases: Databases) -> None:
    engine = databases.new("postgresql")
    try:
        factory = sessionmaker(engine)
        generate(factory, rows=3000, now=NOW, years=0.3, company_code="compact", batch=3000)
        with engine.begin() as connection:
            count = connection.scalar(text("SELECT count(*) FROM complaints_2026_09"))
            assert count and count > 500
            # Rewrites that change an indexed column (as dispatch and closing do): each
            # puts a new entry in every index of the month.
            for _ in range(4):
                connection.execute(
                    text("UPDATE complaints_2026_09 SET needs_review = NOT needs_review")
                )
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM complaints_2026_09")
            )
        before, indexes = _index_state(engine)
        # An interrupted concurrent rebuild leaves an invalid copy behind (here: one that
        # failed on a duplicate key); a rebuild would skip it, so it would stay.
        unfinished = "complaints_2026_09_category_idx_ccnew"
        with engine.connect() as connection, pytest.raises(IntegrityError):
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text(
                    f"CREATE UNIQUE INDEX CONCURRENTLY {unfinished} "
                    "ON complaints_2026_09 (category)"
                )
            )

        report = partitions.compact_month(engine, MONTH)

        after, rebuilt = _index_state(engine)
        assert report.month == "2026-09"
        assert set(report.tables) == {
            partitions.partition_name(t, MONTH) for t in partitions.PARTITIONED
        }
        assert after < before * 0.6, (before, after)
        assert report.dropped == [unfinished]
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT to_regclass(:n)"), {"n": unfinished}) is None
        assert report.index_bytes_after < report.index_bytes_before
        # The same indexes, valid, each still a partition of its parent index.
        assert len(rebuilt) == len(indexes) > 20
        assert all(valid and attached for _, valid, attached in rebuilt), rebuilt
        with engine.connect() as connection:
            connection.execute(text("SET enable_seqscan = off"))
            by_index = connection.scalar(
                text("SELECT count(*) FROM complaints WHERE id >= :lo AND id < :hi"),
                dict(zip(("lo", "hi"), partitions.bounds(MONTH), strict=True)),
            )
        assert by_index == count
    finally:
        engine.dispose()


def test_the_settled_month_is_the_one_that_ended_two_months_before() -> None:
    assert partitions.settled_month(datetime(2027, 1, 15, tzinfo=UTC)) == datetime(
        2026, 10, 1, tzinfo=UTC
    )
    assert partitions.settled_month(datetime(2026, 3, 1, tzinfo=UTC)) == datetime(
        2025, 12, 1, tzinfo=UTC
    )


def test_compact_does_nothing_on_sqlite_and_the_command_says_so(
    databases: Databases, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    engine = databases.new("sqlite")
    assert partitions.compact_month(engine, MONTH).tables == []
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.chdir(tmp_path)
    engine.dispose()
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "compact", "--month", "2026-09"])
        refused = CliRunner().invoke(app, ["db", "compact", "--month", "September"])
        # A month still being worked on is refused unless forced.
        early = f"{partitions.add_months(partitions.settled_month(utcnow()), 1):%Y-%m}"
        unsettled = CliRunner().invoke(app, ["db", "compact", "--month", early])
        forced = CliRunner().invoke(app, ["db", "compact", "--month", early, "--force"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    # The fold's time and rate (complaints a second; nothing to fold here), the rewrite's.
    assert shown.pop("fold_seconds") >= 0 and shown.pop("fold_complaints_per_second") == 0
    assert shown.pop("rewrite_seconds") == 0
    assert shown == {
        "month": "2026-09",
        "partitions": [],
        "index_bytes_before": 0,
        "index_bytes_after": 0,
        "dropped_unfinished": [],
        "discarded_rewrite_leftovers": [],
        "folded_complaints": 0,
        "folded_event_rows": 0,
        "rewritten": [],
        "rewrite_busy": [],
        "rewrite_again": [],
    }
    assert refused.exit_code != 0 and "YYYY-MM" in refused.output
    assert unsettled.exit_code != 0 and "has not settled" in unsettled.output
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.output)["month"] == early


def test_a_month_made_while_another_is_compacted_does_not_hold_up_reads(
    databases: Databases,
) -> None:
    """``db compact`` holds a month's partition (REINDEX CONCURRENTLY, VACUUM) for
    minutes at scale. Making a new month locks the partitioned table, then every month:
    had it waited there, every read of complaints would have queued behind it. It gives
    up instead, the month is reported busy, and the next run makes it."""
    engine = databases.new("postgresql")
    ahead = partitions.add_months(partitions.month_start(datetime.now(UTC)), 9)
    made = partitions.partition_name("complaints", ahead)
    try:
        with engine.connect() as probe:
            existing = probe.scalar(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'complaints'::regclass AND c.relname <> "
                    "'complaints_default' ORDER BY c.relname LIMIT 1"
                )
            )
        assert existing is not None
        reports: list[partitions.Maintenance] = []
        errors: list[BaseException] = []

        def make_month() -> None:
            try:
                with engine.begin() as connection:
                    connection.execute(text("SET application_name = 'maker'"))
                    reports.append(partitions.ensure(connection, ahead, ahead))
            except BaseException as exc:  # reported to the test below
                errors.append(exc)

        with engine.connect() as holder, engine.connect() as reader:
            holder.execute(text(f"LOCK TABLE {existing} IN SHARE UPDATE EXCLUSIVE MODE"))
            maker = threading.Thread(target=make_month)
            maker.start()
            try:
                # Once the maker waits for the held month (holding the table's lock) or
                # has given up, a read of complaints must go through.
                for _ in range(400):
                    waiting = reader.scalar(
                        text(
                            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a "
                            "ON a.pid = l.pid WHERE a.application_name = 'maker' "
                            "AND NOT l.granted"
                        )
                    )
                    reader.rollback()
                    if waiting or not maker.is_alive():
                        break
                    time.sleep(0.05)
                reader.execute(text("SET lock_timeout = '20s'"))
                assert reader.scalar(text("SELECT count(*) FROM complaints")) == 0
                reader.rollback()
            finally:
                holder.rollback()
                maker.join()
        assert errors == []
        assert reports[0].busy == [made] and made not in reports[0].created
        with engine.begin() as connection:  # the next run makes it
            again = partitions.ensure(connection, ahead, ahead)
            # and the loader's transaction keeps its own lock timeout
            assert connection.scalar(text("SELECT current_setting('lock_timeout')")) == "0"
        assert again.created == [made] and again.busy == []
    finally:
        engine.dispose()


def test_an_interrupted_rebuilds_copies_are_dropped_the_toast_tables_too(
    databases: Databases,
) -> None:
    """A cancelled ``REINDEX … CONCURRENTLY`` leaves an invalid copy of every index of
    the month, its TOAST table's among them (in the ``pg_toast`` schema); a later
    rebuild cannot rebuild an invalid TOAST index, so compaction drops every copy."""
    engine = databases.new("postgresql")
    month = partitions.month_start(datetime.now(UTC))
    name = partitions.partition_name("complaints", month)
    try:
        with engine.connect() as old, engine.connect() as watcher:
            # An old snapshot: the rebuild waits for it once its copies exist.
            old.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            old.execute(text("SELECT count(*) FROM owners"))
            failed: list[BaseException] = []

            def rebuild() -> None:
                try:
                    with engine.connect() as connection:
                        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                        connection.execute(text("SET application_name = 'rebuild'"))
                        connection.execute(text(f"REINDEX TABLE CONCURRENTLY {name}"))
                except BaseException as exc:  # the cancel below
                    failed.append(exc)

            worker = threading.Thread(target=rebuild)
            worker.start()
            try:
                for _ in range(600):
                    pid = watcher.scalar(
                        text(
                            "SELECT pid FROM pg_stat_activity WHERE application_name = "
                            "'rebuild' AND wait_event_type = 'Lock'"
                        )
                    )
                    watcher.rollback()
                    if pid is not None or not worker.is_alive():
                        break
                    time.sleep(0.05)
                assert pid is not None
                watcher.execute(text("SELECT pg_cancel_backend(:p)"), {"p": pid})
                watcher.rollback()
            finally:
                worker.join()
                old.rollback()
        assert len(failed) == 1

        def invalid() -> list[str]:
            with engine.connect() as connection:
                return sorted(
                    connection.scalars(
                        text(
                            "SELECT n.nspname || '.' || c.relname FROM pg_index x "
                            "JOIN pg_class c ON c.oid = x.indexrelid "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT x.indisvalid"
                        )
                    )
                )

        left = invalid()
        assert any(n.startswith("pg_toast.") for n in left), left
        assert any(n.startswith(f"public.{name}_") for n in left), left

        report = partitions.compact_month(engine, month)

        assert invalid() == []
        assert sorted(report.dropped) == sorted(n.split(".", 1)[1] for n in left)
    finally:
        engine.dispose()


def test_one_rewrite_of_a_partition_at_a_time(databases: Databases) -> None:
    """Two ``db compact --fold`` runs of one month at once would make the same tables
    beside its events partition; the rewrite that finds another at work (its advisory
    lock held) is busy, and touches nothing; alone, it rewrites."""
    engine = databases.new("postgresql")
    name = partitions.partition_name("events", partitions.month_start(datetime.now(UTC)))
    held = {"k": partitions._LOCK_KEY, "n": name}
    try:
        with engine.connect() as other, engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            other.execute(text("SELECT pg_advisory_lock(:k, hashtext(:n))"), held)
            assert partitions._rewrite(connection, name) is False
            assert (
                connection.scalar(text("SELECT to_regclass(:n)"), {"n": f"{name}__rewrite_log"})
                is None
            )
            other.execute(text("SELECT pg_advisory_unlock(:k, hashtext(:n))"), held)
            assert partitions._rewrite(connection, name) is True
    finally:
        engine.dispose()


def _beside(engine: Engine, name: str) -> list[str]:
    """What a rewrite of partition ``name`` makes beside it that is there: the copy,
    the log, the trigger function, the triggers on the partition."""
    with engine.connect() as connection:
        made = [
            n
            for n in (f"{name}__rewrite", f"{name}__rewrite_log")
            if connection.scalar(text("SELECT to_regclass(:n)"), {"n": n}) is not None
        ]
        made += connection.scalars(
            text("SELECT proname || '()' FROM pg_proc WHERE proname = :n"),
            {"n": f"{name}__rewrite_note"},
        )
        made += connection.scalars(
            text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND NOT tgisinternal"
            ),
            {"t": name},
        )
    return made


def test_what_a_killed_rewrite_left_is_dropped_by_a_compaction_of_another_month(
    databases: Databases, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A rewrite killed between its copy and its swap (OOM, deploy, a lost connection)
    leaves its trigger on the month's partition, noting every write of the month into
    a log, and its copy. The next ``db compact``, whatever month and with or without
    the fold, drops them first and names them in its JSON; the month is as it was.
    Found by the review of session 14 (S1): only a fold of that very month did."""
    engine = databases.new("postgresql")
    try:
        factory = sessionmaker(engine, expire_on_commit=False)
        generate(factory, rows=800, now=CONFTEST_NOW, years=0.3, company_code="kill", batch=800)
        month = partitions.add_months(partitions.month_start(CONFTEST_NOW), -2)
        name = partitions.partition_name("events", month)
        low, high = partitions.bounds(month)
        rows = f"SELECT count(*), sum(id % 1000) FROM events WHERE id >= {low} AND id < {high}"
        code = (
            "import os; from datetime import datetime; from sqlalchemy import create_engine; "
            "from complaintdesk.db import partitions; "
            f"e = create_engine({engine.url.render_as_string(hide_password=False)!r}); "
            f"partitions.compact_month(e, datetime.fromisoformat({month.isoformat()!r}), "
            "fold=True, copied=lambda name: os._exit(3))"
        )
        killed = subprocess.run([sys.executable, "-c", code], check=False, timeout=600)
        assert killed.returncode == 3
        left = [f"{name}__rewrite", f"{name}__rewrite_log", f"{name}__rewrite_note()"]
        assert _beside(engine, name) == [*left, f"{name}__rewrite_note"]
        with engine.connect() as connection:
            before = connection.execute(text(rows)).one()

        monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
        monkeypatch.chdir(tmp_path)
        get_settings.cache_clear()
        try:
            other = f"{partitions.add_months(month, -1):%Y-%m}"
            result = CliRunner().invoke(app, ["db", "compact", "--month", other, "--no-fold"])
            again = CliRunner().invoke(app, ["db", "compact", "--month", other, "--no-fold"])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["discarded_rewrite_leftovers"] == left
        assert json.loads(again.output)["discarded_rewrite_leftovers"] == []
        assert _beside(engine, name) == []
        with engine.begin() as connection:
            assert connection.execute(text(rows)).one() == before
            # a write of the month goes on without the trigger
            connection.execute(
                text(f"UPDATE events SET data = data WHERE id >= {low} AND id < {high}")
            )
    finally:
        engine.dispose()


def test_leftovers_of_a_rewrite_running_now_are_left_alone(databases: Databases) -> None:
    """:func:`partitions.discard_leftovers` skips a partition whose rewrite holds its
    advisory lock (another ``db compact`` at work on it), and drops them once free."""
    engine = databases.new("postgresql")
    name = partitions.partition_name("events", partitions.month_start(datetime.now(UTC)))
    held = {"k": partitions._LOCK_KEY, "n": name}
    try:
        with engine.connect() as other, engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text(f"CREATE TABLE {name}__rewrite_log (id bigint NOT NULL)"))
            other.execute(text("SELECT pg_advisory_lock(:k, hashtext(:n))"), held)
            assert partitions.discard_leftovers(connection) == []
            assert _beside(engine, name) == [f"{name}__rewrite_log"]
            other.execute(text("SELECT pg_advisory_unlock(:k, hashtext(:n))"), held)
            assert partitions.discard_leftovers(connection) == [f"{name}__rewrite_log"]
            assert _beside(engine, name) == []
    finally:
        engine.dispose()
