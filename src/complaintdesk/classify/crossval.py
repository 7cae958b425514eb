"""k-fold cross-validation on the real labelled messages, and temperatures fitted on it.

Each fold's model is trained on the generated corpus plus the real messages of the
other folds, and scores only the messages of its own fold: no text seen in training
is scored. Reposts (the same letter posted again, or lightly edited, under a new id)
are kept in one fold, so a letter is never scored by a model that read its twin.

The out-of-fold scores also calibrate the product's confidences: one temperature per
label is fitted on them by negative log-likelihood, so that "needs review" (a
confidence under :data:`~complaintdesk.classify.base.REVIEW_THRESHOLD`) means what it
says on real text, not only on generated text.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from complaintdesk.classify import model as m
from complaintdesk.classify.base import Prediction
from complaintdesk.classify.evaluate import Report, score
from complaintdesk.classify.features import normalise
from complaintdesk.classify.rules import RuledClassifier

DEFAULT_FOLDS = 5
DUPLICATE = 0.5
"""Jaccard overlap of character 5-grams above which two letters are one letter posted twice."""

Record = dict[str, str]
_SPACE = re.compile(r"\s+")


def _shingles(text: str) -> set[str]:
    t = _SPACE.sub("", normalise(text))[:1500]
    return {t[i : i + 5] for i in range(max(len(t) - 4, 1))}


def duplicate_groups(texts: Sequence[str]) -> list[int]:
    """A group number per text: texts that are (near) copies of each other share one."""
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sets = [_shingles(t) for t in texts]
    # Only pairs that share a shingle can be copies: look them up by shingle.
    by_shingle: dict[str, list[int]] = {}
    for i, s in enumerate(sets):
        for sh in s:
            by_shingle.setdefault(sh, []).append(i)
    for i, s in enumerate(sets):
        seen: set[int] = set()
        for sh in s:
            for j in by_shingle[sh]:
                if j <= i or j in seen:
                    continue
                seen.add(j)
                union = len(s | sets[j])
                if union and len(s & sets[j]) / union >= DUPLICATE:
                    parent[root(j)] = root(i)
    return [root(i) for i in range(len(texts))]


def assign_folds(records: Sequence[Record], k: int, seed: int) -> list[int]:
    """A fold per record: copies together, each category spread evenly over the folds,
    the same every time for the same records and seed."""
    groups = duplicate_groups([r["text"] for r in records])
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    by_category: dict[str, list[int]] = {}
    for g, idx in sorted(members.items()):
        by_category.setdefault(records[idx[0]]["category"], []).append(g)
    rng = random.Random(seed)
    fold = [0] * len(records)
    size = [0] * k
    for category in sorted(by_category, key=lambda c: (-len(by_category[c]), c)):
        gs = by_category[category]
        rng.shuffle(gs)
        count = [0] * k
        for g in gs:
            f = min(range(k), key=lambda j: (count[j], size[j], j))
            count[f] += len(members[g])
            size[f] += len(members[g])
            for i in members[g]:
                fold[i] = f
    return fold


@dataclass
class CrossValidation:
    """Out-of-fold results on the real messages."""

    folds: list[int]
    scores: dict[str, npt.NDArray[np.float64]]  # raw logits per label, rows in record order
    classes: dict[str, list[str]]
    predictions: list[Prediction]  # with the rule layer and the fitted temperatures
    temperature: dict[str, float]
    report: Report

    def review_summary(self, gold: Sequence[Record]) -> str:
        """How well "needs review" separates right from wrong labels on real text."""
        rows = []
        for flag, name in ((False, "not sent to review"), (True, "sent to review")):
            idx = [i for i, p in enumerate(self.predictions) if p.needs_review is flag]
            right = sum(
                all(self.predictions[i].labels()[n] == gold[i][n] for n in m.LABEL_NAMES)
                for i in idx
            )
            share = f"{right / len(idx):.1%}" if idx else "-"
            rows.append(f"{name:<20} {len(idx):>4} messages, all four labels right: {share}")
        per_label = []
        for n in m.LABEL_NAMES:
            conf = np.array([p.confidence[n] for p in self.predictions])
            ok = np.array(
                [p.labels()[n] == g[n] for p, g in zip(self.predictions, gold, strict=True)]
            )
            per_label.append(
                f"{n:<11} mean confidence {conf.mean():.3f}, accuracy {ok.mean():.3f}"
                f" (temperature {self.temperature[n]:.2f})"
            )
        return "\n".join(rows + per_label)


def cross_validate(
    corpus: Sequence[Record],
    real: Sequence[Record],
    *,
    k: int = DEFAULT_FOLDS,
    seed: int = m.DEFAULT_SEED,
    corrections: Sequence[Record] = (),
    real_weight: int = m.REAL_WEIGHT,
) -> CrossValidation:
    """Train ``k`` models, each without one fold of ``real``, and score that fold."""
    folds = assign_folds(real, k, seed)
    scores: dict[str, npt.NDArray[np.float64]] = {}
    classes: dict[str, list[str]] = {}
    models: list[m.TrainedModel] = []
    for f in range(k):
        train_real = [r for r, g in zip(real, folds, strict=True) if g != f]
        held = [i for i, g in enumerate(folds) if g == f]
        fitted = m.train(
            corpus,
            corrections,
            seed=seed,
            real=train_real,
            real_weight=real_weight,
            temperature={n: 1.0 for n in m.LABEL_NAMES},
        )
        if classes and fitted.classes != classes:
            raise ValueError("folds disagree on the classes: the generated corpus lacks one")
        classes = fitted.classes
        logits = fitted.scores([real[i]["text"] for i in held])
        for n in m.LABEL_NAMES:
            if n not in scores:
                scores[n] = np.zeros((len(real), len(classes[n])))
            scores[n][held] = logits[n]
        models.append(fitted)
    temperature = {}
    for n in m.LABEL_NAMES:
        y = np.array([classes[n].index(r[n]) for r in real], dtype=np.int64)
        temperature[n] = m.fit_temperature(scores[n], y, lowest=0.5)
    predictions: list[Prediction | None] = [None] * len(real)
    for f, fitted in enumerate(models):
        fitted.temperature = dict(temperature)
        held = [i for i, g in enumerate(folds) if g == f]
        clf = RuledClassifier(m.ModelClassifier(fitted))
        for i, p in zip(held, clf.predict([real[i]["text"] for i in held]), strict=True):
            predictions[i] = replace(p, model_version=f"fold-{f}")
    preds = [p for p in predictions if p is not None]
    return CrossValidation(
        folds=folds,
        scores=scores,
        classes=classes,
        predictions=preds,
        temperature=temperature,
        report=score(real, preds),
    )
