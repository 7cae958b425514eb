"""Reply templates for staff writing to an owner, in Chinese and English.

They follow the seeds' six principles of answering a complaint — 微笑 (a friendly
tone), 理解 (show understanding), 致歉 (apologise where due), 跟进 (say what is
being done), 沟通 (keep talking), 回复 (say when they will hear next) — and never
"this has nothing to do with me". Staff edit the text before it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reply(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    PROGRESS = "progress"
    DELAY = "delay"
    NOT_OURS = "not_ours"
    DONE = "done"


@dataclass(frozen=True)
class ReplyTemplate:
    title: tuple[str, str]  # (zh, en): how staff pick it
    body: tuple[str, str]  # (zh, en), with {name}, {ref}, {next}, {department}


TEMPLATES: dict[Reply, ReplyTemplate] = {
    Reply.ACKNOWLEDGE: ReplyTemplate(
        ("受理确认", "Acknowledge"),
        (
            "{name}您好,感谢您告诉我们这件事({ref}),给您带来不便,我们深表歉意。"
            "我们非常理解您的心情,已安排{department}跟进处理,"
            "将在{next}前告诉您处理进展。如有任何情况,欢迎随时与我们联系。",
            "Dear {name}, thank you for telling us about this ({ref}), and we are sorry "
            "for the trouble it has caused. We understand how you feel. {department} is "
            "now following it up, and we will tell you how it is going by {next}. "
            "Please contact us at any time.",
        ),
    ),
    Reply.PROGRESS: ReplyTemplate(
        ("进展通报", "Progress update"),
        (
            "{name}您好,关于您反映的问题({ref}),目前进展如下:……。"
            "感谢您的耐心与理解,我们会继续跟进,并在{next}前再次与您联系。",
            "Dear {name}, here is where your complaint {ref} stands: … "
            "Thank you for your patience; we keep following it and will contact you "
            "again by {next}.",
        ),
    ),
    Reply.DELAY: ReplyTemplate(
        ("延迟致歉", "Apology for a delay"),
        (
            "{name}您好,很抱歉,您反映的问题({ref})未能按承诺时间解决,原因是……。"
            "我们理解这给您带来的困扰,主管已亲自跟进,预计在{next}前解决,届时会第一时间告知您。",
            "Dear {name}, we are sorry that your complaint {ref} was not resolved when we "
            "promised, because … We understand the trouble this causes you. A supervisor "
            "is now following it personally; we expect to resolve it by {next} and will "
            "tell you as soon as it is done.",
        ),
    ),
    Reply.NOT_OURS: ReplyTemplate(
        ("说明与协助", "Explain and help"),
        (
            "{name}您好,感谢您的反馈({ref})。经了解,这个问题需要由……负责处理,"
            "原因是……。我们理解您希望尽快解决的心情,已为您联系对方/准备好相关资料,"
            "并会在{next}前向您了解进展。",
            "Dear {name}, thank you for your message ({ref}). We have found that this "
            "needs to be handled by …, because … We understand you want it solved "
            "quickly, so we have contacted them for you / prepared what you need, and we "
            "will check with you by {next} how it is going.",
        ),
    ),
    Reply.DONE: ReplyTemplate(
        ("处理完成", "Dealt with"),
        (
            "{name}您好,您反映的问题({ref})已处理完毕:……。感谢您的理解与支持,"
            "我们会在{next}前回访,听取您的意见。",
            "Dear {name}, your complaint {ref} has been dealt with: … Thank you for your "
            "understanding; we will call you by {next} to hear whether you are satisfied.",
        ),
    ),
}


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "…"


def fill(reply: Reply, lang: str, values: dict[str, str]) -> str:
    """The template's text in ``lang`` with ``values`` put in (… where one is missing)."""
    zh, en = TEMPLATES[reply].body
    return (en if lang == "en" else zh).format_map(_Blank(values))


def title(reply: Reply, lang: str) -> str:
    zh, en = TEMPLATES[reply].title
    return en if lang == "en" else zh
