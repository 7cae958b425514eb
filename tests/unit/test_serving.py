"""Node numbers of serving processes: each process holds its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from complaintdesk import serving


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
