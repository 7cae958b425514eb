"""Every API route, walked from the app's route table (through its OpenAPI document:
a new route is covered without editing this test), called by someone who must not
know of the company's data: another company's agent, a cleaner of another project.
0 leaks; 404 for every resource named in the path."""

from __future__ import annotations

import re

from tests.conftest import Org
from tests.web.conftest import Api


def _routes(api: Api) -> list[tuple[str, str]]:
    """Every operation the app declares (its OpenAPI document is built from its route
    table, included routers and all)."""
    paths = api.client.get("/api/v1/openapi.json").json()["paths"]
    return [(m.upper(), path) for path, ops in paths.items() for m in ops]


def test_no_route_leaks_across_companies_or_projects(api: Api, acme: Org) -> None:
    agent = api.as_(acme.agent)
    r = agent.post(
        "/api/v1/complaints",
        json={
            "project_id": str(acme.project.id),
            "owner_id": str(acme.owner.id),
            "text": "秘密的投诉内容 zz-secret-words",
        },
    )
    cid = r.json()["id"]
    agent.post(f"/api/v1/complaints/{cid}/follow-ups", json={"note": "zz-secret-note"})
    token_id = agent.post("/api/v1/tokens", json={"name": "zz"}).json()["id"]
    ids = {
        "complaint_id": cid,
        "owner_id": str(acme.owner.id),
        "project_id": str(acme.project.id),
        "staff_id": str(acme.agent.id),
        "token_id": token_id,
    }
    secrets = [
        "zz-secret-words",
        "zz-secret-note",
        acme.owner.phone or "",
        acme.owner.name,
        cid,
        str(acme.owner.id),
        str(acme.project.id),
        str(acme.agent.id),
    ]
    routes = _routes(api)
    assert len(routes) >= 25
    walked = 0
    for stranger in (acme.outsider, acme.cleaner_other_project):
        caller = api.as_(stranger)
        for method, template in routes:
            params = re.findall(r"{(\w+)}", template)
            unknown = [p for p in params if p not in ids]
            assert not unknown, f"no id for {unknown} in {template}: add one above"
            url = template.format(**ids)
            r = caller.client.request(
                method,
                url,
                headers=caller._h(None),
                json={} if method in ("POST", "PUT", "PATCH") else None,
                params={"phone": acme.owner.phone} if template == "/api/v1/owners" else None,
            )
            where = (stranger.username, method, url, r.status_code)
            assert r.status_code < 500, where
            if params:
                assert r.status_code == 404, (where, r.text)
            body = r.text
            # Echoing the id the caller sent ("complaint 123 not found") tells nothing.
            leaked = [s for s in secrets if s and s in body and s not in url]
            assert not leaked, (where, leaked)
            walked += 1
    assert walked == 2 * len(routes)


def test_a_lower_role_is_refused_what_is_above_it(api: Api, acme: Org) -> None:
    guard = api.as_(acme.guard)
    assert guard.get("/api/v1/audit").status_code == 403
    assert guard.post("/api/v1/projects", json={"code": "PX", "name": "x"}).status_code == 403
    assert guard.post(f"/api/v1/staff/{acme.agent.id}/deactivate").status_code == 403
    assert guard.get(f"/api/v1/tokens?staff_id={acme.agent.id}").status_code == 404
