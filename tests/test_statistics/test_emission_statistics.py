"""Carbon statistics on real PostgreSQL, on a works with known monthly inputs in 2023 and 2024.

Every 2024 input is 1.1 times its 2023 month and month m holds m times January's, so year-on-year is +10.00 %,
the fixed-base index against January is m x 100, and period-on-period follows m / (m - 1); the figures are
hand-computed from the reference factors (natural gas 21.650152 tCO2 per 10^4 Nm3 with CC 15.32, limestone 0.44,
grid 0.5703 tCO2/MWh, crude steel's fixed carbon 0.0154 tCO2/t).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

from cem_platform.accounting import reads
from cem_platform.accounting.calculation import account_aside
from cem_platform.accounting.models import PeriodKind
from cem_platform.accounting.refresh import refresh
from cem_platform.identity.principal import Principal
from cem_platform.org.models import Process, ProcessType
from cem_platform.statistics.services import statistics_of
from tests.test_accounting.test_api import API
from tests.test_accounting.test_kept_results import _row_counts
from tests.test_platform.world import World

STATS = "/api/v1/statistics"
MONTHS = 4
# (code, category, item, inputs {name: unit}, overrides, process: "IR" | "BOF" | None, January 2023 values)
SOURCES: list[tuple[str, str, str, dict[str, str], dict[str, Any], str | None, dict[str, str]]] = [
    (
        "NG",
        "fuel_combustion",
        "natural_gas",
        {"FC": "10^4 Nm3"},
        {"CC": {"value": "15.32", "unit": "tC/TJ", "origin": "lab"}},
        "IR",
        {"FC": "100"},
    ),
    ("LIMESTONE", "flux", "limestone", {"AD": "t"}, {}, "BOF", {"AD": "1000"}),
    ("POWER", "electricity", "", {"purchased": "MWh", "exported": "MWh"}, {}, None,
     {"purchased": "500", "exported": "0"}),
    ("FIXED.STEEL", "fixed_carbon", "crude_steel", {"AD": "t"}, {}, "BOF", {"AD": "10000"}),
    ("OUT.STEEL", "output", "crude_steel", {"AD": "t"}, {}, None, {"AD": "10000"}),
]  # fmt: skip
# Month m of 2024, by hand: NG 110 m x 21.650152; limestone 1100 m x 0.44; power 550 m x 0.5703; fixed 11000 m x 0.0154
NG_2024_01 = Decimal("2381.51672")
BOF_2024_01 = Decimal("484") - Decimal("169.4")
POWER_2024_01 = Decimal("313.665")
NET_2024_01 = NG_2024_01 + BOF_2024_01 + POWER_2024_01  # 3009.78172


def _close(value: str | Decimal | None, expected: Decimal, tolerance: str = "0.0001") -> bool:
    return value is not None and abs(Decimal(value) - expected) <= Decimal(tolerance)


async def _works(world: World, headers: dict[str, str], now: dt.datetime | None = None) -> Process:
    """The sources and four months of 2023 and 2024; the refresh job keeps the results (as it would at ``now``)."""
    bof = await Process.create(
        site=world.a.site, process_type=await ProcessType.get(code="bof_steelmaking"), code="BOF", name="转炉炼钢"
    )
    processes = {"IR": world.a.process.id, "BOF": bof.id, None: None}
    for code, category, item, inputs, overrides, process, january in SOURCES:
        body = {
            "enterprise_id": world.a.enterprise.id, "code": code, "name": code, "category": category, "item": item,
            "process_id": processes[process], "inputs": {k: {"origin": "manual", "unit": u} for k, u in inputs.items()},
            "overrides": overrides,
        }  # fmt: skip
        response = await world.client.post(f"{API}/sources", headers=headers, json=body)
        assert response.status_code == 201, response.text
        source_id = response.json()["id"]
        for year, scale in ((2023, Decimal(1)), (2024, Decimal("1.1"))):
            for month in range(1, MONTHS + 1):
                days = {1: 31, 2: 29 if year == 2024 else 28, 3: 31, 4: 30}[month]
                # the month running at ``now`` has its days before today only, at the month's daily rate
                last = days
                if now is not None and (year, month) == (now.year, now.month):
                    last = now.astimezone(zoneinfo.ZoneInfo("Asia/Shanghai")).day - 1
                for name, unit in inputs.items():
                    value = Decimal(january[name]) * scale * month * last / days
                    record = {"source_id": source_id, "input": name, "value": str(value), "unit": unit,
                              "from": f"{year}-{month:02d}-01", "to": f"{year}-{month:02d}-{last:02d}"}  # fmt: skip
                    response = await world.client.post(f"{API}/activity", headers=headers, json=record)
                    assert response.status_code == 201, response.text
    await refresh(now=now)
    return bof


async def _stats(world: World, headers: dict[str, str], **params: Any) -> Any:
    query = {"scope": "enterprise", "id": world.a.enterprise.id, **params}
    response = await world.client.get(STATS, headers=headers, params=query)
    assert response.status_code == 200, response.text
    return response.json()


async def test_totals_structure_intensity_and_comparisons(world: World) -> None:
    headers = await world.login("a-accountant")
    bof = await _works(world, headers)
    reader = await world.login("a-executive")
    before = await _row_counts()
    page = await _stats(
        world, reader, period="month", **{"from": "2024-01", "to": "2024-05"}, dimension="process",
        compare="yoy,pop,base", base="2024-01-15",
    )  # fmt: skip
    assert page["unit"] == "tCO2" and page["compare"] == ["yoy", "pop", "base"]
    assert [r["period"] for r in page["rows"]] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    january = page["rows"][0]
    assert _close(january["net"], NET_2024_01)
    parts = {p["key"]: p for p in january["parts"]}
    assert _close(parts["IR"]["value"], NG_2024_01) and parts["IR"]["name"] == "炼铁"
    assert _close(parts["BOF"]["value"], BOF_2024_01) and parts["BOF"]["name"] == "转炉炼钢"
    assert _close(parts["_unallocated"]["value"], POWER_2024_01)  # purchased power: booked to no process
    for row in page["rows"]:
        # the processes and what is booked to none add up to the enterprise, and the shares to 100.00 %
        assert sum(Decimal(p["value"]) for p in row["parts"]) == Decimal(row["net"])
        assert sum(Decimal(p["share"]) for p in row["parts"]) == Decimal("100.00")
        assert row["yoy"]["percent"] == "10.00"
        assert row["complete"] is True and row["kept"] is True and row["lineage"]
        assert _close(row["intensity"], NET_2024_01 / Decimal(11000), "0.00000001")  # the same every month
    assert [r["base"]["index"] for r in page["rows"]] == ["100.00", "200.00", "300.00", "400.00"]
    assert [r["pop"]["percent"] for r in page["rows"]] == [None, "100.00", "50.00", "33.33"]
    assert page["rows"][0]["pop"]["period"] == "2023-12" and page["rows"][0]["pop"]["value"] == "0"
    assert page["rows"][1]["yoy"]["period"] == "2023-02"
    assert _close(page["rows"][1]["yoy"]["value"], NET_2024_01 * 2 / Decimal("1.1"))
    assert page["base"]["period"] == "2024-01"
    total = page["total"]
    assert total["periods"] == MONTHS and _close(total["net"], NET_2024_01 * 10)
    assert Decimal(total["net"]) == sum(Decimal(r["net"]) for r in page["rows"])
    assert _close(total["output"], Decimal(110000)) and _close(total["intensity"], NET_2024_01 / 11000, "1e-8")
    assert await _row_counts() == before  # statistics read, never write

    # the same question as the emissions route gives the same numbers, to the last digit
    route = await world.client.get(
        "/api/v1/emissions",
        headers=reader,
        params={"scope": "enterprise", "id": world.a.enterprise.id, "period": "month", "from": "2024-01",
                "to": "2024-05"},
    )  # fmt: skip
    assert route.status_code == 200, route.text
    for row, result in zip(page["rows"], route.json()["results"], strict=True):
        assert (row["net"], row["direct"], row["intensity"]) == (result["net"], result["direct"], result["intensity"])

    # the five terms of GB/T 32151.5, carbon fixed in products counted against the net; a month equals its days
    groups = await _stats(world, reader, period="month", **{"from": "2024-03"})
    [march] = groups["rows"]
    terms = {p["key"]: Decimal(p["value"]) for p in march["parts"]}
    assert set(terms) == {"combustion", "process", "electricity", "heat", "fixed_carbon"}
    assert _close(terms["fixed_carbon"], Decimal("-169.4") * 3) and terms["heat"] == 0
    assert sum(terms.values()) == Decimal(march["net"])
    days = await _stats(world, reader, period="day", **{"from": "2024-03-01", "to": "2024-04-01"})
    assert len(days["rows"]) == 31 and _close(days["total"]["net"], Decimal(march["net"]), "0.000001")
    assert _close(days["rows"][0]["net"], Decimal(march["net"]) / 31, "0.000001")

    # a process's own figures, divided by category
    process = await _stats(
        world, reader, scope="process", id=bof.id, period="year", **{"from": "2024-01-01"}, dimension="category",
        compare="yoy",
    )  # fmt: skip
    [year] = process["rows"]
    categories = {p["key"]: Decimal(p["value"]) for p in year["parts"]}
    assert _close(categories["flux"], Decimal(484 * 10)) and _close(categories["fixed_carbon"], Decimal("-1694"))
    assert year["yoy"]["percent"] == "10.00" and process["name"] == "转炉炼钢"

    # a site: the sum of its processes (purchased power, booked to no process, belongs to no site)
    site = await _stats(
        world, reader, scope="site", id=world.a.site.id, period="month", **{"from": "2024-01"}, dimension="process"
    )
    [month] = site["rows"]
    assert _close(month["net"], NG_2024_01 + BOF_2024_01) and month["intensity"] is None
    assert {p["key"]: p["name"] for p in month["parts"]} == {"BOF": "转炉炼钢", "IR": "炼铁"}


async def test_iso_weeks_across_a_year_boundary(world: World) -> None:
    headers = await world.login("a-accountant")
    await _works(world, headers)
    page = await _stats(world, headers, period="week", **{"from": "2024-12-23", "to": "2025-01-13"}, compare="yoy")
    assert [r["period"] for r in page["rows"]] == ["2024-W52", "2025-W01", "2025-W02"]
    boundary = page["rows"][1]
    assert boundary["period_start"].startswith("2024-12-29T16:00:00")  # Monday 30 December, Shanghai midnight
    # ISO week 1 of 2025 is compared with ISO week 1 of 2024 (Monday 1 January: seven days of January)
    assert boundary["yoy"]["period"] == "2024-W01"
    january = await _stats(world, headers, period="month", **{"from": "2024-01"})
    assert _close(boundary["yoy"]["value"], Decimal(january["rows"][0]["net"]) * 7 / 31, "0.000001")
    assert boundary["yoy"]["percent"] == "-100.00"
    first = await _stats(world, headers, period="week", **{"from": "2024-01-01"}, compare="yoy")
    [week] = first["rows"]
    assert week["period"] == "2024-W01" and week["yoy"]["period"] == "2023-W01" and week["yoy"]["percent"] == "10.00"


async def test_questions_that_cannot_be_answered_get_a_clear_400(world: World) -> None:
    headers = await world.login("a-accountant")
    await _works(world, headers)
    month = {"scope": "enterprise", "id": world.a.enterprise.id, "period": "month", "from": "2024-01"}
    cases = [
        ({"metric": "water"}, "metric"),
        ({"dimension": "site"}, "dimension"),
        ({"metric": "energy", "dimension": "group"}, "dimension"),
        ({"metric": "energy", "electricity": "coal"}, "electricity method"),
        ({"period": "quarter"}, "period"),
        ({"compare": "mom"}, "comparison"),
        ({"compare": "base"}, "base period"),
        ({"compare": "base", "base": "2022-06"}, "no emissions"),
        ({"period": "day", "from": "2020-01-01", "to": "2024-01-01"}, "more than"),
        ({"period": "hour", "from": "2024-01-01", "to": "2024-01-15"}, "more than"),
        ({"from": "2024-05", "to": "2024-01"}, "after"),
        ({"from": "last spring"}, "not a date"),
        ({"scope": "process", "id": world.a.process.id, "dimension": "process"}, "process"),
    ]
    for change, said in cases:
        response = await world.client.get(STATS, headers=headers, params={**month, **change})
        assert response.status_code == 400, (change, response.text)
        error = response.json()["error"]
        assert said in error["message"] and error["hint"], (change, error)
    other = await world.login("b-admin")
    response = await world.client.get(STATS, headers=other, params=month)
    assert response.status_code in (403, 404), response.text


async def test_a_running_period_is_compared_like_for_like(world: World) -> None:
    """On 16 April 2024 the month so far (15 of 30 days) is compared with 1-15 April 2023 and 1-15 March 2024, not
    with the whole months (which would read -45.00 % and -33.33 %)."""
    headers = await world.login("a-accountant")
    zone = zoneinfo.ZoneInfo("Asia/Shanghai")
    now = dt.datetime(2024, 4, 16, tzinfo=zone).astimezone(dt.UTC)
    await _works(world, headers, now=now)
    start = dt.datetime(2024, 1, 1, tzinfo=zone).astimezone(dt.UTC)
    answer = await statistics_of(
        Principal.system("test"), world.a.enterprise.id, PeriodKind.MONTH, start, now + dt.timedelta(days=30),
        compare=("yoy", "pop"), now=now,
    )  # fmt: skip
    *_, march, april = answer.rows
    assert april.final is False and _close(april.net, NET_2024_01 * 2, "0.0001")  # 4 x January over half the month
    assert april.comparisons["yoy"].percent == Decimal("10.00")  # 4 x 1.1 against 4, both over 15 of 30 days
    assert april.comparisons["yoy"].until == dt.datetime(2023, 4, 16, tzinfo=zone).astimezone(dt.UTC)
    assert april.comparisons["pop"].until == dt.datetime(2024, 3, 16, tzinfo=zone).astimezone(dt.UTC)
    # 1-15 March 2024 holds 3 x January x 15/31: against 4 x January x 15/30
    expected = (Decimal(4) / 30) / (Decimal(3) / 31) * 100 - 100
    assert abs(april.comparisons["pop"].percent - expected) <= Decimal("0.005")
    assert march.comparisons["yoy"].until is None and march.comparisons["yoy"].percent == Decimal("10.00")
    # 1-15 March 2024 is made of fifteen kept days, and their sum is the span accounted as one (to the arithmetic)
    span = (dt.datetime(2024, 3, 1, tzinfo=zone).astimezone(dt.UTC), april.comparisons["pop"].until)
    reader = Principal.system("test")
    [parts] = (await reads.span_parts(reader, world.a.enterprise.id, PeriodKind.MONTH, [span], now=now)).values()
    assert len(parts) == 15 and all(part.id is not None for part in parts)
    [(_, _, lineage, _)] = await account_aside(world.a.enterprise, PeriodKind.MONTH, [span], zone)
    assert abs(sum(part.net for part in parts) - Decimal(lineage["totals"]["net"])) <= Decimal("0.000001")
    # last hours within the kept window are kept hours; older ones (a year ago) are accounted for the answer as one
    later = (span[0], span[1] + dt.timedelta(hours=5))
    year_ago = (dt.datetime(2023, 4, 1, tzinfo=zone).astimezone(dt.UTC), april.comparisons["yoy"].until)
    assert year_ago[1] is not None
    year_ago = (year_ago[0], year_ago[1] + dt.timedelta(hours=5))
    found = await reads.span_parts(reader, world.a.enterprise.id, PeriodKind.MONTH, [later, year_ago], now=now)
    assert len(found[later]) == 20 and all(part.id is not None for part in found[later])
    *days, hours = found[year_ago]
    assert len(days) == 15 and hours.id is None and hours.period_end == year_ago[1]
