"""Serving processes: each holds its own node number; concurrent requests share
classifier batches."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from complaintdesk import serving
from complaintdesk.classify.base import Prediction
from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db import ids, migrate
from complaintdesk.db.engine import make_engine
from complaintdesk.runtime import Periodic
from complaintdesk.settings import Settings, get_settings


def test_a_held_node_is_skipped_and_none_free_is_refused(tmp_path: Path) -> None:
    first = serving.claim_node([5, 6], tmp_path)
    second = serving.claim_node([5, 6], tmp_path)  # another holder of the same range
    assert (first, second) == (5, 6)
    with pytest.raises(serving.NodeInUse, match="COMPLAINTDESK_NODE_ID"):
        serving.claim_node([5, 6], tmp_path)


def test_workers_take_nodes_after_the_supervisors_with_room_for_a_rolling_restart() -> None:
    assert serving.worker_candidates(10, 2) == [11, 12, 13, 14]
    with pytest.raises(ValueError):
        serving.worker_candidates(510, 2)  # past the serving nodes


class _Counting:
    """The keyword rules, slowed down, counting the batches they are given."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.inner = KeywordClassifier()
        self.batches: list[int] = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        return self.inner.version

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        with self._lock:
            self.batches.append(len(texts))
        time.sleep(0.01)
        if self.fail_on is not None and self.fail_on in texts:
            raise ValueError("broken text")
        return self.inner.predict(texts)


TEXTS = ["电梯坏了", "楼道灯不亮", "The lift is broken", "保安态度很差", "漏水了", "物业费太贵"]


def test_requests_at_once_are_classified_in_one_batch_with_their_own_labels() -> None:
    counting = _Counting()
    classifier = serving.CoalescingClassifier(counting)
    results: dict[int, list[Prediction]] = {}
    barrier = threading.Barrier(12)

    def ask(n: int) -> None:
        barrier.wait()
        results[n] = classifier.predict([TEXTS[n % len(TEXTS)]])

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    direct = KeywordClassifier()
    for n, predictions in results.items():
        assert predictions == direct.predict([TEXTS[n % len(TEXTS)]])
    assert sum(counting.batches) == 12 and len(counting.batches) < 12  # some coalesced
    assert classifier.version == direct.version


def test_a_failing_batch_fails_its_requests_and_the_next_one_runs() -> None:
    classifier = serving.CoalescingClassifier(_Counting(fail_on="坏"))
    with pytest.raises(ValueError, match="broken"):
        classifier.predict(["坏"])
    assert classifier.predict(["电梯坏了"])[0].category  # not stuck behind the failure


def test_settle_heap_moves_start_up_objects_out_of_the_collectors_way() -> None:
    """What start-up made is frozen: a full collection no longer walks it."""
    import gc

    before = gc.get_freeze_count()
    kept = [[n] for n in range(1000)]  # lists: always tracked
    try:
        serving.settle_heap()
        assert gc.get_freeze_count() >= before + len(kept)
        assert all(gc.is_tracked(k) for k in kept)
    finally:
        gc.unfreeze()


def test_background_jobs_start_on_a_settled_heap() -> None:
    """The supervisor's sweeper claims hundreds of complaints a transaction: its
    process freezes what start-up made before the jobs run."""
    import gc

    seen: list[int] = []
    ran = threading.Event()

    def job() -> None:
        seen.append(gc.get_freeze_count())
        ran.set()

    jobs = [Periodic("probe", 60, job)]
    gc.unfreeze()
    try:
        serving.start_jobs(jobs)
        assert ran.wait(10)
        assert seen[0] > 0
    finally:
        jobs[0].stop()
        gc.unfreeze()


class _Stopped(Exception):
    pass


def test_serve_says_at_start_whether_the_history_indexes_are_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` asks :func:`serving.warn_deferred_indexes` (its warning is tested with
    an interrupted import in tests/integration/test_bulk_import.py) with its own
    sessions, after the schema check and before any job or worker starts."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    asked: list[object] = []

    def ask(factory: object) -> str:
        asked.append(factory)
        raise _Stopped

    def too_far(_runtime: object) -> list[object]:
        raise AssertionError("serve went on to its jobs without asking about the indexes")

    monkeypatch.setattr(serving, "warn_deferred_indexes", ask)
    monkeypatch.setattr(serving, "background_jobs", too_far)
    monkeypatch.setenv("COMPLAINTDESK_NODE_ID", "9")
    # serve sets this for its workers (and clears the settings' cache): put back after
    access_log = os.environ.get("COMPLAINTDESK_ACCESS_LOG")
    node = ids.current_node()
    settings = Settings(database_url=url, node_lock_dir=tmp_path / "locks")
    try:
        with pytest.raises(_Stopped):
            serving.serve(
                settings, host="127.0.0.1", port=0, workers=1, background=True, access_log=False
            )
    finally:
        ids.configure(node)  # serve took a node for this process
        if access_log is None:
            os.environ.pop("COMPLAINTDESK_ACCESS_LOG", None)
        else:
            os.environ["COMPLAINTDESK_ACCESS_LOG"] = access_log
        get_settings.cache_clear()
    assert len(asked) == 1
    with asked[0]() as session:  # type: ignore[operator]
        assert str(session.get_bind().url) == url
