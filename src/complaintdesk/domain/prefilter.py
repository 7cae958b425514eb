"""What a regular expression's every match must contain: a cheap test run first.

A pattern such as the risk phrases (:mod:`domain.rules`) is an alternation of many
phrases; Python's ``re`` tries each of them at every position of the text, which
costs tens of microseconds a complaint although almost no complaint matches. Every
match of such a pattern contains some fixed text (``律师``, ``court``, one of
``交 缴 付 给`` …): :func:`required` works that out once from the pattern's own
syntax tree and returns a test made of plain substring checks (``in``, written in C)
that is False only when no match is possible. The pattern is then run only on the
texts that pass: the same answers, for a fraction of the work.

The test is derived, not written by hand, so it stays right when the pattern
changes; whatever the derivation does not understand (a look-around, a class such as
``\\S``, a group reference, case-insensitive parts) it treats as "anything", which can
only make the test pass more often, never refuse a text the pattern would match.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

# The parser behind ``re`` (private to the standard library, stable since 3.11; its
# trees have no types): without it, no prefilter (every text passes).
try:
    _c: Any = importlib.import_module("re._constants")
    _p: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover
    _p = None

# A condition on the text: ("lit", s): s occurs in it; ("all", parts) / ("any", parts).
Need = tuple[str, Any]

_MAX_RANGE = 64  # a class of more characters than this counts as "anything"


def required(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    """A test that is False only for texts in which ``pattern.search`` finds nothing
    (True may still be no match: then run the pattern)."""
    need = None
    if _p is not None and not pattern.flags & re.IGNORECASE:
        try:
            need = _sequence(_p.parse(pattern.pattern, pattern.flags))
        except Exception:  # an unknown construct: no prefilter, never a wrong answer
            need = None
    if need is None:
        return _always
    return _compile(_simplify(need))


def _always(_: str) -> bool:
    return True


def _sequence(items: Any) -> Need | None:
    """Every match of the items one after another contains each of their needs, and
    each run of literal characters as a whole."""
    parts: list[Need] = []
    run: list[str] = []
    for op, av in items:
        if op is _c.LITERAL:
            run.append(chr(av))
            continue
        if op is _c.AT:  # zero width: the letters on both sides stay adjacent
            continue
        if run:
            parts.append(("lit", "".join(run)))
            run = []
        need = _node(op, av)
        if need is not None:
            parts.append(need)
    if run:
        parts.append(("lit", "".join(run)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else ("all", parts)


def _node(op: Any, av: Any) -> Need | None:
    if op is _c.SUBPATTERN:
        _, add_flags, _, items = av
        return None if add_flags & re.IGNORECASE else _sequence(items)
    if op is _c.ATOMIC_GROUP:
        return _sequence(av)
    if op is _c.BRANCH:
        alternatives = [_sequence(items) for items in av[1]]
        if any(a is None for a in alternatives):
            return None
        return ("any", alternatives)
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        low, _, items = av
        return _sequence(items) if low >= 1 else None
    if op is _c.IN:
        chars: list[str] = []
        for kind, value in av:
            if kind is _c.LITERAL:
                chars.append(chr(value))
            elif kind is _c.RANGE and value[1] - value[0] < _MAX_RANGE:
                chars.extend(chr(code) for code in range(value[0], value[1] + 1))
            else:  # a negated class, a category (\\d, \\w), a wide range
                return None
        return ("any", [("lit", ch) for ch in chars])
    return None  # any character, look-arounds, group references: anything


def _simplify(need: Need) -> Need:
    """Nested "any"s and "all"s flattened; an "any" of literals that contain one
    another keeps the shortest (``费`` is in every text ``物业费`` is)."""
    kind, value = need
    if kind == "lit":
        return need
    parts = [_simplify(p) for p in value]
    flat: list[Need] = []
    for p in parts:
        if p[0] == kind:
            flat.extend(p[1])
        else:
            flat.append(p)
    if kind == "any":
        literals = sorted({p[1] for p in flat if p[0] == "lit"}, key=len)
        kept: list[str] = []
        for s in literals:
            if not any(k in s for k in kept):
                kept.append(s)
        flat = [("lit", s) for s in kept] + [p for p in flat if p[0] != "lit"]
    if len(flat) == 1:
        return flat[0]
    return (kind, flat)


def _compile(need: Need) -> Callable[[str], bool]:
    """The test as one Python expression of ``in`` checks joined by ``or`` / ``and``
    (made from the literals' ``repr``: nothing but constants goes into the code). A
    chain of ``in`` runs as bytecode with no call per literal: measured on the bench's
    generated complaints, 1.7-3.0 us a pattern against 4.7-16 us for the pattern's
    own search (most texts match none; the rare text that passes runs both;
    docs/capacity.md, Bulk import, session 12)."""
    source = f"lambda text: {_expression(need)}"
    test: Callable[[str], bool] = eval(compile(source, "<prefilter>", "eval"), {})
    return test


def _expression(need: Need) -> str:
    kind, value = need
    if kind == "lit":
        return f"{value!r} in text"
    parts = value if kind == "any" else sorted(value, key=_weight, reverse=True)
    joined = (" or " if kind == "any" else " and ").join(_expression(p) for p in parts)
    return f"({joined})"


def _weight(need: Need) -> int:
    """How rare a part is likely to be: its shortest literal's length (an "all" is
    tested from its longest literals: it fails soonest on a text without them)."""
    kind, value = need
    if kind == "lit":
        return len(value)
    if kind == "any":
        return min(_weight(p) for p in value)
    return max(_weight(p) for p in value)
