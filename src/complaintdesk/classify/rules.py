"""The emergency rule layer: never miss an emergency, whatever the model thinks.

Anything that endangers people or property *now* is ``emergency`` + ``critical``
(taxonomy tie-breaker), even when the model is unsure. The rules look for danger words
in Chinese and English, after masking harmless compounds that contain them (a fire
extinguisher, a smoke detector, a neighbour who smokes, the fire lane), and they stand
down when the danger is over ("the power was off last night", "已经扑灭了").

The rule layer wraps any classifier: :class:`RuledClassifier`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from complaintdesk.classify.base import Classifier, Prediction
from complaintdesk.classify.features import normalise
from complaintdesk.domain.taxonomy import Category, Department, Nature, Urgency

RULE_CONFIDENCE = 0.9
"""Confidence the rule layer vouches for when it forces an emergency."""

# Harmless compounds masked before looking for danger words.
_SAFE = re.compile(
    r"灭火器|消防栓|消防门|消防通道|消防车道|消防水带|消防应急灯|应急灯|烟感|烟雾报警器|火灾报警器|报警器|抽烟|吸烟|烟味|烟头|烟花|香烟|"
    r"油烟|火锅|上火|火车|发火|火气|着急上火|充电桩|电火花塞|"
    r"fire (extinguisher|door|lane|escape|exit|hose|alarm|safety|drill|brigade access)|"
    r"smoke (detector|alarm)s?|smok(es|ing|er)|(they|people|he|she|who|neighbou?rs?|below|upstairs) smoke|cigarette|fireworks?|fired|"  # noqa: E501
    r"gas (bill|meter reading|fee|charge|price)|"
    r"trapped (wind|feeling)|falling (apart|behind)|fight(ing)? (for|with the) (management|company)"
)

# Present danger, by the department that acts first.
_DANGER_SECURITY = re.compile(
    r"着火|起火|失火|火灾|火苗|火势|烧起来|烧着了|冒烟|浓烟|黑烟|全是烟|烟雾|"
    r"打架|斗殴|持刀|拿着刀|拿刀|砍人|打人|行凶|撬门|撬锁|正在撬|入室|闯入|尾随|可疑人|"
    r"晕倒|昏倒|摔倒|跌倒|叫他没反应|叫她没反应|叫不醒|昏过去|昏迷|晕过去|倒地|不省人事|摔倒.{0,8}起不来|流血|出血|受伤|抽搐|心脏病|没有呼吸|"
    r"正在往下扔|往下扔.{0,8}(砸|差点)|砸到人|快掉下来|随时会掉|正在往下掉|坠落|倒塌|塌了|"
    r"\bfire\b|on fire|flames|burning|smoke|"
    r"\bfight(ing)?\b|knife|stabb|attack|assault|intruder|break(ing)? in|trying to get in|following (kids|children)|"  # noqa: E501
    r"collapsed|fainted|unconscious|not responding|not breathing|bleeding|injur|heart attack|seizure|"  # noqa: E501
    r"fallen .{0,20}can'?t get up|about to fall|falling off|falling from|blow off|"
    r"throwing .{0,30}(missed|hit|nearly)"
)
# A cry for help with no named danger: present danger, department left to the model.
_DANGER_GENERIC = re.compile(
    r"救命|报警了|打了?110|打了?120|打了?119|快来人啊|"
    r"\bhelp ?!|\bsos\b|call(ed)? (999|911|110|119|120)|ambulance|police"
)
_DANGER_ENGINEERING = re.compile(
    r"燃气味|煤气味|天然气味|漏气|燃气泄漏|煤气泄漏|燃气管道.{0,6}漏|困人|被困|困在电梯|关在电梯|卡在电梯|电梯里出不来|电梯.{0,12}里面有人|"
    r"冒火花|火花|漏电|被电|触电|带电|爆管|水管爆|爆裂|水漫|淹了|车库进水|地下室进水|电梯井进水|进水了.{0,8}越来越|水越来越深|往电梯井|"
    r"gas (smell|leak)|smell(s|ing)? (of )?gas|smell gas|hissing|trapped|stuck in (the|a) (lift|elevator)|"  # noqa: E501
    r"stuck (inside|between floors)|people inside|with people in|sparking|sparks|live wire|it'?s live|"  # noqa: E501
    r"\blive\b.{0,10}(cable|wire)|electric shock|burst|flooding|flooded|gushing|pouring into"
)
# The danger is over (an explicit end), or only in the past (time words, no present).
_OVER = re.compile(
    r"已经扑灭|已经灭了|火灭了|扑灭了|已经修好|修好了|已经处理|处理完了|已经救出|救出来了|已经出来了|水已经退|水退了|已经退了|"
    r"来电了|恢复了|已经走了|已经离开|人已经走|没事了|"
    r"\bit'?s out\b|is out now|(has|have) been (sorted|fixed|repaired)|fixed it|is gone|gone now|"
    r"has drained|drained|got out|were rescued|was rescued|back on now|all clear|no longer"
)
# A danger named as a risk ("存在火灾隐患", "a fire hazard") is not one happening now.
_RISK = re.compile(
    r"隐患|万一|一旦|如果|假如|风险|可能会|容易引发|"
    r"hazard|\brisk\b|if there (is|was|were) a|in case of|could (cause|start)|waiting to happen"
)
_PAST = re.compile(
    r"昨晚|昨天|前天|上周|上星期|上个月|上次|之前|去年|那天|前几天|"
    r"last (night|week|month|year|time)|yesterday|the other day|ago|on (monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday)( night)?|since the|earlier this"
)
_PRESENT = re.compile(
    r"正在|还在|现在还|仍然|依然|越来越|马上|赶紧|快来|right now|still (there|burning|smoking|trapped|stuck|"  # noqa: E501
    r"leaking|pouring|sparking)|at the moment|is happening|hurry|come quickly|send someone now|now!"
)

_ANY_DANGER = re.compile(
    "|".join(f"(?:{p.pattern})" for p in (_DANGER_SECURITY, _DANGER_ENGINEERING, _DANGER_GENERIC))
)

# The taxonomy's "high": basic living disrupted or damage spreading, now.
_HIGH = re.compile(
    r"停水|没水|没有水|停电|没电|电梯.{0,6}(坏|停|不动|不能用|故障|停运)|正在漏|往下滴|一直在滴|在漏水|漏到我家|"
    r"反水|冒污水|下水.{0,4}堵|被盗|被撬|"
    r"no (running )?water|water (is |has been )?(off|cut)|no power|power cut|no electricity|"
    r"(lift|elevator)s? (is |are )?(down|broken|out of (order|service)|not working|stopped)|"
    r"leaking into|dripping from|through (the|our) ceiling|sewage|backing up|broken into|burgl|break-in"  # noqa: E501
)


@dataclass(frozen=True)
class Danger:
    """What the rules found in one text."""

    present: bool
    department: Department | None
    over: bool


def assess(text: str) -> Danger:
    """Whether ``text`` reports a danger happening now, and who acts first on it."""
    t = normalise(text)
    if not _ANY_DANGER.search(t):  # one scan settles most texts
        return Danger(False, None, False)
    sec = _DANGER_SECURITY.search(t)
    eng = _DANGER_ENGINEERING.search(t)
    if sec or eng:  # mask harmless compounds only when a danger word was seen (speed)
        t = _SAFE.sub(" ", t)
        sec = _DANGER_SECURITY.search(t)
        eng = _DANGER_ENGINEERING.search(t)
    if not sec and not eng:
        if _DANGER_GENERIC.search(t) and not _OVER.search(t):
            return Danger(True, None, False)
        return Danger(False, None, False)
    over = bool(_OVER.search(t)) or (
        bool(_PAST.search(t) or _RISK.search(t)) and not _PRESENT.search(t)
    )
    if sec and eng:
        department = Department.SECURITY if sec.start() <= eng.start() else Department.ENGINEERING
        # Fire and smoke are security's even when a cable or gas is also named.
        if re.search(r"着火|起火|火灾|冒烟|浓烟|fire|smoke|flames", t):
            department = Department.SECURITY
    else:
        department = Department.SECURITY if sec else Department.ENGINEERING
    return Danger(not over, department, over)


def is_high_now(text: str) -> bool:
    """Whether ``text`` names one of the taxonomy's "high" situations as happening now."""
    t = normalise(text)
    if not _HIGH.search(t):
        return False
    return not (_OVER.search(t) or (_PAST.search(t) and not _PRESENT.search(t)))


def apply(pred: Prediction, danger: Danger, high: bool = False) -> Prediction:
    """The taxonomy's emergency rules (and its list of "high" situations) over one
    model prediction."""
    emergency = (
        danger.present or pred.category is Category.EMERGENCY or pred.urgency is Urgency.CRITICAL
    )
    if not emergency:
        if high and pred.urgency is Urgency.NORMAL and pred.nature is not Nature.CONSULTING:
            conf = {**pred.confidence, "urgency": max(pred.confidence.get("urgency", 0.0), 0.8)}
            return replace(pred, urgency=Urgency.HIGH, confidence=conf)
        return pred
    conf = dict(pred.confidence)
    department = pred.department
    if danger.present and danger.department is not None:
        department = danger.department
    elif department not in (Department.ENGINEERING, Department.SECURITY):
        department = danger.department or Department.SECURITY
    if danger.present and danger.department is None:  # a bare cry for help
        conf["department"] = min(conf.get("department", 0.0), 0.5)
    if danger.present:
        for name in ("category", "urgency", "department"):
            conf[name] = max(conf.get(name, 0.0), RULE_CONFIDENCE)
    if pred.category is not Category.EMERGENCY and not danger.present:
        conf["category"] = min(conf.get("category", 0.0), 0.5)  # model split: review it
    nature = pred.nature
    if nature is Nature.CONSULTING:
        nature = Nature.HELP_SEEKING
    return replace(
        pred,
        nature=nature,
        category=Category.EMERGENCY,
        urgency=Urgency.CRITICAL,
        department=department,
        confidence=conf,
    )


class RuledClassifier:
    """A classifier with the emergency rule layer on top."""

    def __init__(self, inner: Classifier) -> None:
        self.inner = inner

    @property
    def version(self) -> str:
        return f"{self.inner.version}+rules-2"

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        preds = self.inner.predict(texts)
        version = self.version
        return [
            replace(apply(p, assess(t), is_high_now(t)), model_version=version)
            for p, t in zip(preds, texts, strict=True)
        ]
