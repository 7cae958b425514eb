"""The 100 held-back property messages (session 14): how they are chosen, that training
never reads them, and their blind labels."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from complaintdesk.classify import real

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
