"""The families of errors seen on real messages (issue 9), on examples written for these
tests: none is taken from the training data, the generator or the real messages.

* short and misspelt emergencies, in both languages, are emergencies;
* hazards that could become one (隐患, expired inspections, missing equipment, a risk
  named for the future) are not, and are ``high`` at most;
* problems between neighbours are ``neighborhood``, not equipment or emergencies;
* a long letter about fees that mentions a danger in passing is not an emergency.
"""

from __future__ import annotations

import pytest

from complaintdesk.classify.base import Classifier
from complaintdesk.classify.rules import LONG, RuledClassifier, assess
from complaintdesk.domain.taxonomy import Category, Department, Urgency
from tests.unit.classify.test_emergency import Quiet

SHORT_EMERGENCIES = [
    ("3栋2单元电梯停了，困了人", Department.ENGINEERING),
    ("B座电题停了 困了人", Department.ENGINEERING),  # 电题 for 电梯
    ("电梯卡在5楼，里面关着两个小孩", Department.ENGINEERING),
    ("楼下车库着火啦！！", Department.SECURITY),
    ("楼道着活了 快来", Department.SECURITY),  # 着活 for 着火
    ("厨房煤汽味好大", Department.ENGINEERING),  # 煤汽 for 煤气
    ("配电房冒烟了快来", Department.SECURITY),
    ("有人在小区门口持刀伤人", Department.SECURITY),
    ("楼顶的广告牌正在往下掉", Department.SECURITY),
    ("地下室进水了，水越来越深", Department.ENGINEERING),
    ("electric box sparking in hallway", Department.ENGINEERING),
    ("lift stuck with ppl trapped inside!!", Department.ENGINEERING),
    ("theres a fier on 7th flor", Department.SECURITY),
    ("gas smel in the corridor, strong", Department.ENGINEERING),
    ("man colapsed in lobby, unconscious", Department.SECURITY),
    ("pipe bursted, water pouring into flat below", Department.ENGINEERING),
    ("two guys fighting with a knife near gate 2", Department.SECURITY),
    ("smoek coming out of the bin room", Department.SECURITY),
]

HAZARDS = [
    "消防栓多年没人检修，存在安全隐患",
    "电梯年检合格证已经过期三个月了，请尽快安排年检",
    "楼道里堆满杂物，万一着火人都跑不出去",
    "小区没有配备灭火器，出了火灾怎么办",
    "外墙瓷砖有裂缝，担心以后会掉下来砸到人",
    "地库的电线裸露在外面，容易引发触电事故",
    "The lift inspection certificate expired in March, please renew it",
    "The fire alarm panel hasn't been serviced for years, it's a fire risk",
    "Exposed wiring in the bike shed could electrocute someone one day",
    "There are no fire extinguishers on our floor at all",
]

NEIGHBOURS = [
    "楼上天天半夜拖椅子，吵得睡不着",
    "隔壁在阳台违规搭建铁皮房",
    "3楼那户改成群租房，住了十几个人",
    "有人长期把车停在消防通道上，堵得死死的",
    "楼上把衣服晾到了走廊上，一直滴水",
    "The neighbours' dog barks all night long",
    "Someone keeps parking in the fire lane by block C",
    "The flat upstairs has been turned into a sublet for a dozen people",
]

FEE_LETTERS = [
    # a danger told in passing, well after the opening, in a letter about fees
    "关于小区物业费上涨的投诉\n尊敬的领导：我们是城南某小区的业主。物业公司自去年起未经业主大会同意，"
    "擅自把物业费从每平方米1.2元上调到2.5元，也从未公示公共收益和维修基金的收支。业主多次要求公开账目，"
    "物业一直推脱。小区的服务却越来越差，保安形同虚设，绿化无人打理，楼道灯坏了几个月没人换，"
    "有一次电梯困人，物业半个多小时才到场。恳请领导督促物业公示账目，退还多收的费用，"
    "按合同约定的标准提供服务，还业主一个公道。谢谢！",
    "Complaint about the new service charge\nDear councillor, I am writing on behalf of the owners "
    "of our estate about the service charge, which the managing agent raised by 40% this year "
    "without any consultation or breakdown of costs. We have asked three times for the accounts "
    "and received nothing. Meanwhile the standard of service keeps falling: the gardens are "
    "neglected, the bins overflow and the gate is broken. There was smoke in the bin store one "
    "evening and nobody from the agent came. We ask you to make the agent publish the accounts "
    "and refund the increase.",
]


@pytest.mark.parametrize(("text", "department"), SHORT_EMERGENCIES)
def test_short_and_misspelt_emergencies_are_caught_by_the_rules(
    text: str, department: Department
) -> None:
    pred = RuledClassifier(Quiet()).predict([text])[0]
    assert pred.category is Category.EMERGENCY and pred.urgency is Urgency.CRITICAL
    assert pred.department is department


def test_short_and_misspelt_emergencies_with_the_packaged_model(classifier: Classifier) -> None:
    texts = [t for t, _ in SHORT_EMERGENCIES]
    missed = [
        t
        for t, p in zip(texts, classifier.predict(texts), strict=True)
        if p.category is not Category.EMERGENCY or p.urgency is not Urgency.CRITICAL
    ]
    assert missed == []


@pytest.mark.parametrize("text", HAZARDS)
def test_a_hazard_is_not_an_emergency(text: str, classifier: Classifier) -> None:
    assert not assess(text).present
    pred = classifier.predict([text])[0]
    assert pred.category is not Category.EMERGENCY
    assert pred.urgency in (Urgency.HIGH, Urgency.NORMAL, Urgency.LOW)


def test_neighbour_problems_are_neighbourhood(classifier: Classifier) -> None:
    preds = classifier.predict(NEIGHBOURS)
    wrong = [
        (t, p.category.value)
        for t, p in zip(NEIGHBOURS, preds, strict=True)
        if p.category is not Category.NEIGHBORHOOD
    ]
    assert wrong == []
    assert all(p.urgency is not Urgency.CRITICAL for p in preds)


@pytest.mark.parametrize("text", FEE_LETTERS)
def test_a_danger_in_passing_in_a_letter_about_fees_does_not_fire(
    text: str, classifier: Classifier
) -> None:
    assert len(text) > LONG
    assert not assess(text).present
    pred = classifier.predict([text])[0]
    assert pred.category is not Category.EMERGENCY and pred.urgency is not Urgency.CRITICAL
    assert pred.category is Category.MANAGEMENT


def test_a_letter_whose_title_is_a_danger_now_still_fires() -> None:
    letter = "紧急：3栋地下车库着火了\n" + FEE_LETTERS[0].split("\n", 1)[1]
    assert assess(letter).present
    pred = RuledClassifier(Quiet()).predict([letter])[0]
    assert pred.category is Category.EMERGENCY and pred.department is Department.SECURITY


def test_a_danger_over_in_a_later_sentence_stands_down() -> None:
    assert not assess("楼道着火了。已经扑灭了，就是墙熏黑了").present
    assert not assess("Fire in the bin store. It's out now, but it stinks").present
    # while a past word in another sentence does not silence a danger now
    assert assess("昨天就说电梯有问题。现在困了人！").present
