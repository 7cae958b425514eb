"""Departments that handle a complaint beside its lead (issue 7, migration 0013): the
lead is the complaint's own ``department`` and is never stored in
``complaint_departments``, which holds only the co-handling ones. The API shows every
involved department as before (by code, the lead marked), and the co-handling ones
count in permissions and in a department's work list."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.models import Complaint, ComplaintDepartment, Staff
from complaintdesk.domain.errors import Forbidden
from complaintdesk.domain.taxonomy import Channel, Department, Role, StaffDepartment
from complaintdesk.services import dispatch, intake, labels, org, queries
from tests.conftest import NOW, Org
from tests.web.conftest import Api


def _stored(session: Session, complaint_id: int) -> list[str]:
    session.flush()
    return sorted(
        session.scalars(
            select(ComplaintDepartment.department).where(
                ComplaintDepartment.complaint_id == complaint_id
            )
        )
    )


def _register(session: Session, acme: Org, department: str = "engineering") -> Complaint:
    return intake.register(
        session,
        acme.agent,
        intake.NewComplaint(
            project_id=acme.project.id,
            text="楼道灯坏了",
            channel=Channel.PHONE,
            owner_id=acme.owner.id,
            labels={"department": department},
        ),
        KeywordClassifier(),
        NOW,
    )


def _cleaner(session: Session, acme: Org) -> Staff:
    """A member of a department not involved, on the same project."""
    return org.create_staff(
        session,
        acme.company,
        username="cleaner-p1",
        name="cleaner-p1",
        department=StaffDepartment.CLEANING,
        role=Role.STAFF,
        project_ids=[acme.project.id],
        email="cleaner-p1@example.test",
    )


def test_the_api_shows_lead_and_co_handling_departments_and_stores_only_the_others(
    api: Api, acme: Org, session: Session
) -> None:
    agent = api.as_(acme.agent)
    r = agent.post(
        "/api/v1/complaints",
        json={
            "project_id": str(acme.project.id),
            "owner_id": str(acme.owner.id),
            "text": "楼道灯坏了",
            "labels": {"department": "engineering"},
        },
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert r.json()["departments"] == [{"department": "engineering", "lead": True}]
    assert _stored(session, int(cid)) == []  # the lead alone: no row
    r = agent.post(
        f"/api/v1/complaints/{cid}/dispatch",
        json={"department": "security", "also": ["engineering", "cleaning", "security"]},
    )
    assert r.status_code == 200, r.text
    shown = [
        {"department": "cleaning", "lead": False},
        {"department": "engineering", "lead": False},
        {"department": "security", "lead": True},
    ]
    assert r.json()["departments"] == shown
    assert agent.get(f"/api/v1/complaints/{cid}").json()["departments"] == shown
    history = agent.get(f"/api/v1/owners/{acme.owner.id}/complaints").json()["items"]
    assert [c["departments"] for c in history if c["id"] == cid] == [shown]
    listed = agent.get("/api/v1/complaints").json()["items"]
    assert [c["departments"] for c in listed if c["id"] == cid] == [shown]
    # The lead (security) is the row's department, never a row of its own.
    assert _stored(session, int(cid)) == ["cleaning", "engineering"]


def test_co_handling_counts_in_permissions_and_work_lists(session: Session, acme: Org) -> None:
    cleaner = _cleaner(session, acme)
    complaint = _register(session, acme, "engineering")
    dispatch.dispatch(
        session, acme.agent, complaint, NOW, department=Department.ENGINEERING,
        also=[Department.SECURITY],
    )  # fmt: skip
    department_work = queries.WorkFilter(scope="department")

    def in_work(staff: Staff) -> bool:
        rows, _ = queries.my_work(session, staff, department_work, NOW)
        return complaint.id in {c.id for c in rows}

    # The lead's department (engineering) and the co-handling one (security, the
    # guard) see it in their department's work; cleaning does not.
    assert in_work(acme.engineer)
    assert in_work(acme.guard)
    assert not in_work(cleaner)
    with pytest.raises(Forbidden):
        dispatch.start(session, cleaner, complaint, NOW)
    dispatch.start(session, acme.guard, complaint, NOW)  # co-handling: may work on it
    assert complaint.assignee_id == acme.guard.id


def test_the_lead_is_never_stored_and_a_replaced_lead_stays_involved(
    session: Session, acme: Org
) -> None:
    complaint = _register(session, acme, "engineering")
    assert _stored(session, complaint.id) == []
    # A new lead: the old one stays involved, co-handling; the new one is the row's.
    labels.correct_labels(session, acme.agent, complaint, {"department": "security"}, NOW)
    assert complaint.department == "security"
    assert _stored(session, complaint.id) == ["engineering"]
    assert complaint.departments == [("engineering", False), ("security", True)]
    # Back to a co-handling department as lead: it leaves the rows, security joins them.
    labels.correct_labels(session, acme.agent, complaint, {"department": "engineering"}, NOW)
    assert _stored(session, complaint.id) == ["security"]
    assert complaint.departments == [("engineering", True), ("security", False)]
    # Dispatch names the involved departments anew, the lead among the "also" too.
    dispatch.dispatch(
        session, acme.agent, complaint, NOW, department=Department.CLEANING,
        also=[Department.CLEANING, Department.ENGINEERING],
    )  # fmt: skip
    assert complaint.department == "cleaning"
    assert _stored(session, complaint.id) == ["engineering"]
    session.commit()
    session.expire_all()
    again = session.get_one(Complaint, complaint.id)
    assert again.departments == [("cleaning", True), ("engineering", False)]
    doubled = session.scalar(
        text(
            "SELECT count(*) FROM complaint_departments d JOIN complaints c "
            "ON c.id = d.complaint_id WHERE d.department = c.department"
        )
    )
    assert doubled == 0
