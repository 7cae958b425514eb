"""Time-ordered 64-bit identifiers.

An id is ``milliseconds since 2020-01-01 (41 bits) | node (10 bits) | sequence (12 bits)``:
it says when a row was made, keeps B-tree inserts at the right edge, and lets large
tables be partitioned by id range (one range per month). 41 bits of milliseconds last
until 2089.
"""

from __future__ import annotations

import os
import random
import threading
import time
from datetime import UTC, datetime

EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
_NODE_BITS = 10
_SEQ_BITS = 12
_SEQ_MASK = (1 << _SEQ_BITS) - 1


class IdGenerator:
    """Makes unique, increasing ids in one process; ``node`` separates processes."""

    def __init__(self, node: int | None = None) -> None:
        if node is None:
            node = int(os.environ.get("COMPLAINTDESK_NODE_ID", random.randrange(1 << _NODE_BITS)))
        self._node = node & ((1 << _NODE_BITS) - 1)
        self._lock = threading.Lock()
        self._last_ms = -1
        self._seq = 0
        self._stamped = 0

    def next_id(self, at: datetime | None = None) -> int:
        """A new id; ``at`` stamps it with another moment (imports of history)."""
        with self._lock:
            if at is not None:
                # History: the counter keeps ids of one millisecond apart.
                self._stamped = (self._stamped + 1) & _SEQ_MASK
                return self._compose(_ms(at), self._stamped)
            ms = max(int(time.time() * 1000) - EPOCH_MS, self._last_ms)
            if ms == self._last_ms:
                self._seq = (self._seq + 1) & _SEQ_MASK
                if self._seq == 0:
                    ms += 1  # 4096 ids in one millisecond: borrow the next one
            else:
                self._seq = 0
            self._last_ms = ms
            return self._compose(ms, self._seq)

    def _compose(self, ms: int, seq: int) -> int:
        return (ms << (_NODE_BITS + _SEQ_BITS)) | (self._node << _SEQ_BITS) | seq


def _ms(at: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    ms = int(at.timestamp() * 1000) - EPOCH_MS
    if not 0 <= ms < 1 << 41:
        raise ValueError(f"{at.isoformat()} is outside the id range (2020 to 2089)")
    return ms


def id_time(id_: int) -> datetime:
    """The moment an id was made."""
    ms = (id_ >> (_NODE_BITS + _SEQ_BITS)) + EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def id_floor(at: datetime) -> int:
    """The smallest id that could have been made at ``at`` (for range scans by time)."""
    return _ms(at) << (_NODE_BITS + _SEQ_BITS)


_generator = IdGenerator()


def new_id(at: datetime | None = None) -> int:
    return _generator.next_id(at)
