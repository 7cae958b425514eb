"""Escalation risk as owners say it, and repeats by matter (domain rules, no database).

The phrasings here were written for these tests, after the patterns, and are not the
examples the patterns were written from.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from complaintdesk.domain import rules
from complaintdesk.domain.rules import PriorComplaint, Risk
from complaintdesk.domain.taxonomy import Category, Nature

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
W, M, L, G = Risk.WITHHOLD_FEES, Risk.MEDIA, Risk.LAWSUIT, Risk.GOVERNMENT


@pytest.mark.parametrize(
    "text, expected",
    [
        # withholding fees, in many phrasings
        ("从这个月开始物业费我一分都不会交", {W}),
        ("你们不把电梯修好，我们全楼就集体停交管理费", {W}),
        ("楼上漏水三个月没人管，今年的物业费拒绝缴纳", {W}),
        ("这物业费交了有什么用，以后不交了", {W}),
        ("I won't be paying my service charge this quarter", {W}),
        ("We are holding back the management fees until the leak is sorted", {W}),
        ("Not one more cent of HOA dues until you fix the gate", {W}),
        ("I've cancelled my direct debit for the fees", {W}),
        # media
        ("再不处理我就发微博让大家评评理", {M}),
        ("视频我已经拍好了，准备传到网上", {M}),
        ("I'm sending the photos to the local news", {M}),
        ("This is going on TikTok tonight", {M}),
        # lawyers and courts
        ("我们已经委托律师发函", {L}),
        ("不赔偿的话我们就去法院告你们", {L}),
        ("Expect a letter from my attorney", {L}),
        ("We will be filing in small claims", {L}),
        # the council, the hotline, the housing bureau, petitions
        ("I'm going to report you to the council", {G}),
        ("my next call is to the local council", {G}),
        ("Going straight to my councillor about this", {G}),
        ("再不修我就打12345", {G}),
        ("我已经向住建局反映了", {G}),
        ("这事我要去房管局说清楚", {G}),
        ("我们小区业主准备集体信访", {G}),
        # several at once
        ("物业费不交了，我还要找媒体和律师", {W, M, L}),
        ("Stop paying and tell the council, that's what we'll do", {W, G}),
        # nothing: questions about fees, a company's own condition, plain requests
        ("请问今年的物业费可以分期交吗", set()),
        ("物业通知说不交停车费就不让进", set()),
        ("How much is the service charge for a two-bed flat?", set()),
        ("Is the council tax included in the fee?", set()),
        ("走廊灯坏了，麻烦派人来换一下", set()),
        ("The lift is making a strange noise, please check it", set()),
    ],
)
def test_risk_phrasings(text: str, expected: set[Risk]) -> None:
    assert set(rules.risk_flags(text)) == expected


def _prior(
    id_: int,
    category: Category,
    text: str,
    days_before: float,
    nature: Nature = Nature.HELP_SEEKING,
    location: str | None = None,
) -> PriorComplaint:
    return PriorComplaint(
        id_, category, nature, T0 - timedelta(days=days_before), True, text, location
    )


def _repeat(
    prior: list[PriorComplaint], text: str, category: Category, location: str | None = None
) -> int | None:
    found = rules.find_repeat(
        prior, category=category, received_at=T0, text=text, location=location
    )
    return found.id if found is not None else None


class TestRepeatsByMatter:
    def test_back_reference_links_across_categories(self) -> None:
        prior = [
            _prior(1, Category.EQUIPMENT, "5号楼的电梯坏了，麻烦派人修", 9),
            _prior(2, Category.MANAGEMENT, "请问停车月卡怎么办理", 3, Nature.CONSULTING),
        ]
        # labelled service_quality (a repair that failed), the earlier one equipment
        assert _repeat(prior, "今天又停了，上周刚修过", Category.SERVICE_QUALITY) == 1

    def test_same_matter_in_other_words_and_language(self) -> None:
        prior = [_prior(7, Category.EQUIPMENT, "电梯一直停在12楼不动", 4)]
        assert _repeat(prior, "The lift in our block is down again", Category.EMERGENCY) == 7

    def test_similar_text_is_a_repeat_without_a_back_reference(self) -> None:
        prior = [_prior(3, Category.BUILDING_QUALITY, "卫生间天花板往下渗水，墙面发霉", 12)]
        text = "卫生间天花板渗水，墙面都发霉了"
        assert _repeat(prior, text, Category.EQUIPMENT) == 3

    def test_same_place_and_a_back_reference(self) -> None:
        prior = [_prior(4, Category.SERVICE_QUALITY, "垃圾没人收", 6, location="3栋架空层")]
        assert _repeat(prior, "还是没人清理", Category.SERVICE_QUALITY, "3栋 架空层") == 4

    def test_unanswered_question_links_to_the_question(self) -> None:
        prior = [
            _prior(5, Category.EQUIPMENT, "车库入口的灯不亮", 20),
            _prior(
                6,
                Category.MANAGEMENT,
                "Can I renovate my kitchen on Sundays?",
                8,
                Nature.CONSULTING,
            ),
        ]
        assert (
            _repeat(prior, "Nobody answered me, it's been a week", Category.SERVICE_ATTITUDE) == 6
        )
        assert _repeat(prior, "问了一周了还是没人回复", Category.SERVICE_ATTITUDE) == 6

    def test_a_different_matter_is_not_a_repeat(self) -> None:
        prior = [_prior(8, Category.EQUIPMENT, "门禁刷卡没反应", 2)]
        # same category, nothing in common, no reference back
        assert _repeat(prior, "楼道的声控灯坏了", Category.EQUIPMENT) is None
        # a back-reference that names a matter the earlier complaint did not
        assert _repeat(prior, "楼上又在装修，吵得不行", Category.NEIGHBORHOOD) is None

    def test_outside_the_window_is_not_a_repeat(self) -> None:
        prior = [_prior(9, Category.EQUIPMENT, "电梯坏了", 31)]
        assert _repeat(prior, "电梯又坏了", Category.EQUIPMENT) is None

    def test_the_closest_link_wins(self) -> None:
        prior = [
            _prior(10, Category.EQUIPMENT, "水压太低，洗澡都没法洗", 15),
            _prior(11, Category.EQUIPMENT, "楼道灯不亮", 2),
        ]
        assert _repeat(prior, "水压还是很低", Category.EQUIPMENT) == 10

    def test_the_upgrade_follows_the_link(self) -> None:
        question = _prior(12, Category.MANAGEMENT, "装修押金什么时候退", 10, Nature.CONSULTING)
        earlier = rules.find_repeat(
            [question],
            category=Category.SERVICE_ATTITUDE,
            received_at=T0,
            text="押金的事问了十天没人回复",
        )
        assert earlier is question
        assert rules.upgrades_on_repeat(Nature.CONSULTING, earlier) == (True, True)

    def test_words_of_the_matter(self) -> None:
        assert rules.refers_back("The leak is back again") and rules.refers_back("上次说好的呢")
        assert not rules.refers_back("楼道灯坏了")
        assert rules.unanswered("I never heard back") and not rules.unanswered("please call me")
        assert {"lift"} <= rules.matters("Elevator stuck") and {"lift"} <= rules.matters("电梯")
        assert rules.similarity("电梯坏了", "电梯坏了") == 1.0
        assert rules.similarity("电梯坏了", "the gate") == 0.0

    def test_matters_among_a_few_are_those_of_all_that_are_among_them(self) -> None:
        """find_repeat searches an earlier complaint for the new one's matters only."""
        text = "电梯又坏了，楼道漏水，物业费还照收 the lift and the gate"
        everything = rules.matters(text)
        assert {"lift", "leak", "fee", "access"} <= everything
        for among in ({"lift"}, {"lift", "noise"}, {"noise", "pet"}, set(), set(everything)):
            assert rules.matters(text, among=among) == everything & among
