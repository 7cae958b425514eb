"""Migration 0010 shortens owner links' stored hashes to 16 raw bytes: a link sent
before the upgrade (its hash stored as 64 hex characters) still opens its complaint
after it, on both databases."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from complaintdesk.db.ids import new_id
from complaintdesk.db.migrate import upgrade
from complaintdesk.db.models import Complaint, OwnerLink
from complaintdesk.domain.taxonomy import Channel
from complaintdesk.services import owner_links
from tests.conftest import NOW, Databases, build_org


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_links_sent_before_the_upgrade_still_open_their_complaint(
    databases: Databases, backend: str
) -> None:
    engine = databases.new(backend, "0009")
    raw = secrets.token_urlsafe(16)
    sql = (
        "INSERT INTO owner_links (id, complaint_id, token_hash, created_at, expires_at) "
        "VALUES (1, 42, :h, :now, :until)"
    )
    values = {
        "h": hashlib.sha256(raw.encode()).hexdigest(),
        "now": NOW,
        "until": NOW + timedelta(days=365),
    }
    # The link's complaint is not needed to look it up: no foreign-key check here.
    expected_complaint = 42
    if backend == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(sql), values)
    else:
        # SQLite's rebuild of the table checks foreign keys: a real complaint, written
        # with 0009's columns only (today's model has columns 0009 does not: 0014).
        with Session(engine) as session:
            acme = build_org(session)
            complaint_id = new_id(NOW)
            session.execute(
                insert(Complaint.__table__).values(
                    id=complaint_id,
                    company_id=acme.company.id,
                    project_id=acme.project.id,
                    owner_id=acme.owner.id,
                    channel=Channel.PHONE.value,
                    text="电梯坏了",
                    received_at=NOW,
                    clock_started_at=NOW,
                    first_receiver_id=acme.agent.id,
                    status="received",
                    nature="help_seeking",
                    category="equipment",
                    urgency="normal",
                    department="engineering",
                    version=1,
                )
            )
            session.commit()
        database = engine.url.database
        assert database is not None
        with sqlite3.connect(database) as conn:
            conn.execute(
                sql.replace(":h", "?")
                .replace(":now", "?")
                .replace(":until", "?")
                .replace("42", str(complaint_id)),
                (values["h"], "2026-11-02 09:00:00.000000", "2027-11-02 09:00:00.000000"),
            )
        expected_complaint = complaint_id
    upgrade(engine)
    with Session(engine) as session:
        stored = session.get(OwnerLink, 1)
        assert stored is not None and stored.complaint_id == expected_complaint
        assert stored.token_hash == hashlib.sha256(raw.encode()).digest()[:16]
        found = session.scalar(
            select(OwnerLink).where(OwnerLink.token_hash == owner_links._hash(raw))
        )
        assert found is not None and found.id == 1
        assert (
            session.scalar(
                select(OwnerLink).where(OwnerLink.token_hash == owner_links._hash(raw + "x"))
            )
            is None
        )
    engine.dispose()
