"""The FastAPI application."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker
from swagger_ui_bundle import swagger_ui_path

from complaintdesk import __version__
from complaintdesk.classify.base import Classifier, default_classifier
from complaintdesk.services.throttle import Throttle
from complaintdesk.settings import get_settings, load_secret_key
from complaintdesk.web import errors, metrics, pages
from complaintdesk.web.api import accounts, complaints, organisation
from complaintdesk.web.limits import BodyLimitMiddleware, BodyLimits
from complaintdesk.web.observe import ObserveMiddleware
from complaintdesk.web.pages.security import Security
from complaintdesk.web.strict_query import reject_unknown_query


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    session_factory: sessionmaker[Session],
    *,
    classifier: Classifier | None = None,
    clock: Callable[[], datetime] = _utcnow,
    secret_key: str | None = None,
) -> FastAPI:
    app = FastAPI(
        title="ComplaintDesk",
        version=__version__,
        description="Owner complaints for property management: intake with first-receiver "
        "responsibility (首问负责制), classification, dispatch, deadlines and escalation, "
        "return visits and closing summaries.",
        docs_url=None,  # served below from local files: the docs work without a CDN
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        # Every route refuses query parameters it does not declare (422 naming them).
        dependencies=[Depends(reject_unknown_query)],
    )
    app.state.session_factory = session_factory
    app.state.classifier = metrics.TimedClassifier(classifier or default_classifier())
    app.state.clock = clock
    app.state.throttle = Throttle()
    errors.install(app)
    settings = get_settings()
    metrics.install(app, session_factory)
    app.add_middleware(
        BodyLimitMiddleware,
        limits=BodyLimits(
            default=settings.max_body_bytes,
            uploads=settings.max_upload_bytes,
            upload_prefixes=settings.upload_path_prefixes,
        ),
    )
    app.add_middleware(
        ObserveMiddleware, observer=metrics.observe_request, access_log=settings.access_log
    )
    app.include_router(complaints.router, prefix="/api/v1")
    app.include_router(organisation.router, prefix="/api/v1")
    app.include_router(accounts.router, prefix="/api/v1")

    security = Security(
        secret_key or settings.secret_key or load_secret_key(settings.secret_key_file),
        secure_cookies=settings.cookie_secure,
    )
    pages.install(app, security)

    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/v1/openapi.json",
            title="ComplaintDesk API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/api/v1/openapi.json",
            title="ComplaintDesk API",
            redoc_js_url="/assets/vendor/redoc/redoc.standalone.js",
            redoc_favicon_url="/static/swagger/favicon-32x32.png",
            with_google_fonts=False,
        )

    return app
