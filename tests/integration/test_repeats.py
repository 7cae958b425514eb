"""Repeats by matter through intake: the same owner, unit or phone back on the same thing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from complaintdesk.classify.keyword import KeywordClassifier
from complaintdesk.db.models import Complaint
from complaintdesk.domain.taxonomy import Channel
from complaintdesk.services import intake
from tests.conftest import NOW, Org

CLASSIFIER = KeywordClassifier()


def _labels(nature: str, category: str, department: str = "engineering") -> dict[str, str]:
    return {"nature": nature, "category": category, "urgency": "normal", "department": department}


def _register(
    session: Session, acme: Org, text: str, days: float, labels: dict[str, str], **who: object
) -> Complaint:
    new = intake.NewComplaint(
        project_id=acme.project.id, text=text, channel=Channel.PHONE, labels=labels, **who
    )  # type: ignore[arg-type]
    return intake.register(session, acme.guard, new, CLASSIFIER, NOW + timedelta(days=days))


def test_a_repeat_is_linked_by_matter_not_by_category(session: Session, acme: Org) -> None:
    owner = {"owner_id": acme.owner.id}
    lift = _register(
        session,
        acme,
        "5号楼电梯坏了，麻烦派人来修",
        0,
        _labels("help_seeking", "equipment"),
        **owner,
    )
    _register(
        session,
        acme,
        "请问车位月卡怎么办",
        1,
        _labels("consulting", "management", "customer_service"),
        **owner,
    )
    again = _register(
        session,
        acme,
        "今天又停了，上周刚修过",
        4,
        _labels("dissatisfaction", "service_quality"),
        **owner,
    )
    assert again.repeat_of_id == lift.id
    # the owner had to come back: the earlier help-seeking complaint was mishandled
    assert lift.nature == "dissatisfaction" and lift.upgraded


def test_an_unanswered_question_by_phone_is_upgraded(session: Session, acme: Org) -> None:
    phone = {"caller_name": "李先生", "caller_phone": "13900000077"}
    question = _register(
        session,
        acme,
        "请问装修押金什么时候可以退",
        0,
        _labels("consulting", "management", "finance"),
        **phone,
    )
    back = _register(
        session,
        acme,
        "押金的事问了十天了，一直没人回复",
        10,
        _labels("consulting", "service_attitude", "customer_service"),
        **phone,
    )
    assert back.repeat_of_id == question.id
    assert question.nature == "dissatisfaction" and question.upgraded
    assert back.nature == "dissatisfaction" and back.upgraded


def test_the_same_unit_counts_as_the_same_caller(session: Session, acme: Org) -> None:
    first = _register(
        session,
        acme,
        "Water is dripping through the bathroom ceiling",
        0,
        _labels("help_seeking", "building_quality"),
        unit_id=acme.unit.id,
        caller_name="Mrs Chen",
    )
    second = _register(
        session,
        acme,
        "The bathroom ceiling is still dripping",
        2,
        _labels("dissatisfaction", "equipment"),
        unit_id=acme.unit.id,
        caller_name="Mr Chen",
    )
    assert second.repeat_of_id == first.id


def test_another_matter_in_the_same_category_is_not_a_repeat(session: Session, acme: Org) -> None:
    owner = {"owner_id": acme.owner.id}
    _register(session, acme, "门禁刷卡没反应", 0, _labels("help_seeking", "equipment"), **owner)
    light = _register(
        session, acme, "楼道的声控灯坏了", 1, _labels("help_seeking", "equipment"), **owner
    )
    assert light.repeat_of_id is None and light.nature == "help_seeking"
    late = _register(session, acme, "门禁又坏了", 31, _labels("help_seeking", "equipment"), **owner)
    assert late.repeat_of_id is None  # past the 30-day window
