"""What we tell people, in Chinese and English.

The seed: "无论结果如何,都应及时将处理过程通报于客户" — whatever the outcome, tell the owner
how it is going. Each kind below is a step the owner (or, for escalations, staff)
hears of.

The words fit what the owner came for: an enquiry is answered, a request for help is
helped, a complaint is dealt with; nobody who asked a question is told "您的投诉已受理".
A resolution that is not ours, or cannot be fixed now, tells the owner the explanation
staff wrote, never just the outcome (the seeds forbid "this has nothing to do with
me"). A message is wholly in one language: codes (clocks, levels, departments) are
put into that language here, so no English word reaches a Chinese message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from complaintdesk.domain.lifecycle import Outcome
from complaintdesk.domain.taxonomy import Nature


class MessageKind(StrEnum):
    RECEIVED = "received"
    DISPATCHED = "dispatched"
    RESOLVED = "resolved"
    VISITED = "visited"
    REOPENED = "reopened"
    CLOSED = "closed"
    DELAYED = "delayed"
    WITHDRAWN = "withdrawn"
    ESCALATED = "escalated"  # to staff
    SIGN_IN_CODE = "sign_in_code"  # to an owner signing in to the portal
    REPLY = "reply"  # staff's own words to the owner (written on the complaint page)
    FOLLOW_UP_DUE = "follow_up_due"  # to staff: a follow-up date has come


LANGUAGES = ("zh", "en")

# What the owner asked for, in each language: (noun, what we will do by the deadline).
_NATURE_WORDS: dict[Nature, dict[str, tuple[str, str]]] = {
    Nature.DISSATISFACTION: {"zh": ("投诉", "解决"), "en": ("complaint", "resolve it")},
    Nature.HELP_SEEKING: {"zh": ("求助", "处理好"), "en": ("request for help", "deal with it")},
    Nature.CONSULTING: {"zh": ("咨询", "给您答复"), "en": ("enquiry", "answer you")},
}

# The first message differs most by nature: a complaint is apologised for, a request
# for help is acted on, a question is answered.
_RECEIVED: dict[Nature, tuple[str, str, str, str]] = {
    Nature.DISSATISFACTION: (
        "您的投诉已受理 {ref}",
        "{name}您好,感谢您的反馈,给您带来不便,我们深表歉意。您的投诉({ref})已由{receiver}"
        "受理,我们将在{respond_by}前给您答复。",
        "We have received your complaint {ref}",
        "Dear {name}, thank you for telling us, and we are sorry for the trouble. {receiver} "
        "has registered your complaint {ref}; we will respond by {respond_by}.",
    ),
    Nature.HELP_SEEKING: (
        "您的求助已收到 {ref}",
        "{name}您好,您的求助({ref})已由{receiver}登记,我们会尽快安排人员协助,"
        "最迟在{respond_by}前与您联系。",
        "We have received your request for help {ref}",
        "Dear {name}, {receiver} has registered your request for help {ref}; we are arranging "
        "someone to help and will contact you by {respond_by} at the latest.",
    ),
    Nature.CONSULTING: (
        "您的咨询已收到 {ref}",
        "{name}您好,感谢您的咨询。您的问题({ref})已由{receiver}登记,我们将在{respond_by}前"
        "给您答复。",
        "We have received your enquiry {ref}",
        "Dear {name}, thank you for your question. {receiver} has registered your enquiry "
        "{ref}; we will answer you by {respond_by}.",
    ),
}

# How it was resolved decides what the owner reads: what was done, the answer, or the
# explanation staff had to write when it is not ours or cannot be fixed now.
_RESOLVED: dict[Outcome, tuple[str, str, str, str]] = {
    Outcome.FIXED: (
        "您的{noun}已处理 {ref}",
        "{name}您好,您的{noun}({ref})已处理:{resolution}。我们会尽快回访,听取您的意见。",
        "Your {noun} {ref} has been dealt with",
        "Dear {name}, your {noun} {ref} has been dealt with: {resolution}. "
        "We will call you to hear whether you are satisfied.",
    ),
    Outcome.ANSWERED: (
        "您的{noun}已答复 {ref}",
        "{name}您好,关于您的{noun}({ref}),答复如下:{resolution}。如仍有疑问,欢迎随时联系我们。",
        "Our answer to your {noun} {ref}",
        "Dear {name}, about your {noun} {ref}: {resolution}. If anything is still unclear, "
        "contact us any time.",
    ),
    Outcome.NOT_OUR_RESPONSIBILITY: (
        "关于您的{noun} {ref}",
        "{name}您好,感谢您的耐心。关于您的{noun}({ref}):{explanation}。我们会继续协助您跟进,"
        "并会回访听取您的意见。",
        "About your {noun} {ref}",
        "Dear {name}, thank you for your patience. About your {noun} {ref}: {explanation}. "
        "We will keep helping you follow it up and will call to hear how it went.",
    ),
    Outcome.CANNOT_FIX_NOW: (
        "您的{noun}处理进展 {ref}",
        "{name}您好,很抱歉,您的{noun}({ref})暂时无法彻底解决:{explanation}。我们会持续跟进,"
        "有进展会及时告知您。",
        "An update on your {noun} {ref}",
        "Dear {name}, we are sorry: your {noun} {ref} cannot be fully fixed yet. "
        "{explanation}. We will keep following it up and tell you as soon as there is progress.",
    ),
}

_TEMPLATES: dict[MessageKind, tuple[str, str, str, str]] = {
    # kind: (zh subject, zh body, en subject, en body)
    MessageKind.DISPATCHED: (
        "您的{noun}正在处理 {ref}",
        "{name}您好,您的{noun}({ref})已转交{department}处理,预计在{resolve_by}前{finish}。",
        "Your {noun} {ref} is being handled",
        "Dear {name}, your {noun} {ref} has been passed to {department}; "
        "we aim to {finish} by {resolve_by}.",
    ),
    MessageKind.VISITED: (
        "感谢您的评价 {ref}",
        "{name}您好,感谢您对{noun}({ref})处理结果的评价,我们会继续改进服务。",
        "Thank you for your feedback on {ref}",
        "Dear {name}, thank you for your feedback on your {noun} {ref}; we keep improving.",
    ),
    MessageKind.REOPENED: (
        "您的{noun}已重新处理 {ref}",
        "{name}您好,很抱歉处理结果未让您满意。您的{noun}({ref})已重新派单,"
        "预计在{resolve_by}前{finish}。",
        "Your {noun} {ref} has been reopened",
        "Dear {name}, we are sorry the outcome did not satisfy you. Your {noun} {ref} has been "
        "reopened and sent back for action; we aim to {finish} by {resolve_by}.",
    ),
    MessageKind.CLOSED: (
        "您的{noun}已结案 {ref}",
        "{name}您好,您的{noun}({ref})已结案。感谢您的理解与支持。",
        "Your {noun} {ref} is closed",
        "Dear {name}, your {noun} {ref} is now closed. Thank you for your patience.",
    ),
    MessageKind.DELAYED: (
        "您的{noun}处理有所延迟 {ref}",
        "{name}您好,很抱歉,您的{noun}({ref})处理时间超出承诺,已升级至主管跟进,我们会尽快处理。",
        "Your {noun} {ref} is delayed",
        "Dear {name}, we are sorry: your {noun} {ref} is taking longer than promised. "
        "A supervisor is now following it up.",
    ),
    MessageKind.WITHDRAWN: (
        "您的{noun}已撤销 {ref}",
        "{name}您好,您的{noun}({ref})已按您的要求撤销。如有需要,欢迎随时联系我们。",
        "Your {noun} {ref} has been withdrawn",
        "Dear {name}, your {noun} {ref} has been withdrawn as you asked. Contact us any time.",
    ),
    MessageKind.ESCALATED: (
        "投诉升级 {ref}",
        "投诉 {ref} 的{clock}时限已超时,已升级至第 {level} 级({to})。首问责任人:{receiver}。",
        "Complaint {ref} escalated",
        "Complaint {ref} missed its {clock} deadline and is escalated to level {level} ({to}). "
        "First receiver: {receiver}.",
    ),
    MessageKind.SIGN_IN_CODE: (
        "登录验证码 {code}",
        "您的登录验证码是 {code},{minutes} 分钟内有效。请勿告诉他人;如非本人操作,请忽略本消息。",
        "Your sign-in code {code}",
        "Your sign-in code is {code}; it is valid for {minutes} minutes. Do not share it; "
        "if you did not ask for it, ignore this message.",
    ),
    MessageKind.REPLY: (
        "关于您的投诉 {ref}",
        "{text}",
        "About your complaint {ref}",
        "{text}",
    ),
    MessageKind.FOLLOW_UP_DUE: (
        "跟进提醒 {ref}",
        "投诉 {ref} 约定的跟进时间({at})已到,请及时跟进并告知业主进展。跟进记录:{note}",
        "Follow-up due {ref}",
        "The follow-up date of complaint {ref} ({at}) has come: follow it up and tell the "
        "owner how it is going. The note said: {note}",
    ),
}

# Codes that appear in messages, put into each language: (zh, en).
_CODE_WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "clock": {
        "response": ("首次响应", "first response"),
        "resolution": ("处理", "resolution"),
        "visit": ("回访", "return visit"),
    },
    "to": {
        "supervisor": ("部门主管", "the department's supervisors"),
        "manager": ("项目经理", "the project's managers"),
    },
}

_LINK_LINE = ("\n查看进度:{link}", "\nFollow it here: {link}")

OWNER_KINDS = frozenset(MessageKind) - {
    MessageKind.ESCALATED,
    MessageKind.SIGN_IN_CODE,
    MessageKind.FOLLOW_UP_DUE,
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "-"


_END_PUNCTUATION = "。.!!??;;,,、 \t\n"


def clause(text: str | None) -> str:
    """Staff's free text as a clause of a sentence: its own final full stop dropped, so
    the template's punctuation is not doubled ("已维修。。")."""
    return (text or "").strip().rstrip(_END_PUNCTUATION) or "-"


def render(
    kind: MessageKind,
    lang: str,
    values: dict[str, str],
    *,
    nature: Nature | None = None,
    outcome: Outcome | None = None,
    link: str | None = None,
) -> Rendered:
    """The subject and body of a message in ``lang`` (``zh`` or ``en``).

    ``nature`` picks the words (complaint / request for help / enquiry), ``outcome``
    the resolution's wording; ``link`` (the owner's page for the complaint) ends the
    body.
    """
    en = lang == "en"
    nature = nature or Nature.DISSATISFACTION
    if kind is MessageKind.RECEIVED:
        templates = _RECEIVED[nature]
    elif kind is MessageKind.RESOLVED:
        templates = _RESOLVED[outcome or Outcome.FIXED]
    else:
        templates = _TEMPLATES[kind]
    zh_subject, zh_body, en_subject, en_body = templates
    subject, body = (en_subject, en_body) if en else (zh_subject, zh_body)
    noun, finish = _NATURE_WORDS[nature][lang if en else "zh"]
    fill = _Missing({"noun": noun, "finish": finish, **values})
    for key, words in _CODE_WORDS.items():
        if key in fill and fill[key] in words:
            zh_word, en_word = words[fill[key]]
            fill[key] = en_word if en else zh_word
    text = body.format_map(fill)
    if link:
        text += _LINK_LINE[1 if en else 0].format(link=link)
    return Rendered(subject.format_map(fill), text)


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def language_of_text(text: str) -> str:
    """``zh`` or ``en``: the language an owner wrote in, for a caller we have no record
    of. A Chinese character carries about a word, an English word about five letters,
    so a few Chinese characters in English ("the lift in 8号楼") leave it English and a
    few English letters in Chinese ("电梯 lift 坏了") leave it Chinese. Chinese when
    there is nothing to tell."""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    return "en" if latin > cjk * 4 else "zh"


_LINK_TOKEN = re.compile(r"(/l/)[A-Za-z0-9_-]{8,}")


def mask_links(body: str) -> str:
    """A message as staff may read it: the owner's link token hidden (it opens the
    owner's page without an account; only its hash is kept)."""
    return _LINK_TOKEN.sub(r"\1…", body)
