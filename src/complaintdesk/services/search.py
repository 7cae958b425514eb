"""Full-text search over the owners' words, with the list's filters.

A query's phrases (``domain.search.parse_query``) are matched against the search terms
stored when each complaint was written: on PostgreSQL by the GIN index over
``(project_id, to_tsvector('simple', search_terms))`` (migration 0017: a search within
a project reads the project's matches, not the company's), on SQLite by the FTS5 table.

Search never reads the whole history to answer a page. It looks back from the newest
moment in question (now, ``received_to`` or the cursor) through widening windows: the
last 7 days, then 30, 180, 730, then everything, and stops as soon as it has what the
page needs. On PostgreSQL each window is an id range, so it reads only the month
partitions (and their local GIN indexes) of that window: "the newest 20 matching a
common phrase" is answered from the last days, however long the history.

- ``sort=newest``: newest first; the cursor is the last id shown.
- ``sort=relevance`` (default): the newest ``RANK_POOL`` matches, ranked; the cursor
  pins that pool (its upper id) and the offset. The rank is ``domain.search.rank``
  (occurrences of each phrase, divided by 1 + the log of the text's length); on
  PostgreSQL computed in the statement that reads the pool, for its rows only.

The page says how far back it looked (``searched_from``; None: all of history).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    cast,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from complaintdesk.db.ids import id_time
from complaintdesk.db.models import Complaint, Staff
from complaintdesk.domain import search as terms
from complaintdesk.domain.errors import InvalidInput
from complaintdesk.services.queries import (
    MAX_ID,
    MAX_PAGE,
    ComplaintFilter,
    check_limit,
    filtered,
    id_after,
    id_at,
    shown,
)

WINDOWS = (timedelta(days=7), timedelta(days=30), timedelta(days=180), timedelta(days=730))
RANK_POOL = 1000
_FTS = table("complaints_fts", column("rowid"))
_SIMPLE: ColumnElement[str] = literal_column("'simple'::regconfig")


class SearchSort(StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"


@dataclass(frozen=True)
class SearchPage:
    items: list[Complaint]
    next_cursor: str | None
    searched_from: datetime | None
    """The oldest moment the search looked at; None when it read all of history."""


def custom_plans(session: Session) -> None:
    """On PostgreSQL, plan each search statement for its own words and window.

    psycopg prepares a statement it has run five times, and PostgreSQL may then switch
    to a generic plan made without the values: for a search that is a plan blind to how
    common the words are and to which months the window covers (through the API at 1M
    a relevance search took 1.2-6 s from such plans, 0.3 s planned each time). A
    window's statement reads a few months, so planning it costs a millisecond or two."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _match(dialect: str, phrases: list[terms.Phrase], lo: int, hi: int) -> ColumnElement[bool]:
    if dialect == "postgresql":
        # Spelt exactly as the GIN index's expression (migration 0004).
        vector = func.to_tsvector(_SIMPLE, Complaint.search_terms)
        query = func.to_tsquery(_SIMPLE, terms.to_tsquery(phrases))
        return vector.bool_op("@@")(query)
    rowid = _FTS.c.rowid
    matching = (
        select(rowid)
        .where(text("complaints_fts MATCH :fts").bindparams(fts=terms.to_fts5(phrases)))
        .where(rowid >= lo, rowid < hi)
    )
    return Complaint.id.in_(matching)


def _parse_cursor(cursor: str | None, sort: SearchSort) -> tuple[int | None, int]:
    """(upper id, offset) from a cursor of this sort."""
    if cursor is None:
        return None, 0
    try:
        if sort is SearchSort.NEWEST:
            upper, offset = int(cursor), 0
        else:
            anchor, _, off = cursor.partition(".")
            upper, offset = int(anchor), int(off)
    except ValueError:
        upper = -1
    if not (1 <= upper <= MAX_ID and 0 <= offset < RANK_POOL):
        raise InvalidInput(
            "cursor is the next_cursor of the previous page of this search / 游标无效",
            field="cursor",
        )
    return upper, offset


def search(
    session: Session,
    actor: Staff,
    query: str,
    flt: ComplaintFilter,
    now: datetime,
    *,
    sort: SearchSort = SearchSort.RELEVANCE,
    cursor: str | None = None,
    limit: int = 20,
) -> SearchPage:
    """A page of the complaints ``actor`` may see whose words match ``query`` and that
    pass ``flt``."""
    check_limit(limit, MAX_PAGE)
    phrases = terms.parse_query(query)
    if not phrases:
        raise InvalidInput(
            "give at least one word or two Chinese characters to search for / 请输入搜索词",
            field="q",
        )
    upper, offset = _parse_cursor(cursor, sort)
    custom_plans(session)
    if upper is None:
        upper = id_after(flt.received_to) if flt.received_to is not None else id_after(now)
    floor = id_at(flt.received_from) if flt.received_from is not None else 0
    if sort is SearchSort.NEWEST:
        # A full page ends the widening: looking further back only to learn whether a
        # next page exists would read the history this is built to avoid. So a full
        # page always has a cursor, and the next page may now and then be empty.
        rows, searched_from, exhausted = _newest_matches(
            session, actor, flt, now, phrases, upper, floor, enough=limit, at_most=limit + 1
        )
        more = len(rows) > limit or (len(rows) == limit and not exhausted)
        next_cursor = str(rows[limit - 1].id) if more else None
        return SearchPage(rows[:limit], next_cursor, searched_from)
    # The pool is read as (id, rank) pairs only; the page's complaints are then loaded
    # by id (whole rows for 1,000 matches cost more than their ranking).
    pool, searched_from, _ = _newest_matches(
        session, actor, flt, now, phrases, upper, floor, enough=RANK_POOL, at_most=RANK_POOL,
        ranked=True,
    )  # fmt: skip
    ranked = sorted(pool, key=lambda r: (-r[1], -r[0]))
    ids = [r[0] for r in ranked[offset : offset + limit]]
    loaded = {c.id: c for c in shown(session, select(Complaint).where(Complaint.id.in_(ids)))}
    page = [loaded[i] for i in ids if i in loaded]
    more = offset + limit < len(ranked)
    return SearchPage(page, f"{upper}.{offset + limit}" if more else None, searched_from)


def _newest_matches(
    session: Session,
    actor: Staff,
    flt: ComplaintFilter,
    now: datetime,
    phrases: list[terms.Phrase],
    upper: int,
    floor: int,
    *,
    enough: int,
    at_most: int,
    ranked: bool = False,
) -> tuple[list[Any], datetime | None, bool]:
    """Up to ``at_most`` matches below id ``upper`` (and at or above ``floor``), newest
    first, read window by widening window back from ``upper`` until ``enough``; how far
    back it read; whether it read down to ``floor``. ``ranked``: (id, rank) pairs
    (:func:`_ranked`) instead of complaints."""
    dialect = session.get_bind().dialect.name
    base: Any = filtered(actor, flt, now)
    if ranked:
        base = base.with_only_columns(Complaint.id, Complaint.search_terms)
    anchor = id_time(upper) if upper < MAX_ID else now
    found: list[Any] = []
    hi = upper
    for span in (*WINDOWS, None):
        lo = floor if span is None else max(floor, _id_since(anchor - span))
        if lo < hi:
            query = (
                base.where(_match(dialect, phrases, lo, hi), Complaint.id >= lo, Complaint.id < hi)
                .order_by(Complaint.id.desc())
                .limit(at_most - len(found))
            )
            found.extend(_ranked(session, query, phrases) if ranked else shown(session, query))
            hi = lo
        if len(found) >= enough or lo <= floor:
            break
    searched_from = None if hi == 0 else id_time(hi)
    return found, searched_from, hi <= floor


def _ranked(
    session: Session, window: Select[int, str], phrases: list[terms.Phrase]
) -> list[tuple[int, float]]:
    """(id, rank) of the matches ``window`` reads (ids and search terms, newest first,
    limited): ``domain.search.rank``.

    PostgreSQL computes it in the same statement, outside the limited window so only
    the pool's rows are ranked, with string functions over the stored terms
    (``replace``/``length``/``ln``: the rank's formula, 2-6 ms for 1,000 texts at 1M,
    where ``ts_rank_cd(to_tsvector(...))`` took 20-35 ms, and re-tokenising in
    Python ~200 ms). SQLite, the embedded default, ranks the pool in Python (its
    ``ln`` is missing from builds without the math functions)."""
    if session.get_bind().dialect.name != "postgresql":
        return [(row[0], terms.rank(row[1], phrases)) for row in session.execute(window)]
    pool = window.subquery("pool")
    stored = pool.c.search_terms
    doc = literal(" ") + func.replace(stored, " ", "  ") + literal(" ")
    hits: ColumnElement[float] = literal(0.0, Float())
    for phrase in phrases:
        found = terms.needle(phrase)
        gone = func.length(doc) - func.length(func.replace(doc, found, ""))
        hits = hits + func.ln(1.0 + cast(gone, Float()) / len(found))
    count = func.length(stored) - func.length(func.replace(stored, " ", "")) + 1
    score = hits / (1.0 + func.ln(1.0 + cast(count, Float())))
    return [(row[0], float(row[1])) for row in session.execute(select(pool.c.id, score))]


def _id_since(moment: datetime) -> int:
    return id_at(max(moment, datetime(2020, 1, 1, tzinfo=UTC)))
