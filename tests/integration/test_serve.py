"""``complaintdesk serve --workers 2`` as production runs it: a real process tree on a
free port, real PostgreSQL, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select, text

from complaintdesk.db import ids, migrate
from complaintdesk.db.engine import make_engine, make_sessionmaker, unit_of_work
from complaintdesk.db.models import Outbox
from complaintdesk.services import accounts
from tests.conftest import Databases, build_org


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "serve exited before it was up"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.terminate()
    output = proc.communicate(timeout=30)[0].decode(errors="replace")
    raise AssertionError(f"serve did not come up in {timeout:.0f} s; it said:\n{output[-3000:]}")


def _readiness(url: str, until: int | None = None, timeout: float = 60) -> tuple[int, str]:
    """/readyz's status and its ``workers`` check (waiting for ``until`` if given)."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{url}/readyz", timeout=10)
        if until is None or r.status_code == until or time.monotonic() > deadline:
            return r.status_code, str(r.json()["checks"]["workers"])
        time.sleep(0.5)


def test_serve_with_two_workers_serves_and_shuts_down_cleanly(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("several worker processes are for PostgreSQL")
    factory = make_sessionmaker(fresh_engine)
    with unit_of_work(factory) as session:
        acme = build_org(session)
        # The server runs on the real clock: the token must be valid now, not at NOW.
        token = accounts.issue_token(session, acme.guard, datetime.now(UTC))
    port = _free_port()
    base = 40
    locks = tmp_path / "locks"
    env = {
        **os.environ,
        "DATABASE_URL": fresh_engine.url.render_as_string(hide_password=False),
        "COMPLAINTDESK_NODE_ID": str(base),
        "COMPLAINTDESK_NODE_LOCK_DIR": str(locks),
        "COMPLAINTDESK_DELIVER_INTERVAL_SECONDS": "0.2",
        "COMPLAINTDESK_DB_POOL_SIZE": "3",
        "COMPLAINTDESK_HEARTBEAT_STALE_SECONDS": "4",
    }
    command = [str(Path(sys.executable).parent / "complaintdesk"), "serve", "--workers", "2"]
    proc = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url, proc)
        made = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            for n in range(12):
                r = client.post(
                    "/api/v1/complaints",
                    json={
                        "project_id": str(acme.project.id),
                        "owner_id": str(acme.owner.id),
                        "text": f"电梯坏了,第{n}次",
                    },
                )
                assert r.status_code == 201, r.text
                made.append(int(r.json()["id"]))
        # Ids come from the workers' own nodes (base + 1 …), never the supervisor's.
        nodes = {ids.id_node(i) for i in made}
        assert nodes <= set(range(base + 1, base + 5)) and nodes, nodes
        assert {p.name for p in locks.iterdir()} >= {f"node-{base}.lock"}
        # The supervisor's delivery worker sends what the workers queued.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with factory() as session:
                pending = session.scalars(
                    select(Outbox.id).where(Outbox.status != "sent", Outbox.complaint_id.in_(made))
                ).all()
            if not pending:
                break
            time.sleep(0.3)
        assert not pending
        # A worker's /readyz sees the supervisor's jobs through its heartbeat: alive,
        # then stale while the supervisor is stopped, then alive again.
        assert _readiness(url) == (200, "ok")
        proc.send_signal(signal.SIGSTOP)
        try:
            status, workers = _readiness(url, until=503)
            assert status == 503 and workers.startswith("stopped: supervisor silent"), workers
        finally:
            proc.send_signal(signal.SIGCONT)
        assert _readiness(url, until=200) == (200, "ok")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output = proc.communicate(timeout=60)[0].decode()
        except subprocess.TimeoutExpired:  # pragma: no cover - reported below
            proc.kill()
            output = proc.communicate()[0].decode()
    assert proc.returncode == 0, output
    # Exit code 0 is the clean shutdown; each worker says so when it had time to start
    # its lifespan (on a loaded machine a worker's last line can be cut by the
    # supervisor's own exit, so at least one is required, not both).
    assert "Finished server process" in output


def test_serve_refuses_a_database_whose_schema_is_not_this_versions(
    databases: Databases, tmp_path: Path
) -> None:
    """A schema one migration behind (or never migrated) would fail on the first request
    that reads a new column: serve refuses at start and says what to run. A newer one
    is served (with a warning)."""
    older = databases.new("sqlite", revision="0013")
    never = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert "0013" in (migrate.behind(older) or "")
    with older.connect() as connection:
        assert migrate.schema_state(connection) == "behind"  # /readyz: not ready
    assert "never migrated" in (migrate.behind(never) or "")
    for engine, expected in ((older, "at revision 0013"), (never, "never migrated")):
        run = subprocess.run(
            [str(Path(sys.executable).parent / "complaintdesk"), "serve", "--port", "0"],
            env={
                **os.environ,
                "DATABASE_URL": engine.url.render_as_string(hide_password=False),
                "COMPLAINTDESK_NODE_ID": "7",
                "COMPLAINTDESK_NODE_LOCK_DIR": str(tmp_path / "locks"),
            },
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 2, run.stdout + run.stderr
        assert expected in run.stderr and "complaintdesk db upgrade" in run.stderr, run.stderr
    # Once upgraded, nothing stands in the way (the serving itself: the test above).
    migrate.upgrade(older)
    assert migrate.behind(older) is None and migrate.ahead(older) == set()
    # A revision this code does not know (a newer version ran db upgrade: a rolling
    # upgrade) is served, not refused; ahead() names it for the warning.
    with older.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    assert migrate.behind(older) is None and migrate.ahead(older) == {"9999"}
    with older.connect() as connection:
        assert migrate.schema_state(connection) == "newer"  # /readyz: still ready
