"""An owner's history reads the owner's complaint ids from ``owner_complaints``
(migration 0015), then those complaints by id. The table is kept by a trigger on
complaints (intake) and by the bulk path (generate, import), filled by the migration
from the complaints already there, on both databases (on PostgreSQL a month at a
time, going on after an interruption); a page skips what the viewer
may not see and stays full."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, event, select, text
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db import online
from complaintdesk.db.migrate import alembic_config, upgrade
from complaintdesk.db.models import Complaint, Staff
from complaintdesk.domain.taxonomy import Channel
from complaintdesk.services import intake, queries
from complaintdesk.services.generate import generate
from tests.conftest import NOW, Databases, Org, build_org


def _pairs(engine: Engine) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """(owner, complaint) of every complaint that has an owner, and the table's rows."""
    with engine.connect() as conn:
        made = conn.execute(text("SELECT owner_id, id FROM complaints WHERE owner_id IS NOT NULL"))
        kept = conn.execute(text("SELECT owner_id, complaint_id FROM owner_complaints"))
        return {(int(o), int(c)) for o, c in made}, {(int(o), int(c)) for o, c in kept}


def _register(session: Session, acme: Org, project_id: int, n: int) -> Complaint:
    return intake.register(
        session,
        acme.admin,
        intake.NewComplaint(
            project_id=project_id,
            text=f"楼道灯坏了 {n}",
            channel=Channel.PHONE,
            owner_id=acme.owner.id,
        ),
        KeywordClassifier(),
        NOW,
    )


def test_on_postgresql_the_migration_copies_a_month_at_a_time_and_an_interrupted_run_goes_on(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = databases.new("postgresql", "0014")
    factory = sessionmaker(engine, expire_on_commit=False)
    generate(factory, rows=300, now=NOW, years=0.3, company_code="oc0", batch=100)
    with engine.connect() as conn:
        months = online.partitions(conn, "complaints")
    assert len(months) >= 4
    # The first run stops after two months' complaints are copied (a month that is gone).
    monkeypatch.setattr(online, "partitions", lambda _c, _t: [*months[:2], "no_such_month"])
    with pytest.raises(ProgrammingError):
        upgrade(engine)
    monkeypatch.undo()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0014"
        copied = conn.scalar(text("SELECT count(*) FROM owner_complaints"))
    # Complaints written meanwhile are kept by the trigger, which is in place already.
    with factory() as session:
        acme = build_org(session)
        one = _register(session, acme, acme.project.id, 0)
        session.commit()
    made, kept = _pairs(engine)
    assert 0 < copied < len(made) - 1 and (acme.owner.id, one.id) in kept
    # What a rebuild of the primary key interrupted in an earlier run leaves: an invalid
    # copy named as REINDEX CONCURRENTLY names it (made invalid here by a failed build:
    # two rows or more, the copied ones and the one the trigger wrote).
    with (
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
        pytest.raises(IntegrityError),
    ):
        conn.execute(
            text(
                "CREATE UNIQUE INDEX CONCURRENTLY pk_owner_complaints_ccnew "
                "ON owner_complaints ((1))"
            )
        )
    upgrade(engine)
    made, kept = _pairs(engine)
    assert kept == made
    with engine.connect() as conn:
        # The primary key rebuilt whole, and no copy of it left from either rebuild.
        assert conn.scalar(
            text(
                "SELECT bool_and(x.indisvalid) AND count(*) = 1 FROM pg_index x "
                "WHERE x.indrelid = 'owner_complaints'::regclass"
            )
        )


def test_on_postgresql_a_month_made_while_the_migration_copies_is_copied_too(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = databases.new("postgresql", "0014")
    factory = sessionmaker(engine, expire_on_commit=False)
    generate(factory, rows=300, now=NOW, years=0.3, company_code="oc2", batch=100)
    with engine.connect() as conn:
        newest = conn.scalar(
            text(
                "SELECT tableoid::regclass::text FROM complaints WHERE owner_id IS NOT NULL "
                "ORDER BY id DESC LIMIT 1"
            )
        )
        in_it = conn.scalar(text(f"SELECT count(*) FROM {newest} WHERE owner_id IS NOT NULL"))
    # The migration lists complaints' months before serve's maintenance makes the one
    # that holds the newest complaints (say, moving them out of the default partition,
    # triggers off): the first listing does not name it, later ones do.
    listed = online.partitions
    calls: list[str] = []

    def before_the_month(connection: Connection, table: str) -> list[str]:
        found = listed(connection, table)
        calls.append(table)
        first = table == "complaints" and calls.count("complaints") == 1
        return [p for p in found if p != newest] if first else found

    monkeypatch.setattr(online, "partitions", before_the_month)
    upgrade(engine)
    monkeypatch.undo()
    made, kept = _pairs(engine)
    assert in_it and kept == made


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_at_0014(request: pytest.FixtureRequest, databases: Databases) -> Iterator[Engine]:
    engine = databases.new(request.param, "0014")
    yield engine
    engine.dispose()


def test_the_migration_fills_it_and_every_write_path_keeps_it(engine_at_0014: Engine) -> None:
    engine = engine_at_0014
    factory = sessionmaker(engine, expire_on_commit=False)
    # History made before 0015 (the bulk path, as generate runs it), then the upgrade.
    generate(factory, rows=300, now=NOW, years=0.1, company_code="oc0", batch=100)
    upgrade(engine)
    made, kept = _pairs(engine)
    assert len(made) > 250 and kept == made
    # After it: the bulk path again (a second company), and intake (the trigger).
    generate(factory, rows=200, now=NOW, years=0.1, company_code="oc1", batch=100)
    with factory() as session:
        acme = build_org(session)
        one = _register(session, acme, acme.project.id, 0)
        session.commit()
    made, kept = _pairs(engine)
    assert len(made) > 450 and kept == made and (acme.owner.id, one.id) in kept
    # The downgrade takes the table and its trigger away; complaints still insert.
    command.downgrade(alembic_config(engine), "0014")
    with factory() as session:
        _register(session, acme, acme.project.id, 1)
        session.commit()
    upgrade(engine)
    made, kept = _pairs(engine)
    assert kept == made


def test_a_page_skips_what_the_viewer_may_not_see_and_stays_full(
    session: Session, acme: Org
) -> None:
    # The owner complains in both projects; the engineering supervisor sees only the
    # first, so most batches of ids read hold fewer complaints they may see.
    pattern = [acme.project.id] + [acme.other_project.id] * 4
    made = [_register(session, acme, pattern[n % 5], n) for n in range(23)]
    session.flush()
    visible = [c.id for c in made if c.project_id == acme.project.id][::-1]
    every = [c.id for c in made][::-1]
    for viewer, expected in ((acme.eng_supervisor, visible), (acme.admin, every)):
        for limit in (1, 2, 3, 20):
            seen: list[int] = []
            cursor = None
            while True:
                page, cursor = queries.owner_history(
                    session, viewer, acme.owner, limit=limit, cursor=cursor
                )
                assert len(page) == limit or cursor is None
                seen += [c.id for c in page]
                if cursor is None:
                    break
            assert seen == expected, (viewer.username, limit)
    assert len(visible) == 5 and len(every) == 23


def test_an_id_whose_complaint_is_gone_is_skipped(session: Session, acme: Org) -> None:
    made = [_register(session, acme, acme.project.id, n) for n in range(3)]
    session.flush()
    gone = max(c.id for c in made) + 1
    session.execute(
        text("INSERT INTO owner_complaints (owner_id, complaint_id) VALUES (:o, :c)"),
        {"o": acme.owner.id, "c": gone},
    )
    page, cursor = queries.owner_history(session, acme.admin, acme.owner, limit=3)
    assert [c.id for c in page] == [c.id for c in made][::-1] and cursor is None
    # Another company's administrator sees none of them.
    outsider = session.scalars(select(Staff).where(Staff.id == acme.outsider.id)).one()
    assert queries.owner_history(session, outsider, acme.owner)[0] == []


def test_many_complaints_the_viewer_may_not_see_cost_a_few_statements(
    session: Session, acme: Org
) -> None:
    """The owner's 40 newest complaints are in a project the supervisor does not see:
    each round reads twice the ids of the one before, so the one visible complaint
    behind them takes a handful of statements, not one per two ids."""
    older = _register(session, acme, acme.project.id, 0)
    for n in range(1, 41):
        _register(session, acme, acme.other_project.id, n)
    session.flush()
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    bind = session.connection().engine
    event.listen(bind, "before_cursor_execute", count)
    try:
        page, cursor = queries.owner_history(session, acme.eng_supervisor, acme.owner, limit=1)
    finally:
        event.remove(bind, "before_cursor_execute", count)
    assert [c.id for c in page] == [older.id] and cursor is None
    reads = [s for s in statements if "owner_complaints" in s]
    # batches of 2, 4, 8, 16, 32 ids: the fifth reaches the visible one (a batch of 2
    # ids a round, as before, would take 21 rounds)
    assert len(reads) == 5, len(reads)


def test_a_page_reads_one_id_past_it_but_not_its_complaint(session: Session, acme: Org) -> None:
    """Whether there is more is told by the ids: a round reads the page's ids and one
    more, and the complaints of the page's ids only (at 30 million each complaint read
    is an index leaf and a heap page from disk). The cost: a next page can be empty
    when every older complaint is one the viewer may not see."""
    oldest = _register(session, acme, acme.other_project.id, 0)  # not the supervisor's
    made = [_register(session, acme, acme.project.id, n) for n in range(1, 4)]
    session.flush()
    newest_first = [c.id for c in made][::-1]
    rows = session.execute(queries.owner_page(acme.owner.id, acme.admin.company_id, 2)).all()
    # Two rows, the newest two ids, each with its complaint; a third id was counted.
    assert [r[0] for r in rows] == newest_first[:2] == [r[1] for r in rows]
    assert [r[-1] for r in rows] == [3, 3]
    # The supervisor sees the three in their project: a full page, and a cursor since
    # an older id exists; its page is empty (that complaint is not theirs to see).
    page, cursor = queries.owner_history(session, acme.eng_supervisor, acme.owner, limit=3)
    assert [c.id for c in page] == newest_first and cursor == made[0].id
    assert queries.owner_history(
        session, acme.eng_supervisor, acme.owner, limit=3, cursor=cursor
    ) == ([], None)
    # The administrator sees all four: with a page of four, no id past it, no cursor;
    # with a page of three, the cursor leads to the oldest.
    every, none = queries.owner_history(session, acme.admin, acme.owner, limit=4)
    assert [c.id for c in every] == [*newest_first, oldest.id] and none is None
    _, cursor = queries.owner_history(session, acme.admin, acme.owner, limit=3)
    rest, none = queries.owner_history(session, acme.admin, acme.owner, limit=3, cursor=cursor)
    assert [c.id for c in rest] == [oldest.id] and none is None
