"""Real labelled messages: the labels in the repository, their texts from ../shared."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from complaintdesk.classify import crossval, real
from complaintdesk.classify import model as m
from complaintdesk.classify.base import Classifier
from complaintdesk.classify.cli import model_app
from complaintdesk.classify.rules import RuledClassifier
from complaintdesk.domain.taxonomy import Category, Urgency

SHARED = real.shared_dir()


def _shared() -> Path:
    if not (SHARED / real.MESSAGES / real.TRAIN_IDS).exists():
        pytest.skip(f"{SHARED / real.MESSAGES} absent (needs ../shared beside the checkout)")
    return SHARED


def test_the_labels_file_holds_codes_only() -> None:
    with real.REAL_LABELS.open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    # ids and codes: never a text, a title or a summary of one
    assert header == [
        "id",
        "nature",
        "category",
        "urgency",
        "department",
        "sure",
        "fit",
        "batch",
        "checked",
    ]
    rows = real.read_labels()
    assert len(rows) >= 500 and len({r["id"] for r in rows}) == len(rows)
    assert all(r["id"].isdigit() for r in rows)
    assert {r["sure"] for r in rows} <= {"yes", "no"} and {r["fit"] for r in rows} <= {
        "good",
        "poor",
    }


def test_the_second_reading_holds_codes_and_a_few_words_only() -> None:
    """The second, blind reading (session 8): the same ids, valid codes, and a reason of a
    few words in English naming the guide's rule; never a text, nor a phrase copied from
    one (no Chinese characters at all)."""
    path = real.REAL_LABELS.parent / "real_labels_second.csv"
    with path.open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == ["id", "nature", "category", "urgency", "department", "sure", "reason"]
    rows = real.read_labels(path)  # checks every code
    ids = [r["id"] for r in rows]  # in the order read: the sure=no rows first
    assert len(ids) == len(set(ids)) and set(ids) == {r["id"] for r in real.read_labels()}
    assert {r["sure"] for r in rows} <= {"yes", "no"}
    for r in rows:
        assert 0 < len(r["reason"]) <= 120, r["id"]
        assert not any("\u3400" <= ch <= "\u9fff" for ch in r["reason"]), r["id"]


def test_a_bad_code_in_the_labels_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "labels.csv"
    bad.write_text(
        "id,nature,category,urgency,department,sure,fit,batch,checked\n"
        "1,dissatisfaction,plumbing,normal,engineering,yes,good,1,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="category 'plumbing'"):
        real.read_labels(bad)


def test_training_says_clearly_when_the_real_texts_are_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(real.SHARED_ENV, str(tmp_path))
    result = CliRunner().invoke(model_app, ["train", "--no-db", "--out", str(tmp_path / "x.npz")])
    assert result.exit_code == 2
    assert "real messages not found" in result.output and "--no-real" in result.output
    assert not (tmp_path / "x.npz").exists()


def test_the_real_texts_are_read_for_the_training_ids_only() -> None:
    root = _shared() / real.MESSAGES
    allowed = set((root / real.TRAIN_IDS).read_text(encoding="utf-8").split())
    records = real.load_real()
    assert [r["id"] for r in records] == [r["id"] for r in real.read_labels()]
    assert {r["id"] for r in records} <= allowed
    assert all(r["text"].strip() and "\t" not in r["text"] for r in records)


def test_reposts_share_a_fold_and_categories_are_spread() -> None:
    letter = "我们小区的物业费从一块二涨到两块五，没有开业主大会，也没有公示账目，请领导督促"
    records = [
        {"text": letter, "category": "management"},
        {"text": letter + "，谢谢！", "category": "management"},  # a repost, lightly edited
        *(
            {"text": t, "category": "equipment"}
            for t in (
                "电梯坏了三天没人修",
                "单元门禁刷卡没反应",
                "地下车库的灯全灭了",
                "水压太低热水器打不着",
                "The lift has been stuck on floor 9 since Monday",
                "Our intercom stopped working last week",
            )
        ),
        *(
            {"text": t, "category": "neighborhood"}
            for t in (
                "楼上半夜装修噪音很大",
                "隔壁在楼顶搭了个铁皮房",
                "邻居的狗天天在电梯里拉屎",
                "有人把电动车停在楼道里",
                "The neighbours play loud music until 3am",
                "Someone dumped a sofa in the fire lane",
            )
        ),
    ]
    groups = crossval.duplicate_groups([r["text"] for r in records])
    assert groups[0] == groups[1] and len(set(groups)) == len(records) - 1
    folds = crossval.assign_folds(records, 3, seed=1)
    assert folds == crossval.assign_folds(records, 3, seed=1)
    assert folds[0] == folds[1]
    for category in ("equipment", "neighborhood"):
        spread = [f for f, r in zip(folds, records, strict=True) if r["category"] == category]
        assert sorted(spread.count(k) for k in range(3)) == [2, 2, 2]


def test_calm_texts_are_never_emergencies_on_the_model_alone(classifier: Classifier) -> None:
    assert isinstance(classifier, RuledClassifier)
    inner = classifier.inner
    assert isinstance(inner, m.ModelClassifier)
    texts = ["楼道里全是浓烟", "someone is trapped in the lift"]
    free = inner.predict_normalised(texts)
    calm = inner.predict_normalised(texts, calm=[True, True])
    assert all(p.category is Category.EMERGENCY for p in free)
    for p in calm:
        assert p.category is not Category.EMERGENCY and p.urgency is not Urgency.CRITICAL
        assert all(0.0 <= v <= 1.0 for v in p.confidence.values())


def test_eval_scores_a_generated_held_out_set() -> None:
    result = CliRunner().invoke(model_app, ["eval", "--generated", "60"])
    assert result.exit_code == 0, result.output
    assert "examples: 60" in result.output and "emergency recall" in result.output
    assert CliRunner().invoke(model_app, ["eval"]).exit_code != 0  # neither FILE nor --generated
