"""The running gateway: coordinators poll, quality checks, the buffer keeps, the forwarder sends.

::

    Coordinator (one per connection) --slot readings--> QualityFilter --samples--> Buffer (SQLite WAL)
    Buffer --oldest first + live lane--> Uplink (MQTT 5, TLS, QoS 1) --PUBACK--> (in-flight window freed)
    platform's ingest, after its commit --Confirm on cem/v1/{device}/cmd--> Buffer.acknowledge
    heartbeat: Status (retained) every heartbeat_s; last will: Status "offline" (retained)
    renewal: after the certificate's renew-after date, `identity.renew` and reconnect with the new key

After a reconnect the forwarder sends two lanes side by side: the backlog (everything stored before the
reconnect, oldest first, as fast as the platform confirms) and the live lane (readings stored since),
so a long catch-up never delays current values.

Delivered means stored (standard 5.2.2.3): a reading leaves the buffer only when the PLATFORM confirms it is
committed, never on the broker's PUBACK. A broker restart that loses its queues, a rogue subscriber in the ingest's
shared group or a stolen ingest session can therefore delay readings, never lose them: a message not confirmed
within ``confirm_timeout_s`` is sent again (the wait doubling per attempt, up to 16x), and every message still in
the buffer goes again after a reconnect. At most ``confirm_window`` messages are out unconfirmed: the end-to-end
back-pressure when ingest or its database is slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from cem_gateway.buffer import Buffer
from cem_gateway.coordinator import Coordinator
from cem_gateway.drivers.base import RawReading
from cem_gateway.identity import EnrolmentError, Identity, load_identity, renew
from cem_gateway.pointmap import GatewayConfig, PointMap, PointMapError
from cem_gateway.quality import QualityFilter
from cem_gateway.uplink import NoSubscriber, Uplink, UplinkError, parse_broker_url, tls_context
from cem_gateway.wire import (
    Alarm,
    ConnectionState,
    Reading,
    Status,
    TelemetryBatch,
    WireError,
    clip,
    command_topic,
    decode_confirm,
    encode,
    status_topic,
    telemetry_topic,
)

__all__ = ["FIRMWARE", "Counters", "Gateway"]

log = logging.getLogger("cem.gateway")

try:
    FIRMWARE = importlib.metadata.version("cem")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    FIRMWARE = "0+unknown"


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


@dataclass(slots=True)
class Counters:
    """What the gateway did since it started (for the status, the logs and the benchmark)."""

    read: int = 0
    stored: int = 0
    sent: int = 0  # readings the broker acknowledged (resends counted again)
    batches: int = 0
    confirmed: int = 0  # readings the platform confirmed and the buffer let go
    resent: int = 0  # readings sent again because no confirmation came in time
    resent_sessions: int = 0
    connects: int = 0
    connect_failures: int = 0
    renewals: int = 0
    unrouted: int = 0  # telemetry messages the broker had no subscriber for (kept and sent again)
    last_error: str | None = None
    alarms_since: dict[tuple[str, str | None], int] = field(default_factory=dict)


@dataclass(slots=True)
class _Sent:
    """A message sent on this connection and not yet confirmed: its last seq, when, and how often before."""

    last: int
    at: float  # time.monotonic()
    attempts: int


class Gateway:
    """One gateway process: everything `cem gateway run` does."""

    def __init__(
        self,
        point_map: PointMap,
        *,
        clock: Callable[[], float] = time.time,
        renew_check_s: float = 3600.0,
    ) -> None:
        if point_map.gateway is None:
            raise PointMapError(
                "the point map has no [gateway] section (identity_dir, buffer_path ...)", source=point_map.source
            )
        self.map, self.config, self.clock = point_map, point_map.gateway, clock
        self.identity: Identity = load_identity(self.config.identity_dir)
        self.device = self.identity.device_id
        self.broker_url = self.config.broker or self.identity.broker_url
        self.host, self.port = parse_broker_url(self.broker_url)
        self.quality = QualityFilter()
        self.buffer = Buffer(
            self.config.buffer_path,
            max_readings=self.config.buffer_max_readings,
            min_free_mb=self.config.buffer_min_free_mb,
            evict=self.config.evict,
        )
        self.coordinators = [
            Coordinator(connection, point_map.points_of(name), self._sink, clock=clock)
            for name, connection in point_map.connections.items()
            if point_map.points_of(name)
        ]
        self.counters = Counters()
        self.started = clock()
        self.renew_check_s = renew_check_s
        self.renewal_error: str | None = None
        self._unconfirmed: dict[int, _Sent] = {}  # first seq of a message sent on this connection -> its record
        self._confirmed = asyncio.Event()
        self._confirming: set[asyncio.Task[None]] = set()
        self.uplink = self._new_uplink()
        self._stopping = asyncio.Event()

    # ----------------------------------------------------------------------------------- collecting
    async def _sink(self, readings: list[RawReading]) -> None:
        """One poll slot of one connection: check, then store before anything is sent."""
        self.counters.read += len(readings)
        samples = self.quality.process(list(readings))
        if samples:
            stored = await self.buffer.append(samples)
            self.counters.stored += stored.stored
            if stored.evicted or stored.refused:
                log.warning(
                    "buffer full (policy %s): %d oldest evicted, %d new refused",
                    self.config.evict,
                    stored.evicted,
                    stored.refused,
                )

    # ----------------------------------------------------------------------------------- sending
    def _new_uplink(self) -> Uplink:
        identity = self.identity

        def will() -> tuple[str, bytes]:
            # published by the broker when the connection is lost; ts is when this connection began
            status = Status(
                device=self.device,
                state="offline",
                ts=_ms(self.clock()),
                firmware=FIRMWARE,
                reason="connection lost",
                started=_ms(self.started),
            )
            return status_topic(self.device), encode(status)

        return Uplink(
            client_id=self.device,
            host=self.host,
            port=self.port,
            context=lambda: tls_context(str(identity.ca_file), str(identity.cert_file), str(identity.key_file)),
            will=will,
            max_inflight=max(20, self.config.inflight * 2 + 2),
            command_topic=command_topic(self.device),
            on_command=self._on_command,
        )

    def _on_command(self, payload: bytes) -> None:
        """A message on our cmd topic (on the event loop): a confirmation lets the buffer delete what it covers."""
        try:
            confirm = decode_confirm(payload)
        except WireError as err:
            log.warning("ignored a message on the command topic: %s", err)
            return
        if confirm.device != self.device:
            log.warning("ignored a confirmation for device %s", confirm.device)
            return
        task = asyncio.ensure_future(self._apply_confirm(confirm.ranges))
        self._confirming.add(task)
        task.add_done_callback(self._confirming.discard)

    async def _apply_confirm(self, ranges: Sequence[tuple[int, int]]) -> None:
        try:
            self.counters.confirmed += await self.buffer.acknowledge_ranges(ranges)
        except Exception:  # noqa: BLE001 - e.g. the buffer closed at the stop: the readings stay, sent again
            log.warning("a confirmation was not applied; its readings will be sent again")
            return
        for first, last in ranges:
            for start in [start for start in self._unconfirmed if first <= start <= last]:
                del self._unconfirmed[start]
        self._confirmed.set()

    async def _send(self, readings: Sequence[Reading], attempts: int = 0) -> None:
        """Publish one message and wait for the broker's PUBACK; the readings stay until the platform confirms."""
        first, last = readings[0].seq, readings[-1].seq
        # recorded before the publish: the confirmation can arrive before the PUBACK is seen here
        self._unconfirmed[first] = _Sent(last, time.monotonic(), attempts)
        batch = TelemetryBatch(device=self.device, sent=_ms(self.clock()), readings=tuple(readings))
        await self.uplink.publish(telemetry_topic(self.device), encode(batch), routed=True)
        self.counters.sent += len(readings)
        self.counters.batches += 1

    async def _overdue(self) -> list[Reading] | None:
        """The oldest message unconfirmed for longer than its timeout, read again from the buffer (its record
        moves to the resend); None when none is due. Readings the buffer no longer holds are not sent again."""
        now = time.monotonic()
        for first, sent in sorted(self._unconfirmed.items()):
            if now - sent.at < self.config.confirm_timeout_s * 2 ** min(sent.attempts, 4):
                continue
            del self._unconfirmed[first]
            rows = await self.buffer.fetch(first - 1, self.config.batch_max, upto=sent.last)
            if rows:
                self.counters.resent += len(rows)
                log.info("no confirmation for readings %d..%d; sending them again", rows[0].seq, rows[-1].seq)
                self._unconfirmed[rows[0].seq] = _Sent(rows[-1].seq, now, sent.attempts + 1)
                return rows
        return None

    async def _drain(self) -> None:
        """Send until the connection drops: a backlog lane (oldest first), a live lane and the overdue resends."""
        config: GatewayConfig = self.config
        self._unconfirmed.clear()  # a new connection: everything still in the buffer goes again, oldest first
        mark = self.buffer.last_seq
        backlog, live = 0, mark
        inflight: set[asyncio.Task[None]] = set()
        lost = asyncio.ensure_future(self.uplink.lost.wait())

        def room() -> bool:
            return len(inflight) < config.inflight and len(self._unconfirmed) < config.confirm_window

        try:
            while True:
                self.buffer.appended.clear()  # before looking: an append from now on wakes the wait below
                self._confirmed.clear()
                # fill the window: overdue resends, live readings, then the backlog, several messages in flight
                progressed = True
                while progressed and room():
                    progressed = False
                    rows = await self._overdue()
                    if rows:
                        inflight.add(asyncio.ensure_future(self._send(rows, self._unconfirmed[rows[0].seq].attempts)))
                        progressed = True
                        continue
                    rows = await self.buffer.fetch(live, config.batch_max)
                    if rows:
                        live = rows[-1].seq
                        inflight.add(asyncio.ensure_future(self._send(rows)))
                        progressed = True
                    if backlog < mark and room():
                        rows = await self.buffer.fetch(backlog, config.batch_max, upto=mark)
                        backlog = rows[-1].seq if rows else mark
                        if rows:
                            inflight.add(asyncio.ensure_future(self._send(rows)))
                            progressed = True
                if inflight:
                    done, inflight = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                    errors = [error for task in done if (error := task.exception()) is not None]
                    if errors:
                        raise errors[0]  # an UplinkError ends the session; the unsent rows stay in the buffer
                    continue
                # nothing in flight: wait for new readings, a confirmation (room in the window) or the next
                # resend check, whichever comes first
                waits = {
                    asyncio.ensure_future(self.buffer.appended.wait()),
                    asyncio.ensure_future(self._confirmed.wait()),
                }
                await asyncio.wait({*waits, lost}, timeout=self._next_check(), return_when=asyncio.FIRST_COMPLETED)
                for wait in waits:
                    wait.cancel()
                if lost.done():
                    raise UplinkError("connection lost")
        finally:
            lost.cancel()
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    def _next_check(self) -> float:
        """Seconds until the next unconfirmed message falls due (at most 1 s: a new reading may be waiting)."""
        if not self._unconfirmed:
            return 1.0
        now, timeout = time.monotonic(), self.config.confirm_timeout_s
        due = min(sent.at + timeout * float(2 ** min(sent.attempts, 4)) for sent in self._unconfirmed.values())
        return min(max(due - now, 0.01), 1.0)

    async def _drain_while_routed(self) -> None:
        """`_drain` on this connection; while the broker has no subscriber for the telemetry, wait and try again.

        The readings the broker gave to nobody stay in the buffer. They go again, oldest first, once the
        platform's ingest has subscribed; its receiver keeps one copy of a reading sent twice.
        """
        wait, sent = 1.0, self.counters.sent
        while True:
            try:
                await self._drain()
            except NoSubscriber as err:
                if self.counters.sent != sent:  # delivered since the last refusal: a new episode
                    wait, sent = 1.0, self.counters.sent
                self.counters.unrouted += 1
                self.counters.last_error = str(err)
                log.warning(
                    "the broker has no subscriber for the telemetry (is the platform's ingest connected?); "
                    "%d readings kept in the buffer, sending again in %.0f s",
                    self.buffer.depth,
                    wait,
                )
                lost = asyncio.ensure_future(self.uplink.lost.wait())
                done, _ = await asyncio.wait({lost}, timeout=wait)
                lost.cancel()
                if done:
                    raise UplinkError("connection lost") from err
                wait = min(wait * 2, 10.0)

    async def _forward(self) -> None:
        """Connect, send, and when the connection drops reconnect with backoff, forever."""
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self.uplink.connect()
            except UplinkError as err:
                self.counters.connect_failures += 1
                self.counters.last_error = str(err)
                log.warning("%s; retrying in %.1f s", err, delay)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not crypto
                delay = min(delay * 2, 10.0)  # a broker back after an outage is found within ~10 s
                continue
            delay = 0.5
            self.counters.connects += 1
            try:
                await self._heartbeat_once()
                await self._drain_while_routed()
            except UplinkError as err:
                self.counters.last_error = str(err)
                log.warning("uplink: %s; %d readings wait in the buffer", err, self.buffer.depth)
            except Exception as err:  # a bug must not stop the gateway: log it, reconnect, resend
                self.counters.last_error = repr(err)
                log.exception("forwarder failed; reconnecting")
            # (on cancellation the connection stays open so that `run` can send the final status)
            await self.uplink.close()

    # ----------------------------------------------------------------------------------- status
    def _alarm(self, alarms: list[Alarm], code: str, severity: str, message: str, subject: str | None = None) -> None:
        since = self.counters.alarms_since.setdefault((code, subject), _ms(self.clock()))
        alarms.append(Alarm(code=code, severity=severity, message=clip(message), since=since, subject=subject))  # type: ignore[arg-type]

    async def status(self, state: str = "online", reason: str | None = None) -> Status:
        """The current status message."""
        now = self.clock()
        buffer = await self.buffer.state()
        connections = []
        alarms: list[Alarm] = []
        for coordinator in self.coordinators:
            s = coordinator.status()
            connections.append(
                ConnectionState(
                    name=s.name,
                    protocol=s.protocol,
                    connected=s.connected,
                    last_good_poll=_ms(s.last_good_poll) if s.last_good_poll is not None else None,
                    polls=s.polls,
                    errors=s.errors,
                    errors_by_reason=dict(s.errors_by_reason),
                    last_error=clip(s.last_error) if s.last_error is not None else None,
                    reconnects=s.reconnects,
                    overruns=s.overruns,
                )
            )
            if not s.connected:
                self._alarm(
                    alarms, "connection_down", "critical", f"{s.name}: {s.last_error or 'not connected'}", s.name
                )
        if self.buffer.full_since is not None:
            self._alarm(
                alarms,
                "buffer_full",
                "critical",
                f"buffer full: policy {self.config.evict}, {buffer.evicted} readings evicted or refused so far",
            )
        if self.config.buffer_min_free_mb and (buffer.disk_free_mb or 0) < self.config.buffer_min_free_mb:
            self._alarm(alarms, "disk_low", "critical", f"only {buffer.disk_free_mb} MB free for the buffer")
        for point in self.quality.stuck_points():
            self._alarm(alarms, "meter_stuck", "warning", f"{point} has not changed", point)
        if self.renewal_error:
            self._alarm(alarms, "renewal_failed", "warning", self.renewal_error)
        active = {(alarm.code, alarm.subject) for alarm in alarms}
        for key in list(self.counters.alarms_since):
            if key not in active:
                del self.counters.alarms_since[key]
        return Status(
            device=self.device,
            state=state,  # type: ignore[arg-type]
            ts=_ms(now),
            firmware=FIRMWARE,
            reason=reason,
            started=_ms(self.started),
            uptime_s=int(now - self.started),
            heartbeat_s=self.config.heartbeat_s,
            buffer=buffer,
            connections=tuple(connections),
            dropped=dict(self.quality.dropped),
            estimated=self.quality.estimated,
            alarms=tuple(alarms),
        )

    async def _heartbeat_once(self) -> None:
        await self.uplink.publish(status_topic(self.device), encode(await self.status()), retain=True, timeout=10)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_s)
            if self.uplink.connected:
                try:
                    await self._heartbeat_once()
                except UplinkError as err:
                    log.info("heartbeat not sent: %s", err)

    # ----------------------------------------------------------------------------------- identity
    async def _renewal(self) -> None:
        """Renew the certificate once it is due; reconnect with the new one."""
        while True:
            due = self.identity.renew_after.timestamp() - self.clock()
            if due > 0:
                await asyncio.sleep(min(due, self.renew_check_s))
                continue
            try:
                self.identity = await asyncio.to_thread(renew, self.identity.directory)
            except EnrolmentError as err:
                self.renewal_error = f"certificate renewal failed: {err}"
                log.warning("%s; next try in %.0f s", self.renewal_error, self.renew_check_s)
                await asyncio.sleep(self.renew_check_s)
                continue
            self.renewal_error = None
            self.counters.renewals += 1
            log.info("certificate renewed, valid until %s; reconnecting", self.identity.not_after.isoformat())
            old, self.uplink = self.uplink, self._new_uplink()
            await old.close()
            if self.identity.renew_after.timestamp() <= self.clock():
                # certificates shorter-lived than the renewal window: renew once per check period, not in a loop
                await asyncio.sleep(self.renew_check_s)

    # ----------------------------------------------------------------------------------- lifecycle
    async def run(self, ready: Callable[[Gateway], Awaitable[None] | None] | None = None) -> None:
        """Run until `stop` is called (or the task is cancelled)."""
        await self.buffer.open()
        self.quality.restore(self.buffer.point_states)
        log.info(
            "gateway %s: %d points on %d connections, %d readings waiting in the buffer, broker %s",
            self.device,
            len(self.map.points),
            len(self.coordinators),
            self.buffer.depth,
            self.broker_url,
        )
        tasks = [asyncio.ensure_future(coordinator.run()) for coordinator in self.coordinators]
        tasks += [
            asyncio.ensure_future(self._forward()),
            asyncio.ensure_future(self._heartbeat()),
            asyncio.ensure_future(self._renewal()),
        ]
        try:
            if ready is not None:
                result = ready(self)
                if result is not None:
                    await result
            stopping = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                error = task.exception() if task.done() and not task.cancelled() else None
                if error is not None:
                    raise error
        finally:
            pollers, senders = tasks[: len(self.coordinators)], tasks[len(self.coordinators) :]
            for task in senders:  # the heartbeat first: no "online" status may follow the stop
                task.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
            # each coordinator's own stop flag first: a bare cancel can be swallowed by a read that completes
            # at that instant (asyncio.wait_for in Python 3.11), and the poller would then run on forever
            await asyncio.gather(*(coordinator.stop() for coordinator in self.coordinators), return_exceptions=True)
            while pending := [task for task in pollers if not task.done()]:
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=1.0)
            with contextlib.suppress(Exception):
                offline = encode(await self.status("offline", "stopped"))
                await self.uplink.close(last=(status_topic(self.device), offline))
            await asyncio.gather(*self._confirming, return_exceptions=True)  # confirmations that came in, applied
            await self.buffer.close()
            log.info("gateway stopped; %d readings wait in the buffer", self.buffer.depth)

    def stop(self) -> None:
        """Ask `run` to finish (readings not yet sent stay in the buffer)."""
        self._stopping.set()
