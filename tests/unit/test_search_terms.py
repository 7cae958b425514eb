"""The search terms rule: what words are indexed as, and what a query becomes."""

from __future__ import annotations

from complaintdesk.domain.search import (
    Phrase,
    needle,
    parse_query,
    rank,
    search_terms,
    spaced,
    to_fts5,
    to_tsquery,
)


def test_chinese_runs_become_bigrams_and_their_last_character() -> None:
    assert search_terms("楼上漏水") == "楼上 上漏 漏水 水"
    assert search_terms("水") == "水"


def test_latin_words_and_numbers_are_whole_terms_lower_case_and_half_width() -> None:
    assert search_terms("Heating BROKEN in Ｂ２, flat 1201") == "heating broken in b2 flat 1201"


def test_mixed_text_and_several_fields() -> None:
    assert search_terms("3号楼电梯坏了", None, "lift") == "3 号楼 楼电 电梯 梯坏 坏了 了 lift"


def test_a_query_is_phrases_of_the_same_terms() -> None:
    assert parse_query("漏水  heating") == [Phrase(("漏水",)), Phrase(("heating",))]
    assert parse_query("楼上漏水") == [Phrase(("楼上", "上漏", "漏水"))]
    assert parse_query("水") == [Phrase(("水",), prefix=True)]
    assert parse_query("!!! ???") == []


def test_every_query_phrase_is_found_in_the_terms_of_text_that_holds_it() -> None:
    text = "业主反映楼上卫生间漏水已经三天, the ceiling is wet"
    stored = search_terms(text).split()
    for query in ("卫生间漏水", "漏水", "ceiling", "三天", "间"):
        for phrase in parse_query(query):
            n = len(phrase.terms)
            windows = [tuple(stored[i : i + n]) for i in range(len(stored) - n + 1)]
            if phrase.prefix:
                assert any(t.startswith(phrase.terms[0]) for t in stored), query
            else:
                assert phrase.terms in windows, query


def test_queries_for_postgresql_and_sqlite() -> None:
    phrases = parse_query("楼上漏水 wet 水")
    assert to_tsquery(phrases) == "(楼上 <-> 上漏 <-> 漏水) & (wet) & 水:*"
    assert to_fts5(phrases) == '"楼上 上漏 漏水" AND "wet" AND "水"*'


def test_rank_prefers_more_occurrences_in_shorter_text() -> None:
    phrases = parse_query("漏水")
    twice = rank(search_terms("漏水,又漏水"), phrases)
    once = rank(search_terms("漏水,还有别的问题"), phrases)
    none = rank(search_terms("电梯坏了"), phrases)
    assert twice > once > none == 0.0


def test_rank_counts_a_phrase_only_where_its_terms_are_adjacent_and_in_order() -> None:
    stored = search_terms("停车场 停车场,停车的灯坏了,车场还很脏")
    doc = spaced(stored)
    assert doc.count(needle(parse_query("停车场")[0])) == 2  # back to back: both
    assert doc.count(needle(parse_query("车场停")[0])) == 0
    assert doc.count(needle(parse_query("停")[0])) == 3  # terms starting with 停
    assert rank(stored, parse_query("停车场")) > rank(stored, parse_query("很脏"))
