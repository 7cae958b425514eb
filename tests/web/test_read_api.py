"""The read side of the API: unknown query parameters are refused; the queue pages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import Org
from tests.web.conftest import Api, Clock


def _post(api: Api, acme: Org, text: str) -> str:
    r = api.as_(acme.guard).post(
        "/api/v1/complaints",
        json={"project_id": str(acme.project.id), "owner_id": str(acme.owner.id), "text": text},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.mark.parametrize(
    "path, unknown",
    [
        ("/api/v1/complaints?stauts=closed", "stauts"),
        ("/api/v1/complaints?status=closed&q2=x", "q2"),
        ("/api/v1/complaints/queue?page=2", "page"),
        ("/api/v1/taxonomy?lang=en", "lang"),
        ("/api/v1/projects?limit=5", "limit"),
        ("/api/v1/staff/me?verbose=1", "verbose"),
    ],
)
def test_unknown_query_parameters_are_422_naming_them(
    api: Api, acme: Org, path: str, unknown: str
) -> None:
    r = api.as_(acme.agent).get(path)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [unknown]
    assert unknown in r.json()["detail"]


def test_unknown_parameters_are_refused_on_paths_and_posts_too(api: Api, acme: Org) -> None:
    cid = _post(api, acme, "楼道灯坏了")
    agent = api.as_(acme.agent)
    r = agent.get(f"/api/v1/complaints/{cid}/events?order=desc")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "order"
    r = agent.get(f"/api/v1/owners/{acme.owner.id}/complaints?limit=3")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
    r = agent.post(f"/api/v1/complaints/{cid}/start?force=true")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "force"
    # Declared parameters still pass, and nothing is refused without a query.
    assert agent.get(f"/api/v1/owners/{acme.owner.id}/complaints?cursor={cid}").status_code == 200
    assert agent.get("/api/v1/complaints?status=received&limit=5").status_code == 200


def test_every_route_of_the_api_refuses_an_unknown_parameter(api: Api, acme: Org) -> None:
    """Read from the OpenAPI document: a route added later is covered without a word."""
    cid = _post(api, acme, "楼道灯坏了")
    ids = {
        "complaint_id": cid,
        "owner_id": str(acme.owner.id),
        "project_id": str(acme.project.id),
        "staff_id": str(acme.agent.id),
        "token_id": "1",
    }
    admin = api.as_(acme.admin)
    paths = api.client.get("/api/v1/openapi.json").json()["paths"]
    checked = 0
    for template, operations in paths.items():
        url = template.format(**ids)
        for method in operations:
            r = admin.client.request(
                method.upper(), url + "?zz_unknown=1", headers=admin._h(None), json={}
            )
            assert r.status_code == 422, (method, url, r.text)
            assert "zz_unknown" in [e["field"] for e in r.json()["errors"]], (method, url)
            checked += 1
    assert checked >= 20


def test_the_queue_pages_by_cursor_in_due_order(api: Api, acme: Org, clock: Clock) -> None:
    ids = []
    for n in range(7):
        ids.append(_post(api, acme, f"楼道灯坏了 {n}"))
        clock.advance(minutes=5)
    # A follow-up date puts one complaint ahead of every deadline.
    r = api.as_(acme.guard).post(
        f"/api/v1/complaints/{ids[5]}/follow-ups",
        json={
            "note": "明早再打电话",
            "next_follow_up_at": (clock.now + timedelta(minutes=1)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    guard = api.as_(acme.guard)
    whole = guard.get("/api/v1/complaints/queue").json()
    assert whole["next_cursor"] is None
    expected = [c["id"] for c in whole["items"]]
    assert sorted(expected) == sorted(ids) and expected[0] == ids[5]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = guard.get("/api/v1/complaints/queue", params=params).json()
        seen += [c["id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"cursor": "yesterday"}])
def test_bad_queue_limits_and_cursors_are_422(
    api: Api, acme: Org, params: dict[str, object]
) -> None:
    r = api.as_(acme.guard).get("/api/v1/complaints/queue", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == next(iter(params))
