"""Scores of a classifier on a labelled file: per-label accuracy and macro-F1, confusion
matrices, and emergency recall and precision (the figure that must be 100%)."""

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

    def format(self) -> str:
        lines = [f"examples: {self.n}", "", "label        accuracy  macro-F1"]
        for name, s in self.labels.items():
            lines.append(f"{name:<12} {s.accuracy:8.1%}  {s.macro_f1:8.3f}")
        lines += [
            "",
            f"emergency recall    {self.emergency_recall:.1%} "
            f"({self.emergency_gold - len(self.missed_emergencies)}/{self.emergency_gold})",
            f"emergency precision {self.emergency_precision:.1%} (of {self.emergency_predicted} predicted)",  # noqa: E501
            f"needs review        {self.needs_review}/{self.n}",
        ]
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
    )


def evaluate(classifier: Classifier, gold: Sequence[dict[str, str]]) -> Report:
    return score(gold, classifier.predict([g["text"] for g in gold]))
