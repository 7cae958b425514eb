"""Rules about complaints as a whole: text hygiene, repeats, risk and upgrades."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from complaintdesk.domain.errors import InvalidInput
from complaintdesk.domain.sla import Clock
from complaintdesk.domain.taxonomy import Category, Nature

MAX_TEXT_CHARS = 10_000
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
"""Nothing is dated before this: ids count milliseconds from it."""
MAX_AHEAD = timedelta(days=366)
"""How far ahead a date may be set (a next follow-up, say)."""
REPEAT_WINDOW = timedelta(days=30)
SATISFIED_MIN_SCORE = 3
"""Return-visit scores: 1 very unsatisfied … 5 very satisfied; 3 (基本满意) and up is satisfied."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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


def clean_short(value: str | None, *, field: str, max_chars: int) -> str | None:
    """An optional one-line value (a name, a phone number): cleaned, or None if blank."""
    if value is None:
        return None
    return clean_text(value, field=field, max_chars=max_chars, required=False) or None


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


_RISK_PATTERNS: dict[Risk, re.Pattern[str]] = {
    Risk.WITHHOLD_FEES: re.compile(
        r"(拒交|不交|停交|拒缴|不缴|停缴|不再交|不再缴|不给你们交|拒付).{0,6}(物业费|管理费|费用|水电费|费)"
        r"|(物业费|管理费).{0,6}(不交了|不交|拒交|别想)"
        r"|withhold(ing)? (the |my |our )?(fees?|payment|service charge)"
        r"|(refuse|stop|not going) to pay|stop paying|won'?t pay|not paying"
    ),
    Risk.MEDIA: re.compile(
        r"媒体|曝光|记者|电视台|报社|上新闻|发微博|发抖音|发朋友圈|网上发|小红书"
        r"|\bmedia\b|newspaper|journalist|reporters?\b|\btv\b|go public|social media|twitter|weibo"
    ),
    Risk.LAWSUIT: re.compile(
        r"起诉|告你们|法院|律师|打官司|法律途径|诉讼"
        r"|\bsue\b|lawsuit|lawyer|attorney|\bcourt\b|legal action"
    ),
    Risk.GOVERNMENT: re.compile(
        r"12345|市长热线|住建|房管局|信访|街道办|居委会|政府|消协|12315|业委会"
        r"|government|city council|council member|mayor|\b311\b|housing authority|ombudsman"
    ),
}


def risk_flags(text: str) -> list[Risk]:
    """The escalation risks the owner's words signal, in a stable order."""
    normalised = unicodedata.normalize("NFKC", text).lower()
    return [risk for risk, pattern in _RISK_PATTERNS.items() if pattern.search(normalised)]


@dataclass(frozen=True)
class PriorComplaint:
    """What the repeat rule needs to know of an owner's earlier complaint."""

    id: int
    category: Category
    nature: Nature
    received_at: datetime
    is_open: bool


def find_repeat(
    prior: list[PriorComplaint], *, category: Category, received_at: datetime
) -> PriorComplaint | None:
    """The most recent earlier complaint of the same owner on the same category within
    the repeat window, if any."""
    candidates = [
        p
        for p in prior
        if p.category == category and timedelta(0) <= received_at - p.received_at <= REPEAT_WINDOW
    ]
    return max(candidates, key=lambda p: p.received_at, default=None)


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
