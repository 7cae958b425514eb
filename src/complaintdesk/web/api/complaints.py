"""Complaints: create, read, list, and one POST per action of their life."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials
from pydantic_core import to_json
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from complaintdesk.classify.base import Classifier
from complaintdesk.db.models import Complaint, ShownComplaint, Staff
from complaintdesk.domain import rules
from complaintdesk.domain.errors import InvalidInput
from complaintdesk.domain.lifecycle import Status
from complaintdesk.domain.taxonomy import Category, Department, Nature, Urgency
from complaintdesk.services import (
    closing,
    dispatch,
    follow_up,
    intake,
    labels,
    privacy,
    queries,
    resolve,
    search,
)
from complaintdesk.services import visits as visits_service
from complaintdesk.services.throttle import Throttle
from complaintdesk.web.api.schemas import (
    CloseIn,
    ComplaintCreate,
    ComplaintOut,
    ComplaintPage,
    DispatchIn,
    EventOut,
    FollowUpIn,
    FollowUpOut,
    Labels,
    LabelsCorrection,
    MessageOut,
    ResolveIn,
    UtcTime,
    VisitIn,
    VisitOut,
    WithdrawIn,
    complaint_wire,
)
from complaintdesk.web.deps import (
    MAX_ID,
    BearerDep,
    ComplaintDep,
    CurrentStaff,
    GenericPlanReads,
    IdQuery,
    NowDep,
    PageCursor,
    SessionDep,
    authenticate_request,
)
from complaintdesk.web.errors import RESPONSES
from complaintdesk.web.presenter import present

router = APIRouter(prefix="/complaints", tags=["complaints"], responses=RESPONSES)


def outs(session: Session, complaints: Sequence[Complaint], viewer: Staff) -> list[ComplaintOut]:
    """Complaints for the wire through the shared read model (people and projects
    loaded in one query each)."""
    return [ComplaintOut.of(v) for v in present(session, complaints, viewer)]


def out(session: Session, complaint: Complaint, viewer: Staff) -> ComplaintOut:
    return outs(session, [complaint], viewer)[0]


def page(
    session: Session,
    complaints: Sequence[Complaint | ShownComplaint],
    viewer: Staff,
    next_cursor: str | None,
    searched_from: datetime | None = None,
) -> Response:
    """A :class:`ComplaintPage` through the shared read model, written as JSON once:
    each complaint's wire form (``schemas.complaint_wire``, the one
    :class:`ComplaintOut` is checked from) straight to JSON, not a model per complaint
    checked again as the route's response (a list's pages are the hot reads)."""
    people: dict[int, dict[str, Any]] = {}
    body = {
        "items": [complaint_wire(v, people) for v in present(session, complaints, viewer)],
        "next_cursor": next_cursor,
        "searched_from": searched_from,
    }
    return Response(to_json(body), media_type="application/json")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ComplaintOut)
async def create_complaint(
    body: ComplaintCreate,
    request: Request,
    session: SessionDep,
    credentials: BearerDep,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=rules.LINE_PATTERN),
    ] = None,
) -> Response:
    """Register a complaint; the caller becomes its first receiver (首问负责制).

    Send an ``Idempotency-Key`` header to make retries safe: the same key and body
    return the complaint made the first time (200) instead of a second one.
    """
    # The busiest route: the caller's token, the create, the answer and the commit
    # run in one thread-pool hop (as separate sync dependencies and handler they
    # took three, each about as costly as a query under load). The throttle, the
    # clock and the classifier are what get_throttle, get_now and get_classifier
    # return, read here: as dependencies FastAPI resolved them at about 12 µs each.
    state = request.app.state
    return await run_in_threadpool(
        _create,
        session,
        credentials,
        state.throttle,
        state.clock(),
        state.classifier,
        body,
        idempotency_key,
    )


def _create(
    session: Session,
    credentials: HTTPAuthorizationCredentials | None,
    throttle: Throttle,
    now: datetime,
    classifier: Classifier,
    body: ComplaintCreate,
    idempotency_key: str | None,
) -> Response:
    staff = authenticate_request(session, credentials, now, throttle)
    new = intake.NewComplaint(
        project_id=body.project_id,
        text=body.text,
        channel=body.channel,
        owner_id=body.owner_id,
        unit_id=body.unit_id,
        caller_name=body.caller_name,
        caller_phone=body.caller_phone,
        summary=body.summary,
        location=body.location,
        occurred_at=body.occurred_at,
        labels=(body.labels or Labels()).given(),
    )
    created = True
    try:
        complaint, created = intake.register_once(
            session, staff, new, classifier, now, idempotency_key=idempotency_key
        )
        session.flush()  # a racing twin's key conflicts here, inside the try
    except IntegrityError:
        # Two requests with one key at the same moment: the other one made it.
        session.rollback()
        earlier = intake.replay(session, staff, idempotency_key, new) if idempotency_key else None
        if earlier is None:
            raise
        created = False
        complaint = earlier
    # The caller is the first receiver and the project is loaded: the presenter finds
    # both in the session, no query for them. The body is the complaint's wire form
    # written as JSON once, here (what ComplaintOut is checked from, byte for byte what
    # the model writes; tests check it against the model): not a model built and
    # validated, then dumped (FastAPI would validate it again, in another thread-pool
    # hop, before writing it).
    answer = to_json(complaint_wire(present(session, [complaint], staff)[0]))
    # Committed before the answer leaves (a client is never told of work that was
    # not saved); the session's dependency then only closes it.
    session.commit()
    return Response(
        answer,
        # 200: a retry with the same Idempotency-Key; nothing new is made.
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
        headers={"Location": f"/api/v1/complaints/{complaint.id}"},
    )


@router.get("", response_model=ComplaintPage, dependencies=[GenericPlanReads])
def list_complaints(
    session: SessionDep,
    staff: CurrentStaff,
    now: NowDep,
    project_id: IdQuery = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    nature: Nature | None = None,
    category: Category | None = None,
    urgency: Urgency | None = None,
    department: Department | None = None,
    assignee_id: IdQuery = None,
    first_receiver_id: IdQuery = None,
    owner_id: IdQuery = None,
    open: bool | None = None,
    overdue: bool | None = None,
    needs_review: bool | None = None,
    repeat: bool | None = None,
    risk: bool | None = None,
    received_from: UtcTime | None = None,
    received_to: UtcTime | None = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=search.terms.MAX_QUERY_CHARS,
            description="Words to search the owners' words for, Chinese or English",
        ),
    ] = None,
    sort: Annotated[
        search.SearchSort | None, Query(description="With q: relevance (default) or newest")
    ] = None,
    cursor: Annotated[
        str | None,
        Query(
            max_length=40, pattern=r"^\d+(\.\d+)?$", description="next_cursor of the previous page"
        ),
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=queries.MAX_PAGE)] = None,
) -> Response:
    """Complaints the caller may see, newest first, with filters and a cursor.

    With ``q``: those whose words match, ranked (``sort=relevance``) or newest first
    (``sort=newest``), 20 a page; ``searched_from`` says how far back the search
    looked (it widens from the last week only as far as the page needs; give
    ``received_from`` to look further in one go)."""
    flt = queries.ComplaintFilter(
        project_id=project_id,
        status=status_,
        nature=nature,
        category=category,
        urgency=urgency,
        department=department,
        assignee_id=assignee_id,
        first_receiver_id=first_receiver_id,
        owner_id=owner_id,
        open=open,
        overdue=overdue,
        needs_review=needs_review,
        repeat=repeat,
        risk=risk,
        received_from=received_from,
        received_to=received_to,
    )
    if q is not None:
        found = search.search(
            session,
            staff,
            q,
            flt,
            now,
            sort=sort or search.SearchSort.RELEVANCE,
            cursor=cursor,
            limit=limit or 20,
        )
        return page(session, found.items, staff, found.next_cursor, found.searched_from)
    if sort is not None:
        raise InvalidInput("sort orders a search: give q too / 排序仅用于搜索", field="sort")
    rows, next_cursor = queries.list_complaints(
        session, staff, flt, now, cursor=_list_cursor(cursor), limit=limit or 50
    )
    return page(session, rows, staff, str(next_cursor) if next_cursor else None)


def _list_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    value = int(cursor) if cursor.isdigit() else 0
    if not 1 <= value <= MAX_ID:
        raise InvalidInput(
            "cursor is the next_cursor of the previous page / 游标无效", field="cursor"
        )
    return value


@router.get("/queue", response_model=ComplaintPage, dependencies=[GenericPlanReads])
def my_queue(
    session: SessionDep,
    staff: CurrentStaff,
    cursor: PageCursor = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = queries.QUEUE_PAGE,
) -> Response:
    """The caller's open work, what is due first (a follow-up date or the resolution
    deadline) first: assigned to them or received by them; pages by cursor."""
    rows, next_cursor = queries.queue_page(session, staff, limit=limit, cursor=cursor)
    return page(session, rows, staff, next_cursor)


@router.get("/{complaint_id}", response_model=ComplaintOut)
def get_complaint(
    complaint: ComplaintDep, session: SessionDep, staff: CurrentStaff
) -> ComplaintOut:
    return out(session, complaint, staff)


@router.get(
    "/{complaint_id}/events", response_model=list[EventOut], dependencies=[GenericPlanReads]
)
def get_events(complaint: ComplaintDep, session: SessionDep) -> list[EventOut]:
    """The append-only history: who did what, when, old → new."""
    events = queries.timeline(session, complaint)
    staff = queries.people(session, {e.actor_id for e in events if e.actor_id is not None})
    return [EventOut.of(e, staff.get(e.actor_id) if e.actor_id else None) for e in events]


@router.get("/{complaint_id}/messages", response_model=list[MessageOut])
def get_messages(
    complaint: ComplaintDep, session: SessionDep, staff: CurrentStaff
) -> list[MessageOut]:
    """What the owner was told, and whether it was delivered; the recipient masked
    unless the caller calls owners back."""
    return [
        MessageOut.of(m, privacy.recipient_for(staff, m.recipient))
        for m in queries.owner_messages(session, complaint)
    ]


@router.post("/{complaint_id}/labels", response_model=ComplaintOut)
def correct_labels(
    body: LabelsCorrection,
    complaint: ComplaintDep,
    session: SessionDep,
    staff: CurrentStaff,
    now: NowDep,
) -> ComplaintOut:
    """Correct the suggested labels; each correction is kept as training data. Making
    a complaint less urgent (a lower urgency, out of emergency) takes a supervisor of
    customer service or of a department that owns it, or a manager, and a ``reason``."""
    labels.correct_labels(session, staff, complaint, body.given(), now, reason=body.reason)
    return out(session, complaint, staff)


@router.post("/{complaint_id}/dispatch", response_model=ComplaintOut)
def dispatch_complaint(
    body: DispatchIn, complaint: ComplaintDep, session: SessionDep, staff: CurrentStaff, now: NowDep
) -> ComplaintOut:
    dispatch.dispatch(
        session,
        staff,
        complaint,
        now,
        department=body.department,
        assignee_id=body.assignee_id,
        also=body.also,
        note=body.note,
    )
    return out(session, complaint, staff)


@router.post("/{complaint_id}/start", response_model=ComplaintOut)
def start_work(
    complaint: ComplaintDep, session: SessionDep, staff: CurrentStaff, now: NowDep
) -> ComplaintOut:
    dispatch.start(session, staff, complaint, now)
    return out(session, complaint, staff)


@router.post("/{complaint_id}/resolve", response_model=ComplaintOut)
def resolve_complaint(
    body: ResolveIn, complaint: ComplaintDep, session: SessionDep, staff: CurrentStaff, now: NowDep
) -> ComplaintOut:
    resolve.resolve(
        session,
        staff,
        complaint,
        now,
        outcome=body.outcome,
        resolution=body.resolution,
        owner_explanation=body.owner_explanation,
        effective=body.effective,
    )
    return out(session, complaint, staff)


@router.post(
    "/{complaint_id}/visits", response_model=ComplaintOut, status_code=status.HTTP_201_CREATED
)
def return_visit(
    body: VisitIn, complaint: ComplaintDep, session: SessionDep, staff: CurrentStaff, now: NowDep
) -> ComplaintOut:
    """Record the return visit; a score under 3 reopens the complaint."""
    visits_service.record_visit(
        session, staff, complaint, now, satisfaction=body.satisfaction, comment=body.comment
    )
    return out(session, complaint, staff)


@router.get("/{complaint_id}/visits", response_model=list[VisitOut])
def list_visits(complaint: ComplaintDep, session: SessionDep) -> list[VisitOut]:
    return [VisitOut.of(v) for v in queries.visits(session, complaint)]


@router.post("/{complaint_id}/close", response_model=ComplaintOut)
def close_complaint(
    body: CloseIn, complaint: ComplaintDep, session: SessionDep, staff: CurrentStaff, now: NowDep
) -> ComplaintOut:
    summary = closing.Summary(
        cause=body.cause,
        lesson=body.lesson,
        corrective_action=body.corrective_action,
        preventive_action=body.preventive_action,
    )
    closing.close(session, staff, complaint, now, summary)
    return out(session, complaint, staff)


@router.post("/{complaint_id}/withdraw", response_model=ComplaintOut)
def withdraw_complaint(
    body: WithdrawIn, complaint: ComplaintDep, session: SessionDep, staff: CurrentStaff, now: NowDep
) -> ComplaintOut:
    closing.withdraw(session, staff, complaint, now, reason=body.reason)
    return out(session, complaint, staff)


@router.post(
    "/{complaint_id}/follow-ups", response_model=FollowUpOut, status_code=status.HTTP_201_CREATED
)
def add_follow_up(
    body: FollowUpIn, complaint: ComplaintDep, session: SessionDep, staff: CurrentStaff, now: NowDep
) -> FollowUpOut:
    note = follow_up.add_follow_up(
        session, staff, complaint, now, note=body.note, next_follow_up_at=body.next_follow_up_at
    )
    return FollowUpOut.of(note)


@router.get("/{complaint_id}/follow-ups", response_model=list[FollowUpOut])
def list_follow_ups(complaint: ComplaintDep, session: SessionDep) -> list[FollowUpOut]:
    return [FollowUpOut.of(f) for f in queries.follow_ups(session, complaint)]
