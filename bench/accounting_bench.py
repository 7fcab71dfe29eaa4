"""Emission recalculation benchmark: accounting a whole works' year, by day, month, year and hour, on PostgreSQL.

It creates a throwaway database (migrated with the real migrations) holding one enterprise (Asia/Shanghai) with
``--meter-sources`` (60) metered sources of every category — each with its own totaliser, two for electricity —
and ``--manual-sources`` (20) sources whose activity is entered once a month. Meter data is a year of daily
and monthly rollups and ``--hour-days`` (7) days of hourly rollups per point, written with SQL.

Then it times, with the platform's own function (``cem_platform.accounting.calculation.results_for``, which
reads the inventory, the rollups and the records, accounts every period with the engine, hashes the lineage and
stores new result versions):

* a year by day (365 periods), months (12), the year (1) and ``--hour-days`` days by hour: first calculation
  (every result new) and again with nothing changed (every fingerprint equal, nothing written);
* a correction of one day's meter data and one month's manual record, then the year by day again (only the
  touched periods get a new version);
* the baseline, in the same process: the engine alone (``account``) on the same sources for one period,
  repeated — the pure arithmetic a period costs without I/O.

Nothing is asserted; the database is dropped at the end (``--keep`` keeps it). Run from the repository root::

    .venv/bin/python bench/accounting_bench.py
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
import uuid
import zoneinfo
from decimal import Decimal

import asyncpg
from benchkit import table
from series_bench import ADMIN_URL, _db_url, run_sql, say

from cem_platform.accounting import calculation, inventory
from cem_platform.accounting.engine import Quantity, SourceActivity, account
from cem_platform.accounting.ledger import parse_ledger
from cem_platform.accounting.library import EDITION_2015, SourceCategory
from cem_platform.accounting.models import ActivityRecord, EmissionResult, PeriodKind
from cem_platform.db import close_db, init_db, upgrade_db
from cem_platform.identity.principal import Principal
from cem_platform.org.models import (
    Enterprise,
    Facility,
    FacilityType,
    MeasurementPoint,
    Process,
    ProcessType,
    Site,
)
from cem_platform.settings import DatabaseSettings
from cem_platform.telemetry.store import store_for

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
YEAR = 2025
# category, item, inputs, unit
KINDS = [
    ("fuel_combustion", "coke", ["FC"], "t"),
    ("fuel_combustion", "natural_gas", ["FC"], "10^4 Nm3"),
    ("flux", "limestone", ["AD"], "t"),
    ("flux", "dolomite", ["AD"], "t"),
    ("electrode", "", ["AD"], "t"),
    ("raw_material", "pig_iron", ["AD"], "t"),
    ("electricity", "", ["purchased", "exported"], "MWh"),
    ("heat", "", ["purchased", "exported"], "GJ"),
    ("fixed_carbon", "crude_steel", ["AD"], "t"),
    ("output", "crude_steel", ["AD"], "t"),
]
ACTOR = Principal.system("bench")


def local(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI).astimezone(dt.UTC)


async def fill(args: argparse.Namespace) -> int:
    """The enterprise, its inventory, a year of rollups and a year of monthly records; the enterprise id."""
    enterprise = await Enterprise.create(code="BENCH", name="基准钢铁", timezone="Asia/Shanghai")
    site = await Site.create(enterprise=enterprise, code="S1", name="works")
    process_type = await ProcessType.get(code="ironmaking")
    processes = [
        await Process.create(site=site, process_type=process_type, code=f"P{i}", name=f"process {i}") for i in range(6)
    ]
    facility = await Facility.create(
        process=processes[0], facility_type=await FacilityType.get(code="blast_furnace"), code="F1", name="f"
    )
    point_ids: list[int] = []
    for n in range(args.meter_sources + args.manual_sources):
        category, item, inputs, unit = KINDS[n % len(KINDS)]
        metered = n < args.meter_sources
        specs = {}
        for name in inputs:
            spec: dict[str, object] = {"origin": "meter" if metered else "manual", "unit": unit}
            if metered:
                point = await MeasurementPoint.create(
                    facility=facility, enterprise=enterprise, code=f"M{n}.{name}", name=f"meter {n} {name}",
                    medium="x", quantity="x", unit="MWh" if unit == "MWh" else unit.replace("10^4 Nm3", "Nm3"),
                    kind="totaliser", sample_seconds=60,
                )  # fmt: skip
                spec["points"] = [{"id": point.id, "sign": 1}]
                point_ids.append(point.id)
            specs[name] = spec
        await inventory.create_source(
            ACTOR,
            enterprise.id,
            inventory.SourceIn(
                code=f"S{n:03d}", name=f"source {n}", category=category, item=item,
                process_id=processes[n % len(processes)].id if category not in ("electricity", "heat") else None,
                inputs=specs,
            ),
        )  # fmt: skip
    first, last = dt.date(YEAR, 1, 1), dt.date(YEAR + 1, 1, 1)
    store = store_for()
    await store.ensure_partition("ts_rollup_hour", first)
    columns = (
        "point_id, bucket, readings, estimated, uncertain, delta_sum, value_min, value_max, value_sum, first_ts,"
        " last_ts, last_value, computed_at"
    )
    await run_sql(
        f"INSERT INTO ts_rollup_day ({columns}) SELECT p, d::date, 1440, 0, 0, 100 + (p * 7 + extract(doy FROM d))"  # noqa: S608 - constant SQL
        " % 50, 0, 1, 1, now(), now(), 1, now() FROM unnest($1::int4[]) AS p,"
        " generate_series($2::date, $3::date - 1, interval '1 day') AS d",
        point_ids, first, last,
    )  # fmt: skip
    await run_sql(
        f"INSERT INTO ts_rollup_month ({columns}) SELECT point_id, date_trunc('month', bucket)::date, sum(readings),"  # noqa: S608 - constant SQL
        " 0, 0, sum(delta_sum), 0, 1, 1, now(), now(), 1, now() FROM ts_rollup_day GROUP BY 1, 2"
    )
    hours_from = local(dt.date(YEAR, 3, 2))
    await run_sql(
        f"INSERT INTO ts_rollup_hour ({columns}) SELECT p, h, 60, 0, 0, 4 + p % 3, 0, 1, 1, now(), now(), 1, now()"  # noqa: S608 - constant SQL
        " FROM unnest($1::int4[]) AS p, generate_series($2::timestamptz, $2::timestamptz + $3 * interval '1 day'"
        " - interval '1 hour', interval '1 hour') AS h",
        point_ids, hours_from, args.hour_days,
    )  # fmt: skip
    for source in await inventory.list_sources(ACTOR, enterprise.id):
        for name, spec in source.inputs.items():
            if spec["origin"] != "manual":
                continue
            for month in range(1, 13):
                start = local(dt.date(YEAR, month, 1))
                end = local(dt.date(YEAR + (month == 12), month % 12 + 1, 1))
                await ActivityRecord.create(
                    enterprise_id=enterprise.id, source_id=source.id, input_name=name, period_start=start,
                    period_end=end, value=Decimal(1000 + month), unit=spec["unit"], origin="manual",
                    entered_by="bench",
                )  # fmt: skip
    return int(enterprise.id)


async def timed(label: str, rows: list[tuple[str, list[str]]], work: object) -> float:
    before = await EmissionResult.all().count()
    start = time.perf_counter()
    results = await work  # type: ignore[misc]
    took = time.perf_counter() - start
    written = await EmissionResult.all().count() - before
    per = took / len(results) * 1000 if results else 0.0
    rows.append((label, [str(len(results)), f"{took:.2f}", f"{per:.1f}", str(written)]))
    say(f"  {label}: {took:.2f} s")
    return per


def engine_baseline(sources: int, repeat: int) -> float:
    """ms per period for the engine alone on ``sources`` sources of the same kinds."""
    activities = []
    for n in range(sources):
        category, item, inputs, unit = KINDS[n % len(KINDS)]
        if category == "output":
            continue
        activity = {name: Quantity(Decimal(100 + n), unit, f"bench:{n}") for name in inputs}
        activities.append(SourceActivity(f"S{n:03d}", f"P{n % 6}", SourceCategory(category), activity, item=item))
    start = time.perf_counter()
    for _ in range(repeat):
        account(EDITION_2015, YEAR, activities, provisional_grid=True)
    return (time.perf_counter() - start) / repeat * 1000


async def ledger_check(enterprise_id: int) -> list[tuple[str, list[str]]]:
    """Validate a ledger of one row per manual input and day of the year (every row overlaps a stored monthly
    record, so every row is checked against the store and reported), against parsing it alone."""
    lines = ["source,input,from,to,value,unit"]
    for source in await inventory.list_sources(ACTOR, enterprise_id):
        for name, spec in source.inputs.items():
            if spec["origin"] == "manual":
                day = dt.date(YEAR, 1, 1)
                while day.year == YEAR:
                    lines.append(f"{source.code},{name},{day},{day},12.5,{spec['unit']}")
                    day += dt.timedelta(days=1)
    content = "\n".join(lines).encode()
    inputs, _ = await inventory._ledger_inputs(enterprise_id)  # noqa: SLF001 - the parser's own input table
    start = time.perf_counter()
    report = parse_ledger("bench.csv", content, inputs, SHANGHAI)
    parse_s = time.perf_counter() - start
    start = time.perf_counter()
    batch = await inventory.start_import(ACTOR, enterprise_id, "bench.csv", content)
    took = time.perf_counter() - start
    rows = len(report.rows)
    if batch.valid_rows or batch.total_rows != rows:  # a row overlapping a stored record went unnoticed
        raise RuntimeError(f"{batch.valid_rows} of {rows} rows were not found to overlap stored records")
    say(f"  ledger of {rows} rows: {took:.2f} s (parsing alone {parse_s:.2f} s)")
    return [
        (f"ledger validation, {rows} rows (all overlap)", [str(rows), f"{took:.2f}", f"{took / rows * 1000:.2f}", "0"]),
        ("ledger parsing alone (baseline)", [str(rows), f"{parse_s:.2f}", f"{parse_s / rows * 1000:.2f}", "0"]),
    ]


async def measure(args: argparse.Namespace, enterprise_id: int) -> None:
    rows: list[tuple[str, list[str]]] = []
    now = dt.datetime.now(dt.UTC)
    year_from, year_to = local(dt.date(YEAR, 1, 1)), local(dt.date(YEAR + 1, 1, 1))

    def run(kind: PeriodKind, start: dt.datetime, end: dt.datetime) -> object:
        return calculation.results_for(ACTOR, enterprise_id, kind, start, end, now=now)

    per_day = await timed("year by day, first", rows, run(PeriodKind.DAY, year_from, year_to))
    await timed("year by day, unchanged", rows, run(PeriodKind.DAY, year_from, year_to))
    await timed("12 months, first", rows, run(PeriodKind.MONTH, year_from, year_to))
    await timed("12 months, unchanged", rows, run(PeriodKind.MONTH, year_from, year_to))
    await timed("the year, first", rows, run(PeriodKind.YEAR, year_from, year_to))
    hours_from = local(dt.date(YEAR, 3, 2))
    hours_to = hours_from + dt.timedelta(days=args.hour_days)
    await timed(f"{args.hour_days} days by hour, first", rows, run(PeriodKind.HOUR, hours_from, hours_to))
    # A correction: one day of one meter, one month of one manual source.
    point = await MeasurementPoint.filter(enterprise_id=enterprise_id).order_by("id").first()
    assert point is not None  # noqa: S101
    await run_sql("UPDATE ts_rollup_day SET delta_sum = delta_sum + 1 WHERE point_id = $1 AND bucket = $2",
                  point.id, dt.date(YEAR, 6, 15))  # fmt: skip
    record = await ActivityRecord.filter(enterprise_id=enterprise_id).order_by("id").first()
    if record is not None:
        await ActivityRecord.filter(id=record.id).update(value=record.value + 1)
    await timed("year by day after 2 corrections", rows, run(PeriodKind.DAY, year_from, year_to))
    rows.extend(await ledger_check(enterprise_id))
    baseline = engine_baseline(args.meter_sources + args.manual_sources, args.repeat)
    rows.append(("engine alone, one period (baseline)", ["1", "", f"{baseline:.1f}", "0"]))
    print()
    print(f"{args.meter_sources} metered + {args.manual_sources} manual sources, PostgreSQL, one process")
    print(table(rows, ["periods", "total s", "ms/period", "results written"]))
    print(f"\nfull path / engine alone, per day period (first calculation): {per_day / baseline:.1f}x")


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
            enterprise_id = await fill(args)
            await measure(args, enterprise_id)
        finally:
            await close_db()
    finally:
        if args.keep:
            say(f"kept database {name}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--meter-sources", type=int, default=60)
    parser.add_argument("--manual-sources", type=int, default=20)
    parser.add_argument("--hour-days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=200, help="engine baseline repetitions")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
