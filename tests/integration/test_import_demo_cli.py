"""The importer, the demo loader and the command line, on real databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from complaintdesk.cli import app
from complaintdesk.db.engine import make_engine
from complaintdesk.db.models import Company, Complaint, Event, Outbox, Owner
from complaintdesk.demo import DEMO_CODE, DEMO_OWNER_PHONE, SECOND_CODE, load_demo
from complaintdesk.domain.lifecycle import Status
from complaintdesk.services.importer import import_file
from complaintdesk.settings import get_settings
from tests.conftest import BACKENDS, NOW, Databases, Org

CSV = """text,project,channel,owner_phone,received_at,category
楼道灯坏了麻烦修一下,P1,phone,13800000001,2026-10-30T09:00:00+08:00,
,P1,phone,,,
电梯又坏了,P404,phone,,,
门禁坏了,P1,fax,,,
The gate is broken,P1,web,,,plumbing
停车位被占了,P1,phone,,not-a-date,
Noise from upstairs every night,P1,email,,2099-01-01T00:00:00+00:00,
垃圾一直没人收,P1,app,19900000000,,
Please fix the lobby door,P1,web,,,
"""


def _count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Complaint)) or 0


def test_csv_import_loads_good_rows_and_reports_each_bad_one(
    factory: sessionmaker[Session], session: Session, acme: Org, tmp_path: Path
) -> None:
    session.commit()
    path = tmp_path / "complaints.csv"
    path.write_text(CSV, encoding="utf-8")
    before = _count(session)
    report = import_file(
        factory, path, username="agent", project_code=None, company_code=acme.company.code, now=NOW
    )
    assert report.imported == 2
    reasons = {r.line: r.reason for r in report.rejected}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9]
    assert "empty" in reasons[3]
    assert "P404" in reasons[4]
    assert "fax" in reasons[5]
    assert "plumbing" in reasons[6]
    assert "not-a-date" in reasons[7]
    assert "future" in reasons[8]
    assert "19900000000" in reasons[9]
    assert _count(session) == before + 2
    first = session.scalars(select(Complaint).where(Complaint.owner_id == acme.owner.id)).one()
    assert first.received_at.isoformat() == "2026-10-30T01:00:00+00:00"


def test_jsonl_import_survives_unreadable_lines(
    factory: sessionmaker[Session], session: Session, acme: Org, tmp_path: Path
) -> None:
    session.commit()
    path = tmp_path / "complaints.jsonl"
    lines = [
        json.dumps(
            {"text": "电梯坏了", "project": "P1", "caller_phone": "13911112222"}, ensure_ascii=False
        ),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"text": 123, "project": "P1"}),
        "",
        json.dumps({"text": "Lift broken", "urgency": "high", "caller_name": "Tom"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_file(
        factory, path, username="agent", project_code="P1", company_code=acme.company.code, now=NOW
    )
    assert report.imported == 2
    assert [r.line for r in report.rejected] == [2, 3, 4]
    assert "JSON" in report.rejected[0].reason and "text" in report.rejected[2].reason


def test_each_row_s_labels_are_checked_however_often_they_come(
    factory: sessionmaker[Session], session: Session, acme: Org, tmp_path: Path
) -> None:
    """The importer checks each combination of labels once and reuses it: a bad value
    is refused on every line it is on, a list among them too."""
    session.commit()
    good = {"nature": "help_seeking", "category": "equipment", "urgency": "high",
            "department": "engineering"}  # fmt: skip
    rows: list[object] = [
        {"text": "电梯坏了 1", **good},
        {"text": "电梯坏了 2", **good, "urgency": "urgent"},
        {"text": "电梯坏了 3", **good},
        {"text": "电梯坏了 4", **good, "urgency": "urgent"},
        {"text": "电梯坏了 5", **good, "category": ["equipment"]},
        {"text": "电梯坏了 6", **good, "category": ["equipment"]},
        {"text": "电梯坏了 7", **good, "urgency": ""},  # empty: classified
    ]
    path = tmp_path / "labels.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    report = import_file(
        factory, path, username="agent", project_code="P1", company_code=acme.company.code, now=NOW
    )
    assert [r.line for r in report.rejected] == [2, 4, 5, 6]
    assert all("urgent" in r.reason for r in report.rejected[:2])
    assert all("category" in r.reason for r in report.rejected[2:])
    loaded = {
        c.text: (c.category, c.urgency, c.label_source)
        for c in session.scalars(select(Complaint).where(Complaint.text.like("电梯坏了 %")))
    }
    assert loaded["电梯坏了 1"] == loaded["电梯坏了 3"] == ("equipment", "high", "import")
    assert loaded["电梯坏了 7"][2] == "auto"


def test_badly_encoded_file_is_rejected_with_its_line(
    factory: sessionmaker[Session], acme: Org, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes("text,project\n电梯坏了,P1\n".encode() + b"\xff\xfe,P1\n")
    report = import_file(
        factory, path, username="agent", project_code=None, company_code=acme.company.code, now=NOW
    )
    assert report.imported == 1  # the good line before it loads
    assert report.rejected[0].line == 3 and "UTF-8" in report.rejected[0].reason


def test_demo_makes_every_state_through_the_services(
    factory: sessionmaker[Session], session: Session
) -> None:
    result = load_demo(factory, complaints=150, seed=3, now=NOW, owners_per_project=8)
    assert result.created and result.complaints == 150
    assert "ch-agent" in result.tokens and result.tokens["admin"].startswith("cdk_")
    session.expire_all()
    statuses = set(session.scalars(select(Complaint.status).distinct()))
    assert {Status.RECEIVED, Status.DISPATCHED, Status.RESOLVED, Status.CLOSED} <= {
        Status(s) for s in statuses
    }
    # Every complaint has its history and the owner heard of its receipt.
    no_events = (
        session.scalar(
            select(func.count())
            .select_from(Complaint)
            .where(~Complaint.id.in_(select(Event.complaint_id)))
        )
        or 0
    )
    assert no_events == 0
    demo = session.scalar(select(Company).where(Company.code == DEMO_CODE))
    second = session.scalar(select(Company).where(Company.code == SECOND_CODE))
    assert demo is not None and second is not None
    received = (
        session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.kind == "received", Outbox.company_id == demo.id)
        )
        or 0
    )
    assert received == 150
    assert result.second_company_complaints > 0
    assert (
        session.scalar(
            select(func.count()).select_from(Complaint).where(Complaint.company_id == second.id)
        )
        == result.second_company_complaints
    )
    # History is delivered: nothing old waits in front of a new message.
    statuses = set(session.scalars(select(Outbox.status).distinct()))
    assert statuses == {"sent"}
    (portal_owner,) = session.scalars(select(Owner).where(Owner.phone == DEMO_OWNER_PHONE))
    assert session.scalar(
        select(func.count()).select_from(Complaint).where(Complaint.owner_id == portal_owner.id)
    )
    texts = session.scalars(select(Complaint.text)).all()
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in texts)
    assert any(t.isascii() for t in texts)
    again = load_demo(factory, complaints=10, seed=3, now=NOW, if_empty=True)
    assert not again.created


@pytest.fixture(params=BACKENDS)
def cli_db(
    request: pytest.FixtureRequest,
    databases: Databases,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """A database of its own for the command line, named by DATABASE_URL; the working
    folder is a temporary one (the demo writes var/demo-tokens.txt there)."""
    engine = databases.new(request.param)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_cli_upgrade_demo_sweep_token(cli_db: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["demo", "--complaints", "40", "--owners", "5"])
    assert result.exit_code == 0, result.output
    assert "40 complaints" in result.output
    assert (cli_db / "var" / "demo-tokens.txt").read_text(encoding="utf-8").count("cdk_") >= 5
    result = runner.invoke(app, ["sweep", "--now", "2030-01-01T00:00:00+00:00"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["escalations"] > 0
    result = runner.invoke(app, ["deliver"])
    assert result.exit_code == 0, result.output
    # The demo's history counts as delivered: nothing old is sent (nor mailed).
    assert json.loads(result.output)["sent"] == 0
    engine = make_engine(get_settings().database_url)
    with engine.begin() as connection:  # put the history back in the queue
        connection.execute(
            update(Outbox).values(status="pending", next_attempt_at=Outbox.created_at)
        )
    engine.dispose()
    result = runner.invoke(app, ["deliver"])
    assert result.exit_code == 0, result.output
    delivered = json.loads(result.output)
    assert delivered["sent"] > 100 and delivered["failed"] == 0  # every batch, not just one
    assert json.loads(runner.invoke(app, ["deliver"]).output)["sent"] == 0
    result = runner.invoke(app, ["sweep", "--now", "yesterday"])
    assert result.exit_code != 0 and "ISO" in result.output
    result = runner.invoke(app, ["token", "create", "ch-agent"])
    assert result.exit_code == 0 and result.output.startswith("cdk_")
    result = runner.invoke(app, ["token", "create", "nobody"])
    assert result.exit_code == 2


def test_cli_import_exits_1_and_lists_rejected_lines(cli_db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--complaints", "5", "--owners", "2"]).exit_code == 0
    path = tmp_path / "in.csv"
    path.write_text("text,project\n电梯坏了,CH\n,CH\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(path), "--as", "ch-agent"])
    assert result.exit_code == 1
    assert "line 3:" in result.output
    assert json.loads(result.output.strip().splitlines()[-1]) == {"imported": 1, "rejected": 1}
    # Indexes made after the load are for a database without history: refused here.
    path.write_text("text,project\n水管漏了,CH\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(path), "--as", "ch-agent", "--indexes", "after"])
    assert result.exit_code == 2 and "refused:" in result.output


def test_cli_generate_then_purge_the_outbox(cli_db: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["generate", "--rows", "300", "--years", "0.2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    made = json.loads(result.output.strip().splitlines()[-1])
    assert made["complaints"] == 300 and made["events"] > 300 and made["projects"] == 3
    # Generated messages were sent within the last 30 days: a zero retention purges
    # every one of them, and a second purge finds nothing.
    result = runner.invoke(app, ["purge-outbox", "--retention-days", "0"])
    assert result.exit_code == 0, result.output
    purged = json.loads(result.output)
    assert purged["purged"] > 0 and purged["events"] == purged["purged"]
    again = json.loads(runner.invoke(app, ["purge-outbox", "--retention-days", "0"]).output)
    assert again == {"purged": 0, "events": 0}
