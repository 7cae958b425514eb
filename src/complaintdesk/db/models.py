"""The tables. Each model's docstring says what the thing means to the business.

Ids are time-ordered 64-bit integers made by :mod:`complaintdesk.db.ids`; timestamps are
stored in UTC. Codes (status, labels, channels) are stored as their string values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    relationship,
    validates,
)
from sqlalchemy.sql.selectable import ScalarSelect

from complaintdesk.db.ids import new_id
from complaintdesk.domain.lifecycle import OPEN_STATES

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


CONFIDENCE_LABELS = ("nature", "category", "urgency", "department")
CONFIDENCE_SCALE = 10_000
"""A label's confidence is stored times this, as a small integer (0014)."""


def scaled_confidences(value: Mapping[str, float] | None) -> dict[str, int | None]:
    """Confidences in [0, 1] as the integers the columns ``confidence_<label>`` hold."""
    value = value or {}
    scaled: dict[str, int | None] = {}
    for label in CONFIDENCE_LABELS:
        figure = value.get(label)
        scaled[label] = (
            None if figure is None else round(min(max(float(figure), 0.0), 1.0) * CONFIDENCE_SCALE)
        )
    return scaled


def confidences_of(scaled: Mapping[str, int | None]) -> dict[str, float] | None:
    """The columns' integers back as floats in [0, 1] (None: none stored)."""
    found = {k: v / CONFIDENCE_SCALE for k, v in scaled.items() if v is not None}
    return found or None


def utcnow() -> datetime:
    return datetime.now(UTC)


# JSONB on PostgreSQL: stored parsed and compact (no whitespace, keys once), and
# indexable; plain JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: Json, list[str]: Json}


def _id() -> Mapped[int]:
    return mapped_column(BigInteger, primary_key=True, default=new_id, autoincrement=False)


# Open work: a complaint is open until it is closed or withdrawn, which set
# ``closed_at`` (a CHECK constraint on PostgreSQL keeps the two in step). The partial
# indexes of open work say it this way, not ``status IN (...)``: a predicate column
# that changes defeats HOT updates, and ``status`` changes at every step of the
# lifecycle while ``closed_at`` is set once. Queries must spell it the same way
# (``Complaint.closed_at.is_(None)``) for the planner to use these indexes.
OPEN_PREDICATE = "closed_at IS NULL"
CLOSED_PREDICATE = "closed_at IS NOT NULL"
OPEN_STATUS = "status IN ({})".format(", ".join(f"'{s.value}'" for s in OPEN_STATES))


def _open_index(name: str, *columns: str) -> Index:
    """A partial index over open complaints only: it stays small however large the
    history grows."""
    return Index(
        name,
        *columns,
        postgresql_where=text(OPEN_PREDICATE),
        sqlite_where=text(OPEN_PREDICATE),
    )


def _follow_up_index(name: str, person: str) -> Index:
    """A person's open complaints that have a follow-up date, soonest first."""
    where = f"{OPEN_PREDICATE} AND next_follow_up_at IS NOT NULL"
    return Index(
        name,
        person,
        "next_follow_up_at",
        postgresql_where=text(where),
        sqlite_where=text(where),
    )


def _flag_index(name: str, where: str) -> Index:
    """A partial index of the rows a rare flag is set on, newest first."""
    return Index(name, "id", postgresql_where=text(where), sqlite_where=text(where))


class Company(Base):
    """A property-management company: the tenant. Nothing crosses between companies."""

    __tablename__ = "companies"
    id: Mapped[int] = _id()
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Project(Base):
    """A community (小区) or building complex the company manages; staff are scoped to
    projects and each project may set its own SLA targets."""

    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("company_id", "code"),)
    id: Mapped[int] = _id()
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    # Where the project is: times are shown to its staff and owners in this zone.
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    sla_overrides: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Building(Base):
    """A building (楼栋) of a project."""

    __tablename__ = "buildings"
    id: Mapped[int] = _id()
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))


class Unit(Base):
    """A home or shop (单元/房号) in a building."""

    __tablename__ = "units"
    id: Mapped[int] = _id()
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))


class Owner(Base):
    """A resident or owner (业主) who may complain; linked to the units they live in."""

    __tablename__ = "owners"
    __table_args__ = (
        Index("ix_owners_company_phone", "company_id", "phone"),
        # The owner portal signs a person in by phone number, whatever their company.
        Index("ix_owners_phone", "phone"),
        # Intake finds a caller by the start of their name.
        Index("ix_owners_company_name", "company_id", "name"),
    )
    id: Mapped[int] = _id()
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(5), default="zh")
    contact_channel: Mapped[str] = mapped_column(String(20), default="sms")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    units: Mapped[list[Unit]] = relationship(secondary="owner_units")


class OwnerUnit(Base):
    __tablename__ = "owner_units"
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)


class Staff(Base):
    """An employee of any department. Anyone may receive a complaint (首问负责制);
    their role says what else they may do, their projects what they may see."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("company_id", "username"),)
    id: Mapped[int] = _id()
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    username: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(30))
    role: Mapped[str] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    # The language messages to them (escalations) are written in.
    language: Mapped[str] = mapped_column(String(5), default="zh", server_default="zh")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # argon2 hash of the sign-in password; None: this person cannot sign in to the pages.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    projects: Mapped[list[Project]] = relationship(secondary="staff_projects", lazy="selectin")

    @property
    def project_ids(self) -> set[int]:
        return {p.id for p in self.projects}


class StaffProject(Base):
    __tablename__ = "staff_projects"
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)


class ApiToken(Base):
    """A bearer token of one staff member, issued by themselves (``issued_by_id``; None
    when an operator issued it at the command line); only its SHA-256 is kept. It stops
    working when it expires, is revoked, or its holder is deactivated.
    ``last_used_at`` is kept to the minute, so that using a token rarely writes."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = _id()
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    last_used_at: Mapped[datetime | None]


class Complaint(Base):
    """One owner's complaint from receipt to closure.

    ``first_receiver_id`` is whoever registered it: accountable until it closes,
    told of every escalation, never changed by reassignment. Labels carry their
    source (auto / staff / rule) and the classifier's confidence and version.
    Three SLA clocks (response, resolution, return visit) each escalate at most once
    per level; ``sla_check_at`` is when the sweeper must look next (indexed in
    :class:`SlaCheck`, not here).

    Bytes: the row is updated at most steps of its life, so the columns that change
    at every step (``status``, ``sla_check_at``, the moments, ``version``) are in no
    index and no index predicate: those updates are HOT (no new index entries), with
    room on the page from the partitions' fill factor (migration 0009).
    """

    __tablename__ = "complaints"
    __table_args__ = (
        # An agent's open queue by deadline.
        _open_index("ix_complaints_open_assignee_due", "assignee_id", "resolve_by"),
        # A first receiver's open complaints (they stay accountable).
        _open_index("ix_complaints_open_receiver", "first_receiver_id", "resolve_by"),
        # Open work newest first: the list's open statuses and open=true (0011).
        _open_index("ix_complaints_open_id", "id"),
        # The queue by follow-up date: only open complaints with one (migration 0011).
        _follow_up_index("ix_complaints_open_assignee_follow_up", "assignee_id"),
        _follow_up_index("ix_complaints_open_receiver_follow_up", "first_receiver_id"),
        # A project's overdue list and open work.
        _open_index("ix_complaints_open_project_due", "project_id", "resolve_by"),
        # An owner's history, newest first.
        Index("ix_complaints_owner", "owner_id", "id"),
        # A project's complaints by time (lists, reports, repeat lookups by unit).
        Index("ix_complaints_project", "project_id", "id"),
        Index("ix_complaints_company", "company_id", "id"),
        # Closed (and withdrawn) complaints by company, newest first: the list's final
        # states and open=false (migration 0012; closed_at is set once).
        Index(
            "ix_complaints_closed_company",
            "company_id",
            "id",
            postgresql_where=text(CLOSED_PREDICATE),
            sqlite_where=text(CLOSED_PREDICATE),
        ),
        # The list's filters, each newest first from its own index (no filter may scan
        # history): people, labels, and the rare flags as partial indexes that hold
        # only the rows flagged. An open state is found among open work (the open
        # indexes above); a final one by the primary key. A time window is an id
        # range of the primary key (ids are time-ordered).
        Index("ix_complaints_assignee", "assignee_id", "id"),
        Index("ix_complaints_receiver", "first_receiver_id", "id"),
        Index("ix_complaints_category", "category", "id"),
        Index("ix_complaints_urgency", "urgency", "id"),
        Index("ix_complaints_department", "department", "id"),
        _flag_index("ix_complaints_review", "needs_review"),
        _flag_index("ix_complaints_repeat", "repeat_of_id IS NOT NULL"),
        _flag_index("ix_complaints_risk", "at_risk"),
        # Full-text search (PostgreSQL): GIN over (project_id, to_tsvector('simple',
        # search_terms)), made by migration 0004 and led by the project since 0017
        # (btree_gin: a project's search reads its own matches, not the company's); an
        # expression index SQLite has no equivalent of: SQLite searches the FTS5 table
        # complaints_fts, kept by triggers.
    )

    id: Mapped[int] = _id()
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    caller_name: Mapped[str | None] = mapped_column(String(200))
    caller_phone: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(300))
    occurred_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    first_receiver_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    status: Mapped[str] = mapped_column(String(20))

    nature: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(30))
    urgency: Mapped[str] = mapped_column(String(10))
    department: Mapped[str] = mapped_column(String(30))
    label_source: Mapped[str] = mapped_column(String(10), default="auto")
    # The classifier's confidence in each label, times CONFIDENCE_SCALE (it rounds them
    # to four decimals): 8 bytes of the row where a JSON object took about 101 (0014;
    # pgstattuple after bench/bench_bytes.py: docs/capacity.md, "Bytes per complaint").
    # Read and set as floats in [0, 1] through ``label_confidence``.
    confidence_nature: Mapped[int | None] = mapped_column(SmallInteger)
    confidence_category: Mapped[int | None] = mapped_column(SmallInteger)
    confidence_urgency: Mapped[int | None] = mapped_column(SmallInteger)
    confidence_department: Mapped[int | None] = mapped_column(SmallInteger)
    model_version: Mapped[str | None] = mapped_column(String(80))
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    upgraded: Mapped[bool] = mapped_column(Boolean, default=False)

    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    respond_by: Mapped[datetime | None]
    resolve_by: Mapped[datetime | None]
    visit_by: Mapped[datetime | None]
    clock_started_at: Mapped[datetime]
    responded_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    visited_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    response_level: Mapped[int] = mapped_column(SmallInteger, default=0)
    resolution_level: Mapped[int] = mapped_column(SmallInteger, default=0)
    visit_level: Mapped[int] = mapped_column(SmallInteger, default=0)
    response_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_check_at: Mapped[datetime | None]
    next_follow_up_at: Mapped[datetime | None]

    repeat_of_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"))
    risk_flags: Mapped[list[str]] = mapped_column(Json, default=list)
    at_risk: Mapped[bool] = mapped_column(Boolean, default=False)  # any risk flag: filterable
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)

    resolution_outcome: Mapped[str | None] = mapped_column(String(30))
    resolution: Mapped[str | None] = mapped_column(Text)
    owner_explanation: Mapped[str | None] = mapped_column(Text)
    effective: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    summary_cause: Mapped[str | None] = mapped_column(Text)
    summary_lesson: Mapped[str | None] = mapped_column(Text)
    corrective_action: Mapped[str | None] = mapped_column(Text)
    preventive_action: Mapped[str | None] = mapped_column(Text)

    version: Mapped[int] = mapped_column(Integer)
    # Optimistic concurrency: two writers of one complaint cannot both win.
    __mapper_args__ = {"version_id_col": version}
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The owner's words as search terms (domain.search.search_terms), computed once
    # when the complaint is written; indexed for full-text search.
    search_terms: Mapped[str] = mapped_column(Text, default="", server_default="")

    # The departments that handle it beside the lead (``department``), which is never
    # stored there: most complaints have none, so the table stays small enough to
    # stay in memory and loading a page's rows reads no cold page (migration 0013).
    # Loaded as rows when a use case reads or changes them; a read of complaints to
    # show reads their codes in its own statement instead (``co_handling_codes``).
    co_handling: Mapped[list[ComplaintDepartment]] = relationship(
        lazy="select", cascade="all, delete-orphan", order_by="ComplaintDepartment.department"
    )

    def read_co_handling(self, codes: str) -> None:
        """Keep the co-handling departments' codes as the statement that loaded this
        complaint read them (:func:`co_handling_codes`); forgotten when the
        complaint is expired or refreshed."""
        self.__dict__[_CO_HANDLING_CODES] = codes

    def knows_co_handling(self) -> bool:
        """Whether its co-handling departments are known without a query."""
        return "co_handling" in self.__dict__ or _CO_HANDLING_CODES in self.__dict__

    def co_handling_departments(self) -> list[str]:
        """The codes of the departments that co-handle it: from the rows when they are
        loaded (they hold this transaction's changes), else from the codes the
        complaint was read with, else from the rows, loaded now."""
        codes = self.__dict__.get(_CO_HANDLING_CODES)
        if "co_handling" not in self.__dict__ and codes is not None:
            return [code for code in codes.split(",") if code]
        return [d.department for d in self.co_handling]

    @property
    def departments(self) -> list[tuple[str, bool]]:
        """Every department involved, ``(code, lead)``, by code: the lead
        (``department``) and the co-handling ones."""
        return departments_of(self.department, self.co_handling_departments())

    @property
    def escalation_level(self) -> int:
        return escalation_level_of(self)

    @property
    def label_confidence(self) -> dict[str, float] | None:
        """The classifier's confidence in each label, a float in [0, 1] (None: no
        classifier labelled it)."""
        return stored_confidences(self)

    @label_confidence.setter
    def label_confidence(self, value: Mapping[str, float] | None) -> None:
        for label, scaled in scaled_confidences(value).items():
            setattr(self, f"confidence_{label}", scaled)


_CONFIDENCE_COLUMNS = tuple((label, f"confidence_{label}") for label in CONFIDENCE_LABELS)


def escalation_level_of(row: Complaint | ShownComplaint) -> int:
    """The highest escalation level of ``row``'s three clocks (response, resolution,
    return visit), for :class:`Complaint` and :class:`ShownComplaint` alike."""
    return max(row.response_level, row.resolution_level, row.visit_level)


def stored_confidences(row: object) -> dict[str, float] | None:
    """The classifier's confidence in each label of ``row`` (a :class:`Complaint` or a
    :class:`ShownComplaint`: its ``confidence_<label>`` columns), a float in [0, 1];
    None when no classifier labelled it. One list of labels for both."""
    return confidences_of({label: getattr(row, column) for label, column in _CONFIDENCE_COLUMNS})


def departments_of(lead: str, co_handling: list[str]) -> list[tuple[str, bool]]:
    """Every department involved, ``(code, lead)``, by code: the lead and the
    co-handling ones (:attr:`Complaint.departments`)."""
    return sorted([(lead, True)] + [(code, False) for code in co_handling if code != lead])


class ShownComplaint(NamedTuple):
    """A complaint as a list shows it, read as plain columns: the columns the read
    model (``web/presenter.py``) and the API's wire form read, and its co-handling
    departments' codes (:func:`co_handling_codes`), in one row of one statement
    (``queries.shown_rows``). Not an ORM instance: no identity map, no instrumented
    attributes, nothing to change or write back. Loading a page of 100 complaints
    as ORM instances, and reading each column through its instrumented attribute,
    was most of a long list's CPU in process (docs/capacity.md, the read path, step
    17). It reads like a :class:`Complaint` for everything a view of it asks
    (``departments``, ``label_confidence``, ``escalation_level``); the columns no
    view shows (the company, the caller's phone, the search terms, the sweeper's
    and the clock's bookkeeping) are not read."""

    id: int
    project_id: int
    unit_id: int | None
    owner_id: int | None
    caller_name: str | None
    channel: str
    text: str
    summary: str | None
    location: str | None
    occurred_at: datetime | None
    received_at: datetime
    first_receiver_id: int
    status: str
    nature: str
    category: str
    urgency: str
    department: str
    label_source: str
    confidence_nature: int | None
    confidence_category: int | None
    confidence_urgency: int | None
    confidence_department: int | None
    model_version: str | None
    needs_review: bool
    upgraded: bool
    assignee_id: int | None
    respond_by: datetime | None
    resolve_by: datetime | None
    visit_by: datetime | None
    responded_at: datetime | None
    resolved_at: datetime | None
    visited_at: datetime | None
    closed_at: datetime | None
    response_level: int
    resolution_level: int
    visit_level: int
    response_breached: bool
    resolution_breached: bool
    next_follow_up_at: datetime | None
    repeat_of_id: int | None
    risk_flags: list[str]
    reopen_count: int
    resolution_outcome: str | None
    resolution: str | None
    owner_explanation: str | None
    effective: bool | None
    satisfaction: int | None
    summary_cause: str | None
    summary_lesson: str | None
    corrective_action: str | None
    preventive_action: str | None
    version: int
    co_handling_codes: str  # comma-separated, "" for none

    def co_handling_departments(self) -> list[str]:
        return [code for code in self.co_handling_codes.split(",") if code]

    def knows_co_handling(self) -> bool:
        return True

    @property
    def departments(self) -> list[tuple[str, bool]]:
        return departments_of(self.department, self.co_handling_departments())

    @property
    def escalation_level(self) -> int:
        return escalation_level_of(self)

    @property
    def label_confidence(self) -> dict[str, float] | None:
        return stored_confidences(self)


SHOWN_COLUMNS = ShownComplaint._fields[:-1]
"""The columns of ``complaints`` a :class:`ShownComplaint` reads, in its order."""


class SlaCheck(Base):
    """When the sweeper must next look at an open complaint: ``complaints.sla_check_at``
    for the complaints that have one, kept in this narrow table so that its index
    lives here (it changes at almost every step; in the complaints' indexes it would
    make every update a non-HOT one). Kept by triggers on complaints
    (``db/sla_checks.py``; the bulk path, which writes with triggers off on
    PostgreSQL, adds its rows itself): a complaint that is closed or has nothing
    left to check has no row."""

    __tablename__ = "sla_checks"
    __table_args__ = (Index("ix_sla_checks_due", "check_at"),)
    complaint_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    check_at: Mapped[datetime]


class OwnerComplaint(Base):
    """An owner's complaint, by id: the owner's history reads the newest ids here (one
    descent of one unpartitioned index, one leaf for most owners) and then those
    complaints by id, instead of descending every month's ``(owner_id, id)`` index
    and reading the newest complaint of every month (docs/capacity.md, step 15).
    Kept by a trigger on complaints (``db/owner_complaints.py``; the bulk path,
    which writes with triggers off on PostgreSQL, adds its rows itself); a
    complaint's owner is set once, when it is made. No foreign keys: the rows follow
    complaints, as an index does, and a reader skips an id whose complaint is gone."""

    __tablename__ = "owner_complaints"
    __table_args__ = {"sqlite_with_rowid": False}
    owner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    complaint_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ComplaintDepartment(Base):
    """A department that co-handles a complaint beside its lead. The lead department
    is the complaint's own ``department`` and is never stored here (0013): a complaint
    that only its lead handles, almost every one, has no row."""

    __tablename__ = "complaint_departments"
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), primary_key=True)
    department: Mapped[str] = mapped_column(String(30), primary_key=True)


def co_handling_codes(complaint_id: ColumnElement[int] | None = None) -> ScalarSelect[str]:
    """A complaint's co-handling departments' codes, comma-separated ("" for none), as
    a subquery correlated to the complaints of the enclosing statement: one probe of
    the small ``complaint_departments`` primary key a complaint, in the statement
    that reads the complaints to show, not a second statement (a selectin load was
    about a quarter of owner history's time in process: docs/capacity.md, the read
    path). ``complaint_id``: the id column of the enclosing statement, if its
    complaints are not read from ``complaints`` itself. See
    :meth:`Complaint.read_co_handling`."""
    of = Complaint.id if complaint_id is None else complaint_id
    return (
        select(func.coalesce(func.aggregate_strings(ComplaintDepartment.department, ","), ""))
        .where(ComplaintDepartment.complaint_id == of)
        .scalar_subquery()
    )


_CO_HANDLING_CODES = "_co_handling_codes"


@event.listens_for(Complaint, "expire")
def _forget_codes(target: Complaint, _attrs: object) -> None:
    target.__dict__.pop(_CO_HANDLING_CODES, None)


@event.listens_for(Complaint, "refresh")
def _forget_codes_on_refresh(target: Complaint, _context: object, _attrs: object) -> None:
    target.__dict__.pop(_CO_HANDLING_CODES, None)


class Event(Base):
    """One append-only line of a complaint's history: who did what, when, old → new."""

    __tablename__ = "events"
    __table_args__ = (
        # A complaint's timeline. On the complaint alone (0016): its eight or so entries
        # share one key, which PostgreSQL's B-tree deduplication stores once.
        Index("ix_events_complaint", "complaint_id"),
        # Withdrawn complaints, newest first, for the list (events are only inserted:
        # no index on complaints names status, which would cost HOT updates; 0011).
        Index(
            "ix_events_withdrawn",
            "complaint_id",
            postgresql_where=text("kind = 'withdraw'"),
            sqlite_where=text("kind = 'withdraw'"),
        ),
    )
    id: Mapped[int] = _id()
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"))
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    kind: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(String(40))
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    # No data is SQL NULL, not JSON null (9 bytes and its alignment on about a third of
    # the events), as the bulk path writes it.
    data: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
    )

    @validates("data")
    def _compact(self, _key: str, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Keys without a value, or with an empty list, are left out (a reader's
        ``.get`` finds None either way): a complaint has nine events or so, and every
        one is kept for ever."""
        if value is None:
            return None
        return {k: v for k, v in value.items() if v is not None and v != []} or None


class LabelCorrection(Base):
    """A staff correction of a label: kept for ever, it trains the next model."""

    __tablename__ = "label_corrections"
    __table_args__ = (Index("ix_label_corrections_complaint", "complaint_id"),)
    id: Mapped[int] = _id()
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime]
    label: Mapped[str] = mapped_column(String(20))
    old: Mapped[str] = mapped_column(String(30))
    new: Mapped[str] = mapped_column(String(30))
    model_version: Mapped[str | None] = mapped_column(String(80))


class FollowUp(Base):
    """A note on what was done or learnt; ``next_follow_up_at`` puts it back in the
    responsible person's queue on that date, so nothing is forgotten."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        Index("ix_follow_ups_complaint", "complaint_id", "id"),
        # The sweeper's reminders still to send: small, whatever the history.
        Index(
            "ix_follow_ups_reminder_due",
            "next_follow_up_at",
            postgresql_where=text("reminded_at IS NULL AND next_follow_up_at IS NOT NULL"),
            sqlite_where=text("reminded_at IS NULL AND next_follow_up_at IS NOT NULL"),
        ),
    )
    id: Mapped[int] = _id()
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text)
    next_follow_up_at: Mapped[datetime | None]
    # When the author and the assignee were reminded that the date had come (once).
    reminded_at: Mapped[datetime | None]


class Visit(Base):
    """A return visit (回访): did the work hold, is the owner satisfied (1–5). Made by
    staff on the phone (``staff_id``) or by the owner rating it in the portal
    (``owner_id``, no staff)."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_complaint", "complaint_id", "id"),)
    id: Mapped[int] = _id()
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    at: Mapped[datetime]
    satisfaction: Mapped[int] = mapped_column(SmallInteger)
    satisfied: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)


class Outbox(Base):
    """A message to an owner or a staff member, written in the same transaction as the
    change it reports and delivered later, with retries, by the delivery worker.
    ``dedupe_key`` is unique: the same message is never queued, nor sent, twice."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'sending')"),
            sqlite_where=text("status IN ('pending', 'sending')"),
        ),
        Index("ix_outbox_complaint", "complaint_id", "id"),
    )
    id: Mapped[int] = _id()
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class IdempotencyKey(Base):
    """Remembers which complaint a client's ``Idempotency-Key`` created, so that a
    retried create returns it instead of making a second complaint."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("staff_id", "key"),)
    id: Mapped[int] = _id()
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"))
    created_at: Mapped[datetime]


class OwnerLink(Base):
    """A link to one complaint's owner page that works without an account: it ends
    every message to the owner. Only the token's SHA-256 is kept; revoking a
    complaint's links (staff, or the owner) stops every one of them.

    A complaint gets one link per message to its owner (several in its life), so the
    hash is stored as 16 raw bytes (the first half of the SHA-256: as many bits as
    the random token has), not 64 hex characters: half the row, a third of its
    unique index (migration 0010)."""

    __tablename__ = "owner_links"
    __table_args__ = (Index("ix_owner_links_complaint", "complaint_id"),)
    id: Mapped[int] = _id()
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class OwnerCode(Base):
    """A one-time sign-in code sent to a phone number for the owner portal: only its
    hash is kept, it expires, and wrong guesses are counted against it."""

    __tablename__ = "owner_codes"
    __table_args__ = (Index("ix_owner_codes_phone", "phone", "id"),)
    id: Mapped[int] = _id()
    phone: Mapped[str] = mapped_column(String(40))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None]


class ComplaintPhoto(Base):
    """A photo an owner attached to their complaint, kept in the database: it is
    committed or rolled back with the complaint, reaches every server of a cluster and
    every backup, and is read through the same access check as the complaint."""

    __tablename__ = "complaint_photos"
    __table_args__ = (Index("ix_complaint_photos_complaint", "complaint_id"),)
    id: Mapped[int] = _id()
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class ImportRun(Base):
    """One bulk import of one file (by its SHA-256) into one company: how far it got,
    so that an interrupted import resumes after its last committed line."""

    __tablename__ = "import_runs"
    __table_args__ = (UniqueConstraint("company_id", "file_hash"),)
    id: Mapped[int] = _id()
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    file_name: Mapped[str] = mapped_column(String(300))
    file_hash: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    last_line: Mapped[int] = mapped_column(BigInteger)
    imported: Mapped[int] = mapped_column(BigInteger)
    rejected: Mapped[int] = mapped_column(BigInteger)


class ImportRejection(Base):
    """A row an import refused: its line and why (kept so a resumed run still has
    the whole list)."""

    __tablename__ = "import_rejections"
    run_id: Mapped[int] = mapped_column(ForeignKey("import_runs.id"), primary_key=True)
    line: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)


class AuditEntry(Base):
    """One line of the audit trail: a read of an owner's personal data by staff, a
    sign-in, a token issued or revoked, a deactivation, an urgency lowered. Append-only:
    a trigger refuses UPDATE and DELETE on every backend (migration 0005). No foreign
    keys: the trail outlives what it mentions. ``actor_id`` None is an operator at the
    command line."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_company", "company_id", "id"),
        Index("ix_audit_log_company_kind", "company_id", "kind", "id"),
    )
    id: Mapped[int] = _id()
    company_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str | None] = mapped_column(String(20))
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    address: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class RateCounter(Base):
    """How many times something keyed (a sign-in for one username, a token use) was
    attempted in one fixed time window. Kept in the database so that the limit holds
    across every worker process; a window's row is removed once it has passed."""

    __tablename__ = "rate_counters"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
