"""Migration 0017 makes the full-text index lead with the project (PostgreSQL,
``btree_gin``): a search within a project reads the project's matches from the index
instead of the company's, answers exactly what it answered before, and the downgrade
brings the words-only index back. Built a month at a time, concurrently (db/online.py)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.migrate import alembic_config, upgrade
from complaintdesk.db.models import Complaint, Staff
from complaintdesk.services import queries, search
from tests.conftest import NOW, Databases, generated_company_admin

_WORDS = "to_tsvector('simple'::regconfig, search_terms)"


def _definitions(engine: Engine) -> dict[str, str]:
    """index name -> its keys, of ix_complaints_search and every index attached to it."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, pg_get_indexdef(c.oid), x.indisvalid FROM pg_class c "
                "JOIN pg_index x ON x.indexrelid = c.oid "
                "WHERE c.oid = 'ix_complaints_search'::regclass OR c.oid IN (SELECT inhrelid "
                "FROM pg_inherits WHERE inhparent = 'ix_complaints_search'::regclass)"
            )
        ).all()
    assert all(valid for _, _, valid in rows)
    return {name: d.split(" USING ", 1)[1] for name, d, _ in rows}


def _answers(engine: Engine, admin_id: int, project_id: int) -> list[list[int]]:
    """The ids of a few searches, within the project and across the company, both sorts."""
    out = []
    with Session(engine) as session:
        admin = session.get(Staff, admin_id)
        assert admin is not None
        for words in ("电梯", "漏水", "water", "lift"):
            for flt in (queries.ComplaintFilter(project_id=project_id), queries.ComplaintFilter()):
                for sort in search.SearchSort:
                    page = search.search(session, admin, words, flt, NOW, sort=sort, limit=50)
                    out.append([c.id for c in page.items])
            session.rollback()
    return out


def test_the_search_index_leads_with_the_project_and_answers_the_same(
    databases: Databases,
) -> None:
    engine = databases.new("postgresql", "0016")
    factory = sessionmaker(engine, expire_on_commit=False)
    admin_id = generated_company_admin(factory, "srch", rows=600, years=0.3, batch=200)
    with factory() as session:
        project_id = session.scalars(
            select(Complaint.project_id).group_by(Complaint.project_id).limit(1)
        ).one()
    before = _answers(engine, admin_id, project_id)
    assert sum(len(ids) for ids in before) > 20  # the searches do find complaints
    old = _definitions(engine)
    assert len(old) > 4 and set(old.values()) == {f"gin ({_WORDS})"}

    upgrade(engine, "0017")
    new = _definitions(engine)
    # Every month's index leads with the project; the old ones are gone.
    assert set(new.values()) == {f"gin (project_id, {_WORDS})"}
    assert len(new) == len(old) and not set(new) & (set(old) - {"ix_complaints_search"})
    assert _answers(engine, admin_id, project_id) == before

    # The project's search is answered by the project's entries of the index.
    with engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                text(
                    "EXPLAIN SELECT id FROM complaints WHERE project_id = :p AND "
                    f"{_WORDS} @@ to_tsquery('simple', '电梯')"
                ),
                {"p": project_id},
            )
        )
    assert "project_id_to_tsvector_idx" in plan and "project_id =" in plan, plan

    command.downgrade(alembic_config(engine), "0016")
    assert set(_definitions(engine).values()) == {f"gin ({_WORDS})"}
    assert _answers(engine, admin_id, project_id) == before
    upgrade(engine, "head")
    assert set(_definitions(engine).values()) == {f"gin (project_id, {_WORDS})"}
