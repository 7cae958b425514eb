"""Fixed-window rate limits kept in the database, so that they hold across every
worker process and every machine serving the same database.

``hit(session, "signin:user:alice", limit=10, window=timedelta(minutes=15), now=now)``
counts one attempt and raises :class:`RateLimited` (an edge answers 429 with
``Retry-After``) once the window holds more than ``limit`` attempts. The count is
one atomic ``INSERT … ON CONFLICT DO UPDATE`` (PostgreSQL and SQLite alike), so
concurrent workers never lose an attempt.

The hit is part of the caller's transaction: an edge that refuses the request by
raising rolls it back with everything else. Count the attempt in a request that
commits (a failed sign-in renders its form again, it does not raise), or call
:func:`hit` in a transaction of its own when the request will fail.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from complaintdesk.db.models import RateCounter
from complaintdesk.domain.errors import RateLimited

_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window ``now`` falls in (windows are aligned on 2020-01-01)."""
    size = window.total_seconds()
    if size <= 0:
        raise ValueError("window must be positive")
    elapsed = (now - _EPOCH).total_seconds()
    return _EPOCH + timedelta(seconds=math.floor(elapsed / size) * size)


def hit(session: Session, key: str, *, limit: int, window: timedelta, now: datetime) -> None:
    """Count one attempt of ``key`` at ``now``; refuse it if the window already holds
    ``limit`` attempts (the refused attempt is not counted further)."""
    start = window_start(now, window)
    count = _increment(session, key, start)
    if count > limit:
        retry_after = max(1, math.ceil((start + window - now).total_seconds()))
        raise RateLimited(
            f"too many attempts; try again in {retry_after} s "
            f"/ 尝试次数过多,请 {retry_after} 秒后再试",
            retry_after=retry_after,
        )
    if count == 1:
        # First attempt of a new window: the passed windows of this key are dead weight.
        session.execute(
            delete(RateCounter).where(RateCounter.key == key, RateCounter.window_start < start)
        )


def attempts(session: Session, key: str, *, window: timedelta, now: datetime) -> int:
    """How many attempts of ``key`` the current window holds."""
    count = session.scalar(
        select(RateCounter.count).where(
            RateCounter.key == key, RateCounter.window_start == window_start(now, window)
        )
    )
    return count or 0


def _increment(session: Session, key: str, start: datetime) -> int:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(RateCounter)
        .values(key=key, window_start=start, count=1)
        .on_conflict_do_update(
            index_elements=[RateCounter.key, RateCounter.window_start],
            set_={"count": RateCounter.count + 1},
        )
        .returning(RateCounter.count)
    )
    count: int = session.execute(statement).scalar_one()
    return count
