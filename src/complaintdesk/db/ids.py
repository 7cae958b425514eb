"""Time-ordered 64-bit identifiers.

An id is ``milliseconds since 2020-01-01 (41 bits) | node (10 bits) | sequence (12 bits)``:
it says when a row was made, keeps B-tree inserts at the right edge, and lets large
tables be partitioned by id range (one range per month). 41 bits of milliseconds last
until 2089.

Node numbers keep processes apart, so that two processes never make the same id:

- **Serving processes** use nodes 0–511 (:data:`LIVE_NODES`). Each needs its own:
  ``COMPLAINTDESK_NODE_ID`` is required under ``serve`` (refused at start when unset,
  see :func:`require_configured_node`), and a server with several worker processes
  gives worker ``i`` the node ``base + i`` (:func:`worker_nodes`). One-shot commands
  and tests that set nothing draw a random live node.
- **Bulk loaders** (``import``, ``generate``) own nodes 512–1023 (:data:`BULK_BIT` set).
  For them node and sequence together are a 21-bit number per millisecond
  (:func:`bulk_id`), in eight slots of 262,144: a batch holds one slot while it is
  written (a transaction-scoped lock) and takes the next free numbers of each
  millisecond in that slot from the database itself (the largest id already stored
  there), so batches written at the same time, or the same period loaded twice,
  never clash. A run into empty tables holds its slot (``import``) or all eight
  (``generate``) for its whole length and reads nothing (``services.bulk``:
  ``own_bulk_slot``, ``own_bulk_ids``).

Within one process a sequence runs per millisecond, for ids stamped with the present
and with another moment alike; 4,096 ids in one millisecond borrow the next one.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime

EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
NODE_BITS = 10
SEQ_BITS = 12
LOW_BITS = NODE_BITS + SEQ_BITS
_SEQ_MASK = (1 << SEQ_BITS) - 1
LIVE_NODES = 512
"""Nodes 0 … 511 are for serving processes; 512 … 1023 for bulk loaders."""
BULK_BIT = 1 << (LOW_BITS - 1)
"""Set in every id a bulk loader makes (its node is 512 or above)."""
BULK_SEQ_LIMIT = 1 << (LOW_BITS - 1)
"""How many bulk ids one millisecond holds (node and sequence as one number)."""
BULK_SLOT_BITS = 3
BULK_SLOTS = 1 << BULK_SLOT_BITS
"""Loaders writing at the same time each take one of these slices of the bulk range."""
BULK_SLOT_LIMIT = BULK_SEQ_LIMIT >> BULK_SLOT_BITS
"""How many ids one slot holds in one millisecond (262,144)."""
_REMEMBERED_MS = 1 << 16
"""How many recently used milliseconds a process keeps a sequence for."""


class NodeNotConfigured(RuntimeError):
    """A serving process was started without its own node number."""


def _check_live(node: int) -> int:
    if not 0 <= node < LIVE_NODES:
        raise ValueError(
            f"node {node} is outside 0..{LIVE_NODES - 1} (nodes {LIVE_NODES}..1023 are "
            "reserved for bulk loaders)"
        )
    return node


class IdGenerator:
    """Makes unique ids in one process; ``node`` separates processes."""

    def __init__(self, node: int | None = None) -> None:
        if node is None:
            configured = os.environ.get("COMPLAINTDESK_NODE_ID")
            node = int(configured) if configured else random.randrange(LIVE_NODES)
        self._node = _check_live(node)
        self._lock = threading.Lock()
        self._last_ms = -1
        # The last sequence number used in each recently used millisecond: present
        # and stamped ids share it, so they cannot meet.
        self._seq: OrderedDict[int, int] = OrderedDict()

    @property
    def node(self) -> int:
        return self._node

    def next_id(self, at: datetime | None = None) -> int:
        """A new id; ``at`` stamps it with another moment (the time a complaint was
        received). Without ``at`` ids only grow."""
        with self._lock:
            start = _now_ms(self._last_ms) if at is None else _ms(at)
            ms, seq = self._take(start)
            if at is None:
                self._last_ms = ms
            return (ms << LOW_BITS) | (self._node << SEQ_BITS) | seq

    def _take(self, ms: int) -> tuple[int, int]:
        while True:
            seq = self._seq.get(ms, -1) + 1
            if seq <= _SEQ_MASK:
                break
            ms += 1  # 4,096 ids in this millisecond: borrow the next one
        self._seq[ms] = seq
        self._seq.move_to_end(ms)
        if len(self._seq) > _REMEMBERED_MS:
            self._seq.popitem(last=False)
        return ms, seq


def _now_ms(last: int) -> int:
    return max(int(time.time() * 1000) - EPOCH_MS, last)


def _ms(at: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    ms = int(at.timestamp() * 1000) - EPOCH_MS
    if not 0 <= ms < 1 << 41:
        raise ValueError(f"{at.isoformat()} is outside the id range (2020 to 2089)")
    return ms


def ms_of(at: datetime) -> int:
    """The millisecond number an id made at ``at`` carries."""
    return _ms(at)


def bulk_id(ms: int, seq: int, slot: int = 0) -> int:
    """The bulk loaders' id number ``seq`` (0 … 262,143) of millisecond ``ms`` in
    ``slot`` (0 … 7): a batch writes in the slot it holds, so batches written at the
    same time never take the same numbers."""
    if not 0 <= seq < BULK_SLOT_LIMIT:
        raise ValueError(f"bulk sequence {seq} is outside 0..{BULK_SLOT_LIMIT - 1}")
    if not 0 <= slot < BULK_SLOTS:
        raise ValueError(f"bulk slot {slot} is outside 0..{BULK_SLOTS - 1}")
    return (ms << LOW_BITS) | BULK_BIT | (slot * BULK_SLOT_LIMIT) | seq


def id_time(id_: int) -> datetime:
    """The moment an id was made."""
    ms = (id_ >> LOW_BITS) + EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def id_node(id_: int) -> int:
    return (id_ >> SEQ_BITS) & ((1 << NODE_BITS) - 1)


def id_floor(at: datetime) -> int:
    """The smallest id that could have been made at ``at`` (for range scans by time)."""
    return _ms(at) << LOW_BITS


_generator = IdGenerator()


def new_id(at: datetime | None = None) -> int:
    return _generator.next_id(at)


def configure(node: int) -> None:
    """Make this process's ids with ``node`` (a serving process's own number)."""
    global _generator
    _generator = IdGenerator(_check_live(node))


def current_node() -> int:
    return _generator.node


def worker_nodes(base: int, workers: int) -> list[int]:
    """The nodes of a server's ``workers`` processes: ``base``, ``base + 1``, …; all
    must be live nodes. Give each server of a cluster a base that leaves room for
    its workers (server 1: 0, server 2: 16, …)."""
    if workers < 1:
        raise ValueError("at least one worker")
    nodes = list(range(base, base + workers))
    for node in nodes:
        _check_live(node)
    return nodes


def require_configured_node(environ: dict[str, str] | None = None) -> int:
    """The node number set in ``COMPLAINTDESK_NODE_ID``; refuses when it is unset or
    out of range, since two serving processes that drew the same random node would
    make the same ids."""
    env = os.environ if environ is None else environ
    raw = env.get("COMPLAINTDESK_NODE_ID", "").strip()
    if not raw:
        raise NodeNotConfigured(
            "set COMPLAINTDESK_NODE_ID to this server's node number (0-"
            f"{LIVE_NODES - 1}, different on every server; workers take base, base+1, ...)"
        )
    try:
        node = int(raw)
    except ValueError as exc:
        raise NodeNotConfigured(f"COMPLAINTDESK_NODE_ID={raw!r} is not a number") from exc
    try:
        return _check_live(node)
    except ValueError as exc:
        raise NodeNotConfigured(f"COMPLAINTDESK_NODE_ID: {exc}") from exc
