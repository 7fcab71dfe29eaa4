"""Time-series query benchmark: latency of series and latest-value queries on a plant-sized PostgreSQL database.

It creates a throwaway database (migrated with the real migrations) and fills it with SQL ``generate_series``:

* ``--points`` measurement points (2,000) of one enterprise (Asia/Shanghai);
* hourly rollups of every point for ``--hour-days`` (365) days, daily rollups for ``--day-years`` (5) years,
  monthly rollups for the same years: rows inserted in time order, as the rollup job writes them;
* raw readings: one point every ``--raw-every`` (10) s for ``--raw-days`` (30) days, and every point every 60 s
  for the last ``--latest-hours`` (24) hours (inserted minute by minute, as ingest writes them);
* ``--batches`` (200,000) batch records, one per telemetry message.

Then it times, with the platform's own functions (``cem_platform.telemetry.series.series`` and ``latest``,
including the JSON encoding an API answer needs), each query ``--repeat`` times on random points, and prints
p50 / p95 / max in ms. It measures what the data takes on disk (``pg_relation_size``, ``pg_column_size``): the
figures of docs/storage.md. Last, it times the rollup job (``fold_pending``): routine folds of 30 s of readings
of every point, and a catch-up of 30 minutes of them. Nothing is asserted; the database is dropped at the end
(``--keep`` keeps it).

Run from the repository root (PostgreSQL reachable as in the tests, CEM_TEST_POSTGRES_URL)::

    .venv/bin/python bench/series_bench.py                    # about 10 minutes, ~4 GB on disk while it runs
    .venv/bin/python bench/series_bench.py --points 200 --hour-days 60 --day-years 1 --raw-days 3 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import time
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
from tortoise import connections

from cem_platform.db import close_db, init_db, upgrade_db
from cem_platform.org.models import Enterprise, Facility, FacilityType, MeasurementPoint, Process, ProcessType, Site
from cem_platform.settings import DatabaseSettings
from cem_platform.telemetry.rollup import fold_pending
from cem_platform.telemetry.series import Interval, latest, series
from cem_platform.telemetry.store import store_for

ADMIN_URL = os.environ.get("CEM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


def say(text: str) -> None:
    """Progress, to stderr."""
    print(text, file=sys.stderr, flush=True)


def _db_url(name: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


async def run_sql(sql: str, *args: object) -> None:
    """One statement on the platform's connection."""
    await connections.get("default").execute_query(sql, list(args))


async def timed(label: str, work: Callable[[], Awaitable[object]]) -> None:
    start = time.perf_counter()
    await work()
    say(f"  {label}: {time.perf_counter() - start:.1f} s")


async def fill(args: argparse.Namespace, now: dt.datetime) -> list[int]:
    """Org objects, rollups and raw readings; the point ids."""
    enterprise = await Enterprise.create(code="BENCH", name="基准钢铁")
    site = await Site.create(enterprise=enterprise, code="S1", name="works")
    process = await Process.create(
        site=site, process_type=await ProcessType.get(code="ironmaking"), code="IR", name="炼铁"
    )
    facility = await Facility.create(
        process=process, facility_type=await FacilityType.get(code="blast_furnace"), code="BF1", name="1#高炉"
    )
    await run_sql(
        "INSERT INTO org_point (created_at, updated_at, code, name, medium, quantity, unit, kind, meter_model,"
        " meter_serial, accuracy_class, active, enterprise_id, facility_id, sample_seconds)"
        " SELECT now(), now(), 'P' || i, 'point ' || i, 'electricity', 'energy', 'kWh',"
        " CASE WHEN i % 2 = 0 THEN 'totaliser' ELSE 'flow' END, '', '', '', true, $1, $2, 60"
        " FROM generate_series(1, $3) AS i",
        enterprise.id,
        facility.id,
        args.points,
    )
    ids = list(await MeasurementPoint.filter(enterprise=enterprise).order_by("id").values_list("id", flat=True))
    first_id = ids[0]
    fast = await MeasurementPoint.create(
        facility=facility,
        enterprise=enterprise,
        code="FAST",
        name="10 s meter",
        medium="electricity",
        quantity="power",
        unit="kW",
        kind="flow",
        sample_seconds=args.raw_every,
    )
    store = store_for()
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    hour_from = this_hour - dt.timedelta(days=args.hour_days)
    for year in range(hour_from.year, now.year + 2):
        await store.ensure_partition("ts_rollup_hour", dt.date(year, 1, 1))
    raw_from = now - dt.timedelta(days=args.raw_days)
    month = dt.date(raw_from.year, raw_from.month, 1)
    while month <= now.date():
        await store.ensure_partition("ts_reading", month)
        month = dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)

    rollup_values = """
        60, (p % 7 = 0)::int * 3, 0, CASE WHEN p % 2 = 0 THEN 50 + random() * 10 END,
        random() * 100, 100 + random() * 100, 6000 + random() * 1000, {first}, {last}, random() * 200, now()"""
    hour_values = rollup_values.format(first="h", last="h + interval '59 minutes'")
    say(f"hourly rollups: {args.points:,} points x {args.hour_days} days")
    chunk = dt.timedelta(days=30)
    at = hour_from
    while at < this_hour:
        upto = min(at + chunk, this_hour)
        await timed(
            f"{at:%Y-%m-%d} .. {upto:%Y-%m-%d}",
            lambda at=at, upto=upto: run_sql(
                f"INSERT INTO ts_rollup_hour SELECT p, h, {hour_values}"  # noqa: S608 - constants
                " FROM generate_series($1::timestamptz, $2::timestamptz - interval '1 hour', interval '1 hour') AS h"
                " CROSS JOIN generate_series($3::int, $4::int) AS p ORDER BY h, p",
                at,
                upto,
                first_id,
                first_id + args.points - 1,
            ),
        )
        at = upto
    today = now.astimezone(SHANGHAI).date()
    day_from = today.replace(year=today.year - args.day_years)
    say(f"daily rollups: {args.points:,} points x {args.day_years} years; monthly rollups")
    day_values = rollup_values.replace("60,", "1440,", 1).format(
        first="(d::timestamp AT TIME ZONE 'Asia/Shanghai')", last="(d::timestamp AT TIME ZONE 'Asia/Shanghai')"
    )
    month_values = day_values.replace("1440,", "44640,", 1)
    await timed(
        "days",
        lambda: run_sql(
            f"INSERT INTO ts_rollup_day SELECT p, d::date, {day_values}"  # noqa: S608 - constants
            " FROM generate_series($1::date::timestamp, $2::date::timestamp, interval '1 day') AS d"
            " CROSS JOIN generate_series($3::int, $4::int) AS p ORDER BY d, p",
            day_from,
            today,
            first_id,
            first_id + args.points - 1,
        ),
    )
    await timed(
        "months",
        lambda: run_sql(
            f"INSERT INTO ts_rollup_month SELECT p, d::date, {month_values}"  # noqa: S608 - constants
            " FROM generate_series($1::date::timestamp, $2::date::timestamp, interval '1 month') AS d"
            " CROSS JOIN generate_series($3::int, $4::int) AS p ORDER BY d, p",
            day_from.replace(day=1),
            today,
            first_id,
            first_id + args.points - 1,
        ),
    )
    raw_columns = "point_id, ts, value, delta, since, quality, estimated, flags, seq"
    say(f"raw readings: one point every {args.raw_every} s for {args.raw_days} days")
    await timed(
        "fast point",
        lambda: run_sql(
            f"INSERT INTO ts_reading ({raw_columns})"  # noqa: S608 - constants
            " SELECT $1, t, 500 + random() * 50, NULL, NULL, 0, false, 0, row_number() OVER ()"
            " FROM generate_series($2::timestamptz, $3::timestamptz, $4 * interval '1 second') AS t",
            fast.id,
            raw_from,
            now,
            args.raw_every,
        ),
    )
    say(f"raw readings: {args.points:,} points every 60 s for the last {args.latest_hours} hours")
    await timed(
        "all points",
        lambda: run_sql(
            f"INSERT INTO ts_reading ({raw_columns})"  # noqa: S608 - constants
            " SELECT p, t, 1000 + random() * 10, CASE WHEN p % 2 = 0 THEN random() END,"
            " CASE WHEN p % 2 = 0 THEN t - interval '60 seconds' END, (random() < 0.01)::int, random() < 0.01, 0,"
            " extract(epoch FROM t)::bigint"
            " FROM generate_series($1::timestamptz, $2::timestamptz, interval '60 seconds') AS t"
            " CROSS JOIN generate_series($3::int, $4::int) AS p ORDER BY t, p",
            now - dt.timedelta(hours=args.latest_hours),
            now - dt.timedelta(seconds=30),
            first_id,
            first_id + args.points - 1,
        ),
    )
    say(f"batch records: {args.batches:,} (one per telemetry message)")
    await timed(
        "batches",
        lambda: run_sql(
            "INSERT INTO ts_batch (device_id, first_seq, last_seq, readings, stored, duplicates, rejected, sent_at,"
            " received_at) SELECT 'dev-' || lpad(to_hex(i % 40), 12, '0'), i * 500, i * 500 + 499, 500, 500, 0, 0,"
            " $1::timestamptz + i * interval '250 milliseconds', $1::timestamptz + i * interval '250 milliseconds'"
            " FROM generate_series(1, $2::int) AS i",
            now - dt.timedelta(days=1),
            args.batches,
        ),
    )
    say("VACUUM ANALYZE")
    for table in ("ts_reading", "ts_rollup_hour", "ts_rollup_day", "ts_rollup_month", "ts_batch", "org_point"):
        await connections.get("default").execute_script(f"VACUUM ANALYZE {table}")
    return [*ids, fast.id]


async def measure(
    label: str, repeat: int, query: Callable[[random.Random], Awaitable[object]], rng: random.Random
) -> tuple[str, list[float], int]:
    """Run ``query`` 3 times to warm up, then ``repeat`` times; latencies in ms and the size of the last answer."""
    for _ in range(3):
        await query(rng)
    latencies = []
    size = 0
    for _ in range(repeat):
        start = time.perf_counter()
        answer = await query(rng)
        size = len(msgspec.json.encode(answer))
        latencies.append((time.perf_counter() - start) * 1000)
    return label, latencies, size


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def queries(args: argparse.Namespace, ids: list[int], now: dt.datetime) -> None:
    rng = random.Random(1)  # noqa: S311 - picks points, not secrets
    slow_ids, fast_id = ids[:-1], ids[-1]
    points = {p.id: p for p in await MeasurementPoint.filter(id__in=ids)}

    def ranged(interval: Interval, span: dt.timedelta, point_id: int | None = None) -> Callable[..., Awaitable[object]]:
        async def run(r: random.Random) -> object:
            point = points[point_id if point_id is not None else r.choice(slow_ids)]
            end = now - dt.timedelta(hours=r.randrange(0, 24))
            return await series(point, end - span, end, interval, now=now, zone=SHANGHAI)

        return run

    async def latest_values(r: random.Random) -> object:
        chosen = [points[i] for i in r.sample(slow_ids, min(args.latest, len(slow_ids)))]
        return list((await latest(chosen)).values())

    days = dt.timedelta(days=1)
    plan = [
        ("hour buckets over 30 days (720)", ranged(Interval.HOUR, 30 * days)),
        ("hour buckets over 366 days (8,784)", ranged(Interval.HOUR, min(366, args.hour_days) * days)),
        ("day buckets over 1 year (365)", ranged(Interval.DAY, 365 * days)),
        ("month buckets over 5 years (60)", ranged(Interval.MONTH, 5 * 365 * days)),
        (f"raw over 1 day ({86400 // args.raw_every:,} readings)", ranged(Interval.RAW, days, fast_id)),
        (
            f"raw over 7 days ({7 * 86400 // args.raw_every:,} readings)",
            ranged(Interval.RAW, min(7, args.raw_days) * days, fast_id),
        ),
        (f"latest of {min(args.latest, len(slow_ids)):,} points", latest_values),
    ]
    results = [await measure(label, args.repeat, query, rng) for label, query in plan]
    print(f"\nquery latency ({args.repeat} runs each after 3 warm-up runs; series() / latest() + JSON encoding):")
    print(f"  {'query':<40} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} {'answer':>10}")
    for label, latencies, size in results:
        print(
            f"  {label:<40} {statistics.median(latencies):>9.1f} {_quantile(latencies, 0.95):>9.1f}"
            f" {max(latencies):>9.1f} {size / 1024:>8.0f} kB"
        )


STORAGE_SQL = """
WITH parts AS (
    SELECT COALESCE(p.relname, c.relname) AS logical, c.oid
    FROM pg_class c
    LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
    LEFT JOIN pg_class p ON p.oid = i.inhparent
    WHERE c.relkind = 'r' AND COALESCE(p.relname, c.relname) = ANY($1::text[])
)
SELECT logical AS table, count(*) AS partitions, sum(pg_relation_size(oid)) AS heap,
       sum(pg_indexes_size(oid)) AS indexes, sum(pg_total_relation_size(oid)) AS total
FROM parts GROUP BY logical ORDER BY logical
"""


async def storage() -> None:
    conn = connections.get("default")
    tables = ["ts_reading", "ts_rollup_hour", "ts_rollup_day", "ts_rollup_month", "ts_batch"]
    rows = await conn.execute_query_dict(STORAGE_SQL, [tables])
    counts = {}
    for table in tables:
        found = await conn.execute_query_dict(f"SELECT count(*) AS n FROM {table}")  # noqa: S608 - constants
        counts[table] = int(found[0]["n"])
    print("\nstorage (after VACUUM ANALYZE):")
    print(
        f"  {'table':<16} {'parts':>5} {'rows':>12} {'heap MB':>9} {'index MB':>9}"
        f" {'heap B/row':>11} {'index B/row':>12} {'total B/row':>12}"
    )
    for r in rows:
        n = max(1, counts[r["table"]])
        print(
            f"  {r['table']:<16} {r['partitions']:>5} {n:>12,} {r['heap'] / 2**20:>9.1f}"
            f" {r['indexes'] / 2**20:>9.1f} {r['heap'] / n:>11.1f} {r['indexes'] / n:>12.1f} {r['total'] / n:>12.1f}"
        )
    for table in tables:
        sample = await conn.execute_query_dict(
            f"SELECT avg(pg_column_size(t.*))::float AS tuple, count(*) AS n"  # noqa: S608 - constants
            f" FROM (SELECT * FROM {table} LIMIT 20000) t"
        )
        print(f"  {table}: pg_column_size of a row (tuple data + its 24-byte header) = {sample[0]['tuple']:.1f} B")
    row_size = "SELECT avg(pg_column_size(t.*))::float AS b FROM (SELECT * FROM ts_reading WHERE {} LIMIT 10000) t"
    totaliser = await conn.execute_query_dict(row_size.format("delta IS NOT NULL"))
    flow = await conn.execute_query_dict(row_size.format("delta IS NULL"))
    print(f"  ts_reading row with delta and since: {totaliser[0]['b']:.1f} B; without: {flow[0]['b']:.1f} B")


async def folds(args: argparse.Namespace, ids: list[int], now: dt.datetime) -> None:
    """How long the rollup job takes: a routine fold (30 s of readings of every point every 10 s), and a catch-up
    (30 minutes of them at once, folded 100,000 at a time)."""
    first_id, last_id = ids[0], ids[-2]
    store = store_for()

    async def queue(start: dt.datetime, span_s: int) -> None:
        # 5 s off the 60 s grid of the stored readings; time-ordered, as ingest queues them
        await run_sql(
            "INSERT INTO ts_pending (point_id, ts, value, delta, quality, estimated)"
            " SELECT p, t, 1000 + random() * 10, CASE WHEN p % 2 = 0 THEN random() END, 0, false"
            " FROM generate_series($1::timestamptz, $2::timestamptz, interval '10 seconds') AS t"
            " CROSS JOIN generate_series($3::int, $4::int) AS p ORDER BY t, p",
            start,
            start + dt.timedelta(seconds=span_s - 10),
            first_id,
            last_id,
        )

    this_hour = now.replace(minute=0, second=0, microsecond=0)
    routine = []
    for i in range(args.repeat // 5 or 1):
        await queue(this_hour + dt.timedelta(seconds=5 + 30 * i), 30)
        start = time.perf_counter()
        result = await fold_pending(store)
        routine.append((time.perf_counter() - start) * 1000)
    print(f"\nrollup job ({len(routine)} routine folds; then one catch-up):")
    print(
        f"  routine fold of {result.readings:,} readings ({result.hours:,} hours, {result.days:,} days,"
        f" {result.months:,} months): p50 {statistics.median(routine):.0f} ms, max {max(routine):.0f} ms"
    )
    await queue(this_hour - dt.timedelta(minutes=45) + dt.timedelta(seconds=5), 1800)
    start = time.perf_counter()
    total, rounds = 0, 0
    while (result := await fold_pending(store)).readings:
        total, rounds = total + result.readings, rounds + 1
    took = time.perf_counter() - start
    print(f"  catch-up of {total:,} readings in {rounds} folds: {took:.1f} s, {total / took:,.0f} readings/s")


async def main(args: argparse.Namespace) -> None:
    name = f"cem_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_URL.replace("postgres://", "postgresql://", 1))
    await admin.execute(f'CREATE DATABASE "{name}"')
    say(f"database {name}")
    settings = DatabaseSettings(url=_db_url(name), pool_max=4)
    try:
        await upgrade_db(settings)
        await init_db(settings)
        try:
            now = dt.datetime.now(UTC)
            ids = await fill(args, now)
            await queries(args, ids, now)
            await storage()
            await folds(args, ids, now)
        finally:
            await close_db()
    finally:
        if args.keep:
            say(f"kept database {name}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--hour-days", type=int, default=365)
    parser.add_argument("--day-years", type=int, default=5)
    parser.add_argument("--raw-days", type=int, default=30)
    parser.add_argument("--raw-every", type=int, default=10, help="seconds between readings of the fast point")
    parser.add_argument("--latest-hours", type=int, default=24)
    parser.add_argument("--latest", type=int, default=1000, help="points per latest-values query")
    parser.add_argument("--batches", type=int, default=200_000, help="ts_batch rows, for their size")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
