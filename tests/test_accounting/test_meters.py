"""Activity data from meters: totals and integrals over local days, months and UTC hours, exact conversions,
signs, completeness, estimation, errors; the same figures on SQLite.

Values written are exact in binary (2.5, 0.125...), so the rollups' double sums are exact and every expected
figure is an exact Decimal. Run as ``python -m tests.test_accounting.test_meters <sqlite-file>`` (from the
repository root) to print the SQLite side of the parity scenario as JSON.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from tortoise import connections

from cem_platform.accounting.formulas import AccountingError
from cem_platform.accounting.meters import MeterDataError, MeterQuantity, MeterTerm, meter_quantity
from cem_platform.org.models import Facility, MeasurementPoint
from cem_platform.telemetry.rollup import fold_pending
from cem_platform.telemetry.store import Row, dt_to_ms, store_for
from tests.test_platform.world import World, make_org
from tests.test_timeseries.helpers import SHANGHAI, UTC, write

D = Decimal
ROOT = Path(__file__).resolve().parents[2]
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
DAY = dt.datetime(2025, 3, 9, 16, tzinfo=UTC)  # local 2025-03-10 00:00 in Shanghai
NEXT_DAY = DAY + dt.timedelta(days=1)
MARCH = dt.datetime(2025, 2, 28, 16, tzinfo=UTC)  # local 2025-03-01 00:00
APRIL = dt.datetime(2025, 3, 31, 16, tzinfo=UTC)  # local 2025-04-01 00:00
MINUTE = dt.timedelta(minutes=1)


async def _point(
    facility: Facility, enterprise_id: int, code: str, unit: str, kind: str = "totaliser", sample_seconds: int = 60
) -> MeasurementPoint:
    return await MeasurementPoint.create(
        facility=facility,
        enterprise_id=enterprise_id,
        code=code,
        name=code,
        medium="test",
        quantity="test",
        unit=unit,
        kind=kind,
        sample_seconds=sample_seconds,
    )


def _rows(
    point: MeasurementPoint,
    first: dt.datetime,
    count: int,
    *,
    every: dt.timedelta = MINUTE,
    value: float | list[float] = 0.0,
    delta: float | None = None,
    estimated: bool = False,
) -> list[Row]:
    """``count`` readings ``every`` apart from ``first``; values cycle through ``value`` when it is a list."""
    values = value if isinstance(value, list) else [value]
    return [
        Row(
            point_id=point.id,
            ts=dt_to_ms(first + i * every),
            value=values[i % len(values)],
            delta=delta,
            estimated=estimated,
            flags=1 if estimated else 0,
            seq=i,
        )
        for i in range(count)
    ]


async def _store(*rows: list[Row]) -> None:
    store = store_for()
    await write(store, [row for chunk in rows for row in chunk])
    await fold_pending(store)


async def _quantity(
    terms: list[MeterTerm] | MeasurementPoint,
    start: dt.datetime,
    end: dt.datetime,
    unit: str,
    zone: zoneinfo.ZoneInfo = SHANGHAI,
    **options: Any,
) -> MeterQuantity:
    given = [MeterTerm(terms.id)] if isinstance(terms, MeasurementPoint) else terms
    return await meter_quantity(given, start, end, unit, zone=zone, **options)


# --- totalisers ---------------------------------------------------------------------------------------------------


async def test_totaliser_over_a_local_day_is_the_sum_of_the_increments_written(world: World) -> None:
    coke = world.a.point  # ENTA.BF1.COKE, t, read every 60 s
    deltas = [0.25 * (i % 7 + 1) for i in range(1440)]
    inside = [
        Row(point_id=coke.id, ts=dt_to_ms(DAY + i * MINUTE), value=float(i), delta=d, seq=i)
        for i, d in enumerate(deltas)
    ]
    # the last minute of the day before (local) and the first of the day after: not in the day
    outside = [
        Row(point_id=coke.id, ts=dt_to_ms(DAY - MINUTE), value=0.0, delta=1000.0),
        Row(point_id=coke.id, ts=dt_to_ms(NEXT_DAY), value=0.0, delta=1000.0),
    ]
    await _store(inside, outside)

    result = await _quantity(world.a.point, DAY, NEXT_DAY, "t", enterprise_id=world.a.enterprise.id)

    assert result.value == D(str(sum(deltas))) == D("1438.75")
    assert (result.unit, result.complete, result.completeness, result.estimated) == ("t", True, 1.0, False)
    assert result.origin == "meter:ENTA.BF1.COKE"
    (detail,) = result.details
    assert detail["id"] == coke.id and detail["code"] == "ENTA.BF1.COKE"
    assert (detail["unit"], detail["amount"], detail["value"], detail["sign"]) == ("t", D("1438.75"), D("1438.75"), 1)
    assert (detail["readings"], detail["expected"], detail["completeness"], detail["rollup"]) == (
        1440,
        1440.0,
        1.0,
        "day",
    )
    in_kg = await _quantity(world.a.point, DAY, NEXT_DAY, "kg")
    assert (in_kg.value, in_kg.unit) == (D("1438750"), "kg")
    assert in_kg.details[0]["amount"] == D("1438.75")  # in the point's unit


async def test_totaliser_over_a_local_month_reads_the_month_rollup(world: World) -> None:
    coke = world.a.point
    await _store(
        [
            Row(point_id=coke.id, ts=dt_to_ms(MARCH - MINUTE), value=0.0, delta=100.0),  # local 28 February
            Row(point_id=coke.id, ts=dt_to_ms(MARCH), value=0.0, delta=1.5),  # local 1 March, 00:00
            Row(point_id=coke.id, ts=dt_to_ms(DAY + 5 * MINUTE), value=0.0, delta=10.125),
            Row(point_id=coke.id, ts=dt_to_ms(APRIL - MINUTE), value=0.0, delta=2.25),  # local 31 March, 23:59
            Row(point_id=coke.id, ts=dt_to_ms(APRIL), value=0.0, delta=100.0),  # local 1 April
        ]
    )

    month = await _quantity(coke, MARCH, APRIL, "t")
    assert month.value == D("13.875")
    assert month.details[0]["rollup"] == "month"
    assert month.details[0]["expected"] == 31 * 1440.0
    assert not month.complete and month.completeness == pytest.approx(3 / (31 * 1440))
    # two months, and days across the month's turn, give the same increments
    two = await _quantity(coke, MARCH - dt.timedelta(days=28), APRIL, "t")
    assert (two.value, two.details[0]["rollup"]) == (D("113.875"), "month")
    days = await _quantity(coke, MARCH - dt.timedelta(days=1), MARCH + dt.timedelta(days=1), "t")
    assert (days.value, days.details[0]["rollup"]) == (D("101.5"), "day")


async def test_conversions_to_the_asked_unit_are_exact(world: World) -> None:
    a = world.a
    power = await _point(a.facility, a.enterprise.id, "ENTA.BF1.KWH", "kWh")
    gas = await _point(a.facility, a.enterprise.id, "ENTA.BF1.NG", "Nm3")
    await _store(
        [
            Row(point_id=power.id, ts=dt_to_ms(DAY + i * MINUTE), value=0.0, delta=d)
            for i, d in enumerate([1234.5, 0.125])
        ],
        [Row(point_id=gas.id, ts=dt_to_ms(DAY + i * MINUTE), value=0.0, delta=d) for i, d in enumerate([12345.5, 0.5])],
    )
    assert (await _quantity(power, DAY, NEXT_DAY, "MWh")).value == D("1.234625")
    assert (await _quantity(power, DAY, NEXT_DAY, "GJ")).value == D("4.44465")  # 1 kWh = 0.0036 GJ
    assert (await _quantity(power, DAY, NEXT_DAY, "万千瓦时")).unit == "10^4 kWh"  # the canonical spelling
    in_10k = await _quantity(gas, DAY, NEXT_DAY, "10^4 Nm3")
    assert (in_10k.value, in_10k.unit) == (D("1.2346"), "10^4 Nm3")
    assert in_10k.details[0]["amount"] == D("12346")


async def test_signed_terms_add_and_subtract_exactly(world: World) -> None:
    a = world.a
    to_plant = await _point(a.facility, a.enterprise.id, "PW.PB1.BFG", "Nm3")
    sold = await _point(a.facility, a.enterprise.id, "SALE.BFG", "10^3 Nm3")
    await _store(
        _rows(to_plant, DAY, 4, delta=2500.25),
        _rows(sold, DAY, 2, delta=0.75),  # 1.5 thousand Nm3
    )
    terms = [MeterTerm(to_plant.id), MeterTerm(sold.id, sign=-1)]

    result = await _quantity(terms, DAY, NEXT_DAY, "Nm3")

    assert result.value == D("10001") - D("1500") == D("8501")
    assert result.origin == "meter:PW.PB1.BFG-SALE.BFG"
    assert [(d["code"], d["sign"], d["amount"], d["value"]) for d in result.details] == [
        ("PW.PB1.BFG", 1, D("10001"), D("10001")),
        ("SALE.BFG", -1, D("1.5"), D("-1500")),
    ]
    reversed_ = await _quantity(terms[::-1], DAY, NEXT_DAY, "10^4 Nm3")
    assert (reversed_.value, reversed_.origin) == (D("0.8501"), "meter:-SALE.BFG+PW.PB1.BFG")


# --- flows ----------------------------------------------------------------------------------------------------------


async def test_flow_in_t_per_hour_is_integrated_hour_by_hour(world: World) -> None:
    a = world.a
    flow = await _point(a.facility, a.enterprise.id, "IR.BF1.COKE.FLOW", "t/h", kind="flow")
    hour = dt.datetime(2025, 3, 10, 2, tzinfo=UTC)  # 10:00 in Shanghai: not a local day, whole UTC hours
    await _store(
        _rows(flow, hour - MINUTE, 1, value=1000.0),  # the hour before: not in the period
        _rows(flow, hour, 60, value=30.0),  # 30 t/h for an hour
        _rows(flow, hour + dt.timedelta(hours=1), 60, value=[10.0, 20.0]),  # 15 t/h on average
        _rows(flow, hour + dt.timedelta(hours=2), 1, value=1000.0),  # the hour after
    )

    result = await _quantity(flow, hour, hour + dt.timedelta(hours=2), "t")

    assert (result.value, result.unit, result.complete) == (D("45"), "t", True)
    detail = result.details[0]
    assert (detail["unit"], detail["point_unit"], detail["rollup"], detail["readings"]) == ("t", "t/h", "hour", 120)
    assert (await _quantity(flow, hour, hour + dt.timedelta(hours=2), "kg")).value == D("45000")


async def test_flow_with_gaps_counts_each_bucket_at_its_mean_and_is_incomplete(world: World) -> None:
    a = world.a
    flow = await _point(a.facility, a.enterprise.id, "IR.BF1.PCI.FLOW", "t/h", kind="flow")
    hour = dt.datetime(2025, 3, 10, 2, tzinfo=UTC)
    await _store(_rows(flow, hour, 20, every=3 * MINUTE, value=[7.0, 9.0]))  # every third reading, 8 t/h

    result = await _quantity(flow, hour, hour + dt.timedelta(hours=2), "t")

    assert result.value == D("8")  # the first hour at its mean; the empty second hour adds nothing
    assert result.completeness == pytest.approx(20 / 120) and not result.complete
    assert result.details[0]["expected"] == 120.0


async def test_power_in_mw_integrates_to_mwh_over_a_local_day(world: World) -> None:
    a = world.a
    load = await _point(a.facility, a.enterprise.id, "PW.PB1.LOAD", "MW", kind="flow", sample_seconds=900)
    furnace = await _point(a.facility, a.enterprise.id, "EAF.EF1.LOAD", "kW", kind="flow", sample_seconds=900)
    every = dt.timedelta(minutes=15)
    await _store(
        _rows(load, DAY, 96, every=every, value=[12.0, 13.0]),  # 12.5 MW all day
        _rows(furnace, DAY, 96, every=every, value=250.5),
    )

    mwh = await _quantity(load, DAY, NEXT_DAY, "MWh")
    assert (mwh.value, mwh.details[0]["unit"], mwh.details[0]["rollup"], mwh.complete) == (D("300"), "MWh", "day", True)
    assert (await _quantity(load, DAY, NEXT_DAY, "GJ")).value == D("1080")
    both = await _quantity([MeterTerm(load.id), MeterTerm(furnace.id)], DAY, NEXT_DAY, "kWh")
    assert both.value == D("300000") + D("6012")
    assert [d["unit"] for d in both.details] == ["MWh", "kWh"]


async def test_flow_in_kg_per_second(world: World) -> None:
    a = world.a
    flow = await _point(a.facility, a.enterprise.id, "BOF.LD1.O2", "kg/s", kind="flow")
    hour = dt.datetime(2025, 3, 10, 2, tzinfo=UTC)
    await _store(_rows(flow, hour, 60, value=2.5))
    assert (await _quantity(flow, hour, hour + dt.timedelta(hours=1), "t")).value == D("9")  # 2.5 kg/s x 3600 s


async def test_a_local_day_of_a_daylight_saving_change_has_its_real_hours(world: World) -> None:
    a = world.a
    a.enterprise.timezone = "Europe/Berlin"
    await a.enterprise.save()
    flow = await _point(a.facility, a.enterprise.id, "DE.FLOW", "t/h", kind="flow", sample_seconds=600)
    start = dt.datetime(2025, 3, 30, tzinfo=BERLIN).astimezone(UTC)  # clocks go forward: a 23-hour day
    end = dt.datetime(2025, 3, 31, tzinfo=BERLIN).astimezone(UTC)
    await _store(_rows(flow, start, 138, every=dt.timedelta(minutes=10), value=10.0))

    result = await _quantity(flow, start, end, "t", zone=BERLIN)

    assert (result.value, result.details[0]["rollup"], result.details[0]["expected"]) == (D("230"), "day", 138.0)
    assert result.complete


# --- completeness, estimation, hours --------------------------------------------------------------------------------


async def test_completeness_is_the_lowest_share_over_the_points(world: World) -> None:
    a = world.a
    half = await _point(a.facility, a.enterprise.id, "ENTA.BF1.HALF", "t")
    await _store(_rows(a.point, DAY, 1440, delta=0.5), _rows(half, DAY, 720, delta=1.0))
    terms = [MeterTerm(a.point.id), MeterTerm(half.id)]

    result = await _quantity(terms, DAY, NEXT_DAY, "t")

    assert result.value == D("1440")
    assert (result.completeness, result.complete) == (0.5, False)
    assert [d["completeness"] for d in result.details] == [1.0, 0.5]
    assert (await _quantity(terms, DAY, NEXT_DAY, "t", threshold=0.5)).complete
    # the same day counted in a period twice as long: half of the full meter's readings are missing
    longer = await _quantity(terms, DAY, NEXT_DAY + dt.timedelta(days=1), "t")
    assert (longer.value, longer.completeness, longer.details[0]["expected"]) == (D("1440"), 0.25, 2880.0)
    nothing = await _quantity(terms, NEXT_DAY, NEXT_DAY + dt.timedelta(days=1), "t")
    assert (nothing.value, nothing.completeness, nothing.complete, nothing.estimated) == (D("0"), 0.0, False, False)


async def test_estimated_readings_are_flagged(world: World) -> None:
    a = world.a
    other = await _point(a.facility, a.enterprise.id, "ENTA.BF1.PCI", "t")
    await _store(
        _rows(a.point, DAY, 100, delta=1.0),
        _rows(a.point, DAY + 100 * MINUTE, 5, delta=1.0, estimated=True),  # filled in by the gateway
        _rows(other, DAY, 100, delta=1.0),
    )

    result = await _quantity([MeterTerm(a.point.id), MeterTerm(other.id)], DAY, NEXT_DAY, "t")

    assert (result.value, result.estimated) == (D("205"), True)
    assert [(d["estimated"], d["estimated_readings"], d["readings"]) for d in result.details] == [
        (True, 5, 105),
        (False, 0, 100),
    ]
    assert not (await _quantity(other, DAY, NEXT_DAY, "t")).estimated


async def test_whole_utc_hours_read_the_hour_rollups(world: World) -> None:
    coke = world.a.point
    start = dt.datetime(2025, 3, 10, 2, tzinfo=UTC)
    end = start + dt.timedelta(hours=3)
    await _store(
        _rows(coke, start - MINUTE, 1, delta=100.0),
        _rows(coke, start, 180, delta=0.125),
        _rows(coke, end, 1, delta=100.0),
    )

    result = await _quantity(coke, start, end, "t")

    assert (result.value, result.complete) == (D("22.5"), True)
    assert (result.details[0]["rollup"], result.details[0]["expected"], result.details[0]["readings"]) == (
        "hour",
        180.0,
        180,
    )


async def test_one_rollup_query_serves_every_point(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    a = world.a
    points = [a.point] + [await _point(a.facility, a.enterprise.id, f"ENTA.M{i}", "t") for i in range(4)]
    await _store(*(_rows(p, DAY, 3, delta=1.0) for p in points))
    conn = connections.get("default")
    queries: list[str] = []
    real = conn.execute_query

    async def counting(sql: str, values: list[Any] | None = None) -> Any:
        queries.append(sql)
        return await real(sql, values)

    monkeypatch.setattr(conn, "execute_query", counting)
    result = await _quantity([MeterTerm(p.id) for p in points], DAY, NEXT_DAY, "t")
    assert result.value == D("15")
    assert len([q for q in queries if "ts_rollup" in q]) == 1


# --- errors ---------------------------------------------------------------------------------------------------------


async def _refused(terms: list[MeterTerm] | MeasurementPoint, *args: Any, **options: Any) -> MeterDataError:
    with pytest.raises(MeterDataError) as caught:
        await _quantity(terms, *args, **options)
    assert isinstance(caught.value, AccountingError) and caught.value.code == "meter_data_error"
    return caught.value


async def test_a_state_point_gives_no_amount(world: World) -> None:
    a = world.a
    state = await _point(a.facility, a.enterprise.id, "IR.BF1.RUN", "1", kind="state")
    error = await _refused(state, DAY, NEXT_DAY, "t")
    assert "IR.BF1.RUN" in error.message and "a state point cannot give an amount" in error.message
    pressure = await _point(a.facility, a.enterprise.id, "IR.BF1.P", "kPa", kind="flow")
    assert "not a rate" in (await _refused(pressure, DAY, NEXT_DAY, "t")).message


async def test_periods_that_rollups_cannot_cover_are_refused(world: World) -> None:
    coke = world.a.point
    half_hour = dt.datetime(2025, 3, 10, 2, 30, tzinfo=UTC)
    error = await _refused(coke, DAY, half_hour, "t")
    assert "neither whole local days (Asia/Shanghai) nor whole UTC hours" in error.message
    assert "local midnight" in error.hint
    await _refused(coke, half_hour, half_hour + dt.timedelta(hours=1), "t")
    await _refused(coke, DAY + dt.timedelta(seconds=1), NEXT_DAY + dt.timedelta(seconds=1), "t")
    assert "aware" in (await _refused(coke, DAY.replace(tzinfo=None), NEXT_DAY, "t")).message
    assert "empty" in (await _refused(coke, NEXT_DAY, DAY, "t")).message
    assert "empty" in (await _refused(coke, DAY, DAY, "t")).message


async def test_units_that_do_not_convert_are_refused_naming_the_point(world: World) -> None:
    a = world.a
    steam = await _point(a.facility, a.enterprise.id, "PW.PB1.STEAM", "t_steam")
    error = await _refused(steam, DAY, NEXT_DAY, "GJ")
    assert "PW.PB1.STEAM" in error.message and "enthalpy" in error.message
    assert error.details == {"point_id": steam.id, "code": "PW.PB1.STEAM", "unit": "t_steam", "asked": "GJ"}
    assert "ENTA.BF1.COKE" in (await _refused(a.point, DAY, NEXT_DAY, "Nm3")).message
    assert "not known" in (await _refused(a.point, DAY, NEXT_DAY, "ton")).message
    cubic = await _point(a.facility, a.enterprise.id, "IR.BF1.WATER", "m3/h", kind="flow")
    assert "IR.BF1.WATER" in (await _refused(cubic, DAY, NEXT_DAY, "Nm3")).message  # m3 is not normalised


async def test_unknown_and_foreign_points_are_refused(world: World) -> None:
    a, b = world.a, world.b
    unknown = await _refused([MeterTerm(a.point.id), MeterTerm(987654)], DAY, NEXT_DAY, "t")
    assert "987654" in unknown.message and unknown.details == {"point_ids": [987654]}
    foreign = await _refused([MeterTerm(b.point.id)], DAY, NEXT_DAY, "t", enterprise_id=a.enterprise.id)
    assert "ENTB.BF1.COKE" in foreign.message and "another enterprise" in foreign.message
    mixed = await _refused([MeterTerm(a.point.id), MeterTerm(b.point.id)], DAY, NEXT_DAY, "t")
    assert "different enterprises" in mixed.message
    assert "Asia/Shanghai" in (await _refused(a.point, DAY, NEXT_DAY, "t", zone=zoneinfo.ZoneInfo("UTC"))).message


async def test_malformed_terms_are_refused(world: World) -> None:
    coke = world.a.point
    assert "at least one" in (await _refused([], DAY, NEXT_DAY, "t")).message
    assert "+1 or -1" in (await _refused([MeterTerm(coke.id, sign=2)], DAY, NEXT_DAY, "t")).message
    assert "twice" in (await _refused([MeterTerm(coke.id), MeterTerm(coke.id, -1)], DAY, NEXT_DAY, "t")).message
    assert "threshold" in (await _refused(coke, DAY, NEXT_DAY, "t", threshold=1.5)).message


# --- SQLite parity --------------------------------------------------------------------------------------------------


async def _scenario() -> dict[str, Any]:
    """Points of each kind with readings over two local days, folded; meter quantities of every period kind."""
    org = await make_org("ENTA", "甲钢铁")
    e = org.enterprise.id
    power = await _point(org.facility, e, "PW.KWH", "kWh")
    gas = await _point(org.facility, e, "SALE.BFG", "Nm3", sample_seconds=120)
    flow = await _point(org.facility, e, "IR.FLOW", "t/h", kind="flow")
    load = await _point(org.facility, e, "PW.LOAD", "MW", kind="flow", sample_seconds=300)
    await _store(
        _rows(org.point, DAY - 30 * MINUTE, 2 * 1440, value=1.0, delta=0.375),
        # filled-in readings between those of the grid, on the second day
        _rows(
            org.point,
            DAY + 2000 * MINUTE + dt.timedelta(seconds=30),
            10,
            every=dt.timedelta(seconds=7),
            delta=0.5,
            estimated=True,
        ),
        _rows(power, DAY, 1200, delta=12.25),
        _rows(gas, DAY, 500, every=2 * MINUTE, delta=40.5),
        _rows(flow, DAY + 90 * MINUTE, 1440, value=[20.0, 30.0, 40.0]),
        _rows(load, DAY, 400, every=5 * MINUTE, value=[8.5, 9.5]),
    )
    hour = DAY + dt.timedelta(hours=3)
    cases = {
        "day": ([MeterTerm(org.point.id)], DAY, NEXT_DAY, "t"),
        "two_days": ([MeterTerm(org.point.id)], DAY, NEXT_DAY + dt.timedelta(days=1), "kg"),
        "energy_day": ([MeterTerm(power.id), MeterTerm(load.id)], DAY, NEXT_DAY, "kWh"),
        "month": ([MeterTerm(power.id), MeterTerm(load.id)], MARCH, APRIL, "MWh"),
        "flow_day": ([MeterTerm(flow.id)], DAY, NEXT_DAY, "t"),
        "hours": ([MeterTerm(flow.id), MeterTerm(org.point.id)], hour, hour + dt.timedelta(hours=5), "t"),
        "gas": ([MeterTerm(gas.id, -1)], DAY, NEXT_DAY, "10^4 Nm3"),
        "unknown": ([MeterTerm(gas.id), MeterTerm(gas.id + 1000)], DAY, NEXT_DAY, "Nm3"),
    }
    figures: dict[str, Any] = {}
    for name, (terms, start, end, unit) in cases.items():
        try:
            q = await meter_quantity(terms, start, end, unit, zone=SHANGHAI, threshold=0.9)
        except MeterDataError as err:
            figures[name] = {"error": err.message}
            continue
        figures[name] = {
            "value": str(q.value),
            "unit": q.unit,
            "complete": q.complete,
            "completeness": q.completeness,
            "estimated": q.estimated,
            "origin": q.origin,
            "details": [
                {k: str(v) if isinstance(v, Decimal) else v for k, v in d.items() if k != "id"} for d in q.details
            ],
        }
    return figures


async def test_sqlite_gives_the_same_quantities_as_postgresql(app: Litestar, tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.test_accounting.test_meters",
        str(tmp_path / "demo.sqlite3"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()[-3000:]
    on_sqlite = json.loads(out)
    on_postgres = await _scenario()
    assert on_postgres == on_sqlite
    # and the figures are the ones written
    figures = {name: case.get("value") for name, case in on_postgres.items()}
    assert figures == {
        "day": "540",  # 1440 x 0.375 t
        "two_days": "1073750",  # (2850 x 0.375 + 10 x 0.5) t in kg
        "energy_day": "230700",  # 1200 x 12.25 kWh + 9 MW x 24 h (288 readings, 8.5 and 9.5)
        "month": "6710.7",  # 14.7 MWh + 9 MW x 744 h: the month's mean over the whole month (incomplete)
        "flow_day": "720",  # 30 t/h: the day's mean over 24 hours (the first 90 minutes missing)
        "hours": "262.5",  # 5 x 30 t + 300 x 0.375 t
        "gas": "-2.025",  # 500 x 40.5 Nm3 sold
        "unknown": None,
    }
    assert "no measurement point" in on_postgres["unknown"]["error"]
    assert on_postgres["hours"]["details"][0]["rollup"] == "hour"
    assert on_postgres["month"]["details"][1]["rollup"] == "month"
    assert (on_postgres["two_days"]["estimated"], on_postgres["day"]["estimated"]) == (True, False)
    assert (on_postgres["flow_day"]["completeness"], on_postgres["flow_day"]["complete"]) == (0.9375, True)


async def _main(path: str) -> None:
    from cem_platform.db import close_db, init_db, upgrade_db
    from cem_platform.settings import DatabaseSettings, Settings

    settings = Settings(database=DatabaseSettings(url=f"sqlite://{path}"))
    await upgrade_db(settings.database)
    await init_db(settings.database)
    try:
        figures = await _scenario()
    finally:
        await close_db()
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1]))


def test_a_totalisers_deltas_sum_exactly_as_fractions_would() -> None:
    """The decimal sum of stored doubles equals the exact rational sum, digit for digit and in the same form,
    including sums too wide for the decimal context (they are taken with fractions)."""
    import random
    from fractions import Fraction

    from cem_platform.accounting import meters

    rng = random.Random(7)
    for _ in range(500):
        values: list[float | int | None] = []
        for _ in range(rng.randint(0, 60)):
            pick = rng.random()
            if pick < 0.1:
                values.append(None)
            elif pick < 0.2:
                values.append(rng.randint(-(10**6), 10**9))
            elif pick < 0.25:
                values.append(rng.uniform(-1e300, 1e300))
            elif pick < 0.3:
                values.append(rng.uniform(-1e-300, 1e-300))
            else:
                values.append(round(rng.uniform(0, 5000), rng.randint(0, 9)))
        exact = meters._decimal(sum((meters._exact(v) for v in values), Fraction(0)))
        summed = meters._exact_sum(values)
        assert summed.as_tuple() == exact.as_tuple(), values
