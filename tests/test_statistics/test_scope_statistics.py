"""Statistics of facilities and sources, and intensity per output value, on real PostgreSQL.

March 2024 at ironmaking (IR), facility BF1: coke burned (1,000 t at a measured NCV of 28.435 GJ/t, the edition's CC
29.5 tC/TJ and OF 93 %), limestone (1,000 t at 0.44 tCO2/t), 2,000 MWh of electricity sub-metered from the grid tie
(a transfer from the enterprise level: +2,000 MWh at IR, -2,000 MWh at the enterprise) and carbon fixed in 10,000 t
of steel (0.0154 tCO2/t); facility BF2: 100 x 10^4 Nm3 of natural gas (NCV 389.31 GJ/10^4 Nm3, CC 15.32 measured,
OF 99 %). The grid tie buys 3,000 MWh (0.5703 tCO2/MWh, 0.1229 kgce/kWh). The enterprise's output value for March
is 123,456,000 CNY (12,345.6 x 10^4 CNY, entered in yuan); April has none.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from cem_platform.accounting.calculation import stamp_results
from cem_platform.accounting.models import EmissionResult, EmissionSource
from cem_platform.org.models import Facility, FacilityType
from tests.test_accounting.kept import refresh_now
from tests.test_accounting.test_api import API
from tests.test_accounting.test_kept_results import _row_counts
from tests.test_platform.world import World

STATS = "/api/v1/statistics"
GJ_PER_TCE = Decimal("29.3076")
MONTH = {"from": "2024-03-01", "to": "2024-03-31"}
# by hand
COKE = Decimal("2860.418825")  # 1000 x 28.435 x 29.5 x 0.93 x 44/12 / 1000
LIME = Decimal("440")
BF1_POWER = Decimal("1140.6")  # 2000 MWh x 0.5703
FIXED = Decimal("-154")  # 10000 t x 0.0154, against the net
NG = Decimal("2165.0152")  # 100 x 389.31 x 15.32 x 0.99 x 44/12 / 1000
GRID = Decimal("1710.9")  # 3000 MWh x 0.5703 (the 2000 MWh passed on to BF1 count there, not twice)
BF1 = COKE + LIME + BF1_POWER + FIXED  # 4287.018825
NET = COKE + LIME + GRID + NG + FIXED  # 7022.334025 (the engine's arithmetic differs below 1e-6)
VALUE = Decimal("12345.6")  # 10^4 CNY
COKE_TCE = Decimal(28435) / GJ_PER_TCE
BF1_POWER_TCE = Decimal("245.8")  # 2000 MWh x 0.1229
NG_TCE = Decimal(38931) / GJ_PER_TCE
GRID_TCE = Decimal("368.7")  # 3000 MWh x 0.1229


def _close(value: str | Decimal | None, expected: Decimal, tolerance: str = "0.000001") -> bool:
    return value is not None and abs(Decimal(value) - expected) <= Decimal(tolerance)


async def _works(world: World, headers: dict[str, str]) -> dict[str, int]:
    """The sources above with their March records; returns the source ids by code and the two facilities'."""
    bf1 = world.a.facility
    bf2 = await Facility.create(
        process=world.a.process, facility_type=await FacilityType.get(code="blast_furnace"), code="BF2", name="2#高炉"
    )
    ir = world.a.process.id
    both = {"purchased": "MWh", "exported": "MWh"}
    # code, category, item, process, facility, inputs, direction, overrides, values
    sources: list[tuple[str, str, str, int | None, int | None, dict[str, str], str, dict[str, Any],
                        list[tuple[str, str, str]]]] = [
        ("COKE.BF1", "fuel_combustion", "coke", ir, bf1.id, {"FC": "t"}, "consumed",
         {"NCV": {"value": "28.435", "unit": "GJ/t", "origin": "lab, March"}}, [("FC", "1000", "t")]),
        ("LIME.BF1", "flux", "limestone", ir, bf1.id, {"AD": "t"}, "consumed", {}, [("AD", "1000", "t")]),
        ("POWER.BF1", "electricity", "", ir, bf1.id, both, "transfer", {},
         [("purchased", "2000", "MWh"), ("exported", "0", "MWh")]),
        ("FIXED.BF1", "fixed_carbon", "crude_steel", ir, bf1.id, {"AD": "t"}, "consumed", {}, [("AD", "10000", "t")]),
        ("NG.BF2", "fuel_combustion", "natural_gas", ir, bf2.id, {"FC": "10^4 Nm3"}, "consumed",
         {"CC": {"value": "15.32", "unit": "tC/TJ", "origin": "lab"}}, [("FC", "100", "10^4 Nm3")]),
        ("POWER", "electricity", "", None, None, both, "consumed", {},
         [("purchased", "3000", "MWh"), ("exported", "0", "MWh")]),
        ("OUT.STEEL", "output", "crude_steel", None, None, {"AD": "t"}, "consumed", {}, [("AD", "10000", "t")]),
        ("OUT.VALUE", "output", "output_value", None, None, {"AD": "万元"}, "consumed", {},
         [("AD", "123456000", "元")]),
    ]  # fmt: skip
    ids = {"BF1": bf1.id, "BF2": bf2.id}
    for code, category, item, process_id, facility_id, inputs, direction, overrides, values in sources:
        body = {
            "enterprise_id": world.a.enterprise.id, "code": code, "name": f"{code} name", "category": category,
            "item": item, "process_id": process_id, "facility_id": facility_id, "direction": direction,
            "inputs": {k: {"origin": "manual", "unit": u} for k, u in inputs.items()}, "overrides": overrides,
        }  # fmt: skip
        response = await world.client.post(f"{API}/sources", headers=headers, json=body)
        assert response.status_code == 201, response.text
        ids[code] = response.json()["id"]
        for name, value, unit in values:
            record = {"source_id": ids[code], "input": name, "value": value, "unit": unit, **MONTH}
            entered = await world.client.post(f"{API}/activity", headers=headers, json=record)
            assert entered.status_code == 201, entered.text
    await refresh_now()
    return ids


async def _stats(world: World, headers: dict[str, str], **params: Any) -> Any:
    query = {"scope": "enterprise", "id": world.a.enterprise.id, "period": "month", "from": "2024-03", **params}
    response = await world.client.get(STATS, headers=headers, params=query)
    assert response.status_code == 200, response.text
    return response.json()


async def test_facilities_and_sources_add_up_and_match_the_emissions_route(world: World) -> None:
    ids = await _works(world, await world.login("a-accountant"))
    reader = await world.login("a-executive")
    before = await _row_counts()

    facility = await _stats(world, reader, scope="facility", id=ids["BF1"], dimension="source")
    assert facility["name"] == "1#高炉" and facility["scope"] == "facility"
    [march] = facility["rows"]
    assert _close(march["net"], BF1) and march["kept"] is True and march["lineage"]
    parts = {p["key"]: Decimal(p["value"]) for p in march["parts"]}
    assert {p["key"]: p["name"] for p in march["parts"]} == {c: f"{c} name" for c in parts}
    hand = {"COKE.BF1": COKE, "LIME.BF1": LIME, "POWER.BF1": BF1_POWER, "FIXED.BF1": FIXED}
    assert parts.keys() == hand.keys() and all(_close(parts[c], v) for c, v in hand.items())
    assert sum(parts.values(), Decimal(0)) == Decimal(march["net"])  # exactly
    assert sum(Decimal(p["share"]) for p in march["parts"]) == Decimal("100.00")
    assert march["output"] is None and march["intensity"] is None and march["value_intensity"] is None
    assert "enterprise" in facility["value_note"]
    # the national market's scope: combustion + process - fixed carbon (purchased electricity is outside it)
    assert Decimal(march["direct"]) == parts["COKE.BF1"] + parts["LIME.BF1"] + parts["FIXED.BF1"]

    groups = await _stats(world, reader, scope="facility", id=ids["BF1"])
    terms = {p["key"]: Decimal(p["value"]) for p in groups["rows"][0]["parts"]}
    assert terms == {
        "combustion": parts["COKE.BF1"], "process": LIME, "electricity": BF1_POWER, "heat": 0, "fixed_carbon": FIXED
    }  # fmt: skip
    categories = await _stats(world, reader, scope="facility", id=ids["BF1"], dimension="category")
    assert {p["key"]: Decimal(p["value"]) for p in categories["rows"][0]["parts"]} == {
        "fuel_combustion": parts["COKE.BF1"], "flux": LIME, "electricity": BF1_POWER, "fixed_carbon": FIXED,
    }  # fmt: skip

    # every source alone: its own figure, the same as the emissions route's per-source line to the last digit
    route = await world.client.get(
        f"{API}/reporting/sources", headers=reader,
        params={"enterprise_id": world.a.enterprise.id, "period": "month", "from": "2024-03"},
    )  # fmt: skip
    assert route.status_code == 200, route.text
    lines = {line["source"]: line for line in route.json()}
    assert lines["POWER.BF1>enterprise"]["emission"].startswith("-")  # the maker's side, at the enterprise level
    by_source: dict[str, Decimal] = {}
    for code in ("COKE.BF1", "LIME.BF1", "POWER.BF1", "FIXED.BF1", "NG.BF2", "POWER"):
        page = await _stats(world, reader, scope="source", id=ids[code], compare="pop")
        [row] = page["rows"]
        by_source[code] = Decimal(row["net"])
        line = Decimal(lines[code]["emission"])
        assert by_source[code] == (-line if code == "FIXED.BF1" else line), code
        assert page["name"] == f"{code} name" and row["pop"]["period"] == "2024-02"
    assert by_source["POWER.BF1"] == BF1_POWER  # its own line only, not the maker's minus
    assert _close(by_source["NG.BF2"], NG) and _close(by_source["COKE.BF1"], COKE)
    # the sources of a facility add up to the facility, and the facilities of a process to the process, exactly
    bf1 = sum((by_source[c] for c in ("COKE.BF1", "LIME.BF1", "POWER.BF1", "FIXED.BF1")), Decimal(0))
    assert bf1 == Decimal(march["net"])
    bf2 = await _stats(world, reader, scope="facility", id=ids["BF2"])
    assert Decimal(bf2["rows"][0]["net"]) == by_source["NG.BF2"]
    process = await _stats(world, reader, scope="process", id=world.a.process.id)
    assert Decimal(process["rows"][0]["net"]) == bf1 + by_source["NG.BF2"]

    # energy: a facility by carrier and by source, a source on its own
    energy = await _stats(world, reader, scope="facility", id=ids["BF1"], metric="energy", dimension="source")
    [row] = energy["rows"]
    assert energy["unit"] == "tce" and _close(row["net"], COKE_TCE + BF1_POWER_TCE)
    assert {p["key"] for p in row["parts"]} == {"COKE.BF1", "POWER.BF1"}  # limestone and fixed carbon carry none
    own = {p["key"]: Decimal(p["value"]) for p in row["parts"]}
    assert _close(own["COKE.BF1"], COKE_TCE) and own["POWER.BF1"] == BF1_POWER_TCE
    carriers = await _stats(world, reader, scope="facility", id=ids["BF1"], metric="energy")
    by_carrier = {p["key"]: Decimal(p["value"]) for p in carriers["rows"][0]["parts"]}
    assert by_carrier == {"coke": own["COKE.BF1"], "electricity": own["POWER.BF1"]}
    ng = await _stats(world, reader, scope="source", id=ids["NG.BF2"], metric="energy")
    assert _close(ng["rows"][0]["net"], NG_TCE)
    assert [p["key"] for p in ng["rows"][0]["parts"]] == ["natural_gas"]
    whole = await _stats(world, reader, metric="energy", dimension="process")
    ir = {p["key"]: Decimal(p["value"]) for p in whole["rows"][0]["parts"]}[world.a.process.code]
    assert ir == Decimal(row["net"]) + Decimal(ng["rows"][0]["net"])  # the process's energy is its facilities'
    assert await _row_counts() == before  # statistics read, never write


async def test_intensity_per_output_value_where_it_is_entered(world: World) -> None:
    await _works(world, await world.login("a-accountant"))
    reader = await world.login("a-executive")
    page = await _stats(world, reader, **{"from": "2024-03", "to": "2024-05"})
    assert page["value_intensity_unit"] == "tCO2/10^4 CNY"
    march, april = page["rows"]
    net = Decimal(march["net"])
    assert Decimal(march["output_value"]) == VALUE and _close(net, NET)
    assert Decimal(march["value_intensity"]) == net / VALUE
    assert march["output"] == "10000"  # crude steel in t: the output value is never taken for tonnes
    assert _close(march["intensity"], net / 10000, "1e-10")  # per t of crude steel, kept to 10 places
    assert april["output_value"] is None and april["value_intensity"] is None
    assert "1 of 2 periods" in page["value_note"] and "output_value" in page["value_note"]
    assert page["total"]["output_value"] is None and page["total"]["value_intensity"] is None  # not every month has it
    alone = await _stats(world, reader)
    assert alone["value_note"] is None and Decimal(alone["total"]["value_intensity"]) == net / VALUE
    energy = await _stats(world, reader, metric="energy")
    assert energy["value_intensity_unit"] == "tce/10^4 CNY"
    total_tce = COKE_TCE + NG_TCE + GRID_TCE
    assert _close(energy["rows"][0]["net"], total_tce)
    assert _close(energy["rows"][0]["value_intensity"], total_tce / VALUE, "1e-12")
    # the year: March's output value over the months accounted
    year = await _stats(world, reader, period="year", **{"from": "2024-01-01"})
    assert Decimal(year["rows"][0]["output_value"]) == VALUE
    # the lineage keeps the output value with the records it came from
    lineage = await world.client.get(march["lineage"], headers=reader)
    kept = lineage.json()["lineage"]["output_value"]
    assert Decimal(kept["value"]) == VALUE and kept["unit"] == "10^4 CNY" and "manual#" in kept["origin"]


async def test_output_value_is_money_of_the_enterprise(world: World) -> None:
    headers = await world.login("a-accountant")
    ids = await _works(world, headers)
    body = {"enterprise_id": world.a.enterprise.id, "code": "V2", "name": "v", "category": "output",
            "item": "output_value", "inputs": {"AD": {"origin": "manual", "unit": "万元"}}}  # fmt: skip
    refused = [
        (body | {"process_id": world.a.process.id}, "enterprise as a whole"),
        (body | {"inputs": {"AD": {"origin": "manual", "unit": "t"}}}, "does not convert"),
        (body | {"item": "crude_steel"}, "does not convert"),  # tonnes of steel are not entered in 万元
    ]
    for sent, said in refused:
        response = await world.client.post(f"{API}/sources", headers=headers, json=sent)
        assert response.status_code == 400, (sent, response.text)
        assert said in response.json()["error"]["message"], response.text
    record = {"source_id": ids["OUT.VALUE"], "input": "AD", "value": "5", "unit": "t", **MONTH}
    response = await world.client.post(f"{API}/activity", headers=headers, json=record)
    assert response.status_code == 400 and "does not convert" in response.json()["error"]["message"]
    turned = await world.client.patch(f"{API}/sources/{ids['OUT.VALUE']}", headers=headers, json={"item": "pig_iron"})
    assert turned.status_code == 400, turned.text


async def test_scope_questions_that_cannot_be_answered(world: World) -> None:
    headers = await world.login("a-accountant")
    ids = await _works(world, headers)
    empty = await Facility.create(
        process=world.a.process, facility_type=await FacilityType.get(code="blast_furnace"), code="BF3", name="3#高炉"
    )
    cases = [
        ({"scope": "facility", "id": ids["BF1"], "dimension": "process"}, "not divided by process"),
        ({"scope": "source", "id": ids["COKE.BF1"], "dimension": "source"}, "not divided by source"),
        ({"scope": "process", "id": world.a.process.id, "dimension": "source"}, "not divided by source"),
        ({"scope": "enterprise", "id": world.a.enterprise.id, "dimension": "source"}, "not divided by source"),
        ({"scope": "facility", "id": ids["BF1"], "metric": "energy", "dimension": "group"}, "dimension"),
        ({"scope": "source", "id": ids["OUT.STEEL"]}, "production output"),
        ({"scope": "facility", "id": empty.id}, "no emission source"),
    ]
    for params, said in cases:
        query = {"period": "month", "from": "2024-03", **params}
        response = await world.client.get(STATS, headers=headers, params=query)
        assert response.status_code == 400, (params, response.text)
        error = response.json()["error"]
        assert said in error["message"] and error["hint"], (params, error)
    response = await world.client.get(STATS, headers=headers, params={"scope": "works", "id": 1, "period": "month",
                                                                      "from": "2024-03"})  # fmt: skip
    assert response.status_code == 400
    # another enterprise's facility or source is not there for this caller
    theirs = await EmissionSource.create(
        enterprise=world.b.enterprise, code="B.COKE", name="b", category="fuel_combustion", item="coke",
        process=world.b.process, facility_id=world.b.facility.id, inputs={"FC": {"origin": "manual", "unit": "t"}},
    )  # fmt: skip
    for scope, scope_id in (("facility", world.b.facility.id), ("source", theirs.id), ("source", 10**9)):
        query = {"scope": scope, "id": scope_id, "period": "month", "from": "2024-03"}
        response = await world.client.get(STATS, headers=headers, params=query)
        assert response.status_code == 404, (scope, response.text)


async def test_a_result_kept_before_source_figures_is_accounted_for_the_answer(world: World) -> None:
    ids = await _works(world, await world.login("a-accountant"))
    reader = await world.login("a-executive")
    kept = await _stats(world, reader, scope="facility", id=ids["BF1"])
    await EmissionResult.filter(enterprise_id=world.a.enterprise.id, current=True).update(by_source=None)
    # as the migration that added them left the rows (workers start again after a migration: nothing cached)
    await stamp_results(world.a.enterprise.id, dt.datetime.now(dt.UTC))
    again = await _stats(world, reader, scope="facility", id=ids["BF1"])
    [row] = again["rows"]
    assert row["kept"] is False and row["pending"] is True and Decimal(row["net"]) == BF1
    assert row["net"] == kept["rows"][0]["net"]
    # the enterprise's own figures do not need them: still read as kept
    assert (await _stats(world, reader))["rows"][0]["kept"] is True


async def test_an_energy_carrying_medium_counts_in_its_facilitys_energy_only(world: World) -> None:
    """Fresh water used at BF1 (10,000 t at GB/T 2589's 0.0857 kgce/t: 0.857 tce) adds to the facility's energy as
    its own carrier, and nothing to its emissions."""
    headers = await world.login("a-accountant")
    ids = await _works(world, headers)
    reader = await world.login("a-executive")
    before = await _stats(world, reader, scope="facility", id=ids["BF1"], dimension="source")
    energy_before = await _stats(world, reader, scope="facility", id=ids["BF1"], metric="energy")
    body = {
        "enterprise_id": world.a.enterprise.id, "code": "WATER.BF1", "name": "1#高炉新水", "category": "energy_medium",
        "item": "fresh_water", "process_id": world.a.process.id, "facility_id": ids["BF1"],
        "inputs": {"AD": {"origin": "manual", "unit": "t"}},
    }  # fmt: skip
    response = await world.client.post(f"{API}/sources", headers=headers, json=body)
    assert response.status_code == 201, response.text
    record = {"source_id": response.json()["id"], "input": "AD", "value": "10000", "unit": "t", **MONTH}
    assert (await world.client.post(f"{API}/activity", headers=headers, json=record)).status_code == 201
    await refresh_now()
    water = Decimal("0.857")
    energy = await _stats(world, reader, scope="facility", id=ids["BF1"], metric="energy")
    [row] = energy["rows"]
    carriers = {p["key"]: Decimal(p["value"]) for p in row["parts"]}
    assert carriers["fresh_water"] == water
    assert Decimal(row["net"]) == Decimal(energy_before["rows"][0]["net"]) + water
    alone = await _stats(world, reader, scope="source", id=response.json()["id"], metric="energy")
    assert Decimal(alone["rows"][0]["net"]) == water
    after = await _stats(world, reader, scope="facility", id=ids["BF1"], dimension="source")
    assert after["rows"][0]["net"] == before["rows"][0]["net"]  # no emission term sees a medium
    assert Decimal({p["key"]: p["value"] for p in after["rows"][0]["parts"]}["WATER.BF1"]) == 0
    categories = await _stats(world, reader, scope="facility", id=ids["BF1"], dimension="category")
    assert "energy_medium" not in {p["key"] for p in categories["rows"][0]["parts"]}
