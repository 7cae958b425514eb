"""Search through the API: Chinese and English, with filters, ranked and paged, within
what the caller may see, looking back only as far as the page needs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.conftest import Org
from tests.web.conftest import Api, Clock

URL = "/api/v1/complaints"


def _post(api: Api, acme: Org, text: str, project_id: int | None = None) -> str:
    r = api.as_(acme.admin).post(
        URL,
        json={
            "project_id": str(project_id or acme.project.id),
            "caller_phone": "13900000000",
            "text": text,
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _ids(api: Api, acme: Org, **params: object) -> list[str]:
    r = api.as_(acme.admin).get(URL, params=params)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]]


def test_finds_chinese_and_english_words_and_nothing_else(api: Api, acme: Org) -> None:
    leak = _post(api, acme, "楼上卫生间漏水,天花板一直滴水")
    lift = _post(api, acme, "电梯又坏了,老人上不了楼")
    heat = _post(api, acme, "The heating in flat 1201 is broken again")
    assert _ids(api, acme, q="漏水") == [leak]
    assert _ids(api, acme, q="卫生间漏水") == [leak]  # a phrase: its characters in order
    assert _ids(api, acme, q="漏卫") == []  # the characters, not in that order
    assert _ids(api, acme, q="HEATING") == [heat]
    assert _ids(api, acme, q="heating 1201") == [heat]  # every word must match
    assert _ids(api, acme, q="heating 漏水") == []
    assert _ids(api, acme, q="梯") == [lift]  # one character: any term starting with it
    assert _ids(api, acme, q="电梯", sort="newest") == [lift]


def test_search_combines_with_filters_and_respects_scope(api: Api, acme: Org) -> None:
    here = _post(api, acme, "小区门口垃圾没人清理")
    there = _post(api, acme, "小区门口垃圾没人清理", project_id=acme.other_project.id)
    assert set(_ids(api, acme, q="垃圾")) == {here, there}
    assert _ids(api, acme, q="垃圾", project_id=str(acme.project.id)) == [here]
    assert _ids(api, acme, q="垃圾", status="closed") == []
    # The agent sees project P1 only; another company sees nothing.
    agent = api.as_(acme.agent).get(URL, params={"q": "垃圾"}).json()["items"]
    assert [c["id"] for c in agent] == [here]
    assert api.as_(acme.outsider).get(URL, params={"q": "垃圾"}).json()["items"] == []


def test_relevance_ranks_and_pages(api: Api, acme: Org) -> None:
    once = _post(api, acme, "停车场的灯坏了,还有别的事情要反映一下")
    twice = _post(api, acme, "停车场的灯坏了,停车场还很脏")
    _post(api, acme, "电梯坏了")
    assert _ids(api, acme, q="停车场") == [twice, once]
    first = api.as_(acme.admin).get(URL, params={"q": "停车场", "limit": 1}).json()
    assert [c["id"] for c in first["items"]] == [twice]
    second = api.as_(acme.admin).get(
        URL, params={"q": "停车场", "limit": 1, "cursor": first["next_cursor"]}
    )
    assert [c["id"] for c in second.json()["items"]] == [once]
    assert second.json()["next_cursor"] is None


def test_relevance_orders_by_occurrences_then_by_length(api: Api, acme: Org) -> None:
    """The order is the rank's, not the newest's: more occurrences of the phrase
    first, then a shorter text first (PostgreSQL ranks in SQL with ts_rank_cd, SQLite
    with domain.search.rank: the same order); the phrase's characters apart match
    nothing."""
    short_once = _post(api, acme, "停车场坏了")
    thrice = _post(api, acme, "停车场 停车场 停车场 很脏")
    long_once = _post(api, acme, "停车场的灯坏了,还有别的事情要反映一下,请尽快处理")
    _post(api, acme, "停车的灯坏了,车场还很脏")
    twice = _post(api, acme, "停车场的灯坏了,停车场还很脏")
    assert _ids(api, acme, q="停车场") == [thrice, twice, short_once, long_once]
    assert _ids(api, acme, q="停车场 很脏") == [thrice, twice]
    often = _post(api, acme, "Parking lot lights broken, parking lot dirty")
    once = _post(api, acme, "the parking lot")
    assert _ids(api, acme, q="parking lot") == [often, once]


def test_newest_first_pages_by_cursor(api: Api, acme: Org, clock: Clock) -> None:
    ids = []
    for n in range(5):
        ids.append(_post(api, acme, f"噪音扰民 第{n}次"))
        clock.advance(minutes=1)
    seen: list[str] = []
    params: dict[str, object] = {"q": "噪音", "sort": "newest", "limit": 2}
    while True:
        page = api.as_(acme.admin).get(URL, params=params).json()
        seen += [c["id"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == ids[::-1]


def test_search_looks_back_only_as_far_as_the_page_needs(api: Api, acme: Org, clock: Clock) -> None:
    start = clock.now
    clock.now = start - timedelta(days=400)
    old = _post(api, acme, "绿化带杂草丛生")
    clock.now = start
    recent = [_post(api, acme, f"绿化带杂草丛生 {n}") for n in range(3)]
    admin = api.as_(acme.admin)
    page = admin.get(URL, params={"q": "杂草", "sort": "newest", "limit": 3}).json()
    assert [c["id"] for c in page["items"]] == recent[::-1]
    searched = datetime.fromisoformat(page["searched_from"])
    assert start - searched <= timedelta(days=7)  # the last week was enough
    more = admin.get(URL, params={"q": "杂草", "sort": "newest", "limit": 3, "cursor": recent[0]})
    assert [c["id"] for c in more.json()["items"]] == [old]  # widened to find it
    everything = admin.get(URL, params={"q": "杂草", "limit": 10}).json()
    assert old in [c["id"] for c in everything["items"]]
    assert everything["searched_from"] is None  # it had to read all of history
    window = admin.get(
        URL,
        params={"q": "杂草", "received_to": (start - timedelta(days=100)).isoformat()},
    ).json()
    assert [c["id"] for c in window["items"]] == [old]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"q": ""}, "q"),
        ({"q": "!!!"}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"sort": "newest"}, "sort"),
        ({"q": "漏水", "sort": "best"}, "sort"),
        ({"q": "漏水", "cursor": "abc"}, "cursor"),
        ({"q": "漏水", "cursor": "5.999999"}, "cursor"),
        ({"cursor": "5.5"}, "cursor"),
    ],
)
def test_bad_searches_are_422_naming_the_field(
    api: Api, acme: Org, params: dict[str, object], field: str
) -> None:
    r = api.as_(acme.admin).get(URL, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
