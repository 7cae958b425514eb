"""The dashboard for supervisors and managers: the numbers of ``services/reports.py``
drawn with ECharts, per project, department and period.

The page renders the figures as tables too (readable without JavaScript, and by the
tests); the charts are drawn in the browser from the same numbers, passed as JSON.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response

from complaintdesk.domain.errors import DomainError
from complaintdesk.domain.taxonomy import Category, Channel, Department, Nature, display_name
from complaintdesk.i18n import N_, pick, translator
from complaintdesk.services import org, reports
from complaintdesk.services.common import project_zone
from complaintdesk.web.deps import NowDep, SessionDep
from complaintdesk.web.pages import render
from complaintdesk.web.pages.deps import PageStaff, pages_router

router = pages_router()
READERS = frozenset(r.value for r in reports.READERS)
render.NAV.append(render.NavItem("/dashboard", N_("Dashboard"), READERS))

DEFAULT_DAYS = 30
Text = Annotated[str, Query(max_length=40)]


def _date(value: str, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 20 else None


def _names(counts: dict[str, int], enum: Any, lang: str) -> list[dict[str, Any]]:
    out = []
    for code, n in counts.items():
        try:
            name = display_name(enum(code), lang)
        except ValueError:
            name = code
        out.append({"code": code, "name": name, "value": n})
    return out


@router.get("/dashboard")
def dashboard(
    request: Request,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    project: Text = "",
    department: Text = "",
    start: Text = "",
    end: Text = "",
) -> Response:
    reports.require_reader(staff)
    lang = render.lang_of(request)
    t = translator(lang)
    projects = org.list_projects(session, staff)
    project_id = _int(project)
    if project_id not in {p.id for p in projects}:
        project_id = None
    chosen = next((p for p in projects if p.id == project_id), None)
    today = now.astimezone(project_zone(chosen)).date()
    end_day = _date(end, today)
    start_day = _date(start, end_day - timedelta(days=DEFAULT_DAYS - 1))
    try:
        dept = Department(department) if department else None
    except ValueError:
        dept = None
    filters = reports.Filters(start_day, end_day, project_id, dept)
    error = None
    try:
        report = reports.report(session, staff, filters)
    except DomainError as exc:
        error = pick(str(exc), lang)
        filters = reports.Filters(today - timedelta(days=DEFAULT_DAYS - 1), today, project_id, dept)
        report = reports.report(session, staff, filters)
    charts: dict[str, Any] = {
        "volume": {
            "labels": [b.label for b in report.volume],
            "values": [b.count for b in report.volume],
            "title": t("Complaints received"),
        },
        "nature": _names(report.by_nature, Nature, lang),
        "category": _names(report.by_category, Category, lang),
        "channel": _names(report.by_channel, Channel, lang),
        "rates": [
            {"name": t(label), "value": None if value is None else round(value * 100, 1)}
            for label, value, _part, _whole in _rates(report.rates)
        ],
        "pairs": [
            {
                "name": f"{p.project_code} {p.building} · "
                f"{display_name(Category(p.category), lang)}",
                "value": p.count,
            }
            for p in report.top_pairs
        ],
    }
    return render.page(
        request,
        "dashboard.html",
        title=N_("Dashboard"),
        report=report,
        charts=charts,
        rates=_rates(report.rates),
        projects=projects,
        departments=[(d.value, display_name(d, lang)) for d in Department],
        names={
            "nature": {c["code"]: c["name"] for c in charts["nature"]},
            "category": {c["code"]: c["name"] for c in charts["category"]},
            "channel": {c["code"]: c["name"] for c in charts["channel"]},
        },
        error=error,
    )


def _rates(r: reports.Rates) -> list[tuple[str, float | None, int, int]]:
    return [
        (N_("Response rate"), r.response_rate, r.responded, r.received),
        (N_("Resolution rate"), r.resolution_rate, r.resolved, r.received),
        (N_("Satisfaction rate"), r.satisfaction_rate, r.satisfied, r.visited),
        (N_("SLA compliance"), r.sla_compliance, r.on_time, r.decided),
        (N_("Repeat rate"), r.repeat_rate, r.repeats, r.received),
        (N_("Effective-complaint rate"), r.effective_rate, r.effective, r.judged),
    ]
