"""Per-issue labels of the real multi-issue letters (session 13): ids, sentence indices, codes.

A third of the real messages are petitions raising several issues (a fee dispute, a
broken lift and a neighbour's extension in one letter). Their gold label is the issue of
the title or the one the letter develops most (rule 17 of docs/labelling.md). Each issue
of such a letter was labelled by hand in ``data/real_issue_labels.csv``: the sentences
that raise it, its category and department, and whether it is the issue that decides the
message's gold label. No text is stored, only sentence indices.

**Sentences.** A message is its text as :func:`complaintdesk.classify.real.load_real`
gives it (the title, a line end, the body). It is cut with the rule layer's sentence
ends (:data:`complaintdesk.classify.rules.SENTENCE_END_PLAIN`: runs of 。！？!?；; and line
ends, a full stop before a space, ellipses) over its first
:data:`~complaintdesk.classify.rules.MAX_RAW` characters; a piece that normalises to
nothing is skipped, and the others are numbered from 0. Sentence 0 is the title. These
are the sentences and the numbering of ``rules._sentences`` (tested).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from complaintdesk.classify.features import normalise
from complaintdesk.classify.rules import _SENTENCE_END, MAX_RAW
from complaintdesk.domain.taxonomy import Category, Department

ISSUE_LABELS = Path(__file__).parent / "data" / "real_issue_labels.csv"
FIELDS = ("id", "issue", "sentences", "category", "department", "decides")

Record = dict[str, str]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text`` in raw characters, numbered as
    ``rules._sentences`` numbers them."""
    head = text[:MAX_RAW]
    out: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(head):
        if normalise(head[start : m.start()]):
            out.append((start, m.start()))
        start = m.end()
    if normalise(head[start:]):
        out.append((start, len(head)))
    return out


def parse_indices(spec: str) -> list[int]:
    """``"0;3-5;9"`` -> [0, 3, 4, 5, 9]."""
    out: list[int] = []
    for part in spec.split(";"):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return sorted(set(out))


def read_issue_labels(path: Path = ISSUE_LABELS) -> list[dict[str, str]]:
    """The per-issue labels, in file order, checked: codes, indices, one deciding issue
    per letter at most."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cats = {c.value for c in Category}
    deps = {d.value for d in Department}
    deciding: dict[str, int] = {}
    for row in rows:
        where = f"{path}: id {row['id']} issue {row['issue']}"
        if row["category"] not in cats or row["department"] not in deps:
            raise ValueError(f"{where}: not a code")
        if row["decides"] not in ("yes", "no"):
            raise ValueError(f"{where}: decides is yes or no")
        if not parse_indices(row["sentences"]):
            raise ValueError(f"{where}: no sentence")
        deciding[row["id"]] = deciding.get(row["id"], 0) + (row["decides"] == "yes")
    many = sorted(i for i, n in deciding.items() if n > 1)
    if many:
        raise ValueError(f"{path}: more than one deciding issue for {', '.join(many[:5])}")
    return rows


def segment_text(text: str, indices: Iterable[int]) -> str:
    """The piece of ``text`` made of the sentences ``indices``: the title on its own line
    when sentence 0 is among them, then the body's sentences joined by 。."""
    spans = sentence_spans(text)
    wanted = [i for i in sorted(set(indices)) if i < len(spans)]
    title = [text[spans[0][0] : spans[0][1]].strip()] if 0 in wanted else []
    body = "。".join(text[spans[i][0] : spans[i][1]].strip() for i in wanted if i != 0)
    return "\n".join(title + ([body] if body else []))


def segments(
    real: Sequence[Record], rows: Sequence[dict[str, str]], ids: set[str] | None = None
) -> list[Record]:
    """One training example per labelled issue of the letters of ``real`` (only those
    whose id is in ``ids``, when given): the issue's piece of text, its category and
    department; nature and urgency are the message's (a regression that does not count
    the pieces ignores them)."""
    by_id = {r["id"]: r for r in real}
    out: list[Record] = []
    for row in rows:
        rec = by_id.get(row["id"])
        if rec is None or (ids is not None and row["id"] not in ids):
            continue
        piece = segment_text(rec["text"], parse_indices(row["sentences"]))
        if not normalise(piece):
            continue
        out.append(
            {
                "text": piece,
                "nature": rec["nature"],
                "category": row["category"],
                "urgency": rec["urgency"],
                "department": row["department"],
                "id": row["id"],
            }
        )
    return out
