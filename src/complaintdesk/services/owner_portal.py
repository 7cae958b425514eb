"""The owner portal's use cases: sign in with a one-time code, see one's own
complaints, submit one (with a photo), rate the return visit.

An owner is the person behind a phone number: every owner record with that number
(one per company they live in) is theirs. What is not theirs does not exist for them
(NotFound, never Forbidden), as in the API.

Sign-in codes: six digits, sent through the outbox (the log channel shows them in the
demo), valid :data:`CODE_LIFETIME`, used once, :data:`CODE_GUESSES` wrong guesses
end a code, and requests and guesses are rate limited per phone and per client
address (``services/ratelimit.py``, shared by every worker). Only a salted SHA-256 of
a code is stored: a leaked table gives nothing that outlives the code's ten minutes.
Requesting a code for a number we do not know does the same visible thing as for one
we know, so the form does not tell who our owners are.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaintdesk.classify.base import Classifier
from complaintdesk.db.ids import new_id
from complaintdesk.db.models import (
    Complaint,
    ComplaintPhoto,
    Outbox,
    Owner,
    OwnerCode,
    OwnerUnit,
    Project,
    Staff,
    StaffProject,
    Unit,
)
from complaintdesk.domain.errors import InvalidInput, NotFound
from complaintdesk.domain.messages import MessageKind, render
from complaintdesk.domain.taxonomy import Channel, Role, StaffDepartment
from complaintdesk.services import intake, ratelimit, visits
from complaintdesk.services.common import record_event

CODE_LIFETIME = timedelta(minutes=10)
CODE_GUESSES = 5
CODES_PER_PHONE = 5  # per hour
CODES_PER_CLIENT = 30  # per hour
GUESSES_PER_PHONE = 10  # per 15 minutes, across codes
GUESSES_PER_CLIENT = 50
MAX_COMPLAINTS_LISTED = 50
PHOTO_MAX_BYTES = 5 * 1024 * 1024
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp"}

_PHONE = re.compile(r"^\+?[0-9]{5,20}$")


def normalise_phone(raw: str) -> str:
    """A phone number as we store it: digits (and a leading +), no spaces or dashes."""
    phone = re.sub(r"[\s()-]", "", raw or "")
    if not _PHONE.match(phone):
        raise InvalidInput("enter a phone number / 请输入手机号码", field="phone")
    return phone


def owners_with_phone(session: Session, phone: str) -> list[Owner]:
    """Every owner record of this phone number (served by ``ix_owners_phone``)."""
    return list(session.scalars(select(Owner).where(Owner.phone == phone).order_by(Owner.id)))


def _code_hash(row_id: int, phone: str, code: str) -> str:
    return hashlib.sha256(f"{row_id}:{phone}:{code}".encode()).hexdigest()


def request_code(session: Session, raw_phone: str, *, client: str, now: datetime) -> None:
    """Send a sign-in code to this number if it is an owner's (through the outbox).
    Raises RateLimited past the limits; says nothing about whether the number is known."""
    phone = normalise_phone(raw_phone)
    hour = timedelta(hours=1)
    ratelimit.hit(
        session, f"owner-code:client:{client}", limit=CODES_PER_CLIENT, window=hour, now=now
    )
    ratelimit.hit(session, f"owner-code:phone:{phone}", limit=CODES_PER_PHONE, window=hour, now=now)
    owners = owners_with_phone(session, phone)
    if not owners:
        return
    code = f"{secrets.randbelow(10**6):06d}"
    row = OwnerCode(
        id=new_id(),
        phone=phone,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
        attempts=0,
        code_hash="",
    )
    row.code_hash = _code_hash(row.id, phone, code)
    session.add(row)
    owner = owners[0]
    language = owner.language if owner.language in ("zh", "en") else "zh"
    minutes = str(int(CODE_LIFETIME.total_seconds() // 60))
    rendered = render(MessageKind.SIGN_IN_CODE, language, {"code": code, "minutes": minutes})
    session.add(
        Outbox(
            id=new_id(),
            company_id=owner.company_id,
            owner_id=owner.id,
            kind=MessageKind.SIGN_IN_CODE.value,
            channel="sms",
            recipient=phone,
            language=language,
            subject=rendered.subject,
            body=rendered.body,
            dedupe_key=f"code:{row.id}",
            created_at=now,
            next_attempt_at=now,
        )
    )
    session.flush()


def verify_code(
    session: Session, raw_phone: str, code: str, *, client: str, now: datetime
) -> list[Owner]:
    """The owner records this code signs in to, or [] (wrong, used, expired, or too
    many guesses). Raises RateLimited past the limits."""
    phone = normalise_phone(raw_phone)
    window = timedelta(minutes=15)
    ratelimit.hit(
        session, f"owner-verify:client:{client}", limit=GUESSES_PER_CLIENT, window=window, now=now
    )
    ratelimit.hit(
        session, f"owner-verify:phone:{phone}", limit=GUESSES_PER_PHONE, window=window, now=now
    )
    row = session.scalar(
        select(OwnerCode)
        .where(OwnerCode.phone == phone, OwnerCode.used_at.is_(None), OwnerCode.expires_at > now)
        .order_by(OwnerCode.id.desc())
        .limit(1)
    )
    if row is None or row.attempts >= CODE_GUESSES:
        return []
    if not hmac.compare_digest(row.code_hash, _code_hash(row.id, phone, code.strip())):
        row.attempts += 1
        session.flush()
        return []
    row.used_at = now
    session.flush()
    return owners_with_phone(session, phone)


@dataclass(frozen=True)
class Viewer:
    """Who is looking at owner pages: the owner records of a signed-in phone, or the
    one complaint a link opens."""

    owner_ids: frozenset[int] = frozenset()
    complaint_id: int | None = None  # from a link: this complaint only

    def may_see(self, complaint: Complaint) -> bool:
        if self.complaint_id is not None and complaint.id == self.complaint_id:
            return True
        return complaint.owner_id is not None and complaint.owner_id in self.owner_ids


def my_complaints(session: Session, viewer: Viewer) -> list[Complaint]:
    """The owner's complaints, newest first (``ix_complaints_owner``)."""
    if not viewer.owner_ids:
        return []
    return list(
        session.scalars(
            select(Complaint)
            .where(Complaint.owner_id.in_(viewer.owner_ids))
            .order_by(Complaint.id.desc())
            .limit(MAX_COMPLAINTS_LISTED)
        )
    )


def get_complaint(session: Session, viewer: Viewer, complaint_id: int) -> Complaint:
    complaint = session.get(Complaint, complaint_id)
    if complaint is None or not viewer.may_see(complaint):
        raise NotFound(f"complaint {complaint_id} not found")
    return complaint


def my_units(session: Session, viewer: Viewer) -> list[tuple[Unit, Project]]:
    """The homes an owner may complain about (their own units)."""
    if not viewer.owner_ids:
        return []
    rows = session.execute(
        select(Unit, Project)
        .join(OwnerUnit, OwnerUnit.unit_id == Unit.id)
        .join(Project, Project.id == Unit.project_id)
        .where(OwnerUnit.owner_id.in_(viewer.owner_ids))
        .order_by(Project.code, Unit.name)
    )
    return [(u, p) for u, p in rows]


@dataclass(frozen=True)
class Photo:
    content_type: str
    data: bytes


def check_photo(data: bytes, declared: str | None = None) -> Photo:
    """A photo we accept: JPEG, PNG or WebP by its own bytes (not by what the browser
    claims), at most :data:`PHOTO_MAX_BYTES`."""
    if len(data) > PHOTO_MAX_BYTES:
        raise InvalidInput(
            f"the photo is larger than {PHOTO_MAX_BYTES // (1024 * 1024)} MB "
            f"/ 照片不能超过 {PHOTO_MAX_BYTES // (1024 * 1024)} MB",
            field="photo",
        )
    if data.startswith(b"\xff\xd8\xff"):
        kind = "image/jpeg"
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = "image/png"
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "image/webp"
    else:
        raise InvalidInput(
            "the photo must be a JPEG, PNG or WebP image / 照片须为 JPEG、PNG 或 WebP 格式",
            field="photo",
        )
    return Photo(kind, data)


def receiver_for(session: Session, project_id: int) -> Staff:
    """Who receives a complaint an owner submits online and answers for it
    (首问负责制): the project's customer-service agent, else any of its customer-service
    staff, else its supervisors and managers, the longest-serving first."""
    candidates = list(
        session.scalars(
            select(Staff)
            .join(StaffProject, StaffProject.staff_id == Staff.id)
            .where(StaffProject.project_id == project_id, Staff.active.is_(True))
            .order_by(Staff.id)
        )
    )

    def rank(s: Staff) -> int:
        if s.department == StaffDepartment.CUSTOMER_SERVICE and s.role == Role.AGENT:
            return 0
        if s.department == StaffDepartment.CUSTOMER_SERVICE:
            return 1
        if s.role in (Role.SUPERVISOR, Role.MANAGER):
            return 2
        return 3

    usable = sorted((s for s in candidates if rank(s) < 3), key=rank)
    if not usable:
        raise InvalidInput(
            "this project cannot take complaints online yet; please call us "
            "/ 该项目暂不支持在线投诉,请致电客服",
            field="unit_id",
        )
    return usable[0]


def submit(
    session: Session,
    viewer: Viewer,
    *,
    unit_id: int,
    text: str,
    photo: Photo | None,
    classifier: Classifier,
    now: datetime,
    idempotency_key: str | None = None,
) -> Complaint:
    """An owner's own complaint about one of their homes, received on their behalf by
    the project's customer service (who then answers for it). The same
    ``idempotency_key`` again (the form sent twice) returns the first complaint."""
    homes = {u.id: (u, p) for u, p in my_units(session, viewer)}
    if unit_id not in homes:
        raise InvalidInput("choose one of your homes / 请选择您的房屋", field="unit_id")
    unit, project = homes[unit_id]
    owner_id = session.scalar(
        select(OwnerUnit.owner_id).where(
            OwnerUnit.unit_id == unit_id, OwnerUnit.owner_id.in_(viewer.owner_ids)
        )
    )
    receiver = receiver_for(session, project.id)
    complaint, made = intake.register_once(
        session,
        receiver,
        intake.NewComplaint(
            project_id=project.id,
            text=text,
            channel=Channel.WEB,
            owner_id=owner_id,
            unit_id=unit.id,
            location=unit.name,
        ),
        classifier,
        now,
        idempotency_key=f"owner:{owner_id}:{idempotency_key}" if idempotency_key else None,
    )
    if not made:
        return complaint  # the form sent again: its photo and its event are there already
    record_event(
        session,
        complaint,
        None,
        "submitted_by_owner",
        now,
        data={"owner_id": str(owner_id), "photo": photo is not None},
    )
    if photo is not None:
        session.add(
            ComplaintPhoto(
                id=new_id(),
                complaint_id=complaint.id,
                content_type=photo.content_type,
                size=len(photo.data),
                data=photo.data,
                created_at=now,
            )
        )
    session.flush()
    return complaint


def photos_of(session: Session, complaint: Complaint) -> list[tuple[int, str, int]]:
    """(id, content type, size) of a complaint's photos, without their bytes."""
    rows = session.execute(
        select(ComplaintPhoto.id, ComplaintPhoto.content_type, ComplaintPhoto.size)
        .where(ComplaintPhoto.complaint_id == complaint.id)
        .order_by(ComplaintPhoto.id)
    )
    return [(i, t, s) for i, t, s in rows]


def photo_of(session: Session, complaint: Complaint, photo_id: int) -> ComplaintPhoto:
    """One photo of ``complaint``, for staff who may already see the complaint (the
    page's scope check); a photo of another complaint is not found."""
    photo = session.get(ComplaintPhoto, photo_id)
    if photo is None or photo.complaint_id != complaint.id:
        raise NotFound(f"photo {photo_id} not found")
    return photo


def get_photo(session: Session, viewer: Viewer, photo_id: int) -> ComplaintPhoto:
    """The photo, if its complaint is the viewer's; else NotFound naming the photo
    only (its complaint's id would tell that it exists)."""
    photo = session.get(ComplaintPhoto, photo_id)
    complaint = session.get(Complaint, photo.complaint_id) if photo is not None else None
    if photo is None or complaint is None or not viewer.may_see(complaint):
        raise NotFound(f"photo {photo_id} not found")
    return photo


def rate(
    session: Session,
    viewer: Viewer,
    complaint: Complaint,
    now: datetime,
    *,
    satisfaction: int,
    comment: str | None = None,
) -> None:
    """The owner's own return visit: satisfied readies it for closing, not satisfied
    reopens it (the same rule as a visit by phone, ``visits.record_visit``)."""
    if not viewer.may_see(complaint):
        raise NotFound(f"complaint {complaint.id} not found")
    visits.record_owner_visit(session, complaint, now, satisfaction=satisfaction, comment=comment)
