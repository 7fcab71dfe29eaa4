"""Retention: raw partitions go after their month is past retention; rollups stay at least five years."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from litestar import Litestar
from tortoise import connections

from cem_platform.settings import Settings, TimeseriesSettings
from cem_platform.telemetry.retention import maintain
from cem_platform.telemetry.store import Batch, Row, dt_to_ms, partition_name, store_for

UTC = dt.UTC


def _month(moment: dt.datetime, ahead: int = 0) -> dt.date:
    index = moment.year * 12 + moment.month - 1 + ahead
    return dt.date(index // 12, index % 12 + 1, 1)


def _with(settings: Settings, **timeseries: int) -> Settings:
    return msgspec.structs.replace(settings, timeseries=msgspec.structs.replace(settings.timeseries, **timeseries))


async def _count(table: str) -> int:
    rows = await connections.get("default").execute_query_dict(f"SELECT count(*) AS n FROM {table}")  # noqa: S608
    return int(rows[0]["n"])


async def _rollup(table: str, bucket: object) -> None:
    await connections.get("default").execute_query(
        f"INSERT INTO {table} (point_id, bucket, readings, estimated, uncertain, computed_at)"  # noqa: S608
        " VALUES (1, $1, 1, 0, 0, now())",
        [bucket],
    )


async def test_maintenance_creates_ahead_drops_old_raw_months_and_keeps_five_years_of_rollups(
    app: Litestar, settings: Settings
) -> None:
    now = dt.datetime.now(UTC)
    store = store_for()
    minimum = _with(settings, raw_retention_days=400, rollup_retention_years=5)
    old, kept = now - dt.timedelta(days=520), now - dt.timedelta(days=370)
    for at, received in ((old, old), (kept, now)):
        await store.write(
            [Batch("dev-x", dt_to_ms(received), dt_to_ms(received), [Row(point_id=1, ts=dt_to_ms(at), value=1.0)])]
        )
    five_years_ago = now.replace(year=now.year - 5)
    young = five_years_ago + dt.timedelta(days=3)  # a little under five years old: must stay
    ancient = dt.datetime(five_years_ago.year - 1, 6, 1, tzinfo=UTC)  # its whole year is over five years ago
    for at in (young, ancient):
        await store.ensure_partition("ts_rollup_hour", dt.date(at.year, 1, 1))
        await _rollup("ts_rollup_hour", at.replace(minute=0, second=0, microsecond=0))
        await _rollup("ts_rollup_day", at.date())
        await _rollup("ts_rollup_month", at.date().replace(day=1))
    await _rollup("ts_rollup_day", (five_years_ago - dt.timedelta(days=5)).date())  # a day past retention

    report = await maintain(minimum, now=now)

    raw_partitions = set(await store.partitions("ts_reading"))
    assert partition_name("ts_reading", _month(old)) in report.dropped
    assert partition_name("ts_reading", _month(old)) not in raw_partitions
    assert partition_name("ts_reading", _month(kept)) in raw_partitions  # its month ends within 400 days
    for ahead in range(minimum.timeseries.partitions_ahead_months + 1):
        assert partition_name("ts_reading", _month(now, ahead)) in raw_partitions
    hour_partitions = set(await store.partitions("ts_rollup_hour"))
    assert {f"ts_rollup_hour_{now.year}", f"ts_rollup_hour_{now.year + 1}", f"ts_rollup_hour_{young.year}"} <= (
        hour_partitions
    )
    assert f"ts_rollup_hour_{ancient.year}" in report.dropped
    assert f"ts_rollup_hour_{ancient.year}" not in hour_partitions

    assert await _count("ts_reading") == 1
    assert await _count("ts_batch") == 1 and report.deleted["ts_batch"] == 1
    assert await _count("ts_rollup_hour") == 1  # the young one
    assert await _count("ts_rollup_day") == 1 and report.deleted["ts_rollup_day"] == 2
    assert await _count("ts_rollup_month") == 1 and report.deleted["ts_rollup_month"] == 1

    # Settings below the standard's five years (which loading refuses) still keep five years.
    assert (await maintain(_with(settings, rollup_retention_years=1), now=now)).deleted["ts_rollup_day"] == 0
    assert await _count("ts_rollup_day") == await _count("ts_rollup_month") == await _count("ts_rollup_hour") == 1
    again = await maintain(minimum, now=now)
    assert again.created == [] and again.dropped == []


def test_settings_refuse_less_than_five_years_of_rollups() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"rollup_retention_years": 4}, TimeseriesSettings)
