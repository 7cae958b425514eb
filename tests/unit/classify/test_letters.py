"""Letter-style generated examples: petitions with a title line, labelled by its issue."""

from __future__ import annotations

from collections import Counter

from complaintdesk.classify import letters
from complaintdesk.classify import model as m
from complaintdesk.classify.features import normalise
from complaintdesk.classify.generate import generate
from complaintdesk.classify.rules import LONG
from complaintdesk.domain.taxonomy import LABELS


def test_letters_are_deterministic_and_differ_by_seed() -> None:
    assert letters.letters(50, 7) == letters.letters(50, 7)
    assert letters.letters(50, 7) != letters.letters(50, 8)


def test_every_letter_has_a_title_line_and_valid_codes() -> None:
    made = letters.letters(500, 11)
    for rec in made:
        title, _, body = rec["text"].partition("\n")
        assert 0 < len(title) <= m.MAX_TITLE and body.strip()
        assert "{" not in rec["text"], rec["text"]  # every slot filled
        for name, enum in LABELS.items():
            assert rec[name] in {e.value for e in enum}, (name, rec[name])
        assert rec["category"] != "emergency" and rec["urgency"] != "critical"
    # most are letters in the rule layer's sense (normalised text over LONG characters)
    assert sum(len(normalise(r["text"])) > LONG for r in made) > 200


def test_departments_follow_the_labelling_guide() -> None:
    """Money and rules both inside management (rules 6, 7, 13); neighbours to security,
    building defects and equipment to engineering (rules 8-10)."""
    pairs = Counter((r["category"], r["department"]) for r in letters.letters(2000, 3))
    assert pairs[("management", "finance")] > 300
    assert pairs[("management", "customer_service")] > 300
    allowed = {
        ("management", "finance"),
        ("management", "customer_service"),
        ("neighborhood", "security"),
        ("equipment", "engineering"),
        ("building_quality", "engineering"),
        ("service_quality", "cleaning"),
        ("service_quality", "security"),
        ("service_attitude", "customer_service"),
    }
    assert set(pairs) == allowed


def test_a_money_title_is_finance_in_management() -> None:
    """Rule 24: a management letter whose title names money is finance."""
    for rec in letters.letters(2000, 5):
        if rec["category"] == "management" and m.money_title(rec["text"]):
            assert rec["department"] == "finance", rec["text"][:40]


def test_the_training_corpus_adds_letters_only_when_asked() -> None:
    assert m.training_corpus(300, 99) == generate(300, 99)
    corpus = m.training_corpus(300, 99, letters=40)
    assert corpus[:300] == generate(300, 99)
    assert corpus[300:] == letters.letters(40, 99 + 3)
