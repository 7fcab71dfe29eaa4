"""Energy statistics on real PostgreSQL: tce per carrier and per process against hand-computed values.

March 2024 of a small works: coke burned at ironmaking (1,000 t at a measured NCV of 28.435 GJ/t), a converter that
uses 2,000 MWh of sub-metered electricity and recovers 100 x 10^4 Nm3 of converter gas (84 GJ per 10^4 Nm3, the
edition's default) for 10,000 t of crude steel, and 500 MWh of electricity and 1,000 GJ of heat bought for the
works as a whole. GB/T 2589: 1 tce = 29.3076 GJ, electricity 0.1229 kgce/kWh (equivalent value), heat 0.03412
kgce/MJ.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cem_platform.org.models import Process, ProcessType
from tests.test_accounting.kept import refresh_now
from tests.test_accounting.test_api import API
from tests.test_platform.world import World, totp_code

STATS = "/api/v1/statistics"
GJ_PER_TCE = Decimal("29.3076")
COKE = Decimal(28435) / GJ_PER_TCE  # 970.2261...
GAS = -Decimal(8400) / GJ_PER_TCE  # recovered: -286.6150...
BOF_POWER = Decimal("245.8")  # 2,000 MWh x 0.1229
WORKS_POWER = Decimal("61.45")  # 500 MWh x 0.1229
HEAT = Decimal("34.12")  # 1,000 GJ x 0.03412
TOTAL = COKE + GAS + BOF_POWER + WORKS_POWER + HEAT
MONTH = {"from": "2024-03-01", "to": "2024-03-31"}


def _close(value: str | None, expected: Decimal, tolerance: str = "0.000001") -> bool:
    return value is not None and abs(Decimal(value) - expected) <= Decimal(tolerance)


async def _works(world: World, headers: dict[str, str]) -> Process:
    bof = await Process.create(
        site=world.a.site, process_type=await ProcessType.get(code="bof_steelmaking"), code="BOF", name="转炉炼钢"
    )
    sources: list[tuple[str, str, str, int | None, dict[str, str], str, dict[str, Any], list[tuple[str, str]]]] = [
        ("COKE", "fuel_combustion", "coke", world.a.process.id, {"FC": "t"}, "consumed",
         {"NCV": {"value": "28.435", "unit": "GJ/t", "origin": "lab, March"}}, [("FC", "1000")]),
        ("LDG", "fuel_combustion", "converter_gas", bof.id, {"FC": "10^4 Nm3"}, "sold", {}, [("FC", "100")]),
        ("BOF.POWER", "electricity", "", bof.id, {"purchased": "MWh", "exported": "MWh"}, "consumed", {},
         [("purchased", "2000"), ("exported", "0")]),
        ("POWER", "electricity", "", None, {"purchased": "MWh", "exported": "MWh"}, "consumed", {},
         [("purchased", "500"), ("exported", "0")]),
        ("HEAT", "heat", "", None, {"purchased": "GJ", "exported": "GJ"}, "consumed", {},
         [("purchased", "1000"), ("exported", "0")]),
        ("OUT.STEEL", "output", "crude_steel", bof.id, {"AD": "t"}, "consumed", {}, [("AD", "10000")]),
    ]  # fmt: skip
    for code, category, item, process_id, inputs, direction, overrides, values in sources:
        body = {
            "enterprise_id": world.a.enterprise.id, "code": code, "name": code, "category": category, "item": item,
            "process_id": process_id, "inputs": {k: {"origin": "manual", "unit": u} for k, u in inputs.items()},
            "overrides": overrides, "direction": direction,
        }  # fmt: skip
        response = await world.client.post(f"{API}/sources", headers=headers, json=body)
        assert response.status_code == 201, response.text
        for name, value in values:
            record = {"source_id": response.json()["id"], "input": name, "value": value, "unit": inputs[name], **MONTH}
            response_ = await world.client.post(f"{API}/activity", headers=headers, json=record)
            assert response_.status_code == 201, response_.text
    await refresh_now()
    return bof


async def _energy(world: World, headers: dict[str, str], **params: Any) -> Any:
    query = {"metric": "energy", "scope": "enterprise", "id": world.a.enterprise.id, "period": "month",
             "from": "2024-03", **params}  # fmt: skip
    response = await world.client.get(STATS, headers=headers, params=query)
    assert response.status_code == 200, response.text
    return response.json()


async def test_energy_per_carrier_and_process_and_a_converter_below_zero(world: World) -> None:
    headers = await world.login("a-accountant")
    bof = await _works(world, headers)
    reader = await world.login("a-executive")

    page = await _energy(world, reader)
    assert (page["unit"], page["intensity_unit"], page["dimension"]) == ("tce", "kgce/t", "carrier")
    assert page["electricity"] == "equivalent" and page["coefficient"] is None
    [march] = page["rows"]
    assert _close(march["net"], TOTAL) and march["direct"] is None
    carriers = {p["key"]: p for p in march["parts"]}
    assert set(carriers) == {"coke", "converter_gas", "electricity", "heat"}
    assert _close(carriers["coke"]["value"], COKE) and _close(carriers["converter_gas"]["value"], GAS)
    assert _close(carriers["electricity"]["value"], BOF_POWER + WORKS_POWER) and _close(carriers["heat"]["value"], HEAT)
    assert sum(Decimal(p["value"]) for p in march["parts"]) == Decimal(march["net"])
    assert sum(Decimal(p["share"]) for p in march["parts"]) == Decimal("100.00")
    assert _close(march["intensity"], TOTAL * 1000 / 10000) and _close(march["output"], Decimal(10000))

    by_process = await _energy(world, reader, dimension="process")
    processes = {p["key"]: p for p in by_process["rows"][0]["parts"]}
    assert _close(processes["IR"]["value"], COKE)
    assert _close(processes["BOF"]["value"], BOF_POWER + GAS) and Decimal(processes["BOF"]["value"]) < 0
    assert _close(processes["_unallocated"]["value"], WORKS_POWER + HEAT)

    # the converter recovers more than it uses: negative process energy per tonne of steel (工序能耗)
    converter = await _energy(world, reader, scope="process", id=bof.id)
    [row] = converter["rows"]
    assert _close(row["net"], BOF_POWER + GAS) and _close(row["intensity"], (BOF_POWER + GAS) * 1000 / 10000)
    assert Decimal(row["intensity"]) < 0 and {p["key"] for p in row["parts"]} == {"converter_gas", "electricity"}

    # the process's own output is there for its emissions too: the range has an intensity like each period
    carbon = await _energy(world, reader, metric="emissions", scope="process", id=bof.id)
    assert carbon["rows"][0]["output"] == "10000" and carbon["total"]["intensity"] == carbon["rows"][0]["intensity"]

    # a month equals its days; the figures trace to the result's lineage and the coefficients' library version
    days = await _energy(world, reader, period="day", **{"from": "2024-03-01", "to": "2024-04-01"})
    assert len(days["rows"]) == 31 and _close(days["total"]["net"], TOTAL)
    lineage = await world.client.get(march["lineage"], headers=reader)
    energy = lineage.json()["lineage"]["energy"]
    assert (
        energy["library"] == "GB/T 2589-2020" and energy["coefficients"]["electricity.equivalent"]["value"] == "0.1229"
    )
    libraries = await world.client.get(f"{API}/library", headers=reader)
    assert "GB/T 2589-2020" in {item["library"] for item in libraries.json()}


async def test_electricity_by_the_equal_value_needs_its_coefficient_in_the_library(world: World) -> None:
    headers = await world.login("a-accountant")
    await _works(world, headers)
    refused = await world.client.get(
        STATS, headers=headers, params={"metric": "energy", "scope": "enterprise", "id": world.a.enterprise.id,
                                        "period": "month", "from": "2024-03", "electricity": "equal_value"},
    )  # fmt: skip
    assert refused.status_code == 400 and "electricity.equal_value" in refused.json()["error"]["hint"], refused.text
    change = {
        "library": "GB/T 2589-2020",
        "reason": "test: the grid's coal rate for supply in 2024",
        "changes": [{"code": "electricity.equal_value.2024", "value": "0.300", "unit": "kgce/kWh",
                     "source": "test value", "valid_from": "2024-01-01", "valid_until": "2024-12-31"}],
    }  # fmt: skip
    code = totp_code(world.secrets["a-accountant"], steps_ahead=1)
    changed = await world.client.post(f"{API}/library/versions", headers=headers | {"X-CEM-TOTP": code}, json=change)
    assert changed.status_code == 201, changed.text
    page = await _energy(world, headers, electricity="equal_value")
    assert page["coefficient"]["code"] == "electricity.equal_value.2024" and page["coefficient"]["value"] == "0.3"
    carriers = {p["key"]: Decimal(p["value"]) for p in page["rows"][0]["parts"]}
    assert carriers["electricity"] == Decimal(2500) * Decimal("0.3")  # 2,500 MWh x 0.300 tce/MWh
    assert _close(page["rows"][0]["net"], TOTAL - BOF_POWER - WORKS_POWER + 750)
    bad = await world.client.get(
        STATS, headers=headers, params={"metric": "energy", "scope": "enterprise", "id": world.a.enterprise.id,
                                        "period": "month", "from": "2024-03", "dimension": "group"},
    )  # fmt: skip
    assert bad.status_code == 400 and "dimension" in bad.json()["error"]["message"]
