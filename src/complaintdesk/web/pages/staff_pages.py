"""The staff console: My work, (more pages are added in their own modules)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response

from complaintdesk.domain.lifecycle import OPEN_STATES, Status
from complaintdesk.domain.taxonomy import Category, Department, Nature, Urgency
from complaintdesk.i18n import N_
from complaintdesk.services import queries, search
from complaintdesk.web.deps import GenericPlanReads, NowDep, SessionDep
from complaintdesk.web.pages import render
from complaintdesk.web.pages.deps import PageStaff, pages_router
from complaintdesk.web.presenter import Named, present, zone

router = pages_router()

PAGE_SIZE = 25
_FLAGS = ("overdue", "escalated", "needs_review", "risk", "repeat")


def _choice(value: str | None, enum: type[StrEnum]) -> str | None:
    if not value:
        return None
    try:
        return enum(value).value
    except ValueError:
        return None


def _flag(value: str | None) -> bool | None:
    return {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}.get(
        (value or "").lower()
    )


def end_of_today(now: datetime, tz: str) -> datetime:
    """Midnight at the end of ``now``'s day in ``tz``."""
    local = now.astimezone(zone(tz))
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone(tz))


def choices(enum: type[StrEnum]) -> list[Named]:
    return [Named.of(v) for v in enum]  # type: ignore[arg-type]


Text = Annotated[str, Query(max_length=40)]


@router.get("/work", dependencies=[GenericPlanReads])
def my_work(
    request: Request,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    scope: Text = "department",
    status: Text = "",
    nature: Text = "",
    category: Text = "",
    urgency: Text = "",
    department: Text = "",
    overdue: Text = "",
    escalated: Text = "",
    needs_review: Text = "",
    risk: Text = "",
    repeat: Text = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=1000)] = 1,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """What I answer for, by deadline; follow-ups due today; return visits due. The
    filters come from a form of selects: an empty or unknown choice means any. A hot
    read, as the API's lists are (``GenericPlanReads``): its lists run from generic
    plans from the transaction's first round trip."""
    params = request.query_params
    flt = queries.WorkFilter(
        scope=scope if scope in queries.WORK_SCOPES else "department",
        status=_choice(status, Status),
        nature=_choice(nature, Nature),
        category=_choice(category, Category),
        urgency=_choice(urgency, Urgency),
        department=_choice(department, Department),
        overdue=_flag(overdue),
        escalated=_flag(escalated),
        needs_review=_flag(needs_review),
        risk=_flag(risk),
        repeat=_flag(repeat),
    )
    number = page_number
    rows, more = queries.my_work(session, staff, flt, now, page=number, page_size=PAGE_SIZE)
    tz = next(iter(sorted(p.timezone for p in staff.projects)), None) or "Asia/Shanghai"
    follow = queries.follow_ups_due(session, staff, end_of_today(now, tz))
    visits = queries.visits_due(session, staff) if staff.role != "staff" else []
    views = present(session, rows, staff)
    found = (
        present(
            session,
            search.search(session, staff, q, queries.ComplaintFilter(), now, limit=PAGE_SIZE).items,
            staff,
        )
        if q.strip()
        else None
    )
    follow_views = present(session, follow, staff)
    visit_views = present(session, visits, staff)
    query_without_page = "&".join(f"{k}={v}" for k, v in params.multi_items() if k != "page" and v)
    return render.page(
        request,
        "work.html",
        title=N_("My work"),
        views=views,
        q=q,
        found=found,
        follow_views=follow_views,
        visit_views=visit_views,
        now=now,
        flt=flt,
        page_number=number,
        more=more,
        base_query=query_without_page,
        statuses=[Named.of(s) for s in OPEN_STATES],
        natures=choices(Nature),
        categories=choices(Category),
        urgencies=choices(Urgency),
        departments=choices(Department),
        flags=_FLAGS,
    )
