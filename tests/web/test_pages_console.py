"""The staff console through its forms: intake with the suggestion, the complaint's
actions with errors beside their fields, scope (404), the review queue, messages to
the owner, follow-up reminders."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.models import Complaint, Event, Outbox
from complaintdesk.services import reminders
from complaintdesk.services.common import record_event
from tests.conftest import Org
from tests.web.conftest import Browser, Clock

Pages = Callable[..., Browser]


def _register(
    browser: Browser, acme: Org, text: str = "电梯坏了，困在里面，再不修就不交物业费", **labels: str
) -> str:
    r = browser.post_form(
        "/intake",
        {
            "project_id": str(acme.project.id),
            "who": f"{acme.owner.id}:{acme.unit.id}",
            "channel": "walk_in",
            "text": text,
            **labels,
        },
    )
    assert r.status_code == 303, r.text
    match = re.match(r"/complaints/(\d+)\?done=registered", r.headers["location"])
    assert match, r.headers["location"]
    return match.group(1)


def test_the_guard_finds_the_owner_sees_the_suggestion_and_registers(
    pages: Pages, acme: Org, session: Session
) -> None:
    guard = pages(acme.guard)
    found = guard.client.get("/intake/owners", params={"q": acme.owner.phone}).text
    assert f'value="{acme.owner.id}:{acme.unit.id}"' in found
    assert (
        f'value="{acme.owner.id}:{acme.unit.id}"'
        in guard.client.get("/intake/owners", params={"q": acme.unit.name}).text
    )
    token = guard.csrf("/intake")
    r = guard.client.post(
        "/intake/suggest",
        data={"project_id": str(acme.project.id), "text": "电梯坏了，再不修就不交物业费"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert 'data-test="suggestion-box"' in r.text
    assert 'data-test="confidence-category"' in r.text and "扬言拒交物业费" in r.text
    first = _register(guard, acme)
    page = guard.client.get(f"/complaints/{first}").text
    assert "电梯坏了" in page and 'data-test="form-dispatch"' in page
    row = session.get(Complaint, int(first))
    assert row is not None and row.first_receiver_id == acme.guard.id
    assert row.label_source == "auto"  # the labels were left as suggested
    # The same owner on the same matter again: intake warns before saving.
    r = guard.client.post(
        "/intake/suggest",
        data={
            "project_id": str(acme.project.id),
            "text": "电梯又坏了，上周刚报过",
            "who": f"{acme.owner.id}:{acme.unit.id}",
        },
        headers={"X-CSRF-Token": token},
    )
    assert 'data-test="same-matter"' in r.text and first in r.text
    # Saved anyway: the timeline's received event shows the link.
    again = _register(guard, acme, text="电梯又坏了，上周刚报过")
    page = guard.client.get(f"/complaints/{again}").text
    timeline = page[page.index('data-test="timeline"') :]
    assert 'data-test="repeat-of">' in timeline and f"/complaints/{first}" in timeline


def test_a_corrected_label_is_the_staffs_and_a_missing_caller_is_refused_at_the_field(
    pages: Pages, acme: Org, session: Session
) -> None:
    guard = pages(acme.guard)
    r = guard.post_form(
        "/intake",
        {"project_id": str(acme.project.id), "who": "caller", "text": "楼道很脏"},
    )
    assert r.status_code == 422
    assert 'data-test="error-who"' in r.text or 'data-test="intake-error"' in r.text
    assert "楼道很脏" in r.text  # nothing typed is lost
    r = guard.post_form(
        "/intake",
        {
            "project_id": str(acme.project.id),
            "who": "caller",
            "caller_phone": "13900000009",
            "text": "楼道很脏",
            "category": "service_quality",
            "suggested_category": "equipment",
        },
    )
    assert r.status_code == 303
    cid = int(r.headers["location"].split("/")[2].split("?")[0])
    row = session.get(Complaint, cid)
    assert row is not None and row.category == "service_quality" and row.owner_id is None


def test_dispatch_follow_up_resolve_with_errors_beside_the_fields(
    pages: Pages, acme: Org, session: Session, clock: Clock
) -> None:
    cid = _register(pages(acme.guard), acme, nature="dissatisfaction")
    sup = pages(acme.eng_supervisor)
    r = sup.post_form(
        f"/complaints/{cid}/dispatch",
        {"department": "engineering", "assignee_id": str(acme.outsider.id)},
    )
    assert r.status_code == 422 and 'data-test="error-dispatch-assignee_id"' in r.text
    r = sup.post_form(
        f"/complaints/{cid}/dispatch",
        {"department": "engineering", "assignee_id": str(acme.engineer.id), "also": "security"},
    )
    assert r.status_code == 303
    eng = pages(acme.engineer)
    assert eng.post_form(f"/complaints/{cid}/start", {}).status_code == 303
    r = eng.post_form(
        f"/complaints/{cid}/follow-up",
        {"note": "已联系厂家", "next_follow_up_at": "2020-01-01T10:00"},
    )
    assert r.status_code == 422 and 'data-test="error-follow_up-next_follow_up_at"' in r.text
    local_tomorrow = (clock.now + timedelta(hours=8, days=1)).strftime("%Y-%m-%dT%H:%M")
    r = eng.post_form(
        f"/complaints/{cid}/follow-up", {"note": "已联系厂家", "next_follow_up_at": local_tomorrow}
    )
    assert r.status_code == 303
    row = session.get(Complaint, int(cid))
    session.refresh(row)
    assert row is not None and row.next_follow_up_at == clock.now + timedelta(days=1)
    r = eng.post_form(
        f"/complaints/{cid}/resolve", {"outcome": "not_our_responsibility", "resolution": "燃气"}
    )
    assert r.status_code == 422 and 'data-test="error-resolve-owner_explanation"' in r.text
    r = eng.post_form(f"/complaints/{cid}/resolve", {"outcome": "fixed", "resolution": "已修好"})
    assert r.status_code == 303
    page = eng.client.get(f"/complaints/{cid}?done=resolve").text
    assert "已处理" in page and 'data-test="timeline"' in page
    # The dispatch event names its assignee (there is no "assigned" event beside it).
    timeline = page[page.index('data-test="timeline"') :]
    # Each step shows the status it reached (worked out from the kinds: status events
    # store no field, old, new), in order.
    steps = [timeline.index(name) for name in ("已受理", "已派单", "处理中", "已处理")]
    assert steps == sorted(steps), steps
    assert re.search(r'data-test="assigned">[^<]*' + re.escape(acme.engineer.name), timeline)
    agent = pages(acme.agent)
    assert agent.post_form(f"/complaints/{cid}/visit", {"satisfaction": "5"}).status_code == 303
    r = agent.post_form(f"/complaints/{cid}/close", {"cause": "门机老化"})
    assert r.status_code == 422 and 'data-test="error-close-lesson"' in r.text
    assert "门机老化" in r.text  # what was typed is kept
    summary = {
        "cause": "门机老化",
        "lesson": "定期检查",
        "corrective_action": "更换门机",
        "preventive_action": "每月保养",
    }
    assert agent.post_form(f"/complaints/{cid}/close", summary).status_code == 303


def test_other_companies_and_projects_get_404_pages(pages: Pages, acme: Org) -> None:
    cid = _register(pages(acme.guard), acme)
    for stranger in (acme.outsider, acme.cleaner_other_project):
        browser = pages(stranger)
        r = browser.client.get(f"/complaints/{cid}")
        assert r.status_code == 404 and "<html" in r.text
        r = browser.post_form(f"/complaints/{cid}/start", {}, token_from="/work")
        assert r.status_code == 404
        assert browser.client.get(f"/complaints/{cid}/reply-template").status_code == 404


def test_message_the_owner_goes_through_the_outbox_and_the_timeline(
    pages: Pages, acme: Org, session: Session
) -> None:
    guard = pages(acme.guard)
    cid = _register(guard, acme)
    draft = guard.client.get(
        f"/complaints/{cid}/reply-template", params={"template": "acknowledge"}
    ).text
    assert acme.owner.name in draft and f"TS{cid}" in draft
    r = guard.post_form(f"/complaints/{cid}/message", {"text": "王女士您好，师傅下午两点上门。"})
    assert r.status_code == 303
    sent = session.scalars(
        select(Outbox).where(Outbox.complaint_id == int(cid), Outbox.kind == "reply")
    ).all()
    assert len(sent) == 1 and "师傅下午两点上门" in sent[0].body
    assert session.scalar(
        select(Event.id).where(Event.complaint_id == int(cid), Event.kind == "owner_messaged")
    )


def test_the_review_queue_confirms_in_one_click(pages: Pages, acme: Org, session: Session) -> None:
    agent = pages(acme.agent)
    cid = _register(agent, acme, text="嗯")  # too little to be sure of
    row = session.get(Complaint, int(cid))
    assert row is not None
    if not row.needs_review:  # the classifier was sure after all: ask for a check anyway
        row.needs_review = True
        session.commit()
    assert f"/review/{cid}" in agent.client.get("/review").text
    r = agent.post_form(
        f"/review/{cid}",
        {k: getattr(row, k) for k in ("nature", "category", "urgency", "department")},
        token_from="/review",
    )
    assert r.status_code == 303
    session.refresh(row)
    assert row.needs_review is False and row.label_source == "auto"
    assert f"/review/{cid}" not in agent.client.get("/review").text


def test_a_passed_follow_up_date_reminds_author_and_assignee_once(
    pages: Pages, acme: Org, session: Session, factory: sessionmaker[Session], clock: Clock
) -> None:
    cid = _register(pages(acme.guard), acme)
    pages(acme.eng_supervisor).post_form(
        f"/complaints/{cid}/dispatch",
        {"department": "engineering", "assignee_id": str(acme.engineer.id)},
    )
    soon = (clock.now + timedelta(hours=8, minutes=30)).strftime("%Y-%m-%dT%H:%M")
    r = pages(acme.agent).post_form(
        f"/complaints/{cid}/follow-up", {"note": "等业主回电", "next_follow_up_at": soon}
    )
    assert r.status_code == 303
    assert reminders.remind_due(factory, clock.now) == 0  # not yet
    later = clock.now + timedelta(hours=1)
    assert reminders.remind_due(factory, later) == 2
    assert reminders.remind_due(factory, later + timedelta(hours=1)) == 0  # once
    told = session.scalars(
        select(Outbox.staff_id).where(
            Outbox.complaint_id == int(cid), Outbox.kind == "follow_up_due"
        )
    ).all()
    assert sorted(told) == sorted([acme.agent.id, acme.engineer.id])


def test_history_written_before_session_6_reads_as_it_did(
    pages: Pages, acme: Org, session: Session, clock: Clock
) -> None:
    """Events of the older shape stay in stored history (nothing rewrites them): an
    ``assigned`` event for each assignment and a ``repeat_flagged`` event for a repeat.
    The timeline names the assignee and links the earlier complaint from either shape."""
    guard = pages(acme.guard)
    first = _register(guard, acme, text="车库的灯坏了")
    again = _register(guard, acme, text="楼道的门关不上")
    received = session.scalars(select(Event).where(Event.complaint_id == int(again))).all()
    assert [e.kind for e in received] == ["received"] and not (received[0].data or {}).get(
        "repeat_of"
    )  # a different matter: the link below can only come from the old event
    for kind, field, new in (
        ("repeat_flagged", "repeat_of_id", first),
        ("assigned", "assignee_id", str(acme.engineer.id)),
        ("assigned", "assignee_id", None),
    ):
        record_event(session, int(again), acme.guard, kind, clock.now, field=field, new=new)
    session.commit()
    page = guard.client.get(f"/complaints/{again}").text
    timeline = page[page.index('data-test="timeline"') :]
    assert re.search(r'data-test="repeat-of">[^<]*<a href="/complaints/' + first, timeline)
    assert re.search(r'data-test="assigned">[^<]*' + re.escape(acme.engineer.name), timeline)
    assert "未指派" in timeline  # the old event that took the assignee away
