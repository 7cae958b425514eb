"""What the Schemathesis run (bench/schemathesis_run.py) found, kept fixed: requests
the OpenAPI document accepts get the answer the document promises for them."""

from __future__ import annotations

from tests.conftest import Org
from tests.web.conftest import Api


def _withdrawn(api: Api, acme: Org) -> str:
    agent = api.as_(acme.agent)
    r = agent.post(
        "/api/v1/complaints",
        json={"project_id": str(acme.project.id), "owner_id": str(acme.owner.id), "text": "漏水"},
    )
    cid = str(r.json()["id"])
    assert agent.post(f"/api/v1/complaints/{cid}/withdraw", json={"reason": "业主撤回"}).is_success
    return cid


def test_acting_on_a_finished_complaint_is_409_not_bad_input(api: Api, acme: Org) -> None:
    cid = _withdrawn(api, acme)
    agent = api.as_(acme.agent)
    for path, body in (
        ("follow-ups", {"note": "再打电话"}),
        ("labels", {"category": "neighborhood"}),
        ("dispatch", {"department": "engineering"}),
    ):
        r = agent.post(f"/api/v1/complaints/{cid}/{path}", json=body)
        assert r.status_code == 409, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_queue_cursors_out_of_range_are_refused_by_the_schema(api: Api, acme: Org) -> None:
    agent = api.as_(acme.agent)
    doc = api.client.get("/api/v1/openapi.json").json()
    params = {p["name"]: p for p in doc["paths"]["/api/v1/complaints/queue"]["get"]["parameters"]}
    assert "pattern" in str(params["cursor"]["schema"])
    for cursor in ("abc", "1.99999999999999999999", "1.0", "1." + str(2**63)):
        r = agent.get("/api/v1/complaints/queue", params={"cursor": cursor})
        assert r.status_code == 422, (cursor, r.text)
    assert agent.get("/api/v1/complaints/queue", params={"cursor": "0.1"}).status_code == 200


def test_times_are_iso_8601_as_the_document_says_not_bare_numbers(api: Api, acme: Org) -> None:
    admin = api.as_(acme.admin)
    for value in ("0", "0.0", "1700000000"):
        r = admin.get("/api/v1/audit", params={"at_from": value})
        assert r.status_code == 422, (value, r.text)
        assert r.json()["errors"][0]["field"] == "at_from"
    assert admin.get("/api/v1/audit", params={"at_from": "2026-11-01T00:00:00Z"}).is_success


def test_sla_targets_have_their_shape_in_the_document(api: Api, acme: Org) -> None:
    doc = api.client.get("/api/v1/openapi.json").json()
    shape = str(doc["components"]["schemas"]["ProjectCreate"]["properties"]["sla_overrides"])
    assert "propertyNames" in shape
    admin = api.as_(acme.admin)
    r = admin.post("/api/v1/projects", json={"code": "PX", "name": "x", "sla_overrides": {"M": {}}})
    assert r.status_code == 422
    r = admin.post(
        "/api/v1/projects",
        json={"code": "PY", "name": "y", "sla_overrides": {"high": {"response": 30}}},
    )
    assert r.status_code == 201, r.text
    assert r.json()["sla_overrides"] == {"high": {"response": 30}}
