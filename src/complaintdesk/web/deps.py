"""Request dependencies: the session, the clock, the caller, the complaint in the path.

Whether a complaint is the caller's to know of (404) is decided here, once; whether
they may act on it (403) by the service they call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Annotated

from anyio import CancelScope, CapacityLimiter, to_thread
from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk import context
from complaintdesk.classify.base import Classifier
from complaintdesk.db import engine
from complaintdesk.db.models import Complaint, Owner, Staff
from complaintdesk.services import accounts
from complaintdesk.services.common import get_complaint, get_owner
from complaintdesk.services.throttle import Limit, Throttle
from complaintdesk.settings import get_settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request, committed here at the edge once the handler has
    returned, and before the response is sent (``scope="function"``): a client is never
    told of work that was not committed. A handler that raises is rolled back.

    An async dependency, so that a request pays one thread-pool hop for its session
    (the commit and close, together), not two: making a Session touches no database,
    the first statement in the handler's thread does. The end is shielded from
    cancellation and runs on a limiter of its own (as FastAPI does for sync
    generators), so a client that hangs up never leaves a connection checked out."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    # The request's transaction begins as the pool hands it a connection, the BEGIN
    # checking it (no pre-ping round trip of its own: ``db.engine.BEGIN_AT_CHECKOUT``).
    engine.BEGIN_AT_CHECKOUT.set(True)
    session = factory()
    try:
        yield session
    except BaseException:
        with CancelScope(shield=True):
            await to_thread.run_sync(_end, session, False, limiter=CapacityLimiter(1))
        raise
    if not session.in_transaction():
        # Nothing to commit (the handler committed in its own thread, or never
        # touched the database): closing runs no statement, so no thread-pool hop.
        session.close()
        return
    with CancelScope(shield=True):
        await to_thread.run_sync(_end, session, True, limiter=CapacityLimiter(1))


def _end(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def generic_plan_reads() -> None:
    """A hot read (a list, the queue, an owner's history, the overdue list, a
    timeline): its transaction begins with generic plans (``db.engine.PLANS``, set
    before its first statement), so that neither their ``SET LOCAL`` nor the pool's
    ping is a round trip of its own. A route-level dependency: it runs before the
    caller's token (or a page's session cookie) is read. The API's five hot routes
    and the console's pages of the same lists (``/work``, a complaint's page with its
    timeline and owner history, ``/review``) declare it."""
    engine.PLANS.set(engine.GENERIC_PLANS)


GenericPlanReads = Depends(generic_plan_reads)


async def get_now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


async def get_classifier(request: Request) -> Classifier:
    classifier: Classifier = request.app.state.classifier
    return classifier


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
NowDep = Annotated[datetime, Depends(get_now)]
ClassifierDep = Annotated[Classifier, Depends(get_classifier)]

_bearer = HTTPBearer(auto_error=False, description="A staff member's API token")


async def get_throttle(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.throttle
    return throttle


ThrottleDep = Annotated[Throttle, Depends(get_throttle)]
_MINUTE = timedelta(minutes=1)


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def authenticate_request(
    session: Session,
    credentials: HTTPAuthorizationCredentials | None,
    now: datetime,
    throttle: Throttle,
) -> Staff:
    """The staff member the request's bearer token belongs to; 401 without a valid one.
    Blocking (it queries): called in a worker thread, by :func:`get_current_staff` or
    by a route that does all its database work in one thread-pool hop."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401,
            "a bearer token is required / 需要 API 令牌",
            headers={"WWW-Authenticate": "Bearer"},
        )
    settings = get_settings()
    address = context.current().address or "unknown"
    staff = accounts.authenticate(session, credentials.credentials, now)
    if staff is None:
        # Guessing tokens: a few wrong ones a minute from one address, then 429.
        throttle.hit(f"badtoken:{address}", Limit(settings.failed_tokens_per_minute, _MINUTE), now)
        raise HTTPException(
            401,
            "the token is not valid: unknown, expired or revoked / 令牌无效、已过期或已吊销",
            headers={"WWW-Authenticate": "Bearer"},
        )
    throttle.hit(
        f"token:{accounts.hash_token(credentials.credentials)[:16]}",
        Limit(settings.token_requests_per_minute, _MINUTE),
        now,
    )
    throttle.hit(f"address:{address}", Limit(settings.address_requests_per_minute, _MINUTE), now)
    context.current().caller = f"staff:{staff.id}"
    return staff


def get_current_staff(
    session: SessionDep, now: NowDep, throttle: ThrottleDep, credentials: BearerDep
) -> Staff:
    return authenticate_request(session, credentials, now, throttle)


CurrentStaff = Annotated[Staff, Depends(get_current_staff)]


MAX_ID = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="An id (a string of digits)")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# The ``next_cursor`` of the page before, for the lists that page by a deadline and an
# id (the queue, the overdue list).
PageCursor = Annotated[
    str | None,
    Query(
        max_length=40,
        pattern=r"^-?\d{1,16}\.[1-9]\d{0,18}$",
        description="next_cursor of the previous page",
    ),
]


def load_complaint(complaint_id: IdPath, session: SessionDep, staff: CurrentStaff) -> Complaint:
    return get_complaint(session, staff, complaint_id)


ComplaintDep = Annotated[Complaint, Depends(load_complaint)]


def load_owner(owner_id: IdPath, session: SessionDep, staff: CurrentStaff) -> Owner:
    return get_owner(session, staff, owner_id)


OwnerDep = Annotated[Owner, Depends(load_owner)]


def limit_personal_lookups(staff: CurrentStaff, throttle: ThrottleDep, now: NowDep) -> None:
    """Owner look-ups (phone numbers, names) per staff member and per address."""
    limit = Limit(get_settings().personal_lookups_per_minute, _MINUTE)
    throttle.hit(f"lookup:staff:{staff.id}", limit, now)
    # A call centre's agents may share one address (NAT): ten people's worth each.
    shared = Limit(limit.count * 10, _MINUTE)
    throttle.hit(f"lookup:address:{context.current().address or 'unknown'}", shared, now)


PersonalLookup = Depends(limit_personal_lookups)
