"""Would jieba's word boundaries tell a danger word inside an innocent word? (session 14)

    COMPLAINTDESK_SHARED=/work/shared .venv/bin/python bench/rules_jieba_boundaries.py

For every match of the rule layer's three danger patterns whose first or last character
is Chinese, in every sentence (harmless compounds masked, as the rules do) of the 627 real
training messages, the 175 hand-written held-out texts, the 32 dev texts and 5,000
generated texts (seed + 2), jieba (``cut``, HMM off, the match with 4 characters either
side) is asked whether a word crosses either end of the match: a check that would discard
that match. Prints one line per kind of match it would discard: count, set, whether the
text's gold category is ``emergency``, the match, the jieba words crossing its start and
its end, and (not for the real messages) a few characters around it.
"""

from __future__ import annotations

import collections
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import jieba

from complaintdesk.classify import model as m
from complaintdesk.classify import rules
from complaintdesk.classify.generate import generate
from complaintdesk.classify.real import load_real, shared_dir

CJK = re.compile(r"[\u4e00-\u9fff]")
WINDOW = 4


def texts() -> Iterator[tuple[str, str, str]]:
    for r in load_real():
        yield "real", r["category"], r["text"]
    holdout = Path(m.__file__).parent / "data" / "eval_holdout.jsonl"
    dev = shared_dir() / "spec" / "classify_dev.jsonl"
    for name, path in (("holdout", holdout), ("dev", dev)):
        for line in path.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            yield name, d["category"], d["text"]
    for r in generate(5000, m.DEFAULT_SEED + 2):
        yield "generated", r["category"], r["text"]


def crossing(t: str, s: int, e: int) -> tuple[str | None, str | None]:
    """The jieba words that cross the start and the end of t[s:e], if any."""
    a = max(0, s - WINDOW)
    pos = a
    left = right = None
    for tok in jieba.cut(t[a : min(len(t), e + WINDOW)], HMM=False):
        ts, te = pos, pos + len(tok)
        pos = te
        if ts < s < te:
            left = tok
        if ts < e < te:
            right = tok
    return left, right


def main() -> None:
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    patterns = (rules._DANGER_SECURITY, rules._DANGER_ENGINEERING, rules._DANGER_GENERIC)
    stats: collections.Counter[tuple[str, bool, str, str, str, str]] = collections.Counter()
    for name, category, text in texts():
        for _, sentence in rules._sentences(text):
            sentence = rules._SAFE.sub(" ", sentence)
            for pattern in patterns:
                for match in pattern.finditer(sentence):
                    word = match.group()
                    if not (CJK.match(word[0]) or CJK.match(word[-1])):
                        continue
                    left, right = crossing(sentence, match.start(), match.end())
                    if left or right:
                        around = ""
                        if name != "real":
                            around = sentence[max(0, match.start() - 3) : match.end() + 3]
                        kind = (name, category == "emergency", word, left or "-", right or "-")
                        stats[(*kind, around)] += 1
    for key, count in sorted(stats.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        print(count, *key)


if __name__ == "__main__":
    main()
