"""What is known of the request being served, for the audit trail and the logs: set by
the web edge once per request, read wherever needed, empty outside a request (the CLI,
the workers)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class RequestInfo:
    request_id: str | None = None
    address: str | None = None
    route: str | None = None
    caller: str | None = None
    """Who is calling: ``staff:<id>`` once authenticated (for the access log)."""


_current: ContextVar[RequestInfo | None] = ContextVar("complaintdesk_request", default=None)


def current() -> RequestInfo:
    info = _current.get()
    return info if info is not None else RequestInfo()


def begin(info: RequestInfo) -> object:
    """Make ``info`` the current request's; returns the token to :func:`end` it."""
    return _current.set(info)


def end(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
