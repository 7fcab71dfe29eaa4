"""Live updates from ``/api/v1/live``: an async iterator that stays connected, for wallboards and dashboards.

::

    async with LiveFeed(api, points=[7, 9]) as feed:
        async for event in feed:
            if event.type == "connected":   # first connection and every reconnection: reload REST snapshots,
                ...                          # events sent while the connection was down are not replayed
            elif event.type == "alarm":
                event.alarm                 # the Alarm, event.action: raised, repeated, escalated, acknowledged ...
            elif event.type == "latest":
                event.points                # LivePoint values

The feed authenticates with the client's token as its first message, renews the connection's token when the
client refreshes its session, and reconnects with bounded backoff (0.5 s doubling up to 30 s, with jitter) after
a lost connection or a silence longer than ``idle_timeout`` (the platform pings every 25 s). ``connected``,
``last_message_at`` and ``last_event_at`` let a wallboard show how stale it is. A refused token (close code
4401) is refreshed once if the client can; else the iteration raises :class:`AuthError`; 4403 raises
:class:`ForbiddenError`. ``max_retries`` bounds consecutive failed connection attempts (then :class:`Offline`);
``None`` retries for ever. Cancelling the task that iterates is safe; ``aclose()`` ends the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from cem_clients._errors import AuthError, ClientError, ForbiddenError, NotFound, Offline
from cem_clients._models import Alarm, Model

if TYPE_CHECKING:
    from cem_clients.api import ApiClient

__all__ = ["CLOSE_FORBIDDEN", "CLOSE_UNAUTHENTICATED", "LiveEvent", "LiveFeed", "LivePoint"]

log = logging.getLogger("cem_clients.live")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
DATA_EVENTS = frozenset({"latest", "alarm", "status"})
TOKEN_MARGIN = dt.timedelta(seconds=90)  # renew the connection's token this long before it expires (> 25 s pings)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LivePoint(Model, frozen=True, kw_only=True):
    """One point's new latest value in a ``latest`` event."""

    point_id: int
    code: str = ""
    ts_ms: int | None = msgspec.field(default=None, name="ts")
    value: float | None = None
    unit: str = ""
    quality: str | None = None
    estimated: bool | None = None
    site_id: int | None = None

    @property
    def ts(self) -> dt.datetime | None:
        """The reading's time (UTC)."""
        return None if self.ts_ms is None else dt.datetime.fromtimestamp(self.ts_ms / 1000, dt.UTC)


class LiveEvent(Model, frozen=True, kw_only=True):
    """One message of the feed: ``type`` is ``connected`` (with the server's hello as ``data``), ``latest``,
    ``alarm``, ``status``, ``ping`` or ``error``; ``data`` is the message as sent."""

    type: str
    data: dict[str, Any]
    received_at: dt.datetime

    @property
    def enterprise_id(self) -> int | None:
        """The enterprise the event belongs to."""
        value = self.data.get("enterprise_id")
        return value if isinstance(value, int) else None

    @property
    def action(self) -> str | None:
        """What happened to an alarm: raised, repeated, escalated, acknowledged, cleared."""
        value = self.data.get("action")
        return value if isinstance(value, str) else None

    @property
    def alarm(self) -> Alarm | None:
        """The alarm of an ``alarm`` event (None when it is not one, or incomplete)."""
        raw = self.data.get("alarm")
        if self.type != "alarm" or not isinstance(raw, dict):
            return None
        try:
            return msgspec.convert(raw, Alarm)
        except msgspec.ValidationError:
            return None

    @property
    def points(self) -> tuple[LivePoint, ...]:
        """The values of a ``latest`` event (empty for other events)."""
        raw = self.data.get("points")
        if self.type != "latest" or not isinstance(raw, list):
            return ()
        out = []
        for item in raw:
            with contextlib.suppress(msgspec.ValidationError):
                out.append(msgspec.convert(item, LivePoint))
        return tuple(out)


class _Retry(Exception):
    """This connection attempt failed; try again after the backoff."""


class LiveFeed:
    """Live events of the platform through ``client``'s session or API token (see the module's text)."""

    def __init__(
        self,
        client: ApiClient,
        *,
        points: Iterable[int] | None = None,
        include_pings: bool = True,
        open_timeout: float = 10.0,
        idle_timeout: float = 60.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retries: int | None = None,
    ) -> None:
        self.client = client
        self.url = client.live_url
        self.include_pings = include_pings
        self.open_timeout = open_timeout
        self.idle_timeout = idle_timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retries = max_retries
        self.hello: dict[str, Any] | None = None  # the server's last hello: user, enterprises, events
        self.following: tuple[int, ...] | None = None  # what the server confirmed following (None: everything)
        self.connections = 0  # successful connections so far (1 + reconnections)
        self.last_message_at: dt.datetime | None = None  # any message, pings included
        self.last_event_at: dt.datetime | None = None  # latest, alarm and status events only
        self.last_error: str = ""  # why the last connection ended or failed
        self._points: tuple[int, ...] | None = None if points is None else tuple(int(p) for p in points)
        self._socket: ClientConnection | None = None
        self._token: str | None = None  # the token the connection authenticated with
        self._closed = False
        self._failures = 0
        self._delay = backoff

    # ---- state ---------------------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the feed is connected and authenticated now."""
        return self._socket is not None

    @property
    def closed(self) -> bool:
        """Whether the feed was closed (or ended on an error it cannot get past)."""
        return self._closed

    def silence(self) -> float | None:
        """Seconds since the last message (None before the first): how stale a wallboard is."""
        if self.last_message_at is None:
            return None
        return (_now() - self.last_message_at).total_seconds()

    # ---- life cycle ----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """End the feed and its connection; the iteration stops."""
        self._closed = True
        await self._drop()

    async def _drop(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close()

    async def follow(self, point_ids: Iterable[int] | None) -> None:
        """Receive latest values of these points only (None: of every point again); kept across reconnections."""
        self._points = None if point_ids is None else tuple(sorted({int(p) for p in point_ids}))
        if self._socket is not None:
            with contextlib.suppress(ConnectionClosed):  # the reconnection sends it again
                await self._send({"type": "follow", "points": None if self._points is None else list(self._points)})

    async def _send(self, message: dict[str, Any]) -> None:
        if self._socket is not None:
            await self._socket.send(msgspec.json.encode(message).decode())

    # ---- iteration -----------------------------------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> LiveEvent:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._socket is None:
                return await self._connect()
            await self._renew_token()
            try:
                raw = await asyncio.wait_for(self._socket.recv(), self.idle_timeout)
            except TimeoutError:
                await self._lost(f"nothing received for {self.idle_timeout:g} s")
                continue
            except ConnectionClosed as closed:
                await self._on_closed(closed)
                continue
            event = self._event(raw)
            if event is not None:
                return event

    def _event(self, raw: str | bytes) -> LiveEvent | None:
        """The event to hand out for a message, or None for the feed's own business."""
        try:
            message = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return None
        if not isinstance(message, dict):
            return None
        now = _now()
        self.last_message_at = now
        kind = message.get("type")
        if not isinstance(kind, str):
            return None
        if kind == "following":
            points = message.get("points")
            self.following = tuple(points) if isinstance(points, list) else None
            return None
        if kind == "hello":  # the answer to a token renewal
            self.hello = message
            return None
        if kind == "ping" and not self.include_pings:
            return None
        if kind in DATA_EVENTS:
            self.last_event_at = now
        return LiveEvent(type=kind, data=message, received_at=now)

    # ---- connecting ----------------------------------------------------------------------------------------------

    async def _connect(self) -> LiveEvent:
        """Connect (again), with backoff, until authenticated: the ``connected`` event."""
        while True:
            if self._closed:
                raise StopAsyncIteration
            try:
                return await self._open()
            except _Retry as failure:
                self.last_error = str(failure)
                self._failures += 1
                if self.max_retries is not None and self._failures > self.max_retries:
                    self._closed = True
                    raise Offline(
                        f"live updates at {self.url} are unavailable ({self.last_error})",
                        "Check the network connection; the app reconnects when restarted.",
                        url=self.url,
                    ) from None
                delay = self._delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
                self._delay = min(self._delay * 2, self.max_backoff)
                log.info("live feed reconnecting in %.1f s: %s", delay, self.last_error)
                await asyncio.sleep(delay)
            except ClientError:
                self._closed = True
                raise

    async def _open(self) -> LiveEvent:
        """One connection attempt: connect, authenticate, follow; _Retry when worth trying again."""
        try:
            token = await self.client.ensure_fresh_token(TOKEN_MARGIN)
        except Offline as err:
            raise _Retry(str(err)) from err
        if token is None:
            raise AuthError(401, "not_authenticated", "live updates need a login or an API token", "Log in first.")
        try:
            socket = await connect(
                self.url,
                open_timeout=self.open_timeout,
                ping_interval=20,
                ping_timeout=20,
                close_timeout=2,
                max_size=MAX_MESSAGE_BYTES,
                proxy=True if self.client.trust_env else None,
                user_agent_header="cem-clients/1.0",
            )
        except InvalidStatus as err:
            status = err.response.status_code
            if status in (401, 403, 404):
                error = {401: AuthError, 403: ForbiddenError, 404: NotFound}[status]
                message = f"the live-updates address {self.url} answered HTTP {status}"
                raise error(status, "live_refused", message) from err
            raise _Retry(f"HTTP {status}") from err
        except InvalidURI:
            raise
        except (OSError, TimeoutError, InvalidHandshake) as err:
            raise _Retry(str(err) or type(err).__name__) from err
        try:
            await socket.send(msgspec.json.encode({"type": "auth", "token": token}).decode())
            raw = await asyncio.wait_for(socket.recv(), self.open_timeout)
            hello = msgspec.json.decode(raw)
            if not isinstance(hello, dict) or hello.get("type") != "hello":
                raise _Retry(f"expected a hello, got {str(raw)[:100]!r}")
            if self._points is not None:
                await socket.send(msgspec.json.encode({"type": "follow", "points": list(self._points)}).decode())
            self._socket, self._token = socket, token
        except ConnectionClosed as closed:
            await self._close_quietly(socket)
            await self._refused(closed, token)
            raise _Retry(self._describe(closed)) from closed
        except TimeoutError as err:
            await self._close_quietly(socket)
            raise _Retry("no hello in time") from err
        except msgspec.DecodeError as err:
            await self._close_quietly(socket)
            raise _Retry("the hello was not JSON") from err
        except BaseException:
            await self._close_quietly(socket)
            raise
        self.hello = hello
        self.following = None
        self.connections += 1
        self._failures, self._delay = 0, self.backoff
        self.last_message_at = _now()
        return LiveEvent(type="connected", data=hello, received_at=self.last_message_at)

    @staticmethod
    async def _close_quietly(socket: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await socket.close()

    @staticmethod
    def _describe(closed: ConnectionClosed) -> str:
        if closed.rcvd is None:
            return "the connection was lost"
        return f"closed by the platform ({closed.rcvd.code} {closed.rcvd.reason})".strip()

    async def _refused(self, closed: ConnectionClosed, token: str | None) -> None:
        """Handle a close for a refused token or caller: refresh once, or raise; return to simply reconnect."""
        code = closed.rcvd.code if closed.rcvd is not None else None
        reason = closed.rcvd.reason if closed.rcvd is not None else ""
        if code == CLOSE_FORBIDDEN:
            raise ForbiddenError(403, "permission_denied", reason or "live updates are not allowed for you")
        if code != CLOSE_UNAUTHENTICATED:
            return
        if self.client.access_token != token:
            return  # the client has a newer token already: reconnect with it
        if not self.client.can_refresh:
            raise AuthError(401, "not_authenticated", reason or "the token was refused", "Log in again.")
        try:
            await self.client.refresh()
        except Offline as err:
            raise _Retry(str(err)) from err

    async def _on_closed(self, closed: ConnectionClosed) -> None:
        """The open connection ended: reconnect (the next iteration), or raise for a refused token."""
        await self._drop()
        self.last_error = self._describe(closed)
        log.info("live feed: %s", self.last_error)
        try:
            await self._refused(closed, self._token)
        except _Retry as failure:
            self.last_error = str(failure)
        except ClientError:
            self._closed = True
            raise

    async def _lost(self, why: str) -> None:
        self.last_error = why
        log.info("live feed: %s", why)
        await self._drop()

    async def _renew_token(self) -> None:
        """Give the connection the client's new token after a refresh (same caller), before the old one ends."""
        try:
            token = await self.client.ensure_fresh_token(TOKEN_MARGIN)
        except Offline:
            return  # the connection may still be fine; the platform closes it if the token ends
        except ClientError:
            await self.aclose()  # the session is over
            raise
        if token is not None and token != self._token and self._socket is not None:
            self._token = token
            with contextlib.suppress(ConnectionClosed):
                await self._send({"type": "auth", "token": token})
