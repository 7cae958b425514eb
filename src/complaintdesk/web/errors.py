"""Every error as ``application/problem+json`` (RFC 9457), with a message per field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from complaintdesk.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    TransitionNotAllowed,
)

PROBLEM = "application/problem+json"
_UNREADABLE_BODY = "There was an error parsing the body"

_STATUS: dict[type[DomainError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Forbidden: 403,
    TransitionNotAllowed: 409,
    Conflict: 409,
    RateLimited: 429,
}
_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    422: "Invalid input",
    429: "Too many requests",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error (RFC 9457): what went wrong and, for bad input, which fields.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}

_WHEN = {
    401: "No bearer token, or not a valid one (expired, revoked, its holder deactivated)",
    403: "The caller may see this but not take this action",
    404: "It does not exist, or is not the caller's to know of",
    409: "Not allowed in the current state, or changed by someone else",
    413: "The request body is over the limit; refused before it is read",
    422: "Bad input; `errors` names each field at fault",
    429: "Too many requests; `Retry-After` says when to try again",
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": when,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, when in _WHEN.items()
}
RESPONSES[429]["headers"] = {
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
}
"""The error answers every API route may give, declared once on the routers."""


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://complaintdesk.dev/problems/{code or status}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


PageErrors = Callable[[Request, int, str, dict[str, str] | None], Response]
"""Renders an error as a page (set by the pages as ``app.state.page_errors``)."""


def _as_page(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response | None:
    """The error as an HTML page when it happened on a page, not on the JSON API."""
    render: PageErrors | None = getattr(request.app.state, "page_errors", None)
    if render is None or request.url.path.startswith("/api/"):
        return None
    return render(request, status, detail, headers)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    _document_problems(app)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        page = _as_page(request, status, exc.message, headers)
        if page is not None:
            return page
        errors = [{"field": exc.field, "message": exc.message}] if exc.field else None
        return problem(status, exc.message, code=exc.code, errors=errors, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": _field_path(tuple(e.get("loc", ()))),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        fields = ", ".join(e["field"] for e in errors)
        page = _as_page(request, 422, f"invalid input in: {fields} / 输入有误")
        if page is not None:
            return page
        return problem(
            422, f"invalid input in: {fields} / 输入有误", code="invalid_input", errors=errors
        )

    @app.exception_handler(StaleDataError)
    async def _stale(request: Request, exc: StaleDataError) -> Response:
        detail = (
            "the complaint was changed by someone else; reload and retry "
            "/ 投诉已被他人更新,请刷新后重试"
        )
        return _as_page(request, 409, detail) or problem(409, detail, code="stale")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
            # FastAPI's word for a body it could not decode (bad UTF-8, say): that is
            # invalid input in the body, so it gets the same 422 shape as the rest.
            return problem(
                422,
                "the request body could not be read: send UTF-8 JSON "
                "/ 请求内容无法解析,请使用 UTF-8 编码的 JSON",
                code="invalid_input",
                errors=[{"field": "body", "message": "not UTF-8 JSON"}],
            )
        headers = dict(exc.headers) if exc.headers else None
        page = _as_page(request, exc.status_code, str(exc.detail), headers)
        return page or problem(exc.status_code, str(exc.detail), headers=headers)


def _document_problems(app: FastAPI) -> None:
    """Put the Problem schema that :data:`RESPONSES` refers to in the OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = PROBLEM_SCHEMA
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
