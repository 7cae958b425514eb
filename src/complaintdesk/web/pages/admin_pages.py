"""Administration for administrators and project managers: projects (time zone, SLA
targets), buildings and units, staff and roles, owners, and a new company.

Every change goes through ``services/org.py``, which decides who may do what
(administrators: their company; managers: their own projects and the staff below
them); a page only reads forms and shows the service's refusal next to its field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from complaintdesk.db.models import Owner, Project, Staff
from complaintdesk.domain.errors import DomainError, Forbidden
from complaintdesk.domain.sla import Clock
from complaintdesk.domain.taxonomy import Role, StaffDepartment, Urgency, display_name
from complaintdesk.i18n import N_, pick
from complaintdesk.services import org, privacy
from complaintdesk.services.common import get_owner
from complaintdesk.web.deps import IdPath, NowDep, SessionDep
from complaintdesk.web.pages import render
from complaintdesk.web.pages.deps import PageStaff, pages_router

router = pages_router()
ADMINS = frozenset({Role.ADMIN.value, Role.MANAGER.value})
render.NAV.append(render.NavItem("/admin", N_("Administration"), ADMINS))

FormText = Annotated[str, Form(max_length=200)]


def _require(staff: Staff) -> None:
    if staff.role not in ADMINS:
        raise Forbidden("administrators and managers only / 仅限管理员和项目经理")


def _attempt(
    session: Session, request: Request, action: Callable[[], Any]
) -> tuple[Any, dict[str, str]]:
    """Run a service call in a savepoint: on a refusal nothing of it stays, and the
    message goes next to its field."""
    try:
        with session.begin_nested():
            return action(), {}
    except DomainError as exc:
        return None, {exc.field or "form": pick(str(exc), render.lang_of(request))}


def _choices(lang: str) -> dict[str, Any]:
    return {
        "roles": [(r.value, display_name(r, lang)) for r in Role],
        "departments": [(d.value, display_name(d, lang)) for d in StaffDepartment],
        "urgencies": [(u.value, display_name(u, lang)) for u in Urgency],
        "clocks": [c.value for c in Clock],
    }


@router.get("/admin")
def admin_home(request: Request, session: SessionDep, staff: PageStaff) -> Response:
    _require(staff)
    return render.page(
        request,
        "admin_home.html",
        title=N_("Administration"),
        projects=org.list_projects(session, staff),
        company=org.company_of(session, staff),
        errors={},
        values={},
        **_choices(render.lang_of(request)),
    )


# --- Projects -------------------------------------------------------------------------


@router.post("/admin/projects")
def add_project(
    request: Request,
    session: SessionDep,
    staff: PageStaff,
    code: FormText = "",
    name: FormText = "",
    city: FormText = "",
    timezone: FormText = "Asia/Shanghai",
) -> Response:
    _require(staff)
    project, errors = _attempt(
        session,
        request,
        lambda: org.add_project(
            session, staff, code=code, name=name, city=city or None, timezone=timezone
        ),
    )
    if errors:
        return render.page(
            request,
            "admin_home.html",
            title=N_("Administration"),
            projects=org.list_projects(session, staff),
            company=org.company_of(session, staff),
            errors=errors,
            values={"code": code, "name": name, "city": city, "timezone": timezone},
            status_code=422,
            **_choices(render.lang_of(request)),
        )
    return RedirectResponse(f"/admin/projects/{project.id}", status_code=303)


def _project_page(
    request: Request,
    session: Session,
    staff: Staff,
    project: Project,
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render.page(
        request,
        "admin_project.html",
        title=N_("Project"),
        project=project,
        sla=project.sla_overrides or {},
        buildings=org.buildings_of(session, staff, project.id),
        errors=errors,
        status_code=status_code,
        **_choices(render.lang_of(request)),
    )


@router.get("/admin/projects/{project_id}")
def project_page(
    request: Request, project_id: IdPath, session: SessionDep, staff: PageStaff
) -> Response:
    _require(staff)
    project = org.administered_project(session, staff, project_id)
    return _project_page(request, session, staff, project, {})


@router.post("/admin/projects/{project_id}")
async def update_project(
    request: Request, project_id: IdPath, session: SessionDep, staff: PageStaff
) -> Response:
    _require(staff)
    project = org.administered_project(session, staff, project_id)
    form = await request.form()
    overrides: dict[str, dict[str, float]] = {}
    errors: dict[str, str] = {}
    for urgency in Urgency:
        for clock in Clock:
            raw = str(form.get(f"sla_{urgency.value}_{clock.value}") or "").strip()
            if not raw:
                continue
            try:
                minutes = float(raw)
                overrides.setdefault(urgency.value, {})[clock.value] = (
                    int(minutes) if minutes.is_integer() else minutes
                )
            except ValueError:
                errors["sla_overrides"] = pick(
                    "SLA targets are numbers of minutes / SLA 时限须为分钟数",
                    render.lang_of(request),
                )
    if not errors:
        _, errors = _attempt(
            session,
            request,
            lambda: org.update_project(
                session,
                staff,
                project.id,
                name=str(form.get("name") or ""),
                city=str(form.get("city") or "") or None,
                timezone=str(form.get("timezone") or ""),
                sla_overrides=overrides or None,
            ),
        )
    if errors:
        return _project_page(request, session, staff, project, errors, 422)
    return RedirectResponse(f"/admin/projects/{project.id}", status_code=303)


@router.post("/admin/projects/{project_id}/buildings")
def add_building(
    request: Request,
    project_id: IdPath,
    session: SessionDep,
    staff: PageStaff,
    name: FormText = "",
) -> Response:
    _require(staff)
    project = org.administered_project(session, staff, project_id)
    _, errors = _attempt(
        session, request, lambda: org.new_building(session, staff, project.id, name)
    )
    if errors:
        return _project_page(request, session, staff, project, errors, 422)
    return RedirectResponse(f"/admin/projects/{project.id}", status_code=303)


@router.get("/admin/buildings/{building_id}")
def building_page(
    request: Request, building_id: IdPath, session: SessionDep, staff: PageStaff
) -> Response:
    _require(staff)
    building, units = org.units_of(session, staff, building_id)
    return render.page(
        request,
        "admin_building.html",
        title=N_("Building"),
        building=building,
        units=units,
        errors={},
    )


@router.post("/admin/buildings/{building_id}/units")
def add_unit(
    request: Request,
    building_id: IdPath,
    session: SessionDep,
    staff: PageStaff,
    name: FormText = "",
) -> Response:
    _require(staff)
    building, units = org.units_of(session, staff, building_id)
    _, errors = _attempt(session, request, lambda: org.new_unit(session, staff, building.id, name))
    if errors:
        return render.page(
            request,
            "admin_building.html",
            title=N_("Building"),
            building=building,
            units=units,
            errors=errors,
            status_code=422,
        )
    return RedirectResponse(f"/admin/buildings/{building.id}", status_code=303)


# --- Staff ----------------------------------------------------------------------------


def _staff_page(
    request: Request,
    session: Session,
    staff: Staff,
    errors: dict[str, str],
    values: dict[str, Any],
    status_code: int = 200,
) -> Response:
    return render.page(
        request,
        "admin_staff.html",
        title=N_("Staff"),
        people=org.list_staff(session, staff),
        projects=org.list_projects(session, staff),
        errors=errors,
        values=values,
        status_code=status_code,
        **_choices(render.lang_of(request)),
    )


@router.get("/admin/staff")
def staff_list(request: Request, session: SessionDep, staff: PageStaff) -> Response:
    _require(staff)
    return _staff_page(request, session, staff, {}, {})


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit() and len(v) < 20]


@router.post("/admin/staff")
async def add_staff(request: Request, session: SessionDep, staff: PageStaff) -> Response:
    _require(staff)
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    project_ids = _ids([str(v) for v in form.getlist("project_ids")])

    def create() -> Staff:
        return org.add_staff(
            session,
            staff,
            username=values.get("username", ""),
            name=values.get("name", ""),
            department=_enum(StaffDepartment, values.get("department"), "department"),
            role=_enum(Role, values.get("role"), "role"),
            project_ids=project_ids,
            email=values.get("email") or None,
            password=values.get("password") or None,
            language=values.get("language") or "zh",
        )

    _, errors = _attempt(session, request, create)
    if errors:
        values.pop("password", None)
        return _staff_page(request, session, staff, errors, values, 422)
    return RedirectResponse("/admin/staff", status_code=303)


def _enum(enum: Any, value: str | None, field: str) -> Any:
    from complaintdesk.domain.errors import InvalidInput

    try:
        return enum(value or "")
    except ValueError as exc:
        raise InvalidInput(f"choose a {field} / 请选择", field=field) from exc


def _person_page(
    request: Request,
    session: Session,
    staff: Staff,
    person: Staff,
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render.page(
        request,
        "admin_person.html",
        title=N_("Staff"),
        person=person,
        projects=org.list_projects(session, staff),
        errors=errors,
        status_code=status_code,
        **_choices(render.lang_of(request)),
    )


def _person(session: Session, staff: Staff, staff_id: int) -> Staff:
    person = next((p for p in org.list_staff(session, staff) if p.id == staff_id), None)
    if person is None:
        from complaintdesk.domain.errors import NotFound

        raise NotFound(f"staff {staff_id} not found")
    return person


@router.get("/admin/staff/{staff_id}")
def person_page(
    request: Request, staff_id: IdPath, session: SessionDep, staff: PageStaff
) -> Response:
    _require(staff)
    return _person_page(request, session, staff, _person(session, staff, staff_id), {})


@router.post("/admin/staff/{staff_id}")
async def update_person(
    request: Request, staff_id: IdPath, session: SessionDep, staff: PageStaff, now: NowDep
) -> Response:
    _require(staff)
    person = _person(session, staff, staff_id)
    form = await request.form()

    def change() -> Staff:
        return org.update_staff(
            session,
            staff,
            person.id,
            role=_enum(Role, str(form.get("role") or ""), "role"),
            department=_enum(StaffDepartment, str(form.get("department") or ""), "department"),
            project_ids=_ids([str(v) for v in form.getlist("project_ids")]),
            active=form.get("active") == "1",
            now=now,
            password=str(form.get("password") or "") or None,
        )

    _, errors = _attempt(session, request, change)
    if errors:
        session.refresh(person)
        return _person_page(request, session, staff, person, errors, 422)
    return RedirectResponse(f"/admin/staff/{person.id}", status_code=303)


# --- Owners ---------------------------------------------------------------------------


def _owners_page(
    request: Request,
    session: Session,
    staff: Staff,
    q: str,
    errors: dict[str, str],
    values: dict[str, Any],
    status_code: int = 200,
) -> Response:
    found = org.list_owners(session, staff, q)
    now = request.app.state.clock()
    # In full only to those who call owners back (each read audited), else masked.
    phones = {o.id: privacy.owner_contact(session, staff, o, now).phone for o in found}
    return render.page(
        request,
        "admin_owners.html",
        title=N_("Owners"),
        owners=found,
        phones=phones,
        q=q,
        errors=errors,
        values=values,
        status_code=status_code,
    )


@router.get("/admin/owners")
def owners(request: Request, session: SessionDep, staff: PageStaff, q: str = "") -> Response:
    _require(staff)
    return _owners_page(request, session, staff, q[:100], {}, {})


@router.post("/admin/owners")
def add_owner(
    request: Request,
    session: SessionDep,
    staff: PageStaff,
    name: FormText = "",
    phone: FormText = "",
    email: FormText = "",
    language: FormText = "zh",
    contact_channel: FormText = "sms",
    unit_id: FormText = "",
) -> Response:
    _require(staff)

    def create() -> Owner:
        return org.create_owner(
            session,
            org.company_of(session, staff),
            name=name,
            phone=phone or None,
            email=email or None,
            language=language,
            contact_channel=contact_channel,
            unit_ids=_ids([unit_id]),
            actor=staff,
        )

    owner, errors = _attempt(session, request, create)
    values = {"name": name, "phone": phone, "email": email, "unit_id": unit_id}
    if errors:
        return _owners_page(request, session, staff, "", errors, values, 422)
    return RedirectResponse(f"/admin/owners/{owner.id}", status_code=303)


def _owner_page(
    request: Request,
    session: Session,
    staff: Staff,
    owner: Owner,
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    """The owner's form. Their phone and e-mail are in it only for those who call owners
    back (the read is audited); everyone else sees them masked, and a field left empty
    keeps what is on record."""
    contact = privacy.owner_contact(session, staff, owner, request.app.state.clock())
    return render.page(
        request,
        "admin_owner.html",
        title=N_("Owner"),
        owner=owner,
        contact=contact,
        errors=errors,
        status_code=status_code,
    )


@router.get("/admin/owners/{owner_id}")
def owner_page(
    request: Request, owner_id: IdPath, session: SessionDep, staff: PageStaff
) -> Response:
    _require(staff)
    return _owner_page(request, session, staff, get_owner(session, staff, owner_id), {})


@router.post("/admin/owners/{owner_id}")
def update_owner(
    request: Request,
    owner_id: IdPath,
    session: SessionDep,
    staff: PageStaff,
    name: FormText = "",
    phone: FormText = "",
    email: FormText = "",
    language: FormText = "zh",
    contact_channel: FormText = "sms",
) -> Response:
    _require(staff)
    owner = get_owner(session, staff, owner_id)
    # Who sees contacts masked was given empty fields: empty keeps what is on record.
    masked = not privacy.sees_contact(staff)
    _, errors = _attempt(
        session,
        request,
        lambda: org.update_owner(
            session,
            staff,
            owner.id,
            name=name,
            phone=phone or (owner.phone if masked else None),
            email=email or (owner.email if masked else None),
            language=language,
            contact_channel=contact_channel,
        ),
    )
    if errors:
        session.refresh(owner)
        return _owner_page(request, session, staff, owner, errors, 422)
    return RedirectResponse(f"/admin/owners/{owner.id}", status_code=303)


# --- A new company ----------------------------------------------------------------------


@router.get("/admin/companies/new")
def company_form(request: Request, staff: PageStaff) -> Response:
    org.require_admin(staff)
    return render.page(request, "admin_company.html", title=N_("New company"), errors={}, values={})


@router.post("/admin/companies")
def create_company(
    request: Request,
    session: SessionDep,
    staff: PageStaff,
    code: FormText = "",
    name: FormText = "",
    admin_username: FormText = "",
    admin_name: FormText = "",
    admin_password: FormText = "",
) -> Response:
    org.require_admin(staff)
    made, errors = _attempt(
        session,
        request,
        lambda: org.create_company_with_admin(
            session,
            staff,
            code=code,
            name=name,
            admin_username=admin_username,
            admin_name=admin_name,
            admin_password=admin_password,
        ),
    )
    values = {
        "code": code,
        "name": name,
        "admin_username": admin_username,
        "admin_name": admin_name,
    }
    if errors:
        return render.page(
            request,
            "admin_company.html",
            title=N_("New company"),
            errors=errors,
            values=values,
            status_code=422,
        )
    return render.page(
        request,
        "admin_company.html",
        title=N_("New company"),
        errors={},
        values={},
        created=made[0],
        created_admin=made[1],
    )
