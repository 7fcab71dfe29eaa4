"""The Litestar application, assembled in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Router
from litestar.datastructures import CacheControlHeader, State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from redis.asyncio import Redis

from cem_platform.accounting import library_store
from cem_platform.accounting.routes import AccountingController, EmissionsController, ReportingController
from cem_platform.alarms.routes import AlarmController
from cem_platform.audit.routes import AuditController
from cem_platform.benchmarking import measures, references
from cem_platform.benchmarking.routes import BenchmarkingController
from cem_platform.carbon_assets import rules
from cem_platform.carbon_assets.routes import CarbonAssetsController
from cem_platform.db import close_db, init_db
from cem_platform.health.routes import health, ready
from cem_platform.http_errors import EXCEPTION_HANDLERS, document_error_responses
from cem_platform.identity.http import BearerAuthenticationMiddleware
from cem_platform.identity.routes import ApiTokenController, AuthController, UserController
from cem_platform.identity.services import IdentityService
from cem_platform.logs import configure_logging
from cem_platform.middleware import (
    RateLimiter,
    ip_filter_middleware,
    rate_limit_middleware,
    request_context_middleware,
)
from cem_platform.org.routes import org_router
from cem_platform.scheduler import embedded_jobs
from cem_platform.settings import Settings, get_settings
from cem_platform.statistics.routes import StatisticsController
from cem_platform.sysconfig.routes import SystemParameterController
from cem_platform.telemetry.consumer import embedded_ingest
from cem_platform.telemetry.ingest_routes import IngestController
from cem_platform.telemetry.live_routes import live_updates
from cem_platform.telemetry.routes import PointDataController
from cem_registry.routes import BrokerController, RegistryController
from cem_registry.services import DeviceRegistry

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"
PUBLIC_PATHS = ["^/health$", "^/ready$", "^/schema", f"^{API_PREFIX}/auth/(login|refresh)$"]

# The browsable API docs (swagger-ui-dist) are served by the platform itself, since plants' control networks have
# no internet. The version is in the files' path, so browsers keep them a year; static/apidocs/README.md says how to
# move it.
APIDOCS_DIR = Path(__file__).resolve().parent / "static" / "apidocs"
APIDOCS_VERSION = "5.36.0"
APIDOCS_PATH = f"/schema/static/swagger-ui-{APIDOCS_VERSION}"


def _api_docs() -> tuple[SwaggerRenderPlugin, Router]:
    """The docs page at ``/schema``, and the route of its script, style and icon."""
    page = SwaggerRenderPlugin(
        js_url=f"{APIDOCS_PATH}/swagger-ui-bundle.js",
        css_url=f"{APIDOCS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{APIDOCS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{APIDOCS_PATH}/favicon-32x32.png'>",
    )
    files = create_static_files_router(
        path=APIDOCS_PATH,
        directories=[APIDOCS_DIR],
        name="apidocs",
        cache_control=CacheControlHeader(max_age=365 * 86400, public=True, immutable=True),
    )
    return page, files


async def seed_methodology() -> None:
    """Version 1 of every methodology library (factors, formulas, grid, energy, benchmarks, measures, market rules)
    stored when the platform starts, so that a read never has to (each step does nothing when it is there)."""
    await library_store.ensure_seeded()
    await references.ensure_seeded()
    await measures.ensure_measures_seeded()
    await rules.ensure_seeded()


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the API for these settings (the process environment's by default)."""
    settings = settings or get_settings()
    configure_logging(settings.log)
    redis = Redis.from_url(settings.redis.url) if settings.redis.url else None

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await init_db(settings.database)
        await seed_methodology()
        try:
            yield
        finally:
            await close_db()
            if redis is not None:
                await redis.aclose()

    api = Router(
        path=API_PREFIX,
        route_handlers=[
            AuthController,
            UserController,
            ApiTokenController,
            AuditController,
            SystemParameterController,
            org_router,
            RegistryController,
            BrokerController,
            AlarmController,
            PointDataController,
            live_updates,  # WebSocket /api/v1/live: authenticates itself (browsers cannot send the header)
            IngestController,
            AccountingController,
            EmissionsController,
            StatisticsController,
            BenchmarkingController,
            CarbonAssetsController,
            ReportingController,
        ],
    )
    # ---- periodic jobs in this process: only with CEM_INGEST_EMBEDDED (the demo); Celery beat runs them otherwise.
    # A lifespan hook of its own, listed after `lifespan`: it starts once the database is open, stops before it closes.
    periodic_jobs = [embedded_jobs(settings)] if settings.ingest.embedded else []
    # ---- end of periodic jobs
    docs_page, docs_files = _api_docs()
    app = Litestar(
        route_handlers=[health, ready, api, docs_files],
        lifespan=[lifespan, *periodic_jobs, *([embedded_ingest(settings)] if settings.ingest.embedded else [])],
        state=State(
            {
                "settings": settings,
                "identity": IdentityService(settings),
                "registry": DeviceRegistry(settings),
                "redis": redis,
            }
        ),
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[DefineMiddleware(BearerAuthenticationMiddleware, exclude=PUBLIC_PATHS)],
        openapi_config=OpenAPIConfig(
            title="CEM — carbon emission management platform",
            version="1.0.0",
            description="REST API of CEM (T/SSEA carbon emission management platform guide; GB/T 32151.5).",
            path="/schema",
            render_plugins=[docs_page],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http", scheme="bearer", description="session access token or API token"
                    )
                }
            ),
            security=[{"bearer": []}],
        ),
        debug=settings.server.debug,
    )
    # Outside Litestar's router, so that every request gets an id, a log line, the IP lists and the rate
    # limits, including requests to paths that match no route.
    handler: Any = app.asgi_handler
    for wrap in (
        rate_limit_middleware(settings.ratelimit, RateLimiter(redis)),
        ip_filter_middleware(settings.security),
        request_context_middleware(settings.server),
    ):
        handler = wrap(handler)
    app.asgi_handler = handler
    document_error_responses(app)
    return app
