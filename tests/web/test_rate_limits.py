"""Rate limits on token use, wrong tokens and owner look-ups: 429 with Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from complaintdesk.domain.errors import RateLimited
from complaintdesk.services.throttle import Limit, Throttle
from complaintdesk.settings import get_settings
from tests.conftest import Org
from tests.web.conftest import Api, Clock


def test_a_fixed_window_refuses_past_the_limit_and_opens_again() -> None:
    throttle = Throttle()
    limit = Limit(3, timedelta(minutes=1))
    now = datetime(2026, 11, 2, 9, 0, 10, tzinfo=UTC)
    for _ in range(3):
        throttle.hit("k", limit, now)
    with pytest.raises(RateLimited) as caught:
        throttle.hit("k", limit, now)
    assert caught.value.retry_after == 50
    throttle.hit("other", limit, now)  # keys are counted apart
    throttle.hit("k", limit, now + timedelta(seconds=50))  # the next window


def test_memory_stays_bounded() -> None:
    throttle = Throttle(max_keys=100)
    now = datetime(2026, 11, 2, tzinfo=UTC)
    for n in range(1000):
        throttle.hit(f"k{n}", Limit(5, timedelta(minutes=1)), now + timedelta(minutes=n))
    assert len(throttle._counts) <= 100


def test_wrong_tokens_from_one_address_are_429_after_a_few(api: Api, clock: Clock) -> None:
    limit = get_settings().failed_tokens_per_minute
    codes = [
        api.client.get("/api/v1/staff/me", headers={"Authorization": f"Bearer cdk_{n}"}).status_code
        for n in range(limit + 3)
    ]
    assert codes[:limit] == [401] * limit and set(codes[limit:]) == {429}
    r = api.client.get("/api/v1/staff/me", headers={"Authorization": "Bearer cdk_x"})
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["retry-after"]) >= 1
    clock.advance(minutes=1)
    r = api.client.get("/api/v1/staff/me", headers={"Authorization": "Bearer cdk_x"})
    assert r.status_code == 401


def test_owner_look_ups_are_limited_per_staff_member(api: Api, acme: Org, clock: Clock) -> None:
    limit = get_settings().personal_lookups_per_minute
    guard = api.as_(acme.guard)
    codes = [
        guard.get("/api/v1/owners", params={"phone": f"1380000{n:04d}"}).status_code
        for n in range(limit + 2)
    ]
    assert codes[:limit] == [200] * limit and codes[-1] == 429
    # Other work goes on; look-ups come back in the next window.
    assert guard.get("/api/v1/staff/me").status_code == 200
    clock.advance(minutes=1)
    assert guard.get(f"/api/v1/owners/{acme.owner.id}").status_code == 200


def test_one_token_is_limited(api: Api, acme: Org) -> None:
    limit = get_settings().token_requests_per_minute
    agent = api.as_(acme.agent)
    codes = [agent.get("/api/v1/staff/me").status_code for _ in range(limit + 1)]
    assert codes[-1] == 429 and codes[:limit].count(200) == limit
