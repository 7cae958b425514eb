"""Owners, projects and staff of the caller's company."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from complaintdesk.domain import rules
from complaintdesk.domain.lifecycle import Outcome, Status, status_name
from complaintdesk.domain.permissions import Permission
from complaintdesk.domain.taxonomy import LABELS, Channel, Role, StaffDepartment, display_name
from complaintdesk.services import org, privacy, queries
from complaintdesk.services.common import get_project, require
from complaintdesk.web.api.complaints import page
from complaintdesk.web.api.schemas import (
    ComplaintPage,
    OwnerCreate,
    OwnerOut,
    ProjectCreate,
    ProjectOut,
    StaffCreate,
    StaffOut,
)
from complaintdesk.web.deps import (
    MAX_ID,
    CurrentStaff,
    GenericPlanReads,
    IdPath,
    NowDep,
    OwnerDep,
    PageCursor,
    PersonalLookup,
    SessionDep,
)
from complaintdesk.web.errors import RESPONSES

router = APIRouter(tags=["organisation"], responses=RESPONSES)


@router.get("/taxonomy")
def taxonomy() -> dict[str, list[dict[str, str]]]:
    """Every code of the taxonomy with its Chinese and English name (for pickers)."""
    enums: dict[str, type[StrEnum]] = {
        **LABELS,
        "status": Status,
        "channel": Channel,
        "role": Role,
        "staff_department": StaffDepartment,
        "outcome": Outcome,
    }
    return {
        name: [
            {"code": code.value, "zh": _name(code, "zh"), "en": _name(code, "en")} for code in enum
        ]
        for name, enum in enums.items()
    }


def _name(code: StrEnum, lang: str) -> str:
    return status_name(code, lang) if isinstance(code, Status) else display_name(code, lang)


@router.post("/owners", response_model=OwnerOut, status_code=status.HTTP_201_CREATED)
def create_owner(
    body: OwnerCreate, session: SessionDep, staff: CurrentStaff, now: NowDep
) -> OwnerOut:
    """Any staff member may register an owner while taking a complaint, in units of
    their own projects."""
    owner = org.create_owner(
        session,
        org.company_of(session, staff),
        name=body.name,
        phone=body.phone,
        email=body.email,
        language=body.language,
        contact_channel=body.contact_channel,
        unit_ids=body.unit_ids,
        actor=staff,
    )
    return OwnerOut.of(owner, privacy.owner_contact(session, staff, owner, now))


@router.get("/owners", response_model=list[OwnerOut], dependencies=[PersonalLookup])
def find_owners(
    session: SessionDep,
    staff: CurrentStaff,
    now: NowDep,
    phone: Annotated[str, Query(min_length=3, max_length=40, pattern=rules.LINE_PATTERN)],
) -> list[OwnerOut]:
    """Find owners by phone number (the first thing a receiver asks), among those the
    caller may know of."""
    return [
        OwnerOut.of(o, privacy.owner_contact(session, staff, o, now))
        for o in org.find_owners_by_phone(session, staff, phone)
    ]


@router.get("/owners/{owner_id}", response_model=OwnerOut, dependencies=[PersonalLookup])
def get_owner_(owner: OwnerDep, session: SessionDep, staff: CurrentStaff, now: NowDep) -> OwnerOut:
    """The owner; phone and e-mail in full only to those who call owners back (each
    such read is on record in the audit trail), masked for everyone else."""
    return OwnerOut.of(owner, privacy.owner_contact(session, staff, owner, now))


@router.get(
    "/owners/{owner_id}/complaints", response_model=ComplaintPage, dependencies=[GenericPlanReads]
)
def owner_history(
    owner: OwnerDep,
    session: SessionDep,
    staff: CurrentStaff,
    cursor: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_HISTORY_PAGE)] = queries.HISTORY_PAGE,
) -> Response:
    """The owner's complaints the caller may see, newest first, 20 a page (``limit``
    up to 100); ``next_cursor`` is the next page's ``cursor``."""
    rows, next_cursor = queries.owner_history(session, staff, owner, limit=limit, cursor=cursor)
    return page(session, rows, staff, str(next_cursor) if next_cursor else None)


@router.get("/projects", response_model=list[ProjectOut])
def list_projects(session: SessionDep, staff: CurrentStaff) -> list[ProjectOut]:
    return [ProjectOut.of(p) for p in org.list_projects(session, staff)]


@router.post("/projects", response_model=ProjectOut, status_code=status.HTTP_201_CREATED)
def create_project(body: ProjectCreate, session: SessionDep, staff: CurrentStaff) -> ProjectOut:
    """Administrators only."""
    require(staff, Permission.MANAGE)
    project = org.create_project(
        session,
        org.company_of(session, staff),
        code=body.code,
        name=body.name,
        city=body.city,
        sla_overrides=body.plain_sla_overrides(),
    )
    return ProjectOut.of(project)


@router.get("/projects/{project_id}", response_model=ProjectOut)
def get_project_(project_id: IdPath, session: SessionDep, staff: CurrentStaff) -> ProjectOut:
    return ProjectOut.of(get_project(session, staff, project_id))


@router.get(
    "/projects/{project_id}/overdue", response_model=ComplaintPage, dependencies=[GenericPlanReads]
)
def project_overdue(
    project_id: IdPath,
    session: SessionDep,
    staff: CurrentStaff,
    now: NowDep,
    cursor: PageCursor = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_HISTORY_PAGE)] = queries.HISTORY_PAGE,
) -> Response:
    """Open complaints of the project past a deadline the owner waits on, by resolution
    deadline, 20 a page (``limit`` up to 100); ``next_cursor`` is the next page's
    ``cursor``."""
    get_project(session, staff, project_id)
    rows, next_cursor = queries.project_overdue(
        session, staff, project_id, now, limit=limit, cursor=cursor
    )
    return page(session, rows, staff, next_cursor)


@router.get("/staff/me", response_model=StaffOut)
def me(staff: CurrentStaff) -> StaffOut:
    return StaffOut.of(staff)


@router.get("/staff", response_model=list[StaffOut])
def list_staff(session: SessionDep, staff: CurrentStaff) -> list[StaffOut]:
    """Colleagues on the caller's projects (administrators: everyone)."""
    return [StaffOut.of(s) for s in org.list_staff(session, staff)]


@router.post("/staff", response_model=StaffOut, status_code=status.HTTP_201_CREATED)
def create_staff(body: StaffCreate, session: SessionDep, staff: CurrentStaff) -> StaffOut:
    """Administrators; project managers for the staff below them on their projects."""
    org.require_staff_manager(staff, body.role, body.project_ids)
    created = org.create_staff(
        session,
        org.company_of(session, staff),
        username=body.username,
        name=body.name,
        department=body.department,
        role=body.role,
        project_ids=body.project_ids,
        email=body.email,
        phone=body.phone,
    )
    return StaffOut.of(created)
