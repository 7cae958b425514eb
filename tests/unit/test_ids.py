"""Ids: a sequence per millisecond, node numbers that keep processes apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from complaintdesk.cli import app
from complaintdesk.db import ids

INSTANT = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)


def test_more_than_4096_ids_stamped_with_one_instant_are_all_distinct() -> None:
    gen = ids.IdGenerator(node=5)
    made = [gen.next_id(INSTANT) for _ in range(10_000)]
    assert len(set(made)) == len(made)
    # The first 4,096 carry the instant itself; the rest borrow the next milliseconds.
    assert {ids.id_time(i) for i in made[:4096]} == {INSTANT}
    assert max(ids.id_time(i) for i in made) - INSTANT < timedelta(milliseconds=3)


def test_each_millisecond_has_its_own_sequence() -> None:
    """Interleaving two instants does not use up either's sequence (one counter for
    every past time wrapped after 4,096 ids whatever their times)."""
    gen = ids.IdGenerator(node=5)
    other = INSTANT + timedelta(seconds=1)
    made = [gen.next_id(t) for _ in range(3000) for t in (INSTANT, other)]
    assert len(set(made)) == 6000
    assert {ids.id_time(i) for i in made} == {INSTANT, other}


def test_present_and_stamped_ids_share_the_sequence() -> None:
    gen = ids.IdGenerator(node=5)
    now = datetime.now(UTC)
    made = []
    for _ in range(3000):
        made.append(gen.next_id())
        made.append(gen.next_id(now))
    assert len(set(made)) == len(made)
    unstamped = made[0::2]
    assert unstamped == sorted(unstamped)


def test_bulk_ids_are_apart_from_every_serving_node() -> None:
    made = ids.bulk_id(ids.ms_of(INSTANT), 200_000, slot=7)
    assert ids.id_node(made) >= ids.LIVE_NODES
    assert ids.id_time(made) == INSTANT
    live = ids.IdGenerator(node=ids.LIVE_NODES - 1).next_id(INSTANT)
    assert ids.id_node(live) < ids.LIVE_NODES
    with pytest.raises(ValueError):
        ids.bulk_id(0, ids.BULK_SLOT_LIMIT)


def test_a_serving_node_is_refused_in_the_bulk_range() -> None:
    with pytest.raises(ValueError, match="reserved for bulk"):
        ids.IdGenerator(node=ids.LIVE_NODES)
    with pytest.raises(ValueError):
        ids.worker_nodes(ids.LIVE_NODES - 1, 2)
    assert ids.worker_nodes(16, 4) == [16, 17, 18, 19]


@pytest.mark.parametrize("raw", ["", "  ", "abc", "512", "-1"])
def test_an_unset_or_bad_node_is_refused(raw: str) -> None:
    with pytest.raises(ids.NodeNotConfigured):
        ids.require_configured_node({"COMPLAINTDESK_NODE_ID": raw} if raw else {})


def test_a_set_node_is_taken() -> None:
    assert ids.require_configured_node({"COMPLAINTDESK_NODE_ID": "7"}) == 7


def test_serve_refuses_to_start_without_a_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPLAINTDESK_NODE_ID", raising=False)
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2
    assert "COMPLAINTDESK_NODE_ID" in result.output
