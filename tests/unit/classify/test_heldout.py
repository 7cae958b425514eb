"""The 100 held-back property messages (session 14): how they are chosen, that training
never reads them, and their blind labels."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from complaintdesk.classify import real
from complaintdesk.classify.base import Classifier, Prediction
from complaintdesk.classify.cli import model_app
from complaintdesk.classify.evaluate import cohen_kappa, score
from complaintdesk.domain.taxonomy import Category, Department, Nature, Urgency

SHARED = real.shared_dir()
HEADER = ["留言编号", "留言用户", "留言主题", "留言时间", "留言详情"]


def _shared() -> Path:
    if not (SHARED / real.MESSAGES / real.TRAIN_IDS).exists():
        pytest.skip(f"{SHARED / real.MESSAGES} absent (needs ../shared beside the checkout)")
    return SHARED


def make_shared(
    root: Path, messages: dict[str, list[tuple[str, str, str]]], train: list[str]
) -> Path:
    """A tiny ``shared`` folder: ``messages`` maps a source file to (id, title, body) rows."""
    folder = root / real.MESSAGES
    folder.mkdir(parents=True)
    for name in real.SOURCES:
        with (folder / name).open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(HEADER)
            for key, title, body in messages.get(name, []):
                w.writerow([key, "A0001", title, "2019/1/1 10:00:00", body])
    (folder / real.TRAIN_IDS).write_text("\n".join(train) + "\n", encoding="utf-8")
    return root


MESSAGES = {
    real.SOURCES[0]: [
        ("11", "小区物业乱收费", "物业费从一块五涨到两块五"),
        ("12", "电梯坏了", "\n\t\t物业一个星期都没来修\n\t\t"),
        ("13", "学校门口堵车", "上学时间门口全是车"),  # not a property message
        ("14", "楼上装修噪音", "晚上十一点还在打墙，物业不管"),
    ],
    real.SOURCES[1]: [
        ("12", "电梯坏了", "物业一个星期都没来修"),  # the same id in a second source
        ("15", "物业强制买车位", "不买车位不让进车库"),
    ],
    real.SOURCES[2]: [("16", "关于物业", "物业公司更换的问题")],
}
TRAIN = ["11", "14", "16"]


def test_the_held_back_ids_are_the_property_messages_not_in_the_training_list(
    tmp_path: Path,
) -> None:
    shared = make_shared(tmp_path, MESSAGES, TRAIN)
    assert real.property_ids(shared) == ["11", "12", "14", "15", "16"]
    assert real.heldout_ids(shared) == ["12", "15"]
    assert not set(real.heldout_ids(shared)) & real.train_ids(shared)


def test_training_refuses_a_held_back_id(tmp_path: Path) -> None:
    shared = make_shared(tmp_path, MESSAGES, TRAIN)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "id,nature,category,urgency,department,sure,fit,batch,checked\n"
        "11,dissatisfaction,management,normal,finance,yes,good,1,\n"
        "15,dissatisfaction,management,high,finance,yes,good,1,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"not in property_train_ids\.txt: 15"):
        real.load_real(shared, labels)


def test_scoring_reads_held_back_ids_only(tmp_path: Path) -> None:
    shared = make_shared(tmp_path, MESSAGES, TRAIN)
    labels = tmp_path / "heldout.csv"
    labels.write_text(
        "id,nature,category,urgency,department,sure,fit,reason\n"
        "12,dissatisfaction,equipment,high,engineering,yes,good,lift out (r9)\n",
        encoding="utf-8",
    )
    [record] = real.load_heldout(shared, labels)
    assert record["id"] == "12" and record["category"] == "equipment"
    assert record["text"] == "电梯坏了\n物业一个星期都没来修"
    labels.write_text(
        "id,nature,category,urgency,department,sure,fit,reason\n"
        "11,dissatisfaction,management,normal,finance,yes,good,fees (r6)\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="not among the held-back ids: 11"):
        real.load_heldout(shared, labels)


def test_the_real_folder_holds_727_property_messages_and_100_held_back() -> None:
    shared = _shared()
    everything = real.property_ids(shared)
    held = real.heldout_ids(shared)
    train = real.train_ids(shared)
    assert len(everything) == len(set(everything)) == 727
    assert len(train) == 627 and train <= set(everything)
    assert len(held) == len(set(held)) == 100
    assert not set(held) & train
    assert not set(held) & {r["id"] for r in real.read_labels()}


def test_the_blind_labels_hold_codes_and_a_few_words_only() -> None:
    """Ids and codes, ``sure``, ``fit`` and a reason of a few English words naming the
    guide's rule: never a text nor a phrase of one (no Chinese character at all)."""
    with real.HELDOUT_LABELS.open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == [
        "id",
        "nature",
        "category",
        "urgency",
        "department",
        "sure",
        "fit",
        "reason",
    ]
    rows = real.read_labels(real.HELDOUT_LABELS)  # checks every code
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 100 and all(i.isdigit() for i in ids)
    assert not set(ids) & {r["id"] for r in real.read_labels()}  # none is a training row
    assert {r["sure"] for r in rows} <= {"yes", "no"}
    assert {r["fit"] for r in rows} <= {"good", "poor"}
    for r in rows:
        assert 0 < len(r["reason"]) <= 120, r["id"]
        assert not any("\u3400" <= ch <= "\u9fff" for ch in r["reason"]), r["id"]


def test_the_blind_labels_are_the_held_back_ids() -> None:
    ids = {r["id"] for r in real.read_labels(real.HELDOUT_LABELS)}
    assert ids == set(real.heldout_ids(_shared()))


def test_cohen_kappa() -> None:
    assert cohen_kappa([[2, 0], [0, 2]]) == 1.0
    assert cohen_kappa([[1, 1], [1, 1]]) == 0.0
    # observed 0.7, expected 0.5 * 0.6 + 0.5 * 0.4 = 0.5
    assert cohen_kappa([[20, 5], [10, 15]]) == pytest.approx(0.4)
    assert cohen_kappa([[3, 0], [0, 0]]) == 1.0  # one class throughout: nothing to disagree on
    assert cohen_kappa([[0, 0], [0, 0]]) == 0.0


def test_eval_heldout_scores_the_blind_labels_on_the_product_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, classifier: Classifier
) -> None:
    shared = make_shared(tmp_path / "shared", MESSAGES, TRAIN)
    monkeypatch.setenv(real.SHARED_ENV, str(shared))
    labels = tmp_path / "heldout.csv"
    labels.write_text(
        "id,nature,category,urgency,department,sure,fit,reason\n"
        "15,dissatisfaction,management,high,finance,no,good,barrier to force a purchase (r13)\n"
        "12,dissatisfaction,equipment,high,engineering,yes,good,lift out (r9)\n",
        encoding="utf-8",
    )
    out = tmp_path / "predictions.jsonl"
    result = CliRunner().invoke(
        model_app, ["eval", "--heldout", "--labels", str(labels), "--predictions", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["15", "12"]
    assert rows[1]["gold"]["category"] == "equipment" and "text" not in rows[1]
    gold = real.load_heldout(shared, labels)
    # the same classifier the product calls (model + rules), the same report
    expected = score(gold, classifier.predict([g["text"] for g in gold]))
    assert f"model: {classifier.version}" in result.output
    assert expected.format() in result.output
    assert "examples: 2" in result.output and "kappa" in result.output
    assert "emergency precision" in result.output and "needs review" in result.output
    assert "rows sure=yes: 1:" in result.output and "rows sure=no: 1:" in result.output


def test_eval_heldout_says_clearly_when_the_texts_are_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(real.SHARED_ENV, str(tmp_path))
    result = CliRunner().invoke(model_app, ["eval", "--heldout"])
    assert result.exit_code == 2
    assert "real messages not found" in result.output


def test_the_review_split_counts_the_right_labels_of_those_not_sent() -> None:
    gold = [
        {
            "nature": "dissatisfaction",
            "category": "equipment",
            "urgency": "high",
            "department": "engineering",
        },
        {
            "nature": "dissatisfaction",
            "category": "management",
            "urgency": "normal",
            "department": "finance",
        },
        {
            "nature": "help_seeking",
            "category": "neighborhood",
            "urgency": "normal",
            "department": "security",
        },
    ]
    sure = {"nature": 0.9, "category": 0.9, "urgency": 0.9, "department": 0.9}
    unsure = {**sure, "category": 0.3}
    preds = [
        Prediction(
            Nature.DISSATISFACTION, Category.EQUIPMENT, Urgency.HIGH, Department.ENGINEERING, sure
        ),
        Prediction(
            Nature.DISSATISFACTION,
            Category.MANAGEMENT,
            Urgency.NORMAL,
            Department.CUSTOMER_SERVICE,
            sure,
        ),
        Prediction(
            Nature.DISSATISFACTION,
            Category.EQUIPMENT,
            Urgency.NORMAL,
            Department.ENGINEERING,
            unsure,
        ),
    ]
    report = score(gold, preds)
    assert report.needs_review == 1
    assert report.not_reviewed_right == {
        "nature": 2,
        "category": 2,
        "urgency": 2,
        "department": 1,
        "all": 1,
    }
    assert "not sent to review  right: nature 2/2 (100.0%)" in report.format()
