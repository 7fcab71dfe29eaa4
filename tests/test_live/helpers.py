"""A WebSocket client for /api/v1/live tests, and events tagged so that a test recognises its own.

Redis pub/sub channels are shared by every database number and every test session on the machine, so each
test tags what it publishes with a nonce and ignores events without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from cem_platform.settings import Settings
from cem_platform.telemetry.live import hub_for

LIVE_PATH = "/api/v1/live"


def new_nonce() -> str:
    """A tag for one test's events."""
    return uuid.uuid4().hex


def token_of(headers: dict[str, str]) -> str:
    """The bearer token in an Authorization header."""
    return headers["Authorization"].removeprefix("Bearer ")


@contextlib.asynccontextmanager
async def live_socket(base: str, headers: dict[str, str] | None = None) -> AsyncIterator[ClientConnection]:
    """A WebSocket to /api/v1/live (no proxy, no client-side pings: the server's pings are under test)."""
    async with connect(
        f"{base}{LIVE_PATH}", additional_headers=headers, proxy=None, open_timeout=5, ping_interval=None
    ) as socket:
        yield socket


async def receive(socket: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next message."""
    raw = await asyncio.wait_for(socket.recv(), timeout)
    message: dict[str, Any] = msgspec.json.decode(raw)
    return message


async def receive_until(
    socket: ClientConnection, wanted: Callable[[dict[str, Any]], bool], timeout: float = 5.0
) -> dict[str, Any]:
    """The first message ``wanted`` accepts, skipping the others."""
    deadline = time.monotonic() + timeout
    while True:
        message = await receive(socket, max(deadline - time.monotonic(), 0.001))
        if wanted(message):
            return message


async def next_event(socket: ClientConnection, nonce: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next event this test published (pings, warm-ups and other sessions' events skipped)."""
    return await receive_until(socket, lambda m: m.get("nonce") == nonce and not m.get("warmup"), timeout)


async def login_by_message(socket: ClientConnection, token: str) -> dict[str, Any]:
    """Authenticate with the first message, as a browser does; the hello."""
    await socket.send(msgspec.json.encode({"type": "auth", "token": token}).decode())
    hello = await receive(socket)
    assert hello["type"] == "hello", hello
    return hello


async def closing(socket: ClientConnection, timeout: float = 5.0) -> tuple[int, str]:
    """Wait for the server to close the connection: its code and reason."""
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                await socket.recv()
    assert socket.close_code is not None, "the server did not close the connection"
    return socket.close_code, socket.close_reason or ""


async def publish(settings: Settings, enterprise_id: int, event: dict[str, Any]) -> None:
    """Publish through the hub, as ingest and the alarm job do."""
    await hub_for(settings).publish(enterprise_id, event)


async def warm_up(
    socket: ClientConnection,
    settings: Settings,
    enterprise_id: int,
    nonce: str,
    kind: str = "status",
    site_id: int | None = None,
) -> None:
    """Publish until the socket gets one: its subscription is in place, and so it misses nothing published later."""
    event: dict[str, Any] = {"type": kind, "enterprise_id": enterprise_id, "nonce": nonce, "warmup": True}
    if site_id is not None:
        event["site_id"] = site_id
    if kind == "alarm":
        event.update(action="raised", alarm={"id": 0})
    async with asyncio.timeout(10):
        while True:
            await publish(settings, enterprise_id, event)
            with contextlib.suppress(TimeoutError):
                await receive_until(socket, lambda m: m.get("nonce") == nonce and bool(m.get("warmup")), 0.2)
                return


def latest(enterprise_id: int, nonce: str, *points: tuple[int, int | None]) -> dict[str, Any]:
    """A latest-values event with ``points`` given as (point id, site id)."""
    return {
        "type": "latest",
        "enterprise_id": enterprise_id,
        "nonce": nonce,
        "points": [
            {"point_id": point_id, "site_id": site_id, "ts": 1764043200000, "value": 1.5, "unit": "t"}
            for point_id, site_id in points
        ],
    }


def alarm(enterprise_id: int, nonce: str, site_id: int | None = None, label: str = "") -> dict[str, Any]:
    """An alarm event (the site inside the alarm, as the alarm job sends it)."""
    return {
        "type": "alarm",
        "enterprise_id": enterprise_id,
        "nonce": nonce,
        "label": label,
        "action": "raised",
        "alarm": {"id": 1, "site_id": site_id, "severity": "major"},
    }


def status(enterprise_id: int, nonce: str, site_id: int | None = None, label: str = "") -> dict[str, Any]:
    """A device status event."""
    return {
        "type": "status",
        "enterprise_id": enterprise_id,
        "nonce": nonce,
        "label": label,
        "site_id": site_id,
        "device_id": "dev-test",
        "state": "online",
    }
