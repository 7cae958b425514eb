"""Scores of a classifier on a labelled file: per-label accuracy, macro-F1 and Cohen's
kappa, confusion matrices, emergency recall and precision (the figure that must be 100%),
and how many go to review with the accuracy of those that do not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from complaintdesk.classify.base import Classifier, Prediction
from complaintdesk.domain.taxonomy import LABELS

LABEL_NAMES = ("nature", "category", "urgency", "department")


@dataclass
class LabelScore:
    accuracy: float
    macro_f1: float
    classes: list[str]
    confusion: list[list[int]]  # rows: gold, columns: predicted
    kappa: float = 0.0
    """Cohen's kappa of the predictions against the gold labels (1: perfect, 0: chance)."""


@dataclass
class Report:
    n: int
    labels: dict[str, LabelScore]
    emergency_recall: float
    emergency_precision: float
    emergency_gold: int
    emergency_predicted: int
    missed_emergencies: list[str] = field(default_factory=list)
    needs_review: int = 0
    not_reviewed_right: dict[str, int] = field(default_factory=dict)
    """Of the predictions not sent to review: how many are right, per label and for all
    four labels together (key ``all``)."""

    def format(self) -> str:
        lines = [f"examples: {self.n}", "", "label        accuracy  macro-F1     kappa"]
        for name, s in self.labels.items():
            lines.append(f"{name:<12} {s.accuracy:8.1%}  {s.macro_f1:8.3f}  {s.kappa:8.3f}")
        lines += [
            "",
            f"emergency recall    {self.emergency_recall:.1%} "
            f"({self.emergency_gold - len(self.missed_emergencies)}/{self.emergency_gold})",
            f"emergency precision {self.emergency_precision:.1%} (of {self.emergency_predicted} predicted)",  # noqa: E501
            f"needs review        {self.needs_review}/{self.n}",
        ]
        kept = self.n - self.needs_review
        if kept and self.not_reviewed_right:
            right = ", ".join(
                f"{name} {v}/{kept} ({v / kept:.1%})" for name, v in self.not_reviewed_right.items()
            )
            lines.append(f"not sent to review  right: {right}")
        for text in self.missed_emergencies:
            lines.append(f"  MISSED: {text[:100]}")
        for name, s in self.labels.items():
            lines += ["", f"confusion matrix: {name} (rows gold, columns predicted)"]
            width = max(len(c) for c in s.classes) + 1
            short = [c[:6] for c in s.classes]
            lines.append(" " * width + " ".join(f"{c:>6}" for c in short))
            for c, row in zip(s.classes, s.confusion, strict=True):
                lines.append(f"{c:<{width}}" + " ".join(f"{v:>6}" for v in row))
        return "\n".join(lines)


def score(gold: Sequence[dict[str, str]], preds: Sequence[Prediction]) -> Report:
    labels: dict[str, LabelScore] = {}
    for name in LABEL_NAMES:
        classes = [e.value for e in LABELS[name]]
        index = {c: i for i, c in enumerate(classes)}
        matrix = [[0] * len(classes) for _ in classes]
        for g, p in zip(gold, preds, strict=True):
            matrix[index[g[name]]][index[p.labels()[name]]] += 1
        correct = sum(matrix[i][i] for i in range(len(classes)))
        f1s = []
        for i in range(len(classes)):
            tp = matrix[i][i]
            fn = sum(matrix[i]) - tp
            fp = sum(row[i] for row in matrix) - tp
            if tp + fn + fp == 0:
                continue  # class absent from gold and predictions
            f1s.append(2 * tp / (2 * tp + fp + fn))
        labels[name] = LabelScore(
            accuracy=correct / len(gold) if gold else 0.0,
            macro_f1=sum(f1s) / len(f1s) if f1s else 0.0,
            classes=classes,
            confusion=matrix,
            kappa=cohen_kappa(matrix),
        )
    kept = [(g, p) for g, p in zip(gold, preds, strict=True) if not p.needs_review]
    not_reviewed_right = {
        name: sum(p.labels()[name] == g[name] for g, p in kept) for name in LABEL_NAMES
    }
    not_reviewed_right["all"] = sum(
        all(p.labels()[n] == g[n] for n in LABEL_NAMES) for g, p in kept
    )
    is_gold = [g["category"] == "emergency" for g in gold]
    is_pred = [p.category.value == "emergency" for p in preds]
    tp = sum(a and b for a, b in zip(is_gold, is_pred, strict=True))
    missed = [g["text"] for g, a, b in zip(gold, is_gold, is_pred, strict=True) if a and not b]
    return Report(
        n=len(gold),
        labels=labels,
        emergency_recall=tp / sum(is_gold) if any(is_gold) else 1.0,
        emergency_precision=tp / sum(is_pred) if any(is_pred) else 1.0,
        emergency_gold=sum(is_gold),
        emergency_predicted=sum(is_pred),
        missed_emergencies=missed,
        needs_review=sum(p.needs_review for p in preds),
        not_reviewed_right=not_reviewed_right,
    )


def cohen_kappa(matrix: Sequence[Sequence[int]]) -> float:
    """Cohen's kappa of a confusion matrix (rows one rater, columns the other):
    (observed - expected agreement) / (1 - expected); 1.0 when both raters use one
    and the same class throughout (no disagreement is possible), 0.0 for no rows."""
    n = sum(sum(row) for row in matrix)
    if not n:
        return 0.0
    observed = sum(matrix[i][i] for i in range(len(matrix))) / n
    rows = [sum(row) / n for row in matrix]
    cols = [sum(row[j] for row in matrix) / n for j in range(len(matrix))]
    expected = sum(r * c for r, c in zip(rows, cols, strict=True))
    if expected >= 1.0:
        return 1.0 if observed >= 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def evaluate(classifier: Classifier, gold: Sequence[dict[str, str]]) -> Report:
    return score(gold, classifier.predict([g["text"] for g in gold]))
