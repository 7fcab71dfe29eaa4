"""Ingest: check what the broker delivered, store each reading once, keep what was refused and why.

The MQTT side (``consumer.py``) hands over groups of messages; :meth:`IngestService.handle` returns only
when everything of the group is durably written — stored readings, dead letters and statuses — and only
then does the consumer acknowledge the messages to the broker. A crash in between means the broker
delivers them again, and the store's natural key (point, ts) stores them once.

What is refused, and where it goes (``ingest_dead_letter``, visible to device admins):

- a whole message: topic not ``cem/v1/{device}/telemetry|status`` (``topic``), not a version-1 payload
  (``schema``), device in the payload differs from the topic (``identity_mismatch``: the broker's ACL ties
  the topic to the certificate's identity, so this is the check that ties all three), unknown device
  (``unknown_device``), device suspended, revoked, retired or never enrolled (``device_not_active``);
- single readings of an otherwise good batch (``readings_rejected``, each with its reason): unknown or
  inactive point (``unknown_point``, ``inactive_point``), unit differing from the point's (``unit_mismatch``),
  stamped further ahead than CEM_INGEST_MAX_FUTURE_S (``future_timestamp``), older than the raw retention
  (``too_old``), not a finite number (``not_finite``); and, by the store, another value for a (point, time)
  already stored (``value_conflict``, with both values: the stored one stays, and the point gets a DATA_CONFLICT
  alarm) or a ``seq`` the device already used for another reading (``seq_reused``; see
  :mod:`cem_platform.telemetry.store`). The batch's good readings are stored, and the message is confirmed:
  its refused readings are kept here for good;
- a message that passed these checks and still could not be written for its content (``unprocessable``, with
  the database's error): the consumer sets it aside so that the rest of its group, and ingest, go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from cem_gateway.wire import Status, TelemetryBatch, WireError, decode_status, decode_telemetry
from cem_platform.org.models import Facility, MeasurementPoint
from cem_platform.settings import Settings
from cem_platform.telemetry.ddl import FLAG_BITS, QUALITY_CODES
from cem_platform.telemetry.live import LiveHub, hub_for
from cem_platform.telemetry.models import DeadLetter, DeviceStatus
from cem_platform.telemetry.store import Batch, Row, TimeSeriesStore, Written, ms_to_dt, store_for
from cem_registry.models import ADMITTED_STATES, Device
from cem_registry.services import DeviceRegistry

if TYPE_CHECKING:
    from cem_platform.alarms.rules import ValueConflict

__all__ = ["IngestService", "IngestStats", "Message"]

log = logging.getLogger("cem.ingest")

DEVICE_TTL_S = 15.0  # a suspension or revocation reaches ingest within this time
POINT_TTL_S = 60.0  # a new or changed point reaches ingest within this time
SEEN_EVERY_S = 10.0  # how often a device's last_seen_at is written while it keeps sending
MAX_DEAD_LETTER_BYTES = 256 * 1024  # a larger refused payload is kept truncated (its digest and size are whole)


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message as the consumer received it."""

    topic: str
    payload: bytes
    received_at: int  # ms UTC


@dataclass(frozen=True, slots=True)
class _Device:
    id: str
    enterprise_id: int
    site_id: int | None
    admitted: bool
    state: str
    loaded: float


@dataclass(frozen=True, slots=True)
class _Point:
    id: int
    code: str
    unit: str
    kind: str
    active: bool
    site_id: int


@dataclass(slots=True)
class _Points:
    by_code: dict[str, _Point]
    loaded: float
    by_id: dict[int, _Point] = field(default_factory=dict)


@dataclass
class IngestStats:
    """Counters since the process started, and the lags (stored minus reading time, ms) of the current window.

    The window is a uniform sample (reservoir) of every new reading's lag since the last ``take_window``.
    """

    messages: int = 0
    readings: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    dead_letters: int = 0
    statuses: int = 0
    writes: int = 0
    window_seen: int = 0
    window_lags: list[int] = field(default_factory=list)
    sample_size: int = 20_000
    _random: random.Random = field(default_factory=lambda: random.Random(1))  # noqa: S311 - sampling only

    def record_lags(self, lags: Sequence[int]) -> None:
        """Add lags to the window's sample."""
        for lag in lags:
            self.window_seen += 1
            if len(self.window_lags) < self.sample_size:
                self.window_lags.append(lag)
            else:
                slot = self._random.randrange(self.window_seen)
                if slot < self.sample_size:
                    self.window_lags[slot] = lag

    def take_window(self) -> dict[str, int | None]:
        """Lag p50/p95/max of the window and how many readings it had; starts a new window."""
        ordered = sorted(self.window_lags)
        count = self.window_seen
        self.window_lags, self.window_seen = [], 0

        def pick(q: float) -> int | None:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None

        return {
            "window_stored": count,
            "lag_p50_ms": pick(0.5),
            "lag_p95_ms": pick(0.95),
            "lag_max_ms": ordered[-1] if ordered else None,
        }


@dataclass(frozen=True, slots=True)
class _Checked:
    """A telemetry message that passed the checks: its readings as rows, where each row came from in the message
    (its index), and the readings refused so far (dead-letter entries)."""

    device: _Device
    batch: TelemetryBatch
    rows: list[Row]
    indices: list[int]
    rejected: list[dict[str, Any]]


# What to do about each reason of a refused reading, said once in the dead letter's message.
_POINT_MAP = "register the points (with the units the gateway sends) or fix the gateway's point map"
_CLOCK = "check the gateway's clock for timestamp errors"
_ADVICE = {
    "unknown_point": _POINT_MAP,
    "inactive_point": _POINT_MAP,
    "unit_mismatch": _POINT_MAP,
    "future_timestamp": _CLOCK,
    "too_old": _CLOCK,
    "value_conflict": (
        "another value is already stored for that point and time and was kept: find out which terminal or "
        "reading is right (two gateways reading one meter, a replaced or reset gateway)"
    ),
    "seq_reused": (
        "the device sent sequence numbers it had already used for other readings: its buffer was restored "
        "or copied, or two gateways share one identity"
    ),
}


@dataclass(slots=True)
class _Refusal:
    reason: str
    message: str
    device_id: str | None = None
    enterprise_id: int | None = None
    rejected: list[dict[str, Any]] | None = None


class IngestService:
    """The checks and writes of ingest, independent of MQTT."""

    def __init__(self, settings: Settings, store: TimeSeriesStore | None = None, hub: LiveHub | None = None) -> None:
        self.settings = settings
        self._store = store
        self.hub = hub or hub_for(settings)
        self.stats = IngestStats()
        self._devices: dict[str, _Device] = {}
        self._points: dict[int, _Points] = {}
        self._sources: dict[int, str] = {}  # point id -> device id, as written to ts_point_source
        self._seen: dict[str, float] = {}
        self._latest: dict[int, dict[int, dict[str, Any]]] = {}  # enterprise -> point -> event item
        self._registry = DeviceRegistry(settings)

    @property
    def store(self) -> TimeSeriesStore:
        """The raw-reading store (opened on first use, inside the database context)."""
        if self._store is None:
            self._store = store_for()
        return self._store

    # --- lookups -------------------------------------------------------------------------------------------

    async def _device(self, device_id: str) -> _Device | None:
        now = time.monotonic()
        cached = self._devices.get(device_id)
        if cached is not None and now - cached.loaded < DEVICE_TTL_S:
            return cached
        device = await Device.get_or_none(id=device_id)
        if device is None:
            self._devices.pop(device_id, None)
            return None
        entry = _Device(
            device.id,
            device.enterprise_id,
            device.site_id,
            device.state in ADMITTED_STATES,
            device.state.value,
            now,
        )
        self._devices[device_id] = entry
        return entry

    async def _points_of(self, enterprise_id: int, codes: set[str]) -> dict[str, _Point]:
        now = time.monotonic()
        cached = self._points.get(enterprise_id)
        if cached is not None and now - cached.loaded < POINT_TTL_S and codes <= cached.by_code.keys():
            return cached.by_code
        if cached is not None and now - cached.loaded < 1.0:
            return cached.by_code  # unknown codes were looked up a moment ago: do not hammer the database
        rows = await MeasurementPoint.filter(enterprise_id=enterprise_id).values(
            "id", "code", "unit", "kind", "active", "facility_id"
        )
        facilities = dict(
            await Facility.filter(id__in={r["facility_id"] for r in rows}).values_list("id", "process__site_id")
        )
        by_code = {
            r["code"]: _Point(r["id"], r["code"], r["unit"], r["kind"], r["active"], int(facilities[r["facility_id"]]))
            for r in rows
        }
        self._points[enterprise_id] = _Points(by_code, now, {p.id: p for p in by_code.values()})
        return by_code

    # --- the work --------------------------------------------------------------------------------------------

    async def handle(self, messages: Sequence[Message]) -> dict[str, list[tuple[int, int]]]:
        """Check, store and record one group of messages; returns when all of it is durable.

        Returns what may be confirmed to each device (see `cem_gateway.wire.Confirm`): the first and last
        ``seq`` of every telemetry message of an admitted device whose readings are now stored or refused for
        good (kept as a dead letter). A message that did not decode or whose device is not admitted is not
        confirmed: the gateway keeps its readings.
        """
        now_ms = int(time.time() * 1000)
        committed: dict[str, list[tuple[int, int]]] = {}
        batches: list[Batch] = []
        batch_meta: list[tuple[_Device, TelemetryBatch]] = []
        checks: list[tuple[Message, _Checked]] = []
        refusals: list[tuple[Message, _Refusal]] = []
        statuses: list[tuple[Message, _Device, Status]] = []
        for message in messages:
            self.stats.messages += 1
            parts = message.topic.split("/")
            if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != "cem/v1" or parts[3] not in ("telemetry", "status"):
                refusals.append((message, _Refusal("topic", f"not an ingest topic: {message.topic!r}")))
                continue
            topic_device, channel = parts[2], parts[3]
            if channel == "status":
                checked_status = await self._check_status(message, topic_device)
                if isinstance(checked_status, _Refusal):
                    refusals.append((message, checked_status))
                else:
                    statuses.append((message, *checked_status))
                continue
            checked = await self._check_telemetry(message, topic_device, now_ms)
            if isinstance(checked, _Refusal):
                refusals.append((message, checked))
                continue
            device, batch, rows = checked.device, checked.batch, checked.rows
            checks.append((message, checked))
            batches.append(Batch(device.id, batch.sent, message.received_at, rows, len(batch.readings) - len(rows)))
            batch_meta.append((device, batch))
            if batch.readings:
                seqs = [reading.seq for reading in batch.readings]
                committed.setdefault(device.id, []).append((min(seqs), max(seqs)))

        outcomes = await self.store.write_checked(batches) if batches else []
        new_per_batch = [outcome.new for outcome in outcomes]
        stored_at = int(time.time() * 1000)
        for written, outcome in zip(batches, outcomes, strict=True):
            self.stats.readings += len(written.rows)
            self.stats.stored += len(outcome.new)
            self.stats.duplicates += outcome.duplicates
            self.stats.record_lags([stored_at - row.ts for row in outcome.new])
        self.stats.writes += bool(batches)
        conflicts: list[tuple[_Device, Message, list[ValueConflict]]] = []
        for (message, checked), outcome in zip(checks, outcomes, strict=True):
            refusal, found = self._readings_refusal(checked, outcome)
            if refusal is not None:
                refusals.append((message, refusal))
            if found:
                conflicts.append((checked.device, message, found))
        for message, refusal in refusals:
            await self._dead_letter(message, refusal)
        for message, device, status in statuses:
            await self._store_status(message, device, status)
        await self._after_write(batch_meta, batches, new_per_batch)
        if conflicts:
            from cem_platform.alarms.rules import on_value_conflicts

            for device, message, found in conflicts:  # after the commit: the refusal stands whatever the alarm does
                try:
                    await on_value_conflicts(
                        self.settings, device.id, device.enterprise_id, found, ms_to_dt(message.received_at)
                    )
                except Exception:  # the dead letter holds the conflict; the alarm comes with its next sighting
                    log.exception("data alarm not raised", extra={"device_id": device.id})
        return committed

    async def _check_telemetry(self, message: Message, topic_device: str, now_ms: int) -> _Refusal | _Checked:
        try:
            batch = decode_telemetry(message.payload)
        except WireError as err:
            return _Refusal("schema", f"{err}. The gateway must send wire format v1 (cem_gateway.wire).", topic_device)
        device_or_refusal = await self._admitted(topic_device, batch.device)
        if isinstance(device_or_refusal, _Refusal):
            return device_or_refusal
        device = device_or_refusal
        points = await self._points_of(device.enterprise_id, {r.point for r in batch.readings})
        newest = now_ms + self.settings.ingest.max_future_s * 1000
        oldest = now_ms - self.settings.timeseries.raw_retention_days * 86_400_000
        rows: list[Row] = []
        indices: list[int] = []
        rejected: list[dict[str, Any]] = []
        for index, reading in enumerate(batch.readings):
            point = points.get(reading.point)
            reason = None
            if point is None:
                reason = "unknown_point"
            elif not point.active:
                reason = "inactive_point"
            elif reading.unit != point.unit:
                reason = "unit_mismatch"
            elif reading.ts > newest:
                reason = "future_timestamp"
            elif reading.ts < oldest:
                reason = "too_old"
            elif not math.isfinite(reading.value) or (reading.delta is not None and not math.isfinite(reading.delta)):
                reason = "not_finite"
            if reason is not None or point is None:
                entry: dict[str, Any] = {"index": index, "seq": reading.seq, "point": reading.point, "reason": reason}
                if reason == "unit_mismatch" and point is not None:
                    entry["unit"], entry["expected_unit"] = reading.unit, point.unit
                rejected.append(entry)
                continue
            flags = 0
            for flag in reading.flags:
                flags |= FLAG_BITS[flag]
            rows.append(
                Row(
                    point_id=point.id,
                    ts=reading.ts,
                    value=reading.value,
                    delta=reading.delta,
                    since=reading.since,
                    quality=QUALITY_CODES[reading.quality],
                    estimated=reading.estimated,
                    flags=flags,
                    seq=reading.seq,
                )
            )
            indices.append(index)
        return _Checked(device, batch, rows, indices, rejected)

    def _readings_refusal(self, checked: _Checked, outcome: Written) -> tuple[_Refusal | None, list[ValueConflict]]:
        """The message's ``readings_rejected`` dead letter (refused by the checks and by the store, in message
        order), and its value conflicts for the alarm rules."""
        from cem_platform.alarms.rules import ValueConflict

        rejected = checked.rejected
        conflicts: list[ValueConflict] = []
        if outcome.refused:
            readings = checked.batch.readings
            rejected = list(rejected)
            for refused in outcome.refused:
                index = checked.indices[refused.row]
                reading = readings[index]
                entry: dict[str, Any] = {
                    "index": index,
                    "seq": reading.seq,
                    "point": reading.point,
                    "reason": refused.reason,
                    "ts": reading.ts,
                }
                if refused.reason == "value_conflict" and refused.stored_value is not None:  # it always has one
                    row = checked.rows[refused.row]
                    entry["value"], entry["stored_value"] = reading.value, refused.stored_value
                    if reading.delta is not None or refused.stored_delta is not None:
                        entry["delta"], entry["stored_delta"] = reading.delta, refused.stored_delta
                    conflicts.append(
                        ValueConflict(
                            row.point_id,
                            reading.point,
                            reading.ts,
                            reading.seq,
                            reading.value,
                            refused.stored_value,
                            reading.delta,
                            refused.stored_delta,
                        )
                    )
                rejected.append(entry)
            rejected.sort(key=lambda entry: int(entry["index"]))
        if not rejected:
            return None, conflicts
        self.stats.rejected += len(rejected)
        total = len(checked.batch.readings)
        reasons = Counter(r["reason"] for r in rejected)
        summary = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
        advice = "; ".join(dict.fromkeys(_ADVICE[reason] for reason in sorted(reasons) if reason in _ADVICE))
        device = checked.device
        return _Refusal(
            "readings_rejected",
            f"{len(rejected)} of {total} readings refused ({summary}); the others were stored. "
            + (advice[0].upper() + advice[1:] + "." if advice else ""),
            device.id,
            device.enterprise_id,
            rejected,
        ), conflicts

    async def _admitted(self, topic_device: str, payload_device: str) -> _Device | _Refusal:
        if payload_device != topic_device:
            return _Refusal(
                "identity_mismatch",
                f"the payload says device {payload_device!r} but it was published on {topic_device!r}'s topic. "
                "A device may only publish its own readings: check the gateway's identity files.",
                topic_device,
            )
        device = await self._device(topic_device)
        if device is None:
            return _Refusal(
                "unknown_device",
                f"no device {topic_device!r} in the registry. Register and enrol it first.",
                topic_device,
            )
        if not device.admitted:
            return _Refusal(
                "device_not_active",
                f"device {topic_device} is {device.state}; its data is not accepted. Resume or re-enrol it first.",
                device.id,
                device.enterprise_id,
            )
        return device

    async def _check_status(self, message: Message, topic_device: str) -> _Refusal | tuple[_Device, Status]:
        try:
            status = decode_status(message.payload)
        except WireError as err:
            return _Refusal("schema", f"{err}. The gateway must send wire format v1 (cem_gateway.wire).", topic_device)
        device = await self._admitted(topic_device, status.device)
        if isinstance(device, _Refusal):
            return device
        return device, status

    # --- side records ------------------------------------------------------------------------------------------

    async def _dead_letter(self, message: Message, refusal: _Refusal) -> None:
        self.stats.dead_letters += 1
        digest = hashlib.sha256(message.payload).hexdigest()
        payload = message.payload[:MAX_DEAD_LETTER_BYTES]
        log.warning(
            "message refused",
            extra={"topic": message.topic, "reason": refusal.reason, "device_id": refusal.device_id},
        )
        updated = await DeadLetter.filter(payload_sha256=digest, reason=refusal.reason).update(
            occurrences=F("occurrences") + 1
        )
        if updated:
            return
        enterprise_id = refusal.enterprise_id
        if enterprise_id is None:
            # The broker lets a device publish only on its own topic, so a message that did not decode (or named
            # another device) still belongs to the topic's device: its enterprise's device admins must see it.
            parts = message.topic.split("/")
            known = await self._device(parts[2]) if len(parts) == 4 and parts[:2] == ["cem", "v1"] else None
            enterprise_id = known.enterprise_id if known is not None else None
        with contextlib.suppress(IntegrityError):  # the same bytes refused by another process just now
            await DeadLetter.create(
                received_at=ms_to_dt(message.received_at),
                topic=message.topic[:200],
                device_id=(refusal.device_id or "")[:64] or None,
                enterprise_id=enterprise_id,
                reason=refusal.reason,
                message=refusal.message,
                rejected=refusal.rejected,
                payload=payload,
                payload_sha256=digest,
                size=len(message.payload),
            )

    async def refuse_unprocessable(self, message: Message, err: Exception) -> None:
        """Keep a message that passed the checks but could not be written as a dead letter, with the error."""
        parts = message.topic.split("/")
        device_id = parts[2] if len(parts) == 4 else None
        detail = str(err).replace("\x00", "")[:500]
        log.error("message could not be written; kept as a dead letter", extra={"topic": message.topic})
        await self._dead_letter(
            message,
            _Refusal(
                "unprocessable",
                f"the platform could not store this message ({type(err).__name__}: {detail}). It was set aside so "
                "that ingest goes on; report it with this dead letter's id.",
                device_id,
                self._devices[device_id].enterprise_id if device_id in self._devices else None,
            ),
        )

    async def _store_status(self, message: Message, device: _Device, status: Status) -> None:
        self.stats.statuses += 1
        received = ms_to_dt(message.received_at)
        previous = await DeviceStatus.get_or_none(device_id=device.id)
        if previous is not None and previous.received_at > received:
            return  # an older status delivered late (redelivery): the newer one stands
        from cem_platform.alarms.rules import on_status

        await on_status(self.settings, await Device.get(id=device.id), status, previous, received)
        values: dict[str, Any] = {
            "enterprise_id": device.enterprise_id,
            "state": status.state,
            "reason": status.reason or "",
            "reported_at": ms_to_dt(status.ts),
            "received_at": received,
            "heartbeat_s": status.heartbeat_s,
            "firmware": status.firmware,
            "buffer_depth": status.buffer.depth if status.buffer else None,
            "buffer_evicted": status.buffer.evicted if status.buffer else None,
            "last_seq": status.buffer.last_seq if status.buffer else None,
            "status": _plain(status),
        }
        await DeviceStatus.update_or_create(defaults=values, device_id=device.id)
        if status.state == "online":
            await self._registry.mark_seen(device.id, firmware=status.firmware or None)
            self._seen[device.id] = time.monotonic()
        await self.hub.publish(
            device.enterprise_id,
            {
                "type": "status",
                "enterprise_id": device.enterprise_id,
                "site_id": device.site_id,
                "device_id": device.id,
                "state": status.state,
                "reason": status.reason,
                "ts": status.ts,
                "buffer_depth": status.buffer.depth if status.buffer else None,
                "alarms": [a.code for a in status.alarms],
            },
        )

    async def _after_write(
        self, meta: list[tuple[_Device, TelemetryBatch]], batches: list[Batch], new_per_batch: list[list[Row]]
    ) -> None:
        now = time.monotonic()
        sources: dict[int, str] = {}
        for (device, _), batch, new in zip(meta, batches, new_per_batch, strict=True):
            if now - self._seen.get(device.id, -1e9) >= SEEN_EVERY_S:
                await self._registry.mark_seen(device.id)
                self._seen[device.id] = now
            for row in batch.rows:
                if self._sources.get(row.point_id) != device.id:
                    sources[row.point_id] = device.id
            pending = self._latest.setdefault(device.enterprise_id, {})
            for row in new:
                current = pending.get(row.point_id)
                if current is None or current["ts"] < row.ts:
                    pending[row.point_id] = {
                        "point_id": row.point_id,
                        "ts": row.ts,
                        "value": row.value,
                        "quality": "uncertain" if row.quality else "good",
                        "estimated": row.estimated,
                    }
        if sources:
            await self._write_sources(sources)

    async def _write_sources(self, sources: dict[int, str]) -> None:
        store = self.store
        now = dt.datetime.now(dt.UTC)
        stamp: Any = now if store.dialect == "postgres" else int(now.timestamp() * 1000)
        p = "$1, $2, $3" if store.dialect == "postgres" else "?, ?, ?"
        await store.client.execute_many(
            f"INSERT INTO ts_point_source (point_id, device_id, since) VALUES ({p}) "  # noqa: S608 - placeholders
            "ON CONFLICT (point_id) DO UPDATE SET device_id = excluded.device_id, since = excluded.since",
            [[point_id, device_id, stamp] for point_id, device_id in sources.items()],
        )
        self._sources.update(sources)

    async def publish_latest(self) -> int:
        """Send the newest value of every point stored since the last call (one event per enterprise)."""
        pending, self._latest = self._latest, {}
        sent = 0
        for enterprise_id, items in pending.items():
            cache = self._points.get(enterprise_id)
            codes = cache.by_id if cache is not None else {}
            points = []
            for item in items.values():
                point = codes.get(item["point_id"])
                if point is not None:
                    points.append({**item, "code": point.code, "unit": point.unit, "site_id": point.site_id})
            if points:
                await self.hub.publish(
                    enterprise_id, {"type": "latest", "enterprise_id": enterprise_id, "points": points}
                )
                sent += len(points)
        return sent

    async def publish_forever(self, every_s: float = 1.0) -> None:
        """Publish latest values once per ``every_s`` (coalesced: one value per point per period)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.publish_latest()
            except Exception:  # noqa: BLE001 - live updates never stop ingest
                log.warning("latest values not published", exc_info=True)


def _plain(status: Status) -> Any:
    return msgspec.to_builtins(status)
