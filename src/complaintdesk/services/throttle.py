"""Rate limits counted in the memory of each serving process.

Token use and personal-data look-ups are limited here, not in the database: they sit
on every request, the create path included, and a database write per request to count
it would cost about as much as the create itself (measured by the `create` helper:
the create path is ~10 statements, a counter upsert is one more write and one more
row lock per request on a hot row per token). Counting in memory costs a dictionary
update under a lock. The price is that each worker process counts alone: under
``serve --workers N`` a client may reach N times a limit, which is still a limit;
the limits are set for that. Sign-in, where a guess is worth stopping across the
whole cluster, is counted in the database (``services/ratelimit``).

Fixed windows per key; stale keys are dropped as the table grows, so memory stays
bounded by the number of clients active in one window.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from complaintdesk.domain.errors import RateLimited

_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Limit:
    count: int
    window: timedelta


class Throttle:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window number, count)
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def hit(self, key: str, limit: Limit, now: datetime) -> None:
        """Count one use of ``key``; refuse it (:class:`RateLimited`) past the limit."""
        size = limit.window.total_seconds()
        elapsed = (now - _EPOCH).total_seconds()
        window = math.floor(elapsed / size)
        with self._lock:
            seen, count = self._counts.get(key, (window, 0))
            count = count + 1 if seen == window else 1
            if len(self._counts) >= self._max_keys and key not in self._counts:
                self._forget_before(window)
            self._counts[key] = (window, count)
        if count > limit.count:
            retry_after = max(1, math.ceil((window + 1) * size - elapsed))
            raise RateLimited(
                f"too many requests; try again in {retry_after} s "
                f"/ 请求过于频繁,请 {retry_after} 秒后再试",
                retry_after=retry_after,
            )

    def _forget_before(self, window: int) -> None:
        stale = [k for k, (w, _) in self._counts.items() if w < window]
        for k in stale:
            del self._counts[k]
        if len(self._counts) >= self._max_keys:  # all current: drop the oldest half
            for k in list(self._counts)[: self._max_keys // 2]:
                del self._counts[k]

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
