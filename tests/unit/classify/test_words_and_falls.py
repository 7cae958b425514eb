"""Two families of false emergencies (issue 9, session 14), on examples written for these
tests: none is taken from the training data, the generator or the real messages (the
held-back ones were not read).

* A danger word inside a longer, innocent word (打架 in 打架子鼓, 人困 in 让人困扰,
  "burst" in "outburst") is no danger; the true danger beside it still is.
* A structure fallen or loose over time, or harm from its fall feared for the future
  (多处脱落, 以免砸到人, "could fall on someone"), is a hazard: ``high`` at most; a fall
  happening now or just now, on or near people, stays an emergency.
"""

from __future__ import annotations

import pytest

from complaintdesk.classify.base import Classifier
from complaintdesk.classify.rules import RuledClassifier, assess
from complaintdesk.domain.taxonomy import Category, Department, Urgency
from tests.unit.classify.test_emergency import Quiet

INSIDE_WORDS = [
    "楼上邻居每天晚上打架子鼓",
    "隔壁小孩半夜打架子鼓，吵死了",
    "楼上装修的噪音让人困扰",
    "物业的收费让人很困惑",
    "有人把垃圾倒地上就走了",
    "我买的是带电梯的房子，电梯却天天坏",
    "门禁卡在电梯里刷不了",
    "家里漏电保护器老是跳闸",
    "打人工客服一直打不通",
    "打人家的电话没人接",
    "物业要砍人行道边上的树",
    "电动车轮胎被扎漏气了",
    "这是我的救命钱，物业扣着押金不退",
    "我妈有心脏病，电梯坏了爬不了楼",
    "楼下烧烤店生意火爆，每晚爆满到凌晨",
    "楼下吃火锅的客人太吵",
    "da jia zi gu 打架子鼓 every night upstairs",
    "an outburst of shouting from the flat next door every night",
    "the kids upstairs play counterattack games until 2am",
]

DANGERS_BESIDE = [
    ("楼下有人打架了", Department.SECURITY),
    ("小区门口有人打起来了", Department.SECURITY),
    ("两个人在车库打起架来了快来", Department.SECURITY),
    ("楼上邻居打架子鼓，楼下有人打架了", Department.SECURITY),
    ("噪音让人困扰，电梯里困了人", Department.ENGINEERING),
    ("电梯困人了!!", Department.ENGINEERING),
    ("楼道着火了", Department.SECURITY),
    ("楼道着伙了快来", Department.SECURITY),  # 着伙 for 着火
    ("配电房冒烟", Department.SECURITY),
    ("厨房煤气味很大", Department.ENGINEERING),
    ("车库进水了，水越来越深", Department.ENGINEERING),
    ("插座在冒火花", Department.ENGINEERING),
    ("有人触电了", Department.ENGINEERING),
    ("老人心脏病发作了，倒在电梯口", Department.SECURITY),
    ("救命啊", None),
    ("a pipe burst and water is pouring in", Department.ENGINEERING),
    ("someone is attacking people at the gate", Department.SECURITY),
    ("two men fighting in the lobby", Department.SECURITY),
    ("smoke in the stairwel!!", Department.SECURITY),
    ("gas smel in hall", Department.ENGINEERING),
    ("ppl trappd in lift", Department.ENGINEERING),
    ("sparks from the meter box", Department.ENGINEERING),
]

STANDING_FALLS = [
    "外墙瓷砖多处脱落，以免砸到人",
    "外墙瓷砖掉下来了，希望尽快处理，不要砸到人",
    "外墙瓷砖多处脱落，随时会掉下来砸到人",
    "外墙的瓷砖脱落了好几块，差点砸到人",
    "外墙瓷砖多处脱落。请尽快修，砸到人就晚了。",
    "阳台顶上的水泥块一直往下掉，砸到人谁负责",
    "楼顶的广告牌锈了，随时可能掉下来",
    "外墙皮脱落好几个月了，迟早会砸到人",
    "Tiles have been falling off the facade for months, they could fall on someone",
    "Bits of render keep falling off the wall, please fix it before someone gets hurt",
    "tiles falling off the wall in several places, could hit someone",
]

FALLS_NOW = [
    "天花板刚才掉下来砸到人了",
    "外墙瓷砖多处脱落，刚才掉下来砸到人了",
    "外墙瓷砖正在往下掉，下面有人",
    "楼道天花板塌了",
    "阳台护栏松了，随时会掉下去",
    "the ceiling just collapsed",
    "the wall is coming down now",
    "tiles are falling off the facade onto people right now",
    "a balcony railing is hanging loose and about to fall",
]


@pytest.mark.parametrize("text", INSIDE_WORDS)
def test_a_danger_word_inside_an_innocent_word_is_no_danger(text: str) -> None:
    assert not assess(text).present
    pred = RuledClassifier(Quiet()).predict([text])[0]
    assert pred.category is not Category.EMERGENCY


def test_innocent_words_with_the_packaged_model(classifier: Classifier) -> None:
    called = [
        t
        for t, p in zip(INSIDE_WORDS, classifier.predict(INSIDE_WORDS), strict=True)
        if p.category is Category.EMERGENCY or p.urgency is Urgency.CRITICAL
    ]
    assert called == []


@pytest.mark.parametrize(("text", "department"), DANGERS_BESIDE)
def test_the_true_danger_beside_them_still_is_one(text: str, department: Department | None) -> None:
    danger = assess(text)
    assert danger.present and danger.department is department
    pred = RuledClassifier(Quiet()).predict([text])[0]
    assert pred.category is Category.EMERGENCY and pred.urgency is Urgency.CRITICAL


@pytest.mark.parametrize("text", STANDING_FALLS)
def test_a_structure_fallen_over_time_or_feared_to_fall_is_a_hazard(
    text: str, classifier: Classifier
) -> None:
    assert not assess(text).present
    pred = classifier.predict([text])[0]
    assert pred.category is not Category.EMERGENCY
    assert pred.urgency in (Urgency.HIGH, Urgency.NORMAL, Urgency.LOW)


@pytest.mark.parametrize("text", FALLS_NOW)
def test_a_structure_falling_now_is_an_emergency(text: str) -> None:
    danger = assess(text)
    assert danger.present and danger.department is Department.SECURITY
    pred = RuledClassifier(Quiet()).predict([text])[0]
    assert pred.category is Category.EMERGENCY and pred.urgency is Urgency.CRITICAL


def test_a_fall_beside_another_danger_is_not_stood_down_with_it() -> None:
    # the gas leak is not a standing hazard because the tiles are
    assert assess("外墙瓷砖多处脱落，楼道里燃气味很大").present
    assert assess("外墙瓷砖多处脱落，楼道着火了").present


def test_the_rule_version_is_seven() -> None:
    assert RuledClassifier(Quiet()).version == "quiet+rules-7"
