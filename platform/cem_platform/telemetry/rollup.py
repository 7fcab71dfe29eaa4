"""Rollups: new readings folded from ``ts_pending`` into hourly (UTC), daily and monthly (local) aggregates.

One fold is one transaction. It takes up to ``limit`` readings out of ``ts_pending``, adds them per point and
UTC hour to ``ts_rollup_hour`` (counts and sums added, min/max/first/last merged), then recomputes exactly, from
the hourly rows, every day of the point's enterprise time zone that the new readings touched, and every month
from the day rows. Readings come out of the queue in the transaction that counts them, so each one is counted
once; a reading that arrives late (a gateway's catch-up) lands in the hour, day and month it belongs to.

PostgreSQL: folds may run at the same time. ``FOR UPDATE SKIP LOCKED`` gives each its own readings; the hourly
merge adds increments under the row lock of ``INSERT ... ON CONFLICT``; the day and month recomputation runs under
a transaction-level advisory lock, so each recomputation sees every hour committed before it (otherwise two
folds touching the same day could each recompute it without the other's hours, and the later write would lose
them). SQLite (demo): one connection, transactions one after another.

Days are built from the UTC hours that start within them, which is exact for every zone whose offset is a whole
number of hours (Asia/Shanghai; daylight saving time included); in zones such as Asia/Kolkata (+05:30) a day
holds the hours that start within it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from cem_platform.settings import Settings
from cem_platform.telemetry.store import TimeSeriesStore, dt_to_ms, ms_to_dt, store_for

__all__ = ["DEFAULT_TIMEZONE", "FoldResult", "add_hours", "fold_all", "fold_pending"]

DEFAULT_TIMEZONE = "Asia/Shanghai"  # for readings of a point that no longer exists
HOUR_MS = 3_600_000
MAX_ROUNDS = 1000  # fold_all stops after this many full folds even if ingest keeps the queue full
_ADVISORY_KEY = 0x63656D_0001  # 'cem' + 1: the day/month recomputation, one fold at a time


@dataclass(frozen=True, slots=True)
class FoldResult:
    """What one fold did: readings taken out of the queue and rollup rows written."""

    readings: int = 0
    hours: int = 0
    days: int = 0
    months: int = 0
    #: Per point, the first and the last hour (UTC) that received readings: what accounting must look at again.
    touched: Mapping[int, tuple[dt.datetime, dt.datetime]] = field(default_factory=dict)


async def fold_pending(
    store: TimeSeriesStore, *, limit: int = 100_000, default_timezone: str = DEFAULT_TIMEZONE
) -> FoldResult:
    """Fold up to ``limit`` queued readings into the rollups, in one transaction."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if store.dialect == "postgres":
        return await _fold_postgres(store, limit, default_timezone)
    return await _fold_sqlite(store, limit, default_timezone)


def _touched(hours: Sequence[dict[str, Any]]) -> dict[int, tuple[dt.datetime, dt.datetime]]:
    spans: dict[int, tuple[dt.datetime, dt.datetime]] = {}
    for h in hours:
        bucket = h["bucket"] if isinstance(h["bucket"], dt.datetime) else ms_to_dt(h["bucket"])
        point = int(h["point_id"])
        lo, hi = spans.get(point, (bucket, bucket))
        spans[point] = (min(lo, bucket), max(hi, bucket))
    return spans


async def fold_all(
    settings: Settings, touched: MutableMapping[int, tuple[dt.datetime, dt.datetime]] | None = None
) -> int:
    """Fold until ``ts_pending`` is empty (bounded); the number of readings folded. Called by the periodic job.
    With ``touched``, the first and last hour each point received readings in are merged into it."""
    store = store_for()
    total = 0
    limit = 100_000
    for _ in range(MAX_ROUNDS):
        result = await fold_pending(store, limit=limit, default_timezone=settings.server.timezone)
        total += result.readings
        if touched is not None:
            for point, (lo, hi) in result.touched.items():
                was = touched.get(point, (lo, hi))
                touched[point] = (min(was[0], lo), max(was[1], hi))
        if result.readings < limit:  # the queue is empty, or the rest is being folded by another process
            break
    return total


# --- PostgreSQL --------------------------------------------------------------------------------------------------

_PG_FOLD_HOURS = """
WITH taken AS (
    DELETE FROM ts_pending
    WHERE ctid = ANY(ARRAY(SELECT ctid FROM ts_pending LIMIT $1 FOR UPDATE SKIP LOCKED))
    RETURNING point_id, ts, value, delta, quality, estimated
), hourly AS (
    SELECT point_id,
           date_trunc('hour', ts, 'UTC') AS bucket,
           count(*) AS readings,
           count(*) FILTER (WHERE estimated) AS estimated,
           count(*) FILTER (WHERE quality = 1) AS uncertain,
           sum(delta) AS delta_sum,
           min(value) AS value_min,
           max(value) AS value_max,
           sum(value) AS value_sum,
           min(ts) AS first_ts,
           max(ts) AS last_ts,
           (array_agg(value ORDER BY ts DESC))[1] AS last_value
    FROM taken
    GROUP BY 1, 2
), merged AS (
    INSERT INTO ts_rollup_hour AS h (point_id, bucket, readings, estimated, uncertain, delta_sum, value_min,
                                     value_max, value_sum, first_ts, last_ts, last_value, computed_at)
    SELECT point_id, bucket, readings, estimated, uncertain, delta_sum, value_min, value_max, value_sum,
           first_ts, last_ts, last_value, now()
    FROM hourly
    ORDER BY point_id, bucket  -- one lock order for every fold: concurrent folds wait, never deadlock
    ON CONFLICT (point_id, bucket) DO UPDATE SET
        readings = h.readings + excluded.readings,
        estimated = h.estimated + excluded.estimated,
        uncertain = h.uncertain + excluded.uncertain,
        delta_sum = COALESCE(h.delta_sum + excluded.delta_sum, h.delta_sum, excluded.delta_sum),
        value_min = LEAST(h.value_min, excluded.value_min),
        value_max = GREATEST(h.value_max, excluded.value_max),
        value_sum = COALESCE(h.value_sum + excluded.value_sum, h.value_sum, excluded.value_sum),
        first_ts = LEAST(h.first_ts, excluded.first_ts),
        last_value = CASE WHEN h.last_ts IS NULL OR excluded.last_ts >= h.last_ts
                          THEN excluded.last_value ELSE h.last_value END,
        last_ts = GREATEST(h.last_ts, excluded.last_ts),
        computed_at = excluded.computed_at
)
SELECT point_id, bucket, readings FROM hourly
"""

# Sums over the rows of the level below; last_value of the newest reading among them.
_AGGREGATES = """sum(r.readings), sum(r.estimated), sum(r.uncertain), sum(r.delta_sum), min(r.value_min),
           max(r.value_max), sum(r.value_sum), min(r.first_ts), max(r.last_ts)"""
_PG_LAST = "(array_agg(r.last_value ORDER BY r.last_ts DESC NULLS LAST))[1]"
_REPLACE = """readings = excluded.readings, estimated = excluded.estimated, uncertain = excluded.uncertain,
        delta_sum = excluded.delta_sum, value_min = excluded.value_min, value_max = excluded.value_max,
        value_sum = excluded.value_sum, first_ts = excluded.first_ts, last_ts = excluded.last_ts,
        last_value = excluded.last_value, computed_at = excluded.computed_at"""
_COLUMNS = """point_id, bucket, readings, estimated, uncertain, delta_sum, value_min, value_max, value_sum,
    first_ts, last_ts, last_value, computed_at"""

_PG_DAYS = f"""
WITH zoned AS (
    SELECT t.point_id, t.bucket, COALESCE(e.timezone, $3) AS tz
    FROM unnest($1::int4[], $2::timestamptz[]) AS t(point_id, bucket)
    LEFT JOIN org_point p ON p.id = t.point_id
    LEFT JOIN org_enterprise e ON e.id = p.enterprise_id
), touched AS (
    SELECT DISTINCT point_id, (bucket AT TIME ZONE tz)::date AS day, tz FROM zoned
), spans AS (
    SELECT point_id, day, (day::timestamp AT TIME ZONE tz) AS lo, ((day + 1)::timestamp AT TIME ZONE tz) AS hi
    FROM touched
)
INSERT INTO ts_rollup_day ({_COLUMNS})
SELECT s.point_id, s.day, {_AGGREGATES}, {_PG_LAST}, now()
FROM spans s JOIN ts_rollup_hour r ON r.point_id = s.point_id AND r.bucket >= s.lo AND r.bucket < s.hi
GROUP BY s.point_id, s.day
ORDER BY s.point_id, s.day
ON CONFLICT (point_id, bucket) DO UPDATE SET {_REPLACE}
RETURNING point_id, bucket
"""  # noqa: S608 - constants only

_PG_MONTHS = f"""
WITH touched AS (
    SELECT DISTINCT point_id, date_trunc('month', day::timestamp)::date AS month
    FROM unnest($1::int4[], $2::date[]) AS t(point_id, day)
)
INSERT INTO ts_rollup_month ({_COLUMNS})
SELECT s.point_id, s.month, {_AGGREGATES}, {_PG_LAST}, now()
FROM touched s JOIN ts_rollup_day r
    ON r.point_id = s.point_id AND r.bucket >= s.month AND r.bucket < (s.month + interval '1 month')::date
GROUP BY s.point_id, s.month
ORDER BY s.point_id, s.month
ON CONFLICT (point_id, bucket) DO UPDATE SET {_REPLACE}
RETURNING point_id, bucket
"""  # noqa: S608 - constants only


async def _fold_postgres(store: TimeSeriesStore, limit: int, default_timezone: str) -> FoldResult:
    # Ingest creates the hourly partition of every reading it stores; this covers the rest (a partition dropped
    # by hand, readings queued by other means). The check is cached by the store.
    await store.ensure_partition("ts_rollup_hour", dt.date(dt.datetime.now(dt.UTC).year, 1, 1))
    try:
        return await _fold_postgres_once(store, limit, default_timezone)
    except Exception as err:
        if "no partition of relation" not in str(err):
            raise
    # A queued reading falls in a year without an hourly partition: create them all, and fold again.
    years = await store.client.execute_query_dict(
        "SELECT DISTINCT date_part('year', ts AT TIME ZONE 'UTC')::int AS year FROM ts_pending"
    )
    for row in years:
        await store.ensure_partition("ts_rollup_hour", dt.date(row["year"], 1, 1))
    return await _fold_postgres_once(store, limit, default_timezone)


async def _fold_postgres_once(store: TimeSeriesStore, limit: int, default_timezone: str) -> FoldResult:
    async with in_transaction(store.client.connection_name) as tx:
        hours = await tx.execute_query_dict(_PG_FOLD_HOURS, [limit])
        if not hours:
            return FoldResult()
        # JIT compiling would cost more than these index lookups save (its cost estimate grows with the points)
        await tx.execute_script("SET LOCAL jit = off")
        await tx.execute_query_dict("SELECT pg_advisory_xact_lock($1)", [_ADVISORY_KEY])
        days = await tx.execute_query_dict(
            _PG_DAYS, [[h["point_id"] for h in hours], [h["bucket"] for h in hours], default_timezone]
        )
        months = await tx.execute_query_dict(_PG_MONTHS, [[d["point_id"] for d in days], [d["bucket"] for d in days]])
    return FoldResult(
        readings=sum(h["readings"] for h in hours),
        hours=len(hours),
        days=len(days),
        months=len(months),
        touched=_touched(hours),
    )


# --- SQLite ------------------------------------------------------------------------------------------------------

_SQLITE_CUT = "SELECT max(rowid) AS cut, count(*) AS n FROM (SELECT rowid FROM ts_pending ORDER BY rowid LIMIT ?)"

_SQLITE_HOURLY = """
WITH taken AS (
    SELECT point_id, ts, value, delta, quality, estimated, ts - ts % 3600000 AS bucket,
           row_number() OVER (PARTITION BY point_id, ts - ts % 3600000 ORDER BY ts DESC) AS newest
    FROM ts_pending WHERE rowid <= ?
)
SELECT point_id, bucket, count(*) AS readings, sum(estimated) AS estimated, sum(quality = 1) AS uncertain,
       sum(delta) AS delta_sum, min(value) AS value_min, max(value) AS value_max, sum(value) AS value_sum,
       min(ts) AS first_ts, max(ts) AS last_ts, max(CASE WHEN newest = 1 THEN value END) AS last_value
FROM taken
GROUP BY point_id, bucket
ORDER BY point_id, bucket
"""

# SQLite's two-argument min() and max() are NULL when either side is: hence the COALESCEs.
_SQLITE_MERGE_HOUR = """
INSERT INTO ts_rollup_hour (point_id, bucket, readings, estimated, uncertain, delta_sum, value_min, value_max,
                            value_sum, first_ts, last_ts, last_value, computed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (point_id, bucket) DO UPDATE SET
    readings = readings + excluded.readings,
    estimated = estimated + excluded.estimated,
    uncertain = uncertain + excluded.uncertain,
    delta_sum = COALESCE(delta_sum + excluded.delta_sum, delta_sum, excluded.delta_sum),
    value_min = min(COALESCE(value_min, excluded.value_min), COALESCE(excluded.value_min, value_min)),
    value_max = max(COALESCE(value_max, excluded.value_max), COALESCE(excluded.value_max, value_max)),
    value_sum = COALESCE(value_sum + excluded.value_sum, value_sum, excluded.value_sum),
    first_ts = min(COALESCE(first_ts, excluded.first_ts), COALESCE(excluded.first_ts, first_ts)),
    last_value = CASE WHEN last_ts IS NULL OR excluded.last_ts >= last_ts THEN excluded.last_value
                      ELSE last_value END,
    last_ts = max(COALESCE(last_ts, excluded.last_ts), COALESCE(excluded.last_ts, last_ts)),
    computed_at = excluded.computed_at
"""


_HOUR_COLUMNS = [
    "point_id",
    "bucket",
    "readings",
    "estimated",
    "uncertain",
    "delta_sum",
    "value_min",
    "value_max",
    "value_sum",
    "first_ts",
    "last_ts",
    "last_value",
]


def _sqlite_recompute(table: str, below: str) -> str:
    """Recompute one bucket of ``table`` from the rows of ``below`` in [lo, hi)."""
    return f"""
INSERT INTO {table} ({_COLUMNS})
SELECT ?, ?, {_AGGREGATES},
       (SELECT last_value FROM {below} WHERE point_id = ? AND bucket >= ? AND bucket < ?
        ORDER BY last_ts DESC LIMIT 1), ?
FROM {below} r WHERE r.point_id = ? AND r.bucket >= ? AND r.bucket < ?
HAVING count(*) > 0
ON CONFLICT (point_id, bucket) DO UPDATE SET {_REPLACE}
"""  # noqa: S608 - table names are constants


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


async def _zones_of(client: BaseDBAsyncClient, point_ids: Sequence[int], default: str) -> dict[int, zoneinfo.ZoneInfo]:
    """The time zone of each point's enterprise."""
    zones: dict[int, zoneinfo.ZoneInfo] = {}
    ids = sorted(set(point_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = await client.execute_query_dict(
            "SELECT p.id AS point_id, e.timezone AS tz FROM org_point p"  # noqa: S608 - placeholders only
            f" JOIN org_enterprise e ON e.id = p.enterprise_id WHERE p.id IN ({marks})",
            list(chunk),
        )
        zones.update({r["point_id"]: zoneinfo.ZoneInfo(r["tz"]) for r in rows})
    fallback = zoneinfo.ZoneInfo(default)
    return {point_id: zones.get(point_id, fallback) for point_id in ids}


def _local_midnight_ms(day: dt.date, zone: zoneinfo.ZoneInfo) -> int:
    return dt_to_ms(dt.datetime.combine(day, dt.time(), tzinfo=zone))


async def _fold_sqlite(store: TimeSeriesStore, limit: int, default_timezone: str) -> FoldResult:
    async with in_transaction(store.client.connection_name) as tx:
        cut_row = (await tx.execute_query_dict(_SQLITE_CUT, [limit]))[0]
        if not cut_row["n"]:
            return FoldResult()
        cut = cut_row["cut"]
        hours = await tx.execute_query_dict(_SQLITE_HOURLY, [cut])
        now_ms = dt_to_ms(dt.datetime.now(dt.UTC))
        await tx.execute_many(_SQLITE_MERGE_HOUR, [[h[c] for c in _HOUR_COLUMNS] + [now_ms] for h in hours])
        await tx.execute_query("DELETE FROM ts_pending WHERE rowid <= ?", [cut])
        days, months = await _recompute_sqlite(tx, hours, now_ms, default_timezone)
    return FoldResult(
        readings=sum(h["readings"] for h in hours), hours=len(hours), days=days, months=months, touched=_touched(hours)
    )


async def add_hours(store: TimeSeriesStore, hours: Sequence[dict[str, Any]]) -> FoldResult:
    """Merge whole hourly rollup rows (``point_id``, ``bucket`` in ms and the other hour columns) as a fold would,
    and recompute their days and months: the demo's history, made from the simulated plant (SQLite only)."""
    if store.dialect != "sqlite":
        raise NotImplementedError("add_hours is for the SQLite demo")
    if not hours:
        return FoldResult()
    async with in_transaction(store.client.connection_name) as tx:
        now_ms = dt_to_ms(dt.datetime.now(dt.UTC))
        await tx.execute_many(_SQLITE_MERGE_HOUR, [[h[c] for c in _HOUR_COLUMNS] + [now_ms] for h in hours])
        days, months = await _recompute_sqlite(tx, hours, now_ms, DEFAULT_TIMEZONE)
    return FoldResult(
        readings=sum(h["readings"] for h in hours), hours=len(hours), days=days, months=months, touched=_touched(hours)
    )


async def _recompute_sqlite(
    tx: BaseDBAsyncClient, hours: Sequence[dict[str, Any]], now_ms: int, default_timezone: str
) -> tuple[int, int]:
    """Recompute the days and months the hours touched; how many of each."""
    zones = await _zones_of(tx, [h["point_id"] for h in hours], default_timezone)
    days = sorted({(h["point_id"], ms_to_dt(h["bucket"]).astimezone(zones[h["point_id"]]).date()) for h in hours})
    day_rows: list[list[Any]] = []
    for point_id, day in days:
        lo = _local_midnight_ms(day, zones[point_id])
        hi = _local_midnight_ms(day + dt.timedelta(days=1), zones[point_id])
        day_rows.append([point_id, day.isoformat(), point_id, lo, hi, now_ms, point_id, lo, hi])
    await tx.execute_many(_sqlite_recompute("ts_rollup_day", "ts_rollup_hour"), day_rows)

    months = sorted({(point_id, day.replace(day=1)) for point_id, day in days})
    month_rows: list[list[Any]] = []
    for point_id, month in months:
        lo_day, hi_day = month.isoformat(), _next_month(month).isoformat()
        month_rows.append([point_id, lo_day, point_id, lo_day, hi_day, now_ms, point_id, lo_day, hi_day])
    await tx.execute_many(_sqlite_recompute("ts_rollup_month", "ts_rollup_day"), month_rows)
    return len(days), len(months)
