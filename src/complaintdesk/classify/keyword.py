"""A transparent keyword classifier: the fallback when no trained model is packaged.

It applies the taxonomy's tie-breakers with word lists in Chinese and English. It is
deliberately simple; its confidence is low unless a rule fired clearly, so that
what it is unsure of goes to the review queue.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from complaintdesk.classify.base import Prediction
from complaintdesk.domain.taxonomy import Category, Department, Nature, Urgency

VERSION = "keyword-1"

_EMERGENCY = (
    "火",
    "冒烟",
    "烟雾",
    "燃气",
    "煤气",
    "天然气",
    "困在电梯",
    "被困",
    "关在电梯",
    "电梯里出不来",
    "晕倒",
    "昏倒",
    "受伤",
    "流血",
    "打架",
    "持刀",
    "小偷正在",
    "漏电",
    "电线冒火花",
    "火花",
    "水漫",
    "淹",
    "爆管",
    "坠落",
    "掉下来",
    "倒塌",
    "救命",
    "fire",
    "smoke",
    "gas leak",
    "smell of gas",
    "gas smell",
    "trapped",
    "stuck in the lift",
    "stuck in the elevator",
    "collapsed",
    "fainted",
    "unconscious",
    "injured",
    "bleeding",
    "sparking",
    "sparks",
    "live wire",
    "flooding",
    "intruder",
    "fight",
    "knife",
    "falling",
    "help!",
    "emergency",
)
_PAST = (
    "昨晚",
    "昨天",
    "上周",
    "已经好了",
    "已恢复",
    "last night",
    "yesterday",
    "last week",
    "was off",
)
_CATEGORY_WORDS: dict[Category, tuple[str, ...]] = {
    Category.SERVICE_ATTITUDE: (
        "态度",
        "翻白眼",
        "不耐烦",
        "骂",
        "吼",
        "冷漠",
        "不理",
        "爱答不理",
        "推诿",
        "不归我们管",
        "rude",
        "attitude",
        "shouted",
        "ignored",
        "impolite",
        "not my department",
        "unprofessional",
    ),
    Category.MANAGEMENT: (
        "物业费",
        "收费",
        "费用",
        "账单",
        "发票",
        "退款",
        "押金",
        "公摊",
        "停车位",
        "车位",
        "装修",
        "规定",
        "制度",
        "合同",
        "维修基金",
        "公共收益",
        "门禁卡",
        "fee",
        "charge",
        "bill",
        "invoice",
        "refund",
        "deposit",
        "parking space",
        "renovat",
        "policy",
        "rule",
        "contract",
    ),
    Category.NEIGHBORHOOD: (
        "噪音",
        "吵",
        "邻居",
        "楼上",
        "楼下",
        "狗",
        "宠物",
        "违建",
        "占用",
        "堆放",
        "消防通道",
        "高空抛物",
        "noise",
        "noisy",
        "neighbour",
        "neighbor",
        "dog",
        "pet",
        "barking",
        "blocking",
        "fire lane",
        "thrown from",
    ),
    Category.BUILDING_QUALITY: (
        "渗水",
        "漏水",
        "裂缝",
        "空鼓",
        "墙皮",
        "防水",
        "瓷砖",
        "发霉",
        "返潮",
        "leak",
        "seepage",
        "crack",
        "damp",
        "mould",
        "mold",
        "tile",
        "waterproof",
    ),
    Category.SERVICE_QUALITY: (
        "垃圾",
        "保洁",
        "打扫",
        "卫生",
        "快递",
        "包裹",
        "丢",
        "被偷",
        "偷了",
        "划了",
        "划痕",
        "蟑螂",
        "老鼠",
        "又坏了",
        "修了跟没修",
        "没修好",
        "绿化",
        "草坪",
        "修剪",
        "rubbish",
        "garbage",
        "trash",
        "cleaning",
        "dirty",
        "parcel",
        "package",
        "stolen",
        "scratched",
        "cockroach",
        "rats",
        "pest",
        "broke again",
        "not fixed properly",
    ),
    Category.EQUIPMENT: (
        "电梯",
        "灯",
        "停水",
        "水压",
        "停电",
        "空调",
        "门禁",
        "道闸",
        "对讲",
        "水泵",
        "监控",
        "消防栓",
        "充电桩",
        "lift",
        "elevator",
        "light",
        "water pressure",
        "no water",
        "power cut",
        "power outage",
        "air condition",
        "intercom",
        "gate",
        "barrier",
        "cctv",
        "charger",
        "pump",
    ),
}
_BLAME = (
    "还没",
    "又",
    "一直",
    "没人",
    "怎么管",
    "什么用",
    "不管",
    "投诉",
    "几天了",
    "到底",
    "still",
    "again",
    "nobody",
    "no one came",
    "what do we pay",
    "never",
    "useless",
    "complain",
    "unacceptable",
    "ridiculous",
)
_CONSULT = (
    "吗?",
    "吗?",
    "请问",
    "咨询",
    "建议",
    "能不能",
    "可以",
    "什么时候",
    "怎么办理",
    "is it possible",
    "can i",
    "when is",
    "how do i",
    "suggest",
    "just asking",
    "?",
)
_HIGH = (
    "停水",
    "停电",
    "没水",
    "没电",
    "电梯停",
    "电梯坏",
    "正在漏",
    "一直在漏",
    "往下滴",
    "反水",
    "堵了",
    "被撬",
    "no water",
    "no power",
    "power cut",
    "lift is broken",
    "elevator is broken",
    "leaking into",
    "sewage",
    "break-in",
    "broken into",
)


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _any(text: str, words: Sequence[str]) -> bool:
    return any(w in text for w in words)


class KeywordClassifier:
    """Keyword rules over NFKC-normalised, lower-cased text."""

    @property
    def version(self) -> str:
        return VERSION

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return [self._one(_normalise(t)) for t in texts]

    def _one(self, text: str) -> Prediction:
        emergency = _any(text, _EMERGENCY) and not _any(text, _PAST)
        if emergency:
            category, hit = Category.EMERGENCY, True
        else:
            category, hit = Category.SERVICE_QUALITY, False
            for cat, words in _CATEGORY_WORDS.items():
                if _any(text, words):
                    category, hit = cat, True
                    break
        blame = _any(text, _BLAME)
        if category is Category.SERVICE_ATTITUDE or (blame and not emergency):
            nature = Nature.DISSATISFACTION
        elif _any(text, _CONSULT) and not emergency:
            nature = Nature.CONSULTING
        else:
            nature = Nature.HELP_SEEKING
        if emergency:
            urgency = Urgency.CRITICAL
        elif _any(text, _HIGH):
            urgency = Urgency.HIGH
        elif nature is Nature.CONSULTING:
            urgency = Urgency.LOW
        else:
            urgency = Urgency.NORMAL
        department = _department(category, text)
        base = 0.7 if hit else 0.4
        return Prediction(
            nature=nature,
            category=category,
            urgency=urgency,
            department=department,
            confidence={
                "nature": 0.65 if blame or nature is not Nature.HELP_SEEKING else 0.55,
                "category": 0.95 if emergency else base,
                "urgency": 0.9 if emergency else 0.6,
                "department": base,
            },
            model_version=VERSION,
        )


_SECURITY_WORDS = (
    "火",
    "烟",
    "打架",
    "持刀",
    "小偷",
    "偷",
    "晕倒",
    "受伤",
    "停车",
    "车",
    "fire",
    "smoke",
    "fight",
    "knife",
    "intruder",
    "stolen",
    "car",
    "injured",
    "fainted",
    "falling",
)


def _department(category: Category, text: str) -> Department:
    if category is Category.SERVICE_ATTITUDE:
        return Department.CUSTOMER_SERVICE
    if category is Category.MANAGEMENT:
        money = (
            "费",
            "账单",
            "发票",
            "退款",
            "押金",
            "基金",
            "收益",
            "fee",
            "bill",
            "charge",
            "refund",
            "invoice",
            "deposit",
        )
        return Department.FINANCE if _any(text, money) else Department.CUSTOMER_SERVICE
    if category is Category.NEIGHBORHOOD:
        return Department.SECURITY
    if category is Category.EMERGENCY:
        return Department.SECURITY if _any(text, _SECURITY_WORDS) else Department.ENGINEERING
    if category is Category.SERVICE_QUALITY:
        if _any(
            text,
            (
                "垃圾",
                "保洁",
                "打扫",
                "卫生",
                "蟑螂",
                "老鼠",
                "rubbish",
                "garbage",
                "trash",
                "clean",
                "dirty",
                "pest",
                "cockroach",
                "rats",
            ),
        ):
            return Department.CLEANING
        if _any(text, ("绿化", "草坪", "修剪", "树", "lawn", "tree", "prun")):
            return Department.LANDSCAPING
        if _any(text, ("快递", "包裹", "parcel", "package", "mail")):
            return Department.CUSTOMER_SERVICE
        if _any(text, _SECURITY_WORDS):
            return Department.SECURITY
    return Department.ENGINEERING
