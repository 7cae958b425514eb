"""Fixed-window rate limits kept in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.domain.errors import RateLimited
from complaintdesk.services import ratelimit
from tests.conftest import NOW

WINDOW = timedelta(minutes=10)


def test_refuses_past_the_limit_and_says_when_to_retry(session: Session) -> None:
    start = ratelimit.window_start(NOW, WINDOW)
    at = start + timedelta(minutes=4)
    for _ in range(3):
        ratelimit.hit(session, "k", limit=3, window=WINDOW, now=at)
    with pytest.raises(RateLimited) as refused:
        ratelimit.hit(session, "k", limit=3, window=WINDOW, now=at)
    assert refused.value.retry_after == 6 * 60
    assert ratelimit.attempts(session, "k", window=WINDOW, now=at) == 4


def test_keys_are_counted_apart_and_a_new_window_starts_afresh(session: Session) -> None:
    for _ in range(2):
        ratelimit.hit(session, "a", limit=2, window=WINDOW, now=NOW)
    ratelimit.hit(session, "b", limit=2, window=WINDOW, now=NOW)  # another key: fine
    with pytest.raises(RateLimited):
        ratelimit.hit(session, "a", limit=2, window=WINDOW, now=NOW)
    later = NOW + WINDOW
    ratelimit.hit(session, "a", limit=2, window=WINDOW, now=later)
    assert ratelimit.attempts(session, "a", window=WINDOW, now=later) == 1
    # The passed window's row of that key was removed with the first hit of the new one.
    assert ratelimit.attempts(session, "a", window=WINDOW, now=NOW) == 0


def test_counts_hold_across_sessions_as_across_workers(factory: sessionmaker[Session]) -> None:
    for _ in range(2):
        with factory() as s:
            ratelimit.hit(s, "shared", limit=2, window=WINDOW, now=NOW)
            s.commit()
    with factory() as s, pytest.raises(RateLimited):
        ratelimit.hit(s, "shared", limit=2, window=WINDOW, now=NOW)


def test_windows_are_aligned() -> None:
    start = ratelimit.window_start(NOW + timedelta(seconds=61), timedelta(minutes=1))
    assert start.second == 0 and start <= NOW + timedelta(seconds=61) < start + timedelta(minutes=1)
    with pytest.raises(ValueError):
        ratelimit.window_start(NOW, timedelta(0))
