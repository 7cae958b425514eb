"""A relevance search's rank: on PostgreSQL computed in SQL over the pool, equal to
``domain.search.rank`` (which SQLite uses) for the same stored terms and query."""

from __future__ import annotations

import pytest
from sqlalchemy import BigInteger, String, literal, select, union_all
from sqlalchemy.orm import Session

from complaintdesk.domain import search as terms
from complaintdesk.services import search

TEXTS = [
    "停车场的灯坏了,停车场还很脏",
    "停车场 停车场 停车场 很脏",
    "停车的灯坏了,车场还很脏",  # the phrase's characters apart
    "哈哈哈哈,停车场",  # a repeated bigram
    "The parking lot lights are broken; parking lot dirty",
    "停",
    "电梯坏了",
]


@pytest.mark.parametrize("query", ["停车场", "停车场 很脏", "parking lot", "停", "哈哈哈", "电梯"])
def test_the_pool_is_ranked_as_the_domain_ranks(session: Session, query: str) -> None:
    phrases = terms.parse_query(query)
    stored = [(n + 1, terms.search_terms(t)) for n, t in enumerate(TEXTS)]
    texts = union_all(
        *(
            select(literal(i, BigInteger()).label("id"), literal(t, String()).label("search_terms"))
            for i, t in stored
        )
    ).subquery("texts")
    pool = select(texts.c.id, texts.c.search_terms)
    ranked = dict(search._ranked(session, pool, phrases))
    expected = {i: terms.rank(s, phrases) for i, s in stored}
    assert ranked == pytest.approx(expected, abs=1e-9)
    assert any(r > 0 for r in ranked.values())
