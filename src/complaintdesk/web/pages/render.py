"""Rendering pages: one Jinja2 environment, the viewer's language, times and CSRF.

``page(request, "name.html", title=..., **context)`` renders a template of
``templates/`` with what every page needs: ``_`` (gettext in the viewer's
language), ``lang``, ``csrf_token``, ``staff`` (the signed-in person, if any),
``when`` / ``ago`` for times. Templates extend ``base.html``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from complaintdesk import i18n
from complaintdesk.i18n import N_
from complaintdesk.web.pages.security import LANG_COOKIE, security_of
from complaintdesk.web.presenter import zone

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class NavItem:
    """A link of the staff menu; ``roles`` None: everyone."""

    path: str
    label: str  # an English message id, translated when shown
    roles: frozenset[str] | None = None

    def visible_to(self, staff: Any) -> bool:
        return staff is not None and (self.roles is None or staff.role in self.roles)


NAV: list[NavItem] = [
    NavItem("/work", N_("My work")),
    NavItem("/intake", N_("New complaint")),
    NavItem("/review", N_("Review queue")),
]
"""The staff menu, in order; a module adding pages appends its items here."""


def lang_of(request: Request) -> str:
    """The viewer's language: their choice (cookie), else their browser's."""
    cached = getattr(request.state, "lang", None)
    if cached:
        return str(cached)
    lang = i18n.normalise(request.cookies.get(LANG_COOKIE)) or i18n.from_accept_language(
        request.headers.get("accept-language")
    )
    request.state.lang = lang
    return lang


def when(at: datetime | None, tz: str | None = None, *, seconds: bool = False) -> str:
    """A time as people read it, in ``tz`` (a project's zone; default Asia/Shanghai)."""
    if at is None:
        return "—"
    local = at.astimezone(zone(tz))
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def duration(delta: timedelta, lang: str) -> str:
    """A span like "2 d 3 h" / "2天3小时" (minutes when under an hour)."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    units = ("天", "小时", "分钟") if lang == "zh" else (" d", " h", " min")
    parts = []
    if days:
        parts.append(f"{days}{units[0]}")
    if hours:
        parts.append(f"{hours}{units[1]}")
    if mins and not days:
        parts.append(f"{mins}{units[2]}")
    return ("" if lang == "zh" else " ").join(parts) or f"0{units[2]}"


def here(request: Request) -> str:
    """This page's path and query, for coming back after sign-in or a language switch."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def context(request: Request, **values: Any) -> dict[str, Any]:
    lang = lang_of(request)
    return {
        "request": request,
        "lang": lang,
        "other_lang": "en" if lang == "zh" else "zh",
        "language_names": i18n.LANGUAGE_NAMES,
        "_": i18n.translator(lang),
        "pick": lambda message: i18n.pick(message, lang),
        "csrf_token": security_of(request).csrf_token(request),
        "staff": getattr(request.state, "viewer", None),
        "owner": getattr(request.state, "owner", None),  # the owner portal's viewer
        "nav": NAV,
        "when": when,
        "duration": lambda delta: duration(delta, lang),
        "here": quote(here(request), safe=""),
        "path": request.url.path,
        **values,
    }


def page(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """Render ``template`` for this request (see the module docstring)."""
    html = env.get_template(template).render(context(request, **values))
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    security_of(request).keep_csrf_cookie(request, response)
    return response


def photo_response(data: bytes, content_type: str) -> Response:
    """A stored photo: private to the browser that asked, never sniffed, no scripts."""
    return Response(
        data,
        media_type=content_type,
        headers={
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
        },
    )
