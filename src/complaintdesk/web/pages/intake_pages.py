"""Intake (首问负责制: any staff member registers, the guard at the gate too) and the
review queue of labels the classifier was unsure of."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from complaintdesk import i18n
from complaintdesk.db.models import Staff
from complaintdesk.domain.errors import DomainError, InvalidInput
from complaintdesk.domain.taxonomy import LABELS, Channel
from complaintdesk.i18n import N_
from complaintdesk.services import intake, labels, org, privacy, queries, suggest
from complaintdesk.services.common import get_complaint
from complaintdesk.web.deps import ClassifierDep, GenericPlanReads, IdPath, NowDep, SessionDep
from complaintdesk.web.pages import render
from complaintdesk.web.pages.complaint_pages import LABEL_TITLES
from complaintdesk.web.pages.deps import PageStaff, pages_router
from complaintdesk.web.presenter import Named, present

router = pages_router()

Short = Annotated[str, Form(max_length=200)]
Long = Annotated[str, Form(max_length=20000)]
INTAKE_CHANNELS = (Channel.PHONE, Channel.WALK_IN, Channel.WECHAT, Channel.EMAIL, Channel.OTHER)


def _label_options() -> dict[str, list[Named]]:
    return {name: [Named.of(v) for v in enum] for name, enum in LABELS.items()}  # type: ignore[arg-type]


def _parse_who(who: str) -> tuple[int | None, int | None]:
    """``"owner:unit"``, ``"owner:"`` or ``"caller"`` from the owner search's radios."""
    if not who or who == "caller":
        return None, None
    owner, _, unit = who.partition(":")
    try:
        return int(owner), (int(unit) if unit else None)
    except ValueError as exc:
        raise InvalidInput("choose the owner again / 请重新选择业主", field="who") from exc


def _intake_page(
    request: Request,
    session: Session,
    staff: Staff,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    t = i18n.translator(render.lang_of(request))
    return render.page(
        request,
        "intake.html",
        status_code=status_code,
        title=N_("New complaint"),
        projects=org.list_projects(session, staff),
        channels=[Named.of(c) for c in INTAKE_CHANNELS],
        label_titles={k: t(v) for k, v in LABEL_TITLES.items()},
        label_options=_label_options(),
        form=form or {},
        errors=errors or {},
        # One key per form shown: sending it twice (a double click, a retry after the
        # server died before answering) registers the complaint once.
        form_key=(form or {}).get("idempotency_key") or f"form-{uuid.uuid4().hex}",
    )


@router.get("/intake")
def intake_form(request: Request, session: SessionDep, staff: PageStaff) -> Response:
    return _intake_page(request, session, staff)


@router.get("/intake/owners")
def owner_search(
    request: Request,
    session: SessionDep,
    staff: PageStaff,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The owners a phone, unit or name finds (an HTMX fragment of radio choices)."""
    found = org.search_owners(session, staff, q) if q.strip() else []
    now = request.app.state.clock()
    # Phones in full only to those who call owners back (each read audited), else masked.
    phones = {o.id: privacy.owner_contact(session, staff, o, now).phone for o, _ in found}
    return render.page(request, "_owner_results.html", found=found, phones=phones, q=q, title="")


@router.post("/intake/suggest")
def suggestion(
    request: Request,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    classifier: ClassifierDep,
    text: Long = "",
    project_id: Short = "",
    who: Short = "",
) -> Response:
    """The classifier's suggestion for the words typed so far (an HTMX fragment)."""
    context: dict[str, Any] = {"s": None, "title": ""}
    if text.strip() and project_id:
        try:
            owner_id, unit_id = _parse_who(who)
            s = suggest.suggest(
                session,
                staff,
                classifier,
                now,
                project_id=int(project_id),
                text=text,
                owner_id=owner_id,
                unit_id=unit_id,
            )
        except (DomainError, ValueError):
            s = None
        if s is not None:
            t = i18n.translator(render.lang_of(request))
            project_tz = next((p.timezone for p in staff.projects if str(p.id) == project_id), None)
            context.update(
                s=s,
                tz=project_tz,
                label_titles={k: t(v) for k, v in LABEL_TITLES.items()},
                label_options=_label_options(),
                same=present(session, s.same_matter, staff),
                building=present(session, s.building, staff),
            )
    return render.page(request, "_suggestion.html", **context)


@router.post("/intake")
def register(
    request: Request,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    classifier: ClassifierDep,
    text: Long = "",
    project_id: Short = "",
    who: Short = "",
    caller_name: Short = "",
    caller_phone: Short = "",
    channel: Short = "phone",
    location: Short = "",
    summary: Long = "",
    nature: Short = "",
    category: Short = "",
    urgency: Short = "",
    department: Short = "",
    suggested_nature: Short = "",
    suggested_category: Short = "",
    suggested_urgency: Short = "",
    suggested_department: Short = "",
    idempotency_key: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    form = {
        "idempotency_key": idempotency_key,
        "text": text,
        "project_id": project_id,
        "who": who,
        "caller_name": caller_name,
        "caller_phone": caller_phone,
        "channel": channel,
        "location": location,
        "summary": summary,
    }
    chosen = {"nature": nature, "category": category, "urgency": urgency, "department": department}
    suggested = {
        "nature": suggested_nature,
        "category": suggested_category,
        "urgency": suggested_urgency,
        "department": suggested_department,
    }
    # Only the labels the receiver changed are theirs; the rest stay the classifier's.
    staff_labels = {k: v for k, v in chosen.items() if v and v != suggested.get(k)}
    try:
        with session.begin_nested():
            owner_id, unit_id = _parse_who(who)
            try:
                project = int(project_id)
            except ValueError as exc:
                raise InvalidInput("choose the project / 请选择项目", field="project_id") from exc
            try:
                how = Channel(channel)
            except ValueError as exc:
                raise InvalidInput("choose the channel / 请选择来源", field="channel") from exc
            complaint = intake.register(
                session,
                staff,
                intake.NewComplaint(
                    project_id=project,
                    text=text,
                    channel=how,
                    owner_id=owner_id,
                    unit_id=unit_id,
                    caller_name=caller_name or None,
                    caller_phone=caller_phone or None,
                    summary=summary or None,
                    location=location or None,
                    labels=staff_labels,
                ),
                classifier,
                now,
                idempotency_key=idempotency_key or None,
            )
    except DomainError as exc:
        message = i18n.pick(exc.message, render.lang_of(request))
        field = exc.field or "_"
        if field in ("owner_id", "unit_id"):
            field = "who"
        errors = {field: message}
        if field not in form:
            errors["_"] = message
        return _intake_page(request, session, staff, form=form, errors=errors, status_code=422)
    return RedirectResponse(f"/complaints/{complaint.id}?done=registered", status_code=303)


@router.get("/review", dependencies=[GenericPlanReads])
def review_queue(
    request: Request,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    page_number: Annotated[int, Query(alias="page", ge=1, le=1000)] = 1,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    rows, more = queries.review_queue(session, staff, page=page_number)
    t = i18n.translator(render.lang_of(request))
    return render.page(
        request,
        "review.html",
        title=N_("Review queue"),
        views=present(session, rows, staff),
        now=now,
        more=more,
        page_number=page_number,
        label_titles={k: t(v) for k, v in LABEL_TITLES.items()},
        label_options=_label_options(),
        done=done,
    )


@router.post("/review/{complaint_id}")
def review_one(
    request: Request,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    complaint_id: IdPath,
    nature: Short = "",
    category: Short = "",
    urgency: Short = "",
    department: Short = "",
) -> Response:
    """Confirm the labels as they are, or correct the ones changed, in one click."""
    complaint = get_complaint(session, staff, complaint_id)
    chosen = {"nature": nature, "category": category, "urgency": urgency, "department": department}
    labels.correct_or_confirm(session, staff, complaint, chosen, now)
    if request.headers.get("HX-Request"):
        t = i18n.translator(render.lang_of(request))
        return render.page(
            request, "_reviewed.html", title="", ref=f"TS{complaint.id}", message=t("Saved")
        )
    return RedirectResponse("/review?done=1", status_code=303)
