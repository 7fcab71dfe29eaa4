"""Live updates over a WebSocket, ``/api/v1/live``: latest values, alarm changes and device status as they happen.

The conversation (every message a JSON object with a ``type``)::

    client                                          server
    (Authorization: Bearer <token> on the upgrade,
     or, from a browser, as the first message:)
    {"type": "auth", "token": "<token>"}      ->
                                               <-   {"type": "hello", "user": ..., "enterprises": [...] | null,
                                                     "sites": [...] | null, "events": [...], "ping_interval_s": 25}
                                               <-   {"type": "latest" | "alarm" | "status", ...}  (see live.py)
    {"type": "follow", "points": [7, 9]}      ->   only these points' latest values (null: all of them again)
                                               <-   {"type": "following", "points": [7, 9]}
                                               <-   {"type": "ping", "ts": <ms>}  every ping_interval_s
    {"type": "auth", "token": "<fresh token>"} ->   renews the connection's token (same caller) before it expires
                                               <-   {"type": "hello", ...}

The token is the REST API's (session access token or API token) and never goes in the URL, so it cannot end
up in access logs. The token is checked again about every minute: a logged-out session, a revoked or expired token
or a deactivated user ends the connection. Closing codes: 4401 not authenticated (no, bad, expired token,
or no ``auth`` message within 10 s), 4403 authenticated but not allowed (no DATA_READ nor ALARMS_READ, TOTP
enrolment pending, address refused), 1011 live updates unavailable. The reason says what to do.

A caller sees the events of the enterprises in its scope; a caller scoped to single sites only the events of
those sites (events naming no site pass); ``latest`` and ``status`` events need DATA_READ, ``alarm`` events
ALARMS_READ. The generic bearer middleware is bypassed for this route only (``exclude_from_auth``): it
would refuse the upgrade of a browser, which cannot send the header; this handler authenticates itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from cem_platform.alarms.services import subjects_on_sites
from cem_platform.errors import AuthenticationError
from cem_platform.identity.principal import Principal, Scope
from cem_platform.identity.roles import Permission
from cem_platform.identity.services import IdentityService
from cem_platform.middleware import client_ip
from cem_platform.settings import Settings
from cem_platform.telemetry.live import hub_for

__all__ = [
    "CLOSE_FORBIDDEN",
    "CLOSE_UNAUTHENTICATED",
    "CLOSE_UNAVAILABLE",
    "live_updates",
    "site_subjects",
    "visible_event",
]

log = logging.getLogger("cem.live")

AUTH_TIMEOUT_S = 10.0  # a connection that does not authenticate within this is closed
PING_INTERVAL_S = 25.0  # below the 30-60 s idle timeouts of common proxies
RECHECK_TOKEN_S = 60.0  # how soon a logout, revocation or expiry ends an open connection
MAX_FOLLOWED_POINTS = 10_000
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_UNAVAILABLE = 1011
_MAX_REASON_BYTES = 123  # RFC 6455: the close reason fits a 125-byte control frame with the code

AnySocket = WebSocket[Any, Any, Any]


class LiveClosed(Exception):
    """The server ends the connection with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _site_allowed(
    scope: Scope, enterprise_id: int | None, site_id: Any, subject: str, subjects: frozenset[str] | None
) -> bool:
    """May a caller see something of this site (or, naming no site, about this subject: ``device:<id>``,
    ``point:<id>``)? Callers holding single sites see what is on their sites only, as in the REST API."""
    if scope.everything or (enterprise_id is not None and scope.covers_enterprise(enterprise_id)):
        return True
    if enterprise_id is None:
        return False
    if site_id is not None:
        return isinstance(site_id, int) and not isinstance(site_id, bool) and site_id in scope.sites
    return subjects is not None and subject in subjects


def visible_event(
    event: dict[str, Any],
    principal: Principal,
    points: frozenset[int] | None,
    subjects: frozenset[str] | None = None,
) -> dict[str, Any] | None:
    """What of ``event`` this caller may see (and asked for, ``points``), or None when nothing.

    ``subjects`` are the devices and points on the caller's single sites (``device:<id>``, ``point:<id>``):
    they decide for events that name no site, such as alarms (whose subject is a device or a point).
    """
    scope = principal.scope
    raw_enterprise = event.get("enterprise_id")
    enterprise_id = raw_enterprise if isinstance(raw_enterprise, int) else None
    if enterprise_id is None and not scope.everything:
        return None
    if enterprise_id is not None and not scope.sees_enterprise(enterprise_id):
        return None
    kind = event.get("type")
    if kind == "latest":
        if not principal.can(Permission.DATA_READ):
            return None
        items = event.get("points")
        if not isinstance(items, list):
            return None
        kept = [
            item
            for item in items
            if isinstance(item, dict)
            and _site_allowed(
                scope,
                enterprise_id,
                item.get("site_id", event.get("site_id")),
                f"point:{item.get('point_id')}",
                subjects,
            )
            and (points is None or item.get("point_id") in points)
        ]
        if not kept:
            return None
        return event if len(kept) == len(items) else {**event, "points": kept}
    if kind == "status":
        device = f"device:{event.get('device_id')}"
        if not principal.can(Permission.DATA_READ):
            return None
        return event if _site_allowed(scope, enterprise_id, event.get("site_id"), device, subjects) else None
    if kind == "alarm":
        raw_alarm = event.get("alarm")
        alarm: dict[str, Any] = raw_alarm if isinstance(raw_alarm, dict) else {}
        site_id = event.get("site_id", alarm.get("site_id"))
        subject = f"{alarm.get('subject_type')}:{alarm.get('subject_id')}"
        if not principal.can(Permission.ALARMS_READ):
            return None
        return event if _site_allowed(scope, enterprise_id, site_id, subject, subjects) else None
    return None  # an event type nobody defined who may see: not forwarded


async def site_subjects(scope: Scope) -> frozenset[str] | None:
    """The devices and points on a caller's single sites (None when it holds none): the subjects of the alarms
    such a caller sees through the alarms API (same rule as cem_platform.alarms.services), for events naming no
    site."""
    if scope.everything or not scope.sites:
        return None
    devices, points = await subjects_on_sites(scope.sites)
    return frozenset([f"device:{d}" for d in devices] + [f"point:{p}" for p in points])


def _events_allowed(principal: Principal) -> list[str]:
    allowed = []
    if principal.can(Permission.DATA_READ):
        allowed += ["latest", "status"]
    if principal.can(Permission.ALARMS_READ):
        allowed.append("alarm")
    return allowed


def _reason(text: str) -> str:
    encoded = text.encode()
    if len(encoded) <= _MAX_REASON_BYTES:
        return text
    return encoded[: _MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


def _decode(raw: str) -> dict[str, Any] | None:
    try:
        message = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    return message if isinstance(message, dict) else None


def _address_refused(settings: Settings, ip: str) -> bool:
    """The IP allow and deny lists of the REST API (its middleware passes WebSocket connections through)."""
    security = settings.security
    if not (security.ip_allow or security.ip_deny):
        return False
    try:
        address = ipaddress.ip_address(ip)
        deny = [ipaddress.ip_network(n, strict=False) for n in security.ip_deny]
        allow = [ipaddress.ip_network(n, strict=False) for n in security.ip_allow]
    except ValueError:
        return True
    return any(address in n for n in deny) or bool(allow and not any(address in n for n in allow))


class LiveSession:
    """One authenticated connection: what it follows, and the sending side shared by its tasks."""

    def __init__(self, socket: AnySocket, identity: IdentityService, ip: str) -> None:
        self.socket = socket
        self.identity = identity
        self.ip = ip
        self.token = ""
        self.principal: Principal | None = None
        self.points: frozenset[int] | None = None
        self.subjects: frozenset[str] | None = None
        self.sent = 0
        self._send_lock = asyncio.Lock()

    @property
    def caller(self) -> Principal:
        """The authenticated caller."""
        if self.principal is None:
            raise RuntimeError("the live session is not authenticated yet")
        return self.principal

    async def send(self, message: dict[str, Any]) -> None:
        """Send one message (the event pump, the pinger and the reader share the socket)."""
        async with self._send_lock:
            await self.socket.send_data(msgspec.json.encode(message).decode())

    async def authenticate(self, token: str) -> None:
        """Resolve ``token`` to a caller allowed to follow live updates, or raise LiveClosed."""
        try:
            principal = await self.identity.authenticate_bearer(token, ip=self.ip, request_id="")
        except AuthenticationError as err:
            raise LiveClosed(CLOSE_UNAUTHENTICATED, err.message) from err
        if principal.extra.get("totp_pending"):
            raise LiveClosed(CLOSE_FORBIDDEN, "enrol an authenticator (TOTP) first: POST /api/v1/auth/totp/enrol")
        if not _events_allowed(principal):
            raise LiveClosed(CLOSE_FORBIDDEN, "live updates need data.read or alarms.read")
        if self.principal is not None and (principal.kind, principal.user_id, principal.token_id) != (
            self.principal.kind,
            self.principal.user_id,
            self.principal.token_id,
        ):
            raise LiveClosed(CLOSE_UNAUTHENTICATED, "a connection cannot change its caller: open a new one")
        self.subjects = await site_subjects(principal.scope)  # again at each check: devices and points move
        self.token, self.principal = token, principal

    async def first_token(self) -> str:
        """The token of the Authorization header, else of the first message."""
        header = self.socket.headers.get("authorization")
        if header is not None:
            scheme, _, bearer = header.partition(" ")
            if scheme.lower() != "bearer" or not bearer.strip():
                raise LiveClosed(CLOSE_UNAUTHENTICATED, "the Authorization header must be 'Bearer <token>'")
            return bearer.strip()
        try:
            raw = await asyncio.wait_for(self.socket.receive_data("text"), AUTH_TIMEOUT_S)
        except TimeoutError as err:
            raise LiveClosed(CLOSE_UNAUTHENTICATED, "no auth message in time: send {type: auth, token}") from err
        message = _decode(raw)
        token = message.get("token") if message is not None and message.get("type") == "auth" else None
        if not isinstance(token, str) or not token.strip():
            raise LiveClosed(CLOSE_UNAUTHENTICATED, 'the first message must be {"type": "auth", "token": "..."}')
        return token.strip()

    def hello(self) -> dict[str, Any]:
        """What the caller will get."""
        scope = self.caller.scope
        return {
            "type": "hello",
            "user": self.caller.name,
            "enterprises": None if scope.everything else sorted(scope.visible_enterprises()),
            "sites": None if scope.everything else sorted(scope.sites),
            "events": _events_allowed(self.caller),
            "following": None if self.points is None else sorted(self.points),
            "ping_interval_s": PING_INTERVAL_S,
        }

    async def pump(self, events: AsyncIterator[dict[str, Any]]) -> None:
        """Forward the hub's events this caller may see."""
        async for event in events:
            visible = visible_event(event, self.caller, self.points, self.subjects)
            if visible is not None:
                await self.send(visible)
                self.sent += 1

    async def keep_alive(self) -> None:
        """Ping, and check the token again now and then."""
        checked = time.monotonic()
        while True:
            await asyncio.sleep(PING_INTERVAL_S)
            if time.monotonic() - checked >= RECHECK_TOKEN_S:
                await self.authenticate(self.token)
                checked = time.monotonic()
            await self.send({"type": "ping", "ts": int(time.time() * 1000)})

    async def read(self) -> None:
        """Handle the client's messages until it disconnects."""
        while True:
            try:
                raw = await self.socket.receive_data("text")
            except WebSocketDisconnect:
                return
            message = _decode(raw)
            kind = message.get("type") if message is not None else None
            if message is None:
                await self.send({"type": "error", "message": "messages must be JSON objects with a 'type'"})
            elif kind == "follow":
                await self._follow(message.get("points"))
            elif kind == "auth":
                token = message.get("token")
                if not isinstance(token, str) or not token.strip():
                    await self.send({"type": "error", "message": "an auth message needs a 'token'"})
                    continue
                await self.authenticate(token.strip())
                await self.send(self.hello())
            else:
                await self.send({"type": "error", "message": f"unknown message type {kind!r}: use follow or auth"})

    async def _follow(self, points: Any) -> None:
        if points is None:
            self.points = None
        elif (
            isinstance(points, list)
            and len(points) <= MAX_FOLLOWED_POINTS
            and all(isinstance(p, int) and not isinstance(p, bool) for p in points)
        ):
            self.points = frozenset(points)
        else:
            message = f"follow needs 'points': a list of at most {MAX_FOLLOWED_POINTS} point ids, or null"
            await self.send({"type": "error", "message": message})
            return
        await self.send({"type": "following", "points": None if self.points is None else sorted(self.points)})


async def _close(socket: AnySocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):  # the client may be gone already
        await socket.close(code=code, reason=_reason(reason))


async def _follow_live(session: LiveSession, settings: Settings) -> None:
    scope = session.caller.scope
    enterprises = None if scope.everything else scope.visible_enterprises()
    async with hub_for(settings).subscribe(enterprises) as events:
        await session.send(session.hello())  # after subscribing: nothing published after the hello is lost
        reader = asyncio.create_task(session.read(), name="live-read")
        others = [
            asyncio.create_task(session.pump(events), name="live-pump"),
            asyncio.create_task(session.keep_alive(), name="live-ping"),
        ]
        try:
            done, _ = await asyncio.wait([reader, *others], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, *others):
                task.cancel()
            await asyncio.gather(reader, *others, return_exceptions=True)
        if reader in done and reader.exception() is None:
            return  # the client left: whatever the other tasks hit while sending does not matter
        errors = [error for task in done if (error := task.exception()) is not None]
        if errors:  # LiveClosed first: a refused token says more than what broke because of it
            raise next((e for e in errors if isinstance(e, LiveClosed)), errors[0])


@websocket("/live", exclude_from_auth=True, name="live")
async def live_updates(socket: AnySocket) -> None:
    """Follow latest values, alarms and device status of the caller's enterprises (see the module's text)."""
    settings: Settings = socket.app.state.settings
    proxies = [ipaddress.ip_network(p, strict=False) for p in settings.server.trusted_proxies]
    ip = client_ip(cast("dict[str, Any]", socket.scope), proxies)
    if _address_refused(settings, ip):
        await _close(socket, CLOSE_FORBIDDEN, f"connections from {ip} are not allowed")
        return
    await socket.accept()
    session = LiveSession(socket, socket.app.state.identity, ip)
    started = time.monotonic()
    try:
        await session.authenticate(await session.first_token())
        log.info("live connection", extra={"who": session.caller.name, "ip": ip})
        await _follow_live(session, settings)
    except LiveClosed as closed:
        log.info("live connection closed", extra={"ip": ip, "code": closed.code, "reason": closed.reason})
        await _close(socket, closed.code, closed.reason)
        return
    except WebSocketDisconnect:
        return
    except Exception:
        log.exception("live connection failed", extra={"ip": ip})
        await _close(socket, CLOSE_UNAVAILABLE, "live updates are unavailable; reconnect in a moment")
        return
    finally:
        if session.principal is not None:
            log.info(
                "live connection ended",
                extra={"who": session.caller.name, "sent": session.sent, "s": round(time.monotonic() - started, 1)},
            )
    await _close(socket, 1000, "")
