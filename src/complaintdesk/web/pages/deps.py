"""Dependencies of the pages: the signed-in staff member, the complaint in the path,
the viewer's language, and the CSRF check every pages router runs.

As for the API (``web/deps.py``), whether a complaint is the viewer's to know of
(404) is decided here once, by the same service function; whether they may act on
it (403) by the service they call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from complaintdesk.db.models import Complaint, Staff
from complaintdesk.services.common import get_complaint
from complaintdesk.web.deps import IdPath, SessionDep
from complaintdesk.web.pages.render import lang_of
from complaintdesk.web.pages.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    fingerprint,
    security_of,
)


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as the layout shows them (menu, name)."""

    id: int
    name: str
    role: str
    department: str


class SignInRequired(Exception):
    """Raised by the page dependencies when nobody (valid) is signed in: the pages
    answer with a redirect to the sign-in page."""

    def __init__(self, kind: str = "staff") -> None:
        super().__init__(kind)
        self.kind = kind


class CsrfRefused(Exception):
    """A state-changing request without a valid CSRF token (the pages answer 403)."""


async def verify_csrf(request: Request) -> None:
    """Refuse a POST (PUT, PATCH, DELETE) whose CSRF token does not match its cookie.
    Forms send it as the ``csrf_token`` field, HTMX as the ``X-CSRF-Token`` header."""
    if request.method in SAFE_METHODS:
        return
    token = request.headers.get(CSRF_HEADER)
    if not token:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # cached on the request: the handler reads it again
            value = form.get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
    if not security_of(request).csrf_ok(request, token):
        raise CsrfRefused()


def pages_router(**kwargs: Any) -> APIRouter:
    """An APIRouter for pages: HTML responses, left out of the OpenAPI schema, and
    the CSRF check on every state-changing request. Make every pages router with it."""
    dependencies = [Depends(verify_csrf), *kwargs.pop("dependencies", [])]
    return APIRouter(
        include_in_schema=False,
        default_response_class=HTMLResponse,
        dependencies=dependencies,
        **kwargs,
    )


def signed_in_staff(request: Request, session: SessionDep) -> Staff | None:
    """The staff member of the session cookie, if it is valid and still theirs."""
    signed = security_of(request).read_session(request)
    if signed is None or signed.kind != "staff":
        return None
    staff = session.get(Staff, signed.subject)
    if staff is None or not staff.active or fingerprint(staff.password_hash) != signed.check:
        return None
    request.state.staff = staff
    # What the layout shows of them, kept apart from the ORM row: an error page is
    # rendered after the request's session has ended.
    request.state.viewer = Viewer(staff.id, staff.name, staff.role, staff.department)
    return staff


def get_page_staff(request: Request, session: SessionDep) -> Staff:
    staff = signed_in_staff(request, session)
    if staff is None:
        raise SignInRequired("staff")
    return staff


PageStaff = Annotated[Staff, Depends(get_page_staff)]
MaybeStaff = Annotated[Staff | None, Depends(signed_in_staff)]
LangDep = Annotated[str, Depends(lang_of)]


def load_page_complaint(complaint_id: IdPath, session: SessionDep, staff: PageStaff) -> Complaint:
    return get_complaint(session, staff, complaint_id)


PageComplaint = Annotated[Complaint, Depends(load_page_complaint)]
