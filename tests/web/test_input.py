"""Bad input gets a clear error naming the field, and nothing is half-written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaintdesk.db.models import Complaint
from tests.conftest import Org
from tests.web.conftest import Api


def _count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Complaint)) or 0


def _post(api: Api, acme: Org, **body: object):  # type: ignore[no-untyped-def]
    payload = {
        "project_id": str(acme.project.id),
        "owner_id": str(acme.owner.id),
        "text": "楼道灯坏了",
        **body,
    }
    # json.dumps escapes to ASCII, so even a lone surrogate reaches the server as sent.
    return api.as_(acme.agent).post(
        "/api/v1/complaints",
        content=json.dumps(payload),
        headers={"Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"text": ""}, "text"),
        ({"text": "   \n "}, "text"),
        ({"text": "漏" * 10_001}, "text"),
        ({"text": "bad \ud800 surrogate"}, "text"),
        ({"text": "nul \x00 byte"}, "text"),
        ({"text": 42}, "text"),
        ({"channel": "fax"}, "channel"),
        ({"labels": {"category": "plumbing"}}, "labels.category"),
        ({"labels": {"urgency": "asap"}}, "labels.urgency"),
        ({"project_id": "abc"}, "project_id"),
        ({"occurred_at": "2026-01-01T10:00:00"}, "occurred_at"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_complaints_are_422_naming_the_field(
    api: Api, acme: Org, session: Session, body: dict[str, object], field: str
) -> None:
    before = _count(session)
    r = _post(api, acme, **body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert _count(session) == before


def test_badly_encoded_body_is_422(api: Api, acme: Org, session: Session) -> None:
    before = _count(session)
    head = json.dumps({"project_id": str(acme.project.id), "caller_name": "x"})[:-1]
    raw = head.encode() + b', "text": "\xff\xfe\xbd"}'
    r = api.as_(acme.agent).post(
        "/api/v1/complaints", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "body"
    assert _count(session) == before


def test_owner_or_caller_is_required(api: Api, acme: Org) -> None:
    r = api.as_(acme.agent).post(
        "/api/v1/complaints",
        json={"project_id": str(acme.project.id), "text": "有人在小区里乱停车"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "owner_id"
    r = api.as_(acme.agent).post(
        "/api/v1/complaints",
        json={
            "project_id": str(acme.project.id),
            "text": "有人在小区里乱停车",
            "caller_phone": "12345678",
        },
    )
    assert r.status_code == 201


def test_bad_action_bodies_name_the_field(api: Api, acme: Org) -> None:
    cid = _post(api, acme).json()["id"]
    agent = api.as_(acme.agent)
    r = agent.post(f"/api/v1/complaints/{cid}/dispatch", json={"department": "plumbing"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "department"
    r = agent.post(
        f"/api/v1/complaints/{cid}/dispatch",
        json={"department": "engineering", "assignee_id": str(acme.outsider.id)},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "assignee_id"
    assert agent.get(f"/api/v1/complaints/{cid}").json()["status"] == "received"
    r = agent.post(f"/api/v1/complaints/{cid}/labels", json={"nature": "angry"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "nature"
    r = agent.post(
        f"/api/v1/complaints/{cid}/follow-ups",
        json={"note": "x", "next_follow_up_at": "2020-01-01T00:00:00Z"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "next_follow_up_at"


def test_refused_transition_is_409_with_what_is_allowed(api: Api, acme: Org) -> None:
    cid = _post(api, acme).json()["id"]
    r = api.as_(acme.agent).post(f"/api/v1/complaints/{cid}/visits", json={"satisfaction": 5})
    assert r.status_code == 409
    assert "allowed now: dispatch, withdraw" in r.json()["detail"]
    r = api.as_(acme.agent).post(f"/api/v1/complaints/{cid}/visits", json={"satisfaction": 9})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "satisfaction"


def test_unknown_complaint_is_404(api: Api, acme: Org) -> None:
    assert api.as_(acme.agent).get("/api/v1/complaints/123456789").status_code == 404
    assert api.as_(acme.agent).get("/api/v1/complaints/not-a-number").status_code == 422


def test_idempotent_create_makes_one_complaint(api: Api, acme: Org, session: Session) -> None:
    before = _count(session)
    headers = {"Idempotency-Key": "call-2026-11-02-0001"}
    first = api.as_(acme.agent).post(
        "/api/v1/complaints",
        headers=headers,
        json={
            "project_id": str(acme.project.id),
            "owner_id": str(acme.owner.id),
            "text": "电梯坏了",
        },
    )
    again = api.as_(acme.agent).post(
        "/api/v1/complaints",
        headers=headers,
        json={
            "project_id": str(acme.project.id),
            "owner_id": str(acme.owner.id),
            "text": "电梯坏了",
        },
    )
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert _count(session) == before + 1
    other = api.as_(acme.agent).post(
        "/api/v1/complaints",
        headers=headers,
        json={
            "project_id": str(acme.project.id),
            "owner_id": str(acme.owner.id),
            "text": "门禁坏了",
        },
    )
    assert other.status_code == 409
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert _count(session) == before + 1


def test_list_filters_and_cursor(api: Api, acme: Org) -> None:
    ids = [_post(api, acme, text=f"楼道灯坏了 {n}").json()["id"] for n in range(5)]
    agent = api.as_(acme.agent)
    page = agent.get("/api/v1/complaints", params={"limit": 2}).json()
    assert [c["id"] for c in page["items"]] == ids[::-1][:2]
    page2 = agent.get("/api/v1/complaints", params={"limit": 2, "cursor": page["next_cursor"]})
    assert [c["id"] for c in page2.json()["items"]] == ids[::-1][2:4]
    assert agent.get("/api/v1/complaints", params={"status": "closed"}).json()["items"] == []
    assert (
        len(agent.get("/api/v1/complaints", params={"open": True, "limit": 10}).json()["items"])
        == 5
    )
    r = agent.get("/api/v1/complaints", params={"category": "nonsense"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "category"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/complaints/9223372036854775808",
        "/api/v1/complaints/-5",
        "/api/v1/complaints/1.5",
        "/api/v1/complaints?cursor=999999999999999999999999999999",
        "/api/v1/complaints?assignee_id=0",
        "/api/v1/complaints?status=bogus",
        "/api/v1/complaints?received_from=2024-01-01T00:00:00",
        "/api/v1/complaints?received_to=2024-01-01",
        "/api/v1/projects/99999999999999999999",
        "/api/v1/owners/0",
    ],
)
def test_odd_ids_times_and_codes_in_the_url_are_422(api: Api, acme: Org, path: str) -> None:
    r = api.as_(acme.agent).get(path)
    assert r.status_code == 422, r.text
    assert r.json()["errors"]


def test_odd_values_in_bodies_are_422_not_500(api: Api, acme: Org) -> None:
    agent = api.as_(acme.agent)
    r = _post(api, acme, caller_name="a\x00b", owner_id=None)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "caller_name"
    cid = _post(api, acme).json()["id"]
    r = agent.post(
        f"/api/v1/complaints/{cid}/follow-ups",
        json={"note": "x", "next_follow_up_at": "9999-12-31T23:59:59-05:00"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "next_follow_up_at"
    r = agent.post(
        f"/api/v1/complaints/{cid}/follow-ups",
        json={"note": "x", "next_follow_up_at": "2030-12-31T23:59:59+00:00"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "next_follow_up_at"
    r = _post(api, acme, occurred_at="2019-12-31T23:00:00+00:00")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "occurred_at"
    admin = api.as_(acme.admin)
    for minutes in ("Infinity", "NaN", "1e12", "0"):
        raw = (
            '{"code": "PX", "name": "x", "sla_overrides": {"high": {"response": ' + minutes + "}}}"
        )
        r = admin.post(
            "/api/v1/projects", content=raw, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422, (minutes, r.text)
    r = admin.post(
        "/api/v1/staff",
        json={
            "username": "x",
            "name": "x",
            "department": "cleaning",
            "role": "staff",
            "email": "e" * 300,
        },
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "email"


def test_repeated_departments_and_projects_are_taken_once(api: Api, acme: Org) -> None:
    cid = _post(api, acme).json()["id"]
    r = api.as_(acme.agent).post(
        f"/api/v1/complaints/{cid}/dispatch",
        json={"department": "engineering", "also": ["security", "security", "engineering"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["departments"] == [
        {"department": "engineering", "lead": True},
        {"department": "security", "lead": False},
    ]


def test_risk_and_overdue_filters(api: Api, acme: Org, clock: object) -> None:
    calm = _post(api, acme, text="楼道灯坏了麻烦修一下").json()["id"]
    angry = _post(api, acme, text="再不修我就找媒体曝光,物业费也不交了").json()["id"]
    agent = api.as_(acme.agent)
    risky = agent.get("/api/v1/complaints", params={"risk": True}).json()["items"]
    assert [c["id"] for c in risky] == [angry]
    assert risky[0]["risk_flags"] == ["withhold_fees", "media"]
    safe = agent.get("/api/v1/complaints", params={"risk": False}).json()["items"]
    assert [c["id"] for c in safe] == [calm]
    assert agent.get("/api/v1/complaints", params={"overdue": True}).json()["items"] == []
    assert len(agent.get("/api/v1/complaints", params={"overdue": False}).json()["items"]) == 2


def test_a_caller_without_an_owner_record_is_told_too(api: Api, acme: Org) -> None:
    r = api.as_(acme.guard).post(
        "/api/v1/complaints",
        json={
            "project_id": str(acme.project.id),
            "caller_name": "路人",
            "caller_phone": "13700001111",
            "text": "小区门口的路灯坏了",
        },
    )
    messages = api.as_(acme.agent).get(f"/api/v1/complaints/{r.json()['id']}/messages").json()
    assert [(m["kind"], m["recipient"]) for m in messages] == [("received", "13700001111")]
