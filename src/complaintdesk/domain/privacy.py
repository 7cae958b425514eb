"""Owners' contact details: who sees them in full, and how they look to everyone else
and in every log. Pure rules: masking changes nothing stored."""

from __future__ import annotations

import re

from complaintdesk.domain.taxonomy import Role, StaffDepartment

MASK = "****"

_CALLERS_BACK = frozenset({Role.AGENT, Role.MANAGER})


def sees_contact(role: Role, department: StaffDepartment) -> bool:
    """Whether a staff member is shown an owner's full phone number and e-mail address:
    those who call owners back (customer service, of any rank, and project managers).
    Everyone else (guards, cleaners, engineers, administrators of the system) sees
    them masked; each full read is recorded in the audit trail."""
    return department is StaffDepartment.CUSTOMER_SERVICE or role in _CALLERS_BACK


def mask_phone(phone: str | None) -> str | None:
    """``13911111111`` -> ``139****1111``: enough to recognise, not to call. Short
    numbers keep only their last two digits."""
    if not phone:
        return phone
    if len(phone) >= 8:
        return phone[:3] + MASK + phone[-4:]
    return MASK + phone[-2:] if len(phone) > 2 else MASK


def mask_email(email: str | None) -> str | None:
    """``wang.li@example.com`` -> ``w***@example.com``."""
    if not email:
        return email
    local, at, domain = email.partition("@")
    if not at:
        return mask_phone(email)
    return (local[:1] or "") + "***@" + domain


def mask_contact(value: str | None) -> str | None:
    """A recipient that is either a phone number or an e-mail address."""
    if value and "@" in value:
        return mask_email(value)
    return mask_phone(value)


_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"(?<![\d.])\+?\d{7,15}(?![\d.])")
"""A run of 7 to 15 digits (E.164): ids (18 or 19 digits), times and amounts stay
readable."""


def mask_text(text: str) -> str:
    """Every phone number (7 digits or more) and e-mail address in ``text`` masked:
    for log lines, which may quote a query string or a message."""
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)) or "", text)
