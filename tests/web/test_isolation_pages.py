"""Every route of the app (the API, the staff pages, the owner portal, the message
links, operations), walked from the app's own route table, so that a route added later
is walked without editing this test, by people who must not know of one owner's
complaint: another company's administrator and agent, another project's manager and
cleaner (page sessions and API tokens at once), and another owner of the same building
(a portal session, and the link of their own complaint). Then by a guard of the
owner's own project, who may see the complaint but is below what administration needs.

For each route the victim's ids (complaint, owner, project, building, staff, token,
photo) are put in the path, and the same route is called again with ids that do not
exist: the two answers must be the same (nothing tells the caller that the real ones
exist: 404, or the sign-in or role refusal that every id gets), no answer may hold the
victim's words, contacts, names or ids (but those the caller sent), and nothing of the
victim's may have changed afterwards. 0 leaks, 0 server errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaintdesk.db.models import ApiToken, Complaint, Owner, Staff
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.services import accounts, follow_up, org
from complaintdesk.services.common import get_complaint
from tests.conftest import NOW, Org
from tests.web.conftest import Api, Browser, app_routes
from tests.web.test_portal_pages import PNG, _bob, _latest, _owner_browser

Pages = Callable[..., Browser]
LINK = re.compile(r"/l/([A-Za-z0-9_-]{16,})")
VICTIM_PARAMS = {
    "complaint_id",
    "owner_id",
    "project_id",
    "building_id",
    "staff_id",
    "token_id",
    "photo_id",
}
NOWHERE = "9000000000000000001"  # an id of no row
NO_LINK = "nolinknolinknolinknolink"
SIGN_OUTS = {"/signout", "/portal/signout"}  # walked last: they end the caller's session
SIGN_IN_PAGES = ("/signin", "/portal/signin")


class Victim:
    """Alice's complaint, made on the portal with a photo, with a staff note."""

    def __init__(self, pages: Pages, api: Api, session: Session, acme: Org) -> None:
        # Not the number the intake page gives as an example (13800000001).
        acme.owner.phone = "13977770001"
        session.commit()
        alice = _owner_browser(pages, session, acme.owner.phone)
        r = alice.client.post(
            "/portal/new",
            data={
                "unit_id": str(acme.unit.id),
                "text": "zz-secret-words 楼上漏水到我家",
                "csrf_token": alice.csrf("/portal/new"),
            },
            files={"photo": ("leak.png", PNG, "image/png")},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        self.complaint_id = r.headers["location"].rsplit("/", 1)[1]
        page = alice.client.get(r.headers["location"]).text
        photo = re.search(r'src="/portal/c/\d+/photos/(\d+)"', page)
        assert photo is not None
        self.photo_id = photo.group(1)
        complaint = get_complaint(session, acme.agent, int(self.complaint_id))
        follow_up.add_follow_up(
            session, acme.agent, complaint, NOW, note="zz-secret-note 已联系维修"
        )
        session.commit()
        self.token_id = api.as_(acme.agent).post("/api/v1/tokens", json={"name": "zz"}).json()["id"]
        self.building_id = str(acme.unit.building_id)
        self.ids = {
            "complaint_id": self.complaint_id,
            "owner_id": str(acme.owner.id),
            "project_id": str(acme.project.id),
            "building_id": self.building_id,
            "staff_id": str(acme.agent.id),
            "token_id": self.token_id,
            "photo_id": self.photo_id,
        }
        phone = acme.owner.phone
        self.contacts = [phone, phone[:3] + "****" + phone[-4:]]
        self.words = ["zz-secret-words", "zz-secret-note", acme.owner.name]
        self.all_ids = [
            *self.ids.values(),
            str(acme.unit.id),
        ]


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], template)


def _call(
    browser: Browser,
    csrf: str,
    token: str | None,
    method: str,
    template: str,
    values: dict[str, str],
    victim_ids: dict[str, str],
    acme: Org,
) -> tuple[str, httpx.Response]:
    url = _fill(template, values)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    api = template.startswith("/api/")
    params: dict[str, str] | None = None
    if method == "GET":
        if template == "/api/v1/owners":
            params = {"phone": acme.owner.phone or ""}
        elif template == "/api/v1/complaints":
            params = {"owner_id": victim_ids["owner_id"]}
        elif "q" in _query_names(browser.app).get(template, set()):
            params = {"q": acme.owner.phone or ""}
    body: dict[str, Any] = {
        "project_id": victim_ids["project_id"],
        "owner_id": victim_ids["owner_id"],
        "text": "x",
    }
    if method in ("POST", "PUT", "PATCH") and api:
        r = browser.client.request(
            method, url, headers=headers, json={**body, "unit_ids": [str(acme.unit.id)]}
        )
    elif method in ("POST", "PUT", "PATCH"):
        form = {**body, "who": f"{victim_ids['owner_id']}:{acme.unit.id}", "csrf_token": csrf}
        r = browser.client.request(method, url, headers=headers, data=form, follow_redirects=False)
    else:
        r = browser.client.request(
            method, url, headers=headers, params=params, follow_redirects=False
        )
    return url, r


def _queries(dependant: Any) -> set[str]:
    names = {p.name for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _queries(sub)
    return names


def _query_names(app: Any, prefix: str = "") -> dict[str, set[str]]:
    """The query parameters each route reads, by full path (included routers too)."""
    found: dict[str, set[str]] = {}
    for route in app.routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            inner = prefix + getattr(getattr(route, "include_context", None), "prefix", "")
            found.update(_query_names(original, inner))
        elif getattr(route, "dependant", None) is not None:
            found.setdefault(prefix + route.path, set()).update(_queries(route.dependant))
    return found


def _routes(browser: Browser) -> list[tuple[str, str]]:
    routes = [
        (method, route.path)
        for route in app_routes(browser.app)
        for method in sorted(route.methods - {"HEAD"})
        if not route.path.startswith("/static")
    ]
    return sorted(routes, key=lambda mr: (mr[1] in SIGN_OUTS, mr[1], mr[0]))


def _walk(
    browser: Browser,
    csrf: str,
    token: str | None,
    own: dict[str, str],
    victim: Victim,
    acme: Org,
    secrets: list[str],
    who: str,
) -> int:
    walked = 0
    for method, template in _routes(browser):
        params = set(re.findall(r"\{(\w+)", template))
        unknown = params - VICTIM_PARAMS - set(own)
        assert not unknown, f"no value for {unknown} in {template}: add one to this test"
        real = {**own, **{p: victim.ids[p] for p in params & VICTIM_PARAMS}}
        fake = {**own, **{p: NOWHERE for p in params & VICTIM_PARAMS}}
        fake_ids = {k: NOWHERE for k in victim.ids}
        _, r_fake = _call(browser, csrf, token, method, template, fake, fake_ids, acme)
        url, r = _call(browser, csrf, token, method, template, real, victim.ids, acme)
        where = (who, method, url, r.status_code)
        assert r.status_code < 500 and r_fake.status_code < 500, (where, r.text[:300])
        if params & VICTIM_PARAMS:
            # Nothing tells the caller that the real ids exist.
            assert r.status_code == r_fake.status_code, (where, r_fake.status_code, r.text[:300])
            assert r.status_code in (303, 401, 403, 404), (where, r.text[:300])
            if r.status_code == 303:
                assert r.headers["location"].startswith(SIGN_IN_PAGES), where
        sent = url + str(r.request.content) + str(r.request.url.query)
        leaked = [s for s in secrets if s and s in r.text and s not in sent]
        assert not leaked, (where, leaked, r.text[:2000])
        walked += 1
    return walked


def _snapshot(session: Session, acme: Org, victim: Victim, *, complaints: bool = True) -> Any:
    session.expire_all()
    complaint = session.get(Complaint, int(victim.complaint_id))
    owner = session.get(Owner, acme.owner.id)
    agent = session.get(Staff, acme.agent.id)
    token = session.get(ApiToken, int(victim.token_id))
    assert complaint and owner and agent and token
    count = session.scalar(
        select(func.count()).select_from(Complaint).where(Complaint.project_id == acme.project.id)
    )
    admin = (owner.name, owner.phone, agent.active, agent.role, token.revoked_at)
    if not complaints:
        return admin
    return (
        *admin,
        complaint.status,
        complaint.urgency,
        complaint.assignee_id,
        count,
    )


def test_every_route_with_strangers_sessions_and_tokens_leaks_nothing(
    pages: Pages, api: Api, session: Session, acme: Org
) -> None:
    victim = Victim(pages, api, session, acme)
    other_admin = org.create_staff(
        session,
        acme.other_company,
        username="other-admin",
        name="other-admin",
        department=StaffDepartment.MANAGEMENT,
        role=Role.ADMIN,
    )
    other_manager = org.create_staff(
        session,
        acme.company,
        username="p2-manager",
        name="p2-manager",
        department=StaffDepartment.MANAGEMENT,
        role=Role.MANAGER,
        project_ids=[acme.other_project.id],
    )
    for person in (other_admin, other_manager):
        person.password_hash = acme.guard.password_hash
    bob = _bob(session, acme)
    session.commit()
    tokens = {
        s.id: accounts.issue_token(session, s, NOW)
        for s in (other_admin, other_manager, acme.outsider, acme.cleaner_other_project)
    }
    session.commit()

    # Bob, another owner of the same building, with his own complaint and its link.
    assert bob.phone is not None
    bobs = _owner_browser(pages, session, bob.phone)
    r = bobs.client.post(
        "/portal/new",
        data={"unit_id": str(acme.unit.id), "text": "门禁坏了", "csrf_token": bobs.csrf("/portal")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    link = LINK.search(_latest(session, recipient=bob.phone).body)
    assert link is not None
    before = _snapshot(session, acme, victim)

    owner_secrets = [*victim.words, *victim.contacts, victim.complaint_id, victim.photo_id]
    staff_secrets = [*owner_secrets, *victim.all_ids, acme.project.name]
    walked = 0
    for person in (other_admin, acme.outsider, other_manager, acme.cleaner_other_project):
        browser = pages(person)
        secrets = staff_secrets + (
            [acme.company.name] if person.company_id != acme.company.id else []
        )
        own = {"token": NO_LINK, "code": "en"}
        walked += _walk(
            browser,
            browser.csrf("/work"),
            tokens[person.id],
            own,
            victim,
            acme,
            secrets,
            person.username,
        )
    walked += _walk(
        bobs,
        bobs.csrf("/portal"),
        None,
        {"token": link.group(1), "code": "en"},
        victim,
        acme,
        owner_secrets,
        "bob",
    )
    routes = len(_routes(bobs))
    assert routes >= 90 and walked == 5 * routes
    assert _snapshot(session, acme, victim) == before


def test_every_route_with_a_lower_role_shows_no_full_contact_and_no_administration(
    pages: Pages, api: Api, session: Session, acme: Org
) -> None:
    """A guard of the owner's own project may see the complaint, but not the owner's
    full phone number, the administration, the audit trail, nor a colleague's tokens."""
    victim = Victim(pages, api, session, acme)
    # The guard may act on the complaint (it is their project): only what is above them
    # (the owner's record, a colleague's account and tokens) must not change.
    before = _snapshot(session, acme, victim, complaints=False)
    guard = pages(acme.guard)
    csrf = guard.csrf("/work")
    token = api.tokens[acme.guard.id]
    assert acme.owner.phone is not None
    walked = 0
    for method, template in _routes(guard):
        url, r = _call(
            guard,
            csrf,
            token,
            method,
            template,
            {**victim.ids, "token": NO_LINK, "code": "en"},
            victim.ids,
            acme,
        )
        where = ("guard", method, url, r.status_code)
        assert r.status_code < 500, (where, r.text[:300])
        sent = url + str(r.request.content) + str(r.request.url.query)
        assert acme.owner.phone not in r.text or acme.owner.phone in sent, where
        if template.startswith("/admin") or template.startswith("/api/v1/audit"):
            assert r.status_code in (403, 404), (where, r.text[:300])
        walked += 1
    assert walked == len(_routes(guard))
    r = guard.client.get(
        "/api/v1/tokens",
        params={"staff_id": str(acme.agent.id)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 404 and victim.token_id not in r.text
    assert _snapshot(session, acme, victim, complaints=False) == before
