"""A PostgreSQL database for the emissions load test: the demo works with 100 sources and five years of history.

It creates (or reuses) the database named by ``--database`` on the local PostgreSQL, migrates it, seeds the demo
group and its accounts (``cem_platform.seed.seed_demo``: demo-executive, demo-crew, demo-auditor... with the demo
password), then adds to the demo enterprise ``--meter-sources`` (80) metered sources of every category — each with
its own totaliser — and ``--manual-sources`` (20) sources with a record per month. Meter data is written with SQL:
five years of daily and monthly rollups up to today, and hourly rollups for the last 35 days (the hours the
platform keeps results for). Finally the refresh job accounts everything once, as it would in production, and
the time it took is printed.

Run from the repository root (about two minutes), then serve the database and run Locust (load_tests/README.md)::

    .venv/bin/python load_tests/seed_works.py --database cem_load
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
import zoneinfo
from decimal import Decimal
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from accounting_bench import add_sources  # noqa: E402 - the benchmark's works, shared

from cem_platform.accounting import inventory  # noqa: E402
from cem_platform.accounting.models import ActivityRecord, EmissionResult  # noqa: E402
from cem_platform.accounting.pending import mark  # noqa: E402
from cem_platform.accounting.refresh import refresh  # noqa: E402
from cem_platform.db import close_db, init_db, upgrade_db  # noqa: E402
from cem_platform.identity.principal import Principal  # noqa: E402
from cem_platform.org.models import Enterprise, Facility, Process  # noqa: E402
from cem_platform.seed import seed_demo  # noqa: E402
from cem_platform.settings import DatabaseSettings, get_settings  # noqa: E402
from cem_platform.telemetry.store import store_for  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
YEARS = 5
HOUR_DAYS = 35
ACTOR = Principal.system("load-test-seed")
COLUMNS = (
    "point_id, bucket, readings, estimated, uncertain, delta_sum, value_min, value_max, value_sum, first_ts,"
    " last_ts, last_value, computed_at"
)


def local(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI).astimezone(dt.UTC)


async def sql(url: str, query: str, *args: object) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(query, *args)
    finally:
        await connection.close()


async def fill(args: argparse.Namespace, url: str) -> int:
    settings = get_settings()
    await seed_demo(settings)
    enterprise = await Enterprise.get(code="HXSTEEL")
    if await inventory.list_sources(ACTOR, enterprise.id):
        print("the demo enterprise has sources already: kept as they are", flush=True)
        return int(enterprise.id)
    processes = await Process.filter(site__enterprise_id=enterprise.id).order_by("code")
    facility = await Facility.filter(process_id=processes[0].id).first()
    assert facility is not None  # noqa: S101 - seed_demo made it
    point_ids = await add_sources(
        enterprise, list(processes), facility, args.meter_sources, args.manual_sources, prefix="LOAD."
    )
    today = dt.datetime.now(SHANGHAI).date()
    first = dt.date(today.year - YEARS + 1, 1, 1)
    store = store_for()
    for year in range(first.year, today.year + 1):
        await store.ensure_partition("ts_rollup_hour", dt.date(year, 1, 1))
    await sql(
        url,
        f"INSERT INTO ts_rollup_day ({COLUMNS}) SELECT p, d::date, 1440, 0, 0, 100 + (p * 7 + extract(doy FROM d))"  # noqa: S608 - constant SQL
        " % 50, 0, 1, 1, now(), now(), 1, now() FROM unnest($1::int4[]) AS p,"
        " generate_series($2::date, $3::date, interval '1 day') AS d",
        point_ids, first, today,
    )  # fmt: skip
    await sql(
        url,
        f"INSERT INTO ts_rollup_month ({COLUMNS}) SELECT point_id, date_trunc('month', bucket)::date, sum(readings),"  # noqa: S608 - constant SQL
        " 0, 0, sum(delta_sum), 0, 1, 1, now(), now(), 1, now() FROM ts_rollup_day WHERE point_id = ANY($1::int4[])"
        " GROUP BY 1, 2",
        point_ids,
    )
    hours_from = local(today - dt.timedelta(days=HOUR_DAYS))
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    await sql(
        url,
        f"INSERT INTO ts_rollup_hour ({COLUMNS}) SELECT p, h, 60, 0, 0, 4 + p % 3, 0, 1, 1, now(), now(), 1, now()"  # noqa: S608 - constant SQL
        " FROM unnest($1::int4[]) AS p, generate_series($2::timestamptz, $3::timestamptz, interval '1 hour') AS h",
        point_ids, hours_from, now,
    )  # fmt: skip
    records = []
    for source in await inventory.list_sources(ACTOR, enterprise.id):
        for name, spec in source.inputs.items():
            if spec["origin"] != "manual":
                continue
            month = first
            while month <= today:
                following = dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)
                records.append(
                    ActivityRecord(
                        enterprise_id=enterprise.id,
                        source_id=source.id,
                        input_name=name,
                        period_start=local(month),
                        period_end=local(following),
                        value=Decimal(1000 + month.month),
                        unit=spec["unit"],
                        origin="manual",
                        entered_by="load-test-seed",
                    )  # fmt: skip
                )
                month = following
    await ActivityRecord.bulk_create(records, batch_size=1000)
    await mark(enterprise.id, local(first), dt.datetime.now(dt.UTC), "import", detail="load-test history")
    return int(enterprise.id)


async def main(args: argparse.Namespace) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", args.database)
    if not exists:
        await admin.execute(f'CREATE DATABASE "{args.database}"')
    await admin.close()
    url = f"postgresql://postgres@127.0.0.1:5432/{args.database}"
    settings = DatabaseSettings(url=url.replace("postgresql://", "postgres://", 1), pool_max=4)
    await upgrade_db(settings)
    await init_db(settings)
    try:
        started = time.perf_counter()
        enterprise_id = await fill(args, url)
        print(f"history written in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        report = await refresh(enterprise_id=enterprise_id)
        kept = await EmissionResult.filter(enterprise_id=enterprise_id, current=True).count()
        print(
            f"refresh: {report.periods} periods accounted, {report.new_versions} results written, {kept} kept, "
            f"{time.perf_counter() - started:.1f} s, errors {report.errors or 'none'}",
            flush=True,
        )
    finally:
        await close_db()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database", default="cem_load")
    parser.add_argument("--meter-sources", type=int, default=80)
    parser.add_argument("--manual-sources", type=int, default=20)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
