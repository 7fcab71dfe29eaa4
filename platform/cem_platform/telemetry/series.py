"""Reading a time series: raw readings, hourly / daily / monthly buckets with their completeness, latest values.

Hour buckets are UTC hours; day and month buckets follow the point's enterprise time zone (Asia/Shanghai: a day
starts 16:00 UTC). Every bucket of the asked range up to now is returned, empty ones too (readings 0,
completeness 0), so a chart shows gaps as gaps. Completeness is computed here, at read time:
``expected = (bucket span clipped to now) / sample_seconds`` and ``completeness = min(1, readings / expected)``.

Rollups hold what the rollup job has folded: readings of the last ``rollup_interval_s`` may still be queued.
Times come back as aware datetimes in the enterprise's zone; ``latest`` returns UTC.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any

import msgspec
from tortoise.backends.base.client import BaseDBAsyncClient

from cem_platform.errors import InvalidInputError
from cem_platform.org.models import Enterprise, MeasurementPoint
from cem_platform.telemetry.ddl import FLAG_BITS, QUALITY_CODES
from cem_platform.telemetry.store import dt_to_ms, ms_to_dt, store_for

__all__ = [
    "MAX_RANGE",
    "MAX_RAW_READINGS",
    "Bucket",
    "Interval",
    "Latest",
    "Reading",
    "Series",
    "bucket_starts",
    "check_range",
    "flag_names",
    "latest",
    "series",
    "zone_of",
    "zones_of_enterprises",
]

UTC = dt.UTC
DEFAULT_TIMEZONE = "Asia/Shanghai"


class Interval(StrEnum):
    """How a series is bucketed."""

    RAW = "raw"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


# The longest range one request may ask for, per interval: large enough for every chart and report of that
# resolution, small enough that an answer stays a few MB and well under a second.
MAX_RANGE: dict[Interval, dt.timedelta] = {
    Interval.RAW: dt.timedelta(days=31),
    Interval.HOUR: dt.timedelta(days=366),
    Interval.DAY: dt.timedelta(days=3700),  # ten years and a little
    Interval.MONTH: dt.timedelta(days=36525),  # a hundred years
}
NEXT_COARSER = {Interval.RAW: "hour", Interval.HOUR: "day", Interval.DAY: "month", Interval.MONTH: "month"}
MAX_RAW_READINGS = 200_000  # ~18 MB of JSON; 31 days at 15 s sampling, 2.3 days at 1 s

_QUALITY_NAMES = {code: name for name, code in QUALITY_CODES.items()}


class Bucket(msgspec.Struct, kw_only=True):
    """One bucket of a series: counts, completeness and the aggregates of its readings."""

    start: dt.datetime
    end: dt.datetime
    readings: int
    expected: float  # readings the meter should have sent in the bucket up to now (span / sample_seconds)
    completeness: float  # min(1, readings / expected), 0 when nothing was expected yet
    estimated_share: float  # share of the readings that were filled in (estimated), 0..1
    uncertain: int  # readings of uncertain quality
    sum: float | None  # sum of the increments (totalisers); None when the readings carry none
    min: float | None
    max: float | None
    mean: float | None
    last: float | None  # value of the newest reading


class Reading(msgspec.Struct, kw_only=True):
    """One stored reading."""

    ts: dt.datetime
    value: float
    delta: float | None  # increment since the previous reading (totalisers)
    quality: str  # good, uncertain
    estimated: bool
    flags: list[str]  # filled, stuck, rollover, reset, step


class Series(msgspec.Struct, kw_only=True):
    """A point's series over a range: buckets (hour, day, month) or readings (raw), and totals of the range."""

    point_id: int
    code: str
    name: str
    unit: str
    kind: str
    sample_seconds: int
    interval: str
    timezone: str
    start: dt.datetime
    end: dt.datetime
    readings: int
    expected: float
    completeness: float
    estimated_share: float
    buckets: list[Bucket]
    raw: list[Reading]


def _names_of(bits: int) -> tuple[str, ...]:
    return tuple(name for name, bit in FLAG_BITS.items() if bits & bit)


_FLAG_NAMES = [_names_of(bits) for bits in range(2 * max(FLAG_BITS.values()))]  # every combination of known bits


def flag_names(bits: int) -> list[str]:
    """The names of the flag bits set in ``bits``."""
    return list(_FLAG_NAMES[bits] if 0 <= bits < len(_FLAG_NAMES) else _names_of(bits))


def _completeness(readings: int, expected: float) -> float:
    return min(1.0, readings / expected) if expected > 0 else 0.0


def check_range(interval: Interval, start: dt.datetime, end: dt.datetime, sample_seconds: int) -> None:
    """Refuse a range that is empty, naive or too large for the interval (InvalidInputError with what to do)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInputError(
            "from and to need a time zone offset",
            hint="Write times as ISO-8601 with an offset, e.g. 2026-05-01T00:00:00+08:00 or 2026-04-30T16:00:00Z.",
        )
    if end <= start:
        raise InvalidInputError(
            f"the range is empty: to ({end.isoformat()}) is not after from ({start.isoformat()})",
            hint="Give a 'to' later than 'from'.",
        )
    longest = MAX_RANGE[interval]
    if end - start > longest:
        raise InvalidInputError(
            f"a range of {_days(end - start)} is too long for interval={interval.value} (at most {_days(longest)})",
            hint=f"Ask for a shorter range, or use interval={NEXT_COARSER[interval]}.",
            details={"interval": interval.value, "max_days": longest.days},
        )
    if interval is Interval.RAW and (end - start).total_seconds() / sample_seconds > MAX_RAW_READINGS:
        hours = MAX_RAW_READINGS * sample_seconds / 3600
        raise InvalidInputError(
            f"raw readings every {sample_seconds} s over {_days(end - start)} would be more than "
            f"{MAX_RAW_READINGS:,} readings (at most {hours:,.0f} hours of this point)",
            hint="Ask for a shorter range, or use interval=hour.",
            details={"interval": "raw", "max_readings": MAX_RAW_READINGS},
        )


def _days(span: dt.timedelta) -> str:
    days = span.total_seconds() / 86400
    return f"{days:,.0f} days" if days >= 2 else f"{span.total_seconds() / 3600:,.1f} hours"


async def zone_of(point: MeasurementPoint) -> zoneinfo.ZoneInfo:
    """The time zone of the point's enterprise."""
    names = await Enterprise.filter(id=point.enterprise_id).values_list("timezone", flat=True)
    return zoneinfo.ZoneInfo(str(names[0]) if names else DEFAULT_TIMEZONE)


async def zones_of_enterprises(enterprise_ids: Iterable[int]) -> dict[int, zoneinfo.ZoneInfo]:
    """The time zone of each of these enterprises."""
    ids = sorted(set(enterprise_ids))
    rows = await Enterprise.filter(id__in=ids).values_list("id", "timezone")
    zones = {int(i): zoneinfo.ZoneInfo(str(tz)) for i, tz in rows}
    return {i: zones.get(i) or zoneinfo.ZoneInfo(DEFAULT_TIMEZONE) for i in ids}


async def series(
    point: MeasurementPoint,
    start: dt.datetime,
    end: dt.datetime,
    interval: Interval | str,
    *,
    now: dt.datetime | None = None,
    zone: zoneinfo.ZoneInfo | None = None,
    client: BaseDBAsyncClient | None = None,
) -> Series:
    """The point's series over [start, end): every bucket up to now, or the raw readings."""
    interval = Interval(interval)
    check_range(interval, start, end, point.sample_seconds)
    now = now or dt.datetime.now(UTC)
    zone = zone or await zone_of(point)
    db = store_for(client)
    postgres = db.dialect == "postgres"
    result = Series(
        point_id=point.id,
        code=point.code,
        name=point.name,
        unit=point.unit,
        kind=point.kind,
        sample_seconds=point.sample_seconds,
        interval=interval.value,
        timezone=zone.key,
        start=start.astimezone(zone),
        end=end.astimezone(zone),
        readings=0,
        expected=0.0,
        completeness=0.0,
        estimated_share=0.0,
        buckets=[],
        raw=[],
    )
    if interval is Interval.RAW:
        await _fill_raw(result, db.client, postgres, point, start, end, now, zone)
    else:
        await _fill_buckets(result, db.client, postgres, point, start, end, now, zone, interval)
    return result


async def _fill_raw(
    result: Series,
    client: BaseDBAsyncClient,
    postgres: bool,
    point: MeasurementPoint,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    zone: zoneinfo.ZoneInfo,
) -> None:
    sql = (
        "SELECT ts, value, delta, quality, estimated, flags FROM ts_reading"
        " WHERE point_id = {0} AND ts >= {1} AND ts < {2} ORDER BY ts LIMIT {3}"
    )
    # execute_query: rows that index by column name (asyncpg Record, sqlite3.Row), without a dict per row
    if postgres:
        _, rows = await client.execute_query(
            sql.format("$1", "$2", "$3", "$4"), [point.id, start, end, MAX_RAW_READINGS + 1]
        )
    else:
        _, rows = await client.execute_query(
            sql.format("?", "?", "?", "?"), [point.id, dt_to_ms(start), dt_to_ms(end), MAX_RAW_READINGS + 1]
        )
    if len(rows) > MAX_RAW_READINGS:
        raise InvalidInputError(
            f"the range holds more than {MAX_RAW_READINGS:,} readings of this point",
            hint="Ask for a shorter range, or use interval=hour.",
        )
    result.raw = [
        Reading(
            ts=(r["ts"] if postgres else ms_to_dt(r["ts"])).astimezone(zone),
            value=r["value"],
            delta=r["delta"],
            quality=_QUALITY_NAMES.get(r["quality"], "uncertain"),
            estimated=bool(r["estimated"]),
            flags=flag_names(r["flags"]),
        )
        for r in rows
    ]
    span = max(0.0, (min(end, now) - start).total_seconds())
    result.readings = len(rows)
    result.expected = span / point.sample_seconds
    result.completeness = _completeness(result.readings, result.expected)
    estimated = sum(1 for r in result.raw if r.estimated)
    result.estimated_share = estimated / result.readings if result.readings else 0.0


def bucket_starts(
    interval: Interval, start: dt.datetime, end: dt.datetime, now: dt.datetime, zone: zoneinfo.ZoneInfo
) -> Iterator[tuple[dt.datetime, dt.datetime, Any]]:
    """(start, end, key) of every bucket meeting [start, end) that began before now; key as the table stores it.

    Keys: hour buckets by their UTC start, day and month buckets by their local date.
    """
    stop = min(end, now)
    if interval is Interval.HOUR:
        at = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while at < stop:
            yield at, at + dt.timedelta(hours=1), at
            at += dt.timedelta(hours=1)
        return
    day = start.astimezone(zone).date()
    if interval is Interval.MONTH:
        day = day.replace(day=1)
    while True:
        following = day + dt.timedelta(days=1) if interval is Interval.DAY else _next_month(day)
        lo = dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(UTC)
        if lo >= stop:
            return
        hi = dt.datetime.combine(following, dt.time(), tzinfo=zone).astimezone(UTC)
        yield lo, hi, day
        day = following


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


_ROLLUP_TABLES = {Interval.HOUR: "ts_rollup_hour", Interval.DAY: "ts_rollup_day", Interval.MONTH: "ts_rollup_month"}


async def _fill_buckets(
    result: Series,
    client: BaseDBAsyncClient,
    postgres: bool,
    point: MeasurementPoint,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    zone: zoneinfo.ZoneInfo,
    interval: Interval,
) -> None:
    spans = list(bucket_starts(interval, start, end, now, zone))
    if not spans:
        return
    first, last = spans[0][2], spans[-1][2]
    table = _ROLLUP_TABLES[interval]
    sql = (
        "SELECT bucket, readings, estimated, uncertain, delta_sum, value_min, value_max, value_sum, last_value"  # noqa: S608 - table is a constant
        f" FROM {table} WHERE point_id = {{0}} AND bucket >= {{1}} AND bucket <= {{2}}"
    )
    if postgres:
        _, rows = await client.execute_query(sql.format("$1", "$2", "$3"), [point.id, first, last])
        stored = {r["bucket"]: r for r in rows}
    else:
        low, high = (dt_to_ms(first), dt_to_ms(last)) if interval is Interval.HOUR else (str(first), str(last))
        _, rows = await client.execute_query(sql.format("?", "?", "?"), [point.id, low, high])
        stored = {
            (ms_to_dt(r["bucket"]) if interval is Interval.HOUR else dt.date.fromisoformat(r["bucket"])): r
            for r in rows
        }
    total_readings = total_estimated = 0
    total_expected = 0.0
    for lo, hi, key in spans:
        expected = max(0.0, (min(hi, now) - lo).total_seconds()) / point.sample_seconds
        row = stored.get(key)
        readings = row["readings"] if row else 0
        estimated = row["estimated"] if row else 0
        total_readings += readings
        total_estimated += estimated
        total_expected += expected
        result.buckets.append(
            Bucket(
                start=lo.astimezone(zone),
                end=hi.astimezone(zone),
                readings=readings,
                expected=expected,
                completeness=_completeness(readings, expected),
                estimated_share=estimated / readings if readings else 0.0,
                uncertain=row["uncertain"] if row else 0,
                sum=row["delta_sum"] if row else None,
                min=row["value_min"] if row else None,
                max=row["value_max"] if row else None,
                mean=row["value_sum"] / readings if row and readings and row["value_sum"] is not None else None,
                last=row["last_value"] if row else None,
            )
        )
    result.readings = total_readings
    result.expected = total_expected
    result.completeness = _completeness(total_readings, total_expected)
    result.estimated_share = total_estimated / total_readings if total_readings else 0.0


class Latest(msgspec.Struct, kw_only=True):
    """The newest stored reading of a point (times UTC)."""

    point_id: int
    ts: dt.datetime
    value: float
    delta: float | None
    quality: str
    estimated: bool
    flags: list[str]


_PG_LATEST = """
SELECT p.id AS point_id, r.ts, r.value, r.delta, r.quality, r.estimated, r.flags
FROM unnest($1::int4[]) AS p(id)
CROSS JOIN LATERAL (
    SELECT ts, value, delta, quality, estimated, flags FROM ts_reading
    WHERE point_id = p.id ORDER BY ts DESC LIMIT 1
) r
"""


async def latest(
    points: Sequence[MeasurementPoint | int], *, client: BaseDBAsyncClient | None = None
) -> dict[int, Latest]:
    """The newest reading of each point that has one, in one query (points without readings are left out)."""
    ids = sorted({p if isinstance(p, int) else p.id for p in points})
    if not ids:
        return {}
    db = store_for(client)
    if db.dialect == "postgres":
        rows = await db.client.execute_query_dict(_PG_LATEST, [ids])
    else:
        rows = []
        for start in range(0, len(ids), 500):  # SQLite limits bound parameters per statement
            chunk = ids[start : start + 500]
            values = ", ".join("(?)" for _ in chunk)
            rows += await db.client.execute_query_dict(
                f"WITH wanted(id) AS (VALUES {values})"  # noqa: S608 - placeholders only
                " SELECT r.point_id, r.ts, r.value, r.delta, r.quality, r.estimated, r.flags"
                " FROM wanted JOIN ts_reading r ON r.point_id = wanted.id"
                " AND r.ts = (SELECT max(ts) FROM ts_reading WHERE point_id = wanted.id)",
                list(chunk),
            )
    return {
        r["point_id"]: Latest(
            point_id=r["point_id"],
            ts=r["ts"] if isinstance(r["ts"], dt.datetime) else ms_to_dt(r["ts"]),
            value=r["value"],
            delta=r["delta"],
            quality=_QUALITY_NAMES.get(r["quality"], "uncertain"),
            estimated=bool(r["estimated"]),
            flags=flag_names(r["flags"]),
        )
        for r in rows
    }
