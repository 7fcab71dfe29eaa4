"""Alarm rules (standard 5.4.6): abnormal terminals and meters (5.4.6.1), data-collection anomalies (5.4.6.2).

Two entry points:

- :func:`on_status` — ingest calls it for every status message of a terminal, before it overwrites the
  terminal's stored status: last will / clean stop, the gateway's own alarms, its drop counters.
- :func:`evaluate` — the periodic job: silent terminals, expiring certificates, dead letters, data gaps,
  hourly completeness, and clearing what no longer applies. Detection is set-based SQL (one statement per
  rule, whatever the number of points); only alarms that change cost a statement each.
- :func:`on_value_conflicts` — ingest calls it after a write that refused readings whose (point, time) was
  already stored with another value.

One open alarm per cause; the causes are::

    device_offline:{device}                     last will, clean stop or missed heartbeats
    {kind}:{device}:gw[:{subject}]              a condition the gateway reports (connection, meter, buffer...)
    meter_out_of_range:{device}, data_spike:{device}   readings the gateway dropped, per hour
    certificate_expiring:{device}               no valid certificate beyond the warning window
    dead_letters:{device}                       refused messages per hour
    data_gap:{point}, data_completeness:{point}
    data_conflict:{point}                       another value sent for a (point, time) already stored

Drops per hour. A gateway reports cumulative drop counters per reason (since it started). The increase is
taken against the previous status (a restart, seen as a new ``started``, counts from zero). The increases
of the last hour are kept in a small sliding window per terminal and reason — a sorted set in Redis (shared
by every ingest process, expiring by itself) or, for the one-process demo, in memory — so no table is
needed. The alarm is raised when the window reaches the threshold; while it is open, every new drop
refreshes its ``last_seen_at``, and :func:`evaluate` clears it once no drop was seen for an hour.

No alarm storms: one root cause per outage. Data alarms of a point (gap, completeness, stuck) are held back while
the terminal that delivers it (``ts_point_source``) is offline, silent or out of service, or while the PLC
connection it stopped with is down, and for one gap window after the terminal or PLC came back (or restarted).
One outage is one alarm (DEVICE_OFFLINE or METER_COMM) that lists the meters it leaves without data, by name,
in its ``consequences``; data alarms of those meters that were already open are linked under it (``root_id``)
and stand on their own again once it ends. Completeness is also held back for terminals that were offline and
meters whose PLC was down during the hour, and for points that already have a data gap.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tortoise import connections
from tortoise.expressions import Q
from tortoise.functions import Count, Max

from cem_gateway.wire import Alarm as GatewayAlarm
from cem_gateway.wire import Status
from cem_platform.alarms.models import Alarm, AlarmKind, Severity
from cem_platform.alarms.names import PlantNames, consequence_entry, processes_of
from cem_platform.alarms.services import AlarmService, severity_rank
from cem_platform.settings import Settings
from cem_platform.sysconfig.services import get_value
from cem_platform.telemetry.live import LoopRedis
from cem_platform.telemetry.models import DeadLetter, DeviceStatus
from cem_platform.telemetry.store import dt_to_ms, ms_to_dt
from cem_registry.models import ADMITTED_STATES, CertificateState, Device, DeviceCertificate

__all__ = [
    "DropWindow",
    "EvaluationReport",
    "ValueConflict",
    "drop_window",
    "evaluate",
    "on_status",
    "on_value_conflicts",
]

log = logging.getLogger("cem.alarms")

HOUR = dt.timedelta(hours=1)
HOUR_MS = 3_600_000
LAST_WILL = "connection lost"
# Readings of an hour may still be on their way (gateway send interval, ingest batching) just after it ends.
COMPLETENESS_GRACE = dt.timedelta(minutes=5)

GATEWAY_KINDS = {
    "connection_down": AlarmKind.METER_COMM,
    "meter_stuck": AlarmKind.METER_STUCK,
    "buffer_full": AlarmKind.GATEWAY_BUFFER,
    "disk_low": AlarmKind.GATEWAY_BUFFER,
    "renewal_failed": AlarmKind.CERTIFICATE_EXPIRING,
}  # clock_skew and codes of newer gateways are shown in the terminal's status, not raised
GATEWAY_SEVERITY = {"info": Severity.INFO, "warning": Severity.WARNING, "critical": Severity.CRITICAL}
# The outages whose consequences are listed under them: a terminal offline, a PLC connection down.
ROOT_KINDS = (AlarmKind.DEVICE_OFFLINE, AlarmKind.METER_COMM)
# The data alarms of one meter that an outage causes (listed under it, not raised on their own).
CONSEQUENCE_KINDS = (AlarmKind.DATA_GAP, AlarmKind.DATA_COMPLETENESS, AlarmKind.METER_STUCK)
DROP_RULES = {
    "out_of_range": (AlarmKind.METER_OUT_OF_RANGE, "alarm.out_of_range_drops_per_hour", "out of the meter's range"),
    "rate_of_change": (AlarmKind.DATA_SPIKE, "alarm.spike_drops_per_hour", "implausible jumps"),
}


# --- causes ------------------------------------------------------------------------------------------------


def offline_cause(device_id: str) -> str:
    """The cause of a terminal's DEVICE_OFFLINE alarm."""
    return f"{AlarmKind.DEVICE_OFFLINE.value}:{device_id}"


def gateway_cause(kind: AlarmKind, device_id: str, subject: str | None) -> str:
    """The cause of a condition a gateway reports: one per (kind, terminal, subject)."""
    base = f"{kind.value}:{device_id}:gw"
    return (f"{base}:{subject}" if subject else base)[:200]


def device_cause(kind: AlarmKind, device_id: str) -> str:
    """The cause of a per-terminal alarm the platform works out (drops, certificate, dead letters)."""
    return f"{kind.value}:{device_id}"


def point_cause(kind: AlarmKind, point_id: int) -> str:
    """The cause of a data alarm of one point."""
    return f"{kind.value}:{point_id}"


def is_gateway_cause(cause: str) -> bool:
    """Was this cause reported by a gateway (rather than worked out by the platform)?"""
    return cause.split(":")[2:3] == ["gw"]


def _device_label(device_id: str, name: str | None) -> str:
    return f"{name} ({device_id})" if name else device_id


def _duration(seconds: float) -> str:
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


async def _open(*kinds: AlarmKind) -> dict[str, Alarm]:
    """The open alarms of these kinds, by cause."""
    alarms = await Alarm.filter(open_key__isnull=False, kind__in=list(kinds))
    return {alarm.cause: alarm for alarm in alarms}


# --- drops per hour ------------------------------------------------------------------------------------------


class DropWindow(Protocol):
    """The drops of the last hour per terminal and reason."""

    async def add(self, key: str, at_ms: int, count: int) -> int:
        """Record ``count`` drops seen at ``at_ms``; the drops in the hour up to ``at_ms``, these included."""


class MemoryDropWindow:
    """One process's window: the demo, where ingest and the jobs share the process."""

    def __init__(self) -> None:
        self._entries: dict[str, list[tuple[int, int]]] = {}

    async def add(self, key: str, at_ms: int, count: int) -> int:
        """Record and sum the last hour."""
        entries = [(t, n) for t, n in self._entries.get(key, []) if t > at_ms - HOUR_MS]
        entries.append((at_ms, count))
        self._entries[key] = entries
        if len(self._entries) > 100_000:  # bound memory: forget terminals with nothing in the last hour
            self._entries = {k: v for k, v in self._entries.items() if v and v[-1][0] > at_ms - HOUR_MS}
        return sum(n for t, n in entries if t <= at_ms)


class RedisDropWindow(LoopRedis):
    """A sorted set per terminal and reason (score: time seen), shared by every ingest process."""

    async def add(self, key: str, at_ms: int, count: int) -> int:
        """ZADD, trim what is older than an hour, read the rest: one round trip."""
        name = f"cem:alarm:drops:{key}"
        member = f"{at_ms}:{count}:{uuid.uuid4().hex[:8]}"
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.zadd(name, {member: at_ms})
            pipe.zremrangebyscore(name, "-inf", at_ms - HOUR_MS)
            pipe.zrangebyscore(name, f"({at_ms - HOUR_MS}", at_ms)
            pipe.pexpire(name, HOUR_MS + 60_000)
            _, _, members, _ = await pipe.execute()
        return sum(int(m.decode().split(":")[1]) for m in members)


_memory_window = MemoryDropWindow()
_redis_windows: dict[str, RedisDropWindow] = {}


def drop_window(settings: Settings) -> DropWindow:
    """The window of this process: Redis when CEM_REDIS_URL is set, else in memory."""
    if not settings.redis.url:
        return _memory_window
    window = _redis_windows.get(settings.redis.url)
    if window is None:
        window = _redis_windows[settings.redis.url] = RedisDropWindow(settings.redis.url)
    return window


def _drop_increase(reason: str, status: Status, previous: dict[str, Any] | None, received_ms: int) -> int:
    """How many readings the gateway dropped for ``reason`` since the previous status.

    The counters are cumulative since the gateway started. Without a baseline (first status seen, a restart,
    or a last will before this status, which carries no counters) the drops since the start count only when
    the gateway started within the hour: older ones cannot be placed in time.
    """
    current = status.dropped.get(reason, 0)
    if current <= 0:
        return 0
    baseline: int | None = None
    will = previous is not None and previous.get("state") == "offline" and previous.get("reason") == LAST_WILL
    if previous is not None and previous.get("started") == status.started and not will:
        baseline = int(previous.get("dropped", {}).get(reason, 0))
    if baseline is not None and current >= baseline:
        return current - baseline
    if status.started is not None and received_ms - status.started <= HOUR_MS:
        return current
    return 0


# --- on_status -----------------------------------------------------------------------------------------------


async def on_status(
    settings: Settings, device: Device, status: Status, previous: DeviceStatus | None, received_at: dt.datetime
) -> None:
    """Raise and clear the alarms one status message of ``device`` tells about (``previous``: the stored one)."""
    if previous is not None and previous.state == status.state and dt_to_ms(previous.reported_at) == status.ts:
        return  # the retained status delivered again (ingest reconnected to the broker): nothing new
    service = AlarmService(settings)
    label = _device_label(device.id, device.name)
    names = {"device": device.name.strip()} if device.name.strip() else {}  # no query: every heartbeat comes here
    open_alarms = await _open_for_device(device.id)
    if status.state == "offline":
        lost = status.reason == LAST_WILL
        await service.raise_alarm(
            device.enterprise_id,
            AlarmKind.DEVICE_OFFLINE,
            Severity.MAJOR if lost else Severity.WARNING,
            "device",
            device.id,
            _offline_message(label, status.reason),
            {"reason": status.reason or "", "source": "status", "device_id": device.id},
            offline_cause(device.id),
            at=received_at,
            names=names,
        )
    else:
        if offline_cause(device.id) in open_alarms:
            await service.clear_cause(offline_cause(device.id), note=f"{label} is online again", at=received_at)
        await _gateway_alarms(service, device, status, open_alarms, received_at, label, names)
    if not (status.state == "offline" and status.reason == LAST_WILL):  # a last will carries no counters
        await _drops(settings, service, device, status, previous, open_alarms, received_at, label, names)


@dataclass(frozen=True, slots=True)
class ValueConflict:
    """A reading refused because its (point, time) is stored with another value (or delta): both, as floats."""

    point_id: int
    point_code: str
    ts: int  # ms UTC
    seq: int
    value: float
    stored_value: float
    delta: float | None = None
    stored_delta: float | None = None


async def on_value_conflicts(
    settings: Settings, device_id: str, enterprise_id: int, conflicts: Iterable[ValueConflict], at: dt.datetime
) -> int:
    """Raise one DATA_CONFLICT alarm per point of ``conflicts`` (all sent by ``device_id``); returns how many points.

    The cause is the point (``data_conflict:{point}``): however many readings, messages or terminals disagree with
    what is stored for it, one alarm stays open and counts the occurrences, naming the terminal, the time and both
    values of the latest sighting. The stored value is kept; which one is right is a person's call, so the rules
    never clear this alarm: it is acknowledged and cleared by hand once the meter's figures are settled.
    """
    per_point: dict[int, list[ValueConflict]] = {}
    for conflict in conflicts:
        per_point.setdefault(conflict.point_id, []).append(conflict)
    service = AlarmService(settings)
    names = PlantNames()
    for point_id, found in per_point.items():
        first = found[0]
        point_names = await names.point(point_id, device_id)
        label = _device_label(device_id, point_names.get("device"))
        when = _utc(ms_to_dt(first.ts))
        message = (
            f"{label} sent {first.value!r} for {first.point_code} at {when} where {first.stored_value!r} is stored"
            + (f" (delta {first.delta!r}, stored {first.stored_delta!r})" if first.delta != first.stored_delta else "")
            + f"; the stored value was kept ({len(found)} conflicting reading{'s' if len(found) > 1 else ''} here)"
        )
        await service.raise_alarm(
            enterprise_id,
            AlarmKind.DATA_CONFLICT,
            Severity.WARNING,
            "point",
            str(point_id),
            message,
            {
                "source": "ingest",
                "device_id": device_id,
                "point_id": point_id,
                "point_code": first.point_code,
                "ts": when,
                "seq": first.seq,
                "value": first.value,
                "stored_value": first.stored_value,
                "delta": first.delta,
                "stored_delta": first.stored_delta,
                "readings": len(found),
            },
            point_cause(AlarmKind.DATA_CONFLICT, point_id),
            at=at,
            names=point_names,
        )
    return len(per_point)


def _offline_message(label: str, reason: str | None) -> str:
    if reason == LAST_WILL:
        return f"{label} lost its connection to the platform"
    if reason == "stopped":
        return f"{label} was stopped"
    return f"{label} went offline ({reason or 'no reason given'})"


async def _open_for_device(device_id: str) -> dict[str, Alarm]:
    """The open alarms on_status manages for this terminal, by cause."""
    match = Q(open_key=offline_cause(device_id))
    for kind in set(GATEWAY_KINDS.values()):
        match |= Q(open_key__startswith=gateway_cause(kind, device_id, None))
    kinds = {AlarmKind.DEVICE_OFFLINE, *GATEWAY_KINDS.values()}
    for kind, _, _ in DROP_RULES.values():
        match |= Q(open_key=device_cause(kind, device_id))
        kinds.add(kind)
    # open_key IS NOT NULL lets the unique index skip the cleared history; the kinds skip the data alarms
    alarms = await Alarm.filter(match, open_key__isnull=False, kind__in=sorted(kinds))
    return {alarm.cause: alarm for alarm in alarms}


async def _gateway_alarms(
    service: AlarmService,
    device: Device,
    status: Status,
    open_alarms: dict[str, Alarm],
    received_at: dt.datetime,
    label: str,
    names: dict[str, str],
) -> None:
    """Raise what the gateway reports now; clear what it reported before and no longer does.

    A meter the gateway reports stuck is not raised on its own while it is listed under an outage of this
    terminal (a PLC connection down): the outage is the cause, the meter one of its consequences.
    """
    current: dict[str, list[GatewayAlarm]] = defaultdict(list)
    kinds: dict[str, AlarmKind] = {}
    for reported in status.alarms:
        kind = GATEWAY_KINDS.get(reported.code)
        if kind is None:
            continue
        cause = gateway_cause(kind, device.id, reported.subject)
        current[cause].append(reported)  # buffer_full and disk_low share one cause
        kinds[cause] = kind
    due: list[tuple[str, AlarmKind, Severity, list[GatewayAlarm]]] = []
    for cause, reports in current.items():
        severity = max((GATEWAY_SEVERITY.get(r.severity, Severity.WARNING) for r in reports), key=severity_rank)
        existing = open_alarms.get(cause)
        if (
            existing is not None
            and existing.detail.get("since") == _utc(ms_to_dt(min(r.since for r in reports)))
            and existing.detail.get("codes") == sorted({r.code for r in reports})
            and severity_rank(severity) <= severity_rank(existing.severity)
        ):
            continue  # the same condition still going on: heartbeats repeat it, it is one occurrence
        due.append((cause, kinds[cause], severity, reports))
    stuck = {r.subject for _, kind, _, reports in due if kind == AlarmKind.METER_STUCK for r in reports if r.subject}
    points = await PlantNames().points_by_code(device.enterprise_id, stuck)
    behind_outage = {
        str(entry.get("point_code"))
        for alarm in open_alarms.values()
        if alarm.kind in ROOT_KINDS
        for entry in alarm.consequences or []
    }
    connections = {c.name: c for c in status.connections}
    for cause, kind, severity, reports in due:
        subject = reports[0].subject
        detail: dict[str, Any] = {
            "source": "gateway",
            "device_id": device.id,
            "codes": sorted({r.code for r in reports}),
            "since": _utc(ms_to_dt(min(r.since for r in reports))),
        }
        subject_type, subject_id = "device", device.id
        alarm_names = dict(names)
        if kind == AlarmKind.METER_STUCK and subject:
            if subject in behind_outage and cause not in open_alarms:
                continue  # the outage's alarm lists this meter
            detail["point_code"] = subject
            subject_type = "point"
            point_id, point_names = points.get(subject, (None, {}))
            subject_id = str(point_id) if point_id is not None else subject
            alarm_names.update(point_names)
        elif kind == AlarmKind.METER_COMM and subject:
            detail["connection"] = subject
            alarm_names["connection"] = subject
            state = connections.get(subject)
            if state is not None and state.last_good_poll is not None:
                # when the meters behind it last delivered: how the rules tell its meters from the others'
                detail["last_good_poll"] = _utc(ms_to_dt(state.last_good_poll))
        message = f"{label}: " + "; ".join(r.message for r in reports)
        await service.raise_alarm(
            device.enterprise_id,
            kind,
            severity,
            subject_type,
            subject_id,
            message,
            detail,
            cause,
            at=received_at,
            names=alarm_names,
        )
    for cause in open_alarms:
        if cause not in current and is_gateway_cause(cause):
            await service.clear_cause(cause, note=f"{label} no longer reports it", at=received_at)


async def _drops(
    settings: Settings,
    service: AlarmService,
    device: Device,
    status: Status,
    previous: DeviceStatus | None,
    open_alarms: dict[str, Alarm],
    received_at: dt.datetime,
    label: str,
    names: dict[str, str],
) -> None:
    """Count the readings the gateway dropped (out of range, implausible jumps) against the per-hour limits."""
    received_ms = dt_to_ms(received_at)
    before = previous.status if previous is not None and isinstance(previous.status, dict) else None
    for reason, (kind, key, what) in DROP_RULES.items():
        increase = _drop_increase(reason, status, before, received_ms)
        if increase <= 0:
            continue
        try:
            in_hour = await drop_window(settings).add(f"{device.id}:{reason}", received_ms, increase)
        except Exception:  # noqa: BLE001 - a lost window must not break ingest: count this status alone
            log.warning("drop window not available", exc_info=True)
            in_hour = increase
        threshold = int(await get_value(settings, key))
        cause = device_cause(kind, device.id)
        if in_hour < threshold and cause not in open_alarms:
            continue
        await service.raise_alarm(
            device.enterprise_id,
            kind,
            Severity.WARNING,
            "device",
            device.id,
            f"{label} dropped {in_hour} readings as {what} within the last hour (alarm from {threshold})",
            {
                "source": "gateway",
                "device_id": device.id,
                "reason": reason,
                "drops_last_hour": in_hour,
                "threshold": threshold,
                "total_since_start": status.dropped.get(reason, 0),
                "last_drop_at": _utc(received_at),
            },
            cause,
            at=received_at,
            names=names,
        )


# --- evaluate ------------------------------------------------------------------------------------------------


@dataclass
class EvaluationReport:
    """What one evaluation did: alarms raised and cleared per kind, data alarms held back, rules skipped."""

    at: dt.datetime
    raised: dict[str, int] = field(default_factory=dict)
    cleared: dict[str, int] = field(default_factory=dict)
    held_back: int = 0  # data alarms of points waiting for their terminal (offline, or just back)
    notes: list[str] = field(default_factory=list)

    def count(self, counter: dict[str, int], kind: AlarmKind, n: int = 1) -> None:
        """Add ``n`` to ``kind`` in ``counter`` (raised or cleared)."""
        if n:
            counter[kind.value] = counter.get(kind.value, 0) + n

    def as_dict(self) -> dict[str, Any]:
        """A plain form for the job's result and logs."""
        return {
            "at": _utc(self.at),
            "raised": dict(self.raised),
            "cleared": dict(self.cleared),
            "held_back": self.held_back,
            "notes": list(self.notes),
        }


@dataclass
class _Terminals:
    """What the data rules need to know about terminals."""

    held: set[str] = field(default_factory=set)  # offline, silent or out of service: their points wait
    back_since: dict[str, dt.datetime] = field(default_factory=dict)  # when each came back online or started


# How far a meter's last reading may lie from its PLC connection's last good poll to count as behind that PLC
# (beyond the meter's own gap window): the gateway reports the connection down with its next heartbeat.
PLC_SLACK = dt.timedelta(minutes=1)


@dataclass
class _Outages:
    """Open outages per terminal, and which meters each leaves without data.

    A meter of an offline terminal is behind that outage. A meter of a terminal with a PLC connection down is
    behind the connection it stopped with: its last reading lies within its gap window of the connection's last
    good poll (or, without one, of when the gateway saw it down); with several down, the nearest. The gateway
    does not tell which meters a connection serves; the time they fell silent does.
    """

    offline: dict[str, list[Alarm]] = field(default_factory=lambda: defaultdict(list))
    connections: dict[str, list[Alarm]] = field(default_factory=lambda: defaultdict(list))
    reconnected: dict[int, dt.datetime] = field(default_factory=dict)  # meter -> its PLC came back (recently)
    listed: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))  # outage alarm -> meters

    def roots(self) -> list[Alarm]:
        return [alarm for alarms in (*self.offline.values(), *self.connections.values()) for alarm in alarms]

    def root_of(self, device_id: str, last: dt.datetime | None, window: dt.timedelta) -> Alarm | None:
        """The outage a meter of ``device_id`` without data for ``window`` (last reading ``last``) is behind."""
        if self.offline.get(device_id):
            return self.offline[device_id][0]
        if last is None:
            return None
        best: tuple[dt.timedelta, Alarm] | None = None
        for alarm in self.connections.get(device_id, []):
            since = _parse_utc(alarm.detail.get("since")) or alarm.raised_at
            reference = _parse_utc(alarm.detail.get("last_good_poll")) or since
            if reference - window - PLC_SLACK <= last <= max(since, reference) + window:
                distance = abs(last - reference)
                if best is None or distance < best[0]:
                    best = (distance, alarm)
        return best[1] if best else None


def _parse_utc(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class _Evaluation:
    """One run of the rules at ``now``."""

    def __init__(self, settings: Settings, now: dt.datetime) -> None:
        self.settings = settings
        self.now = now
        self.service = AlarmService(settings)
        self.report = EvaluationReport(at=now)
        self.names = PlantNames()
        self.client = connections.get("default")
        self.postgres = self.client.capabilities.dialect == "postgres"

    async def param(self, key: str) -> Any:
        return await get_value(self.settings, key)

    def time(self, value: dt.datetime) -> Any:
        """A time as the ts_* tables hold it."""
        return value if self.postgres else dt_to_ms(value)

    def from_time(self, value: Any) -> dt.datetime:
        return value if isinstance(value, dt.datetime) else ms_to_dt(int(value))

    async def sql(self, postgres: str, sqlite: str, params: list[Any]) -> list[dict[str, Any]]:
        rows = await self.client.execute_query_dict(postgres if self.postgres else sqlite, params)
        return [dict(row) for row in rows]

    async def raise_(
        self,
        kind: AlarmKind,
        enterprise_id: int,
        severity: Severity,
        subject_type: str,
        subject_id: str,
        message: str,
        detail: dict[str, Any],
        cause: str,
        names: dict[str, str] | None = None,
    ) -> None:
        await self.service.raise_alarm(
            enterprise_id, kind, severity, subject_type, subject_id, message, detail, cause, at=self.now, names=names
        )
        self.report.count(self.report.raised, kind)

    async def clear(self, kind: AlarmKind, causes: Iterable[str], note: str) -> None:
        cleared = await self.service.clear_causes(sorted(causes), note=note, at=self.now)
        self.report.count(self.report.cleared, kind, cleared)

    # --- terminals ---------------------------------------------------------------------------------------------

    async def terminals(self, longest_gap: dt.timedelta) -> _Terminals:
        """Silent terminals (missed heartbeats) raise DEVICE_OFFLINE; heard-from ones clear it."""
        default_heartbeat = float(await self.param("comm.heartbeat_seconds"))
        missed = int(await self.param("comm.offline_after_missed"))
        statuses = await DeviceStatus.all().values("device_id", "state", "received_at", "heartbeat_s", "status")
        devices = {
            d["id"]: d
            for d in await Device.filter(id__in=[s["device_id"] for s in statuses]).values(
                "id", "name", "state", "enterprise_id"
            )
        }
        open_alarms = await _open(AlarmKind.DEVICE_OFFLINE)
        terminals = _Terminals()
        recoveries = (
            await Alarm.filter(kind=AlarmKind.DEVICE_OFFLINE, cleared_at__gt=self.now - longest_gap)
            .group_by("subject_id")
            .annotate(last=Max("cleared_at"))
            .values("subject_id", "last")
        )
        for row in recoveries:
            terminals.back_since[row["subject_id"]] = row["last"]
        out_of_service: dict[str, str] = {}
        fresh: list[str] = []
        for row in statuses:
            device_id = row["device_id"]
            device = devices.get(device_id)
            started = row["status"].get("started") if isinstance(row["status"], dict) else None
            if started is not None:
                started_at = ms_to_dt(int(started))
                terminals.back_since[device_id] = max(started_at, terminals.back_since.get(device_id, started_at))
            if device is None or device["state"] not in ADMITTED_STATES:
                terminals.held.add(device_id)
                out_of_service[offline_cause(device_id)] = device["state"] if device else "unknown"
                continue
            if row["state"] != "online":
                terminals.held.add(device_id)  # its alarm came with the last will or the clean stop
                continue
            heartbeat = float(row["heartbeat_s"] or default_heartbeat)
            silent = self.now - row["received_at"]
            cause = offline_cause(device_id)
            if silent <= dt.timedelta(seconds=heartbeat * missed):
                alarm = open_alarms.get(cause)
                if alarm is not None and alarm.last_seen_at < row["received_at"]:
                    fresh.append(cause)  # heard from after the alarm was last seen
                    terminals.back_since[device_id] = self.now  # its points wait while it catches up
                continue
            terminals.held.add(device_id)
            if cause in open_alarms:
                continue
            label = _device_label(device_id, device["name"])
            await self.raise_(
                AlarmKind.DEVICE_OFFLINE,
                device["enterprise_id"],
                Severity.MAJOR,
                "device",
                device_id,
                f"{label}: no heartbeat for {_duration(silent.total_seconds())} (expected every "
                f"{_duration(heartbeat)}, offline after {missed} missed)",
                {
                    "reason": "missed heartbeats",
                    "source": "evaluation",
                    "device_id": device_id,
                    "last_status_at": _utc(row["received_at"]),
                    "heartbeat_s": heartbeat,
                    "missed": missed,
                },
                cause,
                await self.names.device(device_id),
            )
        await self.clear(AlarmKind.DEVICE_OFFLINE, fresh, "heartbeats arrive again")
        for cause, state in out_of_service.items():
            if cause in open_alarms:
                await self.clear(AlarmKind.DEVICE_OFFLINE, [cause], f"terminal is {state}: not monitored")
        return terminals

    # --- certificates ------------------------------------------------------------------------------------------

    async def certificates(self) -> None:
        """Terminals whose newest valid certificate expires within the warning window."""
        days = int(await self.param("alarm.certificate_expiry_days"))
        horizon = self.now + dt.timedelta(days=days)
        rows = await DeviceCertificate.filter(
            state=CertificateState.VALID, device__state__in=list(ADMITTED_STATES)
        ).values("device_id", "device__enterprise_id", "device__name", "serial", "not_after")
        newest: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row["device_id"] not in newest or row["not_after"] > newest[row["device_id"]]["not_after"]:
                newest[row["device_id"]] = row
        open_alarms = {
            cause: alarm
            for cause, alarm in (await _open(AlarmKind.CERTIFICATE_EXPIRING)).items()
            if not is_gateway_cause(cause)  # the gateway's own renewal failures come and go with its status
        }
        due: set[str] = set()
        for device_id, row in newest.items():
            not_after: dt.datetime = row["not_after"]
            if not_after > horizon:
                continue
            cause = device_cause(AlarmKind.CERTIFICATE_EXPIRING, device_id)
            due.add(cause)
            expired = not_after <= self.now
            severity = Severity.CRITICAL if expired else Severity.WARNING
            existing = open_alarms.get(cause)
            if existing is not None and severity_rank(existing.severity) >= severity_rank(severity):
                continue
            label = _device_label(device_id, row["device__name"])
            left = (not_after - self.now).total_seconds() / 86400
            when = f"{not_after.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
            message = (
                f"{label}: its certificate expired on {when}; the broker refuses it until it is re-enrolled"
                if expired
                else f"{label}: its certificate expires on {when} (in {left:.0f} days) and no renewal is in place"
            )
            await self.raise_(
                AlarmKind.CERTIFICATE_EXPIRING,
                row["device__enterprise_id"],
                severity,
                "device",
                device_id,
                message,
                {
                    "source": "evaluation",
                    "device_id": device_id,
                    "serial": row["serial"],
                    "not_after": _utc(not_after),
                    "warning_days": days,
                },
                cause,
                await self.names.device(device_id),
            )
        await self.clear(
            AlarmKind.CERTIFICATE_EXPIRING,
            set(open_alarms) - due,
            f"a certificate valid beyond the {days}-day warning window is in place, or the terminal is out of service",
        )

    # --- dead letters --------------------------------------------------------------------------------------------

    async def dead_letters(self) -> None:
        """Terminals with a burst of refused messages in the last hour."""
        threshold = int(await self.param("alarm.dead_letters_per_hour"))
        rows = (
            await DeadLetter.filter(
                received_at__gt=self.now - HOUR,
                received_at__lte=self.now,
                device_id__isnull=False,
                enterprise_id__isnull=False,
            )
            .group_by("device_id", "enterprise_id", "reason")
            .annotate(n=Count("id"))
            .values("device_id", "enterprise_id", "reason", "n")
        )
        per_device: dict[str, dict[str, Any]] = {}
        for row in rows:
            entry = per_device.setdefault(row["device_id"], {"enterprise_id": row["enterprise_id"], "reasons": {}})
            entry["reasons"][row["reason"]] = entry["reasons"].get(row["reason"], 0) + int(row["n"])
        open_alarms = await _open(AlarmKind.DEAD_LETTERS)
        due: set[str] = set()
        for device_id, entry in per_device.items():
            total = sum(entry["reasons"].values())
            if total < threshold:
                continue
            cause = device_cause(AlarmKind.DEAD_LETTERS, device_id)
            due.add(cause)
            if cause in open_alarms:
                continue
            reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(entry["reasons"].items()))
            await self.raise_(
                AlarmKind.DEAD_LETTERS,
                entry["enterprise_id"],
                Severity.WARNING,
                "device",
                device_id,
                f"{device_id}: {total} messages refused within the last hour ({reasons}); see the dead letters",
                {
                    "source": "evaluation",
                    "device_id": device_id,
                    "count": total,
                    "reasons": entry["reasons"],
                    "threshold": threshold,
                },
                cause,
                await self.names.device(device_id),
            )
        await self.clear(
            AlarmKind.DEAD_LETTERS, set(open_alarms) - due, f"fewer than {threshold} refused messages in the last hour"
        )

    # --- drops -------------------------------------------------------------------------------------------------------

    async def quiet_drops(self) -> None:
        """Drop alarms (out of range, spikes) with no new drop for an hour."""
        for kind in (AlarmKind.METER_OUT_OF_RANGE, AlarmKind.DATA_SPIKE):
            quiet = [c for c, a in (await _open(kind)).items() if a.last_seen_at <= self.now - HOUR]
            await self.clear(kind, quiet, "no reading dropped for an hour")

    # --- data gaps -----------------------------------------------------------------------------------------------

    async def longest_gap(self) -> tuple[int, dt.timedelta]:
        intervals = int(await self.param("alarm.gap_intervals"))
        rows = await self.sql(_LONGEST, _LONGEST, [])
        seconds = int(rows[0]["longest"] or 0) if rows else 0
        return intervals, dt.timedelta(seconds=intervals * max(seconds, 1))

    async def data_gaps(self, intervals: int, longest: dt.timedelta, terminals: _Terminals) -> set[int]:
        """Points that delivered before and have no reading for ``intervals`` sample periods; the gap set.

        A point whose terminal is offline, or whose PLC connection is down, is listed under that outage's alarm
        instead of raising its own (its open data alarms are linked under it); see :class:`_Outages`.
        """
        rows = await self.sql(
            _GAPS_PG,
            _GAPS_SQLITE,
            [self.time(self.now), float(intervals), self.time(self.now - longest)],
        )
        open_alarms = await _open(AlarmKind.DATA_GAP)
        in_gap = {int(row["point_id"]) for row in rows}
        outages = await self.outages(longest)
        last = await self._last_readings(
            sorted({int(row["point_id"]) for row in rows if row["device_id"] in outages.connections})
        )
        fresh: list[dict[str, Any]] = []
        for row in rows:
            point_id, device_id = int(row["point_id"]), row["device_id"]
            window = dt.timedelta(seconds=intervals * int(row["sample_seconds"]))
            root = outages.root_of(device_id, last.get(point_id), window)
            if root is not None:
                outages.listed[root.id].append(point_id)
                self.report.held_back += 1
                continue
            back = terminals.back_since.get(device_id)
            reconnected = outages.reconnected.get(point_id)
            if (
                device_id in terminals.held
                or (back is not None and back > self.now - window)
                or (reconnected is not None and reconnected > self.now - window)
            ):
                self.report.held_back += 1  # waiting for its terminal or PLC, or catching up after it came back
                continue
            if point_cause(AlarmKind.DATA_GAP, point_id) not in open_alarms:
                fresh.append(row)
        last.update(await self._last_readings([int(r["point_id"]) for r in fresh if int(r["point_id"]) not in last]))
        for row in fresh:
            point_id, sample = int(row["point_id"]), int(row["sample_seconds"])
            window_s = intervals * sample
            last_at = last.get(point_id)
            since = f"since {last_at:%Y-%m-%d %H:%M} UTC" if last_at else f"for over {_duration(window_s)}"
            await self.raise_(
                AlarmKind.DATA_GAP,
                int(row["enterprise_id"]),
                Severity.WARNING,
                "point",
                str(point_id),
                f"{row['code']} {row['name']}: no reading {since} (expected every {_duration(sample)}) "
                f"although terminal {row['device_id']} is online",
                {
                    "source": "evaluation",
                    "point_code": row["code"],
                    "device_id": row["device_id"],
                    "sample_seconds": sample,
                    "gap_intervals": intervals,
                    "last_reading_at": _utc(last_at) if last_at else None,
                },
                point_cause(AlarmKind.DATA_GAP, point_id),
                await self.names.point(point_id, row["device_id"]),
            )
        gone = {c for c, a in open_alarms.items() if not (a.subject_id.isdigit() and int(a.subject_id) in in_gap)}
        await self.clear(AlarmKind.DATA_GAP, gone, "readings arrive again")
        await self.list_consequences(outages)
        return in_gap

    async def outages(self, longest: dt.timedelta) -> _Outages:
        """The open outages (terminal offline, PLC connection down) and the meters of recently ended ones."""
        outages = _Outages()
        for alarm in await Alarm.filter(open_key__isnull=False, kind__in=list(ROOT_KINDS)).order_by("id"):
            device_id = str(alarm.detail.get("device_id") or alarm.subject_id)
            (outages.offline if alarm.kind == AlarmKind.DEVICE_OFFLINE else outages.connections)[device_id].append(
                alarm
            )
        ended = await Alarm.filter(kind=AlarmKind.METER_COMM, cleared_at__gt=self.now - longest).values(
            "consequences", "cleared_at"
        )
        for row in ended:
            for entry in row["consequences"] or []:
                point_id = int(entry["point_id"])
                outages.reconnected[point_id] = max(
                    row["cleared_at"], outages.reconnected.get(point_id, row["cleared_at"])
                )
        return outages

    async def list_consequences(self, outages: _Outages) -> None:
        """Write each open outage's meters under it and link their open data alarms; unlink what no longer is.

        The list only grows while the outage is open: a meter that delivers again before the gateway reports its
        PLC back (the next heartbeat) was still affected by it, and the cleared alarm keeps what it affected.
        """
        consequences = await Alarm.filter(
            open_key__isnull=False, kind__in=list(CONSEQUENCE_KINDS), subject_type="point"
        ).values("id", "kind", "subject_id", "root_id")
        by_point: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in consequences:
            if str(row["subject_id"]).isdigit():
                by_point[int(row["subject_id"])].append(row)
        linked: set[int] = set()
        for root in outages.roots():
            point_ids = sorted(set(outages.listed.get(root.id, [])))
            names = await self.names.points(point_ids)
            entries: list[dict[str, Any]] = []
            for point_id in point_ids:
                own = by_point.get(point_id, [])
                gap = next((a["id"] for a in own if a["kind"] == AlarmKind.DATA_GAP), None)
                entries.append(
                    consequence_entry(point_id, names.get(point_id, {}), gap or (own[0]["id"] if own else None))
                )
                ids = [int(a["id"]) for a in own]
                linked.update(ids)
                await self.service.set_root(ids, root.id)
            current = {entry["point_id"] for entry in entries}
            entries += [dict(e) for e in root.consequences or [] if e.get("point_id") not in current]
            entries.sort(key=lambda e: (e["process"], e["facility"], e["point_name"], e["point_id"]))
            learnt = processes_of(entries) if root.kind == AlarmKind.METER_COMM else {}
            await self.service.set_consequences(root.id, entries, learnt)
        # the outage ended (or the meter recovered): its alarm, if still open, stands on its own again
        await self.service.set_root(
            [int(r["id"]) for r in consequences if r["root_id"] and r["id"] not in linked], None
        )

    async def _last_readings(self, point_ids: list[int]) -> dict[int, dt.datetime]:
        """The newest reading time of these points (only for alarms being raised: one indexed probe each)."""
        found: dict[int, dt.datetime] = {}
        for start in range(0, len(point_ids), 500):
            chunk = point_ids[start : start + 500]
            if self.postgres:
                rows = await self.sql(_LAST_PG, "", [chunk])
            else:
                marks = ", ".join("?" for _ in chunk)
                rows = await self.sql(
                    "",
                    f"SELECT point_id, MAX(ts) AS last FROM ts_reading WHERE point_id IN ({marks}) GROUP BY point_id",  # noqa: S608
                    list(chunk),
                )
            found.update({int(r["point_id"]): self.from_time(r["last"]) for r in rows if r["last"] is not None})
        return found

    # --- completeness --------------------------------------------------------------------------------------------

    async def completeness(self, terminals: _Terminals, in_gap: set[int]) -> None:
        """Points whose last finished hour holds fewer readings than the threshold share of the expected ones."""
        minimum = float(await self.param("alarm.completeness_min_percent"))
        end = (self.now - COMPLETENESS_GRACE).replace(minute=0, second=0, microsecond=0)
        start = end - HOUR
        pending = await self.sql(_PENDING_PG, _PENDING_SQLITE, [self.time(start), self.time(end)])
        if pending:
            self.report.notes.append(
                f"completeness of {start:%Y-%m-%d %H:00} UTC not checked: its rollups are not finished yet"
            )
            return
        rows = await self.sql(
            _INCOMPLETE_PG, _INCOMPLETE_SQLITE, [self.time(start), self.time(start - HOUR), float(minimum)]
        )
        open_alarms = await _open(AlarmKind.DATA_COMPLETENESS)
        open_gaps = await _open(AlarmKind.DATA_GAP)
        away = set(terminals.held) | {d for d, back in terminals.back_since.items() if back > start}
        outages = (
            await Alarm.filter(kind=AlarmKind.DEVICE_OFFLINE, raised_at__lt=end)
            .filter(Q(cleared_at__isnull=True) | Q(cleared_at__gt=start))
            .values_list("subject_id", flat=True)
        )
        away.update(str(device_id) for device_id in outages)
        # meters listed under a PLC outage during the hour: the outage says it (consequences of offline
        # terminals are covered by ``away``)
        behind: set[int] = set()
        for listed in (
            await Alarm.filter(kind=AlarmKind.METER_COMM, raised_at__lt=end)
            .filter(Q(cleared_at__isnull=True) | Q(cleared_at__gt=start))
            .values_list("consequences", flat=True)
        ):
            behind.update(int(entry["point_id"]) for entry in listed or [])
        incomplete = {int(row["point_id"]) for row in rows}
        hour = _utc(start)
        for row in rows:
            point_id, sample = int(row["point_id"]), int(row["sample_seconds"])
            cause = point_cause(AlarmKind.DATA_COMPLETENESS, point_id)
            if (
                row["device_id"] in away
                or point_id in in_gap
                or point_id in behind
                or point_cause(AlarmKind.DATA_GAP, point_id) in open_gaps
            ):
                self.report.held_back += 1  # the outage or the gap already says it
                continue
            existing = open_alarms.get(cause)
            if existing is not None and existing.detail.get("hour") == hour:
                continue
            expected = 3600 / sample
            measured = int(row["measured"])
            percent = round(100 * measured / expected, 1)
            await self.raise_(
                AlarmKind.DATA_COMPLETENESS,
                int(row["enterprise_id"]),
                Severity.WARNING,
                "point",
                str(point_id),
                f"{row['code']} {row['name']}: {measured} of {expected:.0f} readings ({percent} %) in the hour "
                f"from {start:%Y-%m-%d %H:00} UTC, under {minimum:g} %",
                {
                    "source": "evaluation",
                    "point_code": row["code"],
                    "device_id": row["device_id"],
                    "hour": hour,
                    "readings": measured,
                    "expected": round(expected, 2),
                    "percent": percent,
                    "threshold_percent": minimum,
                },
                cause,
                await self.names.point(point_id, row["device_id"]),
            )
        gone = {c for c, a in open_alarms.items() if not (a.subject_id.isdigit() and int(a.subject_id) in incomplete)}
        await self.clear(AlarmKind.DATA_COMPLETENESS, gone, f"the hour from {start:%Y-%m-%d %H:00} UTC is complete")


async def evaluate(settings: Settings, now: dt.datetime | None = None) -> EvaluationReport:
    """Run every periodic rule once at ``now`` (default: the current time) and say what changed."""
    run = _Evaluation(settings, now or dt.datetime.now(dt.UTC))
    intervals, longest = await run.longest_gap()
    terminals = await run.terminals(longest)
    await run.certificates()
    await run.dead_letters()
    await run.quiet_drops()
    in_gap = await run.data_gaps(intervals, longest, terminals)
    await run.completeness(terminals, in_gap)
    report = run.report
    if report.raised or report.cleared:
        log.info("alarms evaluated", extra={"raised": report.raised, "cleared": report.cleared})
    return report


# A point is in a gap when it has a source (it delivered before) and no reading newer than its own window;
# the constant lower bound ($3) lets PostgreSQL skip the monthly partitions older than the longest window.
_GAPS_PG = """
SELECT s.point_id, s.device_id, p.enterprise_id, p.code, p.name, p.sample_seconds
FROM ts_point_source s
JOIN org_point p ON p.id = s.point_id
WHERE p.active AND p.sample_seconds > 0
  AND NOT EXISTS (
    SELECT 1 FROM ts_reading r
    WHERE r.point_id = s.point_id
      AND r.ts > $1::timestamptz - make_interval(secs => $2::float8 * p.sample_seconds)
      AND r.ts > $3::timestamptz)
"""
_GAPS_SQLITE = """
SELECT s.point_id, s.device_id, p.enterprise_id, p.code, p.name, p.sample_seconds
FROM ts_point_source s
JOIN org_point p ON p.id = s.point_id
WHERE p.active AND p.sample_seconds > 0
  AND NOT EXISTS (
    SELECT 1 FROM ts_reading r
    WHERE r.point_id = s.point_id
      AND r.ts > ?1 - ?2 * p.sample_seconds * 1000
      AND r.ts > ?3)
"""
_LONGEST = "SELECT MAX(sample_seconds) AS longest FROM org_point WHERE active"
_LAST_PG = "SELECT point_id, MAX(ts) AS last FROM ts_reading WHERE point_id = ANY($1::int4[]) GROUP BY point_id"
_PENDING_PG = "SELECT 1 AS pending FROM ts_pending WHERE ts >= $1 AND ts < $2 LIMIT 1"
_PENDING_SQLITE = "SELECT 1 AS pending FROM ts_pending WHERE ts >= ?1 AND ts < ?2 LIMIT 1"
# Measured readings (not gap-filled estimates) of the hour against 3600 / sample_seconds, for points that
# delivered during the hour before too (or whose source is older than the hour): a point that started within
# the hour is not incomplete. Points read less often than hourly cannot be judged on one hour.
_INCOMPLETE_PG = """
SELECT s.point_id, s.device_id, p.enterprise_id, p.code, p.name, p.sample_seconds,
       COALESCE(h.readings - h.estimated, 0) AS measured
FROM ts_point_source s
JOIN org_point p ON p.id = s.point_id
LEFT JOIN ts_rollup_hour h ON h.point_id = s.point_id AND h.bucket = $1::timestamptz
WHERE p.active AND p.sample_seconds BETWEEN 1 AND 3600
  AND (s.since <= $1::timestamptz
       OR EXISTS (SELECT 1 FROM ts_rollup_hour h0 WHERE h0.point_id = s.point_id AND h0.bucket = $2::timestamptz))
  AND COALESCE(h.readings - h.estimated, 0) * p.sample_seconds * 100.0 < $3::float8 * 3600
"""
_INCOMPLETE_SQLITE = """
SELECT s.point_id, s.device_id, p.enterprise_id, p.code, p.name, p.sample_seconds,
       COALESCE(h.readings - h.estimated, 0) AS measured
FROM ts_point_source s
JOIN org_point p ON p.id = s.point_id
LEFT JOIN ts_rollup_hour h ON h.point_id = s.point_id AND h.bucket = ?1
WHERE p.active AND p.sample_seconds BETWEEN 1 AND 3600
  AND (s.since <= ?1
       OR EXISTS (SELECT 1 FROM ts_rollup_hour h0 WHERE h0.point_id = s.point_id AND h0.bucket = ?2))
  AND COALESCE(h.readings - h.estimated, 0) * p.sample_seconds * 100.0 < ?3 * 3600
"""
