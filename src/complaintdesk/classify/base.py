"""The interface between the intake and whatever classifier labels the complaints."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from complaintdesk.domain.taxonomy import Category, Department, Nature, Urgency

REVIEW_THRESHOLD = 0.6
"""Below this confidence on any label a complaint goes to the review queue."""


@dataclass(frozen=True)
class Prediction:
    """The four labels of one text, each with a confidence in [0, 1]."""

    nature: Nature
    category: Category
    urgency: Urgency
    department: Department
    confidence: dict[str, float] = field(default_factory=dict)
    model_version: str = ""

    @classmethod
    def of(
        cls,
        nature: Nature,
        category: Category,
        urgency: Urgency,
        department: Department,
        confidence: dict[str, float],
        model_version: str,
    ) -> Prediction:
        """The same object as the constructor makes, several times faster: the model
        makes one per complaint at 20,000+ a second (a frozen dataclass's ``__init__``
        sets each field through ``object.__setattr__``)."""
        obj = object.__new__(cls)
        obj.__dict__.update(
            nature=nature,
            category=category,
            urgency=urgency,
            department=department,
            confidence=confidence,
            model_version=model_version,
        )
        return obj

    @property
    def min_confidence(self) -> float:
        return min(self.confidence.values(), default=0.0)

    @property
    def needs_review(self) -> bool:
        """True when a person should check the labels rather than trust them."""
        return self.min_confidence < REVIEW_THRESHOLD

    def labels(self) -> dict[str, str]:
        return {
            "nature": self.nature.value,
            "category": self.category.value,
            "urgency": self.urgency.value,
            "department": self.department.value,
        }


class Classifier(Protocol):
    """Labels complaints. Implementations are pure: same texts, same predictions."""

    @property
    def version(self) -> str: ...

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in the same order."""
        ...


@functools.cache
def default_classifier() -> Classifier:
    """The classifier the product uses: the packaged trained model (under the emergency
    rule layer) when there is one, else the keyword rules, so that intake always works."""
    from complaintdesk.classify.rules import RuledClassifier

    try:
        from complaintdesk.classify.model import PACKAGED_MODEL, ModelClassifier, load

        if PACKAGED_MODEL.exists():
            return RuledClassifier(ModelClassifier(load(PACKAGED_MODEL)))
    except (ImportError, OSError, ValueError, KeyError):  # a broken file must not stop intake
        pass
    from complaintdesk.classify.keyword import KeywordClassifier

    return RuledClassifier(KeywordClassifier())
