"""Migration 0013 keeps only the co-handling departments in complaint_departments:
each complaint's lead row goes (the lead is ``complaints.department``), the others
stay, and the ``lead`` column goes; its downgrade writes the lead rows back. On both
databases."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.migrate import alembic_config, upgrade
from complaintdesk.domain.taxonomy import Channel
from complaintdesk.services import intake
from tests.conftest import NOW, Databases, build_org


def _rows(engine: Engine) -> set[tuple[object, ...]]:
    with engine.connect() as conn:
        columns = [c["name"] for c in inspect(conn).get_columns("complaint_departments")]
        listed = ", ".join(c for c in ("complaint_id", "department", "lead") if c in columns)
        return {
            tuple(bool(v) if isinstance(v, int) and i == 2 else v for i, v in enumerate(row))
            for row in conn.execute(text(f"SELECT {listed} FROM complaint_departments"))
        }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_lead_rows_go_co_handling_rows_stay_and_come_back_on_downgrade(
    databases: Databases, backend: str
) -> None:
    # Complaints made by today's code (its columns), then the schema taken back to 0012.
    engine = databases.new(backend, "head")
    with Session(engine) as session:
        acme = build_org(session)
        made = [
            intake.register(
                session,
                acme.agent,
                intake.NewComplaint(
                    project_id=acme.project.id,
                    text=f"楼道灯坏了 {n}",
                    channel=Channel.PHONE,
                    owner_id=acme.owner.id,
                    labels={"department": "engineering"},
                ),
                KeywordClassifier(),
                NOW,
            )
            for n in range(3)
        ]
        session.commit()
        shared, alone, odd = (c.id for c in made)
    # As 0012's code wrote them: every complaint's lead row, and beside it in one
    # complaint a co-handling department; in another, a row not flagged lead that
    # names the complaint's own department (the lead all the same: it goes too).
    before = {
        (shared, "engineering", True),
        (shared, "security", False),
        (alone, "engineering", True),
        (alone, "security", True),  # flagged lead, not its department: kept, co-handling
        (odd, "engineering", False),
        (odd, "cleaning", False),
    }
    command.downgrade(alembic_config(engine), "0012")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM complaint_departments"))  # the downgrade's lead rows
        conn.execute(
            text(
                "INSERT INTO complaint_departments (complaint_id, department, lead) "
                "VALUES (:c, :d, :l)"
            ),
            [{"c": c, "d": d, "l": lead} for c, d, lead in before],
        )
    upgrade(engine)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("complaint_departments")}
    assert columns == {"complaint_id", "department"}
    assert _rows(engine) == {(shared, "security"), (alone, "security"), (odd, "cleaning")}

    # A row naming the complaint's own department (no service writes one) does not
    # stop the downgrade: it becomes the lead row.
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO complaint_departments (complaint_id, department) VALUES (:c, :d)"),
            {"c": odd, "d": "engineering"},
        )
    command.downgrade(alembic_config(engine), "0012")
    assert _rows(engine) == {
        (shared, "engineering", True),
        (shared, "security", False),
        (alone, "engineering", True),
        (alone, "security", False),
        (odd, "engineering", True),
        (odd, "cleaning", False),
    }
    upgrade(engine)
    assert _rows(engine) == {(shared, "security"), (alone, "security"), (odd, "cleaning")}
    engine.dispose()
