"""The wire format between gateways and the platform: the one place both sides read.

Topics (the broker's ACL lets a device write only its own)::

    cem/v1/{device}/telemetry   TelemetryBatch, QoS 1, not retained
    cem/v1/{device}/status      Status, QoS 1, retained; the last will is a Status with state "offline"
    cem/v1/{device}/cmd         reserved for commands to the gateway

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

Status: see `Status` below; it carries the buffer depth, each connection's last good poll and error
counts, the drop counters, the firmware version, the uptime and open alarms. A status with state
``offline`` and reason ``stopped`` is a clean stop; reason ``connection lost`` is the last will, which the
broker publishes when the connection drops (its ``ts`` is when that connection began, so a receiver takes
the time of arrival as the time of the loss).
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "TOPIC_ROOT",
    "VERSION",
    "Alarm",
    "BufferState",
    "ConnectionState",
    "Reading",
    "Status",
    "TelemetryBatch",
    "WireError",
    "decode_status",
    "decode_telemetry",
    "encode",
    "status_topic",
    "telemetry_topic",
]

VERSION = 1
TOPIC_ROOT = "cem/v1"
FLAGS = frozenset({"filled", "stuck", "rollover", "reset", "step"})


def telemetry_topic(device_id: str) -> str:
    """Where a device publishes its readings."""
    return f"{TOPIC_ROOT}/{device_id}/telemetry"


def status_topic(device_id: str) -> str:
    """Where a device publishes its heartbeat and its last will."""
    return f"{TOPIC_ROOT}/{device_id}/status"


class WireError(ValueError):
    """A payload that is not valid in this version of the wire format."""


class Reading(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """One reading of one point."""

    seq: int
    point: str
    ts: int
    value: float
    unit: str
    quality: Literal["good", "uncertain"] = "good"
    estimated: bool = False
    flags: tuple[str, ...] = ()
    delta: float | None = None
    since: int | None = None


class TelemetryBatch(
    msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, frozen=True, tag_field="v", tag=VERSION
):
    """Readings of one device, oldest first within a send (resends may interleave with live data)."""

    device: str
    sent: int
    readings: tuple[Reading, ...]


class ConnectionState(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """How one PLC or OPC UA connection is doing."""

    name: str
    protocol: str
    connected: bool
    last_good_poll: int | None = None
    polls: int = 0
    errors: int = 0
    errors_by_reason: dict[str, int] = {}
    last_error: str | None = None
    reconnects: int = 0
    overruns: int = 0


class BufferState(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """The store-and-forward buffer."""

    depth: int
    capacity: int
    oldest_ts: int | None = None
    last_seq: int = 0
    evicted: int = 0
    disk_free_mb: int | None = None


class Alarm(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """A condition the gateway reports until it clears."""

    code: str  # buffer_full, disk_low, connection_down, meter_stuck, renewal_failed, clock_skew
    severity: Literal["info", "warning", "critical"]
    message: str
    since: int
    subject: str | None = None


class Status(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, frozen=True, tag_field="v", tag=VERSION):
    """Heartbeat (state online) or last will / clean stop (state offline)."""

    device: str
    state: Literal["online", "offline"]
    ts: int
    firmware: str = ""
    reason: str | None = None
    started: int | None = None
    uptime_s: int | None = None
    heartbeat_s: float | None = None
    buffer: BufferState | None = None
    connections: tuple[ConnectionState, ...] = ()
    dropped: dict[str, int] = {}
    estimated: int = 0
    alarms: tuple[Alarm, ...] = ()


_encoder = msgspec.json.Encoder()
_telemetry = msgspec.json.Decoder(TelemetryBatch)
_status = msgspec.json.Decoder(Status)


def encode(message: TelemetryBatch | Status) -> bytes:
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
