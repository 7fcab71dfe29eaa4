"""Emission results benchmark: the refresh job keeping a works' year of results, and reads of what it kept.

It creates a throwaway database (migrated with the real migrations) holding one enterprise (Asia/Shanghai) with
``--meter-sources`` (80) metered sources of every category — each with its own totaliser, two for electricity
and heat — and ``--manual-sources`` (20) sources whose activity is entered once a month. Meter data is a year
(``YEAR``) of daily and monthly rollups and ``--hour-days`` (7) days of hourly rollups per point, the last days
of the year, written with SQL.

Every refresh runs at ``now`` = local midnight of 1 January ``YEAR + 1``: the whole year has ended, so every
period of it is final, and the kept hours (``refresh.HOUR_WINDOW``, 35 days back from ``now``) are the last
35 days of the year (840 hours; the last ``--hour-days`` of them have rollups, the others are accounted from
none). A refresh of the year accounts 1 year, 12 months, 53 weeks (the last one ends in January), 365 days
and those 840 hours. It times, with the platform's own functions:

* (a) the first refresh (``cem_platform.accounting.refresh.refresh``) after a mark over the year: every
  result new;
* (b) the same refresh again with nothing changed (a mark over the year): every fingerprint equal, nothing
  written;
* (c) the target: a factor change (``library_store.change_parameters``, ``electrode.ef`` of GB/T 32151.5-2015,
  which marks every enterprise's history), then the refresh of the year: every period gets a new version
  (every period has electrode sources);
* (d) reads of what is kept (``reads.kept_results``): the year by day and by month, repeated;
* (e) the baseline, in the same process: the engine alone (``account``) on the same sources for one period,
  repeated — the pure arithmetic a period costs without I/O;
* and the ledger upload check (``inventory.start_import``) against parsing alone.

Nothing is asserted except that (b) writes nothing and (c) writes every period; the database is dropped at the
end (``--keep`` keeps it). ``--profile FILE`` writes a cProfile of (c). Run from the repository root::

    .venv/bin/python bench/accounting_bench.py
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import time
import uuid
import zoneinfo
from decimal import Decimal
from typing import Any

import asyncpg
from benchkit import table
from series_bench import ADMIN_URL, _db_url, run_sql, say

from cem_platform.accounting import inventory, reads, refresh
from cem_platform.accounting.engine import Quantity, SourceActivity, account
from cem_platform.accounting.ledger import parse_ledger
from cem_platform.accounting.library import EDITION_2015, SourceCategory
from cem_platform.accounting.library_store import ParameterChange, change_parameters
from cem_platform.accounting.models import (
    ActivityRecord,
    EmissionResult,
    EmissionSource,
    PendingRecalculation,
    PeriodKind,
)
from cem_platform.accounting.pending import mark
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
from cem_platform.statistics.services import statistics_of
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


async def add_sources(
    enterprise: Enterprise,
    processes: list[Process],
    facility: Facility,
    meter_sources: int,
    manual_sources: int,
    prefix: str = "",
) -> list[int]:
    """``meter_sources`` metered sources of every kind (each input its own totaliser) and ``manual_sources`` with
    entered data, spread over the processes (those of the first process at ``facility``); the totalisers' point ids.
    Used by load_tests/seed_works.py too."""
    point_ids: list[int] = []
    for n in range(meter_sources + manual_sources):
        category, item, inputs, unit = KINDS[n % len(KINDS)]
        metered = n < meter_sources
        specs = {}
        for name in inputs:
            spec: dict[str, object] = {"origin": "meter" if metered else "manual", "unit": unit}
            if metered:
                point = await MeasurementPoint.create(
                    facility=facility, enterprise=enterprise, code=f"{prefix}M{n}.{name}", name=f"meter {n} {name}",
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
                facility_id=facility.id
                if category not in ("electricity", "heat", "output") and n % len(processes) == 0
                else None,
                inputs=specs,
            ),
        )  # fmt: skip
    return point_ids


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
    point_ids = await add_sources(enterprise, processes, facility, args.meter_sources, args.manual_sources)
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
    hours_from = local(dt.date(YEAR + 1, 1, 1) - dt.timedelta(days=args.hour_days))  # the last days of the year
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


#: Every refresh runs at the end of the year: every period of it final, its last 35 days' hours kept.
NOW = local(dt.date(YEAR + 1, 1, 1))


async def refreshed(
    label: str, rows: list[tuple[str, list[str]]], enterprise_id: int, profile: str | None = None
) -> tuple[float, int, int]:
    """Run the refresh job for the enterprise at :data:`NOW`; a table row; (seconds, periods, results written)."""
    before = set(await EmissionResult.filter(current=True).values_list("id", "fingerprint"))
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    report = await refresh.refresh(now=NOW, enterprise_id=enterprise_id)
    if profiler:
        profiler.disable()
    took = time.perf_counter() - start
    if profiler and profile:
        profiler.dump_stats(profile)
    if report.errors:
        raise RuntimeError(f"the refresh failed: {report.errors}")
    # new versions, and running periods' provisional results refreshed in place
    written = len(set(await EmissionResult.filter(current=True).values_list("id", "fingerprint")) - before)
    per = took / report.periods * 1000 if report.periods else 0.0
    rows.append((label, [str(report.periods), f"{took:.2f}", f"{per:.2f}", str(written)]))
    say(f"  {label}: {took:.2f} s, {report.periods} periods, {written} written")
    return took, report.periods, written


async def read(
    label: str, rows: list[tuple[str, list[str]]], enterprise_id: int, kind: PeriodKind, repeat: int
) -> float:
    """ms per ``kept_results`` call over the year; a table row."""
    year_from, year_to = local(dt.date(YEAR, 1, 1)), local(dt.date(YEAR + 1, 1, 1))
    results = await reads.kept_results(ACTOR, enterprise_id, kind, year_from, year_to, now=NOW)
    if not all(r.kept for r in results):
        raise RuntimeError(f"{label}: a period was not kept")
    start = time.perf_counter()
    for _ in range(repeat):
        await reads.kept_results(ACTOR, enterprise_id, kind, year_from, year_to, now=NOW)
    per = (time.perf_counter() - start) / repeat * 1000
    rows.append((f"{label} ({repeat}×)", [str(len(results)), "", f"{per / len(results):.3f}", "0"]))
    say(f"  {label}: {per:.1f} ms per call")
    return per


async def statistics_read(
    label: str, rows: list[tuple[str, list[str]]], enterprise_id: int, repeat: int, baseline: float, **question: Any
) -> float:
    """ms per ``statistics_of`` call over the year by day; a table row with its ratio to the plain read."""
    year_from, year_to = local(dt.date(YEAR, 1, 1)), local(dt.date(YEAR + 1, 1, 1))
    answer = await statistics_of(ACTOR, enterprise_id, PeriodKind.DAY, year_from, year_to, now=NOW, **question)
    if len(answer.rows) != 365 or not all(r.kept for r in answer.rows):
        raise RuntimeError(f"{label}: {len(answer.rows)} days, not all kept")
    start = time.perf_counter()
    for _ in range(repeat):
        await statistics_of(ACTOR, enterprise_id, PeriodKind.DAY, year_from, year_to, now=NOW, **question)
    per = (time.perf_counter() - start) / repeat * 1000
    rows.append((f"{label} ({repeat}×)", [str(len(answer.rows)), "", f"{per / len(answer.rows):.3f}", "0"]))
    say(f"  {label}: {per:.1f} ms per call, {per / baseline:.1f}x the plain read of (d)")
    return per


async def written_by_kind(since: int) -> str:
    """Results written after result id ``since``, per period kind (e.g. ``day 365, hour 840``)."""
    kinds: list[PeriodKind] = list(
        await EmissionResult.filter(id__gt=since).values_list("period", flat=True)  # type: ignore[arg-type]
    )
    return ", ".join(f"{kind.value} {kinds.count(kind)}" for kind in PeriodKind if kind in kinds)


async def measure(args: argparse.Namespace, enterprise_id: int) -> None:
    """Time (a)..(e) and the ledger check; print the table."""
    rows: list[tuple[str, list[str]]] = []
    year_from, year_to = local(dt.date(YEAR, 1, 1)), local(dt.date(YEAR + 1, 1, 1))
    # Creating the sources marked the enterprise's history up to the real now: one mark over the year instead.
    await PendingRecalculation.filter(enterprise_id=enterprise_id).delete()
    await mark(enterprise_id, year_from, year_to, "source", detail="bench", by="bench")
    _, periods, written = await refreshed("(a) refresh of the year, first", rows, enterprise_id)
    say(f"    written: {await written_by_kind(0)}")
    await mark(enterprise_id, year_from, year_to, "source", detail="bench", by="bench")
    _, _, unchanged = await refreshed("(b) refresh of the year, nothing changed", rows, enterprise_id)
    if unchanged:
        raise RuntimeError(f"{unchanged} results were written with nothing changed")
    last = await EmissionResult.all().order_by("-id").first()
    change = ParameterChange(code="electrode.ef", value="3.700", source="bench")
    await change_parameters(ACTOR, "GB/T 32151.5-2015", [change], "bench")
    took, changed, after_change = await refreshed(
        "(c) refresh of the year after a factor change", rows, enterprise_id, args.profile
    )
    say(f"    written: {await written_by_kind(last.id if last else 0)}")
    if after_change != changed:
        raise RuntimeError(f"the factor change wrote {after_change} of {changed} periods")
    plain = await read("(d) read a year by day", rows, enterprise_id, PeriodKind.DAY, args.reads)
    await statistics_read("(f) statistics, a year by day, by term", rows, enterprise_id, args.reads, plain)
    await statistics_read(
        "(f) statistics, a year by day, by process, 同比 + 环比", rows, enterprise_id, args.reads, plain,
        dimension="process", compare=("yoy", "pop"),
    )  # fmt: skip
    await statistics_read(
        "(f) statistics, energy, a year by day, by carrier", rows, enterprise_id, args.reads, plain, metric="energy"
    )
    facility = await Facility.get(process__site__enterprise_id=enterprise_id, code="F1")
    await statistics_read(
        "(f) statistics, a facility (its sources), a year by day, by source", rows, enterprise_id, args.reads, plain,
        facility=facility, dimension="source",
    )  # fmt: skip
    source = await EmissionSource.get(enterprise_id=enterprise_id, code="S000")
    await statistics_read(
        "(f) statistics, one source, energy, a year by day", rows, enterprise_id, args.reads, plain, source=source,
        metric="energy",
    )  # fmt: skip
    await read("(d) read a year by month", rows, enterprise_id, PeriodKind.MONTH, args.reads)
    rows.extend(await ledger_check(enterprise_id))
    baseline = engine_baseline(args.meter_sources + args.manual_sources, args.repeat)
    rows.append(("(e) engine alone, one period (baseline)", ["1", "", f"{baseline:.2f}", "0"]))
    print()
    print(
        f"{args.meter_sources} metered + {args.manual_sources} manual sources, PostgreSQL, one process;"
        f" refresh at {NOW.astimezone(SHANGHAI):%Y-%m-%d %H:%M} local"
    )
    print(table(rows, ["periods", "total s", "ms/period", "results written"]))
    per_period = took / changed * 1000
    print(f"\n(c) per period / engine alone per period: {per_period / baseline:.1f}x")
    print(f"(c) the year after a factor change: {took:.2f} s (target: under 2 s)")


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
    parser.add_argument("--meter-sources", type=int, default=80)
    parser.add_argument("--manual-sources", type=int, default=20)
    parser.add_argument("--hour-days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=200, help="engine baseline repetitions")
    parser.add_argument("--reads", type=int, default=50, help="repetitions of each read")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of (c) to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
