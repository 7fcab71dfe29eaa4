"""Helpers of the time-series tests: points, readings, and rollups recomputed from raw readings in Python."""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from tortoise import connections

from cem_platform.org.models import Facility, MeasurementPoint
from cem_platform.telemetry.store import Batch, Row, TimeSeriesStore, dt_to_ms, ms_to_dt

UTC = dt.UTC
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
HOUR_MS = 3_600_000


async def add_point(
    facility: Facility, enterprise_id: int, code: str, *, sample_seconds: int = 60, kind: str = "totaliser"
) -> MeasurementPoint:
    """Another meter on ``facility``."""
    return await MeasurementPoint.create(
        facility=facility,
        enterprise_id=enterprise_id,
        code=code,
        name=code,
        medium="coke",
        quantity="mass",
        unit="t",
        kind=kind,
        sample_seconds=sample_seconds,
    )


async def write(store: TimeSeriesStore, rows: Sequence[Row], device: str = "dev-test") -> int:
    """Store ``rows`` as one batch; the number that were new."""
    now = dt_to_ms(dt.datetime.now(UTC))
    per_batch = await store.write([Batch(device_id=device, sent_at=now, received_at=now, rows=list(rows))])
    return len(per_batch[0])


def random_rows(
    rng: random.Random,
    point_ids: Sequence[int],
    start: dt.datetime,
    hours: int,
    *,
    every_s: int = 60,
    keep: float = 0.8,
) -> list[Row]:
    """Readings every ``every_s`` seconds from ``start`` for ``hours`` hours, about ``keep`` of them present,
    with random values, increments (sometimes none), quality, estimation and flags."""
    rows = []
    first = dt_to_ms(start)
    for point_id in point_ids:
        total = 1000.0 * point_id
        for i in range(hours * 3600 // every_s):
            if rng.random() > keep:
                continue
            delta = round(rng.uniform(0, 5), 3)
            total += delta
            rows.append(
                Row(
                    point_id=point_id,
                    ts=first + i * every_s * 1000 + rng.randrange(0, 1000),
                    value=round(total, 3) if rng.random() > 0.05 else round(rng.uniform(-50, 50), 3),
                    delta=delta if rng.random() > 0.1 else None,
                    quality=1 if rng.random() < 0.1 else 0,
                    estimated=rng.random() < 0.15,
                    flags=rng.choice([0, 0, 0, 1, 2, 5]),
                    seq=i,
                )
            )
    rng.shuffle(rows)  # readings do not arrive in order
    return rows


def _aggregate(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    rows = sorted(rows, key=lambda r: r["ts"])
    deltas = [r["delta"] for r in rows if r["delta"] is not None]
    return {
        "readings": len(rows),
        "estimated": sum(1 for r in rows if r["estimated"]),
        "uncertain": sum(1 for r in rows if r["quality"] == 1),
        "delta_sum": sum(deltas) if deltas else None,
        "value_min": min(r["value"] for r in rows),
        "value_max": max(r["value"] for r in rows),
        "value_sum": sum(r["value"] for r in rows),
        "first_ts": rows[0]["ts"],
        "last_ts": rows[-1]["ts"],
        "last_value": rows[-1]["value"],
    }


async def raw_readings() -> list[dict[str, Any]]:
    """Every stored reading, times as ms."""
    rows = await connections.get("default").execute_query_dict(
        "SELECT point_id, ts, value, delta, quality, estimated FROM ts_reading"
    )
    return [r | {"ts": r["ts"] if isinstance(r["ts"], int) else dt_to_ms(r["ts"])} for r in rows]


def expected_rollups(readings: Sequence[dict[str, Any]], zone: zoneinfo.ZoneInfo = SHANGHAI) -> dict[str, Any]:
    """Hour (UTC, ms keys), day and month (local ISO date keys) rollups recomputed from raw readings."""
    groups: dict[str, dict[tuple[int, Any], list[dict[str, Any]]]] = {
        "hour": defaultdict(list),
        "day": defaultdict(list),
        "month": defaultdict(list),
    }
    for r in readings:
        local = ms_to_dt(r["ts"]).astimezone(zone).date()
        groups["hour"][(r["point_id"], r["ts"] - r["ts"] % HOUR_MS)].append(r)
        groups["day"][(r["point_id"], local.isoformat())].append(r)
        groups["month"][(r["point_id"], local.replace(day=1).isoformat())].append(r)
    return {level: {key: _aggregate(rows) for key, rows in by_key.items()} for level, by_key in groups.items()}


def _key(bucket: Any) -> Any:
    if isinstance(bucket, dt.datetime):
        return dt_to_ms(bucket)
    if isinstance(bucket, dt.date):
        return bucket.isoformat()
    return bucket


async def stored_rollups() -> dict[str, Any]:
    """The rollup tables as stored, keyed like ``expected_rollups``."""
    conn = connections.get("default")
    result: dict[str, Any] = {}
    for level in ("hour", "day", "month"):
        rows = await conn.execute_query_dict(f"SELECT * FROM ts_rollup_{level}")
        result[level] = {
            (r["point_id"], _key(r["bucket"])): {
                k: (_key(v) if k in ("first_ts", "last_ts") else v)
                for k, v in r.items()
                if k not in ("point_id", "bucket", "computed_at")
            }
            for r in rows
        }
    return result


def assert_rollups_equal(stored: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every level has the same buckets with the same figures (sums to floating-point accuracy)."""
    for level in ("hour", "day", "month"):
        assert set(stored[level]) == set(expected[level]), level
        for key, want in expected[level].items():
            got = stored[level][key]
            for name, value in want.items():
                if isinstance(value, float):
                    assert got[name] is not None and abs(got[name] - value) <= 1e-6 * max(1.0, abs(value)), (
                        level,
                        key,
                        name,
                        got[name],
                        value,
                    )
                else:
                    assert got[name] == value, (level, key, name, got[name], value)
