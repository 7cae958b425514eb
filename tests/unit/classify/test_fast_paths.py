"""The single-text path and the cheaper rule layer give what the batch and plain paths
give: the same bits, the same sentences, the same matches."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from complaintdesk.classify import features as ft
from complaintdesk.classify import model as m
from complaintdesk.classify import rules
from complaintdesk.classify.base import Classifier
from complaintdesk.classify.generate import generate

HOLDOUT = Path(m.__file__).parent / "data" / "eval_holdout.jsonl"

ODD = [
    "",
    " ",
    "!",
    "a",
    "ab",
    "电梯",
    "x" * 5000 + " fire",
    "nul\x00inside 电梯\x00坏了",
    "ＦＵＬＬ－ＷＩＤＴＨ　电梯坏了！！",
    "ﬁre now! 着火。㎡ 现在还在烧…",
    "e\u0301 着火了。正在",
    "ΑΣ fire. ΣΑΣ now",
    "第一句。\n\n第二句；第三句...第四句…第五句!\r\n",
    "3栋2单元电梯停了，困了人",
    "lift stuck with people in. help!",
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    held = [json.loads(line)["text"] for line in HOLDOUT.read_text("utf-8").splitlines()]
    made = [example["text"] for example in generate(1500, seed=5151)]
    return held + made + ODD


def test_one_text_row_is_its_batch_row_bit_for_bit(texts: list[str]) -> None:
    model = m.load(m.PACKAGED_MODEL)
    featuriser = model._featuriser
    norm = [ft.normalise(t) for t in texts]
    data, indices, indptr = featuriser.rows(norm)
    for i, text in enumerate(norm):
        one_data, one_indices = featuriser.row(text)
        lo, hi = indptr[i], indptr[i + 1]
        assert np.array_equal(one_indices, indices[lo:hi]), texts[i][:40]
        assert np.array_equal(one_data, data[lo:hi]), texts[i][:40]


def test_a_nul_does_not_split_a_text() -> None:
    featuriser = ft.Featuriser(ft.lexicon_hashes(["电梯"]))
    norm = [ft.normalise(t) for t in ["a\x00b 电梯", "后面的投诉"]]
    assert "\x00" not in norm[0]
    x = featuriser.transform_normalised(norm)
    assert x.shape[0] == 2
    alone = featuriser.transform_normalised(norm[1:])
    assert np.array_equal(x[1].indices, alone[0].indices)  # the second text keeps its row


def test_one_text_scores_are_the_batch_scores_bit_for_bit(texts: list[str]) -> None:
    model = m.load(m.PACKAGED_MODEL)
    norm = [ft.normalise(t) for t in texts]
    batch = model._raw_normalised(norm)
    for i, text in enumerate(norm):
        assert np.array_equal(model._raw_normalised([text])[0], batch[i]), texts[i][:40]


def test_predict_one_text_is_predict_in_a_batch(classifier: Classifier, texts: list[str]) -> None:
    """The create request classifies one text at a time: same labels and confidences
    as the same text in a batch, with and without the rule layer."""
    sample = texts[:400] + ODD
    batch = classifier.predict(sample)
    assert [classifier.predict([t])[0] for t in sample] == batch
    plain = m.ModelClassifier(m.load(m.PACKAGED_MODEL))
    assert [plain.predict([t])[0] for t in sample[:200]] == plain.predict(sample[:200])
    assert any(p.category.value == "emergency" for p in batch)


def test_sentences_cut_from_the_folded_text_are_the_normalised_sentences(
    texts: list[str],
) -> None:
    for text in texts:
        assert rules._sentences(text) == rules._sentences_slow(text[: rules.MAX_RAW]), text[:40]


@pytest.mark.parametrize(
    ("source", "branches"),
    [
        ("a|b", ["a", "b"]),
        ("a(b|c)|d", ["a(b|c)", "d"]),
        (r"x\|y|z", [r"x\|y", "z"]),
        ("[|]|q", ["[|]", "q"]),
        ("[]|]|q", ["[]|]", "q"]),
        ("one", ["one"]),
    ],
)
def test_top_level_branches(source: str, branches: list[str]) -> None:
    assert rules._top_branches(source) == branches


def test_split_pattern_starts_where_the_full_pattern_starts(texts: list[str]) -> None:
    """A rule searched as a trie of its literal branches plus its other branches finds
    a match exactly where the full pattern does (the rules use only where it starts)."""
    split = {
        name: rule
        for name, rule in vars(rules).items()
        if isinstance(rule, rules._Rule) and rule.lit is not None
    }
    assert {"_R_SECURITY", "_R_ENGINEERING", "_R_HIGH"} <= set(split)
    checked = 0
    for text in texts:
        t = ft.normalise(text)
        for name, rule in split.items():
            full = rule.pattern.search(t)
            fast = rule.search(t)
            assert (full is None) == (fast is None), (name, t[:40])
            if full is not None and fast is not None:
                checked += 1
                assert full.start() == fast.start(), (name, t[:40])
    assert checked > 500


def test_a_pattern_without_literal_branches_is_not_split() -> None:
    assert rules.split_literals(re.compile(r"\bfire\b|x.y")) == (None, None)
    assert rules.split_literals(re.compile("fire", re.IGNORECASE)) == (None, None)
    lit, rest = rules.split_literals(re.compile(r"着火|起火|\bfire\b"))
    assert lit is not None and rest is not None and rest.pattern == r"\bfire\b"


SENTENCE_EDGES = [
    "a. b",
    "..",
    ".. x",
    "... x",
    "a...b",
    "x.",
    "x..",
    "x...",
    "x....y",
    "…",
    "a……b.",
    ". . .",
    ".\n.",
    "end.\r\nnext!?！？；;。",
    "3.5 metres. 2.",
]


def test_sentence_ends_are_found_where_the_plain_pattern_finds_them(texts: list[str]) -> None:
    """The sentence-end regex written to start with one character set matches exactly
    where its plain form does: same starts, same ends."""
    plain = re.compile(rules.SENTENCE_END_PLAIN)
    assert rules._SENTENCE_END.pattern != plain.pattern
    found = 0
    for text in texts + SENTENCE_EDGES:
        spans = [m.span() for m in plain.finditer(text)]
        assert [m.span() for m in rules._SENTENCE_END.finditer(text)] == spans, text[:40]
        found += len(spans)
    assert found > 1000


@pytest.mark.parametrize(
    "words",
    [
        ["fire", "flames", "lift"],
        ["110", "120", "119", "救命"],
        ["a", "ab", "b"],
        ["dripping from", "not breathing", "着火", "困了人"],
        ["x"],
    ],
)
def test_a_word_is_found_by_its_rarest_character(words: list[str]) -> None:
    """The anchored regex matches a text exactly when one of the words occurs in it."""
    anchored = re.compile(rules._anchored(words))
    probes = [w for w in words] + [
        p + w + s for w in words for p in ("", "x ", "电") for s in ("", "!", " y")
    ]
    probes += [
        "",
        "fir",
        "lif",
        "ift",
        "11",
        "1 10",
        "drippingfrom",
        "not breathin",
        "着",
        "困了",
        "y",
    ]
    for probe in probes:
        assert (anchored.search(probe) is not None) == any(w in probe for w in words), probe


def test_prefilters_match_where_the_plain_trie_does(texts: list[str]) -> None:
    """A rule's prefilter (anchored at each word's rarest character) says yes on
    exactly the texts where the trie of the same words finds one."""
    checked = 0
    for name, rule in vars(rules).items():
        if not isinstance(rule, rules._Rule) or rule.pre is None:
            continue
        words = rules.literals(rule.pattern)
        assert words
        trie = re.compile(rules._trie(words))
        for text in texts:
            t = ft.normalise(text)
            assert (rule.pre.search(t) is None) == (trie.search(t) is None), (name, t[:40])
            checked += 1
    assert checked > 10_000
