"""What the owner hears, on both databases: the explanation when it is not ours, local
times, words that fit the nature, the owner's own language, single-language
escalations, and a link to the owner's page that can be revoked."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.models import Complaint, Outbox, OwnerLink
from complaintdesk.domain.errors import Forbidden
from complaintdesk.domain.messages import mask_links
from complaintdesk.domain.taxonomy import Channel, Department
from complaintdesk.services import (
    closing,
    dispatch,
    intake,
    owner_links,
    resolve,
    visits,
)
from complaintdesk.services.escalation import sweep
from tests.conftest import NOW, Org

CLASSIFIER = KeywordClassifier()
LINK = re.compile(r"/l/([A-Za-z0-9_-]{16,})")


def _register(
    session: Session,
    acme: Org,
    text: str = "8号楼电梯停了两天了,还没人来修",
    *,
    nature: str | None = None,
    owner: bool = True,
    **kw: object,
) -> Complaint:
    labels = {"nature": nature} if nature else {}
    new = intake.NewComplaint(
        project_id=acme.project.id,
        text=text,
        channel=Channel.PHONE,
        owner_id=acme.owner.id if owner else None,
        labels=labels,
        **kw,  # type: ignore[arg-type]
    )
    return intake.register(session, acme.guard, new, CLASSIFIER, NOW)


def _messages(session: Session, complaint: Complaint, kind: str | None = None) -> list[Outbox]:
    query = select(Outbox).where(Outbox.complaint_id == complaint.id).order_by(Outbox.id)
    if kind is not None:
        query = query.where(Outbox.kind == kind)
    return list(session.scalars(query))


def _to_resolved(
    session: Session, acme: Org, complaint: Complaint, outcome: resolve.Outcome, **kw: str
) -> None:
    dispatch.dispatch(
        session,
        acme.agent,
        complaint,
        NOW + timedelta(minutes=5),
        department=Department.ENGINEERING,
        assignee_id=acme.engineer.id,
    )
    resolve.resolve(
        session, acme.engineer, complaint, NOW + timedelta(hours=1), outcome=outcome, **kw
    )


@pytest.mark.parametrize(
    "outcome", [resolve.Outcome.NOT_OUR_RESPONSIBILITY, resolve.Outcome.CANNOT_FIX_NOW]
)
def test_owner_reads_the_explanation_when_not_ours_or_not_now(
    session: Session, acme: Org, outcome: resolve.Outcome
) -> None:
    c = _register(session, acme)
    explanation = "该管道属自来水公司产权,我们已代您报修(工单 8812),并会每天跟进进度"
    _to_resolved(
        session, acme, c, outcome, resolution="转自来水公司", owner_explanation=explanation
    )
    (message,) = _messages(session, c, "resolved")
    assert explanation in message.body
    assert "。。" not in message.body


def test_consultation_is_not_told_its_complaint_was_received(session: Session, acme: Org) -> None:
    question = _register(session, acme, "请问物业费每年什么时候交?", nature="consulting")
    help_ = _register(session, acme, "家里水管爆了,请派人来帮忙", nature="help_seeking")
    complaint = _register(session, acme, "电梯又坏了,你们到底管不管", nature="dissatisfaction")
    (q,) = _messages(session, question, "received")
    (h,) = _messages(session, help_, "received")
    (d,) = _messages(session, complaint, "received")
    assert "投诉" not in q.subject + q.body and "咨询" in q.subject
    assert "投诉" not in h.subject + h.body and "求助" in h.subject
    assert d.subject.startswith("您的投诉已受理")
    _to_resolved(session, acme, question, resolve.Outcome.ANSWERED, resolution="每年一月缴纳")
    (answer,) = _messages(session, question, "resolved")
    assert "答复" in answer.subject and "每年一月缴纳" in answer.body
    assert "投诉" not in answer.subject + answer.body


def test_english_owner_hears_of_an_enquiry_not_a_complaint(session: Session, acme: Org) -> None:
    acme.owner.language = "en"
    c = _register(session, acme, "When is the management fee due?", nature="consulting")
    (m,) = _messages(session, c, "received")
    assert "enquiry" in m.subject and "complaint" not in (m.subject + m.body).lower()


def test_times_are_in_the_projects_local_time(session: Session, acme: Org) -> None:
    c = _register(session, acme)
    (m,) = _messages(session, c, "received")
    assert c.respond_by is not None
    local = c.respond_by.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    utc = c.respond_by.strftime("%Y-%m-%d %H:%M")
    assert local != utc  # the test means something: Shanghai is UTC+8
    assert local in m.body and utc not in m.body and "UTC" not in m.body


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The lift in building 8 has been broken for two days, nobody came", "en"),
        ("8号楼电梯坏了两天了,没人来修", "zh"),
    ],
)
def test_caller_without_a_record_is_written_to_in_their_language(
    session: Session, acme: Org, text: str, language: str
) -> None:
    c = _register(
        session, acme, text, owner=False, caller_name="Caller", caller_phone="13900000009"
    )
    (m,) = _messages(session, c, "received")
    assert m.language == language
    has_chinese = re.search(r"[\u4e00-\u9fff]", m.body.replace(text, "")) is not None
    assert has_chinese is (language == "zh")


def test_escalation_mail_is_wholly_in_the_staff_members_language(
    factory: sessionmaker[Session], session: Session, acme: Org
) -> None:
    acme.eng_supervisor.language = "en"
    c = _register(session, acme)
    session.commit()
    assert c.respond_by is not None
    sweep(factory, c.respond_by + timedelta(minutes=1))
    session.expire_all()
    escalations = _messages(session, c, "escalated")
    assert {m.staff_id for m in escalations} >= {acme.eng_supervisor.id, acme.guard.id}
    names = {"guard", "eng-sup", "TS"}
    for m in escalations:
        text = m.subject + m.body
        for name in names:
            text = text.replace(name, "")
        if m.language == "zh":
            assert re.search(r"[A-Za-z]", text) is None, m.body
        else:
            assert re.search(r"[\u4e00-\u9fff]", text) is None, m.body
    assert {m.language for m in escalations} == {"zh", "en"}


def test_every_owner_message_links_to_the_complaint_and_the_link_can_be_revoked(
    session: Session, acme: Org
) -> None:
    c = _register(session, acme)
    _to_resolved(session, acme, c, resolve.Outcome.FIXED, resolution="更换了门机板")
    visits.record_visit(session, acme.agent, c, NOW + timedelta(hours=2), satisfaction=5)
    closing.close(
        session,
        acme.agent,
        c,
        NOW + timedelta(hours=3),
        closing.Summary(cause="a", lesson="b", corrective_action="c", preventive_action="d"),
    )
    owner_messages = [m for m in _messages(session, c) if m.staff_id is None]
    assert len(owner_messages) == 5
    tokens = []
    for m in owner_messages:
        found = LINK.search(m.body)
        assert found is not None, m.body
        tokens.append(found.group(1))
        assert found.group(1) not in mask_links(m.body)
    # One link a complaint: every message carries it, one row holds its hash.
    assert len(set(tokens)) == 1
    stored = list(session.scalars(select(OwnerLink).where(OwnerLink.complaint_id == c.id)))
    assert len(stored) == 1
    assert not {s.token_hash for s in stored} & set(tokens)  # only hashes are kept
    later = NOW + timedelta(days=1)
    for token in tokens:
        opened = owner_links.complaint_for(session, token, later)
        assert opened is not None and opened.id == c.id
    assert owner_links.complaint_for(session, tokens[0] + "x", later) is None
    # Each message's link works a year after the message, not for ever.
    last = owner_messages[-1].created_at
    assert owner_links.complaint_for(session, tokens[0], last + owner_links.LINK_LIFETIME)
    assert owner_links.complaint_for(session, tokens[0], NOW + timedelta(days=400)) is None
    assert owner_links.revoke(session, acme.agent, c, later) == 1
    assert all(owner_links.complaint_for(session, t, later) is None for t in tokens)
    # After a revocation the next message carries a new link, which opens.
    fresh = owner_links.issue(session, c, later)
    session.flush()
    assert fresh not in tokens
    assert owner_links.complaint_for(session, fresh, later) is c


def test_a_link_is_reused_only_while_it_has_a_year_left(session: Session, acme: Org) -> None:
    c = _register(session, acme)
    session.flush()
    first = owner_links.issue(session, c, NOW)
    session.flush()
    same = owner_links.issue(session, c, NOW + owner_links.REUSE)
    session.flush()
    assert same == first
    later = NOW + owner_links.REUSE + timedelta(minutes=1)
    other = owner_links.issue(session, c, later)
    session.flush()
    assert other != first
    # Both open the complaint: the older link until it expires.
    for token in (first, other):
        assert owner_links.complaint_for(session, token, later) is c
    assert owner_links.complaint_for(session, first, later + owner_links.LINK_LIFETIME) is None
    assert owner_links.complaint_for(session, other, later + owner_links.LINK_LIFETIME) is c


def test_a_link_made_under_another_secret_still_opens_and_is_not_reused(
    session: Session, acme: Org
) -> None:
    c = _register(session, acme)
    session.flush()
    # A link from before links were reused (a random token): only its hash is known.
    session.add(
        OwnerLink(
            complaint_id=c.id,
            token_hash=owner_links._hash("an-older-random-token"),
            created_at=NOW,
            expires_at=NOW + owner_links.LINK_LIFETIME + owner_links.REUSE,
        )
    )
    session.flush()
    assert owner_links.complaint_for(session, "an-older-random-token", NOW) is c
    made = owner_links.issue(session, c, NOW)
    session.flush()
    assert made != "an-older-random-token"
    assert owner_links.complaint_for(session, made, NOW) is c
    assert owner_links.complaint_for(session, "an-older-random-token", NOW) is c


def test_only_coordinators_revoke_links(session: Session, acme: Org) -> None:
    c = _register(session, acme)
    with pytest.raises(Forbidden):
        owner_links.revoke(session, acme.engineer, c, NOW)
    # The first receiver (a guard) coordinates their complaint and may.
    assert owner_links.revoke(session, acme.guard, c, NOW) == 1
