"""Importing complaints from CSV or JSON Lines, through the same intake as the API.

Good rows are loaded; each bad row is reported with its line number and the reason,
and loses nothing that was already accepted.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.base import default_classifier
from complaintdesk.db.engine import unit_of_work
from complaintdesk.db.models import Company, Owner, Project, Staff
from complaintdesk.domain.errors import DomainError, InvalidInput
from complaintdesk.domain.taxonomy import LABELS, Channel
from complaintdesk.services import intake

BATCH = 500
COLUMNS = (
    "text",
    "project",
    "channel",
    "owner_phone",
    "caller_name",
    "caller_phone",
    "location",
    "summary",
    "received_at",
    *LABELS,
)


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) pairs; a row that cannot be read is its error message."""
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield (raw[: exc.start].count(b"\n") + 1, f"not valid UTF-8 at byte {exc.start}")
        return
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield (number, f"not valid JSON: {exc.msg}")
                continue
            yield (number, row if isinstance(row, dict) else "a line must be a JSON object")
        return
    reader = csv.DictReader(content.splitlines(keepends=True))
    missing = {"text"} - set(reader.fieldnames or [])
    if missing:
        yield (1, f"the header has no column {sorted(missing)}; columns: {', '.join(COLUMNS)}")
        return
    for row in reader:
        yield (reader.line_num, dict(row))


def import_file(
    factory: sessionmaker[Session],
    path: Path,
    *,
    username: str,
    project_code: str | None,
    company_code: str | None,
    now: datetime,
) -> ImportReport:
    report = ImportReport()
    rows = list(_rows(path))
    with unit_of_work(factory) as session:
        receiver = _receiver(session, username, company_code)
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        with unit_of_work(factory) as session:
            receiver = session.merge(receiver)
            for number, row in chunk:
                if isinstance(row, str):
                    report.rejected.append(Rejected(number, row))
                    continue
                try:
                    with session.begin_nested():
                        new, received_at = _new_complaint(session, receiver, row, project_code, now)
                        intake.register(session, receiver, new, default_classifier(), received_at)
                    report.imported += 1
                except DomainError as exc:
                    where = f" ({exc.field})" if exc.field else ""
                    report.rejected.append(Rejected(number, f"{exc.message}{where}"))
                except SQLAlchemyError as exc:
                    # The database refused the row (a value it cannot store): only this
                    # row's savepoint is rolled back, the rows before it stay.
                    reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).splitlines()[0]
                    report.rejected.append(Rejected(number, f"the database refused it: {reason}"))
    return report


def _receiver(session: Session, username: str, company_code: str | None) -> Staff:
    query = select(Staff).where(Staff.username == username, Staff.active.is_(True))
    if company_code is not None:
        query = query.join(Company, Company.id == Staff.company_id).where(
            Company.code == company_code
        )
    found = session.scalars(query).all()
    if len(found) != 1:
        raise InvalidInput(
            f"{len(found)} active staff named {username!r}; give the company", field="--as"
        )
    return found[0]


def _text(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text, not {type(value).__name__}", field=name)
    return value


def _new_complaint(
    session: Session, receiver: Staff, row: dict[str, Any], project_code: str | None, now: datetime
) -> tuple[intake.NewComplaint, datetime]:
    text = _text(row, "text")
    if text is None:
        raise InvalidInput("the text is empty", field="text")
    code = _text(row, "project") or project_code
    if code is None:
        raise InvalidInput("no project: give a project column or --project", field="project")
    project = session.scalar(
        select(Project).where(Project.company_id == receiver.company_id, Project.code == code)
    )
    if project is None:
        raise InvalidInput(f"unknown project {code!r}", field="project")
    channel_code = _text(row, "channel") or Channel.OTHER.value
    try:
        channel = Channel(channel_code)
    except ValueError as exc:
        raise InvalidInput(
            f"unknown channel {channel_code!r}; one of: " + ", ".join(c.value for c in Channel),
            field="channel",
        ) from exc
    owner_id = None
    if phone := _text(row, "owner_phone"):
        owner = session.scalar(
            select(Owner)
            .where(Owner.company_id == receiver.company_id, Owner.phone == phone)
            .limit(1)
        )
        if owner is None:
            raise InvalidInput(f"no owner with phone {phone}", field="owner_phone")
        owner_id = owner.id
    received_at = now
    if stamp := _text(row, "received_at"):
        try:
            received_at = datetime.fromisoformat(stamp)
        except ValueError as exc:
            raise InvalidInput(f"not an ISO 8601 time: {stamp!r}", field="received_at") from exc
        if received_at.tzinfo is None:
            raise InvalidInput("give a time zone, e.g. 2026-01-05T09:30+08:00", field="received_at")
        if received_at > now:
            raise InvalidInput("is in the future", field="received_at")
    labels = {name: value for name in LABELS if (value := _text(row, name))}
    caller_name = _text(row, "caller_name")
    if owner_id is None and caller_name is None and _text(row, "caller_phone") is None:
        caller_name = "(imported)"
    return intake.NewComplaint(
        project_id=project.id,
        text=text,
        channel=channel,
        owner_id=owner_id,
        caller_name=caller_name,
        caller_phone=_text(row, "caller_phone"),
        location=_text(row, "location"),
        summary=_text(row, "summary"),
        labels=labels,
    ), received_at
