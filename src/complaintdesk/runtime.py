"""Wiring for running processes: the engine and session factory from settings, and
the background workers that ``serve`` runs beside the web server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.db.engine import make_engine, make_sessionmaker
from complaintdesk.settings import Settings

log = logging.getLogger("complaintdesk")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_size: int | None = None) -> Runtime:
        """The engine of one process, its connection pool sized by the settings (or
        ``pool_size``, for a process that needs few connections)."""
        engine = make_engine(
            settings.database_url,
            pool_size=settings.db_pool_size if pool_size is None else pool_size,
            max_overflow=settings.db_max_overflow if pool_size is None else 0,
            pool_timeout=settings.db_pool_timeout_seconds,
            pool_pre_ping=settings.db_pool_pre_ping,
        )
        return cls(settings, engine, make_sessionmaker(engine))


@dataclass
class Periodic:
    """Runs ``job`` every ``interval`` seconds in a daemon thread until stopped; a
    failing run is logged and the next one goes ahead."""

    name: str
    interval: float
    job: Callable[[], object]
    again: Callable[[object], bool] = lambda _result: False
    """Whether the job's result says there is more to do now (run again at once)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.job()
                log.debug("%s: %s", self.name, result)
                _count_run(self.name, "ok")
                if self.again(result):
                    continue
            except Exception:
                _count_run(self.name, "failed")
                log.exception("%s failed; retrying in %.0f s", self.name, self.interval)
            self._stop.wait(self.interval)


def _count_run(job: str, outcome: str) -> None:
    from complaintdesk.web.metrics import JOB_RUNS

    JOB_RUNS.labels(job, outcome).inc()
