"""Migration 0016 puts the timeline's index on the complaint alone (PostgreSQL then
stores each complaint's key once, with its events' addresses): a complaint's events
still read in order from it, and the downgrade brings the old index back, on both
databases. On PostgreSQL it is built a month at a time, concurrently, and a run
that was interrupted goes on where it stopped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db import online
from complaintdesk.db.migrate import alembic_config, upgrade
from complaintdesk.db.models import Complaint
from complaintdesk.domain.taxonomy import Channel, Department
from complaintdesk.services import dispatch, intake, queries
from complaintdesk.services.generate import generate
from tests.conftest import NOW, Databases, build_org


def _columns(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("PRAGMA index_info('ix_events_complaint')")).all()
            return [r[2] for r in sorted(rows)]
        definition = conn.scalar(
            text(
                "SELECT pg_get_indexdef(c.oid) FROM pg_class c "
                "WHERE c.relname = 'ix_events_complaint'"
            )
        )
    assert definition is not None
    return [c.strip() for c in str(definition).rsplit("(", 1)[1].rstrip(")").split(",")]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_timeline_index_is_on_the_complaint_alone_and_comes_back_on_downgrade(
    databases: Databases, backend: str
) -> None:
    engine = databases.new(backend, "0015")
    assert _columns(engine) == ["complaint_id", "id"]
    upgrade(engine, "0016")
    assert _columns(engine) == ["complaint_id"]
    with Session(engine) as session:
        acme = build_org(session)
        new = intake.NewComplaint(
            project_id=acme.project.id,
            text="电梯坏了",
            channel=Channel.PHONE,
            owner_id=acme.owner.id,
        )
        c = intake.register(session, acme.agent, new, KeywordClassifier(), NOW)
        for minutes in (5, 9):
            dispatch.dispatch(
                session,
                acme.agent,
                c,
                NOW + timedelta(minutes=minutes),
                department=Department.ENGINEERING,
            )
        session.commit()
        timeline = queries.timeline(session, c)
        assert [e.kind for e in timeline] == ["received", "dispatch", "dispatch"]
        assert [e.id for e in timeline] == sorted(e.id for e in timeline)
    command.downgrade(alembic_config(engine), "0015")
    assert _columns(engine) == ["complaint_id", "id"]
    upgrade(engine, "head")
    assert _columns(engine) == ["complaint_id"]


def _events_indexes(engine: Engine) -> list[tuple[str, str, bool, str | None]]:
    """(partition, index, valid, the partitioned index it belongs to) of every index on
    a partition of events."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.relname, c.relname, x.indisvalid, p.relname FROM pg_inherits ti "
                "JOIN pg_class t ON t.oid = ti.inhrelid "
                "JOIN pg_index x ON x.indrelid = t.oid JOIN pg_class c ON c.oid = x.indexrelid "
                "LEFT JOIN pg_inherits ii ON ii.inhrelid = c.oid "
                "LEFT JOIN pg_class p ON p.oid = ii.inhparent "
                "WHERE ti.inhparent = 'events'::regclass ORDER BY 1, 2"
            )
        )
        return [(str(a), str(b), bool(v), None if p is None else str(p)) for a, b, v, p in rows]


def test_on_postgresql_it_is_built_a_month_at_a_time_and_an_interrupted_run_goes_on(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = databases.new("postgresql", "0015")
    factory = sessionmaker(engine, expire_on_commit=False)
    generate(factory, rows=300, now=NOW, years=0.3, company_code="ev0", batch=100)
    with engine.connect() as conn:
        parts = online.partitions(conn, "events")
    assert len(parts) >= 4
    # A partition's index that a failed concurrent build left behind: invalid.
    with engine.connect() as conn:
        leftover = online._child_name(conn, parts[1], ["complaint_id"])
    with (
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
        pytest.raises(IntegrityError),
    ):
        conn.execute(
            text(f"CREATE UNIQUE INDEX CONCURRENTLY {leftover} ON {parts[1]} (complaint_id)")
        )
    assert (parts[1], leftover, False, None) in _events_indexes(engine)

    # The first run stops as it attaches the third month's index.
    attach = online.with_short_locks

    def stopping(connection: Connection, step: object) -> None:
        if isinstance(step, str) and f"ATTACH PARTITION {parts[2]}_" in step:
            raise RuntimeError("interrupted")
        attach(connection, step)  # type: ignore[arg-type]

    monkeypatch.setattr(online, "with_short_locks", stopping)
    with pytest.raises(RuntimeError, match="interrupted"):
        upgrade(engine, "0016")
    monkeypatch.undo()
    # Nothing lost meanwhile: the old index serves the timeline, the version is 0015.
    assert _columns(engine) == ["complaint_id", "id"]
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0015"

    upgrade(engine, "0016")
    assert _columns(engine) == ["complaint_id"]
    indexes = _events_indexes(engine)
    # Every month has its index on the complaint, whole and attached; the failed
    # build's copy and the old index are gone.
    for part in parts:
        mine = [i for i in indexes if i[0] == part and i[3] == "ix_events_complaint"]
        assert len(mine) == 1 and mine[0][2], (part, indexes)
    assert all(valid for _, _, valid, _ in indexes)
    assert not [i for i in indexes if i[1].endswith("_new")]
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM pg_class WHERE relname LIKE '%_new'")) == 0
        # Run again once it is there: nothing to do.
        assert (
            online.build_index(
                conn, "events", "ix_events_complaint", ["complaint_id"], replace=True
            )
            == []
        )
    # The downgrade builds the old index the same way, a month at a time.
    command.downgrade(alembic_config(engine), "0015")
    assert _columns(engine) == ["complaint_id", "id"]
    assert all(valid for _, _, valid, _ in _events_indexes(engine))
    assert len([i for i in _events_indexes(engine) if i[3] == "ix_events_complaint"]) == len(parts)
    upgrade(engine, "0016")
    with Session(engine) as session:
        one = session.scalars(select(Complaint).order_by(Complaint.id.desc()).limit(1)).one()
        timeline = queries.timeline(session, one)
        assert timeline and [e.id for e in timeline] == sorted(e.id for e in timeline)
