"""Never miss an emergency: the rule layer catches what the model might not."""

from __future__ import annotations

import pytest

from complaintdesk.classify.base import Classifier, Prediction
from complaintdesk.classify.rules import RuledClassifier, assess
from complaintdesk.domain.taxonomy import Category, Department, Nature, Urgency

EMERGENCIES = [
    "着火了",
    "楼道里全是浓烟",
    "厨房有很重的煤气味",
    "天然气漏气了",
    "我被困在电梯里了",
    "电梯卡住了里面有人",
    "电线在冒火花",
    "插座漏电,孩子被电了一下",
    "水管爆了水往外喷",
    "地下车库进水了,水越来越深",
    "有人拿刀在楼下砍人",
    "有小偷正在撬门",
    "老人晕倒了",
    "孩子摔下来流血了",
    "外墙瓷砖正在往下掉",
    "救命!",
    "有人昏迷不醒",
    "fire in the car park",
    "there is smoke in the corridor",
    "I smell gas",
    "we're trapped in the lift",
    "the socket is sparking",
    "a pipe burst and it's flooding the hall",
    "a man with a knife is at the gate",
    "someone collapsed by the pool",
    "my neighbour is unconscious",
    "a child is bleeding badly",
    "a piece of the balcony is about to fall",
    "an intruder is in the stairwell",
    "help! call 999",
]


class Quiet:
    """A model that never sees an emergency: only the rules can catch one."""

    version = "quiet"

    def predict(self, texts: list[str]) -> list[Prediction]:  # type: ignore[override]
        return [
            Prediction(
                Nature.CONSULTING,
                Category.MANAGEMENT,
                Urgency.LOW,
                Department.FINANCE,
                {"nature": 0.99, "category": 0.99, "urgency": 0.99, "department": 0.99},
            )
            for _ in texts
        ]


@pytest.mark.parametrize("text", EMERGENCIES)
def test_the_rules_alone_catch_every_emergency_phrasing(text: str) -> None:
    pred = RuledClassifier(Quiet()).predict([text])[0]
    assert pred.category is Category.EMERGENCY
    assert pred.urgency is Urgency.CRITICAL
    assert pred.department in (Department.ENGINEERING, Department.SECURITY)
    assert pred.nature is Nature.HELP_SEEKING


def test_the_packaged_model_with_rules_catches_every_emergency(classifier: Classifier) -> None:
    preds = classifier.predict(EMERGENCIES)
    missed = [
        t for t, p in zip(EMERGENCIES, preds, strict=True) if p.category is not Category.EMERGENCY
    ]
    assert missed == []
    assert all(p.urgency is Urgency.CRITICAL for p in preds)


@pytest.mark.parametrize(
    "text",
    [
        "楼道的灭火器过期了",
        "楼下邻居老在阳台抽烟",
        "烟感报警器一直滴滴响",
        "消防通道被车堵了",
        "the fire extinguisher on floor 2 is empty",
        "the smoke alarm keeps beeping",
        "昨晚着火了,已经扑灭了",
        "楼道堆满纸箱,存在火灾隐患",
        "the e-bikes charging in the hall are a fire hazard",
        "the power was off last night",
        "上周我被困在电梯里半小时",
    ],
)
def test_harmless_mentions_and_dangers_that_are_over_do_not_fire_the_rules(text: str) -> None:
    assert not assess(text).present


@pytest.mark.parametrize(
    ("text", "department"),
    [
        ("燃气泄漏了", Department.ENGINEERING),
        ("被困电梯", Department.ENGINEERING),
        ("有人打架", Department.SECURITY),
        ("smoke everywhere", Department.SECURITY),
        ("someone fainted", Department.SECURITY),
        ("live wire on the path", Department.ENGINEERING),
    ],
)
def test_technical_emergencies_go_to_engineering_others_to_security(
    text: str, department: Department
) -> None:
    assert assess(text).department is department


@pytest.mark.parametrize(
    ("now", "over"),
    [
        ("整栋楼现在都没水,做不了饭", "昨天停了半天水,为什么不提前通知"),
        ("The lifts in tower 3 are out of service", "The lifts were out of service last week"),
    ],
)
def test_basic_living_disrupted_now_is_high_and_not_once_it_is_over(
    classifier: Classifier, now: str, over: str
) -> None:
    assert classifier.predict([now])[0].urgency is Urgency.HIGH
    assert classifier.predict([over])[0].urgency is not Urgency.HIGH


class Calm:
    """A model that reads every text as a lift fault, `normal`: what the rules add shows."""

    version = "calm"

    def predict(self, texts: list[str]) -> list[Prediction]:  # type: ignore[override]
        return [
            Prediction(
                Nature.DISSATISFACTION,
                Category.EQUIPMENT,
                Urgency.NORMAL,
                Department.ENGINEERING,
                {"nature": 0.9, "category": 0.9, "urgency": 0.6, "department": 0.9},
            )
            for _ in texts
        ]


# Someone shut in a lift and out again, told today: the lift has just trapped someone.
TRAPPED_JUST_NOW = [
    "my mother was stuck in the lift for ten minutes",
    "our neighbour's boy was trapped in the elevator for twenty minutes this morning",
    "我妈刚才在电梯里被困了二十分钟",
    "我爸被困在电梯里半个多小时,后来终于放出来了",
]
# The same with an earlier day named: over, and the generated tie-breakers say `normal`.
TRAPPED_DAYS_AGO = [
    "yesterday my mother was stuck in the lift for ten minutes",
    "上周我爸在电梯里被困了半小时,后来自己出来了",
]
# Still inside: an emergency, however the time is told; a spell told as past but
# with help not come yet may not have ended either (the review's case, session 8).
STILL_TRAPPED = [
    "my son has been stuck in the lift for twenty minutes",
    "电梯困人十分钟了还没人来",
    "我妈被困在电梯里了",
    "someone was trapped in the lift for 20 minutes and nobody has come yet",
    "my dad was stuck in the lift for 15 mins and no one came",
    "我妈刚才在电梯里被困了十分钟，还没人来",
    "刚才电梯里困了人,困了十分钟,还没有人来",
]


@pytest.mark.parametrize("text", TRAPPED_JUST_NOW)
def test_a_trapping_that_just_ended_is_high_not_an_emergency(
    text: str, classifier: Classifier
) -> None:
    assert not assess(text).present
    pred = RuledClassifier(Calm()).predict([text])[0]
    assert pred.category is Category.EQUIPMENT
    assert pred.urgency is Urgency.HIGH
    packaged = classifier.predict([text])[0]
    assert packaged.category is not Category.EMERGENCY
    assert packaged.urgency is Urgency.HIGH


@pytest.mark.parametrize("text", TRAPPED_DAYS_AGO)
def test_a_trapping_days_ago_is_neither_an_emergency_nor_raised(text: str) -> None:
    assert not assess(text).present
    assert RuledClassifier(Calm()).predict([text])[0].urgency is Urgency.NORMAL


@pytest.mark.parametrize("text", STILL_TRAPPED)
def test_someone_still_trapped_is_an_emergency(text: str, classifier: Classifier) -> None:
    assert assess(text).present
    assert RuledClassifier(Calm()).predict([text])[0].category is Category.EMERGENCY
    assert classifier.predict([text])[0].category is Category.EMERGENCY


def test_a_trapping_named_as_a_risk_is_not_raised() -> None:
    pred = RuledClassifier(Calm()).predict(["万一有人被困在电梯里怎么办"])[0]
    assert pred.category is Category.EQUIPMENT
    assert pred.urgency is Urgency.NORMAL


# A spell told with "was ... for ten minutes" is over only for someone shut in a lift:
# smoke, a fire or a break-in told so may still be going on, and stays an emergency.
OTHER_DANGERS_TOLD_AS_A_SPELL = [
    "there was smoke in the stairwell for ten minutes and nobody came",
    "the kitchen next door was on fire for ten minutes, please come",
    "a man was trying to break into my flat for 10 minutes, he is still outside",
]


@pytest.mark.parametrize("text", OTHER_DANGERS_TOLD_AS_A_SPELL)
def test_another_danger_told_as_a_spell_stays_an_emergency(
    text: str, classifier: Classifier
) -> None:
    assert assess(text).present
    assert RuledClassifier(Calm()).predict([text])[0].category is Category.EMERGENCY
    assert classifier.predict([text])[0].category is Category.EMERGENCY


# Session 9: the lift named earlier in the sentence, then someone "stuck" with no "in
# the lift" after it; and a lift that "broke down" as a "high" situation now. Written
# for this test, not taken from any training or evaluation text.
LIFT_NAMED_EARLIER_JUST_OVER = [
    "the lift broke down again and my mother was stuck for ten minutes",
    "the elevator in block b stopped again and two kids were stuck for half an hour",
    "Our lift jammed between the 4th and 5th floor, my elderly father was stuck for 20 minutes",
]
LIFT_NAMED_EARLIER_STILL_STUCK = [
    "the lift broke down and my mother is stuck",
    "elevator stopped on 7, my son is stuck and crying",
]
LIFT_BROKE_DOWN_NOW = [
    "the lift in tower 2 broke down again",
    "Both elevators have broken down, we are on the 18th floor",
]
LIFT_FAULTS_NOT_TRAPPINGS = [
    "the lift door keeps getting stuck",
    "the elevator button is stuck again",
    "the lift broke down last week, it works now",
]


@pytest.mark.parametrize("text", LIFT_NAMED_EARLIER_JUST_OVER)
def test_someone_stuck_after_the_lift_is_named_and_out_again_is_high(
    text: str, classifier: Classifier
) -> None:
    assert not assess(text).present
    assert RuledClassifier(Calm()).predict([text])[0].urgency is Urgency.HIGH
    packaged = classifier.predict([text])[0]
    assert packaged.category is not Category.EMERGENCY
    assert packaged.urgency is Urgency.HIGH


@pytest.mark.parametrize("text", LIFT_NAMED_EARLIER_STILL_STUCK)
def test_someone_stuck_after_the_lift_is_named_still_inside_is_an_emergency(
    text: str, classifier: Classifier
) -> None:
    danger = assess(text)
    assert danger.present
    assert danger.department is Department.ENGINEERING
    assert classifier.predict([text])[0].category is Category.EMERGENCY


@pytest.mark.parametrize("text", LIFT_BROKE_DOWN_NOW)
def test_a_lift_that_broke_down_is_high(text: str) -> None:
    assert RuledClassifier(Calm()).predict([text])[0].urgency is Urgency.HIGH


@pytest.mark.parametrize("text", LIFT_FAULTS_NOT_TRAPPINGS)
def test_a_stuck_door_or_a_breakdown_last_week_is_not_raised(text: str) -> None:
    assert not assess(text).present
    assert RuledClassifier(Calm()).predict([text])[0].urgency is Urgency.NORMAL


# Review of rules-5 (session 9): someone "stuck" after a lift is named, but not in it:
# kept upstairs by a lift that is out, or "stuck with" a bill. Not shut in a lift, so
# not an emergency (each was not one before rules-5). Written for this test.
LIFT_NAMED_SOMEONE_STUCK_ELSEWHERE = [
    "The lift has been out for 3 days and my elderly mother is stuck on the 20th floor",
    "the lift has been broken for a week, people are stuck upstairs",
    "elevator broken again, we are stuck with the repair bill",
]


@pytest.mark.parametrize("text", LIFT_NAMED_SOMEONE_STUCK_ELSEWHERE)
def test_someone_stuck_elsewhere_than_in_the_lift_is_not_an_emergency(
    text: str, classifier: Classifier
) -> None:
    assert not assess(text).present
    assert RuledClassifier(Calm()).predict([text])[0].category is not Category.EMERGENCY
    assert classifier.predict([text])[0].category is not Category.EMERGENCY


def test_someone_stuck_on_a_floor_after_the_lift_stopped_stays_an_emergency(
    classifier: Classifier,
) -> None:
    """Unclear whether they are in the lift: an emergency (recall first); out for days,
    nobody is in it."""
    text = "the lift stopped and my son is stuck on the 7th floor"
    assert assess(text).present
    assert classifier.predict([text])[0].category is Category.EMERGENCY


# Review of session 9 (session 10, rules-6). Written for these tests, not taken from the
# training data, the generator or the real messages.
# A lift out of service for a while is the taxonomy's "high" (a lift out of service):
# "has been out", "have been broken" were not read as such.
LIFT_OUT_FOR_A_WHILE = [
    "The lift has been out for 3 days",
    "our elevator has been down since Monday, we live on 17",
    "both lifts have been out of order all week",
    "the lift in block 4 has been out of service for two days, please send someone",
]
# Narrowed: a lamp in the lift, an outage told as over, the fire itself being out.
NOT_A_LIFT_OUT = [
    "the light in the lift has been out for a week",
    "the bulbs in the lift have been out since Friday",
    "the lift had been out but it works fine now",
]


@pytest.mark.parametrize("text", LIFT_OUT_FOR_A_WHILE)
def test_a_lift_that_has_been_out_is_high(text: str) -> None:
    assert not assess(text).present
    assert RuledClassifier(Calm()).predict([text])[0].urgency is Urgency.HIGH


@pytest.mark.parametrize("text", NOT_A_LIFT_OUT)
def test_a_lamp_out_in_the_lift_or_an_outage_over_is_not_raised(text: str) -> None:
    assert not assess(text).present
    assert RuledClassifier(Calm()).predict([text])[0].urgency is Urgency.NORMAL


def test_a_fire_said_to_be_out_is_not_an_emergency(classifier: Classifier) -> None:
    text = "the fire in the bin room has been out for an hour, who is cleaning up the mess?"
    assert not assess(text).present
    assert classifier.predict([text])[0].category is not Category.EMERGENCY
    burning = "the fire in the bin room was out of control, it is spreading to the cars"
    assert assess(burning).present


# A span of days after the lift is named is an outage only when the lift is said to be
# out: a lift that has misbehaved for days and now holds someone is a trapping.
LIFT_MISBEHAVING_FOR_DAYS_THEN_SOMEONE_STUCK = [
    "the lift has been making a grinding noise for two weeks and now my dad is stuck",
    "elevator has been jerking for 3 days, today my wife got stuck, please come",
]


@pytest.mark.parametrize("text", LIFT_MISBEHAVING_FOR_DAYS_THEN_SOMEONE_STUCK)
def test_a_span_of_days_alone_does_not_hide_a_trapping(text: str, classifier: Classifier) -> None:
    danger = assess(text)
    assert danger.present
    assert danger.department is Department.ENGINEERING
    assert classifier.predict([text])[0].category is Category.EMERGENCY


# Stuck somewhere other than a lift, with no danger named: the model alone called some of
# these emergencies; the product path (model and rules) must not.
STUCK_ELSEWHERE = [
    "stuck in traffic",
    "stuck in traffic, can someone let the plumber into my flat",
    "Stuck in a jam on the ring road, please ask the cleaner to come tomorrow instead",
    "I'm stuck at home, the lift is broken again",
    "stuck at work till 9, can the guard take in my delivery",
    "被困在家里了，电梯坏了三天",
    "我被困在家两天了，电梯一直没修好",
    "堵车了，快递能不能先放物业",
]


@pytest.mark.parametrize("text", STUCK_ELSEWHERE)
def test_stuck_elsewhere_is_not_an_emergency_on_the_product_path(
    text: str, classifier: Classifier
) -> None:
    assert not assess(text).present
    pred = classifier.predict([text])[0]
    assert pred.category is not Category.EMERGENCY
    assert pred.urgency is not Urgency.CRITICAL


def test_stuck_elsewhere_does_not_hide_a_danger_beside_it(classifier: Classifier) -> None:
    for text in (
        "stuck in traffic, my son just called: he is stuck in the lift at home",
        "我被困在家里，楼道着火了",
    ):
        assert assess(text).present
        assert classifier.predict([text])[0].category is Category.EMERGENCY


# Review of rules-6 (session 10): "stuck at home" / "被困在家" is calm only where the lift
# keeps someone at home; without the lift, someone shut in at home with water rising or
# smoke inside is the model's and the rules' to call, as before rules-6.
SHUT_IN_AT_HOME_WITH_A_DANGER = [
    "We are stuck at home, water is pouring in and rising fast",
    "孩子被困在家里，门打不开，里面有烟",
    "洪水进屋了，我们被困在家里",
]


@pytest.mark.parametrize("text", SHUT_IN_AT_HOME_WITH_A_DANGER)
def test_shut_in_at_home_without_the_lift_stays_an_emergency(
    text: str, classifier: Classifier
) -> None:
    assert classifier.predict([text])[0].category is Category.EMERGENCY
