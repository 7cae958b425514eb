"""The shared read model: what the JSON API adds from it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from complaintdesk.services.common import get_complaint
from complaintdesk.web.presenter import present_one, zone
from tests.conftest import Org
from tests.web.conftest import Api


def test_the_api_says_the_time_zone_and_what_the_caller_may_do_now(
    api: Api, acme: Org, session: Session
) -> None:
    r = api.as_(acme.guard).post(
        "/api/v1/complaints",
        json={"project_id": acme.project.id, "owner_id": acme.owner.id, "text": "电梯坏了"},
    )
    body = r.json()
    assert body["timezone"] == "Asia/Shanghai"
    # The first receiver coordinates: dispatch, withdraw, and the tasks of an open one.
    assert body["actions"] == ["dispatch", "withdraw", "relabel", "follow_up", "message_owner"]
    assert body["allowed_actions"] == ["dispatch", "withdraw"]  # what the state allows
    cid = body["id"]
    seen_by_engineer = api.as_(acme.engineer).get(f"/api/v1/complaints/{cid}").json()
    assert seen_by_engineer["actions"] == ["relabel", "follow_up", "message_owner"]
    dispatched = api.as_(acme.agent).post(
        f"/api/v1/complaints/{cid}/dispatch",
        json={"department": "engineering", "assignee_id": str(acme.engineer.id)},
    )
    assert dispatched.status_code == 200, dispatched.text
    seen_by_engineer = api.as_(acme.engineer).get(f"/api/v1/complaints/{cid}").json()
    assert seen_by_engineer["actions"][:2] == ["start", "resolve"]
    assert seen_by_engineer["assignee"]["id"] == str(acme.engineer.id)


def test_local_times_follow_the_projects_time_zone(api: Api, acme: Org, session: Session) -> None:
    r = api.as_(acme.guard).post(
        "/api/v1/complaints",
        json={"project_id": acme.project.id, "owner_id": acme.owner.id, "text": "漏水"},
    )
    complaint = get_complaint(session, acme.guard, int(r.json()["id"]))
    view = present_one(session, complaint, acme.guard)
    local = view.local(complaint.received_at)
    assert local is not None and local.utcoffset() is not None
    assert local.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]
    assert view.labels["category"].value.name("en") != view.labels["category"].value.name("zh")
    assert zone("Not/AZone").key == "Asia/Shanghai"
