"""Every request: an id (returned as ``X-Request-ID``), the client's address for the
audit trail, security headers, ``Cache-Control: no-store`` on what may hold personal
data, one JSON access-log line (request id, caller, method, route template, status,
time taken; contacts masked) and the request metrics.

A pure ASGI middleware: it adds nothing to a response's body and costs one
dictionary per request.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from complaintdesk import context
from complaintdesk.domain.privacy import mask_text

access_log = logging.getLogger("complaintdesk.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    # Pages load only their own scripts and styles (HTMX, ECharts and Swagger UI are
    # vendored under /static; no inline script), and are never framed.
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
        b"base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_STATIC = ("/static/",)

Observer = Callable[[str, str, int, float], None]
"""Called once per request with (method, route template, status, seconds)."""


class ObserveMiddleware:
    def __init__(
        self, app: ASGIApp, observer: Observer | None = None, access_log: bool = True
    ) -> None:
        self.app = app
        self.observer = observer
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        client = scope.get("client")
        info = context.RequestInfo(
            request_id=request_id, address=client[0] if client else None, route=None
        )
        token = context.begin(info)
        status = 500
        path: str = scope["path"]

        async def wrapped_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                # A route's own value (a photo's nosniff, say) is kept, never doubled.
                present = {name.lower() for name, _ in headers}
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if not path.startswith(_STATIC) and b"cache-control" not in present:
                    # Complaints, owners and their words: never kept by a browser or a proxy.
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, wrapped_send)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            fallback = "static" if path.startswith(_STATIC) else "unmatched"
            template = _template(path, getattr(route, "path", None)) or fallback
            if self.observer is not None:
                self.observer(scope["method"], template, status, seconds)
            if self.access_log:
                _log_access(scope, info, template, status, seconds)
            context.end(token)


def _log_access(
    scope: Scope, info: context.RequestInfo, template: str, status: int, seconds: float
) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    path: str = scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    access_log.info(
        JsonMessage(
            {
                "event": "request",
                "request_id": info.request_id,
                "caller": info.caller,
                "address": info.address,
                "method": scope["method"],
                "route": template,
                "path": mask_text(path + ("?" + query if query else "")),
                "status": status,
                "ms": round(seconds * 1000, 1),
            }
        )
    )


class JsonMessage(dict[str, object]):
    """A log message made of fields: read as text (``record.getMessage()``, any
    handler) it is their JSON object; :class:`JsonFormatter` takes the fields as they
    are, so a line is written to JSON once (not written, parsed and written again)."""

    def __str__(self) -> str:
        return json.dumps(self, ensure_ascii=False)


def _template(path: str, route_path: str | None) -> str | None:
    """The route's template with the prefix it was included under: the route knows only
    its own part (``/owners/{owner_id}``), the path has as many segments after the
    prefix (``/api/v1/owners/42``)."""
    if route_path is None:
        return None
    own = route_path.count("/")
    parts = path.split("/")
    prefix = "/".join(parts[: len(parts) - own]) if own < len(parts) else ""
    return prefix + route_path


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (contacts masked), and the
    request id of the request being served, if any."""

    def format(self, record: logging.LogRecord) -> str:
        body: object
        if isinstance(record.msg, JsonMessage) and not record.args:
            body, message = record.msg, ""
        else:
            message = record.getMessage()
            try:
                body = json.loads(message) if message.startswith("{") else None
            except ValueError:
                body = None
        line: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if isinstance(body, dict):
            line.update(body)
        else:
            line["message"] = mask_text(message)
        request_id = context.current().request_id
        if request_id and "request_id" not in line:
            line["request_id"] = request_id
        if record.exc_info:
            line["error"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on standard error for every logger (``serve``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # ``serve`` migrates nothing; Alembic's context, made to read the schema's revision
    # (at start and on every /readyz), would log at INFO which DDL it assumes each time.
    logging.getLogger("alembic.runtime.migration").setLevel(max(level, logging.WARNING))
