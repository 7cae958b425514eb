"""Migration 0016 puts the timeline's index on the complaint alone (PostgreSQL then
stores each complaint's key once, with its events' addresses): a complaint's events
still read in order from it, and the downgrade brings the old index back, on both
databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.migrate import alembic_config, upgrade
from complaintdesk.domain.taxonomy import Channel, Department
from complaintdesk.services import dispatch, intake, queries
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
