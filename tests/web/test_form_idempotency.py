"""A page form sent twice (a double click, the browser's retry after the server died
before answering) makes one complaint: the form carries its own Idempotency-Key."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaintdesk.db.models import Complaint
from tests.conftest import Org
from tests.web.conftest import Browser

Pages = Callable[..., Browser]


def _count(session: Session, acme: Org) -> int:
    session.expire_all()
    return (
        session.scalar(
            select(func.count())
            .select_from(Complaint)
            .where(Complaint.project_id == acme.project.id)
        )
        or 0
    )


def test_the_intake_form_sent_twice_registers_once(
    pages: Pages, acme: Org, session: Session
) -> None:
    agent = pages(acme.agent)
    html = agent.client.get("/intake").text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert key is not None
    again = re.search(r'name="idempotency_key" value="([^"]+)"', agent.client.get("/intake").text)
    assert again is not None and again.group(1) != key.group(1)  # one key per form shown
    data = {
        "project_id": str(acme.project.id),
        "who": f"{acme.owner.id}:{acme.unit.id}",
        "channel": "phone",
        "text": "楼道灯坏了一周了",
        "idempotency_key": key.group(1),
    }
    before = _count(session, acme)
    first = agent.post_form("/intake", data, token_from="/intake")
    second = agent.post_form("/intake", data, token_from="/intake")
    assert first.status_code == second.status_code == 303, second.text
    assert first.headers["location"] == second.headers["location"]
    assert _count(session, acme) == before + 1
    # The same key with other words is refused, not a second complaint.
    third = agent.post_form("/intake", {**data, "text": "另一件事"}, token_from="/intake")
    assert third.status_code in (409, 422) and _count(session, acme) == before + 1


def test_the_owner_portal_form_sent_twice_makes_one_complaint_with_one_photo(
    pages: Pages, acme: Org, session: Session
) -> None:
    from complaintdesk.db.models import ComplaintPhoto
    from tests.web.test_portal_pages import PNG, _owner_browser

    assert acme.owner.phone is not None
    alice = _owner_browser(pages, session, acme.owner.phone)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', alice.client.get("/portal/new").text)
    assert key is not None and key.group(1)
    before = _count(session, acme)
    answers = [
        alice.client.post(
            "/portal/new",
            data={
                "unit_id": str(acme.unit.id),
                "text": "楼上漏水到我家",
                "idempotency_key": key.group(1),
                "csrf_token": alice.csrf("/portal"),
            },
            files={"photo": ("leak.png", PNG, "image/png")},
            follow_redirects=False,
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in answers] == [303, 303], answers[1].text
    assert answers[0].headers["location"] == answers[1].headers["location"]
    assert _count(session, acme) == before + 1
    complaint_id = int(answers[0].headers["location"].rsplit("/", 1)[1])
    photos = session.scalars(
        select(ComplaintPhoto.id).where(ComplaintPhoto.complaint_id == complaint_id)
    ).all()
    assert len(photos) == 1
