"""What goes into the audit trail: the kinds of entry, each a thing someone did that the
company must be able to account for later."""

from __future__ import annotations

from enum import StrEnum


class AuditKind(StrEnum):
    PERSONAL_DATA_READ = "personal_data_read"
    """A staff member was shown an owner's full phone number or e-mail address."""
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    TOKEN_ISSUED = "token_issued"
    TOKEN_REVOKED = "token_revoked"
    STAFF_DEACTIVATED = "staff_deactivated"
    URGENCY_LOWERED = "urgency_lowered"
    """A label correction made a complaint less urgent or took it out of emergency."""


class Subject(StrEnum):
    """What an audit entry is about."""

    OWNER = "owner"
    STAFF = "staff"
    TOKEN = "token"
    COMPLAINT = "complaint"
