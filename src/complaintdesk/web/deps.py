"""Request dependencies: the session, the clock, the caller, the complaint in the path.

Whether a complaint is the caller's to know of (404) is decided here, once; whether
they may act on it (403) by the service they call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk import context
from complaintdesk.classify.base import Classifier
from complaintdesk.db.models import Complaint, Owner, Staff
from complaintdesk.services import accounts
from complaintdesk.services.common import get_complaint, get_owner


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed here at the edge once the handler has
    returned, and before the response is sent (``scope="function"``): a client is never
    told of work that was not committed. A handler that raises is rolled back."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


def get_now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def get_classifier(request: Request) -> Classifier:
    classifier: Classifier = request.app.state.classifier
    return classifier


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
NowDep = Annotated[datetime, Depends(get_now)]
ClassifierDep = Annotated[Classifier, Depends(get_classifier)]

_bearer = HTTPBearer(auto_error=False, description="A staff member's API token")


def get_current_staff(
    session: SessionDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Staff:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401,
            "a bearer token is required / 需要 API 令牌",
            headers={"WWW-Authenticate": "Bearer"},
        )
    staff = accounts.authenticate(session, credentials.credentials, now)
    if staff is None:
        raise HTTPException(
            401,
            "the token is not valid: unknown, expired or revoked / 令牌无效、已过期或已吊销",
            headers={"WWW-Authenticate": "Bearer"},
        )
    context.current().caller = f"staff:{staff.id}"
    return staff


CurrentStaff = Annotated[Staff, Depends(get_current_staff)]


MAX_ID = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="An id (a string of digits)")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def load_complaint(complaint_id: IdPath, session: SessionDep, staff: CurrentStaff) -> Complaint:
    return get_complaint(session, staff, complaint_id)


ComplaintDep = Annotated[Complaint, Depends(load_complaint)]


def load_owner(owner_id: IdPath, session: SessionDep, staff: CurrentStaff) -> Owner:
    return get_owner(session, staff, owner_id)


OwnerDep = Annotated[Owner, Depends(load_owner)]
