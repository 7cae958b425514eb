"""The label codes of ``shared/spec/taxonomy.md`` and their display names.

The codes are a contract between the classifier, the API, the database, exports and
reports; they never change meaning. Display names are for people, in both languages.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Nature(StrEnum):
    """What the owner wants from us (投诉性质)."""

    DISSATISFACTION = "dissatisfaction"
    HELP_SEEKING = "help_seeking"
    CONSULTING = "consulting"

    @property
    def is_communication(self) -> bool:
        """Help-seeking and consulting are the communication complaints (沟通性投诉)."""
        return self is not Nature.DISSATISFACTION


class Category(StrEnum):
    """What the complaint is about (投诉内容)."""

    EQUIPMENT = "equipment"
    BUILDING_QUALITY = "building_quality"
    SERVICE_ATTITUDE = "service_attitude"
    SERVICE_QUALITY = "service_quality"
    MANAGEMENT = "management"
    NEIGHBORHOOD = "neighborhood"
    EMERGENCY = "emergency"

    @property
    def target(self) -> Target:
        """The Chinese seed's person / thing / matter (对人 / 对物 / 对事)."""
        if self is Category.SERVICE_ATTITUDE:
            return Target.PERSON
        if self in (Category.EQUIPMENT, Category.BUILDING_QUALITY, Category.EMERGENCY):
            return Target.THING
        return Target.MATTER


class Target(StrEnum):
    PERSON = "person"
    THING = "thing"
    MATTER = "matter"


class Urgency(StrEnum):
    """How fast someone must act (紧急程度)."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Department(StrEnum):
    """Who acts first on a complaint (责任部门)."""

    ENGINEERING = "engineering"
    SECURITY = "security"
    CLEANING = "cleaning"
    LANDSCAPING = "landscaping"
    CUSTOMER_SERVICE = "customer_service"
    FINANCE = "finance"


class StaffDepartment(StrEnum):
    """The department a staff member belongs to: the six that act, plus management."""

    ENGINEERING = "engineering"
    SECURITY = "security"
    CLEANING = "cleaning"
    LANDSCAPING = "landscaping"
    CUSTOMER_SERVICE = "customer_service"
    FINANCE = "finance"
    MANAGEMENT = "management"


class Role(StrEnum):
    """What a staff member may do; ordered from least to most authority."""

    STAFF = "staff"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Channel(StrEnum):
    """How a complaint reached us."""

    PHONE = "phone"
    WALK_IN = "walk_in"
    APP = "app"
    WEB = "web"
    WECHAT = "wechat"
    EMAIL = "email"
    API = "api"
    OTHER = "other"


LABELS: dict[str, type[StrEnum]] = {
    "nature": Nature,
    "category": Category,
    "urgency": Urgency,
    "department": Department,
}
"""The four labels every complaint carries, by field name."""


_NAMES: dict[type[StrEnum], dict[str, tuple[str, str]]] = {
    Nature: {
        Nature.DISSATISFACTION: ("不满意投诉", "Dissatisfaction"),
        Nature.HELP_SEEKING: ("求助型", "Help-seeking"),
        Nature.CONSULTING: ("咨询型", "Consulting"),
    },
    Category: {
        Category.EQUIPMENT: ("设备设施", "Equipment"),
        Category.BUILDING_QUALITY: ("房屋质量", "Building quality"),
        Category.SERVICE_ATTITUDE: ("服务态度", "Service attitude"),
        Category.SERVICE_QUALITY: ("服务质量", "Service quality"),
        Category.MANAGEMENT: ("管理与收费", "Management and fees"),
        Category.NEIGHBORHOOD: ("邻里与秩序", "Neighbourhood and order"),
        Category.EMERGENCY: ("突发事件", "Emergency"),
    },
    Target: {
        Target.PERSON: ("对人", "Person"),
        Target.THING: ("对物", "Thing"),
        Target.MATTER: ("对事", "Matter"),
    },
    Urgency: {
        Urgency.CRITICAL: ("紧急", "Critical"),
        Urgency.HIGH: ("高", "High"),
        Urgency.NORMAL: ("一般", "Normal"),
        Urgency.LOW: ("低", "Low"),
    },
    Department: {
        Department.ENGINEERING: ("工程部", "Engineering"),
        Department.SECURITY: ("秩序维护部", "Security"),
        Department.CLEANING: ("保洁部", "Cleaning"),
        Department.LANDSCAPING: ("绿化部", "Landscaping"),
        Department.CUSTOMER_SERVICE: ("客服中心", "Customer service"),
        Department.FINANCE: ("财务部", "Finance"),
    },
    Role: {
        Role.STAFF: ("员工", "Staff"),
        Role.AGENT: ("客服专员", "Agent"),
        Role.SUPERVISOR: ("主管", "Supervisor"),
        Role.MANAGER: ("项目经理", "Manager"),
        Role.ADMIN: ("管理员", "Administrator"),
    },
    Channel: {
        Channel.PHONE: ("电话", "Phone"),
        Channel.WALK_IN: ("来访", "Walk-in"),
        Channel.APP: ("业主App", "App"),
        Channel.WEB: ("网页", "Web"),
        Channel.WECHAT: ("微信", "WeChat"),
        Channel.EMAIL: ("邮件", "Email"),
        Channel.API: ("接口", "API"),
        Channel.OTHER: ("其他", "Other"),
    },
}
# Keyed by enum first: codes of different enums may share a value ("management").
_NAMES[StaffDepartment] = {
    **_NAMES[Department],
    StaffDepartment.MANAGEMENT: ("管理处", "Management"),
}


def parse_labels(raw: Mapping[str, str], *, field_prefix: str = "") -> dict[str, str]:
    """Validate ``{label: code}``; refuses unknown labels and codes, naming the field."""
    from complaintdesk.domain.errors import InvalidInput

    parsed = {}
    for name, value in raw.items():
        enum = LABELS.get(name)
        if enum is None:
            raise InvalidInput(
                f"unknown label {name!r}; labels are {sorted(LABELS)}",
                field=f"{field_prefix}{name}",
            )
        try:
            parsed[name] = enum(value).value
        except ValueError as exc:
            codes = ", ".join(e.value for e in enum)
            raise InvalidInput(
                f"unknown {name} code {value!r}; one of: {codes}", field=f"{field_prefix}{name}"
            ) from exc
    return parsed


def labels_text(labels: Mapping[str, str]) -> str:
    """The four labels as one string, their codes in :data:`LABELS` order separated by
    spaces (``"consulting service_quality low landscaping"``): how a ``received``
    event stores them, about 65 bytes fewer than an object with four keys."""
    return " ".join(labels[name] for name in LABELS)


def labels_of(stored: object) -> dict[str, str]:
    """A ``received`` event's labels as ``{label: code}``, from either stored form: the
    string :func:`labels_text` makes, or the object events stored before (7 December
    2026). Anything else (none stored): empty."""
    if isinstance(stored, str):
        codes = stored.split(" ")
        return dict(zip(LABELS, codes, strict=True)) if len(codes) == len(LABELS) else {}
    if isinstance(stored, Mapping):
        return {name: str(stored[name]) for name in LABELS if name in stored}
    return {}


def display_name(code: StrEnum, lang: str = "zh") -> str:
    """The display name of a code in ``zh`` or ``en``; the code itself if it has none."""
    zh, en = _NAMES.get(type(code), {}).get(code, (str(code), str(code)))
    return en if lang == "en" else zh
