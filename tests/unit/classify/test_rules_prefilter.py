"""The rule layer's prefilters make it fast and never change what it decides."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from complaintdesk.classify import rules
from complaintdesk.classify.base import Classifier
from complaintdesk.classify.features import normalise
from complaintdesk.classify.generate import generate
from complaintdesk.classify.keyword import KeywordClassifier

HOLDOUT = Path(rules.__file__).parent / "data" / "eval_holdout.jsonl"

RULES = {name: value for name, value in vars(rules).items() if isinstance(value, rules._Rule)}

EDGE = [
    "",
    " ",
    "着火了",
    "ＦＩＲＥ！！",
    "fire extinguisher expired",
    "the fire extinguisher is on fire",
    "help!",
    "call 999 now",
    "lifts are down again",
    "昨晚停电了",
    "正在冒烟 smoke",
    "燃气管道在漏",
    "he has fallen and can't get up",
    "x" * 5000 + " fire",
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    held = [json.loads(line)["text"] for line in HOLDOUT.read_text("utf-8").splitlines()]
    made = [example["text"] for example in generate(3000, seed=4242)]
    return held + made + EDGE


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"着火|起火|失火", ["失火", "着火", "起火"]),
        (r"\bfire\b|on fire|flames", ["fire", "flames"]),  # "on fire" contains "fire"
        (r"(lift|elevator)s? (is |are )?(down|broken)", ["lift", "elevator"]),
        (r"电梯.{0,6}(坏|停|不动)", ["电梯"]),
        (r"摔倒.{0,8}起不来", ["起不来"]),  # the longer of two required runs
        (r"打了?110|救命", ["110", "救命"]),
        (r"(?:ab)+c", ["ab"]),
        (r"(?:abc)+", ["abc"]),
    ],
)
def test_literals_every_match_needs(pattern: str, expected: list[str]) -> None:
    assert sorted(rules.literals(re.compile(pattern)) or []) == sorted(expected)


@pytest.mark.parametrize("pattern", [r"\d+|fire", r"fire|x?", r"(?i:fire)", r"[ab]c?"])
def test_no_prefilter_when_a_branch_needs_no_literal(pattern: str) -> None:
    assert rules.prefilter(re.compile(pattern)) is None


def test_no_prefilter_under_ignorecase() -> None:
    assert rules.prefilter(re.compile("fire", re.IGNORECASE)) is None


def test_every_rule_pattern_has_a_prefilter() -> None:
    """Otherwise the rule layer is correct but slow again (about 13,000 texts/s)."""
    assert rules._TRIGGER is not None
    assert len(RULES) >= 10
    for name, rule in RULES.items():
        assert rule.pre is not None, name


def test_prefilters_find_every_match(texts: list[str]) -> None:
    """Wherever a full pattern matches, its prefilter matches inside that match."""
    assert rules._TRIGGER is not None
    checked = 0
    for text in texts:
        t = normalise(text)
        for name, rule in RULES.items():
            assert rule.pre is not None
            for m in rule.pattern.finditer(t):
                checked += 1
                assert rule.pre.search(m.group()), (name, m.group())
                if rule in (rules._R_SECURITY, rules._R_ENGINEERING, rules._R_GENERIC):
                    assert rules._TRIGGER.search(m.group()), (name, m.group())
                if rule is rules._R_HIGH:
                    assert rules._TRIGGER.search(m.group()), (name, m.group())
    assert checked > 1000


def _without_prefilters(monkeypatch: pytest.MonkeyPatch) -> None:
    for rule in RULES.values():
        monkeypatch.setattr(rule, "pre", None)
    monkeypatch.setattr(rules, "_TRIGGER", None)


@pytest.mark.parametrize("inner", ["model", "keyword"])
def test_same_decisions_without_prefilters(
    inner: str, classifier: Classifier, texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule layer decides the same with its prefilters as with the full patterns
    alone, with the model (normalised once) and with the keyword fallback."""
    ruled = classifier if inner == "model" else rules.RuledClassifier(KeywordClassifier())
    fast = ruled.predict(texts)
    fast_danger = [(rules.assess(t), rules.is_high_now(t)) for t in texts]
    _without_prefilters(monkeypatch)
    assert ruled.predict(texts) == fast
    assert [(rules.assess(t), rules.is_high_now(t)) for t in texts] == fast_danger
    assert sum(p.category.value == "emergency" for p in fast) > 100  # the rules did fire
