"""The MQTT uplink: TLS with the gateway's own certificate, QoS 1, an answer for every message.

`Uplink.publish` returns only when the broker has acknowledged the message (PUBACK with a success reason
code); it raises `UplinkError` when the connection drops first, when the broker refuses the message
(MQTT 5 reason code, e.g. not authorised) or when no acknowledgement arrives in time. The caller keeps
the readings until then, so nothing is lost.

A publish that must reach someone (telemetry: ``routed=True``) also fails with `NoSubscriber` when the broker
answers 0x10 "no matching subscribers": the broker took the message but gave it to nobody, because the
platform's ingest session does not exist at that moment (never started, expired, or lost in a broker restart:
Mosquitto 2.0.11 does not restore MQTT 5 sessions from its persistence file). Deleting the readings then would
lose them for good; the caller keeps them and sends them again later.

With ``command_topic`` the connection also subscribes (QoS 1) to the device's own ``cmd`` topic before `connect`
returns, and hands every message that arrives there to ``on_command`` on the event loop: the platform's
confirmations that readings are stored come that way. The session is clean each time: a confirmation sent while
the gateway was away is lost, and the readings it covered are sent again and confirmed again.

paho-mqtt does the protocol on its own network thread. One paho client serves one connection: after a
drop a new one is made, so paho never replays messages behind the caller's back (the buffer does that,
with the same sequence numbers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["NoSubscriber", "Uplink", "UplinkError", "parse_broker_url", "release_sockets", "tls_context"]

log = logging.getLogger("cem.gateway.uplink")


class UplinkError(Exception):
    """A message was not acknowledged, or the broker could not be reached; the reason says which."""


class NoSubscriber(UplinkError):
    """The broker acknowledged a message that must reach someone with 0x10: nobody subscribes to it now."""


NO_MATCHING_SUBSCRIBERS = 0x10


def parse_broker_url(url: str) -> tuple[str, int]:
    """(host, port) of an ``mqtts://`` address; plain ``mqtt://`` is refused (TLS only)."""
    parts = urlsplit(url)
    if parts.scheme != "mqtts" or not parts.hostname:
        raise UplinkError(f"the broker address must be mqtts://host:port (TLS only), not {url!r}")
    return parts.hostname, parts.port or 8883


def release_sockets(client: mqtt.Client) -> None:
    """Close a stopped paho client's sockets now, not whenever the garbage collector gets to them.

    paho-mqtt 2.1 closes the socket pair that wakes its network thread only in ``Client.__del__``. A client in
    a reference cycle (its callbacks point back at their owner) is finalised in no particular order with its
    sockets, so they may be collected unclosed: a ResourceWarning, and descriptors held until then.
    """
    client._reset_sockets()  # noqa: SLF001 - what Client.__del__ does, done when we are finished with it


def tls_context(ca_file: str, cert_file: str, key_file: str) -> ssl.SSLContext:
    """Client TLS: trust only the platform's root CA, present the device certificate, check the host name."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


class Uplink:
    """One MQTT 5 connection of the gateway."""

    def __init__(
        self,
        *,
        client_id: str,
        host: str,
        port: int,
        context: Callable[[], ssl.SSLContext],
        will: Callable[[], tuple[str, bytes]] | None = None,
        keepalive: int = 20,
        max_inflight: int = 20,
        command_topic: str | None = None,
        on_command: Callable[[bytes], None] | None = None,
    ) -> None:
        self.client_id, self.host, self.port, self._context = client_id, host, port, context
        self.will, self.keepalive, self.max_inflight = will, keepalive, max_inflight
        self.command_topic, self.on_command = command_topic, on_command
        self._suback: asyncio.Future[None] | None = None
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._routed: set[int] = set()  # message ids whose PUBACK must not say "no matching subscribers"
        self._connack: asyncio.Future[None] | None = None
        self.lost = asyncio.Event()
        self.connected = False

    # ----------------------------------------------------------------------------------- paho's thread
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        assert self._loop is not None  # noqa: S101
        self._loop.call_soon_threadsafe(self._connected, reason.is_failure, str(reason))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        assert self._loop is not None  # noqa: S101
        self._loop.call_soon_threadsafe(self._disconnected, str(reason))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any) -> None:
        assert self._loop is not None  # noqa: S101
        self._loop.call_soon_threadsafe(self._acknowledged, mid, reason.value, str(reason))

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        assert self._loop is not None  # noqa: S101
        failed = [str(reason) for reason in reasons if reason.is_failure]
        self._loop.call_soon_threadsafe(self._subscribed, failed)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        assert self._loop is not None  # noqa: S101
        if self.on_command is not None:
            self._loop.call_soon_threadsafe(self.on_command, bytes(message.payload))

    # ----------------------------------------------------------------------------------- event loop
    def _subscribed(self, failed: list[str]) -> None:
        if self._suback is not None and not self._suback.done():
            if failed:
                self._suback.set_exception(UplinkError(f"the broker refused the subscription: {', '.join(failed)}"))
            else:
                self._suback.set_result(None)

    def _connected(self, failed: bool, reason: str) -> None:
        if self._connack is not None and not self._connack.done():
            if failed:
                self._connack.set_exception(UplinkError(f"the broker refused the connection: {reason}"))
            else:
                self.connected = True
                self._connack.set_result(None)

    def _disconnected(self, reason: str) -> None:
        self.connected = False
        self.lost.set()
        error = UplinkError(f"connection lost ({reason})")
        for waiting in (self._connack, self._suback):
            if waiting is not None and not waiting.done():
                waiting.set_exception(error)
        pending, self._pending = self._pending, {}
        self._routed.clear()
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    def _acknowledged(self, mid: int, code: int, reason: str) -> None:
        future = self._pending.pop(mid, None)
        routed = mid in self._routed
        self._routed.discard(mid)
        if future is None or future.done():
            return
        if code >= 0x80:
            future.set_exception(UplinkError(f"the broker refused the message: {reason}"))
        elif code == NO_MATCHING_SUBSCRIBERS and routed:
            future.set_exception(NoSubscriber(f"the broker has no subscriber for the message ({reason})"))
        else:
            future.set_result(None)

    async def connect(self, timeout: float = 15.0) -> None:  # noqa: ASYNC109 - the CONNACK wait
        """Open the TLS connection and wait for the broker's CONNACK; `UplinkError` says why not."""
        self._loop = asyncio.get_running_loop()
        self.lost.clear()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        try:
            context = self._context()
        except (OSError, ValueError) as err:  # e.g. caught between the renewal's file writes: try again later
            raise UplinkError(f"cannot load the gateway's certificate and key: {err}") from err
        client.tls_set_context(context)
        client.max_inflight_messages_set(self.max_inflight)
        client.max_queued_messages_set(0)
        if self.will is not None:
            topic, payload = self.will()  # made at each connect, so it carries that connection's time
            client.will_set(topic, payload, qos=1, retain=True)
        client.on_connect, client.on_disconnect, client.on_publish = (
            self._on_connect,
            self._on_disconnect,
            self._on_publish,
        )
        client.on_subscribe, client.on_message = self._on_subscribe, self._on_message
        self._connack = self._loop.create_future()
        self._suback = None
        self._client = client
        try:
            await asyncio.wait_for(
                asyncio.to_thread(client.connect, self.host, self.port, self.keepalive, clean_start=True), timeout
            )
        except (OSError, TimeoutError, ValueError) as err:
            self._client = None
            raise UplinkError(f"cannot reach the broker at {self.host}:{self.port}: {err}") from err
        sock = client.socket()
        if isinstance(sock, socket.socket):  # no Nagle: a PUBACK must not wait for a delayed TCP ACK (~40 ms)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.loop_start()
        try:
            await asyncio.wait_for(asyncio.shield(self._connack), timeout)
        except (TimeoutError, UplinkError) as err:
            await self.close()
            if isinstance(err, UplinkError):
                raise
            raise UplinkError(f"no answer from the broker at {self.host}:{self.port} within {timeout:.0f} s") from err
        if self.command_topic is not None:
            await self._subscribe(client, self.command_topic, timeout)
        log.info("connected to %s:%s as %s", self.host, self.port, self.client_id)

    async def _subscribe(self, client: mqtt.Client, topic: str, timeout: float) -> None:  # noqa: ASYNC109
        """Subscribe (QoS 1) and wait for the SUBACK: a confirmation must not arrive before we listen."""
        assert self._loop is not None  # noqa: S101
        self._suback = self._loop.create_future()
        result, _ = client.subscribe(topic, qos=1)
        try:
            if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise UplinkError(f"cannot subscribe to {topic}: {mqtt.error_string(result)}")
            await asyncio.wait_for(asyncio.shield(self._suback), timeout)
        except (TimeoutError, UplinkError) as err:
            await self.close()
            if isinstance(err, UplinkError):
                raise
            raise UplinkError(f"no SUBACK from the broker for {topic} within {timeout:.0f} s") from err

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        routed: bool = False,
        timeout: float = 30.0,  # noqa: ASYNC109 - the PUBACK wait, per message
    ) -> None:
        """Send with QoS 1 and wait for the broker's acknowledgement; ``routed``: `NoSubscriber` on 0x10."""
        client = self._client
        if client is None or not self.connected:
            raise UplinkError("not connected")
        assert self._loop is not None  # noqa: S101
        future: asyncio.Future[None] = self._loop.create_future()
        info = client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise UplinkError(f"cannot send: {mqtt.error_string(info.rc)}")
        self._pending[info.mid] = future
        if routed:
            self._routed.add(info.mid)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError as err:
            self._pending.pop(info.mid, None)
            self._routed.discard(info.mid)
            raise UplinkError(f"no acknowledgement within {timeout:.0f} s") from err

    async def close(self, *, last: tuple[str, bytes] | None = None) -> None:
        """Disconnect (optionally publishing a last message first, e.g. a clean 'offline' status)."""
        if self._client is None:
            return
        if last is not None and self.connected:
            with contextlib.suppress(UplinkError):
                await self.publish(last[0], last[1], retain=True, timeout=5)
        client, self._client = self._client, None
        self.connected = False
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        release_sockets(client)
        self._disconnected("closed")
