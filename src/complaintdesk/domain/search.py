"""Search terms: what a complaint's words are indexed as, and what a query becomes.

One pure rule for both sides, so that a query finds exactly what was indexed:

- text is normalised (NFKC: full-width letters and digits become ASCII; lower case);
- a run of Latin letters or digits is one term (``heating``, ``12``, ``b2``);
- a run of Chinese characters becomes its overlapping character pairs (bigrams:
  ``楼上漏水`` -> ``楼上 上漏 漏水``) followed by the run's last character alone, so
  that a one-character query still has something to match.

Why bigrams rather than jieba words: a query must be cut the same way as the text,
and jieba is not run per query (its dictionary costs a second and ~50 MB per process
and it cuts a short query differently from the same words inside a sentence).
Bigrams need no dictionary, find any Chinese substring of two or more characters
(a query's bigrams, adjacent and in order, are a phrase), and are several times
faster to compute on the write path (docs/capacity.md has the measured figures).

``search_terms`` runs when a complaint is written (intake, import, bulk generate);
its output is stored and indexed (PostgreSQL: GIN over ``to_tsvector('simple', …)``;
SQLite: FTS5). ``parse_query`` turns a user's query into phrases of such terms.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

MAX_QUERY_CHARS = 200
MAX_QUERY_PHRASES = 8

# Han ideographs (basic block, extension A, compatibility) and Latin letters/digits.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"[{_HAN}]+|[a-z0-9]+")
_IS_HAN = re.compile(rf"[{_HAN}]")


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _run_terms(run: str) -> list[str]:
    if not _IS_HAN.match(run):
        return [run]
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]]


def search_terms(*texts: str | None) -> str:
    """The space-separated search terms of a complaint's words (text, summary, …).

    Pure and deterministic: the write path (intake, bulk import, generate) calls it
    once per complaint and stores the result in ``complaints.search_terms``.
    """
    terms: list[str] = []
    for text in texts:
        if text:
            for run in _RUNS.findall(_normalise(text)):
                terms.extend(_run_terms(run))
    return " ".join(terms)


@dataclass(frozen=True)
class Phrase:
    """Terms that must appear adjacent and in this order; ``prefix``: a single
    Chinese character, which matches any term that starts with it."""

    terms: tuple[str, ...]
    prefix: bool = False


def parse_query(query: str) -> list[Phrase]:
    """A user's query as phrases that must all match (AND). A run of Chinese
    characters is one phrase of its bigrams; a Latin word or a number is a phrase of
    one term. Punctuation separates; nothing else is an operator."""
    phrases: list[Phrase] = []
    for run in _RUNS.findall(_normalise(query[:MAX_QUERY_CHARS])):
        if _IS_HAN.match(run):
            if len(run) == 1:
                phrase = Phrase((run,), prefix=True)
            else:
                phrase = Phrase(tuple(run[i : i + 2] for i in range(len(run) - 1)))
        else:
            phrase = Phrase((run,))
        if phrase not in phrases:
            phrases.append(phrase)
    return phrases[:MAX_QUERY_PHRASES]


def to_tsquery(phrases: list[Phrase]) -> str:
    """PostgreSQL ``to_tsquery('simple', …)`` text: phrases with ``<->``, ANDed."""
    parts = []
    for p in phrases:
        if p.prefix:
            parts.append(f"{p.terms[0]}:*")
        else:
            parts.append("(" + " <-> ".join(p.terms) + ")")
    return " & ".join(parts)


def to_fts5(phrases: list[Phrase]) -> str:
    """SQLite FTS5 ``MATCH`` text: each phrase quoted (terms hold no quotes), ANDed."""
    parts = []
    for p in phrases:
        quoted = '"' + " ".join(p.terms) + '"'
        parts.append(quoted + "*" if p.prefix else quoted)
    return " AND ".join(parts)


def spaced(stored_terms: str) -> str:
    """Stored terms with each term between spaces of its own (`` a  b  c ``): a phrase
    is then found by plain substring search (:func:`needle`), in Python and in SQL
    alike (``replace``/``length``, no tokenising)."""
    return " " + stored_terms.replace(" ", "  ") + " "


def needle(phrase: Phrase) -> str:
    """What ``phrase`` looks like inside :func:`spaced` terms: its terms in order, each
    between its own spaces; a prefix phrase: a space and the character (a term that
    starts with it)."""
    if phrase.prefix:
        return " " + phrase.terms[0]
    return " " + "  ".join(phrase.terms) + " "


def rank(stored_terms: str, phrases: list[Phrase]) -> float:
    """How well a complaint's stored terms answer the query: each phrase counts by
    how often it occurs (non-overlapping occurrences of its :func:`needle`, with
    diminishing returns: ``ln(1 + n)``), divided by ``1 + ln(1 + number of terms)`` (a
    long text counts each less).

    PostgreSQL computes the same formula in SQL over a relevance search's pool
    (``services/search.py``: ``replace``/``length``/``ln``, a few microseconds a text;
    ``ts_rank_cd`` over ``to_tsvector`` took 20-35 a text); SQLite, the embedded
    default, ranks its pool here."""
    count = len(stored_terms.split())
    if not count:
        return 0.0
    doc = spaced(stored_terms)
    hits = sum(math.log1p(doc.count(needle(p))) for p in phrases)
    return hits / (1.0 + math.log1p(count))
