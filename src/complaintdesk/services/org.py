"""The organisation: companies, projects, buildings, units, owners, staff, API tokens."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from complaintdesk.db.ids import new_id
from complaintdesk.db.models import (
    Building,
    Company,
    Owner,
    OwnerUnit,
    Project,
    Staff,
    StaffProject,
    Unit,
)
from complaintdesk.domain import rules
from complaintdesk.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from complaintdesk.domain.permissions import (
    Permission,
    can,
    can_administer_project,
    can_manage_staff,
)
from complaintdesk.domain.sla import SlaPolicy
from complaintdesk.domain.taxonomy import Role, StaffDepartment
from complaintdesk.services import accounts, queries
from complaintdesk.services.common import (
    actor_view,
    can_see_project,
    get_owner,
    get_project,
    visible_project_ids,
)

PASSWORD_MIN, PASSWORD_MAX = 8, 200
_hasher = PasswordHasher()  # argon2id with the library's current recommended costs


def create_company(session: Session, *, code: str, name: str) -> Company:
    code = rules.clean_code(code, field="code")
    if session.scalar(select(Company).where(Company.code == code)) is not None:
        raise Conflict(f"company {code!r} exists", field="code")
    company = Company(
        id=new_id(), code=code, name=rules.clean_line(name, field="name", max_chars=200)
    )
    session.add(company)
    session.flush()
    return company


def create_project(
    session: Session,
    company: Company,
    *,
    code: str,
    name: str,
    city: str | None = None,
    sla_overrides: dict[str, Any] | None = None,
) -> Project:
    SlaPolicy.with_overrides(sla_overrides)  # refuse bad overrides now, not at intake
    code = rules.clean_code(code, field="code")
    exists = session.scalar(
        select(Project).where(Project.company_id == company.id, Project.code == code)
    )
    if exists is not None:
        raise Conflict(f"project {code!r} exists", field="code")
    project = Project(
        id=new_id(),
        company_id=company.id,
        code=code,
        name=rules.clean_line(name, field="name", max_chars=200),
        city=rules.clean_short(city, field="city", max_chars=100),
        sla_overrides=sla_overrides,
    )
    session.add(project)
    session.flush()
    return project


def add_building(session: Session, project: Project, name: str) -> Building:
    name = rules.clean_line(name, field="name", max_chars=100)
    building = Building(id=new_id(), project_id=project.id, name=name)
    session.add(building)
    session.flush()
    return building


def add_unit(session: Session, building: Building, name: str) -> Unit:
    name = rules.clean_line(name, field="name", max_chars=100)
    unit = Unit(id=new_id(), building_id=building.id, project_id=building.project_id, name=name)
    session.add(unit)
    session.flush()
    return unit


def create_owner(
    session: Session,
    company: Company,
    *,
    name: str,
    phone: str | None = None,
    email: str | None = None,
    language: str = "zh",
    contact_channel: str = "sms",
    unit_ids: Iterable[int] = (),
    actor: Staff | None = None,
) -> Owner:
    """A new owner; with an ``actor``, in at least one unit of the actor's projects
    (an owner is visible to the staff of the projects where they live or have
    complained: one placed nowhere would be known to administrators only)."""
    unit_ids = list(dict.fromkeys(unit_ids))
    if actor is not None and not unit_ids:
        raise InvalidInput(
            "give the unit the owner lives in / 请填写业主所住的房屋", field="unit_ids"
        )
    if language not in ("zh", "en"):
        raise InvalidInput("language is zh or en", field="language")
    if contact_channel not in ("sms", "wechat", "email"):
        raise InvalidInput("contact_channel is sms, wechat or email", field="contact_channel")
    owner = Owner(
        id=new_id(),
        company_id=company.id,
        name=rules.clean_line(name, field="name", max_chars=200),
        phone=rules.clean_short(phone, field="phone", max_chars=40),
        email=rules.clean_short(email, field="email", max_chars=200),
        language=language,
        contact_channel=contact_channel,
    )
    session.add(owner)
    session.flush()
    for unit_id in unit_ids:
        unit = session.get(Unit, unit_id)
        project = session.get(Project, unit.project_id) if unit is not None else None
        if (
            project is None
            or project.company_id != company.id
            or (actor is not None and not can_see_project(actor, project.id))
        ):
            raise InvalidInput(f"unit {unit_id} not found", field="unit_ids")
        session.add(OwnerUnit(owner_id=owner.id, unit_id=unit_id))
    session.flush()
    session.refresh(owner)
    return owner


def create_staff(
    session: Session,
    company: Company,
    *,
    username: str,
    name: str,
    department: StaffDepartment,
    role: Role,
    project_ids: Iterable[int] = (),
    email: str | None = None,
    phone: str | None = None,
) -> Staff:
    username = rules.clean_code(username, field="username", max_chars=80)
    exists = session.scalar(
        select(Staff).where(Staff.company_id == company.id, Staff.username == username)
    )
    if exists is not None:
        raise Conflict(f"staff {username!r} exists", field="username")
    staff = Staff(
        id=new_id(),
        company_id=company.id,
        username=username,
        name=rules.clean_line(name, field="name", max_chars=200),
        department=department.value,
        role=role.value,
        email=rules.clean_short(email, field="email", max_chars=200),
        phone=rules.clean_short(phone, field="phone", max_chars=40),
        active=True,
    )
    session.add(staff)
    session.flush()
    for project_id in dict.fromkeys(project_ids):
        project = session.get(Project, project_id)
        if project is None or project.company_id != company.id:
            raise InvalidInput(f"project {project_id} not found", field="project_ids")
        session.add(StaffProject(staff_id=staff.id, project_id=project_id))
    session.flush()
    session.refresh(staff)
    return staff


def require_staff_manager(actor: Staff, role: Role, project_ids: Iterable[int]) -> None:
    """Refuse (403) unless ``actor`` may manage staff of ``role`` on ``project_ids``."""
    if not can_manage_staff(
        actor_view(actor), frozenset(actor.project_ids), role, frozenset(project_ids)
    ):
        raise Forbidden(
            f"a {actor.role} may not manage a {role.value} of these projects / 无权管理该员工"
        )


def company_of(session: Session, actor: Staff) -> Company:
    company = session.get(Company, actor.company_id)
    assert company is not None  # a staff row always has its company (foreign key)
    return company


def find_owners_by_phone(session: Session, actor: Staff, phone: str) -> list[Owner]:
    """Owners of the caller's company with this phone number whom the caller may know
    of (the first thing a receiver asks), at most 20."""
    phone = rules.clean_line(phone, field="phone", max_chars=40)
    rows = session.scalars(
        select(Owner.id)
        .where(Owner.company_id == actor.company_id, Owner.phone == phone)
        .order_by(Owner.id)
        .limit(20)
    )
    found = []
    for owner_id in rows:
        try:
            found.append(get_owner(session, actor, owner_id))
        except NotFound:
            continue
    return found


def list_projects(session: Session, actor: Staff) -> list[Project]:
    """The projects of the caller's company that the caller works on (admins: all)."""
    query = select(Project).where(Project.company_id == actor.company_id).order_by(Project.code)
    visible = visible_project_ids(actor)
    if visible is not None:
        query = query.where(Project.id.in_(visible or [-1]))
    return list(session.scalars(query))


def list_staff(session: Session, actor: Staff) -> list[Staff]:
    """Colleagues on the caller's projects (administrators: everyone of the company)."""
    query = select(Staff).where(Staff.company_id == actor.company_id).order_by(Staff.username)
    visible = visible_project_ids(actor)
    if visible is not None:
        shared = select(StaffProject.staff_id).where(StaffProject.project_id.in_(visible or [-1]))
        query = query.where(Staff.id.in_(shared))
    return list(session.scalars(query))


def set_password(session: Session, staff: Staff, raw: str) -> None:
    """Set ``staff``'s sign-in password (only its argon2 hash is kept). Every page
    session made with the old password ends, as the session cookie is bound to it."""
    if not PASSWORD_MIN <= len(raw) <= PASSWORD_MAX:
        raise InvalidInput(
            f"a password is {PASSWORD_MIN} to {PASSWORD_MAX} characters "
            f"/ 密码长度为 {PASSWORD_MIN} 至 {PASSWORD_MAX} 个字符",
            field="password",
        )
    staff.password_hash = _hasher.hash(raw)
    session.flush()


def check_password(session: Session, staff: Staff, raw: str) -> bool:
    """Whether ``raw`` is ``staff``'s password; upgrades an old hash on success."""
    if staff.password_hash is None:
        _hasher.hash(raw)  # the same work as a real check: timing tells nothing
        return False
    try:
        _hasher.verify(staff.password_hash, raw)
    except (VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(raw)
        session.flush()
    return True


def find_staff(session: Session, username: str, company_code: str | None = None) -> list[Staff]:
    """Active staff with this username (in the company of ``company_code`` if given);
    usernames are unique per company only, so several companies may have one."""
    query = select(Staff).where(Staff.username == username, Staff.active.is_(True))
    if company_code:
        query = query.join(Company, Company.id == Staff.company_id).where(
            Company.code == company_code
        )
    return list(session.scalars(query.order_by(Staff.id).limit(5)))


def search_owners(
    session: Session, actor: Staff, text: str, *, limit: int = 10
) -> list[tuple[Owner, list[tuple[Unit, str]]]]:
    """Owners the caller may know of, found by phone (exact), unit ("3-0201", exact)
    or name (prefix), each with their units on the caller's projects and the building
    names: what a receiver asks a caller first. Indexed: (company, phone), (company,
    name), units by project."""
    text = text.strip()
    if not text or len(text) > 100:
        return []
    visible = visible_project_ids(actor)
    ids: list[int] = list(
        session.scalars(
            select(Owner.id)
            .where(Owner.company_id == actor.company_id, Owner.phone == text)
            .limit(limit)
        )
    )
    unit_query = (
        select(OwnerUnit.owner_id)
        .join(Unit, Unit.id == OwnerUnit.unit_id)
        .join(Project, Project.id == Unit.project_id)
        .where(Project.company_id == actor.company_id, Unit.name == text)
    )
    if visible is not None:
        unit_query = unit_query.where(Unit.project_id.in_(visible or [-1]))
    ids += list(session.scalars(unit_query.limit(limit)))
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    ids += list(
        session.scalars(
            select(Owner.id)
            .where(
                Owner.company_id == actor.company_id, Owner.name.like(f"{escaped}%", escape="\\")
            )
            .order_by(Owner.name)
            .limit(limit)
        )
    )
    owners = []
    for owner_id in dict.fromkeys(ids):
        try:
            owners.append(get_owner(session, actor, owner_id))
        except NotFound:
            continue
        if len(owners) >= limit:
            break
    if not owners:
        return []
    rows = session.execute(
        select(OwnerUnit.owner_id, Unit, Building.name)
        .join(Unit, Unit.id == OwnerUnit.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .where(OwnerUnit.owner_id.in_([o.id for o in owners]))
        .order_by(Unit.name)
    ).all()
    units: dict[int, list[tuple[Unit, str]]] = {}
    for owner_id, unit, building in rows:
        if visible is None or unit.project_id in visible:
            units.setdefault(owner_id, []).append((unit, building))
    return [(o, units.get(o.id, [])) for o in owners]


# --- Administration (the pages under /admin) -----------------------------------------
# Administrators manage their whole company and may create another company; a project
# manager manages the projects they work on (time zone, SLA targets, buildings, units,
# owners) and the staff below them there (can_manage_staff).

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


def _code(value: str, field: str = "code") -> str:
    value = (value or "").strip()
    if not _CODE.match(value):
        raise InvalidInput(
            "a code is 1 to 40 letters, digits, - or _ / 编码为 1–40 位字母、数字、- 或 _",
            field=field,
        )
    return value


def check_timezone(name: str | None) -> str:
    """An IANA time zone name we can use (e.g. Asia/Shanghai), else InvalidInput."""
    name = (name or "").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"unknown time zone {name!r}, e.g. Asia/Shanghai / 未知时区", field="timezone"
        ) from exc
    return name


def require_admin(actor: Staff) -> None:
    if not can(actor_view(actor), Permission.MANAGE):
        raise Forbidden("administrators only / 仅限管理员")


def administered_project(session: Session, actor: Staff, project_id: int) -> Project:
    """A project ``actor`` may administer: NotFound unless they see it, Forbidden
    unless they are its manager or an administrator."""
    project = get_project(session, actor, project_id)
    if not can_administer_project(actor_view(actor), frozenset(actor.project_ids), project.id):
        raise Forbidden("only the project's manager or an administrator / 仅限项目经理或管理员")
    return project


def create_company_with_admin(
    session: Session,
    actor: Staff,
    *,
    code: str,
    name: str,
    admin_username: str,
    admin_name: str,
    admin_password: str,
) -> tuple[Company, Staff]:
    """A new company (tenant) with its first administrator, who signs in with
    ``admin_password`` and builds the rest. Only an administrator may."""
    require_admin(actor)
    company = create_company(session, code=_code(code), name=name)
    admin = create_staff(
        session,
        company,
        username=_code(admin_username, "admin_username"),
        name=admin_name,
        department=StaffDepartment.MANAGEMENT,
        role=Role.ADMIN,
    )
    set_password(session, admin, admin_password)
    return company, admin


def add_project(
    session: Session,
    actor: Staff,
    *,
    code: str,
    name: str,
    city: str | None = None,
    timezone: str = "Asia/Shanghai",
) -> Project:
    require_admin(actor)
    project = create_project(
        session, company_of(session, actor), code=_code(code), name=name, city=city
    )
    project.timezone = check_timezone(timezone)
    session.flush()
    return project


def update_project(
    session: Session,
    actor: Staff,
    project_id: int,
    *,
    name: str,
    city: str | None,
    timezone: str,
    sla_overrides: dict[str, Any] | None,
) -> Project:
    """Rename a project, move its time zone, set its SLA targets (minutes per urgency
    and clock; None: the taxonomy's defaults). New deadlines follow the new targets;
    deadlines already set stay as they were promised."""
    project = administered_project(session, actor, project_id)
    SlaPolicy.with_overrides(sla_overrides)
    project.name = rules.clean_text(name, field="name", max_chars=200)
    project.city = rules.clean_short(city, field="city", max_chars=100)
    project.timezone = check_timezone(timezone)
    project.sla_overrides = sla_overrides or None
    session.flush()
    return project


def buildings_of(session: Session, actor: Staff, project_id: int) -> list[tuple[Building, int]]:
    """A project's buildings with how many units each has."""
    project = get_project(session, actor, project_id)
    units = func.count(Unit.id)
    rows = session.execute(
        select(Building, units)
        .outerjoin(Unit, Unit.building_id == Building.id)
        .where(Building.project_id == project.id)
        .group_by(Building.id)
        .order_by(Building.name)
    )
    return [(b, int(n)) for b, n in rows]


def _building(session: Session, actor: Staff, building_id: int) -> Building:
    """The building, if its project is the actor's to know of; else NotFound naming
    the building only (never its project: that would tell that it exists)."""
    building = session.get(Building, building_id)
    project = session.get(Project, building.project_id) if building is not None else None
    if (
        building is None
        or project is None
        or project.company_id != actor.company_id
        or not can_see_project(actor, project.id)
    ):
        raise NotFound(f"building {building_id} not found", field="building_id")
    return building


def units_of(session: Session, actor: Staff, building_id: int) -> tuple[Building, list[Unit]]:
    building = _building(session, actor, building_id)
    units = session.scalars(select(Unit).where(Unit.building_id == building.id).order_by(Unit.name))
    return building, list(units)


def new_building(session: Session, actor: Staff, project_id: int, name: str) -> Building:
    project = administered_project(session, actor, project_id)
    return add_building(session, project, rules.clean_text(name, field="name", max_chars=100))


def new_unit(session: Session, actor: Staff, building_id: int, name: str) -> Unit:
    building = _building(session, actor, building_id)
    administered_project(session, actor, building.project_id)
    return add_unit(session, building, rules.clean_text(name, field="name", max_chars=100))


def list_owners(
    session: Session, actor: Staff, text: str | None = None, *, limit: int = 50
) -> list[Owner]:
    """Owners of the actor's company living in the actor's projects (administrators:
    all), matching a phone number exactly or the start of a name."""
    query = select(Owner).where(Owner.company_id == actor.company_id)
    visible = visible_project_ids(actor)
    if visible is not None:
        homes = (
            select(OwnerUnit.owner_id)
            .join(Unit, Unit.id == OwnerUnit.unit_id)
            .where(Unit.project_id.in_(visible or [-1]))
        )
        query = query.where(Owner.id.in_(homes))
    text = (text or "").strip()
    if text:
        query = query.where((Owner.phone == text) | Owner.name.startswith(text, autoescape=True))
    return list(session.scalars(query.order_by(Owner.id.desc()).limit(limit)))


def update_owner(
    session: Session,
    actor: Staff,
    owner_id: int,
    *,
    name: str,
    phone: str | None,
    email: str | None,
    language: str,
    contact_channel: str,
) -> Owner:
    """Correct an owner's details (their language is what they are written to in)."""
    owner = get_owner(session, actor, owner_id)
    if Role(actor.role).rank < Role.AGENT.rank:
        raise Forbidden("agents and above edit owners / 仅客服及以上可修改业主信息")
    if language not in ("zh", "en"):
        raise InvalidInput("language is zh or en", field="language")
    if contact_channel not in ("sms", "wechat", "email"):
        raise InvalidInput("contact_channel is sms, wechat or email", field="contact_channel")
    owner.name = rules.clean_text(name, field="name", max_chars=200)
    owner.phone = rules.clean_short(phone, field="phone", max_chars=40)
    owner.email = rules.clean_short(email, field="email", max_chars=200)
    owner.language = language
    owner.contact_channel = contact_channel
    session.flush()
    return owner


def add_staff(
    session: Session,
    actor: Staff,
    *,
    username: str,
    name: str,
    department: StaffDepartment,
    role: Role,
    project_ids: Iterable[int],
    email: str | None = None,
    password: str | None = None,
    language: str = "zh",
) -> Staff:
    """A new colleague, made by someone who may manage them (no one grants more than
    they have); with a password they can sign in to the pages at once."""
    project_ids = list(dict.fromkeys(project_ids))
    require_staff_manager(actor, role, project_ids)
    staff = create_staff(
        session,
        company_of(session, actor),
        username=_code(username, "username"),
        name=name,
        department=department,
        role=role,
        project_ids=project_ids,
        email=email,
    )
    if language not in ("zh", "en"):
        raise InvalidInput("language is zh or en", field="language")
    staff.language = language
    if password:
        set_password(session, staff, password)
    session.flush()
    return staff


def update_staff(
    session: Session,
    actor: Staff,
    staff_id: int,
    *,
    role: Role,
    department: StaffDepartment,
    project_ids: Iterable[int],
    active: bool,
    now: datetime,
    password: str | None = None,
) -> Staff:
    """Change a colleague's role, department, projects or whether they may sign in;
    the actor must be able to manage them both before and after."""
    target = session.get(Staff, staff_id)
    if target is None or target.company_id != actor.company_id:
        raise NotFound(f"staff {staff_id} not found")
    project_ids = list(dict.fromkeys(project_ids))
    require_staff_manager(actor, Role(target.role), target.project_ids)
    require_staff_manager(actor, role, project_ids)
    if target.id == actor.id and (role != Role(actor.role) or not active):
        raise InvalidInput(
            "you cannot change your own role or switch yourself off / 不能修改自己的角色或停用自己",
            field="role",
        )
    target.role = role.value
    target.department = department.value
    queries.forget_people(target.id)  # what complaints name them by, in this process
    if target.active and not active:
        # Switching someone off revokes their tokens and is audited: accounts' rule.
        accounts.deactivate(session, actor, target, now)
    elif active:
        target.active = True
    session.execute(delete(StaffProject).where(StaffProject.staff_id == target.id))
    for project_id in project_ids:
        project = session.get(Project, project_id)
        if project is None or project.company_id != actor.company_id:
            raise InvalidInput(f"project {project_id} not found", field="project_ids")
        session.add(StaffProject(staff_id=target.id, project_id=project_id))
    if password:
        set_password(session, target, password)
    session.flush()
    session.refresh(target)
    return target
