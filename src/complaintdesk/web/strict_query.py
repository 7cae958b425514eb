"""Unknown query parameters are refused (422 naming them), on every route.

A misspelt filter (``?stauts=closed``) or one a route does not have (``?q=`` before
search existed) would otherwise be ignored silently, and the caller would take the
unfiltered answer for the filtered one. The check is one application-wide
dependency: it compares the request's query keys with the parameters the matched
route declares (its own and its dependencies'), so a new route is covered without
being edited.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

_declared: dict[int, frozenset[str]] = {}


def declared_query_names(route: APIRoute) -> frozenset[str]:
    """The query parameter names ``route`` accepts (aliases as sent on the wire)."""
    names = _declared.get(id(route))
    if names is None:
        names = frozenset(_query_aliases(route.dependant))
        _declared[id(route)] = names
    return names


def _query_aliases(dependant: Dependant) -> Iterator[str]:
    yield from (field.alias for field in dependant.query_params)
    for sub in dependant.dependencies:
        yield from _query_aliases(sub)


async def reject_unknown_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    allowed = declared_query_names(route)
    unknown = sorted({key for key in request.query_params if key not in allowed})
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise RequestValidationError(
            [
                {
                    "loc": ("query", key),
                    "msg": f"unknown query parameter; this endpoint accepts: {accepted} "
                    "/ 未知的查询参数",
                    "type": "unknown_parameter",
                }
                for key in unknown
            ]
        )
