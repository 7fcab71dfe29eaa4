"""Pieces for ingest tests: devices, points and wire-format batches."""

from __future__ import annotations

import itertools
import time
from typing import Any

from cem_gateway.wire import Reading, TelemetryBatch, encode
from cem_platform.org.models import MeasurementPoint
from cem_registry.models import Device, DeviceState, DeviceType
from tests.test_platform.world import Org

_serials = itertools.count(1)


async def device(org: Org, state: DeviceState = DeviceState.ACTIVE) -> Device:
    """A gateway of ``org``'s site in ``state`` (created directly: these tests are about ingest)."""
    number = next(_serials)
    return await Device.create(
        id=f"dev-ingest{number:04d}",
        serial=f"ING-{number:05d}",
        type=DeviceType.GATEWAY,
        enterprise=org.enterprise,
        site=org.site,
        state=state,
    )


async def points(org: Org, count: int, *, unit: str = "kWh", sample_seconds: int = 1) -> list[MeasurementPoint]:
    """``count`` totaliser meters on ``org``'s facility, codes M0000, M0001..."""
    return [
        await MeasurementPoint.create(
            facility=org.facility,
            enterprise=org.enterprise,
            code=f"M{i:04d}",
            name=f"meter {i}",
            medium="electricity",
            quantity="energy",
            unit=unit,
            kind="totaliser",
            sample_seconds=sample_seconds,
        )
        for i in range(count)
    ]


def now_slot(period_ms: int = 1000) -> int:
    """The current poll slot in ms."""
    return int(time.time() * 1000) // period_ms * period_ms


def readings(codes: list[str], start: int, slots: int, *, first_seq: int = 1, unit: str = "kWh") -> list[Reading]:
    """One reading per code and slot (1 s apart), totaliser values growing by 1.5 per slot."""
    seq = itertools.count(first_seq)
    return [
        Reading(
            seq=next(seq),
            point=code,
            ts=start + k * 1000,
            value=1000.0 + 1.5 * k,
            unit=unit,
            delta=1.5,
            since=start + (k - 1) * 1000,
        )
        for k in range(slots)
        for code in codes
    ]


def payload(device_id: str, items: list[Reading], **extra: Any) -> bytes:
    """A version-1 telemetry batch."""
    return encode(TelemetryBatch(device=device_id, sent=int(time.time() * 1000), readings=tuple(items), **extra))
