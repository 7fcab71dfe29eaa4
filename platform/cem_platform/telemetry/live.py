"""Live fan-out of latest values and alarm changes: Redis pub/sub, or an in-process hub for the demo.

Every event belongs to one enterprise and goes out on the channel ``cem:live:{enterprise_id}``, so a
subscriber listens only to the enterprises its user may see. Events are JSON objects with a ``type``:

- ``latest``: ``{"type": "latest", "enterprise_id": 1, "points": [{"point_id": 7, "code": "IR.BF1.COKE",
  "ts": 1764043200000, "value": 184467.25, "unit": "t", "quality": "good", "estimated": false}]}``
- ``alarm``: ``{"type": "alarm", "enterprise_id": 1, "action": "raised", "alarm": {...}}``
- ``status``: ``{"type": "status", "enterprise_id": 1, "device_id": "dev-...", "state": "online", ...}``

Publishing never fails the caller: live updates are a convenience, the database is the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import msgspec
from redis.asyncio import Redis

from cem_platform.settings import Settings

__all__ = ["CHANNEL_PREFIX", "LiveHub", "LoopRedis", "MemoryHub", "RedisHub", "hub_for"]

log = logging.getLogger("cem.live")
CHANNEL_PREFIX = "cem:live:"
QUEUE_LIMIT = 1000  # a subscriber that falls this far behind loses the oldest events, never blocks publishers


class LiveHub(Protocol):
    """Where live events are published and followed."""

    async def publish(self, enterprise_id: int, event: dict[str, Any]) -> None:
        """Send ``event`` to everyone following ``enterprise_id`` (never raises)."""

    def subscribe(
        self, enterprise_ids: frozenset[int] | None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        """Follow these enterprises (None: all of them) until the context ends."""


class MemoryHub:
    """One process's hub: the demo without Redis (the API, ingest and jobs share the process)."""

    def __init__(self) -> None:
        self._subscribers: set[tuple[frozenset[int] | None, asyncio.Queue[dict[str, Any]]]] = set()

    async def publish(self, enterprise_id: int, event: dict[str, Any]) -> None:
        """Put the event on every matching subscriber's queue (dropping its oldest when it is full)."""
        for scope, queue in list(self._subscribers):
            if scope is not None and enterprise_id not in scope:
                continue
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, enterprise_ids: frozenset[int] | None) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Follow these enterprises."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        entry = (enterprise_ids, queue)
        self._subscribers.add(entry)

        async def events() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            self._subscribers.discard(entry)


class LoopRedis:
    """A Redis client per event loop: a client belongs to the loop it was made in, and jobs run many loops."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._redis: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> Redis:
        loop = asyncio.get_running_loop()
        if self._redis is None or self._loop is not loop:
            self._redis, self._loop = Redis.from_url(self.url), loop
        return self._redis


class RedisHub(LoopRedis):
    """Redis pub/sub: every API process's subscribers see what any ingest process or job published."""

    async def publish(self, enterprise_id: int, event: dict[str, Any]) -> None:
        """PUBLISH on the enterprise's channel."""
        try:
            await self._client().publish(f"{CHANNEL_PREFIX}{enterprise_id}", msgspec.json.encode(event))
        except Exception:  # noqa: BLE001 - live updates must never break ingest or a request
            log.warning("live update not published", exc_info=True)

    @contextlib.asynccontextmanager
    async def subscribe(self, enterprise_ids: frozenset[int] | None) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """SUBSCRIBE to the enterprises' channels (PSUBSCRIBE to all when None)."""
        pubsub = self._client().pubsub(ignore_subscribe_messages=True)
        if enterprise_ids is None:
            await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
        elif enterprise_ids:
            await pubsub.subscribe(*(f"{CHANNEL_PREFIX}{e}" for e in sorted(enterprise_ids)))

        async def events() -> AsyncIterator[dict[str, Any]]:
            if enterprise_ids is not None and not enterprise_ids:
                await asyncio.Event().wait()  # nothing to follow: wait until the caller gives up
            while True:
                message = await pubsub.get_message(timeout=30.0)
                if message is None or message.get("type") not in ("message", "pmessage"):
                    continue
                try:
                    yield msgspec.json.decode(message["data"])
                except msgspec.DecodeError:
                    log.warning("malformed live event ignored")

        try:
            yield events()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def close(self) -> None:
        """Close the Redis connection."""
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


_memory_hub = MemoryHub()
_redis_hubs: dict[str, RedisHub] = {}


def hub_for(settings: Settings) -> LiveHub:
    """The hub of this process: Redis when CEM_REDIS_URL is set, else the in-process one."""
    if not settings.redis.url:
        return _memory_hub
    hub = _redis_hubs.get(settings.redis.url)
    if hub is None:
        hub = _redis_hubs[settings.redis.url] = RedisHub(settings.redis.url)
    return hub
