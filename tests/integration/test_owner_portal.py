"""The owner portal's services on both databases: sign-in codes, seeing only one's own
complaints (page, link, photo), submitting with a photo, rating the return visit."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.models import Complaint, Outbox, Owner
from complaintdesk.domain.errors import InvalidInput, NotFound, RateLimited, TransitionNotAllowed
from complaintdesk.domain.taxonomy import Channel, Department
from complaintdesk.services import dispatch, intake, org, owner_links, owner_portal, resolve
from tests.conftest import NOW, Org

CLASSIFIER = KeywordClassifier()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def _code_sent(session: Session, phone: str) -> str:
    message = session.scalars(
        select(Outbox)
        .where(Outbox.recipient == phone, Outbox.kind == "sign_in_code")
        .order_by(Outbox.id.desc())
    ).first()
    assert message is not None
    found = re.search(r"\b(\d{6})\b", message.body)
    assert found is not None
    return found.group(1)


def _sign_in(session: Session, phone: str) -> owner_portal.Viewer:
    owner_portal.request_code(session, phone, client="1.2.3.4", now=NOW)
    owners = owner_portal.verify_code(
        session, phone, _code_sent(session, phone), client="1.2.3.4", now=NOW
    )
    assert owners
    return owner_portal.Viewer(frozenset(o.id for o in owners))


def _other_owner(session: Session, acme: Org) -> Owner:
    return org.create_owner(
        session, acme.company, name="Bob", phone="13900000002", unit_ids=[acme.unit.id]
    )


def _complaint(session: Session, acme: Org, owner: Owner, text: str = "电梯坏了") -> Complaint:
    return intake.register(
        session,
        acme.agent,
        intake.NewComplaint(
            project_id=acme.project.id,
            text=text,
            channel=Channel.PHONE,
            owner_id=owner.id,
            unit_id=acme.unit.id,
        ),
        CLASSIFIER,
        NOW,
    )


def test_a_code_signs_in_once(session: Session, acme: Org) -> None:
    phone = acme.owner.phone
    assert phone is not None
    owner_portal.request_code(session, phone, client="c", now=NOW)
    code = _code_sent(session, phone)
    wrong = "000000" if code != "000000" else "111111"
    assert owner_portal.verify_code(session, phone, wrong, client="c", now=NOW) == []
    owners = owner_portal.verify_code(session, phone, code, client="c", now=NOW)
    assert [o.id for o in owners] == [acme.owner.id]
    # Used: the same code does not sign in again.
    assert owner_portal.verify_code(session, phone, code, client="c", now=NOW) == []


def test_a_code_expires_and_wrong_guesses_end_it(session: Session, acme: Org) -> None:
    phone = acme.owner.phone
    assert phone is not None
    owner_portal.request_code(session, phone, client="c", now=NOW)
    code = _code_sent(session, phone)
    later = NOW + owner_portal.CODE_LIFETIME + timedelta(seconds=1)
    assert owner_portal.verify_code(session, phone, code, client="c", now=later) == []
    owner_portal.request_code(session, phone, client="c", now=NOW)
    code = _code_sent(session, phone)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(owner_portal.CODE_GUESSES):
        owner_portal.verify_code(session, phone, wrong, client="c", now=NOW)
    assert owner_portal.verify_code(session, phone, code, client="c", now=NOW) == []


def test_codes_are_rate_limited_and_unknown_numbers_get_nothing(
    session: Session, acme: Org
) -> None:
    phone = acme.owner.phone
    assert phone is not None
    for _ in range(owner_portal.CODES_PER_PHONE):
        owner_portal.request_code(session, phone, client="c", now=NOW)
    with pytest.raises(RateLimited):
        owner_portal.request_code(session, phone, client="c", now=NOW)
    owner_portal.request_code(session, "13999999999", client="c", now=NOW)
    assert session.scalars(select(Outbox).where(Outbox.recipient == "13999999999")).all() == []
    with pytest.raises(InvalidInput) as err:
        owner_portal.request_code(session, "not a phone", client="c", now=NOW)
    assert err.value.field == "phone"


def test_guesses_are_rate_limited_per_phone(session: Session, acme: Org) -> None:
    phone = acme.owner.phone
    assert phone is not None
    for _ in range(owner_portal.GUESSES_PER_PHONE):
        owner_portal.verify_code(session, phone, "123456", client="c", now=NOW)
    with pytest.raises(RateLimited):
        owner_portal.verify_code(session, phone, "123456", client="other", now=NOW)


def test_owner_a_cannot_reach_owner_bs_complaint_or_photo(session: Session, acme: Org) -> None:
    bob = _other_owner(session, acme)
    mine = _complaint(session, acme, acme.owner)
    assert acme.owner.phone is not None and bob.phone is not None
    alice = _sign_in(session, acme.owner.phone)
    bobs_view = _sign_in(session, bob.phone)
    theirs = owner_portal.submit(
        session,
        bobs_view,
        unit_id=acme.unit.id,
        text="楼上漏水到我家",
        photo=owner_portal.check_photo(PNG),
        classifier=CLASSIFIER,
        now=NOW,
    )
    assert [c.id for c in owner_portal.my_complaints(session, alice)] == [mine.id]
    assert owner_portal.get_complaint(session, alice, mine.id) is mine
    with pytest.raises(NotFound):
        owner_portal.get_complaint(session, alice, theirs.id)
    ((photo_id, content_type, size),) = owner_portal.photos_of(session, theirs)
    assert content_type == "image/png" and size == len(PNG)
    assert owner_portal.get_photo(session, bobs_view, photo_id).data == PNG
    with pytest.raises(NotFound):
        owner_portal.get_photo(session, alice, photo_id)
    # A link opens its own complaint only.
    link = owner_portal.Viewer(complaint_id=mine.id)
    assert owner_portal.get_complaint(session, link, mine.id) is mine
    with pytest.raises(NotFound):
        owner_portal.get_complaint(session, link, theirs.id)
    with pytest.raises(NotFound):
        owner_portal.get_photo(session, link, photo_id)


def test_submitting_is_received_by_customer_service_with_the_owners_words(
    session: Session, acme: Org
) -> None:
    assert acme.owner.phone is not None
    viewer = _sign_in(session, acme.owner.phone)
    c = owner_portal.submit(
        session,
        viewer,
        unit_id=acme.unit.id,
        text="8号楼电梯停了,困在家里下不了楼",
        photo=owner_portal.check_photo(JPEG),
        classifier=CLASSIFIER,
        now=NOW,
    )
    assert c.owner_id == acme.owner.id and c.unit_id == acme.unit.id
    assert c.first_receiver_id == acme.agent.id  # the project's customer-service agent
    assert c.channel == "web" and c.status == "received"
    received = session.scalars(
        select(Outbox).where(Outbox.complaint_id == c.id, Outbox.kind == "received")
    ).one()
    assert received.recipient == acme.owner.phone
    outsider_unit = org.add_unit(
        session, org.add_building(session, acme.other_project, "1号楼"), "1-101"
    )
    with pytest.raises(InvalidInput) as err:
        owner_portal.submit(
            session,
            viewer,
            unit_id=outsider_unit.id,
            text="x",
            photo=None,
            classifier=CLASSIFIER,
            now=NOW,
        )
    assert err.value.field == "unit_id"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + b"\x00" * 10, "JPEG"),
        (b"<script>alert(1)</script>", "JPEG"),
        (JPEG + b"\x00" * owner_portal.PHOTO_MAX_BYTES, "MB"),
    ],
)
def test_photos_are_checked_by_their_bytes_and_size(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        owner_portal.check_photo(data)
    assert err.value.field == "photo" and message in str(err.value)


def test_owner_rates_the_visit_and_unsatisfied_reopens(session: Session, acme: Org) -> None:
    c = _complaint(session, acme, acme.owner)
    assert acme.owner.phone is not None
    viewer = _sign_in(session, acme.owner.phone)
    with pytest.raises(TransitionNotAllowed):
        owner_portal.rate(session, viewer, c, NOW, satisfaction=5)
    dispatch.dispatch(session, acme.agent, c, NOW, department=Department.ENGINEERING)
    resolve.resolve(
        session, acme.engineer, c, NOW, outcome=resolve.Outcome.FIXED, resolution="修好了"
    )
    bob = _other_owner(session, acme)
    assert bob.phone is not None
    with pytest.raises(NotFound):
        owner_portal.rate(session, _sign_in(session, bob.phone), c, NOW, satisfaction=1)
    owner_portal.rate(
        session, viewer, c, NOW + timedelta(hours=1), satisfaction=2, comment="还在响"
    )
    assert c.status == "dispatched" and c.reopen_count == 1 and c.satisfaction == 2
    kinds = session.scalars(
        select(Outbox.kind).where(Outbox.complaint_id == c.id).order_by(Outbox.id)
    ).all()
    assert kinds[-1] == "reopened"


def test_a_revoked_link_opens_nothing(session: Session, acme: Org) -> None:
    c = _complaint(session, acme, acme.owner)
    token = owner_links.issue(session, c, NOW)
    session.flush()
    assert owner_links.complaint_for(session, token, NOW) is c
    owner_links.revoke(session, acme.agent, c, NOW)
    assert owner_links.complaint_for(session, token, NOW) is None
