"""The taxonomy's tie-breakers, on examples written for these tests (not in the dev file)."""

from __future__ import annotations

import pytest

from complaintdesk.classify.base import Classifier
from complaintdesk.classify.model import ModelClassifier
from complaintdesk.classify.rules import RuledClassifier


def labels(clf: Classifier, text: str) -> dict[str, str]:
    return clf.predict([text])[0].labels()


def test_the_product_uses_the_packaged_model_with_rules(classifier: Classifier) -> None:
    assert isinstance(classifier, RuledClassifier)
    assert isinstance(classifier.inner, ModelClassifier)
    assert classifier.version.startswith("hashlr-")


@pytest.mark.parametrize(
    ("plain", "blamed"),
    [
        ("单元门口的灯坏了,麻烦派人换一下", "单元门口的灯坏了,报修三次了还是没人管"),
        (
            "The entrance intercom isn't working, could someone take a look?",
            "The entrance intercom isn't working AGAIN and nobody came last time. What do we pay you for?",  # noqa: E501
        ),
    ],
)
def test_plain_request_is_help_seeking_and_blame_is_dissatisfaction(
    classifier: Classifier, plain: str, blamed: str
) -> None:
    a, b = labels(classifier, plain), labels(classifier, blamed)
    assert a["nature"] == "help_seeking"
    assert b["nature"] == "dissatisfaction"
    assert a["category"] == b["category"] == "equipment"  # the blame shows in the nature only


@pytest.mark.parametrize(
    "text",
    [
        "不是投诉,就想问一下物业费能不能用支付宝交?",
        "Just asking: can visitors park inside the estate?",
    ],
)
def test_a_question_is_consulting_and_low(classifier: Classifier, text: str) -> None:
    got = labels(classifier, text)
    assert got["nature"] == "consulting"
    assert got["urgency"] == "low"


@pytest.mark.parametrize(
    ("broken", "our_work"),
    [
        ("车库的道闸坏了,抬不起来", "你们上周刚修的道闸又坏了,修了跟没修一样"),
        (
            "The extractor fan in the bin room is broken.",
            "The extractor fan your engineer repaired on Friday has broken again.",
        ),
    ],
)
def test_a_thing_broken_is_equipment_and_our_repair_failing_is_service_quality(
    classifier: Classifier, broken: str, our_work: str
) -> None:
    assert labels(classifier, broken)["category"] == "equipment"
    got = labels(classifier, our_work)
    assert got["category"] == "service_quality"
    assert got["department"] == "engineering"


@pytest.mark.parametrize(
    ("now", "over"),
    [
        ("3号楼停电了,电梯里困着人,快来!", "昨晚3号楼停电了两个小时,为什么没通知?"),
        (
            "Smoke is coming out of the electrical room in block D right now!",
            "There was smoke from the electrical room on Monday, it's out now, but nobody explained why.",  # noqa: E501
        ),
    ],
)
def test_a_danger_now_is_an_emergency_and_one_that_is_over_is_not(
    classifier: Classifier, now: str, over: str
) -> None:
    assert labels(classifier, now)["category"] == "emergency"
    assert labels(classifier, over)["category"] != "emergency"
    assert labels(classifier, over)["urgency"] != "critical"


@pytest.mark.parametrize(
    "text",
    [
        "楼下有人打架还动了刀",
        "The gas smell in stairwell C is getting stronger",
        "配电柜冒火花了",
        "A kid fell off the wall by the pool and is bleeding",
    ],
)
def test_every_emergency_is_critical(classifier: Classifier, text: str) -> None:
    got = labels(classifier, text)
    assert got["category"] == "emergency"
    assert got["urgency"] == "critical"


@pytest.mark.parametrize(
    "text",
    [
        "维修工约好上午来,下午才到,还嫌我家乱,说话特别冲",
        "The handyman turned up three hours late and then sneered at my mother.",
    ],
)
def test_staff_behaviour_is_service_attitude_even_if_the_job_was_also_late(
    classifier: Classifier, text: str
) -> None:
    got = labels(classifier, text)
    assert got["category"] == "service_attitude"
    assert got["department"] == "customer_service"
    assert got["nature"] == "dissatisfaction"


@pytest.mark.parametrize(
    ("text", "department"),
    [
        ("这个月的物业费怎么比上个月多扣了一百块", "finance"),
        ("My renovation permit has been waiting for approval for three weeks", "customer_service"),
    ],
)
def test_money_goes_to_finance_and_other_rules_to_customer_service(
    classifier: Classifier, text: str, department: str
) -> None:
    got = labels(classifier, text)
    assert got["category"] == "management"
    assert got["department"] == department


def test_a_neighbour_problem_is_neighbourhood_for_security(classifier: Classifier) -> None:
    got = labels(classifier, "对门天天在楼道里堆纸箱,过都过不去")
    assert got["category"] == "neighborhood"
    assert got["department"] == "security"


def test_a_security_lapse_is_service_quality_for_security(classifier: Classifier) -> None:
    got = labels(classifier, "我的车停在你们地库里被人划了一大道")
    assert got["category"] == "service_quality"
    assert got["department"] == "security"
