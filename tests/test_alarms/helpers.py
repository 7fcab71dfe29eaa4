"""Pieces for alarm tests: terminals, points, their data, and status messages fed the way ingest feeds them."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Any

import msgspec
from tortoise import connections

from cem_gateway.wire import Alarm as GatewayAlarm
from cem_gateway.wire import BufferState, Status
from cem_platform.alarms.models import Alarm, AlarmKind
from cem_platform.alarms.rules import on_status
from cem_platform.org.models import MeasurementPoint
from cem_platform.settings import Settings
from cem_platform.telemetry.models import DeadLetter, DeviceStatus
from cem_platform.telemetry.store import Batch, Row, dt_to_ms, store_for
from cem_registry.models import CertificateState, Device, DeviceCertificate, DeviceState, DeviceType
from cem_registry.services import new_device_id
from tests.test_platform.world import Org

UTC = dt.UTC
_numbers = itertools.count(1)


def hour_start(value: dt.datetime) -> dt.datetime:
    """The start of the UTC hour of ``value``."""
    return value.replace(minute=0, second=0, microsecond=0)


def base_time() -> dt.datetime:
    """A whole hour a few hours back: tests lay out their timelines from it."""
    return hour_start(dt.datetime.now(UTC)) - dt.timedelta(hours=6)


async def terminal(org: Org, *, name: str = "", site: Any = None, state: DeviceState = DeviceState.ACTIVE) -> Device:
    """A gateway of ``org`` (its first site unless told)."""
    number = next(_numbers)
    return await Device.create(
        id=new_device_id(),
        serial=f"ALM-{number:06d}",
        type=DeviceType.GATEWAY,
        name=name or f"gateway {number}",
        enterprise=org.enterprise,
        site=site or org.site,
        state=state,
    )


async def meters(org: Org, count: int, *, sample_seconds: int = 60, prefix: str = "AL") -> list[MeasurementPoint]:
    """``count`` meters on ``org``'s facility."""
    first = next(_numbers) * 1000
    return [
        await MeasurementPoint.create(
            facility=org.facility,
            enterprise=org.enterprise,
            code=f"{prefix}{first + i}",
            name=f"meter {first + i}",
            medium="electricity",
            quantity="energy",
            unit="kWh",
            kind="totaliser",
            sample_seconds=sample_seconds,
        )
        for i in range(count)
    ]


def status(
    device: Device,
    at: dt.datetime,
    *,
    state: str = "online",
    reason: str | None = None,
    started: dt.datetime | None = None,
    heartbeat_s: float = 30.0,
    dropped: dict[str, int] | None = None,
    alarms: tuple[GatewayAlarm, ...] = (),
) -> Status:
    """A heartbeat (or last will / clean stop) of ``device`` as its gateway would send it at ``at``."""
    if state == "offline" and reason == "connection lost":  # the last will: made at connect, no counters
        return Status(device=device.id, state="offline", ts=dt_to_ms(at), reason=reason, started=_ms(started))
    return Status(
        device=device.id,
        state=state,  # type: ignore[arg-type]
        ts=dt_to_ms(at),
        reason=reason,
        started=_ms(started),
        heartbeat_s=heartbeat_s,
        buffer=BufferState(depth=0, capacity=100_000),
        dropped=dropped or {},
        alarms=alarms,
    )


def gateway_alarm(code: str, severity: str, since: dt.datetime, subject: str | None = None) -> GatewayAlarm:
    """One condition a gateway reports."""
    return GatewayAlarm(
        code=code, severity=severity, message=f"{code} {subject or ''}".strip(), since=dt_to_ms(since), subject=subject
    )  # type: ignore[arg-type]


def _ms(value: dt.datetime | None) -> int | None:
    return None if value is None else dt_to_ms(value)


async def feed(settings: Settings, device: Device, message: Status, received_at: dt.datetime) -> None:
    """What ingest does with a status: alarm rules against the stored status, then store the new one."""
    previous = await DeviceStatus.get_or_none(device_id=device.id)
    await on_status(settings, device, message, previous, received_at)
    await DeviceStatus.update_or_create(
        defaults={
            "enterprise_id": device.enterprise_id,
            "state": message.state,
            "reason": message.reason or "",
            "reported_at": dt.datetime.fromtimestamp(message.ts / 1000, tz=UTC),
            "received_at": received_at,
            "heartbeat_s": message.heartbeat_s,
            "status": msgspec.to_builtins(message),
        },
        device_id=device.id,
    )


async def source(points: list[MeasurementPoint], device: Device, since: dt.datetime) -> None:
    """Record that ``device`` delivers these points (as ingest does on their first reading)."""
    conn = connections.get("default")
    await conn.execute_many(
        "INSERT INTO ts_point_source (point_id, device_id, since) VALUES ($1, $2, $3) "
        "ON CONFLICT (point_id) DO UPDATE SET device_id = excluded.device_id, since = excluded.since",
        [[p.id, device.id, since] for p in points],
    )


async def readings(device: Device, points: list[MeasurementPoint], start: dt.datetime, end: dt.datetime) -> None:
    """One reading per point and sample period from ``start`` up to ``end`` (included), stored like ingest does."""
    rows = []
    seq = itertools.count(next(_numbers) * 100_000)
    for point in points:
        at = start
        while at <= end:
            rows.append(Row(point_id=point.id, ts=dt_to_ms(at), value=1.0, seq=next(seq)))
            at += dt.timedelta(seconds=point.sample_seconds)
    stamp = dt_to_ms(end)
    await store_for().write([Batch(device_id=device.id, sent_at=stamp, received_at=stamp, rows=rows)])


async def rollups_done() -> None:
    """What the rollup job does with the queue once it folded it into the rollups."""
    await connections.get("default").execute_script("DELETE FROM ts_pending")


async def hourly(point: MeasurementPoint, hour: dt.datetime, count: int, estimated: int = 0) -> None:
    """An hourly rollup row of ``point`` holding ``count`` readings."""
    store = store_for()
    await store.ensure_partition("ts_rollup_hour", dt.date(hour.year, 1, 1))
    await store.client.execute_query(
        "INSERT INTO ts_rollup_hour (point_id, bucket, readings, estimated, uncertain, computed_at) "
        "VALUES ($1, $2, $3, $4, 0, $5)",
        [point.id, hour, count, estimated, hour + dt.timedelta(hours=1)],
    )


async def dead_letters(device: Device, count: int, at: dt.datetime, reason: str = "schema") -> None:
    """``count`` distinct refused messages of ``device`` received at ``at``."""
    for _ in range(count):
        payload = f"bad {next(_numbers)}".encode()
        await DeadLetter.create(
            received_at=at,
            topic=f"cem/v1/{device.id}/telemetry",
            device_id=device.id,
            enterprise_id=device.enterprise_id,
            reason=reason,
            message="not a version 1 telemetry batch",
            payload=payload,
            payload_sha256=hashlib.sha256(payload).hexdigest(),
            size=len(payload),
        )


async def certificate(
    device: Device, not_after: dt.datetime, state: CertificateState = CertificateState.VALID
) -> DeviceCertificate:
    """A certificate row of ``device`` (the PEM is not looked at by the rules)."""
    number = next(_numbers)
    return await DeviceCertificate.create(
        device=device,
        serial=f"{number:032x}",
        fingerprint=f"{number:064x}",
        public_key_sha256=f"{number:064x}",
        certificate_pem="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        not_before=not_after - dt.timedelta(days=365),
        not_after=not_after,
        state=state,
        issued_via="enrolment",
    )


async def open_alarms(kind: AlarmKind | None = None) -> list[Alarm]:
    """Every open alarm (of ``kind``), oldest first."""
    query = Alarm.filter(open_key__isnull=False)
    if kind is not None:
        query = query.filter(kind=kind)
    return await query.order_by("id")


async def alarms_of(kind: AlarmKind) -> list[Alarm]:
    """Every alarm of ``kind``, open or cleared, oldest first."""
    return await Alarm.filter(kind=kind).order_by("id")
