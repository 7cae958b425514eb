"""Tokens that expire and can be taken back, deactivation, urgency lowered only with
authority, and the audit trail that records it all and cannot be changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.ids import new_id
from complaintdesk.db.models import ApiToken, AuditEntry, Project, Staff
from complaintdesk.domain.audit import AuditKind
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.services import accounts, org
from complaintdesk.services.common import get_project
from tests.conftest import NOW, Org
from tests.web.conftest import Api, Clock


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _issue(api: Api, acme: Org, **body: object) -> dict[str, str]:
    r = api.as_(acme.agent).post("/api/v1/tokens", json={"name": "phone", **body})
    assert r.status_code == 201, r.text
    data: dict[str, str] = r.json()
    return data


def test_a_token_is_issued_to_oneself_with_a_name_an_issuer_and_an_expiry(
    api: Api, acme: Org, clock: Clock
) -> None:
    issued = _issue(api, acme, expires_in_days=2)
    assert issued["staff_id"] == issued["issued_by_id"] == str(acme.agent.id)
    assert issued["name"] == "phone" and issued["expires_at"].startswith("2026-11-04")
    me = api.client.get("/api/v1/staff/me", headers=_bearer(issued["token"]))
    assert me.status_code == 200 and me.json()["username"] == "agent"
    listed = api.as_(acme.agent).get("/api/v1/tokens").json()
    mine = next(t for t in listed if t["id"] == issued["id"])
    assert mine["last_used_at"] is not None and "token" not in mine
    clock.advance(days=2, seconds=1)
    r = api.client.get("/api/v1/staff/me", headers=_bearer(issued["token"]))
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_last_used_is_written_at_most_once_a_minute(
    api: Api, acme: Org, clock: Clock, session: Session
) -> None:
    issued = _issue(api, acme)

    def last_used() -> object:
        session.expire_all()
        return session.get(ApiToken, int(issued["id"])).last_used_at  # type: ignore[union-attr]

    api.client.get("/api/v1/staff/me", headers=_bearer(issued["token"]))
    first = last_used()
    clock.advance(seconds=30)
    api.client.get("/api/v1/staff/me", headers=_bearer(issued["token"]))
    assert last_used() == first
    clock.advance(seconds=31)
    api.client.get("/api/v1/staff/me", headers=_bearer(issued["token"]))
    assert last_used() == clock.now


def test_a_token_brings_its_holder_and_their_projects_in_one_statement_every_time(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    """The caller is read on every request (nothing remembered between requests: a
    token revoked, or its holder deactivated, is refused from the next request on),
    in one statement with their projects, into the session as if loaded: their
    columns and projects are read with no query after it."""
    both = org.create_staff(
        session,
        acme.company,
        username="two-projects",
        name="两个项目",
        department=StaffDepartment.CUSTOMER_SERVICE,
        role=Role.AGENT,
        project_ids=[acme.project.id, acme.other_project.id],
    )
    raw = accounts.issue_token(session, both, NOW)
    admin_raw = accounts.issue_token(session, acme.admin, NOW)
    session.commit()
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN")):
            statements.append(statement)

    bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", count)
    try:
        with factory() as s:
            staff = accounts.authenticate(s, raw, NOW)  # first use: last_used_at written
            assert staff is not None and len(statements) == 2, statements
            s.commit()
        statements.clear()
        with factory() as s:
            staff = accounts.authenticate(s, raw, NOW + timedelta(seconds=30))
            assert staff is not None and len(statements) == 1, statements
            assert s.get(Staff, both.id) is staff
            assert (staff.username, staff.role, staff.company_id) == (
                "two-projects",
                Role.AGENT,
                acme.company.id,
            )
            assert staff.project_ids == {acme.project.id, acme.other_project.id}
            assert get_project(s, staff, acme.other_project.id).name == "Riverside"
            assert s.get(Project, acme.project.id) in staff.projects
            assert len(statements) == 1, statements  # all of it from the one statement
            admin = accounts.authenticate(s, admin_raw, NOW)
            assert admin is not None and admin.projects == [] and admin.id == acme.admin.id
            assert accounts.authenticate(s, raw + "x", NOW) is None
    finally:
        event.remove(bind, "before_cursor_execute", count)
    token = accounts.token_of(session, raw)
    accounts.revoke_token(session, both, token, NOW)
    session.commit()
    with factory() as s:
        assert accounts.authenticate(s, raw, NOW + timedelta(seconds=1)) is None
    acme.admin.active = False  # deactivated (its tokens left unrevoked, for this check)
    session.commit()
    with factory() as s:
        assert accounts.authenticate(s, admin_raw, NOW + timedelta(seconds=1)) is None


def test_the_holder_and_an_admin_revoke_a_token_others_do_not_see_it(
    api: Api, acme: Org, session: Session
) -> None:
    one, two = _issue(api, acme), _issue(api, acme)
    assert api.as_(acme.manager).delete(f"/api/v1/tokens/{one['id']}").status_code == 404
    assert api.as_(acme.outsider).delete(f"/api/v1/tokens/{one['id']}").status_code == 404
    assert api.as_(acme.agent).delete(f"/api/v1/tokens/{one['id']}").status_code == 204
    assert api.as_(acme.admin).delete(f"/api/v1/tokens/{two['id']}").status_code == 204
    for issued in (one, two):
        r = api.client.get("/api/v1/staff/me", headers=_bearer(issued["token"]))
        assert r.status_code == 401
    assert api.as_(acme.manager).get(f"/api/v1/tokens?staff_id={acme.agent.id}").status_code == 404
    revoked = api.as_(acme.admin).get(f"/api/v1/tokens?staff_id={acme.agent.id}").json()
    assert {t["id"] for t in revoked if t["revoked_at"]} == {one["id"], two["id"]}
    kinds = session.scalars(
        select(AuditEntry.kind).where(AuditEntry.company_id == acme.company.id)
    ).all()
    assert kinds.count(AuditKind.TOKEN_ISSUED) >= 2 and kinds.count(AuditKind.TOKEN_REVOKED) == 2


def test_tokens_for_someone_else_do_not_exist_and_supply_is_bounded(api: Api, acme: Org) -> None:
    r = api.as_(acme.agent).post("/api/v1/tokens", json={"name": "x", "staff_id": "1"})
    assert r.status_code == 422  # no such field: a token is always the caller's
    for _ in range(20):
        if api.as_(acme.guard).post("/api/v1/tokens", json={}).status_code == 409:
            break
    else:
        pytest.fail("an unbounded supply of tokens")


def test_deactivation_revokes_everything_held(api: Api, acme: Org, session: Session) -> None:
    issued = _issue(api, acme)
    assert api.as_(acme.guard).post(f"/api/v1/staff/{acme.agent.id}/deactivate").status_code == 403
    other = api.as_(acme.cleaner_other_project)
    assert other.post(f"/api/v1/staff/{acme.agent.id}/deactivate").status_code == 404
    r = api.as_(acme.manager).post(f"/api/v1/staff/{acme.agent.id}/deactivate")
    assert r.status_code == 200 and r.json()["active"] is False
    for token in (issued["token"], api.tokens[acme.agent.id]):
        assert api.client.get("/api/v1/staff/me", headers=_bearer(token)).status_code == 401
    session.expire_all()
    held = session.scalars(select(ApiToken).where(ApiToken.staff_id == acme.agent.id)).all()
    assert held and all(t.revoked_at is not None for t in held)
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.kind == AuditKind.STAFF_DEACTIVATED)
    ).one()
    assert entry.actor_id == acme.manager.id and entry.subject_id == acme.agent.id
    assert api.as_(acme.admin).post(f"/api/v1/staff/{acme.admin.id}/deactivate").status_code == 409


def _emergency(api: Api, acme: Org) -> str:
    r = api.as_(acme.guard).post(
        "/api/v1/complaints",
        json={
            "project_id": str(acme.project.id),
            "owner_id": str(acme.owner.id),
            "text": "地下车库着火了,有浓烟",
            "labels": {"category": "emergency", "department": "engineering"},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["labels"]["urgency"] == "critical"
    return str(r.json()["id"])


@pytest.mark.parametrize("change", [{"urgency": "low"}, {"category": "equipment"}])
def test_lowering_urgency_is_refused_below_supervisor(
    api: Api, acme: Org, change: dict[str, str]
) -> None:
    cid = _emergency(api, acme)
    for who in (acme.guard, acme.agent, acme.engineer):
        r = api.as_(who).post(f"/api/v1/complaints/{cid}/labels", json={**change, "reason": "x"})
        assert r.status_code == 403, (who.username, r.text)
    after = api.as_(acme.agent).get(f"/api/v1/complaints/{cid}").json()["labels"]
    assert (after["category"], after["urgency"]) == ("emergency", "critical")
    # Raising it stays open to anyone.
    r = api.as_(acme.guard).post(
        f"/api/v1/complaints/{cid}/labels", json={"nature": "help_seeking"}
    )
    assert r.status_code == 200


def test_the_owning_departments_supervisor_lowers_it_with_a_reason_on_record(
    api: Api, acme: Org, session: Session
) -> None:
    cid = _emergency(api, acme)
    sup = api.as_(acme.eng_supervisor)
    r = sup.post(f"/api/v1/complaints/{cid}/labels", json={"urgency": "low"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = sup.post(
        f"/api/v1/complaints/{cid}/labels",
        json={"category": "equipment", "urgency": "normal", "reason": "烟是隔壁烧烤,非火情"},
    )
    assert r.status_code == 200, r.text
    events = api.as_(acme.agent).get(f"/api/v1/complaints/{cid}/events").json()
    lowered = [e for e in events if e["kind"] == "label_corrected" and e["field"] == "urgency"]
    assert lowered[0]["data"] == {"reason": "烟是隔壁烧烤,非火情"}
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.kind == AuditKind.URGENCY_LOWERED)
    ).one()
    assert entry.actor_id == acme.eng_supervisor.id and entry.subject_id == int(cid)
    assert entry.data == {
        "old": {"category": "emergency", "urgency": "critical"},
        "new": {"category": "equipment", "urgency": "normal"},
        "reason": "烟是隔壁烧烤,非火情",
    }


def test_admins_search_their_companys_audit_trail_with_a_cursor(api: Api, acme: Org) -> None:
    for _ in range(3):
        _issue(api, acme)
    assert api.as_(acme.manager).get("/api/v1/audit").status_code == 403
    admin = api.as_(acme.admin)
    page = admin.get("/api/v1/audit", params={"kind": "token_issued", "limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = admin.get(
        "/api/v1/audit", params={"kind": "token_issued", "cursor": page["next_cursor"]}
    ).json()
    ids = [e["id"] for e in page["items"] + rest["items"]]
    assert len(ids) == len(set(ids)) >= 3
    by_actor = admin.get("/api/v1/audit", params={"actor_id": str(acme.agent.id)}).json()
    assert {e["actor_id"] for e in by_actor["items"]} == {str(acme.agent.id)}
    # Another company's administrator sees none of it.
    outsider_admin_view = api.as_(acme.outsider).get("/api/v1/audit")
    assert outsider_admin_view.status_code == 403


def test_the_audit_table_refuses_update_and_delete(engine: Engine) -> None:
    """On a real connection of the application's role, outside the test's savepoints."""
    entry_id = new_id()
    with engine.begin() as conn:
        conn.execute(
            AuditEntry.__table__.insert().values(  # type: ignore[attr-defined]
                id=entry_id, company_id=entry_id, at=NOW, kind="sign_in"
            )
        )
    for statement in (
        "UPDATE audit_log SET kind = 'x' WHERE id = :id",
        "DELETE FROM audit_log WHERE id = :id",
    ):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement), {"id": entry_id})
    with engine.connect() as conn:
        kind = conn.execute(text("SELECT kind FROM audit_log WHERE id = :id"), {"id": entry_id})
        assert kind.scalar() == "sign_in"
