"""The shared read model: what the JSON API adds from it."""

from __future__ import annotations

from pydantic_core import to_json
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from complaintdesk.db.models import SHOWN_COLUMNS, Complaint, ShownComplaint
from complaintdesk.domain.taxonomy import Category, Role, StaffDepartment
from complaintdesk.services import org, queries
from complaintdesk.services.common import get_complaint
from complaintdesk.web.api.schemas import complaint_wire
from complaintdesk.web.presenter import Named, department_named, present, present_one, zone
from tests.conftest import Org
from tests.web.conftest import Api, Clock


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


def _register(api: Api, acme: Org, texts: list[str]) -> list[str]:
    ids = []
    for text in texts:
        r = api.as_(acme.guard).post(
            "/api/v1/complaints",
            json={"project_id": acme.project.id, "owner_id": acme.owner.id, "text": text},
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def test_lists_write_each_complaint_as_the_complaint_itself_is_written(
    api: Api, acme: Org, clock: Clock
) -> None:
    """Lists write the wire form straight to JSON; one complaint is checked into its
    model first: the same fields and values either way, whoever asks."""
    ids = _register(api, acme, ["电梯坏了", "楼上漏水 water leak", "保安态度差", "停车收费不合理"])
    agent = api.as_(acme.agent)
    r = agent.post(
        f"/api/v1/complaints/{ids[0]}/dispatch",
        json={
            "department": "engineering",
            "assignee_id": str(acme.engineer.id),
            "also": ["security"],
        },
    )
    assert r.status_code == 200, r.text
    engineer = api.as_(acme.engineer)
    for step, body in (
        ("dispatch", {"department": "engineering", "assignee_id": str(acme.engineer.id)}),
        ("start", None),
        ("resolve", {"outcome": "answered", "resolution": "已答复", "owner_explanation": "解释"}),
    ):
        by = agent if step == "dispatch" else engineer
        r = by.post(f"/api/v1/complaints/{ids[1]}/{step}", json=body)
        assert r.status_code == 200, r.text
    clock.advance(days=10)  # every deadline passed: all of them overdue
    for viewer in (acme.agent, acme.engineer, acme.admin):
        as_ = api.as_(viewer)
        one = {i: as_.get(f"/api/v1/complaints/{i}").json() for i in ids}
        for path in (
            "/api/v1/complaints?limit=50",
            "/api/v1/complaints/queue",
            f"/api/v1/owners/{acme.owner.id}/complaints",
            f"/api/v1/projects/{acme.project.id}/overdue",
            "/api/v1/complaints?q=漏水",
        ):
            r = as_.get(path)
            assert r.status_code == 200, (path, r.text)
            items = r.json()["items"]
            for item in items:
                assert item == one[item["id"]], path
            # The receiver and the administrator see complaints in every list but the
            # queue (so each list's wire form is compared, not an empty page).
            if viewer is not acme.engineer and "queue" not in path:
                assert items, (viewer.username, path)


def test_names_of_codes_spelt_alike_stay_apart() -> None:
    """Names are made once per code, by kind: the complaint category ``management``
    and the staff department ``management`` keep their own."""
    category = Named.of(Category.MANAGEMENT)
    department = department_named("management")
    assert category.name("en") == "Management and fees"
    assert department.name("en") == "Management"
    assert Named.of(Category.MANAGEMENT) is category  # made once


def test_a_complaint_read_as_its_shown_row_is_written_as_the_complaint_itself(
    api: Api, acme: Org, session: Session, clock: Clock
) -> None:
    """The API's long lists read their complaints as plain rows (``ShownComplaint``,
    ``queries.shown_rows``), not ORM instances: the one presenter and wire form make
    the same answer from either, byte for byte, for complaints in every state (with
    co-handling departments, a resolution, a closing summary, risk flags, a
    withdrawal) and for every viewer."""
    ids = _register(api, acme, ["电梯坏了", "楼上漏水 water leak", "保安态度差", "停车收费不合理"])
    agent, engineer = api.as_(acme.agent), api.as_(acme.engineer)
    for cid in ids[:2]:
        r = agent.post(
            f"/api/v1/complaints/{cid}/dispatch",
            json={
                "department": "engineering",
                "assignee_id": str(acme.engineer.id),
                "also": ["security", "cleaning"] if cid == ids[0] else [],
            },
        )
        assert r.status_code == 200, r.text
    closing = ids[1]
    for by, step, body in (
        (engineer, "start", None),
        (engineer, "resolve", {"outcome": "fixed", "resolution": "修好", "owner_explanation": "x"}),
        (agent, "visits", {"satisfaction": 5}),
        (agent, "close", {"cause": "老化", "lesson": "巡检", "corrective_action": "更换",
                          "preventive_action": "季度巡检"}),
    ):  # fmt: skip
        r = by.post(f"/api/v1/complaints/{closing}/{step}", json=body)
        assert r.is_success, (step, r.text)
    r = agent.post(f"/api/v1/complaints/{ids[3]}/withdraw", json={"reason": "业主撤回"})
    assert r.is_success, r.text
    session.execute(
        update(Complaint).where(Complaint.id == int(ids[2])).values(risk_flags=["media", "legal"])
    )
    session.commit()
    clock.advance(days=10)
    mine = select(Complaint).where(Complaint.company_id == acme.company.id).order_by(Complaint.id)
    instances = list(session.scalars(mine))
    rows = queries.shown_rows(session, mine)
    assert [r.id for r in rows] == [c.id for c in instances] == sorted(int(i) for i in ids)
    assert all(isinstance(r, ShownComplaint) for r in rows)
    states = {c.status for c in instances}
    assert {"closed", "withdrawn", "dispatched", "received"} <= states, states
    # Every role, and a cleaner on the project who is neither receiver nor assignee:
    # what they may do on the first complaint comes from its co-handling departments
    # alone (read with the row, ``co_handling_codes``).
    cleaner = org.create_staff(
        session, acme.company, username="cleaner-here", name="cleaner-here",
        department=StaffDepartment.CLEANING, role=Role.STAFF, project_ids=[acme.project.id],
    )  # fmt: skip
    session.commit()
    viewers = (
        acme.guard, acme.agent, acme.engineer, acme.eng_supervisor, acme.manager, acme.admin,
        cleaner, None,
    )  # fmt: skip
    assert {v.role for v in viewers if v is not None} == {r.value for r in Role}
    for viewer in viewers:
        from_rows = [complaint_wire(v) for v in present(session, rows, viewer)]
        from_instances = [complaint_wire(v) for v in present(session, instances, viewer)]
        assert from_rows == from_instances
        assert to_json(from_rows) == to_json(from_instances)
    as_cleaner = {
        c["id"]: c["actions"] for c in map(complaint_wire, present(session, rows, cleaner))
    }
    assert as_cleaner[ids[0]] != as_cleaner[ids[2]], as_cleaner  # co-handling counts
    shown = {c["id"]: c for c in from_rows}
    assert [d["department"] for d in shown[ids[0]]["departments"]] == [
        "cleaning", "engineering", "security",
    ]  # fmt: skip
    assert shown[ids[1]]["summary_of_handling"]["cause"] == "老化"
    assert shown[ids[2]]["risk_flags"] == ["media", "legal"]
    # The row's columns are the complaints' own, and none that a view shows is left out.
    columns = [c.key for c in Complaint.__table__.c]
    assert set(SHOWN_COLUMNS) <= set(columns)
    assert set(columns) - set(SHOWN_COLUMNS) == {
        "company_id", "caller_phone", "clock_started_at", "sla_check_at", "at_risk",
        "updated_at", "search_terms",
    }  # fmt: skip
