"""Session fixtures: a fresh PostgreSQL database migrated with the real migrations, real Redis, the app."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis
from tortoise import connections

from cem_platform.app import create_app
from cem_platform.db import close_db, init_db, upgrade_db
from cem_platform.settings import Settings, load_settings
from cem_registry.ca import Authority

ADMIN_DB_URL = os.environ.get("CEM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _db_url(name: str) -> str:
    parts = urlsplit(ADMIN_DB_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A database created for this test session, migrated with `cem db upgrade`'s code, dropped at the end."""
    name = f"cem_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DB_URL.replace("postgres://", "postgresql://", 1))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _db_url(name)
    try:
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
def broker_dir() -> Iterator[Path]:
    """Where the registry publishes the broker's CRL and ACL: under /tmp, readable by the mosquitto user."""
    directory = Path(tempfile.mkdtemp(prefix="cem-broker-", dir="/tmp"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
async def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory, broker_dir: Path) -> Settings:
    """Settings of the app under test: real PostgreSQL and Redis; the CA's files in temporary folders."""
    return load_settings(
        {
            "CEM_PKI_PASSPHRASE": "test-pki-passphrase-0123456789",
            "CEM_PKI_DIR": str(tmp_path_factory.mktemp("pki")),
            "CEM_PKI_DEVICE_DAYS": "20",  # inside the 30-day renewal window from the start
            "CEM_BROKER_CONFIG_DIR": str(broker_dir),
            "CEM_BROKER_PID_FILE": str(broker_dir / "mosquitto.pid"),
            "CEM_BROKER_AUTHZ_KEY": "test-broker-key-0123456789",
            "CEM_DATABASE_URL": database_url,
            "CEM_REDIS_URL": REDIS_URL,
            "CEM_SECURITY_SECRET_KEY": "test-secret-key-" + "x" * 32,
            "CEM_RATELIMIT_PER_MINUTE": "100000",
            "CEM_RATELIMIT_LOGIN_PER_MINUTE": "100000",
            "CEM_LOG_LEVEL": "WARNING",
        }
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Litestar]:
    """The application, with its database migrated and open in the test's event loop."""
    await upgrade_db(settings.database)
    application = create_app(settings)
    await init_db(settings.database)
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    await redis.aclose()
    authority = Authority(settings)
    if not await authority.is_initialised():
        await authority.initialise()  # one CA for the session: the test broker trusts it
    yield application
    await application.state.redis.aclose()
    await close_db()


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process, as a caller from 127.0.0.1."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://cem.test") as http:
        yield http


DATA_TABLES = [
    "ca_trial",
    "ca_transaction",
    "ca_price",
    "ca_plan_month",
    "bm_correction_input",
    "bm_reference_version",
    "bm_scenario",
    "acc_result",
    "acc_result_stamp",
    "acc_activity",
    "acc_import",
    "acc_evidence",
    "acc_source",
    "acc_year_method",
    "acc_library_version",
    "alarm_event",
    "alarm",
    "ingest_dead_letter",
    "ingest_device_status",
    "ts_reading",
    "ts_pending",
    "ts_batch",
    "ts_point_source",
    "ts_rollup_hour",
    "ts_rollup_day",
    "ts_rollup_month",
    "reg_enrolment_token",
    "reg_device_certificate",
    "reg_device",
    "auth_refresh_used",
    "auth_login_failure",
    "auth_session",
    "auth_api_token",
    "auth_user_scope",
    "auth_user",
    "sys_parameter",
    "org_point",
    "org_facility",
    "org_process",
    "org_site",
    "org_enterprise",
    "audit_record",
]


@pytest.fixture(autouse=True)
async def clean_database(app: Litestar) -> AsyncIterator[None]:
    """Every test starts with empty data tables (dictionaries from the migrations stay)."""
    yield
    conn = connections.get("default")
    await conn.execute_script(
        "ALTER TABLE audit_record DISABLE TRIGGER USER;"
        f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE;"
        "ALTER TABLE audit_record ENABLE TRIGGER USER;"
        "DELETE FROM org_facility_type WHERE NOT builtin; DELETE FROM org_process_type WHERE NOT builtin;"
    )


@pytest.fixture
async def world(settings: Settings, client: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    """Two enterprises with users (see tests/test_platform/world.py)."""
    from tests.test_platform.world import make_world

    return await make_world(settings, client)
