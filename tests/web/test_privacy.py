"""Owners' phone numbers and e-mail addresses: in full only to those who call owners
back, each full read on record; masked for everyone else and in the logs."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from complaintdesk.db.models import AuditEntry, Owner
from complaintdesk.domain import privacy
from complaintdesk.domain.audit import AuditKind
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.services.delivery import LogChannel, OutgoingMessage
from tests.conftest import Org
from tests.web.conftest import Api


def test_masks() -> None:
    assert privacy.mask_phone("13911111111") == "139****1111"
    assert privacy.mask_email("wang.li@example.com") == "w***@example.com"
    line = "GET /api/v1/owners?phone=13800000001 by a@b.cn complaint 912773159000592384"
    assert privacy.mask_text(line) == (
        "GET /api/v1/owners?phone=138****0001 by a***@b.cn complaint 912773159000592384"
    )
    assert privacy.sees_contact(Role.STAFF, StaffDepartment.CUSTOMER_SERVICE)
    assert not privacy.sees_contact(Role.STAFF, StaffDepartment.SECURITY)
    assert not privacy.sees_contact(Role.ADMIN, StaffDepartment.MANAGEMENT)


def _reads(session: Session, owner_id: int) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry).where(
                AuditEntry.kind == AuditKind.PERSONAL_DATA_READ, AuditEntry.subject_id == owner_id
            )
        )
    )


@pytest.mark.parametrize("who", ["guard", "engineer", "eng_supervisor", "admin"])
def test_roles_that_do_not_call_back_see_contacts_masked_and_nothing_is_recorded(
    api: Api, acme: Org, session: Session, who: str
) -> None:
    r = api.as_(getattr(acme, who)).get(f"/api/v1/owners/{acme.owner.id}")
    assert r.status_code == 200
    assert r.json()["phone"] == "138****0001" and r.json()["contact_masked"] is True
    found = api.as_(getattr(acme, who)).get("/api/v1/owners", params={"phone": "13800000001"})
    assert [o["phone"] for o in found.json()] == ["138****0001"]
    assert _reads(session, acme.owner.id) == []


def test_those_who_call_back_see_them_in_full_and_each_read_is_recorded(
    api: Api, acme: Org, session: Session
) -> None:
    r = api.as_(acme.agent).get(f"/api/v1/owners/{acme.owner.id}")
    assert r.json()["phone"] == "13800000001" and r.json()["contact_masked"] is False
    api.as_(acme.manager).get("/api/v1/owners", params={"phone": "13800000001"})
    reads = _reads(session, acme.owner.id)
    assert sorted(e.actor_id for e in reads) == sorted([acme.agent.id, acme.manager.id])
    assert all(e.data == {"fields": ["phone"]} for e in reads)
    assert all(e.address for e in reads)  # the client's address, from the request
    listed = api.as_(acme.admin).get("/api/v1/audit", params={"kind": "personal_data_read"})
    assert len(listed.json()["items"]) == 2


def test_message_recipients_are_masked_for_others(api: Api, acme: Org) -> None:
    r = api.as_(acme.guard).post(
        "/api/v1/complaints",
        json={"project_id": str(acme.project.id), "owner_id": str(acme.owner.id), "text": "漏水"},
    )
    cid = r.json()["id"]
    guard = api.as_(acme.guard).get(f"/api/v1/complaints/{cid}/messages").json()
    agent = api.as_(acme.agent).get(f"/api/v1/complaints/{cid}/messages").json()
    assert guard and {m["recipient"] for m in guard} == {"138****0001"}
    assert {m["recipient"] for m in agent} == {"13800000001"}


def test_the_delivery_log_masks_contacts(caplog: pytest.LogCaptureFixture) -> None:
    message = OutgoingMessage(
        id=1,
        dedupe_key="k1",
        channel="sms",
        recipient="13800000001",
        language="zh",
        subject="已受理",
        body="请回电 13912345678 或写信 wang@example.com",
    )
    with caplog.at_level(logging.INFO):
        LogChannel().send(message)
    text = caplog.text
    assert "13800000001" not in text and "138****0001" in text
    assert "13912345678" not in text and "wang@example.com" not in text


def test_pages_mask_owner_phones_for_roles_that_do_not_call_back(pages, acme: Org) -> None:  # type: ignore[no-untyped-def]
    guard, agent = pages(acme.guard), pages(acme.agent)
    found = guard.client.get("/intake/owners", params={"q": "13800000001"}).text
    assert "138****0001" in found and "13800000001" not in found
    assert "13800000001" in agent.client.get("/intake/owners", params={"q": "13800000001"}).text


def test_sign_ins_are_on_record(pages, acme: Org, session: Session) -> None:  # type: ignore[no-untyped-def]
    pages(None).sign_in(acme.agent.username, "wrong password")
    pages(acme.agent)
    session.expire_all()
    kinds = session.scalars(
        select(AuditEntry.kind).where(AuditEntry.subject_id == acme.agent.id)
    ).all()
    assert AuditKind.SIGN_IN_FAILED in kinds and AuditKind.SIGN_IN in kinds


def test_admin_owner_pages_mask_phones_for_administrators_and_audit_managers(  # type: ignore[no-untyped-def]
    pages, acme: Org, session: Session
) -> None:
    admin = pages(acme.admin)
    listed = admin.client.get("/admin/owners").text
    one = admin.client.get(f"/admin/owners/{acme.owner.id}").text
    for html in (listed, one):
        assert "138****0001" in html and "13800000001" not in html
    assert 'data-test="contact-masked"' in one
    assert _reads(session, acme.owner.id) == []
    # Saving the form with the masked fields left empty keeps the number on record.
    r = admin.post_form(
        f"/admin/owners/{acme.owner.id}",
        {"name": "王女士", "phone": "", "email": "", "language": "zh", "contact_channel": "sms"},
    )
    assert r.status_code == 303, r.text
    session.expire_all()
    assert session.get(Owner, acme.owner.id).phone == "13800000001"  # type: ignore[union-attr]

    manager = pages(acme.manager)
    assert "13800000001" in manager.client.get("/admin/owners").text
    assert "13800000001" in manager.client.get(f"/admin/owners/{acme.owner.id}").text
    reads = _reads(session, acme.owner.id)
    assert [e.actor_id for e in reads] == [acme.manager.id, acme.manager.id]


def test_sign_outs_are_on_record(pages, acme: Org, session: Session) -> None:  # type: ignore[no-untyped-def]
    agent = pages(acme.agent)
    r = agent.post_form("/signout", {})
    assert r.status_code == 303
    assert agent.client.get("/work", follow_redirects=False).status_code == 303
    session.expire_all()
    outs = session.scalars(
        select(AuditEntry).where(
            AuditEntry.kind == AuditKind.SIGN_OUT, AuditEntry.subject_id == acme.agent.id
        )
    ).all()
    assert [e.actor_id for e in outs] == [acme.agent.id]


def test_owner_portal_sign_ins_and_outs_are_on_record(  # type: ignore[no-untyped-def]
    pages, acme: Org, session: Session
) -> None:
    from tests.web.test_portal_pages import _owner_browser

    browser = _owner_browser(pages, session, "13800000001")
    r = browser.client.post(
        "/portal/signout", data={"csrf_token": browser.csrf("/portal")}, follow_redirects=False
    )
    assert r.status_code == 303
    session.expire_all()
    kinds = session.scalars(
        select(AuditEntry.kind)
        .where(AuditEntry.subject_id == acme.owner.id, AuditEntry.subject_type == "owner")
        .order_by(AuditEntry.id)
    ).all()
    assert kinds == [AuditKind.SIGN_IN, AuditKind.SIGN_OUT]
