"""Agreement between two readings of the real labels: percent and Cohen's kappa per label.

    .venv/bin/python bench/label_agreement.py                     # labels vs second reading
    git show f8d1f7f:src/complaintdesk/classify/data/real_labels.csv > /tmp/labels-f8d1f7f.csv
    .venv/bin/python bench/label_agreement.py /tmp/labels-f8d1f7f.csv   # before adjudication

Rows are matched by id. Printed for all rows both readings have, then split by the
first file's ``sure`` column (yes / no). Ids and codes only: no text is read.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

from complaintdesk.classify.real import REAL_LABELS

LABELS = ("nature", "category", "urgency", "department")
SECOND = REAL_LABELS.with_name("real_labels_second.csv")


def read(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


def kappa(a: list[str], b: list[str]) -> float:
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[c] * cb[c] for c in set(ca) | set(cb)) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("first", nargs="?", type=Path, default=REAL_LABELS)
    parser.add_argument("second", nargs="?", type=Path, default=SECOND)
    args = parser.parse_args()
    one, two = read(args.first), read(args.second)
    ids = [i for i in one if i in two]
    groups = {
        "all rows": ids,
        "sure=no (first file)": [i for i in ids if one[i].get("sure") == "no"],
        "sure=yes (first file)": [i for i in ids if one[i].get("sure") == "yes"],
    }
    print(f"{args.first} against {args.second}: {len(ids)} ids in both")
    for name, rows in groups.items():
        if not rows:
            continue
        cells = []
        for label in LABELS:
            a = [one[i][label] for i in rows]
            b = [two[i][label] for i in rows]
            agree = sum(x == y for x, y in zip(a, b, strict=True)) / len(rows)
            cells.append(f"{label} {agree:.1%} ({kappa(a, b):.2f})")
        both = sum(
            one[i]["category"] == two[i]["category"]
            and one[i]["department"] == two[i]["department"]
            for i in rows
        )
        line = f"{name:<22} {len(rows):>4}: " + ", ".join(cells)
        print(line + f"; category and department {both}")


if __name__ == "__main__":
    main()
