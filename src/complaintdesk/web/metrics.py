"""Operations: ``/healthz`` (the process answers), ``/readyz`` (the database answers,
its schema is at the migrations' head, the background jobs run) and ``/metrics``
(Prometheus).

Request counts and latencies are counted in the process that served them. Under
``serve --workers N`` set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by
the workers: prometheus-client then writes each process's counts there and
``/metrics`` adds them up, whichever worker answers. The outbox backlog, its oldest
pending age and the overdue count are read from the database when scraped (one query
each, on the partial open-work and outbox indexes), so every worker gives the same
figures.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk.classify.base import Classifier, Prediction
from complaintdesk.db.migrate import schema_state
from complaintdesk.db.models import Complaint, Outbox
from complaintdesk.services import bulk

REQUESTS = Counter(
    "complaintdesk_http_requests", "HTTP requests by route template", ["method", "route", "status"]
)
LATENCY = Histogram(
    "complaintdesk_http_request_seconds",
    "Time to answer an HTTP request, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOB_RUNS = Counter(
    "complaintdesk_job_runs", "Runs of the background jobs (sweeper, delivery)", ["job", "outcome"]
)
CLASSIFY_SECONDS = Histogram(
    "complaintdesk_classify_seconds",
    "Time the classifier takes per call",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


class DatabaseCollector(Collector):
    """Figures read from the database at scrape time."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        pending = ("pending", "sending")
        with self.factory() as session:
            backlog, oldest = session.execute(
                select(func.count(), func.min(Outbox.created_at)).where(Outbox.status.in_(pending))
            ).one()
            overdue = session.scalar(
                select(func.count())
                .select_from(Complaint)
                .where(
                    # Open work, spelt as the open-work indexes' predicate.
                    Complaint.closed_at.is_(None),
                    Complaint.resolve_by < now,
                )
            )
        yield GaugeMetricFamily(
            "complaintdesk_outbox_backlog", "Messages waiting to be sent", value=backlog
        )
        age = 0.0
        if oldest is not None:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
            age = max(0.0, (now - oldest).total_seconds())
        yield GaugeMetricFamily(
            "complaintdesk_outbox_oldest_pending_seconds",
            "Age of the oldest message waiting to be sent",
            value=age,
        )
        yield GaugeMetricFamily(
            "complaintdesk_overdue_complaints",
            "Open complaints past their resolution deadline",
            value=overdue or 0,
        )


def _registry(factory: sessionmaker[Session]) -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Delegate(REGISTRY))
    registry.register(DatabaseCollector(factory))
    return registry


class _Delegate(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[GaugeMetricFamily]:
        return self.registry.collect()  # type: ignore[return-value]


def install(app: FastAPI, factory: sessionmaker[Session]) -> None:
    registry = _registry(factory)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """The process is alive (it answers); nothing else is checked."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        """Ready to serve: the database answers, its schema is at the migrations'
        head, and the background jobs this process runs (if any) are alive. It also
        says whether the history tables' secondary indexes are all made (``indexes``:
        ``ok``, or ``deferred: …`` while a bulk load into empty tables is under way or
        was interrupted); that does not make it not ready."""
        checks: dict[str, object] = {}
        started = time.perf_counter()
        try:
            with factory() as session:
                session.execute(text("SELECT 1"))
                checks["database"] = "ok"
                # "newer": a newer version migrated it (a rolling upgrade); still served.
                checks["migrations"] = schema_state(session.connection())
                # Said, not a reason to be taken out: the answers are right, slower.
                checks["indexes"] = bulk.deferred_state(session)
        except Exception as exc:  # any failure to reach the database is "not ready"
            checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["database_ms"] = round((time.perf_counter() - started) * 1000, 1)
        jobs = getattr(request.app.state, "jobs", None)
        beat = getattr(request.app.state, "heartbeat", None)
        if jobs is not None:
            dead = [job.name for job in jobs if not job.alive]
            checks["workers"] = "ok" if not dead else f"stopped: {', '.join(dead)}"
        elif beat is not None:
            # serve --workers N: the jobs run in the supervisor, which writes a heartbeat.
            from complaintdesk import heartbeat
            from complaintdesk.settings import get_settings

            checks["workers"] = heartbeat.check(
                beat, stale_after=get_settings().heartbeat_stale_seconds
            )
        else:
            checks["workers"] = "not run by this process"
        ready = (
            checks.get("database") == "ok"
            and checks.get("migrations") in ("ok", "newer")
            and not str(checks["workers"]).startswith("stopped")
        )
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class TimedClassifier:
    """A classifier whose calls are timed into :data:`CLASSIFY_SECONDS`."""

    def __init__(self, inner: Classifier) -> None:
        self.inner = inner

    @property
    def version(self) -> str:
        return self.inner.version

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        started = time.perf_counter()
        try:
            return self.inner.predict(texts)
        finally:
            CLASSIFY_SECONDS.observe(time.perf_counter() - started)
