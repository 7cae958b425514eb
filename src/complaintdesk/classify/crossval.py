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

import multiprocessing
import random
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

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
    final: m.TrainedModel | None = None
    """The model trained on every real message (temperatures 1), when asked for."""
    decode: dict[str, float] | None = None
    """How letters are read, chosen on all the folds (for the packaged model)."""
    chosen: list[dict[str, float]] | None = None
    """How each fold was read in the report: chosen on the other folds."""
    offset: dict[str, list[float]] | None = None
    """Class offsets per label fitted on all the folds (for the packaged model)."""

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
    jobs: int = 1,
    final: bool = False,
) -> CrossValidation:
    """Train ``k`` models, each without one fold of ``real``, and score that fold; with
    ``final``, also the model on all of ``real`` (in :attr:`CrossValidation.final`).
    The fits run in ``jobs`` processes side by side; the results do not depend on it."""
    folds = assign_folds(real, k, seed)
    tasks = fold_tasks(corpus, real, folds, k, seed, corrections, real_weight)
    if final:
        tasks.append({**tasks[0], "real": list(real)})
    fits = fit_many(tasks, jobs)
    return assess(real, folds, fits[:k], final=fits[k] if final else None)


def fold_tasks(
    corpus: Sequence[Record],
    real: Sequence[Record],
    folds: Sequence[int],
    k: int,
    seed: int = m.DEFAULT_SEED,
    corrections: Sequence[Record] = (),
    real_weight: int = m.REAL_WEIGHT,
) -> list[dict[str, Any]]:
    """The arguments of :func:`model.train` for each fold's model: the generated corpus
    plus the real messages of the other folds, temperatures 1."""
    ones = {n: 1.0 for n in m.LABEL_NAMES}
    return [
        {
            "corpus": corpus,
            "corrections": corrections,
            "seed": seed,
            "real": [r for r, g in zip(real, folds, strict=True) if g != f],
            "real_weight": real_weight,
            "temperature": ones,
        }
        for f in range(k)
    ]


def assess(
    real: Sequence[Record],
    folds: Sequence[int],
    fold_models: Sequence[m.TrainedModel],
    final: m.TrainedModel | None = None,
) -> CrossValidation:
    """The cross-validation's figures from its fold models (``fold_models[f]`` trained
    without fold ``f``, see :func:`fold_tasks`): each fold scored by its own model, read
    with temperatures and offsets fitted on the other folds."""
    k = len(fold_models)
    fits = list(fold_models)
    classes: dict[str, list[str]] = {}
    models: list[m.TrainedModel] = []
    texts = [r["text"] for r in real]
    # Out-of-fold raw scores of each message, of its title and of its last line.
    n_rows = len(real)
    full: dict[str, npt.NDArray[np.float64]] = {}
    title: dict[str, npt.NDArray[np.float64]] = {}
    last: dict[str, npt.NDArray[np.float64]] = {}
    has = np.zeros(n_rows, dtype=bool)
    for f in range(k):
        held = [i for i, g in enumerate(folds) if g == f]
        fitted = fits[f]
        if classes and fitted.classes != classes:
            raise ValueError("folds disagree on the classes: the generated corpus lacks one")
        classes = fitted.classes
        logits = fitted.scores([texts[i] for i in held])
        rows, t_scores, l_scores = fitted.view_scores([texts[i] for i in held])
        at = np.array(held, dtype=np.int64)[rows]
        has[at] = True
        for n in m.LABEL_NAMES:
            if n not in full:
                for d in (full, title, last):
                    d[n] = np.zeros((n_rows, len(classes[n])))
            full[n][held] = logits[n]
            sl = fitted._slices[n]
            title[n][at] = t_scores[:, sl]
            last[n][at] = l_scores[:, sl]
        models.append(fitted)
    gold = {
        n: np.array([classes[n].index(r[n]) for r in real], dtype=np.int64) for n in m.LABEL_NAMES
    }
    fold_of = np.array(folds, dtype=np.int64)
    masks = [f._pair_mask for f in models]
    letter = np.array([len(normalise(t)) > m.LETTER_CHARS for t in texts], dtype=bool)
    reading = _Reading(full, title, last, has, gold, fold_of, masks, letter)
    # Each fold is read the way chosen on the other folds (nested: the report is honest);
    # the packaged model is read the way chosen on all of them.
    predictions: list[Prediction | None] = [None] * n_rows
    for f, fitted in enumerate(models):
        others = np.flatnonzero(fold_of != f)
        fitted.decode, fitted.temperature = reading.choose(others, READING_GRID)
        fitted.set_offset(reading.offsets(fitted.decode, fitted.temperature, others))
        held = [i for i, g in enumerate(folds) if g == f]
        clf = RuledClassifier(m.ModelClassifier(fitted))
        for i, p in zip(held, clf.predict([texts[i] for i in held]), strict=True):
            predictions[i] = replace(p, model_version=f"fold-{f}")
    decode, temperature = reading.choose(np.arange(n_rows), READING_GRID)
    offset = reading.offsets(decode, temperature, np.arange(n_rows))
    scores = reading.combined(decode)
    preds = [p for p in predictions if p is not None]
    return CrossValidation(
        folds=list(folds),
        scores=scores,
        classes=classes,
        predictions=preds,
        temperature=temperature,
        report=score(real, preds),
        final=final,
        decode=decode,
        chosen=[dict(fitted.decode or m.NO_VIEWS) for fitted in models],
        offset=offset,
    )


TITLE_WEIGHTS = (0.0, 0.5, 1.0)
LAST_WEIGHTS = (0.0, 0.5, 1.0)
CATEGORY_POWERS = (1.0, 2.0, 3.0)
READING_GRID = ((0.0,), (0.0,), (1.0,))
"""The readings ``model train`` chooses among: the whole text only (t = l = 0, k = 1).
The full grid (:data:`TITLE_WEIGHTS` x :data:`LAST_WEIGHTS` x :data:`CATEGORY_POWERS`)
was chosen in one fold of five in sessions 3 and 4, never for the packaged model, and
choosing it per fold cost the nested figures 0.5 points of category and 1.4 of department
(session 5, docs/classifier.md): a choice that only adds variance."""
FIXED_DECODE = {"money_title": 2.0}
"""Part of every reading: a ``management`` letter whose title names money is ``finance``
(rule 24 of docs/labelling.md, see :meth:`model.TrainedModel.finance_by_title`); 2: in
rule 24's words (compensation, wages, shared income, a charge collected...), since
session 9; 1 (rule 6's words alone) in the model files before it."""


@dataclass
class _Reading:
    """Out-of-fold scores from which the way of reading letters is chosen."""

    full: dict[str, npt.NDArray[np.float64]]
    title: dict[str, npt.NDArray[np.float64]]
    last: dict[str, npt.NDArray[np.float64]]
    has: npt.NDArray[np.bool_]
    gold: dict[str, npt.NDArray[np.int64]]
    fold_of: npt.NDArray[np.int64]
    masks: list[npt.NDArray[np.float32] | None]
    letter: npt.NDArray[np.bool_] | None = None
    """Which rows are letters (the class offsets are fitted on those only); None: all."""

    def combined(self, decode: dict[str, float]) -> dict[str, npt.NDArray[np.float64]]:
        w = self.has[:, None].astype(np.float64)
        return {
            n: self.full[n] + w * (decode["title"] * self.title[n] + decode["last"] * self.last[n])
            for n in m.LABEL_NAMES
        }

    def _right(
        self, decode: dict[str, float], rows: npt.NDArray[np.int64]
    ) -> tuple[int, dict[str, float]]:
        """Labels right on ``rows`` (all four labels counted) with temperatures fitted there."""
        z = self.combined(decode)
        temps = {
            n: m.fit_temperature(z[n][rows], self.gold[n][rows], lowest=0.5) for n in m.LABEL_NAMES
        }
        probs = {}
        for n in m.LABEL_NAMES:
            q = z[n][rows] / temps[n]
            q = np.exp(q - q.max(axis=1, keepdims=True))
            probs[n] = q / q.sum(axis=1, keepdims=True)
        right = sum(
            int((probs[n].argmax(axis=1) == self.gold[n][rows]).sum())
            for n in ("nature", "urgency")
        )
        pc = probs["category"] ** decode["category_power"]
        pd = probs["department"]
        for f in np.unique(self.fold_of[rows]).tolist():
            sel = self.fold_of[rows] == f
            mask = self.masks[f]
            joint = pc[sel][:, :, None] * pd[sel][:, None, :]
            if mask is not None:
                joint = joint * mask[None, :, :]
            flat = joint.reshape(int(sel.sum()), -1).argmax(axis=1)
            cat, dep = flat // pd.shape[1], flat % pd.shape[1]
            right += int((cat == self.gold["category"][rows][sel]).sum())
            right += int((dep == self.gold["department"][rows][sel]).sum())
        return right, temps

    def offsets(
        self, decode: dict[str, float], temperature: dict[str, float], rows: npt.NDArray[np.int64]
    ) -> dict[str, list[float]]:
        """Class offsets per label (:func:`model.fit_offsets`) on the letters among
        ``rows``, read the way ``decode`` says, after ``temperature``."""
        z = self.combined(decode)
        if self.letter is not None:
            rows = rows[self.letter[rows]]
        return {
            n: m.fit_offsets(z[n][rows], self.gold[n][rows], temperature[n]) for n in m.LABEL_NAMES
        }

    def choose(
        self,
        rows: npt.NDArray[np.int64],
        grid: tuple[Sequence[float], Sequence[float], Sequence[float]] | None = None,
    ) -> tuple[dict[str, float], dict[str, float]]:
        """The reading (title and last-line weights, category power, from ``grid``, by
        default the full one) that gets the most labels right on ``rows``, the simplest
        on a tie, and its temperatures."""
        titles, lasts, powers = grid or (TITLE_WEIGHTS, LAST_WEIGHTS, CATEGORY_POWERS)
        best: tuple[int, dict[str, float], dict[str, float]] | None = None
        for a in titles:
            for b in lasts:
                for e in powers:
                    decode = {"title": a, "last": b, "category_power": e, **FIXED_DECODE}
                    right, temps = self._right(decode, rows)
                    if best is None or right > best[0]:
                        best = (right, decode, temps)
        assert best is not None
        return best[1], best[2]


def _fit(task: dict[str, Any]) -> m.TrainedModel:
    return m.train(**task)


def fit_many(tasks: Sequence[dict[str, Any]], jobs: int = 1) -> list[m.TrainedModel]:
    """:func:`model.train` on each task's arguments, in ``jobs`` processes at a time.
    Training is deterministic, so the models are the same as one after another."""
    if jobs <= 1 or len(tasks) <= 1:
        return [_fit(t) for t in tasks]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context) as pool:
        return list(pool.map(_fit, tasks))
