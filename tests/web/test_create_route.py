"""What the busiest route, the create, costs at the edge: checked by its shape, not
timed (docs/capacity.md has the figures)."""

from __future__ import annotations

from fastapi.routing import APIRoute

from complaintdesk.web.api import complaints
from complaintdesk.web.deps import get_session


def test_the_create_route_resolves_only_the_session_and_the_token() -> None:
    """Each FastAPI dependency costs the busiest route about 12 µs of CPU a request
    (measured in process, docs/capacity.md): the clock, the throttle and the classifier
    are read from the app's state, not resolved as dependencies."""
    (create,) = [
        r
        for r in complaints.router.routes
        if isinstance(r, APIRoute) and r.path == "/complaints" and "POST" in r.methods
    ]
    assert [d.name for d in create.dependant.dependencies] == ["session", "credentials"]
    assert create.dependant.dependencies[0].call is get_session
