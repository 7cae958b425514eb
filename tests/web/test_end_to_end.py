"""One complaint through the seeds' whole process, over HTTP."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.services.escalation import sweep
from complaintdesk.web.api.schemas import ComplaintOut
from tests.conftest import Org
from tests.web.conftest import Api, Clock


def test_a_complaint_walks_the_whole_process(
    api: Api, acme: Org, clock: Clock, factory: sessionmaker[Session]
) -> None:
    guard, agent, engineer = api.as_(acme.guard), api.as_(acme.agent), api.as_(acme.engineer)

    # 1. A security guard on patrol is told of a broken lift: he registers it and owns it.
    r = guard.post(
        "/api/v1/complaints",
        json={
            "project_id": str(acme.project.id),
            "owner_id": str(acme.owner.id),
            "unit_id": str(acme.unit.id),
            "channel": "walk_in",
            "text": "8号楼的电梯停了两天了,还没人来修,住高层的老人下不了楼",
            "location": "8号楼",
            "summary": "电梯停运两天,老人出行困难",
        },
    )
    assert r.status_code == 201, r.text
    # The create writes its answer without the model (the wire form straight to JSON):
    # byte for byte what ComplaintOut writes, and what reading the complaint answers.
    assert ComplaintOut.model_validate_json(r.content).model_dump_json().encode() == r.content
    assert guard.get(r.headers["location"]).json() == r.json()
    c = r.json()
    cid = c["id"]
    assert isinstance(cid, str)
    assert c["first_receiver"]["id"] == str(acme.guard.id)
    assert c["status"] == "received"
    # 2. Classified on arrival.
    assert c["labels"]["category"] == "equipment"
    assert c["labels"]["department"] == "engineering"
    assert c["labels"]["nature"] == "dissatisfaction"
    assert c["labels"]["names"]["category"] == {"zh": "设备设施", "en": "Equipment"}
    assert c["respond_by"] is not None

    # 3. Customer service dispatches it to engineering, to one engineer.
    clock.advance(minutes=20)
    r = agent.post(
        f"/api/v1/complaints/{cid}/dispatch",
        json={"department": "engineering", "assignee_id": str(acme.engineer.id)},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dispatched"
    assert r.json()["first_receiver"]["id"] == str(acme.guard.id)  # reassignment never moves it

    # 4. Followed up, with a next date.
    clock.advance(minutes=30)
    next_date = clock.now + timedelta(days=1)
    r = engineer.post(
        f"/api/v1/complaints/{cid}/follow-ups",
        json={"note": "门机板损坏,已订配件", "next_follow_up_at": next_date.isoformat()},
    )
    assert r.status_code == 201, r.text
    queue = engineer.get("/api/v1/complaints/queue").json()["items"]
    assert [q["id"] for q in queue] == [cid]
    assert queue[0]["next_follow_up_at"] == next_date.isoformat().replace("+00:00", "Z")
    r = engineer.post(f"/api/v1/complaints/{cid}/start")
    assert r.status_code == 200 and r.json()["status"] == "in_progress"

    # 5. The parts take too long: the resolution deadline passes; the sweeper escalates.
    resolve_by = r.json()["resolve_by"]
    clock.advance(hours=30)
    report = sweep(factory, clock.now)
    assert report.escalations >= 1
    r = agent.get(f"/api/v1/complaints/{cid}")
    assert r.json()["escalation_level"] >= 1 and r.json()["resolution_breached"]
    assert resolve_by < clock.now.isoformat()

    # 6. Resolved.
    clock.advance(hours=2)
    r = engineer.post(
        f"/api/v1/complaints/{cid}/resolve",
        json={"outcome": "fixed", "resolution": "更换门机板,电梯恢复运行"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved"

    # 7. The return visit: the owner is not satisfied, so it reopens.
    clock.advance(hours=3)
    r = agent.post(
        f"/api/v1/complaints/{cid}/visits", json={"satisfaction": 2, "comment": "电梯还是有异响"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "dispatched" and r.json()["reopen_count"] == 1

    # 8. Resolved again, the visit satisfied, closed with a summary.
    clock.advance(hours=4)
    r = engineer.post(
        f"/api/v1/complaints/{cid}/resolve",
        json={"outcome": "fixed", "resolution": "调整导轨,异响消除"},
    )
    assert r.status_code == 200, r.text
    clock.advance(hours=20)
    r = agent.post(f"/api/v1/complaints/{cid}/visits", json={"satisfaction": 5})
    assert r.json()["status"] == "visited"
    r = agent.post(f"/api/v1/complaints/{cid}/close", json={})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "summary_cause"
    r = agent.post(
        f"/api/v1/complaints/{cid}/close",
        json={
            "cause": "门机板老化,巡检未发现",
            "lesson": "配件库存不足导致延误",
            "corrective_action": "更换门机板并调整导轨",
            "preventive_action": "电梯门机板纳入季度巡检,常备配件",
        },
    )
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["status"] == "closed"
    assert closed["summary_of_handling"]["preventive_action"].startswith("电梯门机板")

    # The trail shows every step with its actor.
    events = agent.get(f"/api/v1/complaints/{cid}/events").json()
    steps = [(e["kind"], (e["actor"] or {}).get("id")) for e in events]
    kinds = [k for k, _ in steps]
    for expected in [
        "received",
        "dispatch",
        "follow_up",
        "start",
        "escalated",
        "resolve",
        "visit_unsatisfied",
        "visit_satisfied",
        "close",
    ]:
        assert expected in kinds, (expected, kinds)
    by_kind = dict(steps)
    assert by_kind["received"] == str(acme.guard.id)
    assert by_kind["dispatch"] == str(acme.agent.id)
    assert by_kind["resolve"] == str(acme.engineer.id)
    assert by_kind["close"] == str(acme.agent.id)
    assert by_kind["escalated"] is None  # the sweeper, not a person
    assert kinds.count("resolve") == 2

    # The owner heard of every step they should hear of.
    messages = agent.get(f"/api/v1/complaints/{cid}/messages").json()
    told = [m["kind"] for m in messages]
    assert told == [
        "received",
        "dispatched",
        "delayed",
        "resolved",
        "reopened",
        "resolved",
        "visited",
        "closed",
    ]
    assert all(m["recipient"] == acme.owner.phone for m in messages)


def test_docs_and_openapi_are_served_without_a_cdn(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert "/static/swagger/swagger-ui-bundle.js" in page.text and "cdn" not in page.text
    assert api.client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    spec = api.client.get("/api/v1/openapi.json").json()
    assert "/api/v1/complaints/{complaint_id}/dispatch" in spec["paths"]
