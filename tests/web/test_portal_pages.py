"""The owner portal, the link in every message, the dashboard and the administration
pages, through HTTP on both databases."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaintdesk.db.models import Complaint, Outbox, Owner, Project
from complaintdesk.domain.taxonomy import Department
from complaintdesk.services import dispatch, org, owner_links, resolve
from tests.conftest import Org
from tests.web.conftest import Api, Browser, Clock

Pages = Callable[..., Browser]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
LINK = re.compile(r"/l/([A-Za-z0-9_-]{16,})")


def _register(api: Api, acme: Org, owner: Owner, text: str = "8号楼电梯坏了两天了") -> Complaint:
    r = api.as_(acme.agent).post(
        "/api/v1/complaints",
        json={"project_id": acme.project.id, "owner_id": owner.id, "text": text},
    )
    assert r.status_code == 201, r.text
    return Complaint(id=int(r.json()["id"]))


def _latest(session: Session, **where: object) -> Outbox:
    session.expire_all()
    query = select(Outbox).order_by(Outbox.id.desc())
    for name, value in where.items():
        query = query.where(getattr(Outbox, name) == value)
    message = session.scalars(query).first()
    assert message is not None, where
    return message


def _owner_browser(pages: Pages, session: Session, phone: str) -> Browser:
    browser = pages(None)
    token = browser.csrf("/portal/signin")
    r = browser.client.post("/portal/signin/code", data={"phone": phone, "csrf_token": token})
    assert r.status_code == 200 and 'data-test="code-sent"' in r.text
    code = re.search(r"\d{6}", _latest(session, recipient=phone, kind="sign_in_code").body)
    assert code is not None
    r = browser.client.post(
        "/portal/signin",
        data={"phone": phone, "code": code.group(0), "csrf_token": token},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/portal"), r.text
    return browser


def _bob(session: Session, acme: Org) -> Owner:
    bob = org.create_owner(
        session, acme.company, name="Bob", phone="13900000002", unit_ids=[acme.unit.id]
    )
    session.commit()
    return bob


def test_owner_signs_in_with_a_code_and_reaches_only_their_own(
    pages: Pages, api: Api, session: Session, acme: Org
) -> None:
    bob = _bob(session, acme)
    mine = _register(api, acme, acme.owner)
    assert acme.owner.phone is not None and bob.phone is not None
    bobs = _owner_browser(pages, session, bob.phone)
    r = bobs.client.post(
        "/portal/new",
        data={
            "unit_id": str(acme.unit.id),
            "text": "楼上漏水到我家",
            "csrf_token": bobs.csrf("/portal/new"),
        },
        files={"photo": ("leak.png", PNG, "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    theirs = r.headers["location"]
    page = bobs.client.get(theirs)
    photo = re.search(r'src="(/portal/c/\d+/photos/\d+)"', page.text)
    assert photo is not None
    photo_path = photo.group(1)
    got = bobs.client.get(photo_path)
    assert got.content == PNG and got.headers["x-content-type-options"] == "nosniff"

    alice = _owner_browser(pages, session, acme.owner.phone)
    home = alice.client.get("/portal")
    assert f"/portal/c/{mine.id}" in home.text and theirs not in home.text
    assert alice.client.get(f"/portal/c/{mine.id}").status_code == 200
    assert alice.client.get(theirs).status_code == 404
    assert alice.client.get(photo_path).status_code == 404
    assert (
        alice.client.post(
            theirs + "/rate", data={"satisfaction": "1", "csrf_token": alice.csrf("/portal")}
        ).status_code
        == 404
    )
    # Nobody signed in: sent to the owner sign-in.
    r = pages(None).client.get(theirs, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/portal/signin")


def test_a_wrong_code_is_refused_and_guessing_is_rate_limited(
    pages: Pages, session: Session, acme: Org
) -> None:
    assert acme.owner.phone is not None
    browser = pages(None)
    token = browser.csrf("/portal/signin")
    browser.client.post(
        "/portal/signin/code", data={"phone": acme.owner.phone, "csrf_token": token}
    )
    statuses = [
        browser.client.post(
            "/portal/signin",
            data={"phone": acme.owner.phone, "code": "999999x", "csrf_token": token},
        ).status_code
        for _ in range(12)
    ]
    assert statuses[0] == 401 and statuses[-1] == 429
    # A form without its CSRF token is refused.
    r = pages(None).client.post("/portal/signin/code", data={"phone": acme.owner.phone})
    assert r.status_code == 403


def test_the_link_opens_its_complaint_rates_the_visit_and_stops_when_revoked(
    pages: Pages, api: Api, session: Session, acme: Org, clock: Clock
) -> None:
    made = _register(api, acme, acme.owner)
    complaint = session.get(Complaint, made.id)
    assert complaint is not None
    now = clock.advance(minutes=5)
    dispatch.dispatch(session, acme.agent, complaint, now, department=Department.ENGINEERING)
    resolve.resolve(
        session, acme.engineer, complaint, now, outcome=resolve.Outcome.FIXED, resolution="修好了"
    )
    session.commit()
    found = LINK.search(_latest(session, complaint_id=made.id, kind="resolved").body)
    assert found is not None
    link = f"/l/{found.group(1)}"
    browser = pages(None)  # no account
    page = browser.client.get(link)
    assert page.status_code == 200 and "8号楼电梯坏了两天了" in page.text
    assert 'data-test="rate"' in page.text
    r = browser.client.post(
        link + "/rate",
        data={"satisfaction": "2", "comment": "还是响", "csrf_token": browser.csrf(link)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    session.expire_all()
    complaint = session.get(Complaint, made.id)
    assert complaint is not None and complaint.status == "dispatched"
    assert complaint.reopen_count == 1
    owner_links.revoke(session, acme.agent, complaint, clock.now)
    session.commit()
    assert browser.client.get(link).status_code == 404
    assert pages(None).client.get("/l/not-a-real-token-at-all").status_code == 404


def test_a_photo_is_checked_by_its_bytes(pages: Pages, session: Session, acme: Org) -> None:
    assert acme.owner.phone is not None
    browser = _owner_browser(pages, session, acme.owner.phone)
    r = browser.client.post(
        "/portal/new",
        data={
            "unit_id": str(acme.unit.id),
            "text": "墙裂了",
            "csrf_token": browser.csrf("/portal/new"),
        },
        files={"photo": ("fake.png", b"<html>not an image</html>", "image/png")},
    )
    assert r.status_code == 422 and 'data-test="photo-error"' in r.text
    session.expire_all()
    assert session.scalars(select(Complaint).where(Complaint.text == "墙裂了")).first() is None


def test_supervisors_read_the_dashboard_staff_do_not(pages: Pages, api: Api, acme: Org) -> None:
    _register(api, acme, acme.owner)
    r = pages(acme.eng_supervisor).client.get("/dashboard")
    assert r.status_code == 200
    assert 'id="dashboard-data"' in r.text and "响应率" in r.text
    english = pages(acme.manager)
    english.client.cookies.set("cd_lang", "en")
    r = english.client.get(f"/dashboard?project={acme.project.id}&start=2026-10-01&end=2026-11-30")
    assert r.status_code == 200 and "Response rate" in r.text
    assert "0 / 1" in r.text  # received, not yet responded to
    r = english.client.get("/dashboard?start=2020-01-01&end=2026-11-30")
    assert r.status_code == 200 and 'class="error"' in r.text  # over a year: said, not a 500
    assert pages(acme.guard).client.get("/dashboard").status_code == 403


def test_administration_goes_through_the_organisation_service(
    pages: Pages, session: Session, acme: Org
) -> None:
    manager = pages(acme.manager)
    path = f"/admin/projects/{acme.project.id}"
    r = manager.post_form(
        path,
        {"name": "翠湖花园", "city": "深圳", "timezone": "Nowhere/City", "sla_high_response": "60"},
    )
    assert r.status_code == 422 and 'data-test="error-timezone"' in r.text
    r = manager.post_form(
        path,
        {"name": "翠湖花园", "city": "深圳", "timezone": "Asia/Urumqi", "sla_high_response": "60"},
    )
    assert r.status_code == 303
    session.expire_all()
    project = session.get(Project, acme.project.id)
    assert project is not None and project.timezone == "Asia/Urumqi"
    assert project.sla_overrides == {"high": {"response": 60.0}}
    # A manager manages the staff below them on their own projects only.
    r = manager.post_form(
        "/admin/staff",
        {
            "username": "new-sup",
            "name": "新主管",
            "department": "engineering",
            "role": "manager",
            "project_ids": str(acme.project.id),
        },
    )
    assert r.status_code == 422
    r = manager.post_form(
        "/admin/staff",
        {
            "username": "new-eng",
            "name": "新工程师",
            "department": "engineering",
            "role": "staff",
            "project_ids": str(acme.project.id),
        },
    )
    assert r.status_code == 303
    assert manager.client.get(f"/admin/projects/{acme.other_project.id}").status_code == 404
    assert manager.client.get("/admin/companies/new").status_code == 403
    assert pages(acme.guard).client.get("/admin").status_code == 403
    admin = pages(acme.admin)
    r = admin.post_form(
        "/admin/companies",
        {
            "code": "third-co",
            "name": "第三物业",
            "admin_username": "third-admin",
            "admin_name": "管理员",
            "admin_password": "a long enough password",
        },
        token_from="/admin/companies/new",
    )
    assert r.status_code == 200 and 'data-test="company-created"' in r.text
    assert org.find_staff(session, "third-admin", "third-co")


def test_staff_see_the_photo_an_owner_attached(
    pages: Pages, api: Api, session: Session, acme: Org
) -> None:
    assert acme.owner.phone is not None
    owner = _owner_browser(pages, session, acme.owner.phone)
    r = owner.client.post(
        "/portal/new",
        data={
            "unit_id": str(acme.unit.id),
            "text": "天花板渗水",
            "csrf_token": owner.csrf("/portal/new"),
        },
        files={"photo": ("ceiling.png", PNG, "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    complaint_id = int(r.headers["location"].rstrip("/").split("/")[-1])
    other = _register(api, acme, acme.owner, "门口灯不亮")

    page = pages(acme.agent).client.get(f"/complaints/{complaint_id}")
    assert page.status_code == 200
    found = re.search(rf'src="(/complaints/{complaint_id}/photos/(\d+))"', page.text)
    assert found is not None and 'data-test="photo"' in page.text
    got = pages(acme.agent).client.get(found.group(1))
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    # not through another complaint's address, nor for staff who may not see the complaint
    photo_id = found.group(2)
    assert (
        pages(acme.agent).client.get(f"/complaints/{other.id}/photos/{photo_id}").status_code == 404
    )
    assert pages(acme.outsider).client.get(found.group(1)).status_code == 404
    assert pages(acme.cleaner_other_project).client.get(found.group(1)).status_code == 404
    # a complaint without photos shows none
    assert 'data-test="photo"' not in pages(acme.agent).client.get(f"/complaints/{other.id}").text
