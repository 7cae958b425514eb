"""The supervisor's heartbeat, as a worker's /readyz reads it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from complaintdesk import heartbeat


@dataclass
class FakeJob:
    name: str
    alive: bool


def test_a_fresh_heartbeat_with_live_jobs_is_ok(tmp_path: Path) -> None:
    path = heartbeat.path_for(tmp_path, 7)
    beat = heartbeat.Heartbeat(path, [FakeJob("sweeper", True), FakeJob("delivery", True)])
    beat.beat()
    assert json.loads(path.read_text())["jobs"] == {"sweeper": True, "delivery": True}
    assert heartbeat.check(path) == "ok"


def test_dead_jobs_are_named(tmp_path: Path) -> None:
    path = heartbeat.path_for(tmp_path, 7)
    heartbeat.Heartbeat(path, [FakeJob("sweeper", True), FakeJob("delivery", False)]).beat()
    assert heartbeat.check(path) == "stopped: delivery"


def test_a_stale_missing_or_broken_heartbeat_is_not_ready(tmp_path: Path) -> None:
    path = heartbeat.path_for(tmp_path, 7)
    assert heartbeat.check(path) == "stopped: no heartbeat from the supervisor"
    heartbeat.Heartbeat(path, [FakeJob("sweeper", True)]).beat()
    later = time.time() + 60
    assert heartbeat.check(path, stale_after=15, now=later).startswith(
        "stopped: supervisor silent for"
    )
    path.write_text("{not json")
    assert heartbeat.check(path) == "stopped: unreadable heartbeat from the supervisor"


def test_the_thread_beats_until_stopped_and_then_removes_the_file(tmp_path: Path) -> None:
    path = heartbeat.path_for(tmp_path, 7)
    beat = heartbeat.Heartbeat(path, [FakeJob("sweeper", True)], interval=0.05)
    beat.start()
    first = json.loads(path.read_text())["at"]
    deadline = time.monotonic() + 10
    while json.loads(path.read_text())["at"] == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(path.read_text())["at"] > first
    beat.stop()
    assert not path.exists()
