"""Label confidences are four small integers on the row (migration 0014), read and
answered as floats in [0, 1]; the migration converts the JSON kept before, both ways,
on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.migrate import alembic_config, upgrade
from complaintdesk.db.models import Complaint
from complaintdesk.domain.taxonomy import Channel
from complaintdesk.services import intake
from complaintdesk.services.importer import import_file
from tests.conftest import NOW, Databases, Org, build_org

CLASSIFIER = KeywordClassifier()


def _register(session: Session, acme: Org, text_: str) -> Complaint:
    new = intake.NewComplaint(
        project_id=acme.project.id, text=text_, channel=Channel.PHONE, owner_id=acme.owner.id
    )
    return intake.register(session, acme.guard, new, CLASSIFIER, NOW)


def test_confidences_are_small_integers_read_as_the_classifiers_floats(
    session: Session, acme: Org
) -> None:
    c = _register(session, acme, "电梯困人了,快来")
    expected = CLASSIFIER.predict(["电梯困人了,快来"])[0].confidence
    session.commit()
    session.expire_all()
    stored = session.execute(
        select(
            Complaint.confidence_nature,
            Complaint.confidence_category,
            Complaint.confidence_urgency,
            Complaint.confidence_department,
        ).where(Complaint.id == c.id)
    ).one()
    assert tuple(stored) == tuple(
        round(expected[k] * 10_000) for k in ("nature", "category", "urgency", "department")
    )
    loaded = session.get(Complaint, c.id)
    assert loaded is not None and loaded.label_confidence == expected
    # No classifier, no confidences.
    loaded.label_confidence = None
    assert loaded.confidence_nature is None and loaded.label_confidence is None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_converts_the_json_both_ways(databases: Databases, backend: str) -> None:
    engine = databases.new(backend)  # at head
    with Session(engine) as session:
        acme = build_org(session)
        labelled = _register(session, acme, "Water is leaking from the ceiling")
        unlabelled = _register(session, acme, "门禁坏了")
        unlabelled.label_confidence = None
        session.commit()
        ids = (labelled.id, unlabelled.id)
        expected = labelled.label_confidence
    assert expected is not None and set(expected) == {"nature", "category", "urgency", "department"}
    config = alembic_config(engine)
    command.downgrade(config, "0013")
    with engine.connect() as conn:
        rows = dict(
            conn.execute(
                text("SELECT id, label_confidence FROM complaints WHERE id IN (:a, :b)"),
                {"a": ids[0], "b": ids[1]},
            ).all()
        )
    as_json = rows[ids[0]]
    if isinstance(as_json, str):  # SQLite hands JSON back as text
        as_json = json.loads(as_json)
    assert {k: float(v) for k, v in as_json.items()} == expected
    assert rows[ids[1]] is None
    upgrade(engine)
    with Session(engine) as session:
        again = session.get(Complaint, ids[0])
        assert again is not None and again.label_confidence == expected
        none = session.get(Complaint, ids[1])
        assert none is not None and none.label_confidence is None
        columns = session.execute(
            text("SELECT * FROM complaints WHERE id = :id"), {"id": ids[0]}
        ).keys()
        assert "label_confidence" not in columns
    engine.dispose()


def test_an_import_stores_the_confidences_of_the_rows_it_classifies(
    factory: sessionmaker[Session], session: Session, acme: Org, tmp_path: Path
) -> None:
    session.commit()
    labels = {
        "nature": "help_seeking",
        "category": "equipment",
        "urgency": "normal",
        "department": "engineering",
    }
    rows = [
        {"text": "楼道灯坏了,麻烦来换", "project": "P1", **labels},  # labelled: no classifier
        {"text": "Water is leaking from the ceiling", "project": "P1"},  # classified
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    report = import_file(
        factory, path, username="agent", project_code=None, company_code=acme.company.code,
        now=NOW,
    )  # fmt: skip
    assert report.imported == 2
    session.expire_all()
    made = {
        c.text: c
        for c in session.scalars(select(Complaint).where(Complaint.project_id == acme.project.id))
    }
    assert made["楼道灯坏了,麻烦来换"].label_confidence is None
    classified = made["Water is leaking from the ceiling"].label_confidence
    assert classified is not None
    assert set(classified) == {"nature", "category", "urgency", "department"}
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in classified.values())
