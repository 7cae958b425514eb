"""What we tell people, in Chinese and English.

The seed: "无论结果如何,都应及时将处理过程通报于客户" — whatever the outcome, tell the owner
how it is going. Each kind below is a step the owner (or, for escalations, staff)
hears of.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


_TEMPLATES: dict[MessageKind, tuple[str, str, str, str]] = {
    # kind: (zh subject, zh body, en subject, en body)
    MessageKind.RECEIVED: (
        "您的投诉已受理 {ref}",
        "{name}您好,感谢您的反馈。您的投诉({ref})已由{receiver}受理,我们将在{respond_by}前给您答复。",
        "We have received your complaint {ref}",
        "Dear {name}, thank you for telling us. {receiver} has registered your complaint {ref}; "
        "we will respond by {respond_by}.",
    ),
    MessageKind.DISPATCHED: (
        "您的投诉正在处理 {ref}",
        "{name}您好,您的投诉({ref})已转交{department}处理,预计在{resolve_by}前解决。",
        "Your complaint {ref} is being handled",
        "Dear {name}, your complaint {ref} has been passed to {department}; "
        "we aim to resolve it by {resolve_by}.",
    ),
    MessageKind.RESOLVED: (
        "您的投诉已处理 {ref}",
        "{name}您好,您的投诉({ref})已处理:{resolution}。我们会尽快回访,听取您的意见。",
        "Your complaint {ref} has been dealt with",
        "Dear {name}, your complaint {ref} has been dealt with: {resolution}. "
        "We will call you to hear whether you are satisfied.",
    ),
    MessageKind.VISITED: (
        "感谢您的评价 {ref}",
        "{name}您好,感谢您对投诉({ref})处理结果的评价,我们会继续改进服务。",
        "Thank you for your feedback on {ref}",
        "Dear {name}, thank you for your feedback on complaint {ref}; we keep improving.",
    ),
    MessageKind.REOPENED: (
        "您的投诉已重新处理 {ref}",
        "{name}您好,很抱歉处理结果未让您满意。投诉({ref})已重新派单,我们会尽快跟进。",
        "Your complaint {ref} has been reopened",
        "Dear {name}, we are sorry the outcome did not satisfy you. Complaint {ref} has been "
        "reopened and sent back for action.",
    ),
    MessageKind.CLOSED: (
        "您的投诉已结案 {ref}",
        "{name}您好,您的投诉({ref})已结案。感谢您的理解与支持。",
        "Your complaint {ref} is closed",
        "Dear {name}, your complaint {ref} is now closed. Thank you for your patience.",
    ),
    MessageKind.DELAYED: (
        "您的投诉处理有所延迟 {ref}",
        "{name}您好,很抱歉,您的投诉({ref})处理时间超出承诺,已升级至主管跟进,我们会尽快解决。",
        "Your complaint {ref} is delayed",
        "Dear {name}, we are sorry: complaint {ref} is taking longer than promised. "
        "A supervisor is now following it up.",
    ),
    MessageKind.WITHDRAWN: (
        "您的投诉已撤销 {ref}",
        "{name}您好,您的投诉({ref})已按您的要求撤销。如有需要,欢迎随时联系我们。",
        "Your complaint {ref} has been withdrawn",
        "Dear {name}, complaint {ref} has been withdrawn as you asked. Contact us any time.",
    ),
    MessageKind.ESCALATED: (
        "投诉升级 {ref}",
        "投诉 {ref} 的{clock}时限已超时,已升级至第 {level} 级({to})。首问责任人:{receiver}。",
        "Complaint {ref} escalated",
        "Complaint {ref} missed its {clock} deadline and is escalated to level {level} ({to}). "
        "First receiver: {receiver}.",
    ),
}

OWNER_KINDS = frozenset(MessageKind) - {MessageKind.ESCALATED}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "-"


def render(kind: MessageKind, lang: str, values: dict[str, str]) -> Rendered:
    """The subject and body of a message in ``lang`` (``zh`` or ``en``)."""
    zh_subject, zh_body, en_subject, en_body = _TEMPLATES[kind]
    subject, body = (en_subject, en_body) if lang == "en" else (zh_subject, zh_body)
    fill = _Missing(values)
    return Rendered(subject.format_map(fill), body.format_map(fill))
