"""Settings, health and readiness, OpenAPI, error format, rate limits and IP lists."""

from __future__ import annotations

import os
import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from cem_platform.errors import ConfigurationError
from cem_platform.middleware import RateLimiter, ip_filter_middleware, rate_limit_middleware, request_context_middleware
from cem_platform.settings import RateLimitSettings, SecuritySettings, ServerSettings, load_settings
from tests.conftest import REDIS_URL
from tests.test_platform.world import World


def test_settings_come_from_cem_variables() -> None:
    settings = load_settings(
        {
            "CEM_DATABASE_URL": "postgres://db/cem",
            "CEM_AUTH_LOCKOUT_THRESHOLD": "7",
            "CEM_RATELIMIT_ENABLED": "false",
            "CEM_SECURITY_IP_ALLOW": "10.0.0.0/8, 127.0.0.1",
            "OTHER": "ignored",
        }
    )
    assert settings.database.url == "postgres://db/cem"
    assert settings.auth.lockout_threshold == 7
    assert settings.ratelimit.enabled is False
    assert settings.security.ip_allow == ("10.0.0.0/8", "127.0.0.1")


def test_serve_uses_the_cores_on_postgresql_and_one_process_where_one_must_run() -> None:
    cores = os.cpu_count() or 1

    def workers(**environ: str) -> int:
        settings = load_settings(environ)
        return settings.server.worker_count(settings.database.url, settings.ingest.embedded)

    assert workers(CEM_DATABASE_URL="postgres://db/cem") == cores
    assert workers(CEM_DATABASE_URL="sqlite://demo.sqlite3") == 1  # one writer
    assert workers(CEM_DATABASE_URL="postgres://db/cem", CEM_INGEST_EMBEDDED="true") == 1  # ingest and jobs once
    assert workers(CEM_DATABASE_URL="sqlite://demo.sqlite3", CEM_SERVER_WORKERS="3") == 3  # said on purpose


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"CEM_AUTH_LOCKOUT_TRESHOLD": "7"}, "CEM_AUTH_LOCKOUT_THRESHOLD"),  # a typo names the right variable
        ({"CEM_AUTH_LOCKOUT_THRESHOLD": "many"}, "invalid setting"),
        ({"CEM_RATELIMIT_ENABLED": "perhaps"}, "true or false"),
        ({"CEM_SERVER_PORT": "70000"}, "invalid setting"),
    ],
)
def test_bad_settings_say_what_is_wrong(environ: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        load_settings(environ)


async def test_health_ready_and_openapi(world: World) -> None:
    assert (await world.client.get("/health")).json()["status"] == "ok"
    ready = (await world.client.get("/ready")).json()
    assert ready == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    schema = (await world.client.get("/schema/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "/api/v1/auth/login" in schema["paths"]


async def test_errors_are_json_with_request_id(world: World) -> None:
    response = await world.client.get("/api/v1/nowhere", headers={"X-Request-ID": "trace-abc-123"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "trace-abc-123"
    body = response.json()
    assert body["request_id"] == "trace-abc-123"
    assert body["error"]["code"] == "not_found" and body["error"]["hint"]


async def _ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _stack(*wrappers: Any) -> Any:
    app: Any = _ok_app
    for wrap in reversed(wrappers):
        app = wrap(app)
    return app


async def test_rate_limit_counts_in_redis_across_processes() -> None:
    redis = Redis.from_url(REDIS_URL)
    limits = RateLimitSettings(per_minute=5, login_per_minute=2)
    # Two app instances share one Redis, as two API processes would.
    apps = [
        _stack(request_context_middleware(ServerSettings()), rate_limit_middleware(limits, RateLimiter(redis)))
        for _ in range(2)
    ]
    client_ip = f"127.0.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    statuses = []
    for i in range(7):
        transport = httpx.ASGITransport(app=apps[i % 2], client=(client_ip, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            statuses.append((await http.get("/api/v1/org/sites")).status_code)
            if i == 6:
                limited = await http.get("/api/v1/org/sites")
                assert limited.headers["retry-after"].isdigit()
                assert limited.json()["error"]["code"] == "rate_limited"
    await redis.aclose()
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429, 429]


async def test_login_has_its_own_stricter_budget() -> None:
    limiter = RateLimiter(None)
    app = _stack(
        request_context_middleware(ServerSettings()),
        rate_limit_middleware(RateLimitSettings(per_minute=100, login_per_minute=2), limiter),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.9", 1)), base_url="http://t"
    ) as http:
        codes = [(await http.post("/api/v1/auth/login")).status_code for _ in range(3)]
        other = (await http.get("/api/v1/org/sites")).status_code
    assert codes == [200, 200, 429]
    assert other == 200


@pytest.mark.parametrize(
    ("allow", "deny", "ip", "status"),
    [
        ((), (), "203.0.113.5", 200),
        (("10.0.0.0/8",), (), "10.1.2.3", 200),
        (("10.0.0.0/8",), (), "192.0.2.1", 403),
        ((), ("192.0.2.0/24",), "192.0.2.1", 403),
        (("10.0.0.0/8",), ("10.9.0.0/16",), "10.9.1.1", 403),
        (("::1",), (), "::1", 200),
    ],
)
async def test_ip_allow_and_deny_lists(allow: tuple[str, ...], deny: tuple[str, ...], ip: str, status: int) -> None:
    app = _stack(
        request_context_middleware(ServerSettings()),
        ip_filter_middleware(SecuritySettings(ip_allow=allow, ip_deny=deny)),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 1)), base_url="http://t") as http:
        response = await http.get("/api/v1/org/sites")
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"]["code"] == "address_refused"


async def test_forwarded_address_is_trusted_only_from_a_trusted_proxy() -> None:
    seen: list[str] = []

    async def record(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["state"]["client_ip"])
        await _ok_app(scope, receive, send)

    app = request_context_middleware(ServerSettings(trusted_proxies=("127.0.0.1",)))(record)
    for peer in ("127.0.0.1", "198.51.100.7"):
        transport = httpx.ASGITransport(app=app, client=(peer, 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await http.get("/", headers={"X-Forwarded-For": "6.6.6.6, 192.0.2.44"})
    assert seen == ["192.0.2.44", "198.51.100.7"]
