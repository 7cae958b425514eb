"""The test a pattern's matches must pass (domain/prefilter.py): never False for a
text the pattern matches, and False for most texts it does not."""

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from complaintdesk.classify.generate import iter_generate
from complaintdesk.domain import prefilter, rules


def _pieces(pattern: re.Pattern[str]) -> list[str]:
    """Words the pattern is made of (its literal runs), to build texts near a match."""
    return [w for w in re.split(r"[^\w\u4e00-\u9fff' ]+", pattern.pattern) if w.strip()]


def _texts(seed: int, count: int) -> list[str]:
    """Generated complaints, and the same with pieces of the risk patterns spliced in
    (so many of them match a pattern, many nearly do)."""
    rng = random.Random(seed)
    pieces = [p for pattern in rules._RISK_PATTERNS.values() for p in _pieces(pattern)]
    fillers = ["物业费", "管理费", "不", "再", "交", "了", "钱", " ", "fees", "the ", "pay", "我"]
    texts = []
    for record in iter_generate(count, seed=seed):
        text = record["text"]
        texts.append(text)
        words = list(text)
        for _ in range(rng.randint(1, 4)):
            at = rng.randint(0, len(words))
            words[at:at] = rng.choice(pieces + fillers)
        texts.append("".join(words))
    return texts


@pytest.mark.parametrize("risk", list(rules.Risk))
def test_risk_pattern_prefilter_never_refuses_a_match(risk: rules.Risk) -> None:
    pattern = rules._RISK_PATTERNS[risk]
    could_match = prefilter.required(pattern)
    assert could_match is not prefilter._always  # the derivation understood the pattern
    texts = [unicodedata.normalize("NFKC", t).lower() for t in _texts(seed=11, count=3000)]
    matched = [t for t in texts if pattern.search(t)]
    assert len(matched) > 50  # the spliced texts do match
    assert [t for t in matched if not could_match(t)] == []
    # and it rules out most of the texts the pattern does not match
    unmatched = [t for t in texts if not pattern.search(t)]
    assert sum(1 for t in unmatched if could_match(t)) < len(unmatched) / 2


def test_risk_flags_as_the_patterns_alone() -> None:
    for text in _texts(seed=5, count=1500):
        normalised = unicodedata.normalize("NFKC", text).lower()
        alone = [r for r, p in rules._RISK_PATTERNS.items() if p.search(normalised)]
        assert rules.risk_flags(text) == alone, text


@pytest.mark.parametrize(
    "pattern, matching, refused",
    [
        (r"abc", ["xxabcxx"], ["ab c", ""]),
        (r"ab?c", ["ac", "abc"], ["a", "bc"]),  # an optional part: "a", "c" each required
        (r"(foo|ba[rz])+!", ["baz!", "foobar!"], ["foo", "bar ?"]),
        (r"x\d{2,}y", ["x12y"], ["x12", "12y"]),
        (r"(?:no)?way", ["way"], ["wa y"]),
        (r"(?!not )go", ["go"], ["g o"]),
        (r"[ab]c", ["ac", "bc"], ["cc"]),
        (r"不(再|会)?交\S{0,4}(费|钱)", ["不再交这个钱"], ["不再交", "交费"]),
    ],
)
def test_prefilter_of_constructs(pattern: str, matching: list[str], refused: list[str]) -> None:
    compiled = re.compile(pattern)
    could_match = prefilter.required(compiled)
    for text in matching:
        assert compiled.search(text) and could_match(text), text
    for text in refused:
        assert not compiled.search(text) and not could_match(text), text


@pytest.mark.parametrize("pattern", [r".*", r"\w+", r"[^a]", r"(?i)abc", r"a*", r"(a|)\1"])
def test_prefilter_passes_everything_it_cannot_read(pattern: str) -> None:
    could_match = prefilter.required(re.compile(pattern))
    assert all(could_match(t) for t in ["", "x", "ABC", "zzz"])
