"""Sign-in and sign-out of staff, the language switch, and ``/``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from complaintdesk import i18n
from complaintdesk.i18n import N_
from complaintdesk.services import signin
from complaintdesk.web.deps import NowDep, SessionDep
from complaintdesk.web.pages.deps import LangDep, MaybeStaff, pages_router
from complaintdesk.web.pages.render import page, safe_next
from complaintdesk.web.pages.security import LANG_COOKIE, fingerprint, security_of

router = pages_router()

HOME = "/work"
_REFUSALS = {
    signin.BAD_CREDENTIALS: N_("The username or password is wrong."),
    signin.NEEDS_COMPANY: N_(
        "This username exists in more than one company: give the company code."
    ),
}


@router.get("/")
def home(staff: MaybeStaff) -> RedirectResponse:
    """Signed in: My work. Else the sign-in page."""
    return RedirectResponse(HOME if staff is not None else "/signin", status_code=303)


@router.get("/signin")
def signin_form(request: Request, staff: MaybeStaff, next: str = HOME) -> Response:
    if staff is not None:
        return RedirectResponse(safe_next(next, HOME), status_code=303)
    return page(request, "signin.html", title=N_("Sign in"), next=safe_next(next, HOME), form={})


@router.post("/signin")
def signin_submit(
    request: Request,
    session: SessionDep,
    now: NowDep,
    lang: LangDep,
    username: Annotated[str, Form(max_length=80)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    company: Annotated[str, Form(max_length=40)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    client = request.client.host if request.client else "unknown"
    result = signin.sign_in(
        session,
        username=username,
        password=password,
        company_code=company,
        client=client,
        now=now,
    )
    if result.staff is None:
        t = i18n.translator(lang)
        return page(
            request,
            "signin.html",
            status_code=401,
            title=N_("Sign in"),
            next=safe_next(next, HOME),
            form={"username": username, "company": company},
            error=t(_REFUSALS[result.refusal or signin.BAD_CREDENTIALS]),
        )
    response = RedirectResponse(safe_next(next, HOME), status_code=303)
    staff = result.staff
    security_of(request).start_session(
        response, "staff", staff.id, fingerprint(staff.password_hash)
    )
    return response


@router.post("/signout")
def signout(
    request: Request, session: SessionDep, now: NowDep, staff: MaybeStaff
) -> RedirectResponse:
    response = RedirectResponse("/signin", status_code=303)
    if staff is not None:
        signin.sign_out(session, staff, now)
    security_of(request).end_session(response)
    return response


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str = "/") -> RedirectResponse:
    """Remember the viewer's language (a preference, not a change of data)."""
    response = RedirectResponse(safe_next(next), status_code=303)
    lang = i18n.normalise(code)
    if lang is not None:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=security_of(request).secure_cookies,
        )
    return response
