"""Request bodies have a size limit, enforced before they are read and before the
caller is authenticated.

FastAPI reads a whole body before it runs any dependency, the bearer-token check
included, so without a limit an unauthenticated client could make the server hold any
amount of memory. This ASGI middleware refuses a declared ``Content-Length`` over the
limit without reading a byte, and counts the bytes of a body sent without one
(chunked), stopping at the limit. (FastAPI's own ``max_body_size`` answers a declared
length in plain text, replacing whatever the route said; ours answers
``application/problem+json`` like every other error.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class BodyLimits:
    """``default`` bytes on every path; ``uploads`` bytes on paths under
    ``upload_prefixes`` (an owner's photos)."""

    default: int
    uploads: int
    upload_prefixes: Sequence[str] = ()

    def for_path(self, path: str) -> int:
        if any(path.startswith(prefix) for prefix in self.upload_prefixes):
            return self.uploads
        return self.default


def too_large_detail(limit: int) -> str:
    return f"the request body is over {limit} bytes / 请求内容超过 {limit} 字节"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit. FastAPI lets an
    HTTPException met while reading a body through (anything else becomes a 400), so
    the app's own handler answers it as a problem."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit))


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise  # too late for a 413: the server drops the connection
            await _refuse(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": "https://complaintdesk.dev/problems/too_large",
            "title": "Request body too large",
            "status": 413,
            "detail": too_large_detail(limit),
        },
        ensure_ascii=False,
    ).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
