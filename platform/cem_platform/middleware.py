"""ASGI middleware of the API: request ids and access logs, IP allow/deny lists, per-client rate limits."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from redis.asyncio import Redis

from cem_platform.errors import ConfigurationError
from cem_platform.http_errors import error_body
from cem_platform.settings import RateLimitSettings, SecuritySettings, ServerSettings

__all__ = ["RateLimiter", "client_ip", "ip_filter_middleware", "rate_limit_middleware", "request_context_middleware"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("cem.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _networks(items: tuple[str, ...], name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(item, strict=False) for item in items]
    except ValueError as err:
        raise ConfigurationError(f"{name} has an entry that is not an address or CIDR network: {err}") from err


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


def client_ip(scope: Scope, trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """The caller's address; behind a trusted proxy, the right-most untrusted X-Forwarded-For entry."""
    peer = (scope.get("client") or ("", 0))[0] or ""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if not any(address in net for net in trusted_proxies):
        return peer
    for hop in reversed([h.strip() for h in _header(scope, b"x-forwarded-for").split(",") if h.strip()]):
        try:
            hop_address = ipaddress.ip_address(hop)
        except ValueError:
            break
        if not any(hop_address in net for net in trusted_proxies):
            return hop
    return peer


async def _send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    hint: str,
    request_id: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(error_body(code, message, hint, None, request_id)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def request_context_middleware(server: ServerSettings) -> Callable[[ASGIApp], ASGIApp]:
    """Give each request an id (kept from X-Request-ID when well-formed), its client address, and a log line."""
    proxies = _networks(server.trusted_proxies, "CEM_SERVER_TRUSTED_PROXIES")

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            incoming = _header(scope, b"x-request-id")
            request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
            state = scope.setdefault("state", {})
            state["request_id"] = request_id
            state["client_ip"] = client_ip(scope, proxies)
            started = time.perf_counter()
            status = 500

            async def send_with_id(message: MutableMapping[str, Any]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                await send(message)

            try:
                await app(scope, receive, send_with_id)
            finally:
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                        "ip": state["client_ip"],
                        "who": state.get("principal_name", ""),
                    },
                )

        return middleware

    return wrap


def ip_filter_middleware(security: SecuritySettings) -> Callable[[ASGIApp], ASGIApp]:
    """Refuse callers on the deny list, and when an allow list is set, everyone not on it."""
    allow = _networks(security.ip_allow, "CEM_SECURITY_IP_ALLOW")
    deny = _networks(security.ip_deny, "CEM_SECURITY_IP_DENY")

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or not (allow or deny):
                await app(scope, receive, send)
                return
            state = scope.get("state", {})
            ip = state.get("client_ip", "")
            try:
                address = ipaddress.ip_address(ip)
                refused = any(address in n for n in deny) or bool(allow and not any(address in n for n in allow))
            except ValueError:
                refused = True
            if refused:
                await _send_error(
                    send,
                    403,
                    "address_refused",
                    f"requests from {ip} are not allowed",
                    "Connect from an allowed network, or ask the administrator to allow yours.",
                    state.get("request_id", ""),
                )
                return
            await app(scope, receive, send)

        return middleware

    return wrap


class RateLimiter:
    """Fixed one-minute windows per client and bucket, counted in Redis (shared by every API process) or,
    for the demo, in this process."""

    def __init__(self, redis: Redis | None) -> None:
        self.redis = redis
        self._local: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str) -> int:
        """Count one request; returns the count in the current window."""
        window = int(time.time() // 60)
        full_key = f"cem:rl:{key}:{window}"
        if self.redis is not None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(full_key)
                pipe.expire(full_key, 120)
                count, _ = await pipe.execute()
            return int(count)
        current_window, count = self._local.get(key, (window, 0))
        count = count + 1 if current_window == window else 1
        self._local[key] = (window, count)
        if len(self._local) > 100_000:  # bound memory: forget past windows
            self._local = {k: v for k, v in self._local.items() if v[0] == window}
        return count


def rate_limit_middleware(settings: RateLimitSettings, limiter: RateLimiter) -> Callable[[ASGIApp], ASGIApp]:
    """Answer 429 once a client exceeds its per-minute budget; logins have a budget of their own."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            path = scope.get("path", "")
            if scope["type"] != "http" or not settings.enabled or path in ("/health", "/ready"):
                await app(scope, receive, send)
                return
            state = scope.get("state", {})
            ip = state.get("client_ip", "")
            is_login = path == "/api/v1/auth/login"
            bucket, limit = ("login", settings.login_per_minute) if is_login else ("api", settings.per_minute)
            if await limiter.hit(f"{bucket}:{ip}") > limit:
                await _send_error(
                    send,
                    429,
                    "rate_limited",
                    f"more than {limit} requests a minute from {ip}",
                    "Slow down and retry after the time given in the Retry-After header.",
                    state.get("request_id", ""),
                    [(b"retry-after", str(60 - int(time.time()) % 60).encode())],
                )
                return
            await app(scope, receive, send)

        return middleware

    return wrap
