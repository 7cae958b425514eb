"""The rule layer's verdicts, one line per text, to compare two versions of the rules.

    .venv/bin/python bench/rules_verdicts.py > /tmp/after.txt
    PYTHONPATH=/tmp/before/src .venv/bin/python bench/rules_verdicts.py > /tmp/before.txt
    cmp /tmp/before.txt /tmp/after.txt      # or diff, to see which lines changed

For every text of the sets at hand (the 627 real labelled messages, by id, when
``../shared`` is there; the 175 hand-written held-out texts; the 32 texts of
``../shared/spec/classify_dev.jsonl``; 5,000 generated held-out texts, seed + 2) it
prints the set, the text's id or number, and what :func:`rules.assess_text` says: danger
now, its department, over, and "high" now. No text is printed. The ``src`` imported is
the one first on ``PYTHONPATH`` (the checkout's by default), so a copy of another commit's
``src`` gives that commit's verdicts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

from complaintdesk.classify import model as m
from complaintdesk.classify import rules
from complaintdesk.classify.features import normalise
from complaintdesk.classify.real import SharedDataMissing, load_real, shared_dir


def texts() -> Iterator[tuple[str, str, str]]:
    try:
        for r in load_real():
            yield "real", r["id"], r["text"]
    except SharedDataMissing as exc:
        print(f"real messages skipped: {exc}", file=sys.stderr)
    holdout = Path(m.__file__).parent / "data" / "eval_holdout.jsonl"
    for i, line in enumerate(holdout.read_text(encoding="utf-8").splitlines()):
        yield "holdout", str(i), json.loads(line)["text"]
    dev = shared_dir() / "spec" / "classify_dev.jsonl"
    if dev.exists():
        for i, line in enumerate(dev.read_text(encoding="utf-8").splitlines()):
            yield "dev", str(i), json.loads(line)["text"]
    from complaintdesk.classify.generate import generate

    for i, r in enumerate(generate(5000, m.DEFAULT_SEED + 2)):
        yield "generated", str(i), r["text"]


def main() -> None:
    print(f"rules from {Path(rules.__file__).parent}", file=sys.stderr)
    for name, key, text in texts():
        danger, high = rules.assess_text(text, normalise(text))
        department = danger.department.value if danger.department else "-"
        print(f"{name} {key} {int(danger.present)} {department} {int(danger.over)} {int(high)}")


if __name__ == "__main__":
    main()
