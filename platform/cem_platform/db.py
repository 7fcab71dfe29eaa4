"""Database wiring: the Tortoise configuration, start and stop, and schema migrations.

PostgreSQL (asyncpg) in production and tests, SQLite for the demo; both get their schema from the same
migration files in ``cem_platform.migrations`` (``cem db upgrade``), never from ``generate_schemas``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate

from cem_platform.errors import ConfigurationError
from cem_platform.settings import DatabaseSettings, Settings, get_settings

T = TypeVar("T")

__all__ = [
    "MODEL_MODULES",
    "close_db",
    "init_db",
    "is_postgres",
    "ping_db",
    "run_with_db",
    "tortoise_config",
    "upgrade_db",
]

APP_LABEL = "cem"
MODEL_MODULES = [
    "cem_platform.org.models",
    "cem_platform.identity.models",
    "cem_platform.audit.models",
    "cem_platform.sysconfig.models",
    "cem_platform.telemetry.models",
    "cem_platform.alarms.models",
    "cem_platform.accounting.models",
    "cem_platform.benchmarking.models",
    "cem_platform.carbon_assets.models",
    "cem_registry.models",
]


def is_postgres(url: str) -> bool:
    """True when ``url`` names a PostgreSQL database."""
    return urlsplit(url).scheme in ("postgres", "postgresql", "asyncpg", "psycopg")


def _connection_url(settings: DatabaseSettings) -> str:
    parts = urlsplit(settings.url)
    if parts.scheme == "sqlite":
        return settings.url
    if not is_postgres(settings.url):
        raise ConfigurationError(
            f"CEM_DATABASE_URL has scheme {parts.scheme!r}; use postgres://user@host:5432/db or sqlite://path"
        )
    query = dict(parse_qsl(parts.query))
    query.setdefault("minsize", str(settings.pool_min))
    query.setdefault("maxsize", str(settings.pool_max))
    return urlunsplit(("postgres", parts.netloc, parts.path, urlencode(query), parts.fragment))


def tortoise_config(settings: DatabaseSettings) -> dict[str, Any]:
    """The Tortoise configuration for these settings."""
    return {
        "connections": {"default": _connection_url(settings)},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "cem_platform.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def init_db(settings: DatabaseSettings) -> None:
    """Open the connection pool and register the models for every task of this process (the ASGI server runs
    the lifespan and the requests in different tasks, so the context must be global, not per task)."""
    await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)


async def close_db() -> None:
    """Close every connection."""
    await Tortoise.close_connections()


def run_with_db(work: Callable[[Settings], Awaitable[T]]) -> T:
    """For commands and jobs: open the database of this process's settings, run ``work``, close it."""
    settings = get_settings()

    async def run() -> T:
        await init_db(settings.database)
        try:
            return await work(settings)
        finally:
            await close_db()

    return asyncio.run(run())


async def ping_db() -> None:
    """Run a trivial query; raises if the database cannot be reached."""
    await connections.get("default").execute_query("SELECT 1")


async def upgrade_db(settings: DatabaseSettings) -> None:
    """Apply every migration not yet applied (idempotent)."""
    await migrate(config=tortoise_config(settings), app_labels=[APP_LABEL])
    await Tortoise.close_connections()
