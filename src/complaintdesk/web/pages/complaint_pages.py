"""The complaint page and its actions: each form calls the same service function as
the API, and comes back with the service's refusal next to the field it names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from complaintdesk import i18n
from complaintdesk.db.models import Building, Complaint, Owner, Staff, Unit
from complaintdesk.domain import replies
from complaintdesk.domain.errors import DomainError, Forbidden, InvalidInput
from complaintdesk.domain.lifecycle import Outcome, Status
from complaintdesk.domain.taxonomy import LABELS, Department, StaffDepartment, display_name
from complaintdesk.i18n import N_
from complaintdesk.services import (
    closing,
    dispatch,
    follow_up,
    labels,
    org,
    owner_portal,
    owner_reply,
    privacy,
    queries,
    resolve,
    visits,
)
from complaintdesk.web.deps import GenericPlanReads, IdPath, NowDep, SessionDep
from complaintdesk.web.pages import render
from complaintdesk.web.pages.deps import LangDep, PageComplaint, PageStaff, pages_router
from complaintdesk.web.presenter import ComplaintView, Named, present, present_one, zone

router = pages_router()

LABEL_TITLES = {
    "nature": N_("Nature"),
    "category": N_("Category"),
    "urgency": N_("Urgency"),
    "department": N_("Department"),
}
OUTCOMES = {
    Outcome.FIXED: N_("Fixed"),
    Outcome.ANSWERED: N_("Answered"),
    Outcome.NOT_OUR_RESPONSIBILITY: N_("Not our responsibility (explained)"),
    Outcome.CANNOT_FIX_NOW: N_("Cannot be fixed now (explained)"),
}
SUMMARY_FIELDS = {
    "cause": N_("Cause"),
    "lesson": N_("Lesson"),
    "corrective_action": N_("Corrective action"),
    "preventive_action": N_("Preventive action"),
}
DELIVERY = {
    "pending": N_("waiting to be sent"),
    "sending": N_("being sent"),
    "sent": N_("delivered"),
    "failed": N_("not delivered"),
}
EVENTS = {
    "received": N_("Received"),
    "dispatch": N_("Dispatched"),
    "start": N_("Work started"),
    "resolve": N_("Resolved"),
    "visit_satisfied": N_("Return visit: satisfied"),
    "visit_unsatisfied": N_("Return visit: not satisfied, reopened"),
    "close": N_("Closed"),
    "withdraw": N_("Withdrawn"),
    "label_corrected": N_("Label corrected"),
    "labels_confirmed": N_("Labels confirmed"),
    "escalated": N_("Escalated"),
    "upgraded": N_("Upgraded to a dissatisfaction complaint"),
    "repeat_flagged": N_("Flagged as a repeat"),
    "risk_flagged": N_("Risk flagged"),
    "follow_up": N_("Follow-up note"),
    "assigned": N_("Assigned"),
    "owner_messaged": N_("Owner messaged"),
    "follow_up_reminded": N_("Follow-up reminder sent"),
}
DONE = {
    "dispatch": N_("Dispatched."),
    "start": N_("Work started."),
    "follow_up": N_("Follow-up note saved."),
    "resolve": N_("Resolved; the owner is told."),
    "visit": N_("Return visit recorded."),
    "close": N_("Closed."),
    "withdraw": N_("Withdrawn."),
    "relabel": N_("Labels saved."),
    "message": N_("Message queued for the owner."),
    "registered": N_("Complaint registered; the owner is told it was received."),
}
FIELD_NAMES = {"summary_cause": "cause", "summary_lesson": "lesson"}
"""The services' field names that the forms call otherwise."""
_STATUS_FOR_ERROR = {InvalidInput: 422, Forbidden: 403}


def _status_of(exc: DomainError) -> int:
    return next((s for cls, s in _STATUS_FOR_ERROR.items() if isinstance(exc, cls)), 409)


def named_departments() -> list[Named]:
    return [Named.of(d) for d in Department]


def complaint_context(
    session: Session, staff: Staff, complaint: Complaint, lang: str, now: datetime
) -> dict[str, Any]:
    """Everything the complaint page shows (the read side, one query per kind)."""
    t = i18n.translator(lang)
    v = present_one(session, complaint, staff)
    owner = session.get(Owner, complaint.owner_id) if complaint.owner_id is not None else None
    history: list[ComplaintView] = []
    if owner is not None:
        earlier, _ = queries.owner_history(session, staff, owner, limit=11)
        history = present(session, [h for h in earlier if h.id != complaint.id][:10], staff)
    unit_name = None
    if complaint.unit_id is not None:
        row = session.execute(
            select(Building.name, Unit.name)
            .join(Unit, Unit.building_id == Building.id)
            .where(Unit.id == complaint.unit_id)
        ).first()
        unit_name = f"{row[0]} {row[1]}" if row else None
    timeline = queries.timeline(session, complaint)
    notes = queries.follow_ups(session, complaint)
    people = queries.timeline_people(session, timeline, notes)
    colleagues = [
        s for s in org.list_staff(session, staff) if complaint.project_id in s.project_ids
    ]
    return {
        "v": v,
        "owner": owner,
        # In full to those who call owners back (the read is audited), else masked.
        "owner_phone": privacy.owner_contact(session, staff, owner, now).phone if owner else None,
        "unit_name": unit_name,
        "history": history,
        "timeline": timeline,
        "follow_ups": notes,
        "messages": queries.owner_messages(session, complaint),
        "photos": owner_portal.photos_of(session, complaint),
        "people": people,
        "colleagues": colleagues,
        "departments": named_departments(),
        "department_name": lambda code: display_name(StaffDepartment(code), lang),
        "label_titles": {k: t(title) for k, title in LABEL_TITLES.items()},
        "label_options": {name: [Named.of(v) for v in enum] for name, enum in LABELS.items()},  # type: ignore[arg-type]
        "outcome_names": {o.value: t(title) for o, title in OUTCOMES.items()},
        "summary_fields": [(k, t(title)) for k, title in SUMMARY_FIELDS.items()],
        "delivery_names": {k: t(title) for k, title in DELIVERY.items()},
        "status_names": {s.value: Named.of(s).name(lang) for s in Status},
        "event_name": lambda kind: t(EVENTS[kind]) if kind in EVENTS else kind,
        "staff_name": lambda staff_id: _staff_name(people, staff_id),
        "event_assignee": queries.event_assignee,
        "event_repeat_of": queries.event_repeat_of,
        "reply_titles": [(r.value, replies.title(r, lang)) for r in replies.Reply],
        "reply_text": "",
    }


def _staff_name(people: dict[int, queries.Person], staff_id: object) -> str:
    text = str(staff_id)
    person = people.get(int(text)) if text.isdigit() else None
    return person.name if person is not None else text


def show(
    request: Request,
    session: Session,
    staff: Staff,
    complaint: Complaint,
    now: datetime,
    *,
    errors: dict[str, Any] | None = None,
    form: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
    done: str = "",
) -> Response:
    lang = render.lang_of(request)
    t = i18n.translator(lang)
    return render.page(
        request,
        "complaint.html",
        status_code=status_code,
        title=N_("Complaint"),
        now=now,
        errors=errors or {},
        form=form or {},
        done=t(DONE[done]) if done in DONE else "",
        **complaint_context(session, staff, complaint, lang, now),
    )


@router.get("/complaints/{complaint_id}", dependencies=[GenericPlanReads])
def complaint_page(
    request: Request,
    complaint: PageComplaint,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The complaint, its timeline and the owner's history: hot reads, as the API's
    are (``GenericPlanReads``)."""
    return show(request, session, staff, complaint, now, done=done)


@router.get("/complaints/{complaint_id}/photos/{photo_id}")
def complaint_photo(
    complaint: PageComplaint, photo_id: IdPath, session: SessionDep, staff: PageStaff
) -> Response:
    """A photo the owner attached, for the staff who may see the complaint."""
    found = owner_portal.photo_of(session, complaint, photo_id)
    return render.photo_response(found.data, found.content_type)


def act(
    request: Request,
    session: Session,
    staff: Staff,
    complaint: Complaint,
    now: datetime,
    action: str,
    values: dict[str, str],
    call: Callable[[], object],
) -> Response:
    """Run ``call`` (one service function) in a savepoint: done, back to the page;
    refused, the page again with the message beside the field (nothing was kept)."""
    try:
        with session.begin_nested():
            call()
    except DomainError as exc:
        message = i18n.pick(exc.message, render.lang_of(request))
        field = FIELD_NAMES.get(exc.field or "_", exc.field or "_")
        errors: dict[str, Any] = {action: {field: message}}
        if field not in values:
            errors["_"] = message
        session.expire(complaint)
        return show(
            request,
            session,
            staff,
            complaint,
            now,
            errors=errors,
            form={action: values},
            status_code=_status_of(exc),
        )
    return RedirectResponse(f"/complaints/{complaint.id}?done={action}", status_code=303)


def _local_time(value: str, tz: str, field: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidInput("not a date and time / 日期时间格式不正确", field=field) from exc
    return parsed.replace(tzinfo=zone(tz)) if parsed.tzinfo is None else parsed


Text = Annotated[str, Form(max_length=20000)]


@router.post("/complaints/{complaint_id}/dispatch")
def dispatch_form(
    request: Request,
    complaint: PageComplaint,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    department: Text = "",
    assignee_id: Text = "",
    note: Text = "",
    also: Annotated[list[str] | None, Form()] = None,
) -> Response:
    values = {"department": department, "assignee_id": assignee_id, "note": note}

    def call() -> None:
        try:
            lead = Department(department)
            others = [Department(d) for d in also or [] if d != department]
        except ValueError as exc:
            raise InvalidInput("choose a department / 请选择部门", field="department") from exc
        try:
            assignee = int(assignee_id) if assignee_id else None
        except ValueError as exc:
            raise InvalidInput("choose a person / 请选择承办人", field="assignee_id") from exc
        dispatch.dispatch(
            session,
            staff,
            complaint,
            now,
            department=lead,
            assignee_id=assignee,
            also=others,
            note=note or None,
        )

    return act(request, session, staff, complaint, now, "dispatch", values, call)


@router.post("/complaints/{complaint_id}/start")
def start_form(
    request: Request, complaint: PageComplaint, session: SessionDep, staff: PageStaff, now: NowDep
) -> Response:
    return act(
        request,
        session,
        staff,
        complaint,
        now,
        "start",
        {},
        lambda: dispatch.start(session, staff, complaint, now),
    )


@router.post("/complaints/{complaint_id}/follow-up")
def follow_up_form(
    request: Request,
    complaint: PageComplaint,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    note: Text = "",
    next_follow_up_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    values = {"note": note, "next_follow_up_at": next_follow_up_at}
    tz = present_one(session, complaint).timezone

    def call() -> None:
        follow_up.add_follow_up(
            session,
            staff,
            complaint,
            now,
            note=note,
            next_follow_up_at=_local_time(next_follow_up_at, tz, "next_follow_up_at"),
        )

    return act(request, session, staff, complaint, now, "follow_up", values, call)


@router.post("/complaints/{complaint_id}/resolve")
def resolve_form(
    request: Request,
    complaint: PageComplaint,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    outcome: Text = "",
    resolution: Text = "",
    owner_explanation: Text = "",
) -> Response:
    values = {"outcome": outcome, "resolution": resolution, "owner_explanation": owner_explanation}

    def call() -> None:
        try:
            chosen = Outcome(outcome)
        except ValueError as exc:
            raise InvalidInput("choose an outcome / 请选择处理结果", field="outcome") from exc
        resolve.resolve(
            session,
            staff,
            complaint,
            now,
            outcome=chosen,
            resolution=resolution,
            owner_explanation=owner_explanation or None,
        )

    return act(request, session, staff, complaint, now, "resolve", values, call)


@router.post("/complaints/{complaint_id}/visit")
def visit_form(
    request: Request,
    complaint: PageComplaint,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    satisfaction: Annotated[str, Form(max_length=5)] = "",
    comment: Text = "",
) -> Response:
    values = {"satisfaction": satisfaction, "comment": comment}

    def call() -> None:
        try:
            score = int(satisfaction)
        except ValueError as exc:
            raise InvalidInput("choose 1 to 5 / 请选择 1 至 5", field="satisfaction") from exc
        visits.record_visit(
            session, staff, complaint, now, satisfaction=score, comment=comment or None
        )

    return act(request, session, staff, complaint, now, "visit", values, call)


@router.post("/complaints/{complaint_id}/close")
def close_form(
    request: Request,
    complaint: PageComplaint,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    cause: Text = "",
    lesson: Text = "",
    corrective_action: Text = "",
    preventive_action: Text = "",
) -> Response:
    values = {
        "cause": cause,
        "lesson": lesson,
        "corrective_action": corrective_action,
        "preventive_action": preventive_action,
    }
    summary = closing.Summary(**{k: v or None for k, v in values.items()})
    return act(
        request,
        session,
        staff,
        complaint,
        now,
        "close",
        values,
        lambda: closing.close(session, staff, complaint, now, summary),
    )


@router.post("/complaints/{complaint_id}/withdraw")
def withdraw_form(
    request: Request,
    complaint: PageComplaint,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    reason: Text = "",
) -> Response:
    return act(
        request,
        session,
        staff,
        complaint,
        now,
        "withdraw",
        {"reason": reason},
        lambda: closing.withdraw(session, staff, complaint, now, reason=reason),
    )


@router.post("/complaints/{complaint_id}/labels")
def labels_form(
    request: Request,
    complaint: PageComplaint,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    nature: Annotated[str, Form(max_length=40)] = "",
    category: Annotated[str, Form(max_length=40)] = "",
    urgency: Annotated[str, Form(max_length=40)] = "",
    department: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    values = {"nature": nature, "category": category, "urgency": urgency, "department": department}
    return act(
        request,
        session,
        staff,
        complaint,
        now,
        "labels",
        values,
        lambda: labels.correct_or_confirm(session, staff, complaint, values, now),
    )


@router.post("/complaints/{complaint_id}/message")
def message_form(
    request: Request,
    complaint: PageComplaint,
    session: SessionDep,
    staff: PageStaff,
    now: NowDep,
    text: Text = "",
    template: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    return act(
        request,
        session,
        staff,
        complaint,
        now,
        "message",
        {"text": text},
        lambda: owner_reply.message_owner(session, staff, complaint, text, now),
    )


@router.get("/complaints/{complaint_id}/reply-template")
def reply_template(
    request: Request,
    complaint: PageComplaint,
    session: SessionDep,
    staff: PageStaff,
    lang: LangDep,
    template: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The chosen template filled in for this complaint, in the owner's language (the
    textarea of the message form, swapped in by HTMX)."""
    try:
        reply = replies.Reply(template)
    except ValueError:
        text = ""
    else:
        text = owner_reply.draft(session, complaint, reply)
    return render.page(request, "_reply_text.html", reply_text=text, title="")
