"""Per-issue labels of the real multi-issue letters (session 13): ids, indices and codes only."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from complaintdesk.classify import issues as iss
from complaintdesk.classify import model as m
from complaintdesk.classify import real
from complaintdesk.classify.generate import generate
from complaintdesk.classify.rules import _sentences

LETTER = (
    "关于小区电梯和物业费的问题\n"
    "尊敬的领导：您好！我们小区3栋的电梯上个月坏了三次；物业至今没有修好。"
    "另外，物业费从1.5元涨到2.5元，没有开业主大会。\n"
    "希望领导帮忙解决...谢谢"
)


def test_the_issue_labels_file_holds_ids_indices_and_codes_only() -> None:
    with iss.ISSUE_LABELS.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(iss.FIELDS)
    cjk = re.compile(r"[\u3400-\u9fff]")
    for row in rows[1:]:
        assert not any(cjk.search(cell) for cell in row), row
        assert re.fullmatch(r"[0-9;\-]+", row[2]), row


def test_the_issue_labels_are_valid_and_every_letter_has_two_issues_or_more() -> None:
    rows = iss.read_issue_labels()
    labelled = {r["id"] for r in real.read_labels()}
    by_id: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_id.setdefault(r["id"], []).append(r)
    assert set(by_id) <= labelled
    assert all(len(v) >= 2 for v in by_id.values())
    gold = {r["id"]: (r["category"], r["department"]) for r in real.read_labels()}
    for i, v in by_id.items():
        # the deciding issue, when named, carries the message's own gold pair (rule 17)
        for r in v:
            if r["decides"] == "yes":
                assert (r["category"], r["department"]) == gold[i], i
        # no sentence belongs to two issues
        idx = [k for r in v for k in iss.parse_indices(r["sentences"])]
        assert len(idx) == len(set(idx)), i


def test_a_second_deciding_issue_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "id,issue,sentences,category,department,decides\n"
        "1,1,0;1,equipment,engineering,yes\n"
        "1,2,2,management,finance,yes\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="more than one deciding"):
        iss.read_issue_labels(path)


def test_indices_parse_ranges_and_lists() -> None:
    assert iss.parse_indices("0;3-5;9") == [0, 3, 4, 5, 9]
    assert iss.parse_indices("2") == [2]


def test_sentences_are_numbered_as_the_rule_layer_numbers_them() -> None:
    spans = iss.sentence_spans(LETTER)
    ruled = _sentences(LETTER)
    assert [a for a, _ in spans] == [a for a, _ in ruled]
    assert LETTER[spans[0][0] : spans[0][1]] == "关于小区电梯和物业费的问题"
    assert len(spans) == len(ruled) == 7


def test_a_segment_is_its_sentences_with_the_title_on_its_own_line() -> None:
    assert iss.segment_text(LETTER, [0, 3]) == "关于小区电梯和物业费的问题\n物业至今没有修好"
    assert iss.segment_text(LETTER, [4]) == "另外，物业费从1.5元涨到2.5元，没有开业主大会"
    assert iss.segment_text(LETTER, [99]) == ""


def test_segments_only_from_the_ids_given() -> None:
    rec = {"id": "7", "text": LETTER, "nature": "dissatisfaction", "urgency": "normal"}
    rows = [
        {"id": "7", "sentences": "0;2;3", "category": "equipment", "department": "engineering"},
        {"id": "7", "sentences": "4", "category": "management", "department": "finance"},
    ]
    segs = iss.segments([rec], rows)
    assert [(s["category"], s["department"]) for s in segs] == [
        ("equipment", "engineering"),
        ("management", "finance"),
    ]
    assert segs[1]["nature"] == "dissatisfaction"
    assert iss.segments([rec], rows, ids={"8"}) == []


def test_segments_count_only_in_the_regressions_they_are_weighted_for() -> None:
    corpus = generate(200, 5)
    seg = [
        {
            "text": "物业费从1.5元涨到2.5元，没有开业主大会",
            "nature": "consulting",
            "category": "management",
            "urgency": "low",
            "department": "finance",
        }
    ] * 3
    base = m.train(corpus, seed=5)
    same = m.train(corpus, seed=5, segments=seg, segment_weight_by_label={})
    with_seg = m.train(
        corpus, seed=5, segments=seg, segment_weight_by_label={"category": 50, "department": 50}
    )
    assert same.version == base.version
    assert with_seg.version != base.version
    assert with_seg.meta["n_segments"] == 3
    # nature (weight 0) is fitted as without the pieces; category is not
    text = ["物业费涨价没有开业主大会"]
    assert np.allclose(base.scores(text)["nature"], with_seg.scores(text)["nature"], atol=1e-3)
    assert not np.allclose(base.scores(text)["category"], with_seg.scores(text)["category"])
    assert with_seg.pairs == base.pairs
