"""Who may see what (404) and who may do what (403), for every resource."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from complaintdesk.services import org
from tests.conftest import Org
from tests.web.conftest import Api


def _complaint(api: Api, acme: Org) -> str:
    r = api.as_(acme.guard).post(
        "/api/v1/complaints",
        json={"project_id": acme.project.id, "owner_id": acme.owner.id, "text": "电梯坏了"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_no_token_or_a_bad_one_is_401(api: Api) -> None:
    r = api.client.get("/api/v1/complaints")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    r = api.client.get("/api/v1/complaints", headers={"Authorization": "Bearer cdk_nope"})
    assert r.status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/complaints/{id}",
        "/api/v1/complaints/{id}/events",
        "/api/v1/complaints/{id}/messages",
        "/api/v1/complaints/{id}/follow-ups",
        "/api/v1/complaints/{id}/visits",
    ],
)
def test_another_company_or_project_gets_404_on_reads(api: Api, acme: Org, path: str) -> None:
    cid = _complaint(api, acme)
    for stranger in (acme.outsider, acme.cleaner_other_project):
        r = api.as_(stranger).get(path.format(id=cid))
        assert r.status_code == 404, (stranger.username, r.text)
    assert api.as_(acme.agent).get(path.format(id=cid)).status_code == 200


@pytest.mark.parametrize(
    "action, body",
    [
        ("dispatch", {"department": "engineering"}),
        ("start", None),
        ("resolve", {"outcome": "fixed", "resolution": "x"}),
        ("visits", {"satisfaction": 5}),
        ("close", {}),
        ("withdraw", {"reason": "x"}),
        ("labels", {"urgency": "high"}),
        ("follow-ups", {"note": "x"}),
    ],
)
def test_another_company_gets_404_on_actions(
    api: Api, acme: Org, action: str, body: object
) -> None:
    cid = _complaint(api, acme)
    r = api.as_(acme.outsider).post(f"/api/v1/complaints/{cid}/{action}", json=body)
    assert r.status_code == 404
    r = api.as_(acme.cleaner_other_project).post(f"/api/v1/complaints/{cid}/{action}", json=body)
    assert r.status_code == 404


def test_lists_show_only_what_the_caller_may_see(api: Api, acme: Org) -> None:
    cid = _complaint(api, acme)
    assert [c["id"] for c in api.as_(acme.agent).get("/api/v1/complaints").json()["items"]] == [cid]
    assert api.as_(acme.outsider).get("/api/v1/complaints").json()["items"] == []
    assert api.as_(acme.cleaner_other_project).get("/api/v1/complaints").json()["items"] == []
    assert api.as_(acme.admin).get("/api/v1/complaints").json()["items"][0]["id"] == cid


def test_staff_may_see_but_not_do_what_is_not_theirs(api: Api, acme: Org) -> None:
    cid = _complaint(api, acme)
    agent = api.as_(acme.agent)
    assert (
        agent.post(
            f"/api/v1/complaints/{cid}/dispatch", json={"department": "engineering"}
        ).status_code
        == 200
    )
    # The guard received it but is not in engineering: he may not resolve it.
    r = api.as_(acme.guard).post(
        f"/api/v1/complaints/{cid}/resolve", json={"outcome": "fixed", "resolution": "x"}
    )
    assert r.status_code == 403
    assert r.json()["title"] == "Not allowed"
    # An engineer may not dispatch (he is neither coordinator nor first receiver).
    r = api.as_(acme.engineer).post(
        f"/api/v1/complaints/{cid}/dispatch", json={"department": "security"}
    )
    assert r.status_code == 403


def test_only_admins_make_projects(api: Api, acme: Org) -> None:
    body = {"code": "P9", "name": "新项目"}
    assert api.as_(acme.agent).post("/api/v1/projects", json=body).status_code == 403
    assert api.as_(acme.manager).post("/api/v1/projects", json=body).status_code == 403
    assert api.as_(acme.admin).post("/api/v1/projects", json=body).status_code == 201


def test_managers_manage_only_the_staff_below_them_on_their_projects(api: Api, acme: Org) -> None:
    def staff(role: str, projects: list[str]) -> dict[str, object]:
        return {
            "username": f"new.{role}.{len(projects)}",
            "name": "新员工",
            "department": "cleaning",
            "role": role,
            "project_ids": projects,
        }

    mine, theirs = str(acme.project.id), str(acme.other_project.id)
    manager = api.as_(acme.manager)
    assert api.as_(acme.guard).post("/api/v1/staff", json=staff("staff", [mine])).status_code == 403
    # No one grants more than they have.
    assert manager.post("/api/v1/staff", json=staff("admin", [mine])).status_code == 403
    assert manager.post("/api/v1/staff", json=staff("manager", [mine])).status_code == 403
    assert manager.post("/api/v1/staff", json=staff("staff", [theirs])).status_code == 403
    assert manager.post("/api/v1/staff", json=staff("staff", [])).status_code == 403
    r = manager.post("/api/v1/staff", json=staff("supervisor", [mine, mine]))
    assert r.status_code == 201 and r.json()["project_ids"] == [mine]
    new_id = r.json()["id"]
    # No one is issued a token on someone else's behalf: the old route is gone.
    assert manager.post(f"/api/v1/staff/{new_id}/tokens").status_code in (404, 405)
    token = manager.post("/api/v1/tokens", json={"name": "laptop"}).json()["token"]
    me = api.client.get("/api/v1/staff/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "manager"
    assert api.as_(acme.admin).post("/api/v1/staff", json=staff("admin", [])).status_code == 201


def test_staff_and_owners_of_other_projects_are_not_listed(api: Api, acme: Org) -> None:
    names = {s["username"] for s in api.as_(acme.cleaner_other_project).get("/api/v1/staff").json()}
    assert names == {"cleaner"}
    assert "cleaner" not in {s["username"] for s in api.as_(acme.agent).get("/api/v1/staff").json()}
    cleaner = api.as_(acme.cleaner_other_project)
    assert cleaner.get(f"/api/v1/owners/{acme.owner.id}").status_code == 404
    assert cleaner.get("/api/v1/owners", params={"phone": acme.owner.phone}).json() == []
    found = api.as_(acme.agent).get("/api/v1/owners", params={"phone": acme.owner.phone}).json()
    assert [o["id"] for o in found] == [str(acme.owner.id)]
    r = cleaner.post(
        "/api/v1/complaints",
        json={
            "project_id": str(acme.other_project.id),
            "owner_id": str(acme.owner.id),
            "text": "x",
        },
    )
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "owner_id"
    r = cleaner.post("/api/v1/owners", json={"name": "x", "unit_ids": [str(acme.unit.id)]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "unit_ids"


def test_an_owner_placed_in_no_unit_is_known_only_where_they_complained(
    api: Api, acme: Org, session: Session
) -> None:
    # Imported or made by an operator without a home: not the whole company's to see.
    loner = org.create_owner(session, acme.company, name="无房业主", phone="13900000077")
    session.commit()
    path = f"/api/v1/owners/{loner.id}"
    for who in (acme.agent, acme.guard, acme.cleaner_other_project, acme.manager):
        assert api.as_(who).get(path).status_code == 404, who.username
        found = api.as_(who).get("/api/v1/owners", params={"phone": "13900000077"}).json()
        assert found == [], who.username
    assert api.as_(acme.admin).get(path).status_code == 200
    # Once they complained in a project, that project's staff know of them; others not.
    r = api.as_(acme.admin).post(
        "/api/v1/complaints",
        json={"project_id": str(acme.project.id), "owner_id": str(loner.id), "text": "楼道灯坏了"},
    )
    assert r.status_code == 201, r.text
    assert api.as_(acme.agent).get(path).status_code == 200
    assert api.as_(acme.cleaner_other_project).get(path).status_code == 404
    # Staff register an owner in a unit of their projects, never nowhere.
    r = api.as_(acme.agent).post("/api/v1/owners", json={"name": "新业主"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "unit_ids"


def test_owners_and_projects_of_another_company_are_404(api: Api, acme: Org) -> None:
    assert api.as_(acme.outsider).get(f"/api/v1/owners/{acme.owner.id}").status_code == 404
    assert api.as_(acme.agent).get(f"/api/v1/owners/{acme.owner.id}").status_code == 200
    assert api.as_(acme.outsider).get(f"/api/v1/projects/{acme.project.id}").status_code == 404
    r = api.as_(acme.cleaner_other_project).get(f"/api/v1/projects/{acme.project.id}")
    assert r.status_code == 404
    r = api.as_(acme.outsider).post(
        "/api/v1/complaints",
        json={"project_id": acme.project.id, "caller_name": "x", "text": "电梯坏了"},
    )
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "project_id"


def test_taxonomy_lists_codes_in_both_languages(api: Api, acme: Org) -> None:
    t = api.as_(acme.guard).get("/api/v1/taxonomy").json()
    assert {"code": "emergency", "zh": "突发事件", "en": "Emergency"} in t["category"]
    assert [d["code"] for d in t["department"]] == [
        "engineering",
        "security",
        "cleaning",
        "landscaping",
        "customer_service",
        "finance",
    ]
    assert {"code": "closed", "zh": "已结案", "en": "Closed"} in t["status"]
