"""Real labelled messages: our labels in the repository, their texts read from ``../shared``.

627 real Chinese messages about 物业 (``property_train_ids.txt`` of
``../shared/data/real/cn-teddycup2020-gov-messages``) were labelled by hand with the
taxonomy's codes (see docs/labelling.md). The labels, ids and codes only, live in
``data/real_labels.csv``. The texts have no licence to be shipped: they are read from
``../shared`` at training and evaluation time and never copied into the repository or
the model file. The other 100 property messages of that folder (:func:`heldout_ids`)
are kept for a blind evaluation: their labels are in ``data/real_heldout_labels.csv``,
read only by :func:`load_heldout` (scoring), never by :func:`load_real` (training).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from complaintdesk.domain.taxonomy import LABELS

REAL_LABELS = Path(__file__).parent / "data" / "real_labels.csv"
HELDOUT_LABELS = Path(__file__).parent / "data" / "real_heldout_labels.csv"
SHARED_ENV = "COMPLAINTDESK_SHARED"
MESSAGES = Path("data") / "real" / "cn-teddycup2020-gov-messages"
SOURCES = (
    "att3_messages_with_votes_4326rows.csv",
    "att4_messages_with_replies_2816rows.csv",
    "derived_labeled_messages_union_1377rows.csv",
)
TRAIN_IDS = "property_train_ids.txt"
PROPERTY_WORD = "物业"
"""A message is a property message when its title or its text holds this word: 727
distinct ids over :data:`SOURCES`, of which the 627 of :data:`TRAIN_IDS` may be trained on."""

Record = dict[str, str]


class SharedDataMissing(RuntimeError):
    """``../shared`` (or the folder of real messages in it) is not there."""


def shared_dir() -> Path:
    """``$COMPLAINTDESK_SHARED``, else ``shared`` beside the checkout (``../shared``)."""
    env = os.environ.get(SHARED_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4] / "shared"


def message_text(title: str, body: str) -> str:
    """A message as the classifier sees it: the title on the first line, then the body
    with the scraping padding (runs of tabs and blank lines) taken out."""
    lines = [" ".join(line.split()) for line in body.splitlines()]
    return " ".join(title.split()) + "\n" + "\n".join(line for line in lines if line)


def read_labels(path: Path = REAL_LABELS) -> list[dict[str, str]]:
    """The hand labels: id, the four codes, ``sure`` and ``fit``, in file order."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for name, enum in LABELS.items():
            if row[name] not in {e.value for e in enum}:
                raise ValueError(f"{path}: id {row['id']}: {name} {row[name]!r} is not a code")
    return rows


def _root(shared: Path | None) -> Path:
    root = (shared or shared_dir()) / MESSAGES
    if not (root / TRAIN_IDS).exists():
        raise SharedDataMissing(
            f"real messages not found: {root / TRAIN_IDS} is absent. They are read from "
            f"../shared beside the checkout, or from ${SHARED_ENV}."
        )
    return root


def train_ids(shared: Path | None = None) -> set[str]:
    """The ids of :data:`TRAIN_IDS`: the property messages that may be trained on."""
    return set((_root(shared) / TRAIN_IDS).read_text(encoding="utf-8").split())


def property_ids(shared: Path | None = None) -> list[str]:
    """The distinct ids of the property messages of :data:`SOURCES` (title or text holds
    :data:`PROPERTY_WORD`), in the order first met: 727 with the folder of ``../shared``.

    Only ids and the presence of one word are looked at; no text is kept."""
    root = _root(shared)
    seen: dict[str, None] = {}
    for name in SOURCES:
        with (root / name).open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                key = row["留言编号"].strip()
                if PROPERTY_WORD in row["留言主题"] or PROPERTY_WORD in row["留言详情"]:
                    seen.setdefault(key, None)
    return list(seen)


def heldout_ids(shared: Path | None = None) -> list[str]:
    """The property messages kept back from training: :func:`property_ids` minus
    :data:`TRAIN_IDS` (100 with ``../shared``), in the order first met."""
    allowed = train_ids(shared)
    return [i for i in property_ids(shared) if i not in allowed]


def _texts(root: Path, wanted: set[str]) -> dict[str, str]:
    """The texts of the wanted ids, and of no other (the first source that has an id wins)."""
    texts: dict[str, str] = {}
    for name in SOURCES:
        with (root / name).open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                key = row["留言编号"].strip()
                if key in wanted and key not in texts:
                    texts[key] = message_text(row["留言主题"], row["留言详情"])
    missing = sorted(wanted - set(texts))
    if missing:
        raise SharedDataMissing(f"no text for ids {', '.join(missing[:5])} in {root}")
    return texts


def load_real(shared: Path | None = None, labels: Path = REAL_LABELS) -> list[Record]:
    """The labelled real messages with their texts, in the order of the labels file.

    This is what training reads. Raises :class:`SharedDataMissing`, saying where it
    looked, when the texts are not there; and ``ValueError`` when a labelled id is not
    among the training ids (a held-back id among them is refused, never trained on).
    """
    # Only the training ids are read: the evaluation messages stay unseen.
    rows, texts = _labelled(shared, labels, train_ids(shared), f"not in {TRAIN_IDS}")
    return [{"text": texts[r["id"]], **{n: r[n] for n in LABELS}, "id": r["id"]} for r in rows]


def _labelled(
    shared: Path | None, labels: Path, allowed: set[str], outside: str
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The rows of ``labels`` and the texts of their ids, refusing (``ValueError``, the
    ids ``outside`` says where) any labelled id not in ``allowed``."""
    root = _root(shared)
    rows = read_labels(labels)
    wanted = {r["id"] for r in rows}
    stray = sorted(wanted - allowed)
    if stray:
        raise ValueError(f"labelled ids {outside}: {', '.join(stray[:5])}")
    return rows, _texts(root, wanted)


def load_heldout(shared: Path | None = None, labels: Path = HELDOUT_LABELS) -> list[Record]:
    """The held-back property messages with their blind labels (session 14), for scoring
    only, in the order of the labels file; each record also carries the reader's ``sure``.

    Raises ``ValueError`` when a labelled id is a training id or not a held-back one."""
    allowed = set(heldout_ids(shared))
    rows, texts = _labelled(shared, labels, allowed, "not among the held-back ids")
    return [
        {"text": texts[r["id"]], **{n: r[n] for n in LABELS}, "id": r["id"], "sure": r["sure"]}
        for r in rows
    ]
