"""Request and response bodies. Ids are 64-bit: they travel as strings in JSON so that
JavaScript clients do not lose digits; numbers are accepted on input too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
)

from complaintdesk.db.models import (
    ApiToken,
    AuditEntry,
    Event,
    FollowUp,
    Outbox,
    Owner,
    Project,
    Staff,
    Visit,
)
from complaintdesk.domain import rules
from complaintdesk.domain.lifecycle import Outcome
from complaintdesk.domain.messages import mask_links
from complaintdesk.domain.sla import MAX_TARGET_MINUTES, Clock
from complaintdesk.domain.taxonomy import (
    Category,
    Channel,
    Department,
    Nature,
    Role,
    StaffDepartment,
    Urgency,
)
from complaintdesk.services import queries
from complaintdesk.services.privacy import Contact
from complaintdesk.services.queries import Person
from complaintdesk.web.presenter import ComplaintView

Id = Annotated[int, PlainSerializer(str, return_type=str), Field(ge=1, le=2**63 - 1)]


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is out of range") from exc


def _iso_only(value: Any) -> Any:
    """The document says ``date-time`` (ISO 8601): a bare number (which pydantic would
    read as seconds since 1970) is refused, as the document says it is."""
    if isinstance(value, int | float) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise ValueError("is an ISO 8601 time with its zone, e.g. 2026-11-02T09:00:00+08:00")
    return value


UtcTime = Annotated[AwareDatetime, BeforeValidator(_iso_only), AfterValidator(_to_utc)]
"""A time with its zone, as UTC; a time without a zone is refused (422)."""

# The shapes the services' cleaning rules (domain/rules.py) accept, stated in the schema
# so that a client knows them; the services still apply the rules themselves.
Text = Annotated[
    str, Field(min_length=1, max_length=rules.MAX_TEXT_CHARS, pattern=rules.TEXT_PATTERN)
]
"""Free text that must be given: not blank, no control characters."""
OptionalText = Annotated[str, Field(max_length=rules.MAX_TEXT_CHARS, pattern=rules.FREE_PATTERN)]
"""Free text that may be left blank."""
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=rules.NAME_PATTERN)]
"""A name that must be given: one line, not blank."""
Line40 = Annotated[str, Field(max_length=40, pattern=rules.LINE_PATTERN)]
Line100 = Annotated[str, Field(max_length=100, pattern=rules.LINE_PATTERN)]
Line200 = Annotated[str, Field(max_length=200, pattern=rules.LINE_PATTERN)]
"""One-line values (names, phone numbers, e-mail addresses) of at most N characters."""
Code = Annotated[
    str, Field(min_length=1, max_length=rules.MAX_CODE_CHARS, pattern=rules.CODE_PATTERN)
]
Username = Annotated[str, Field(min_length=1, max_length=80, pattern=rules.CODE_PATTERN)]
"""Codes and user names: letters, digits and ``_ . @ -``."""


class Labels(BaseModel):
    nature: Nature | None = None
    category: Category | None = None
    urgency: Urgency | None = None
    department: Department | None = None

    def given(self) -> dict[str, str]:
        return {k: v.value for k, v in self if v is not None}


class LabelsCorrection(Labels):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(max_length=1000, pattern=rules.FREE_PATTERN)] | None = Field(
        None,
        description="Why; required when the change lowers the urgency or takes the "
        "complaint out of emergency (supervisors and above only)",
    )

    def given(self) -> dict[str, str]:
        return {k: v.value for k, v in self if v is not None and k != "reason"}


class ComplaintCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: Id
    text: Text = Field(description="The owner's own words / 业主原话")
    channel: Channel = Channel.API
    owner_id: Id | None = None
    unit_id: Id | None = None
    caller_name: Line200 | None = None
    caller_phone: Line40 | None = None
    summary: OptionalText | None = Field(
        None, description="Main points as recorded by the receiver"
    )
    location: Annotated[str, Field(max_length=300, pattern=rules.FREE_PATTERN)] | None = None
    occurred_at: UtcTime | None = None
    labels: Labels | None = Field(None, description="Labels set by staff; the rest are suggested")


class DispatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    department: Department
    assignee_id: Id | None = None
    also: list[Department] = Field(default_factory=list, description="Other departments involved")
    note: Annotated[str, Field(max_length=2000, pattern=rules.FREE_PATTERN)] | None = None


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    resolution: Text
    owner_explanation: OptionalText | None = None
    effective: bool | None = None


class VisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    satisfaction: int = Field(ge=1, le=5, description="1 very unsatisfied … 5 very satisfied")
    comment: OptionalText | None = None


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cause: OptionalText | None = None
    lesson: OptionalText | None = None
    corrective_action: OptionalText | None = None
    preventive_action: OptionalText | None = None


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text
    next_follow_up_at: UtcTime | None = None


class StaffBrief(BaseModel):
    id: Id
    name: str
    department: str
    role: str

    @classmethod
    def of(cls, s: Staff | Person) -> StaffBrief:
        return cls(id=s.id, name=s.name, department=s.department, role=s.role)


class LabelsOut(BaseModel):
    nature: str
    category: str
    urgency: str
    department: str
    target: str
    names: dict[str, dict[str, str]]
    source: str
    confidence: dict[str, Any] | None
    model_version: str | None
    needs_review: bool


class ComplaintOut(BaseModel):
    id: Id
    reference: str
    project_id: Id
    unit_id: Id | None
    owner_id: Id | None
    caller_name: str | None
    channel: str
    text: str
    summary: str | None
    location: str | None
    occurred_at: datetime | None
    received_at: datetime
    first_receiver: StaffBrief | None
    status: str
    status_name: dict[str, str]
    labels: LabelsOut
    departments: list[dict[str, Any]]
    assignee_id: Id | None
    respond_by: datetime | None
    resolve_by: datetime | None
    visit_by: datetime | None
    responded_at: datetime | None
    resolved_at: datetime | None
    visited_at: datetime | None
    closed_at: datetime | None
    escalation_level: int
    response_breached: bool
    resolution_breached: bool
    next_follow_up_at: datetime | None
    repeat_of_id: Id | None
    risk_flags: list[str]
    upgraded: bool
    reopen_count: int
    resolution: dict[str, Any] | None
    satisfaction: int | None
    summary_of_handling: dict[str, str | None] | None
    allowed_actions: list[str]
    version: int

    timezone: str = Field(description="The project's time zone, for showing these times")
    assignee: StaffBrief | None = None
    actions: list[str] | None = Field(
        None, description="What the caller may do now: the state's steps their role allows"
    )

    @classmethod
    def of(cls, v: ComplaintView) -> ComplaintOut:
        """The wire form of the shared read model (:mod:`complaintdesk.web.presenter`)."""
        return cls.model_validate(complaint_wire(v))


def staff_wire(s: Staff | Person) -> dict[str, Any]:
    """:class:`StaffBrief`'s JSON form."""
    return {"id": str(s.id), "name": s.name, "department": s.department, "role": s.role}


def complaint_wire(
    v: ComplaintView, people: dict[int, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """:class:`ComplaintOut`'s JSON form of a view, in plain values ready to be written
    as JSON (ids as strings): the one definition of the complaint on the wire. A list
    writes these dicts as JSON once (:func:`~complaintdesk.web.api.complaints.page`),
    instead of making and checking a model per complaint and then checking the page
    again (about a third of a list's time in process); one complaint is checked into
    :class:`ComplaintOut`. ``people``: the staff already written, by id, shared down a
    list."""
    c = v.row
    people = {} if people is None else people
    return {
        "id": str(c.id),
        "reference": v.reference,
        "project_id": str(c.project_id),
        "unit_id": _id(c.unit_id),
        "owner_id": _id(c.owner_id),
        "caller_name": c.caller_name,
        "channel": c.channel,
        "text": c.text,
        "summary": c.summary,
        "location": c.location,
        "occurred_at": c.occurred_at,
        "received_at": c.received_at,
        "first_receiver": _person(v.receiver, people),
        "status": c.status,
        "status_name": v.status.names,
        "labels": {
            "nature": c.nature,
            "category": c.category,
            "urgency": c.urgency,
            "department": c.department,
            "target": v.target.code,
            "names": {k: label.value.names for k, label in v.labels.items()},
            "source": c.label_source,
            "confidence": v.confidence,
            "model_version": c.model_version,
            "needs_review": c.needs_review,
        },
        "departments": [{"department": d.code, "lead": lead} for d, lead in v.departments],
        "assignee_id": _id(c.assignee_id),
        "respond_by": c.respond_by,
        "resolve_by": c.resolve_by,
        "visit_by": c.visit_by,
        "responded_at": c.responded_at,
        "resolved_at": c.resolved_at,
        "visited_at": c.visited_at,
        "closed_at": c.closed_at,
        "escalation_level": c.escalation_level,
        "response_breached": c.response_breached,
        "resolution_breached": c.resolution_breached,
        "next_follow_up_at": c.next_follow_up_at,
        "repeat_of_id": _id(c.repeat_of_id),
        "risk_flags": list(c.risk_flags or []),
        "upgraded": c.upgraded,
        "reopen_count": c.reopen_count,
        "resolution": None
        if c.resolution_outcome is None
        else {
            "outcome": c.resolution_outcome,
            "text": c.resolution,
            "owner_explanation": c.owner_explanation,
            "effective": c.effective,
        },
        "satisfaction": c.satisfaction,
        "summary_of_handling": None
        if c.closed_at is None
        else {
            "cause": c.summary_cause,
            "lesson": c.summary_lesson,
            "corrective_action": c.corrective_action,
            "preventive_action": c.preventive_action,
        },
        "allowed_actions": v.allowed_actions,
        "version": c.version,
        "timezone": v.timezone,
        "assignee": _person(v.assignee, people),
        "actions": v.actions,
    }


def _id(value: int | None) -> str | None:
    return None if value is None else str(value)


def _person(s: Person | None, people: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    if s is None:
        return None
    wire = people.get(s.id)
    if wire is None:
        wire = people[s.id] = staff_wire(s)
    return wire


class ComplaintPage(BaseModel):
    items: list[ComplaintOut]
    next_cursor: str | None
    searched_from: datetime | None = Field(
        None, description="A search: the oldest moment it looked at (null: all history)"
    )


class EventOut(BaseModel):
    id: Id
    at: datetime
    actor: StaffBrief | None
    kind: str
    field: str | None
    old: str | None
    new: str | None
    data: dict[str, Any] | None

    @classmethod
    def of(cls, e: Event, actor: Person | None) -> EventOut:
        return cls(
            id=e.id,
            at=e.at,
            actor=StaffBrief.of(actor) if actor else None,
            kind=e.kind,
            field=e.field,
            old=e.old,
            new=e.new,
            data=queries.event_data(e),
        )


class FollowUpOut(BaseModel):
    id: Id
    at: datetime
    staff_id: Id
    note: str
    next_follow_up_at: datetime | None

    @classmethod
    def of(cls, f: FollowUp) -> FollowUpOut:
        return cls(
            id=f.id,
            at=f.at,
            staff_id=f.staff_id,
            note=f.note,
            next_follow_up_at=f.next_follow_up_at,
        )


class VisitOut(BaseModel):
    id: Id
    at: datetime
    staff_id: Id | None
    satisfaction: int
    satisfied: bool
    comment: str | None

    @classmethod
    def of(cls, v: Visit) -> VisitOut:
        return cls(
            id=v.id,
            at=v.at,
            staff_id=v.staff_id,
            satisfaction=v.satisfaction,
            satisfied=v.satisfied,
            comment=v.comment,
        )


class MessageOut(BaseModel):
    id: Id
    kind: str
    channel: str
    recipient: str
    language: str
    subject: str
    body: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, m: Outbox, recipient: str) -> MessageOut:
        """``recipient`` as the viewer may see it (see services/privacy)."""
        return cls(
            id=m.id,
            kind=m.kind,
            channel=m.channel,
            recipient=recipient,
            language=m.language,
            subject=m.subject,
            body=mask_links(m.body),  # the owner's link token is theirs, not staff's
            status=m.status,
            attempts=m.attempts,
            created_at=m.created_at,
            sent_at=m.sent_at,
        )


class OwnerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    phone: Line40 | None = None
    email: Line200 | None = None
    language: str = Field("zh", pattern="^(zh|en)$")
    contact_channel: str = Field("sms", pattern="^(sms|wechat|email)$")
    unit_ids: list[Id] = Field(
        min_length=1,
        max_length=20,
        description="The units the owner lives in, on the caller's projects: an owner is "
        "visible to the staff of the projects where they live or have complained",
    )


class OwnerOut(BaseModel):
    id: Id
    name: str
    phone: str | None = Field(description="In full to those who call owners back, else masked")
    email: str | None
    contact_masked: bool = Field(description="Whether phone and email are masked (139****1111)")
    language: str
    contact_channel: str
    unit_ids: list[Id]

    @classmethod
    def of(cls, o: Owner, contact: Contact) -> OwnerOut:
        """``contact`` as the viewer may see it (see services/privacy)."""
        return cls(
            id=o.id,
            name=o.name,
            phone=contact.phone,
            email=contact.email,
            contact_masked=contact.masked,
            language=o.language,
            contact_channel=o.contact_channel,
            unit_ids=[u.id for u in o.units],
        )


SlaOverrides = dict[
    Urgency,
    dict[Clock, Annotated[float, Field(gt=0, le=MAX_TARGET_MINUTES, allow_inf_nan=False)]],
]
"""SLA targets in minutes by urgency and clock, as the services accept them."""


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code
    name: Name
    city: Line100 | None = None
    sla_overrides: SlaOverrides | None = Field(
        None, description='Minutes per urgency and clock, e.g. {"high": {"response": 60}}'
    )

    def plain_sla_overrides(self) -> dict[str, dict[str, float]] | None:
        if self.sla_overrides is None:
            return None
        return {
            u.value: {c.value: m for c, m in cl.items()} for u, cl in self.sla_overrides.items()
        }


class ProjectOut(BaseModel):
    id: Id
    code: str
    name: str
    city: str | None
    timezone: str
    sla_overrides: dict[str, Any] | None

    @classmethod
    def of(cls, p: Project) -> ProjectOut:
        return cls(
            id=p.id,
            code=p.code,
            name=p.name,
            city=p.city,
            timezone=p.timezone,
            sla_overrides=p.sla_overrides,
        )


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username
    name: Name
    department: StaffDepartment
    role: Role
    project_ids: list[Id] = Field(default_factory=list)
    email: Line200 | None = None
    phone: Line40 | None = None


class StaffOut(BaseModel):
    id: Id
    username: str
    name: str
    department: str
    role: str
    project_ids: list[Id]
    active: bool

    @classmethod
    def of(cls, s: Staff) -> StaffOut:
        return cls(
            id=s.id,
            username=s.username,
            name=s.name,
            department=s.department,
            role=s.role,
            project_ids=sorted(s.project_ids),
            active=s.active,
        )


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Line100 = Field("", description="What the token is for (a device, a script)")
    expires_in_days: int = Field(90, ge=1, le=366)


class TokenOut(BaseModel):
    """A token as its holder and administrators see it: never the token itself."""

    id: Id
    staff_id: Id
    name: str
    issued_by_id: Id | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: ApiToken) -> TokenOut:
        return cls(
            id=t.id,
            staff_id=t.staff_id,
            name=t.name,
            issued_by_id=t.issued_by_id,
            created_at=t.created_at,
            expires_at=t.expires_at,
            last_used_at=t.last_used_at,
            revoked_at=t.revoked_at,
        )


class TokenIssued(TokenOut):
    token: str = Field(description="Shown once; only its hash is stored")


class AuditOut(BaseModel):
    id: Id
    at: datetime
    actor_id: Id | None
    kind: str
    subject_type: str | None
    subject_id: Id | None
    address: str | None
    data: dict[str, Any] | None

    @classmethod
    def of(cls, a: AuditEntry) -> AuditOut:
        return cls(
            id=a.id,
            at=a.at,
            actor_id=a.actor_id,
            kind=a.kind,
            subject_type=a.subject_type,
            subject_id=a.subject_id,
            address=a.address,
            data=a.data,
        )


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None
