"""The wire format between gateways and the platform: the one place both sides read.

Topics (the broker's ACL lets a device write only its own)::

    cem/v1/{device}/telemetry   TelemetryBatch, QoS 1, not retained
    cem/v1/{device}/status      Status, QoS 1, retained; the last will is a Status with state "offline"
    cem/v1/{device}/cmd         Confirm (and, later, commands), QoS 1, published by the platform only

Payloads are UTF-8 JSON objects with a version field ``v`` (this module is version 1). Fields that hold
their default are left out. A receiver rejects a version it does not know and fields it does not know.

TelemetryBatch::

    {"v": 1, "device": "dev-3k9x2m7q4w8z", "sent": 1764043200123,
     "readings": [
        {"seq": 1041, "point": "IR.BF1.COKE", "ts": 1764043200000, "value": 184467.25, "unit": "t",
         "delta": 0.97, "since": 1764043199000},
        {"seq": 1042, "point": "IR.BF1.COKE.FLOW", "ts": 1764043200000, "value": 3503.1, "unit": "t/h"},
        {"seq": 1043, "point": "HR.RF1.TEMP", "ts": 1764043200000, "value": 1180.0, "unit": "degC",
         "quality": "uncertain", "flags": ["stuck"]},
        {"seq": 1044, "point": "AUX.GRID.IMPORT", "ts": 1764043199000, "value": 52.5, "unit": "kWh",
         "estimated": true, "flags": ["filled"], "delta": 0.4, "since": 1764043198000}]}

- ``seq``: the device's reading sequence number. It only grows, never repeats, survives restarts, and a
  reading keeps its number when it is sent again (after a lost acknowledgement, a broker outage or a
  gateway restart), so a receiver stores each (device, seq) once. A gap in the numbers means readings
  were evicted from a full buffer; the gateway's status reports how many.
- ``ts``: when the value was read, milliseconds since 1970-01-01 UTC, on the poll slot (a multiple of
  the point's poll period), so the same slot of a point has the same timestamp on every resend.
- ``value``: the engineering value (raw * scale + offset) in ``unit``. Totalisers carry the counter
  reading; ``delta`` is the increase since the previous reading at ``since`` (rollover handled; absent
  after a reset or on the first reading), so a receiver sums deltas and never differences counters.
- ``quality``: ``good`` or ``uncertain``; invalid readings never leave the gateway (they are counted in
  the status by reason). ``estimated`` marks gap-filled values. ``flags`` say why: ``filled``,
  ``stuck``, ``rollover``, ``reset``, ``step`` (a level change accepted after repeated rate alarms).

Confirm (platform -> gateway, on the device's ``cmd`` topic)::

    {"v": 1, "kind": "confirm", "device": "dev-3k9x2m7q4w8z", "ts": 1764043200456, "ranges": [[1041, 1044]]}

- ``ranges``: inclusive sequence ranges the platform has COMMITTED: each reading in them is stored (now or
  before: a resend), or refused for good and kept as a dead letter with its reason. Each range is the first
  and last ``seq`` of one telemetry message, so it covers exactly the readings that message carried (the
  gateway's buffer hands out numbers in order and a message is a run of what the buffer held). The gateway
  keeps a reading until a confirmation covers it; the broker's PUBACK only frees the in-flight window. What
  stays unconfirmed is sent again after a timeout, under the same numbers; the platform stores a
  ``(device, seq)`` once and confirms a resend again, so a lost confirmation costs a duplicate, never data.

Status: see `Status` below; it carries the buffer depth, each connection's last good poll and error
counts, the drop counters, the firmware version, the uptime and open alarms. A status with state
``offline`` and reason ``stopped`` is a clean stop; reason ``connection lost`` is the last will, which the
broker publishes when the connection drops (its ``ts`` is when that connection began, so a receiver takes
the time of arrival as the time of the loss).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = [
    "TOPIC_ROOT",
    "VERSION",
    "Alarm",
    "BufferState",
    "Confirm",
    "ConnectionState",
    "Reading",
    "Status",
    "TelemetryBatch",
    "WireError",
    "clip",
    "command_topic",
    "decode_confirm",
    "decode_status",
    "decode_telemetry",
    "encode",
    "merge_ranges",
    "status_topic",
    "telemetry_topic",
]

VERSION = 1
TOPIC_ROOT = "cem/v1"
FLAGS = frozenset({"filled", "stuck", "rollover", "reset", "step"})
MAX_READINGS = 10_000  # per message: the gateway's batch_max is at most this
MAX_TEXT = 1_000  # a free-text field (an error, an alarm's message)
MAX_ENTRIES = 256  # connections, alarms, counters by reason
MAX_RANGES = 10_000  # per confirmation: one range per message of one ingest group commit, at most

# Every field is bounded here, at decode, so that nothing a device sends can fail later in the database (an
# integer out of int64, a time past year 9999, a NUL byte PostgreSQL refuses in text and JSON): a message that
# passes decoding can be stored, and one that does not is a dead letter with the reason, never a retried write.
Int64 = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Int32 = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
EpochMs = Annotated[int, msgspec.Meta(ge=0, le=253_402_300_799_999)]  # 1970-01-01 to 9999-12-31, in ms
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
Unit = Annotated[str, msgspec.Meta(max_length=16, pattern=r"^[^\x00-\x1f\x7f]*$")]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT, pattern=r"^[^\x00]*$")]
ShortText = Annotated[str, msgspec.Meta(max_length=100, pattern=r"^[^\x00]*$")]
Counters = Annotated[dict[Identifier, Int64], msgspec.Meta(max_length=MAX_ENTRIES)]


def telemetry_topic(device_id: str) -> str:
    """Where a device publishes its readings."""
    return f"{TOPIC_ROOT}/{device_id}/telemetry"


def status_topic(device_id: str) -> str:
    """Where a device publishes its heartbeat and its last will."""
    return f"{TOPIC_ROOT}/{device_id}/status"


def command_topic(device_id: str) -> str:
    """Where the platform tells a device something: confirmations (and, later, commands)."""
    return f"{TOPIC_ROOT}/{device_id}/cmd"


class WireError(ValueError):
    """A payload that is not valid in this version of the wire format."""


class Reading(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """One reading of one point."""

    seq: Int64
    point: Identifier
    ts: EpochMs
    value: float
    unit: Unit
    quality: Literal["good", "uncertain"] = "good"
    estimated: bool = False
    flags: Annotated[tuple[str, ...], msgspec.Meta(max_length=len(FLAGS))] = ()
    delta: float | None = None
    since: EpochMs | None = None


class TelemetryBatch(
    msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, frozen=True, tag_field="v", tag=VERSION
):
    """Readings of one device, oldest first within a send (resends may interleave with live data)."""

    device: Identifier
    sent: EpochMs
    readings: Annotated[tuple[Reading, ...], msgspec.Meta(max_length=MAX_READINGS)]


class ConnectionState(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """How one PLC or OPC UA connection is doing."""

    name: Identifier
    protocol: Identifier
    connected: bool
    last_good_poll: EpochMs | None = None
    polls: Int64 = 0
    errors: Int64 = 0
    errors_by_reason: Counters = {}
    last_error: Text | None = None
    reconnects: Int64 = 0
    overruns: Int64 = 0


class BufferState(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """The store-and-forward buffer."""

    depth: Int32
    capacity: Int64
    oldest_ts: EpochMs | None = None
    last_seq: Int64 = 0
    evicted: Int64 = 0
    disk_free_mb: Int64 | None = None


class Alarm(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """A condition the gateway reports until it clears."""

    code: Identifier  # buffer_full, disk_low, connection_down, meter_stuck, renewal_failed, clock_skew
    severity: Literal["info", "warning", "critical"]
    message: Text
    since: EpochMs
    subject: Identifier | None = None


class Status(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, frozen=True, tag_field="v", tag=VERSION):
    """Heartbeat (state online) or last will / clean stop (state offline)."""

    device: Identifier
    state: Literal["online", "offline"]
    ts: EpochMs
    firmware: Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")] = ""
    reason: ShortText | None = None
    started: EpochMs | None = None
    uptime_s: Int64 | None = None
    heartbeat_s: Annotated[float, msgspec.Meta(ge=0, le=86_400)] | None = None
    buffer: BufferState | None = None
    connections: Annotated[tuple[ConnectionState, ...], msgspec.Meta(max_length=MAX_ENTRIES)] = ()
    dropped: Counters = {}
    estimated: Int64 = 0
    alarms: Annotated[tuple[Alarm, ...], msgspec.Meta(max_length=MAX_ENTRIES)] = ()


class Confirm(msgspec.Struct, forbid_unknown_fields=True, frozen=True, tag_field="v", tag=VERSION):
    """The platform's word that the readings in ``ranges`` (inclusive seq ranges) are committed."""

    kind: Literal["confirm"]
    device: Identifier
    ts: EpochMs
    ranges: Annotated[tuple[tuple[Int64, Int64], ...], msgspec.Meta(max_length=MAX_RANGES)]


def merge_ranges(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Overlapping or adjacent inclusive ranges joined, in order: ``[(5, 9), (1, 4), (8, 12)]`` -> ``((1, 12),)``."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return tuple(merged)


_encoder = msgspec.json.Encoder()
_telemetry = msgspec.json.Decoder(TelemetryBatch)
_status = msgspec.json.Decoder(Status)
_confirm = msgspec.json.Decoder(Confirm)


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """A free text as the wire carries it: no NUL, at most ``limit`` characters (an exception's text can be long)."""
    text = text.replace("\x00", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def encode(message: TelemetryBatch | Status | Confirm) -> bytes:
    """The JSON bytes of a message."""
    return _encoder.encode(message)


def _error(what: str, err: msgspec.DecodeError) -> WireError:
    if "`$.v`" in str(err):
        return WireError(f"wire version not supported: this side reads version {VERSION} ({err})")
    return WireError(f"not a version {VERSION} {what}: {err}")


def decode_telemetry(payload: bytes) -> TelemetryBatch:
    """Parse and check a telemetry payload; `WireError` says what is wrong."""
    try:
        batch = _telemetry.decode(payload)
    except msgspec.DecodeError as err:
        raise _error("telemetry batch", err) from err
    for reading in batch.readings:
        unknown = set(reading.flags) - FLAGS
        if unknown:
            raise WireError(f"reading {reading.seq}: unknown flags {sorted(unknown)}")
    return batch


def decode_status(payload: bytes) -> Status:
    """Parse and check a status payload."""
    try:
        return _status.decode(payload)
    except msgspec.DecodeError as err:
        raise _error("status", err) from err


def decode_confirm(payload: bytes) -> Confirm:
    """Parse and check a confirmation; `WireError` says what is wrong (a range must not run backwards)."""
    try:
        confirm = _confirm.decode(payload)
    except msgspec.DecodeError as err:
        raise _error("confirmation", err) from err
    for first, last in confirm.ranges:
        if first > last:
            raise WireError(f"confirmation range [{first}, {last}] runs backwards")
    return confirm
