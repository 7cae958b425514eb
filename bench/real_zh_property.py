"""Information only: how the classifier labels real Chinese 问政 messages about 物业.

    .venv/bin/python bench/real_zh_property.py

Reads ../shared/data/real/cn-teddycup2020-gov-messages (never copied into the repo,
never used for training). These messages have no labels in our taxonomy, so this
prints the distribution of predicted labels and the review rate, not an accuracy.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

from complaintdesk.classify.base import default_classifier

SRC = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "real"
    / "cn-teddycup2020-gov-messages"
)


def main() -> None:
    if not SRC.exists():
        print(f"skipped: {SRC} absent")
        return
    texts: dict[str, str] = {}
    for name in (
        "att3_messages_with_votes_4326rows.csv",
        "att4_messages_with_replies_2816rows.csv",
        "derived_labeled_messages_union_1377rows.csv",
    ):
        with (SRC / name).open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                body = " ".join((row.get("留言主题", ""), row.get("留言详情", ""))).split()
                text = " ".join(body)
                if "物业" in text:
                    texts[row["留言编号"]] = text
    clf = default_classifier()
    preds = clf.predict(list(texts.values()))
    print(f"{len(preds)} distinct messages mentioning 物业; model {clf.version}")
    for label in ("nature", "category", "urgency", "department"):
        counts = Counter(p.labels()[label] for p in preds)
        print(f"{label:<11}", ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    print(f"needs review: {sum(p.needs_review for p in preds)}/{len(preds)}")
    if "-v" in sys.argv:
        for text, p in list(zip(texts.values(), preds, strict=True))[:15]:
            print(p.labels(), round(p.min_confidence, 2), text[:80])


if __name__ == "__main__":
    main()
