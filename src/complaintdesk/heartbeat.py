"""Whether the server's background jobs are alive, seen from every worker process.

Under ``serve --workers N`` the sweeper, the delivery worker and the outbox purge run
in the supervisor, not in the workers that answer ``/readyz``. The supervisor writes a
small heartbeat file every ``INTERVAL`` seconds (which jobs it runs, whether each
thread is alive, when each last finished a run); a worker's ``/readyz`` reads it. A
file on the machine, not a database row: the jobs are the server's own (one supervisor
per server, its workers beside it), the file costs no database write, and a stopped
or killed supervisor is seen as a heartbeat that has gone stale.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

log = logging.getLogger("complaintdesk.heartbeat")

HEARTBEAT_ENV = "COMPLAINTDESK_JOBS_HEARTBEAT"
"""Set by the supervisor for its workers: the path of its heartbeat file."""

INTERVAL = 2.0
STALE_AFTER = 15.0
"""A heartbeat older than this (seconds) means the supervisor no longer runs."""


class Job(Protocol):
    name: str

    @property
    def alive(self) -> bool: ...


def path_for(lock_dir: Path, base_node: int) -> Path:
    """The heartbeat file of the server whose base node is ``base_node`` (one per
    server on a machine, as node numbers are)."""
    return lock_dir / f"jobs-{base_node}.json"


class Heartbeat:
    """Writes ``jobs``' state to ``path`` every ``interval`` seconds in a daemon
    thread (atomically: a reader never sees half a file)."""

    def __init__(self, path: Path, jobs: Sequence[Job], interval: float = INTERVAL) -> None:
        self.path = path
        self.jobs = list(jobs)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        state = {
            "pid": os.getpid(),
            "at": time.time(),
            "jobs": {job.name: job.alive for job in self.jobs},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(state), encoding="utf-8")
        os.replace(partial, self.path)

    def start(self) -> None:
        self.beat()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except OSError:
                log.exception("heartbeat not written to %s", self.path)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1)
        self.path.unlink(missing_ok=True)


def check(path: Path, *, stale_after: float = STALE_AFTER, now: float | None = None) -> str:
    """``ok``, or ``stopped: …`` saying what is wrong: no heartbeat, a stale one (the
    supervisor is gone or hung), or jobs whose threads have ended."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        at = float(state["at"])
        jobs = {str(k): bool(v) for k, v in dict(state["jobs"]).items()}
    except FileNotFoundError:
        return "stopped: no heartbeat from the supervisor"
    except (OSError, ValueError, KeyError, TypeError):
        return "stopped: unreadable heartbeat from the supervisor"
    age = (time.time() if now is None else now) - at
    if age > stale_after:
        return f"stopped: supervisor silent for {age:.0f} s"
    dead = sorted(name for name, alive in jobs.items() if not alive)
    return "ok" if not dead else f"stopped: {', '.join(dead)}"
