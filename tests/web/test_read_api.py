"""The read side of the API: unknown query parameters are refused; the queue pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from complaintdesk.db.models import Event
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
    r = agent.get(f"/api/v1/owners/{acme.owner.id}/complaints?order=desc")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "order"
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


def _pages(api: Api, acme: Org, path: str, limit: int) -> list[list[dict[str, object]]]:
    """Every page of ``path``, ``limit`` a page, following next_cursor."""
    pages: list[list[dict[str, object]]] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        r = api.as_(acme.agent).get(path, params=params)
        assert r.status_code == 200, r.text
        pages.append(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20


def test_owner_history_pages_20_by_default_up_to_100_and_by_cursor(api: Api, acme: Org) -> None:
    ids = [_post(api, acme, f"停车收费不合理 {i}") for i in range(23)]
    agent = api.as_(acme.agent)
    path = f"/api/v1/owners/{acme.owner.id}/complaints"
    first = agent.get(path).json()
    assert len(first["items"]) == 20 and first["next_cursor"] == first["items"][-1]["id"]
    rest = agent.get(path, params={"cursor": first["next_cursor"]}).json()
    assert rest["next_cursor"] is None
    assert [c["id"] for c in first["items"] + rest["items"]] == ids[::-1]  # newest first
    assert len(agent.get(path, params={"limit": 100}).json()["items"]) == 23
    pages = _pages(api, acme, path, 7)
    assert [len(p) for p in pages] == [7, 7, 7, 2]
    assert [c["id"] for p in pages for c in p] == ids[::-1]
    for limit in (0, 101):
        r = agent.get(path, params={"limit": limit})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"


def test_the_overdue_list_pages_by_deadline_then_id(api: Api, acme: Org, clock: Clock) -> None:
    ids = set()
    for i in range(23):  # deadlines by urgency: later complaints are due first, and ties
        r = api.as_(acme.guard).post(
            "/api/v1/complaints",
            json={
                "project_id": str(acme.project.id),
                "owner_id": str(acme.owner.id),
                "text": f"楼道灯坏了 {i}",
                "labels": {"urgency": ["low", "normal", "high", "critical"][i * 4 // 23]},
            },
        )
        assert r.status_code == 201, r.text
        ids.add(r.json()["id"])
    path = f"/api/v1/projects/{acme.project.id}/overdue"
    assert api.as_(acme.agent).get(path).json()["items"] == []  # nothing late yet
    clock.advance(days=30)
    first = api.as_(acme.agent).get(path).json()
    assert len(first["items"]) == 20 and first["next_cursor"]
    pages = _pages(api, acme, path, 6)
    assert [len(p) for p in pages] == [6, 6, 6, 5]
    shown = [c for p in pages for c in p]
    assert {str(c["id"]) for c in shown} == ids  # each once
    order = [(str(c["resolve_by"]), int(str(c["id"]))) for c in shown]
    assert order == sorted(order) and len({d for d, _ in order}) == 4
    assert [c["id"] for c in first["items"]] == [c["id"] for c in shown[:20]]
    for params in ({"limit": 101}, {"cursor": "x.1"}, {"cursor": "12.0"}):
        r = api.as_(acme.agent).get(path, params=params)
        assert r.status_code == 422, (params, r.text)


def test_events_answer_delivery_records_in_one_form_whatever_wrote_them(
    api: Api, acme: Org, session: Session
) -> None:
    """An event purged by older code holds ``delivered`` objects; the API answers them
    as ``sent`` strings, before the event's own, and never ``delivered``."""
    cid = _post(api, acme, "楼道灯坏了")
    received = session.scalars(
        select(Event).where(Event.complaint_id == int(cid), Event.kind == "received")
    ).one()
    received.data = {
        **(received.data or {}),
        "delivered": [{"to": "owner", "ch": "sms", "at": "2026-11-02T09:00:00+00:00"}],
        # With the time, and seconds after the event (both 7 December 2026).
        "sent": ["42 email 2026-12-08T01:02:03Z", "owner sms +75"],
    }
    session.commit()
    r = api.as_(acme.agent).get(f"/api/v1/complaints/{cid}/events")
    assert r.status_code == 200, r.text
    answered = next(e for e in r.json() if e["kind"] == "received")
    data = answered["data"]
    assert "delivered" not in data
    at = datetime.fromisoformat(answered["at"].replace("Z", "+00:00")).replace(microsecond=0)
    later = (at + timedelta(seconds=75)).astimezone(UTC)
    assert data["sent"] == [
        "owner sms 2026-11-02T09:00:00Z",
        "42 email 2026-12-08T01:02:03Z",
        f"owner sms {later:%Y-%m-%dT%H:%M:%S}Z",
    ]
    # The intake labels, stored as one string, answered as an object as before.
    assert isinstance(received.data["labels"], str)
    codes = received.data["labels"].split(" ")
    assert data["labels"] == dict(
        zip(("nature", "category", "urgency", "department"), codes, strict=True)
    )


def test_events_answer_each_status_change_whatever_wrote_them(
    api: Api, acme: Org, session: Session
) -> None:
    """A status event stores neither ``field``, ``old`` nor ``new`` (its kind says the
    new status, the event before it the old one); the API answers them as before. An
    event that stored them (older code, the bulk path) is answered as stored."""
    cid = _post(api, acme, "楼道灯坏了")
    agent = api.as_(acme.agent)
    body = {"department": "engineering", "assignee_id": str(acme.engineer.id)}
    assert agent.post(f"/api/v1/complaints/{cid}/dispatch", json=body).status_code == 200
    assert agent.post(f"/api/v1/complaints/{cid}/dispatch", json=body).status_code == 200
    r = api.as_(acme.engineer).post(f"/api/v1/complaints/{cid}/start")
    assert r.status_code == 200, r.text
    stored = session.scalars(
        select(Event).where(Event.complaint_id == int(cid)).order_by(Event.id)
    ).all()
    assert [e.kind for e in stored] == ["received", "dispatch", "dispatch", "start"]
    assert all((e.field, e.old, e.new) == (None, None, None) for e in stored)

    def answered() -> list[tuple[str, str | None, str | None, str | None]]:
        r = agent.get(f"/api/v1/complaints/{cid}/events")
        assert r.status_code == 200, r.text
        return [(e["kind"], e["field"], e["old"], e["new"]) for e in r.json()]

    expected = [
        ("received", "status", None, "received"),
        ("dispatch", "status", "received", "dispatched"),
        ("dispatch", "status", "dispatched", "dispatched"),
        ("start", "status", "dispatched", "in_progress"),
    ]
    assert answered() == expected
    # Nothing was written back by reading.
    session.expire_all()
    assert (
        session.scalars(select(Event.field).where(Event.complaint_id == int(cid))).all()
        == [None] * 4
    )
    # The first dispatch as older code wrote it (what it stored is what is answered:
    # here an old status no event says, to tell stored from worked out).
    first = stored[1]
    first.field, first.old, first.new = "status", "received_before", "dispatched"
    session.commit()
    assert answered() == [
        expected[0],
        ("dispatch", "status", "received_before", "dispatched"),
        *expected[2:],
    ]


def test_the_withdrawn_list_and_the_overdue_list_answer_each_viewer_its_own(
    api: Api, acme: Org, clock: Clock
) -> None:
    """The list's withdrawn path (ids from the withdrawal events, then the rows) and the
    overdue list read their page as plain rows (``queries.shown_rows``), on SQLite as
    on PostgreSQL: each complaint once, newest first, by cursor; nothing for a viewer of
    another project or company (an empty page, or 404 for a project not theirs)."""
    ids = [_post(api, acme, f"停车收费不合理 {i}") for i in range(5)]
    agent = api.as_(acme.agent)
    assert agent.get("/api/v1/complaints?status=withdrawn").json() == {
        "items": [], "next_cursor": None, "searched_from": None,
    }  # fmt: skip
    for cid in ids[:3]:
        r = agent.post(f"/api/v1/complaints/{cid}/withdraw", json={"reason": "业主撤回"})
        assert r.status_code == 200, r.text
    first = agent.get("/api/v1/complaints?status=withdrawn&limit=2").json()
    assert [c["id"] for c in first["items"]] == [ids[2], ids[1]] and first["next_cursor"]
    rest = agent.get(
        "/api/v1/complaints", params={"status": "withdrawn", "cursor": first["next_cursor"]}
    ).json()
    assert [c["id"] for c in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    assert all(c["status"] == "withdrawn" for c in first["items"] + rest["items"])
    for outsider in (acme.outsider, acme.cleaner_other_project):
        r = api.as_(outsider).get("/api/v1/complaints?status=withdrawn")
        assert r.json()["items"] == [], outsider.username
    clock.advance(days=30)
    path = f"/api/v1/projects/{acme.project.id}/overdue"
    late = agent.get(path).json()
    assert sorted(c["id"] for c in late["items"]) == sorted(ids[3:])  # withdrawn are not
    for outsider in (acme.outsider, acme.cleaner_other_project):
        assert api.as_(outsider).get(path).status_code == 404, outsider.username


def test_a_folded_complaints_events_answer_as_before(api: Api, acme: Org, session: Session) -> None:
    """Once ``db compact --fold`` wrote a settled complaint's events as one row
    (db/folding.py), the API answers the same events, field for field."""
    from sqlalchemy import delete

    from complaintdesk.db import folding, partitions
    from complaintdesk.db.ids import id_time
    from complaintdesk.db.models import Complaint, Outbox
    from complaintdesk.services import closing
    from complaintdesk.services.common import record_event

    cid = _post(api, acme, "楼道灯坏了")
    complaint = session.get_one(Complaint, int(cid))
    at = complaint.received_at
    record_event(session, complaint, acme.agent, "follow_up", at + timedelta(minutes=3),
                 data={"note": "已联系业主"})  # fmt: skip
    closing.withdraw(session, acme.agent, complaint, at + timedelta(minutes=9), reason="修好了")
    session.execute(delete(Outbox).where(Outbox.complaint_id == complaint.id))  # past retention
    session.commit()
    before = api.as_(acme.agent).get(f"/api/v1/complaints/{cid}/events")
    assert before.status_code == 200, before.text
    assert [e["kind"] for e in before.json()] == ["received", "follow_up", "withdraw"]

    low, high = partitions.bounds(partitions.month_start(id_time(complaint.id)))
    assert folding.fold(session.connection(), low, high).complaints == 1
    session.commit()
    kinds = session.scalars(select(Event.kind).where(Event.complaint_id == complaint.id))
    assert sorted(kinds) == [folding.FOLDED, "withdraw"]

    after = api.as_(acme.agent).get(f"/api/v1/complaints/{cid}/events")
    assert after.status_code == 200, after.text
    assert after.json() == before.json()
