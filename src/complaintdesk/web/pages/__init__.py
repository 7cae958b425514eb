"""The pages people use in a browser (Jinja2 + HTMX, no build step).

``install(app, security)`` mounts the static files, the page routers, and the
handlers that turn a missing sign-in into a redirect and errors into pages.
How to add a page: see ``docs/pages.md``.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from complaintdesk import i18n
from complaintdesk.i18n import N_
from complaintdesk.web.pages import (
    admin_pages,
    auth,
    complaint_pages,
    dashboard,
    intake_pages,
    owner_pages,
    staff_pages,
)
from complaintdesk.web.pages.deps import CsrfRefused, SignInRequired
from complaintdesk.web.pages.render import STATIC, here, lang_of, page
from complaintdesk.web.pages.security import Security

SIGN_IN_PAGES = {"staff": "/signin", "owner": "/portal/signin"}
"""Where each kind of session signs in (the owner portal adds its own)."""


def install(app: FastAPI, security: Security) -> None:
    app.state.security = security
    app.state.page_errors = error_page
    app.mount("/assets", StaticFiles(directory=STATIC), name="assets")
    app.include_router(auth.router)
    app.include_router(staff_pages.router)
    app.include_router(dashboard.router)
    app.include_router(admin_pages.router)
    app.include_router(owner_pages.router)
    app.include_router(intake_pages.router)
    app.include_router(complaint_pages.router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        target = f"{SIGN_IN_PAGES.get(exc.kind, '/signin')}?next={quote(here(request), safe='')}"
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> Response:
        t = i18n.translator(lang_of(request))
        return error_page(
            request,
            403,
            t("This form has expired or did not come from this site: reload the page."),
        )


def error_page(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """An error as a page in the viewer's language (the errors module calls this for
    everything outside ``/api/``)."""
    lang = lang_of(request)
    return page(
        request,
        "error.html",
        status_code=status,
        headers=headers,
        title=N_("Error"),
        status=status,
        detail=i18n.pick(detail, lang),
    )
