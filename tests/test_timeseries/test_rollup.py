"""Rollups: folded incrementally they equal what the raw readings add up to, whatever the order of arrival."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import zoneinfo

import pytest
from litestar import Litestar
from tortoise import connections

from cem_platform.org.models import Enterprise
from cem_platform.settings import Settings
from cem_platform.telemetry.rollup import fold_all, fold_pending
from cem_platform.telemetry.store import Row, TimeSeriesStore, dt_to_ms, store_for
from tests.test_platform.world import Org, make_org
from tests.test_timeseries.helpers import (
    UTC,
    add_point,
    assert_rollups_equal,
    expected_rollups,
    random_rows,
    raw_readings,
    stored_rollups,
    write,
)


@pytest.fixture
async def org(app: Litestar) -> Org:
    """Enterprise A with its coke meter (a totaliser read every 60 s)."""
    return await make_org("ENTA", "甲钢铁")


@pytest.fixture
def store(app: Litestar) -> TimeSeriesStore:
    """A store of its own (its partition cache starts empty)."""
    return store_for()


async def pending() -> int:
    rows = await connections.get("default").execute_query_dict("SELECT count(*) AS n FROM ts_pending")
    return int(rows[0]["n"])


def _local_midnight(days_ago: int) -> dt.datetime:
    today = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date()
    return dt.datetime.combine(
        today - dt.timedelta(days=days_ago), dt.time(), tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")
    )


async def test_rollups_equal_the_raw_readings_folded_in_rounds_with_late_data_and_resends(
    org: Org, store: TimeSeriesStore
) -> None:
    rng = random.Random(20260501)
    second = await add_point(org.facility, org.enterprise.id, "ENTA.BF1.PCI", kind="flow")
    points = [org.point.id, second.id]
    # 40 hours from 20:00 local two days ago: three local days, UTC days that differ from them
    start = _local_midnight(2) - dt.timedelta(hours=4)
    rows = random_rows(rng, points, start, 40)
    early = [r for r in rows if r.ts < dt_to_ms(start + dt.timedelta(hours=30))]
    early_keys = {(r.point_id, r.ts) for r in early}
    late = [r for r in rows if (r.point_id, r.ts) not in early_keys]
    rng.shuffle(early)

    stored = 0
    for i in range(0, len(early), 700):  # several writes, a fold after every other one
        stored += await write(store, early[i : i + 700])
        if i // 700 % 2:
            await fold_pending(store, limit=500)
    assert (await fold_pending(store)).readings > 0
    assert await pending() == 0
    assert_rollups_equal(await stored_rollups(), expected_rollups(await raw_readings()))

    # A gateway's catch-up hours later: readings of hours, days and a month already folded, mixed with new ones.
    catch_up = late + rng.sample(early, 300)  # some of it was already sent: stored once, counted once
    stored += await write(store, catch_up)
    assert stored == len(rows)
    result = await fold_pending(store)
    assert result.readings == len(late)
    assert result.days >= 1 and result.months >= 1

    # Resent readings (even with other values) change nothing.
    before = await stored_rollups()
    resent = [Row(**{**_fields(r), "value": r.value + 1000}) for r in rng.sample(rows, 500)]
    assert await write(store, resent) == 0
    assert (await fold_pending(store)).readings == 0
    after = await stored_rollups()
    assert after == before
    assert_rollups_equal(after, expected_rollups(await raw_readings()))
    assert sum(v["readings"] for v in after["hour"].values()) == len(rows)
    assert sum(v["readings"] for v in after["month"].values()) == len(rows)


def _fields(row: Row) -> dict[str, object]:
    return {name: getattr(row, name) for name in Row.__slots__}  # type: ignore[attr-defined]


async def test_day_and_month_buckets_follow_the_enterprise_time_zone(org: Org, store: TimeSeriesStore) -> None:
    berlin = await make_org("ENTC", "丙钢铁")
    await Enterprise.filter(id=berlin.enterprise.id).update(timezone="Europe/Berlin")
    year = dt.datetime.now(UTC).year - 1
    at = [
        dt.datetime(year, 1, 31, 15, 59, 59, tzinfo=UTC),  # Shanghai: 31 Jan 23:59:59
        dt.datetime(year, 1, 31, 16, 0, 0, tzinfo=UTC),  # Shanghai: 1 Feb 00:00 -- another day, another month
        dt.datetime(year, 1, 31, 22, 59, 0, tzinfo=UTC),  # Berlin: 31 Jan 23:59
        dt.datetime(year, 1, 31, 23, 0, 0, tzinfo=UTC),  # Berlin: 1 Feb 00:00
    ]
    rows = [
        Row(point_id=p.id, ts=dt_to_ms(t), value=float(i), delta=1.0)
        for p in (org.point, berlin.point)
        for i, t in enumerate(at)
    ]
    await write(store, rows)
    await fold_pending(store)
    conn = connections.get("default")
    days = await conn.execute_query_dict("SELECT point_id, bucket, readings FROM ts_rollup_day ORDER BY 1, 2")
    months = await conn.execute_query_dict(
        "SELECT point_id, bucket, readings, last_value FROM ts_rollup_month ORDER BY 1, 2"
    )
    jan31, feb1 = dt.date(year, 1, 31), dt.date(year, 2, 1)
    assert [(d["point_id"], d["bucket"], d["readings"]) for d in days] == [
        (org.point.id, jan31, 1),
        (org.point.id, feb1, 3),
        (berlin.point.id, jan31, 3),
        (berlin.point.id, feb1, 1),
    ]
    assert [(m["point_id"], m["bucket"], m["readings"], m["last_value"]) for m in months] == [
        (org.point.id, jan31.replace(day=1), 1, 0.0),
        (org.point.id, feb1, 3, 3.0),
        (berlin.point.id, jan31.replace(day=1), 3, 2.0),
        (berlin.point.id, feb1, 1, 3.0),
    ]
    hours = await conn.execute_query_dict("SELECT count(*) AS n FROM ts_rollup_hour")
    assert hours[0]["n"] == 8  # 15:00, 16:00, 22:00 and 23:00 UTC, for each point


async def test_concurrent_folds_count_each_reading_once(org: Org, store: TimeSeriesStore) -> None:
    rng = random.Random(7)
    points = [org.point.id] + [
        (await add_point(org.facility, org.enterprise.id, f"ENTA.M{i}", sample_seconds=30)).id for i in range(7)
    ]
    # Readings arrive in time order, one hour of all points (960 readings) after the other, so two folds of 960
    # take two different hours of the same day: neither waits for the other's hourly rows, and both recompute
    # the same day and month at the same time.
    rows = random_rows(rng, points, _local_midnight(1) + dt.timedelta(hours=1), 10, every_s=30, keep=1.0)
    per_hour = len(points) * 120
    assert len(rows) == 10 * per_hour
    rows.sort(key=lambda r: r.ts // 3_600_000)
    for i in range(0, len(rows), per_hour):
        assert await write(store, rows[i : i + per_hour]) == per_hour

    folded = 0
    both_worked = 0
    for _ in range(20):  # bounded: each round folds two hours
        first, second = await asyncio.gather(
            fold_pending(store_for(), limit=per_hour), fold_pending(store_for(), limit=per_hour)
        )
        folded += first.readings + second.readings
        both_worked += bool(first.readings and second.readings)
        if not first.readings and not second.readings:
            break
    assert folded == len(rows)
    assert both_worked >= 3  # the folds really ran side by side, on two connections
    assert await pending() == 0
    assert_rollups_equal(await stored_rollups(), expected_rollups(await raw_readings()))


async def test_fold_all_empties_the_queue(org: Org, store: TimeSeriesStore, settings: Settings) -> None:
    rows = random_rows(random.Random(3), [org.point.id], _local_midnight(1), 3)
    await write(store, rows)
    assert await fold_all(settings) == len(rows)
    assert await pending() == 0
    assert await fold_all(settings) == 0


async def test_a_missing_hourly_partition_is_created_by_the_fold(org: Org, store: TimeSeriesStore) -> None:
    conn = connections.get("default")
    old = dt.datetime(2001, 3, 4, 5, 6, tzinfo=UTC)
    # queued by other means than ingest, which would have created the hourly partition of 2001 itself
    await conn.execute_query(
        "INSERT INTO ts_pending (point_id, ts, value, delta, quality, estimated) VALUES ($1, $2, 5.0, 1.0, 0, false)",
        [org.point.id, old],
    )
    try:
        result = await fold_pending(store)
        assert result.readings == 1
        assert "ts_rollup_hour_2001" in await store.partitions("ts_rollup_hour")
    finally:
        await conn.execute_script("DROP TABLE IF EXISTS ts_rollup_hour_2001")
