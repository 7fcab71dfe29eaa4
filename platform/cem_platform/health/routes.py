"""Liveness (/health) and readiness (/ready: database and, when configured, Redis reachable)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from cem_platform.db import ping_db

__all__ = ["health", "ready"]


class Health(msgspec.Struct):
    """Probe answer."""

    status: str
    checks: dict[str, str] = {}


@get("/health", exclude_from_auth=True, tags=["health"], summary="Liveness")
async def health() -> Health:
    """The process answers."""
    return Health(status="ok")


@get(
    "/ready",
    exclude_from_auth=True,
    tags=["health"],
    summary="Readiness",
    responses={503: ResponseSpec(data_container=Health, description="Not ready: checks names what is unreachable")},
)
async def ready(request: Request[Any, Any, Any]) -> Response[Health]:
    """The database (and Redis, when configured) can be reached; 503 otherwise."""
    checks: dict[str, str] = {}
    try:
        await ping_db()
        checks["database"] = "ok"
    except Exception as err:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"unreachable: {type(err).__name__}"
    redis = request.app.state.redis
    if redis is not None:
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception as err:  # noqa: BLE001
            checks["redis"] = f"unreachable: {type(err).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return Response(Health(status="ok" if ok else "unavailable", checks=checks), status_code=200 if ok else 503)
