"""Rules about complaints as a whole: text hygiene, repeats, risk and upgrades."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from complaintdesk.domain.errors import InvalidInput
from complaintdesk.domain.prefilter import required
from complaintdesk.domain.sla import Clock
from complaintdesk.domain.taxonomy import Category, Nature, Urgency

MAX_TEXT_CHARS = 10_000
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
"""Nothing is dated before this: ids count milliseconds from it."""
MAX_AHEAD = timedelta(days=366)
"""How far ahead a date may be set (a next follow-up, say)."""
REPEAT_WINDOW = timedelta(days=30)
SATISFIED_MIN_SCORE = 3
"""Return-visit scores: 1 very unsatisfied … 5 very satisfied; 3 (基本满意) and up is satisfied."""

CONTROL_CHARS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
"""C0 controls but tab and line breaks, DEL and the C1 controls: NUL, which PostgreSQL
refuses, and the escape codes (ESC, CSI) that would drive a terminal reading a log."""
LINE_BREAKS = r"\t\n\r\u2028\u2029"
"""Allowed in text, not in one-line values (names, phone numbers, codes)."""
TEXT_PATTERN = rf"^[^{CONTROL_CHARS}]*[^\s{CONTROL_CHARS}][^{CONTROL_CHARS}]*$"
"""The shape of free text, for the API schema: no control character, not blank."""
FREE_PATTERN = rf"^[^{CONTROL_CHARS}]*$"
"""Optional free text (blank is taken as none): no control character."""
LINE_PATTERN = rf"^[^{CONTROL_CHARS}{LINE_BREAKS}]*$"
"""The shape of a one-line value, for the API schema."""
NAME_PATTERN = (
    rf"^[^{CONTROL_CHARS}{LINE_BREAKS}]*[^\s{CONTROL_CHARS}][^{CONTROL_CHARS}{LINE_BREAKS}]*$"
)
"""The shape of a one-line value that must be given (a name)."""
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$"
"""Codes and user names: letters, digits and ``_ . @ -``; they appear in URLs and logs."""
MAX_CODE_CHARS = 40

_CONTROL = re.compile(f"[{CONTROL_CHARS}]")
_LINE_BREAK = re.compile(f"[{LINE_BREAKS}]")
_CODE = re.compile(CODE_PATTERN)


def clean_text(
    value: str, *, field: str, max_chars: int = MAX_TEXT_CHARS, required: bool = True
) -> str:
    """Normalise free text from an owner or staff; refuse what cannot be stored.

    Refuses empty text (when required), text longer than ``max_chars``, text that is
    not valid Unicode (lone surrogates from a bad encoding) and control characters.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput("text is not valid UTF-8 / 文本编码无效", field=field) from exc
    if _CONTROL.search(value):
        raise InvalidInput("text contains control characters / 文本包含控制字符", field=field)
    value = unicodedata.normalize("NFC", value).strip()
    if required and not value:
        raise InvalidInput("must not be empty / 不能为空", field=field)
    if len(value) > max_chars:
        raise InvalidInput(
            f"is {len(value)} characters long; at most {max_chars} are accepted "
            f"/ 超过 {max_chars} 字",
            field=field,
        )
    return value


def clean_line(value: str, *, field: str, max_chars: int, required: bool = True) -> str:
    """A one-line value (a name, a phone number): :func:`clean_text` without line breaks."""
    if _LINE_BREAK.search(value):
        raise InvalidInput("must be on one line / 不能换行", field=field)
    return clean_text(value, field=field, max_chars=max_chars, required=required)


def clean_short(value: str | None, *, field: str, max_chars: int) -> str | None:
    """An optional one-line value (a name, a phone number): cleaned, or None if blank."""
    if value is None:
        return None
    return clean_line(value, field=field, max_chars=max_chars, required=False) or None


def clean_code(value: str, *, field: str, max_chars: int = MAX_CODE_CHARS) -> str:
    """A code or user name (project ``CH``, staff ``ch-agent``): refused unless it is
    1 to ``max_chars`` of letters, digits and ``_ . @ -``."""
    if not 1 <= len(value) <= max_chars or not _CODE.fullmatch(value):
        raise InvalidInput(
            f"must be 1 to {max_chars} letters, digits or _ . @ - "
            f"/ 只能包含字母、数字和 _ . @ -,最多 {max_chars} 个",
            field=field,
        )
    return value


def check_past(value: datetime, now: datetime, *, field: str) -> datetime:
    """A moment that has happened: not in the future, not before :data:`EARLIEST`."""
    if value > now:
        raise InvalidInput("is in the future / 时间不能晚于当前时间", field=field)
    if value < EARLIEST:
        raise InvalidInput(f"is before {EARLIEST.date()} / 时间过早", field=field)
    return value


def check_future(value: datetime, now: datetime, *, field: str) -> datetime:
    """A moment to come: after now, within :data:`MAX_AHEAD`."""
    if value <= now:
        raise InvalidInput("must be in the future / 须晚于当前时间", field=field)
    if value > now + MAX_AHEAD:
        raise InvalidInput(f"is more than {MAX_AHEAD.days} days ahead / 时间过远", field=field)
    return value


def lowers_urgency(old: dict[str, str], new: dict[str, str]) -> bool:
    """Whether a change of labels makes a complaint less urgent: a lower urgency, or
    out of the emergency category. Its deadlines move out, so it needs more authority
    (see ``permissions.Permission.LOWER_URGENCY``) and a reason on record."""
    order = list(Urgency)  # most urgent first
    if order.index(Urgency(new["urgency"])) > order.index(Urgency(old["urgency"])):
        return True
    return old["category"] == Category.EMERGENCY.value != new["category"]


def apply_label_rules(labels: dict[str, str], *, urgency_given: bool) -> dict[str, str]:
    """Every emergency is critical, unless staff set the urgency themselves."""
    if labels.get("category") == Category.EMERGENCY.value and not urgency_given:
        return {**labels, "urgency": "critical"}
    return labels


def is_satisfied(score: int) -> bool:
    if not 1 <= score <= 5:
        raise InvalidInput("satisfaction must be 1 to 5 / 满意度须为 1–5", field="satisfaction")
    return score >= SATISFIED_MIN_SCORE


class Risk(StrEnum):
    """Signs that a complaint may escalate beyond us (拒交费用, 媒体, 起诉, 政府)."""

    WITHHOLD_FEES = "withhold_fees"
    MEDIA = "media"
    LAWSUIT = "lawsuit"
    GOVERNMENT = "government"


# Fees an owner can withhold, in the words owners use for them.
_FEE_ZH = r"(物业费|管理费|物管费|服务费|停车费|水电费|费用|钱|费)"
_FEE_EN = (
    r"(fees?|service charges?|management (fee|charge)s?|maintenance (fee|charge)s?|"
    r"hoa( dues)?|dues|rent|charges?|bills?)"
)
# "不交物业费就停水" is the company threatening the owner, not the owner refusing:
# a refusal followed by 就/的话 is a condition, not a decision.
_NOT_CONDITION = r"(?!\S{0,3}(就|的话|会被|要被|会停|要停))"

_RISK_PATTERNS: dict[Risk, re.Pattern[str]] = {
    Risk.WITHHOLD_FEES: re.compile(
        # 拒交物业费, 不再缴纳管理费, 暂停缴费, 一分钱也不交, 不会再给你们交钱
        r"(拒交|拒缴|拒付|拒绝(缴纳|交纳|支付|交|缴)|停交|停缴|暂停(缴|交|支付)|停止(缴|交|支付)|"
        r"不(再|会再?|想再?|打算|准备)?(交|缴|付|给)(纳)?(你们)?(交)?|不予(缴|交|支付)|别想(让我们?)?(交|收))"
        + r"\S{0,4}"
        + _FEE_ZH
        + _NOT_CONDITION
        # 物业费我不会再交了, 管理费一分钱也不给, 物业费坚决不交
        + r"|"
        + _FEE_ZH
        + r"[^。!?!?]{0,10}"
        + r"(不会?再?(交|缴|付|给)|拒(绝)?(交|缴|付)|停(止)?(交|缴)|别想|一分(钱)?(也|都)不)"
        + _NOT_CONDITION
        + r"|一分钱(也|都)不(会再?)?(交|给|付)|(集体|统一|全体)(拒|停)(交|缴)|拒交|拒缴"
        r"|不交了|不缴了|不再交了"
        # English: withhold, refuse to pay, stop paying, won't pay, not a penny/cent more
        r"|withh[oe]ld(ing)?( back)?\b.{0,25}" + _FEE_EN + r"|hold(ing)? back (my |our |the )?"
        r"" + _FEE_EN + r"|(refuse|refusing|stop|stopping|not going|am not going|will not|"
        r"won'?t|shan'?t|not) (to )?pay(ing)?\b|stop(ped|ping)? paying|"
        r"(not|no longer|won'?t be) paying|pay (nothing|no more)|"
        r"not (a|another|one) (single )?(more )?(penny|cent|dime|pound|dollar)|"
        r"no more (\w+ )?" + _FEE_EN + r" from (me|us)|"
        r"(cancel(l?ed|l?ing)?|stop(ped|ping)?) (my |our |the )?"
        r"(direct debit|standing order|payments?)"
    ),
    Risk.MEDIA: re.compile(
        r"媒体|曝光|记者|电视台|报社|报纸|上新闻|新闻热线|发微博|微博|抖音|快手|发朋友圈|朋友圈|小红书|"
        r"公众号|头条|网上发|发到网上|发网上|放到网上|传到网上|网络上|上网曝|论坛|"
        r"\bmedia\b|newspaper|\bthe (local )?(paper|press|news)\b|\bpress\b|journalist|"
        r"reporters?\b|\btv\b|television|go public|going public|social media|twitter|\bx\.com\b|"
        r"facebook|tiktok|instagram|youtube|reddit|weibo|go(ing|es)? viral|"
        r"(post|put|share|upload)(ing|ed)? (it |this |this video |the (video|photos?|pictures?) )?"
        r"(online|on the internet|on (facebook|twitter|tiktok|instagram|youtube|reddit))"
    ),
    Risk.LAWSUIT: re.compile(
        r"起诉|告你们|告到法院|法院|律师|打官司|法律途径|法律程序|法律手段|诉讼|仲裁|上诉|法庭|"
        r"\bsue\b|suing|lawsuit|lawyer|attorney|solicitor|\bcourt\b|legal action|legal advice|"
        r"legal route|legal proceedings|small claims|tribunal|litigation"
    ),
    Risk.GOVERNMENT: re.compile(
        r"12345|市长热线|市长信箱|住建|住房和城乡建设|房管局|房管所|房产局|房地产管理局|物价局|"
        r"市场监督|市场监管|信访|上访|街道办|居委会|政府|消协|12315|纪委|人大代表|"
        r"\bcouncil\b(?! tax)|councill?or|government|\bmayor|\b311\b|housing (authority|department|"
        r"regulator|ombudsman|board)|ombudsman|\bmy mp\b|member of parliament|congress(man|woman)|"
        r"city hall|trading standards|environmental health|\bhpd\b|regulator\b"
    ),
}


# Each pattern with the text its every match must contain (domain/prefilter.py): a few
# substring checks rule out almost every complaint before the pattern itself runs.
_RISK_TESTS = [(risk, pattern, required(pattern)) for risk, pattern in _RISK_PATTERNS.items()]


def risk_flags(text: str) -> list[Risk]:
    """The escalation risks the owner's words signal, in a stable order."""
    normalised = unicodedata.normalize("NFKC", text).lower()
    return [
        risk
        for risk, pattern, could_match in _RISK_TESTS
        if could_match(normalised) and pattern.search(normalised)
    ]


# --- repeats: the same owner back on the same matter --------------------------------------


@dataclass(frozen=True)
class PriorComplaint:
    """What the repeat rule needs to know of an earlier complaint of the same owner (or
    from the same unit or phone)."""

    id: int
    category: Category
    nature: Nature
    received_at: datetime
    is_open: bool
    text: str = ""
    location: str | None = None


# Matters owners come back about, with the words that name them in both languages. Two
# texts naming the same matter ("电梯" and "the lift") are about the same thing even when
# the classifier put them in different categories.
_MATTERS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "lift": r"电梯|电体|梯|\blifts?\b|elevator",
        "water": r"停水|没水|没有水|水压|供水|自来水|热水|水费|\bwater\b",
        "leak": r"漏水|渗水|渗漏|漏|滴水|返潮|发霉|leak|seep|damp|drip|mou?ld",
        "power": r"停电|没电|断电|跳闸|电闸|供电|\bpower\b|electric",
        "light": r"灯|\blights?\b|lamp|bulb",
        "access": r"门禁|门卡|道闸|闸机|大门|单元门|对讲|\bgate|access card|intercom|fob|entry",
        "noise": r"噪音|噪声|吵|扰民|noise|noisy|loud",
        "rubbish": r"垃圾|rubbish|garbage|trash|\bbins?\b|litter",
        "parking": r"停车|车位|车库|parking|car ?park|garage",
        "fee": r"物业费|管理费|收费|费用|账单|发票|退费|\bfees?\b|charged?|\bbill|invoice|refund",
        "pest": r"老鼠|蟑螂|白蚁|蚊子|\brats?\b|mice|cockroach|pest|termite",
        "green": r"树|草坪|绿化|花坛|\btrees?\b|lawn|hedge|grass",
        "drain": r"下水|堵|排水|污水|马桶|化粪池|sewage|drain|blocked|toilet",
        "pipe": r"水管|管道|\bpipes?\b|plumbing",
        "crack": r"裂|空鼓|脱落|crack|tiles?",
        "parcel": r"快递|包裹|信件|parcel|package|deliver|\bmail\b",
        "staff": r"态度|保安|客服|管家|员工|rude|guard|staff|receptionist",
        "smell": r"臭|异味|气味|smell|stink",
        "climate": r"空调|暖气|供暖|heating|air ?con|radiator",
        "pet": r"狗|猫|宠物|\bdogs?\b|\bcats?\b|\bpets?\b",
        "fabric": r"墙|屋顶|窗|天花板|外墙|\broof|\bwalls?\b|windows?|ceiling",
        "renovation": r"装修|违建|搭建|renovat|extension|building work",
    }.items()
}
# A reference to an earlier report: the owner says this has been raised before.
_REFERS_BACK = re.compile(
    r"又|再次|还是|依然|仍然|仍旧|还没|仍未|一直没|上次|上回|之前|上周|前几天|前天|昨天|刚修|修过|"
    r"反映过|报修过|投诉过|说过|第二次|第三次|多次|"
    r"\bagain\b|\bstill\b|last time|previous|before|already (reported|told|complained)|"
    r"(second|third|fourth) time|same (problem|issue|thing)|came back|recur|keeps? (on )?"
)
# An owner who comes back because nobody answered: the mark of a mishandled question.
_UNANSWERED = re.compile(
    r"没人回复|没有人回复|无人回复|没回复|没有回复|没人回应|没有回应|没人理|没有人理|不理|没人管|没有答复|"
    r"没答复|没给答复|没给回复|石沉大海|没有下文|没下文|没人联系|没人回电话|没回电话|"
    r"no ?(one|body) (has )?(answered|replied|responded|got back|called|rang)|"
    r"no (reply|answer|response)|never (heard|got) back|still waiting|(haven'?t|have not|did ?n'?t|"
    r"didn'?t) (heard|hear|get|got|had) (back|a reply|an answer|a response|anything)|"
    r"(did ?n'?t|didn'?t|never) (answer|reply|respond|get back|call back)|ignored"
)
# Words of a thing that stopped or was repaired: a back-reference with them points at an
# earlier report about a thing (equipment, the building, a repair).
_THING_WORDS = re.compile(
    r"停了|坏|修|故障|不动|漏|broke|stopp|fixed|repair|not working|out of order|leak"
)
_THINGS = frozenset(
    {Category.EQUIPMENT, Category.BUILDING_QUALITY, Category.SERVICE_QUALITY, Category.EMERGENCY}
)
_NON_WORD = re.compile(r"[^\w]+")
_LATIN_WORD = re.compile(r"[a-z0-9]{3,}")
_CJK = re.compile(r"[\u4e00-\u9fff]+")
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "was",
        "were",
        "has",
        "have",
        "had",
        "this",
        "that",
        "with",
        "from",
        "our",
        "you",
        "your",
        "they",
        "them",
        "not",
        "but",
        "its",
        "it's",
        "again",
        "still",
        "please",
        "can",
        "could",
        "would",
        "will",
        "there",
        "here",
        "been",
        "into",
    ]
)
SIMILAR = 0.5
"""Overlap of character pairs and words above which two texts tell the same thing."""


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _shingles(text: str) -> set[str]:
    """Chinese character pairs and English words (of three letters or more)."""
    out = {w for w in _LATIN_WORD.findall(text) if w not in _STOP}
    for run in _CJK.findall(text):
        out.update(run[i : i + 2] for i in range(len(run) - 1))
    return out


def similarity(a: str, b: str) -> float:
    """How much of the shorter text the longer one repeats (0 to 1): the overlap of their
    Chinese character pairs and English words."""
    return _overlap(_shingles(_norm(a)), _shingles(_norm(b)))


def _overlap(sa: set[str], sb: set[str]) -> float:
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / min(len(sa), len(sb))


def matters(text: str, among: Iterable[str] | None = None) -> frozenset[str]:
    """The matters a text names (lift, water, leak, fee, noise, ...); with ``among``,
    only which of those it names (``matters(t) & among``, without looking for the
    others)."""
    t = _norm(text)
    names: Iterable[str] = _MATTERS if among is None else among
    return frozenset(name for name in names if _MATTERS[name].search(t))


def refers_back(text: str) -> bool:
    """Whether the owner says this was raised before ("又", "上次", "again", "still")."""
    t = _norm(text)
    return bool(_REFERS_BACK.search(t) or _UNANSWERED.search(t))


def unanswered(text: str) -> bool:
    """Whether the owner says an earlier report went unanswered ("没人回复", "nobody answered")."""
    return bool(_UNANSWERED.search(_norm(text)))


def _same_place(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    x, y = _NON_WORD.sub("", _norm(a)), _NON_WORD.sub("", _norm(b))
    return bool(x and y) and (x == y or (min(len(x), len(y)) >= 3 and (x in y or y in x)))


def find_repeat(
    prior: list[PriorComplaint],
    *,
    category: Category,
    received_at: datetime,
    text: str = "",
    location: str | None = None,
) -> PriorComplaint | None:
    """The earlier complaint (of the same owner, unit or phone: the caller's choice of
    ``prior``) that a new one comes back to, if any: the same matter within
    :data:`REPEAT_WINDOW`, whatever category each was given.

    The same matter is any of:

    * the texts tell the same thing (:func:`similarity` at least :data:`SIMILAR`);
    * they name a common matter (:func:`matters`: "电梯" and "the lift" alike) and the new
      one refers back, or is of the same category, or is at the same place, or the texts
      overlap a little;
    * the new one refers back ("今天又停了，上周刚修过", "nobody answered me") and names
      no matter the earlier one does not;
    * the same place, with the same category or a reference back.

    When several qualify, the strongest link wins, then the most recent complaint.
    Without ``text`` (an earlier caller), only the category and time are known: the same
    category within the window is taken as the same matter, as before.
    """
    window = [p for p in prior if timedelta(0) <= received_at - p.received_at <= REPEAT_WINDOW]
    if not text:
        same = [p for p in window if p.category == category]
        return max(same, key=lambda p: p.received_at, default=None)
    # What the new text says is worked out once, not once per earlier complaint (the
    # same figures as similarity() and matters() give, text by text).
    new_matters = matters(text)
    new_shingles = _shingles(_norm(text))
    back = refers_back(text)
    silent = unanswered(text)
    thing = bool(_THING_WORDS.search(_norm(text)))
    best: tuple[float, datetime] | None = None
    found: PriorComplaint | None = None
    for p in window:
        # Only the new text's matters are read below (what the two share, and what the
        # new one names that the earlier does not): the earlier text is searched for
        # those alone, not for all of them (about 20 patterns a complaint, up to 20
        # earlier complaints a create).
        earlier_matters = matters(p.text + " " + (p.location or ""), among=new_matters)
        sim = _overlap(new_shingles, _shingles(_norm(p.text))) if p.text else 0.0
        shared = new_matters & earlier_matters
        place = _same_place(location, p.location)
        same_category = p.category == category
        if sim >= SIMILAR:
            score = 3.0 + sim
        elif shared and (back or same_category or place or sim >= 0.2):
            score = 2.0 + sim
        elif back and not (new_matters - earlier_matters):
            score = 1.0 + sim
            if thing and p.category in _THINGS:
                score += 0.5
            if silent and p.nature.is_communication:
                score += 0.5
        elif place and (same_category or back):
            score = 1.5
        else:
            continue
        key = (score, p.received_at)
        if best is None or key > best:
            best, found = key, p
    return found


def upgrades_on_repeat(nature: Nature, earlier: PriorComplaint | None) -> tuple[bool, bool]:
    """Whether (the earlier complaint, the new one) become dissatisfaction complaints.

    An owner who comes back on the same matter after a communication complaint was
    not helped: that earlier complaint was mishandled and is upgraded, and the new
    one, if it too was classified as communication, is dissatisfaction from the start.
    """
    if earlier is None or not earlier.nature.is_communication:
        return (False, False)
    return (True, nature.is_communication)


def upgrade_on_breach(nature: Nature, clock: Clock) -> bool:
    """A communication complaint that we were late to answer or to resolve becomes a
    dissatisfaction complaint. A late return visit does not: the owner's matter was
    dealt with in time."""
    return nature.is_communication and clock.owner_waiting
