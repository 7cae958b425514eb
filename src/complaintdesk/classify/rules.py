"""The emergency rule layer: never miss an emergency, whatever the model thinks.

Anything that endangers people or property *now* is ``emergency`` + ``critical``
(taxonomy tie-breaker), even when the model is unsure. The rules look for danger words
in Chinese and English, after masking harmless compounds that contain them (a fire
extinguisher, a smoke detector, a neighbour who smokes, the fire lane), and they stand
down when the danger is over ("the power was off last night", "已经扑灭了").

The rule layer wraps any classifier: :class:`RuledClassifier`.

Speed: every pattern runs behind a *prefilter*, a regex of the literal text that any of
its matches must contain (see :func:`prefilter`), and one prefilter over every danger
and "high" pattern settles most texts with a single scan. Prefilters only skip searches
that could not match, so they never change a decision.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

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

# The taxonomy's "high": basic living disrupted or damage spreading, now.
_HIGH = re.compile(
    r"停水|没水|没有水|停电|没电|电梯.{0,6}(坏|停|不动|不能用|故障|停运)|正在漏|往下滴|一直在滴|在漏水|漏到我家|"
    r"反水|冒污水|下水.{0,4}堵|被盗|被撬|"
    r"no (running )?water|water (is |has been )?(off|cut)|no power|power cut|no electricity|"
    r"(lift|elevator)s? (is |are )?(down|broken|out of (order|service)|not working|stopped)|"
    r"leaking into|dripping from|through (the|our) ceiling|sewage|backing up|broken into|burgl|break-in"  # noqa: E501
)


# Fire and smoke are security's even when a cable or gas is also named.
_FIRE_OR_SMOKE = re.compile(r"着火|起火|火灾|冒烟|浓烟|fire|smoke|flames")


# --- prefilters ----------------------------------------------------------------------
#
# Python's ``re`` tries the branches of a long alternation one after another at each
# position of the text: the danger pattern alone cost about 12 us per text, a third of
# what the whole model costs. But every branch needs some literal text to match: "着火", "fire",
# "电梯" for "电梯.{0,6}(坏|停|…)", "lift" or "elevator" for "(lift|elevator)s? (is )?down".
# A regex of those literals laid out as a trie (one branch per first character) scans
# several times faster, and the full pattern then runs only on the few texts where it
# matched. The literals are read from the pattern's own parse tree, so they cannot drift
# from the pattern.


def _parser() -> Any:
    """CPython's regex parser (``re._parser``), or None where it is not available."""
    try:
        return importlib.import_module("re._parser")
    except ImportError:
        return None


def _required(items: Any, sre: Any) -> set[str] | None:
    """A set of literal strings such that every match of the parsed regex ``items``
    contains at least one of them (the most selective such set found), or None.
    ``sre`` is the parser module, which also holds the opcodes."""
    candidates: list[set[str]] = []
    run: list[str] = []
    for op, av in items:
        if op is sre.LITERAL:
            run.append(chr(av))
            continue
        if run:
            candidates.append({"".join(run)})
            run = []
        found: set[str] | None = None
        if op is sre.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if not add_flags and not del_flags:
                found = _required(sub, sre)
        elif op is sre.BRANCH:
            found = set()
            for alternative in av[1]:
                part = _required(alternative, sre)
                if part is None:
                    found = None
                    break
                found |= part
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[0] >= 1:
            found = _required(av[2], sre)
        # Anything else (classes, ".", "\\b", optional parts, look-arounds) is not a
        # required literal; skipping it only makes the prefilter let more texts through.
        if found:
            candidates.append(found)
    if run:
        candidates.append({"".join(run)})
    if not candidates:
        return None
    return max(candidates, key=lambda s: (min(map(len, s)), -len(s)))


def _trie(words: Sequence[str]) -> str:
    """A regex matching any of ``words``, as a trie: ``(?:f(?:ire|lames)|s(?:moke|parks))``."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        if "" in node:  # a word ends here: its longer extensions add nothing to a search
            return ""
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items())]
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return emit(root)


def literals(*patterns: re.Pattern[str]) -> list[str] | None:
    """The literals one of which every match of any of ``patterns`` contains (none of
    them containing another), or None when some branch has no such literal."""
    sre = _parser()
    if sre is None:
        return None
    found: set[str] = set()
    for pattern in patterns:
        if pattern.flags & re.IGNORECASE:
            return None
        try:
            part = _required(sre.parse(pattern.pattern, pattern.flags), sre)
        except Exception:  # a parser that changed shape: run the full pattern instead
            return None
        if not part:
            return None
        found |= part
    kept: list[str] = []
    for word in sorted(found, key=lambda w: (len(w), w)):
        if not any(k in word for k in kept):
            kept.append(word)
    return kept


def prefilter(*patterns: re.Pattern[str]) -> re.Pattern[str] | None:
    """A regex that matches wherever any of ``patterns`` can (and also elsewhere), and
    is fast to search; None when no such regex is known."""
    words = literals(*patterns)
    return re.compile(_trie(words)) if words else None


class _Rule:
    """A pattern behind its prefilter: the same ``search``/``sub`` results, faster."""

    __slots__ = ("pattern", "pre")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.pre = prefilter(pattern)

    def search(self, text: str) -> re.Match[str] | None:
        if self.pre is not None and self.pre.search(text) is None:
            return None
        return self.pattern.search(text)

    def subn(self, repl: str, text: str) -> tuple[str, int]:
        if self.pre is not None and self.pre.search(text) is None:
            return text, 0
        return self.pattern.subn(repl, text)


_R_SAFE = _Rule(_SAFE)
_R_SECURITY = _Rule(_DANGER_SECURITY)
_R_ENGINEERING = _Rule(_DANGER_ENGINEERING)
_R_GENERIC = _Rule(_DANGER_GENERIC)
_R_OVER = _Rule(_OVER)
_R_RISK = _Rule(_RISK)
_R_PAST = _Rule(_PAST)
_R_PRESENT = _Rule(_PRESENT)
_R_HIGH = _Rule(_HIGH)
_R_FIRE_OR_SMOKE = _Rule(_FIRE_OR_SMOKE)

# One scan for every trigger: a text it does not match has no danger and no "high".
_TRIGGER = prefilter(_DANGER_SECURITY, _DANGER_ENGINEERING, _DANGER_GENERIC, _HIGH)


@dataclass(frozen=True)
class Danger:
    """What the rules found in one text."""

    present: bool
    department: Department | None
    over: bool


NO_DANGER = Danger(False, None, False)


def assess(text: str) -> Danger:
    """Whether ``text`` reports a danger happening now, and who acts first on it."""
    return _assess(normalise(text))


def _assess(t: str) -> Danger:
    """:func:`assess` on a normalised text."""
    sec = _R_SECURITY.search(t)
    eng = _R_ENGINEERING.search(t)
    if sec or eng:  # mask harmless compounds only when a danger word was seen (speed)
        t, masked = _R_SAFE.subn(" ", t)
        if masked:  # else the text is unchanged, and so are the matches
            sec = _R_SECURITY.search(t)
            eng = _R_ENGINEERING.search(t)
    if not sec and not eng:
        if _R_GENERIC.search(t) and not _R_OVER.search(t):
            return Danger(True, None, False)
        return NO_DANGER
    over = bool(_R_OVER.search(t)) or (
        bool(_R_PAST.search(t) or _R_RISK.search(t)) and not _R_PRESENT.search(t)
    )
    if sec and eng:
        department = Department.SECURITY if sec.start() <= eng.start() else Department.ENGINEERING
        # Fire and smoke are security's even when a cable or gas is also named.
        if _R_FIRE_OR_SMOKE.search(t):
            department = Department.SECURITY
    else:
        department = Department.SECURITY if sec else Department.ENGINEERING
    return Danger(not over, department, over)


def is_high_now(text: str) -> bool:
    """Whether ``text`` names one of the taxonomy's "high" situations as happening now."""
    return _high_now(normalise(text))


def _high_now(t: str) -> bool:
    """:func:`is_high_now` on a normalised text."""
    if not _R_HIGH.search(t):
        return False
    return not (_R_OVER.search(t) or (_R_PAST.search(t) and not _R_PRESENT.search(t)))


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


_CHUNK = 4096
"""Texts normalised at a time (bounds the memory of a very long batch)."""


@runtime_checkable
class TakesNormalised(Protocol):
    """A classifier that can take texts already through :func:`features.normalise`
    (:class:`~complaintdesk.classify.model.ModelClassifier`)."""

    def predict_normalised(
        self, norm: Sequence[str], model_version: str | None = None
    ) -> list[Prediction]: ...


class RuledClassifier:
    """A classifier with the emergency rule layer on top."""

    def __init__(self, inner: Classifier) -> None:
        self.inner = inner

    @property
    def version(self) -> str:
        return f"{self.inner.version}+rules-2"

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        out: list[Prediction] = []
        for start in range(0, len(texts), _CHUNK):
            out.extend(self._predict(texts[start : start + _CHUNK]))
        return out

    def _predict(self, texts: Sequence[str]) -> list[Prediction]:
        norm = [normalise(t) for t in texts]
        inner = self.inner
        version = self.version
        if isinstance(inner, TakesNormalised):
            # The model normalises exactly as the rules do: do it once for both, and
            # let it record our version (one Prediction per text, not two).
            preds = inner.predict_normalised(norm, version)
        else:
            preds = [replace(p, model_version=version) for p in inner.predict(texts)]
        trigger = _TRIGGER
        out: list[Prediction] = []
        append = out.append
        for p, t in zip(preds, norm, strict=True):
            if trigger is None or trigger.search(t) is not None:
                append(apply(p, _assess(t), _high_now(t)))
            elif p.category is Category.EMERGENCY or p.urgency is Urgency.CRITICAL:
                append(apply(p, NO_DANGER))
            else:  # no danger, not "high", and the model did not say emergency: unchanged
                append(p)
        return out
