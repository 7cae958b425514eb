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
    def from_settings(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        return cls(settings, engine, make_sessionmaker(engine))


@dataclass
class Periodic:
    """Runs ``job`` every ``interval`` seconds in a daemon thread until stopped; a
    failing run is logged and the next one goes ahead."""

    name: str
    interval: float
    job: Callable[[], object]
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.job()
                log.debug("%s: %s", self.name, result)
            except Exception:
                log.exception("%s failed; retrying in %.0f s", self.name, self.interval)
            self._stop.wait(self.interval)
