"""Staff accounts: API tokens (issued to oneself, expiring, revocable) and deactivation.

No one is issued a token on someone else's behalf: whoever acts does so as themselves,
so that every event and audit entry names who really acted. An operator at the command
line may issue a staff member's first token (``issued_by_id`` is then None).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_dict, set_committed_value
from sqlalchemy.orm.util import identity_key

from complaintdesk.db.ids import new_id
from complaintdesk.db.loaded import as_loaded, column_keys
from complaintdesk.db.models import ApiToken, Project, Staff, StaffProject
from complaintdesk.domain import rules
from complaintdesk.domain.audit import AuditKind, Subject
from complaintdesk.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from complaintdesk.domain.permissions import can_manage_staff
from complaintdesk.domain.taxonomy import Role
from complaintdesk.services import audit
from complaintdesk.services.common import actor_view, visible_project_ids

TOKEN_PREFIX = "cdk_"
DEFAULT_TTL = timedelta(days=90)
MAX_TTL = timedelta(days=366)
MAX_ACTIVE_TOKENS = 20
"""Per staff member: enough for every device and script, not an unbounded supply."""
LAST_USED_GRANULARITY = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token: most requests read only."""


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def issue_token(
    session: Session,
    staff: Staff,
    now: datetime,
    *,
    name: str = "",
    ttl: timedelta = DEFAULT_TTL,
    issued_by: Staff | None = None,
) -> str:
    """A new bearer token for ``staff``, valid for ``ttl``; only its hash is stored, so
    it is shown once. ``issued_by`` is ``staff`` themselves, or None for an operator at
    the command line; never anyone else."""
    if issued_by is not None and issued_by.id != staff.id:
        raise Forbidden("tokens are issued only to oneself / 令牌只能为本人签发")
    if not staff.active:
        raise Conflict("this staff member is deactivated / 该员工已停用", field="staff")
    if not timedelta(minutes=1) <= ttl <= MAX_TTL:
        raise InvalidInput(
            f"a token lives 1 minute to {MAX_TTL.days} days "
            f"/ 有效期须为 1 分钟至 {MAX_TTL.days} 天",
            field="expires_in_days",
        )
    name = rules.clean_line(name, field="name", max_chars=100, required=False)
    active: int | None = session.scalar(
        select(func.count())
        .select_from(ApiToken)
        .where(ApiToken.staff_id == staff.id, _usable(now))
    )
    if (active or 0) >= MAX_ACTIVE_TOKENS:
        raise Conflict(
            f"at most {MAX_ACTIVE_TOKENS} tokens at a time: revoke one first "
            f"/ 最多同时持有 {MAX_ACTIVE_TOKENS} 个令牌,请先吊销一个",
            field="name",
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + ttl
    token = ApiToken(
        id=new_id(),
        staff_id=staff.id,
        token_hash=hash_token(raw),
        name=name,
        created_at=now,
        expires_at=expires_at,
        issued_by_id=issued_by.id if issued_by is not None else None,
    )
    session.add(token)
    audit.record(
        session,
        company_id=staff.company_id,
        actor=issued_by,
        kind=AuditKind.TOKEN_ISSUED,
        at=now,
        subject=Subject.TOKEN,
        subject_id=token.id,
        data={"staff_id": str(staff.id), "name": name, "expires_at": expires_at.isoformat()},
    )
    session.flush()
    return raw


def _usable(now: datetime) -> ColumnElement[bool]:
    return and_(
        ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
    )


_TOKENS = cast(Table, ApiToken.__table__)
_STAFF = cast(Table, Staff.__table__)
_PROJECTS = cast(Table, Project.__table__)
_STAFF_PROJECTS = cast(Table, StaffProject.__table__)
_AUTHENTICATE = (
    select(_TOKENS.c.id, _TOKENS.c.last_used_at, *_STAFF.c, *_PROJECTS.c)
    .select_from(
        _TOKENS.join(_STAFF, _STAFF.c.id == _TOKENS.c.staff_id)
        .outerjoin(_STAFF_PROJECTS, _STAFF_PROJECTS.c.staff_id == _STAFF.c.id)
        .outerjoin(_PROJECTS, _PROJECTS.c.id == _STAFF_PROJECTS.c.project_id)
    )
    .where(
        _TOKENS.c.token_hash == bindparam("token_hash"),
        _STAFF.c.active.is_(True),
        _TOKENS.c.revoked_at.is_(None),
        or_(_TOKENS.c.expires_at.is_(None), _TOKENS.c.expires_at > bindparam("now")),
    )
)
"""Built once: made per request, the statement and its cache key cost about as much
CPU as running it (the same conditions as :func:`_usable`). A Core statement: one row
per project of the staff member (one with no project if they have none), the token's
id and ``last_used_at``, the staff member's columns, the project's."""

_TOUCH = (
    update(_TOKENS)
    .where(_TOKENS.c.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now", type_=_TOKENS.c.last_used_at.type))
)
# The attribute of each column, in the table's order (the statement's).
_STAFF_KEYS = column_keys(Staff)
_PROJECT_KEYS = column_keys(Project)
_STAFF_AT = 2
_PROJECT_AT = _STAFF_AT + len(_STAFF.c)


def authenticate(session: Session, raw: str, now: datetime) -> Staff | None:
    """The active staff member a bearer token belongs to, if it is neither expired nor
    revoked; else None.

    One query on the token's unique index brings the token, the staff member and their
    projects: every request pays for it, and the projects are what scope checks read
    (``get_project`` then finds them in the session, with no query of its own). It is
    a Core statement whose row becomes the staff member and their projects in the
    session as if loaded (the ORM's loading of the token, the staff member and the
    joined projects, with its unique filter, cost about 40 µs more a request:
    docs/capacity.md, session 11); it is run on every request, so a token revoked,
    expired or whose holder was deactivated is refused from the next request on.
    ``last_used_at`` is brought up to date at most once a minute (one UPDATE then), so
    most requests only read.
    """
    rows = session.execute(_AUTHENTICATE, {"token_hash": hash_token(raw), "now": now}).all()
    if not rows:
        return None
    first = rows[0]
    token_id, last_used_at = first[0], first[1]
    staff = as_loaded(session, Staff, _STAFF_KEYS, first, _STAFF_AT)
    if "projects" not in instance_dict(staff):
        projects = [
            as_loaded(session, Project, _PROJECT_KEYS, row, _PROJECT_AT)
            for row in rows
            if row[_PROJECT_AT] is not None
        ]
        set_committed_value(staff, "projects", projects)
    if last_used_at is None or now - last_used_at >= LAST_USED_GRANULARITY:
        session.execute(_TOUCH, {"token_id": token_id, "now": now})
        held = session.identity_map.get(identity_key(ApiToken, token_id))
        if held is not None:
            set_committed_value(held, "last_used_at", now)
    return staff


def token_of(session: Session, raw: str) -> ApiToken:
    """The stored row of a token just issued."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(raw)))
    assert token is not None
    return token


def _token_in_company(session: Session, actor: Staff, token_id: int) -> ApiToken:
    """A token the actor may manage: their own, or (administrators) any of their
    company's. Else NotFound."""
    found = session.execute(
        select(ApiToken, Staff.company_id)
        .join(Staff, Staff.id == ApiToken.staff_id)
        .where(ApiToken.id == token_id)
    ).first()
    if found is None:
        raise NotFound(f"token {token_id} not found", field="token_id")
    token, company_id = found
    mine = token.staff_id == actor.id
    admin_here = actor.role == Role.ADMIN and company_id == actor.company_id
    if not (mine or admin_here):
        raise NotFound(f"token {token_id} not found", field="token_id")
    return token


def list_tokens(session: Session, actor: Staff, staff_id: int | None = None) -> list[ApiToken]:
    """The caller's tokens; administrators may ask for anyone's of their company."""
    holder_id = staff_id if staff_id is not None else actor.id
    if holder_id != actor.id:
        holder = session.get(Staff, holder_id)
        if holder is None or holder.company_id != actor.company_id or actor.role != Role.ADMIN:
            raise NotFound(f"staff {holder_id} not found", field="staff_id")
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.staff_id == holder_id).order_by(ApiToken.id.desc())
        )
    )


def revoke_token(session: Session, actor: Staff | None, token: ApiToken, now: datetime) -> None:
    """Revoke ``token`` (once: revoking again changes nothing)."""
    if token.revoked_at is not None:
        return
    token.revoked_at = now
    token.revoked_by_id = actor.id if actor is not None else None
    holder = session.get(Staff, token.staff_id)
    assert holder is not None
    audit.record(
        session,
        company_id=holder.company_id,
        actor=actor,
        kind=AuditKind.TOKEN_REVOKED,
        at=now,
        subject=Subject.TOKEN,
        subject_id=token.id,
        data={"staff_id": str(holder.id)},
    )
    session.flush()


def revoke_token_by_id(session: Session, actor: Staff, token_id: int, now: datetime) -> ApiToken:
    """Revoke one of the caller's tokens, or (administrators) any of their company's."""
    token = _token_in_company(session, actor, token_id)
    revoke_token(session, actor, token, now)
    return token


def deactivate(session: Session, actor: Staff | None, target: Staff, now: datetime) -> int:
    """Deactivate ``target``: they can no longer sign in nor use any token, and every
    token they hold is revoked. Administrators deactivate anyone of their company but
    themselves; a project manager the staff below them on their projects. ``actor`` None
    is an operator at the command line. Returns how many tokens were revoked."""
    if actor is not None:
        if target.company_id != actor.company_id:
            raise NotFound(f"staff {target.id} not found", field="staff_id")
        if target.id == actor.id:
            raise Conflict("one cannot deactivate oneself / 不能停用自己", field="staff_id")
        if not can_manage_staff(
            actor_view(actor),
            frozenset(actor.project_ids),
            Role(target.role),
            frozenset(target.project_ids),
        ):
            raise Forbidden(f"a {actor.role} may not deactivate a {target.role} / 无权停用该员工")
    tokens = list(
        session.scalars(
            select(ApiToken).where(ApiToken.staff_id == target.id, ApiToken.revoked_at.is_(None))
        )
    )
    for token in tokens:
        revoke_token(session, actor, token, now)
    was_active = target.active
    target.active = False
    if was_active:
        audit.record(
            session,
            company_id=target.company_id,
            actor=actor,
            kind=AuditKind.STAFF_DEACTIVATED,
            at=now,
            subject=Subject.STAFF,
            subject_id=target.id,
            data={"tokens_revoked": len(tokens)},
        )
    session.flush()
    return len(tokens)


def get_colleague(session: Session, actor: Staff, staff_id: int) -> Staff:
    """A staff member the actor may know of: of their company and sharing a project
    with them (administrators: anyone of their company). Else NotFound."""
    target = session.get(Staff, staff_id)
    if target is None or target.company_id != actor.company_id:
        raise NotFound(f"staff {staff_id} not found", field="staff_id")
    visible = visible_project_ids(actor)
    if visible is not None and target.id != actor.id and not target.project_ids & visible:
        raise NotFound(f"staff {staff_id} not found", field="staff_id")
    return target
