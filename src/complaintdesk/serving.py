"""``complaintdesk serve``: the API in one or several worker processes, with the
sweeper and the delivery worker running once beside them.

With ``--workers N`` (N > 1) the process started by ``serve`` becomes a supervisor:
uvicorn starts N worker processes that share the listening socket, each building its
own engine and connection pool in :func:`worker_app` (an import-string app factory,
so nothing is shared across ``fork``/``spawn``). The supervisor serves no requests;
it runs the sweeper and the delivery worker, so they run once per server, not once
per worker.

Every process makes ids, and two processes must never make them with the same node
number (:mod:`complaintdesk.db.ids`). ``COMPLAINTDESK_NODE_ID`` is the server's base
node ``b``: the supervisor takes ``b``, and each worker takes the first free node of
``b + 1 … b + 2N`` (twice the workers, so that a rolling restart can start a new
worker before the old one stops). A node is taken by holding an exclusive lock on a
file named after it (``COMPLAINTDESK_NODE_LOCK_DIR``); the operating system releases
it when the process ends, however it ends, so a restarted worker takes the node of
the one it replaces, and a second server started with the same base on this machine
is refused instead of making clashing ids.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from complaintdesk import heartbeat
from complaintdesk.classify.base import Classifier, Prediction, default_classifier
from complaintdesk.db import ids, migrate
from complaintdesk.runtime import Periodic, Runtime, utcnow
from complaintdesk.settings import Settings, get_settings
from complaintdesk.web.observe import configure_logging

if TYPE_CHECKING:
    from complaintdesk.db.warm import Warming
    from complaintdesk.services.delivery import DeliveryReport

log = logging.getLogger("complaintdesk.serve")

WORKER_NODES_ENV = "COMPLAINTDESK_WORKER_NODES"
"""Set by the supervisor for its workers: the nodes they may take, comma-separated."""


def background_pool(settings: Settings) -> int:
    """Connections the supervisor's sweeper and delivery threads use."""
    return settings.deliver_concurrency + 2


WORKER_HEALTHCHECK_SECONDS = 60
"""How long a worker may take to answer its supervisor's health check (see serve)."""

# Held open for the life of the process: closing it would free the node.
_held: list[IO[str]] = []


class CannotServe(RuntimeError):
    """The server's node numbers are missing, out of range or in use, or the
    database's schema is not this version's."""


class NodeInUse(CannotServe):
    """Every node this process could take is held by another process."""


def claim_node(candidates: Sequence[int], lock_dir: Path) -> int:
    """Take the first node of ``candidates`` that no other process on this machine
    holds, for the life of this process."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    for node in candidates:
        handle = (lock_dir / f"node-{node}.lock").open("a+", encoding="ascii")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _held.append(handle)
        return node
    raise NodeInUse(
        f"nodes {', '.join(map(str, candidates))} are all in use by other processes "
        f"(locks in {lock_dir}): give this server another COMPLAINTDESK_NODE_ID"
    )


def worker_candidates(base: int, workers: int) -> list[int]:
    """The nodes a server's workers may take: ``base + 1 … base + 2 × workers``."""
    return ids.worker_nodes(base, 2 * workers + 1)[1:]


@dataclass
class _Job:
    texts: list[str]
    done: bool = False
    result: list[Prediction] = field(default_factory=list)
    error: BaseException | None = None


class CoalescingClassifier:
    """Classifies the texts of requests that arrive together in one batch call.

    A serving process classifies one text per create, and the classifier's cost is
    mostly per call (about 1.4 ms for one text against 0.1 ms a text in a batch, see
    docs/capacity.md). A request that finds no batch running runs one at once, with
    every text queued by then; requests that arrive while it runs queue their texts,
    and the first of them to wake runs the next batch. Nothing waits for a batch to
    fill: alone, a request is classified as soon as it asks. Predictions are the
    inner classifier's, text by text (its batches give the same labels per text).
    """

    def __init__(self, inner: Classifier) -> None:
        self._inner = inner
        self._ready = threading.Condition()
        self._queued: list[_Job] = []
        self._running = False

    @property
    def version(self) -> str:
        return self._inner.version

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        job = _Job(list(texts))
        with self._ready:
            self._queued.append(job)
            while self._running and not job.done:
                self._ready.wait()
            if not job.done:
                self._running = True
                batch, self._queued = self._queued, []
        if not job.done:
            self._run(batch)
        if job.error is not None:
            raise job.error
        return job.result

    def _run(self, batch: list[_Job]) -> None:
        try:
            predictions = self._inner.predict([t for j in batch for t in j.texts])
            start = 0
            for j in batch:
                j.result = predictions[start : start + len(j.texts)]
                start += len(j.texts)
        except BaseException as exc:
            for j in batch:
                j.error = exc
        finally:
            with self._ready:
                for j in batch:
                    j.done = True
                self._running = False
                self._ready.notify_all()


def worker_app() -> FastAPI:
    """The app of one worker process (``uvicorn complaintdesk.serving:worker_app
    --factory``): its own node, engine and connection pool."""
    from complaintdesk.web.app import create_app

    settings = get_settings()
    raw = os.environ.get(WORKER_NODES_ENV, "")
    candidates = [int(n) for n in raw.split(",") if n.strip()]
    if not candidates:
        candidates = [ids.require_configured_node()]
    node = claim_node(candidates, settings.node_lock_dir)
    ids.configure(node)
    runtime = Runtime.from_settings(settings)
    configure_logging()  # a spawned worker starts with no logging set up
    log.info("worker %d serving with node %d", os.getpid(), node)
    app = create_app(runtime.factory, classifier=CoalescingClassifier(default_classifier()))
    # /readyz reads whether the supervisor's jobs are alive from its heartbeat.
    beat = os.environ.get(heartbeat.HEARTBEAT_ENV)
    app.state.heartbeat = Path(beat) if beat else None
    settle_heap()
    return app


def settle_heap() -> None:
    """Move what start-up made (modules, routes, mapped classes, the classifier's
    lexicon: objects that live as long as the process) out of the garbage collector's
    way, so that its full collections walk only what requests make. Measured by the
    read bench at 10M: about 2 % of requests paid 80-90 ms of CPU for a full collection
    over start-up's objects; with them frozen the worst was 12 ms."""
    gc.collect()
    gc.freeze()


def deliverer(runtime: Runtime) -> Callable[[], DeliveryReport]:
    """One delivery batch: claimed, sent by ``deliver_concurrency`` threads, recorded;
    the channels and the threads are made once."""
    from complaintdesk.services.delivery import channels_from_settings, deliver

    settings = runtime.settings
    channels = channels_from_settings(settings)
    pool = (
        ThreadPoolExecutor(settings.deliver_concurrency, thread_name_prefix="deliver")
        if settings.deliver_concurrency > 1
        else None
    )

    def once() -> DeliveryReport:
        return deliver(
            runtime.factory,
            channels,
            utcnow(),
            batch=settings.deliver_batch_size,
            max_attempts=settings.delivery_max_attempts,
            pool=pool,
        )

    return once


def background_jobs(runtime: Runtime) -> list[Periodic]:
    """The sweeper, the delivery worker and the outbox purge, each in its own thread.
    Delivery sends batch after batch while batches come back full, and waits only
    when it is idle."""
    from complaintdesk.db import partitions
    from complaintdesk.services.escalation import sweep
    from complaintdesk.services.retention import purge_outbox

    settings = runtime.settings
    return [
        # Next months' partitions (PostgreSQL) are made long before they are needed.
        Periodic(
            "partitions",
            partitions.MAINTENANCE_INTERVAL_SECONDS,
            lambda: partitions.run_maintenance(runtime.engine, utcnow()),
        ),
        Periodic(
            "sweeper", settings.sweep_interval_seconds, lambda: sweep(runtime.factory, utcnow())
        ),
        Periodic(
            "delivery",
            settings.deliver_interval_seconds,
            deliverer(runtime),
            again=lambda report: getattr(report, "claimed", 0) >= settings.deliver_batch_size,
        ),
        Periodic(
            "purge",
            settings.purge_interval_seconds,
            lambda: purge_outbox(
                runtime.factory, utcnow(), retention=timedelta(days=settings.outbox_retention_days)
            ),
        ),
    ]


class WarmAtStart:
    """``db warm`` once, in a thread of its own, as ``serve`` starts (PostgreSQL): the
    primary keys every point read uses are read into shared buffers while the server
    already answers (readiness does not wait for it). Not one of the background jobs
    /readyz watches: it ends when it is done. Stopped between two indexes when the
    server stops. Off with ``COMPLAINTDESK_WARM_AT_START=false`` (docs/operations.md
    says when)."""

    def __init__(self, runtime: Runtime) -> None:
        self._engine = runtime.engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="warm", daemon=True)
        self.report: Warming | None = None
        """What it read, once it has ended (None until then, or when it could not)."""

    def _run(self) -> None:
        from complaintdesk.db import warm

        self.report = warm.warm_and_log(self._engine, self._stop.is_set)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for it to end (at most ``timeout`` seconds); whether it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)  # an index being read is finished by PostgreSQL

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def warn_deferred_indexes(factory: sessionmaker[Session]) -> str:
    """Say as ``serve`` starts when the history tables' secondary indexes are not all
    made (an import into empty tables with ``--indexes auto`` or ``after`` that was
    interrupted, or is under way): it serves, but reads of those tables scan until the
    import is run again and makes them. What /readyz says too (``indexes``)."""
    from complaintdesk.services import bulk

    with factory() as session:
        state = bulk.deferred_state(session)
    if state != "ok":
        log.warning("indexes %s", state)
    return state


def start_jobs(jobs: Sequence[Periodic]) -> None:
    """Start the background jobs in this process (``serve``'s supervisor, or a
    one-process ``serve``), with the heap settled first: the sweeper claims up to 200
    complaints a transaction, and without it a full collection over start-up's
    objects (the modules, the mapped classes) fell in about one claim in twenty at
    60-80 ms of CPU (the read bench's sweeper figure, docs/capacity.md)."""
    settle_heap()
    for job in jobs:
        job.start()


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    background: bool,
    access_log: bool,
) -> None:
    """Serve until SIGINT or SIGTERM, then stop the workers and the background jobs."""
    import uvicorn

    # The app writes its own JSON access line (request id, caller, route; contacts
    # masked); uvicorn's would print full query strings, phone numbers included.
    os.environ["COMPLAINTDESK_ACCESS_LOG"] = "1" if access_log else "0"
    get_settings.cache_clear()
    try:
        base = ids.require_configured_node()
        candidates = worker_candidates(base, workers) if workers > 1 else []
    except (ids.NodeNotConfigured, ValueError) as exc:
        raise CannotServe(str(exc)) from exc
    ids.configure(claim_node([base], settings.node_lock_dir))
    runtime = Runtime.from_settings(
        settings, pool_size=background_pool(settings) if workers > 1 else None
    )
    # A schema behind the code fails on the first request that reads a missing column:
    # refuse at start, saying what to run, instead. One a newer version migrated (a
    # rolling upgrade: db upgrade, then the servers one by one) is served, with a warning.
    why = migrate.behind(runtime.engine)
    if why is not None:
        runtime.engine.dispose()
        raise CannotServe(why)
    newer = migrate.ahead(runtime.engine)
    if newer:
        log.warning(
            "the database schema is at revision %s, newer than this version knows; "
            "serving it (a rolling upgrade). Upgrade this server.",
            ", ".join(sorted(newer)),
        )
    warn_deferred_indexes(runtime.factory)
    jobs = background_jobs(runtime) if background else []
    start_jobs(jobs)
    warming = (
        WarmAtStart(runtime)
        if background and settings.warm_at_start and runtime.engine.dialect.name == "postgresql"
        else None
    )
    if warming is not None:
        warming.start()
    # Workers answer /readyz; the jobs run here: they learn of them from a heartbeat.
    beat = (
        heartbeat.Heartbeat(heartbeat.path_for(settings.node_lock_dir, base), jobs)
        if jobs and workers > 1
        else None
    )
    if beat is not None:
        beat.start()
        os.environ[heartbeat.HEARTBEAT_ENV] = str(beat.path)
    try:
        if workers == 1:
            from complaintdesk.web.app import create_app

            app = create_app(runtime.factory, classifier=CoalescingClassifier(default_classifier()))
            settle_heap()
            app.state.jobs = jobs  # /readyz reports whether they still run
            uvicorn.run(app, host=host, port=port, access_log=False)
        else:
            os.environ[WORKER_NODES_ENV] = ",".join(map(str, candidates))
            uvicorn.run(
                "complaintdesk.serving:worker_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                access_log=False,
                # uvicorn kills a worker that does not answer its supervisor's ping within
                # this many seconds (default 5). A worker starting up (loading the
                # classifier) on a busy machine can miss 5 s and was killed and restarted
                # in a loop, never serving; a worker that is really gone is still seen at
                # once (its process is checked before the ping).
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            )
    finally:
        if warming is not None:
            warming.stop()
        for job in jobs:
            job.stop()
        if beat is not None:
            beat.stop()
        runtime.engine.dispose()
