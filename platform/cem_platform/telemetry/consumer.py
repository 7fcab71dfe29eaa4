"""The MQTT side of ingest: a shared subscription, group commit, acknowledgement after the write.

Several ``cem ingest`` processes with different client ids and the same group split the messages
(``$share/{group}/cem/v1/+/telemetry`` and ``.../status``, MQTT 5). Each keeps a persistent session
(clean start off, session expiry CEM_INGEST_SESSION_EXPIRY_S), so what the broker sent but we did not
acknowledge is sent again after a crash or a lost connection.

Acknowledgements are manual: paho's thread only queues a message; the asyncio side collects a group
(up to CEM_INGEST_BATCH_READINGS readings or CEM_INGEST_BATCH_WAIT_MS), has ``IngestService.handle``
write it, and only then confirms to each gateway, on its ``cmd`` topic, the sequence ranges now committed
(`cem_gateway.wire.Confirm`: the gateway deletes readings only then) and sends the PUBACKs. The broker
never has more than CEM_INGEST_RECEIVE_MAXIMUM unacknowledged messages out to one process, which is the
back-pressure when the database is slow or down.

A write that fails is retried only when the database is out of reach (:func:`is_outage`): with backoff, the
messages unacknowledged, the outage logged and counted (``IngestConsumer.outage_since``). Any other failure
belongs to a message, not to the database: the group is written again one message at a time, and the message
that fails alone becomes a dead letter (``unprocessable``, with the error) while the rest are stored and
acknowledged, so that no single message can stop ingest. A stop request ends a retry at once: what was not
written is not acknowledged, and the broker delivers it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from tortoise.exceptions import DBConnectionError

from cem_gateway.uplink import UplinkError, parse_broker_url, release_sockets, tls_context
from cem_gateway.wire import MAX_RANGES, Confirm, command_topic, encode, merge_ranges
from cem_platform.errors import ConfigurationError
from cem_platform.settings import Settings
from cem_platform.telemetry.ingest import IngestService, Message

__all__ = ["IngestConsumer", "broker_address", "embedded_ingest", "is_outage", "subscriptions"]

log = logging.getLogger("cem.ingest")


def subscriptions(group: str) -> list[tuple[str, int]]:
    """The shared subscriptions of an ingest group."""
    return [(f"$share/{group}/cem/v1/+/telemetry", 1), (f"$share/{group}/cem/v1/+/status", 1)]


_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionError and refused or reset sockets among them
    TimeoutError,
    DBConnectionError,
    asyncpg.exceptions.PostgresConnectionError,  # the connection failed or was lost
    asyncpg.exceptions.InterfaceError,  # the connection is closed or in use
    asyncpg.exceptions.OperatorInterventionError,  # shutdown, crash, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # disk full, out of memory, too many connections
)


def is_outage(err: BaseException) -> bool:
    """Whether a failed write says the database is out of reach (retry) rather than that a message is bad."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:  # tortoise wraps asyncpg's errors
        if isinstance(current, _OUTAGES):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def broker_address(settings: Settings) -> tuple[str, int]:
    """Host and port of the broker as ingest reaches it (mqtts only)."""
    url = settings.ingest.broker_url or settings.broker.url
    try:
        return parse_broker_url(url)
    except UplinkError as err:
        raise ConfigurationError(
            f"ingest broker URL {url!r} is not mqtts://host:port",
            hint="Set CEM_INGEST_BROKER_URL (or CEM_BROKER_URL) to the broker's TLS listener, e.g. mqtts://broker:8883.",
        ) from err


def _tls(identity: Path) -> ssl.SSLContext:
    files = [identity / name for name in ("ca.pem", "client.crt", "client.key")]
    missing = [str(f.name) for f in files if not f.exists()]
    if missing:
        raise ConfigurationError(
            f"ingest identity {identity} lacks {', '.join(missing)}",
            hint="Write the ingest service's certificate there: cem pki issue-service --dir DIR "
            "(and set CEM_INGEST_IDENTITY_DIR).",
        )
    return tls_context(*(str(f) for f in files))


def client_identity(settings: Settings) -> str:
    """The MQTT client id of this ingest process: the CN of its certificate (``client.crt``).

    The broker replaces every client's id with its certificate's CN (so that no device can take the ingest's
    session); using the CN here keeps the session ingest asks to resume the one the broker gives it.
    ``CEM_INGEST_CLIENT_ID``, when set, is only checked against the CN.
    """
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    ingest = settings.ingest
    path = Path(ingest.identity_dir) / "client.crt"
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())  # the first certificate: ingest's own
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = str(names[0].value) if names else ""
    except (OSError, ValueError) as err:
        raise ConfigurationError(
            f"cannot read the ingest certificate {path}: {err}",
            hint="Write the ingest service's certificate there: cem pki issue-service --dir DIR "
            "(and set CEM_INGEST_IDENTITY_DIR).",
        ) from err
    allowed = settings.broker.ingest_identities
    if cn not in allowed:
        raise ConfigurationError(
            f"the ingest certificate {path} is for {cn!r}, which the broker does not treat as ingest",
            hint=f"Issue one with cem pki issue-service --name NAME --dir DIR, NAME one of {allowed[0]}, "
            f"{allowed[1]} .. {allowed[-1]} (CEM_BROKER_INGEST_IDENTITY, CEM_BROKER_INGEST_PROCESSES).",
        )
    if ingest.client_id and ingest.client_id != cn:
        raise ConfigurationError(
            f"CEM_INGEST_CLIENT_ID is {ingest.client_id!r} but the certificate in {ingest.identity_dir} is for {cn!r}",
            hint="The broker makes the certificate's CN the client id: unset CEM_INGEST_CLIENT_ID (or --client-id), "
            "and give each ingest process its own certificate (cem pki issue-service --name NAME --dir DIR).",
        )
    return cn


@dataclass(frozen=True, slots=True)
class _Delivery:
    message: Message
    mid: int
    qos: int
    generation: int  # the connection it came on: a PUBACK is only valid on that connection


class IngestConsumer:
    """One ingest process's MQTT client and write loop."""

    def __init__(self, settings: Settings, service: IngestService | None = None) -> None:
        self.settings = settings
        self.service = service or IngestService(settings)
        self._queue: asyncio.Queue[_Delivery] = asyncio.Queue()
        self._generation = 0
        self._connected = threading.Event()
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.client_id = ""  # the CN of ingest's certificate, read when connecting
        self.acked = 0
        self.confirmed = 0  # readings confirmed to their gateways (sequence numbers, resends counted again)
        self.outage_since: float | None = None  # monotonic time the database was last found out of reach
        self.outages = 0

    # --- paho's thread -------------------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker refused ingest's connection", extra={"reason": str(reason)})
            return
        self._generation += 1
        client.subscribe(subscriptions(self.settings.ingest.group))
        self._connected.set()
        log.info("ingest connected", extra={"session_present": getattr(flags, "session_present", None)})

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        self._connected.clear()
        log.warning("ingest lost the broker; reconnecting", extra={"reason": str(reason)})

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        delivery = _Delivery(
            Message(msg.topic, bytes(msg.payload), int(time.time() * 1000)), msg.mid, msg.qos, self._generation
        )
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._queue.put_nowait, delivery)

    def _connect(self) -> mqtt.Client:
        ingest = self.settings.ingest
        host, port = broker_address(self.settings)
        context = _tls(Path(ingest.identity_dir))
        self.client_id = client_identity(self.settings)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        client.tls_set_context(context)
        client.reconnect_delay_set(1, 10)
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = ingest.session_expiry_s
        properties.ReceiveMaximum = ingest.receive_maximum
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        # Always resume the session: messages delivered to a crashed process and not acknowledged come again.
        client.connect_async(host, port, keepalive=30, clean_start=False, properties=properties)
        client.loop_start()
        return client

    # --- asyncio side ----------------------------------------------------------------------------------------

    async def _collect(self) -> list[_Delivery]:
        first = await self._queue.get()
        group = [first]
        readings = _estimate(first)
        deadline = time.monotonic() + self.settings.ingest.batch_wait_ms / 1000
        limit = self.settings.ingest.batch_readings
        while readings < limit:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            group.append(item)
            readings += _estimate(item)
        return group

    async def _write(self, group: list[_Delivery], stop: asyncio.Event) -> dict[str, list[tuple[int, int]]] | None:
        """Write a group durably and return what to confirm to each device; None when asked to stop first
        (then nothing of it is acknowledged or confirmed)."""
        delay = 0.5
        while True:
            try:
                try:
                    committed = await self.service.handle([d.message for d in group])
                except Exception as err:
                    if is_outage(err):
                        raise
                    log.warning("ingest write failed on a message's content; writing one message at a time")
                    committed = {}
                    for delivery in group:
                        for device, ranges in (await self._write_alone(delivery.message)).items():
                            committed.setdefault(device, []).extend(ranges)
                if self.outage_since is not None:
                    log.info("database reachable again; ingest resumed")
                    self.outage_since = None
                return committed
            except Exception as err:
                if not is_outage(err):
                    raise
                if self.outage_since is None:
                    self.outage_since = time.monotonic()
                    self.outages += 1
                log.warning(
                    "database out of reach; retrying (messages stay unacknowledged)",
                    extra={"error": type(err).__name__, "retry_in_s": delay},
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return None
                delay = min(delay * 2, 10.0)

    async def _write_alone(self, message: Message) -> dict[str, list[tuple[int, int]]]:
        """Write one message; if it fails for its content, keep it as a dead letter instead (an outage raises).

        A message set aside that way is not confirmed: its gateway keeps the readings and sends them again later.
        """
        try:
            return await self.service.handle([message])
        except Exception as err:
            if is_outage(err):
                raise
            await self.service.refuse_unprocessable(message, err)
            return {}

    def _confirm(self, committed: dict[str, list[tuple[int, int]]]) -> None:
        """Tell each device which of its readings are committed (QoS 1, not awaited: a lost confirmation only
        makes the gateway send those readings again, and a resend is stored once and confirmed again)."""
        client = self._client
        if client is None or not committed:
            return
        now = int(time.time() * 1000)
        for device, ranges in committed.items():
            merged = merge_ranges(ranges)
            for start in range(0, len(merged), MAX_RANGES):
                confirm = Confirm(kind="confirm", device=device, ts=now, ranges=merged[start : start + MAX_RANGES])
                client.publish(command_topic(device), encode(confirm), qos=1)
                self.confirmed += sum(last - first + 1 for first, last in confirm.ranges)

    def _ack(self, group: list[_Delivery]) -> None:
        client = self._client
        if client is None:
            return
        for delivery in group:
            if delivery.qos == 0:
                continue
            if delivery.generation != self._generation or not self._connected.is_set():
                continue  # that connection is gone: the broker sends the message again, and it is stored once
            client.ack(delivery.mid, delivery.qos)
            self.acked += 1

    async def run(self, stop: asyncio.Event, *, ready: asyncio.Event | None = None) -> None:
        """Consume until ``stop`` is set; the group in hand is written and acknowledged before returning."""
        self._loop = asyncio.get_running_loop()
        self._client = await asyncio.to_thread(self._connect)
        publisher = asyncio.create_task(self.service.publish_forever())
        stats = asyncio.create_task(self._log_stats())
        stopper = asyncio.create_task(stop.wait())
        try:
            for _ in range(60):  # up to 30 s for the first connection; paho keeps trying after that
                if stop.is_set() or await asyncio.to_thread(self._connected.wait, 0.5):
                    break
            if ready is not None:
                ready.set()
            host, port = broker_address(self.settings)
            log.info(f"ingest running as {self.client_id} on {host}:{port}, group {self.settings.ingest.group}")
            while not stop.is_set():
                collector = asyncio.create_task(self._collect())
                done, _ = await asyncio.wait({collector, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if collector not in done:
                    collector.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await collector
                    break
                group = collector.result()
                committed = await self._write(group, stop)
                if committed is None:
                    break
                self._confirm(committed)
                self._ack(group)
        finally:
            for task in (publisher, stats, stopper):
                task.cancel()
            with contextlib.suppress(Exception):
                await self.service.publish_latest()
            client, self._client = self._client, None
            if client is not None:
                await asyncio.to_thread(_close, client)
            self.log_stats("ingest final stats")

    async def _log_stats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.ingest.stats_s)
            self.log_stats("ingest stats")

    def log_stats(self, message: str) -> None:
        """Log the counters, and the lag percentiles of the readings stored since the last log."""
        stats = self.service.stats
        log.info(
            message,
            extra={
                "messages": stats.messages,
                "acknowledged": self.acked,
                "confirmed": self.confirmed,
                "stored": stats.stored,
                "duplicates": stats.duplicates,
                "rejected": stats.rejected,
                "dead_letters": stats.dead_letters,
                "outages": self.outages,
                **stats.take_window(),
            },
        )


def embedded_ingest(settings: Settings) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """A lifespan hook running ingest inside the API process (the demo: one process, no Redis).

    Ingest that cannot start (no broker, no identity files) is logged and the API keeps serving.
    """

    @contextlib.asynccontextmanager
    async def hook(app: Any) -> AsyncIterator[None]:
        stop = asyncio.Event()

        async def run() -> None:
            try:
                await IngestConsumer(settings).run(stop)
            except Exception:
                log.exception("embedded ingest stopped; the API keeps serving without it")

        task = asyncio.create_task(run())
        try:
            yield
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, 10)
            except TimeoutError:
                log.warning("embedded ingest did not stop in time")

    return hook


def _estimate(delivery: _Delivery) -> int:
    """Roughly how many readings a message holds (about 100 bytes each), without decoding it twice."""
    return max(1, len(delivery.message.payload) // 100)


def _close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()
    release_sockets(client)
