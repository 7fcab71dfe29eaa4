"""Transfers between processes, on real PostgreSQL: per-process figures follow the carbon and add up.

Ironmaking burns 1,000 t of coke (bought; 28.447 GJ/t, the edition's default) and makes blast-furnace gas; the
power plant burns 100 x 10^4 Nm3 of it. The works buys 1,000 MWh at the grid tie, 300 MWh of which the converter's
sub-meter measures. Transfers move the gas's carbon and energy from ironmaking to the power plant and the
sub-metered electricity from the enterprise level to the converter; the enterprise's figures are those of what was
bought, to the last digit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cem_platform.org.models import Process, ProcessType
from tests.test_accounting.kept import refresh_now
from tests.test_accounting.test_api import API
from tests.test_platform.world import World

MONTH = {"from": "2024-03-01", "to": "2024-03-31"}
GRID = Decimal("0.5703")  # tCO2/MWh, the 2022-data factor the edition uses for 2024
POWER_TCE = Decimal("0.1229")  # tce/MWh, equivalent value


async def _source(world: World, headers: dict[str, str], body: dict[str, Any], values: dict[str, str]) -> Any:
    body = {"enterprise_id": world.a.enterprise.id, "name": body["code"], **body}
    response = await world.client.post(f"{API}/sources", headers=headers, json=body)
    assert response.status_code == 201, response.text
    for name, value in values.items():
        unit = body["inputs"][name]["unit"]
        record = {"source_id": response.json()["id"], "input": name, "value": value, "unit": unit, **MONTH}
        assert (await world.client.post(f"{API}/activity", headers=headers, json=record)).status_code == 201
    return response.json()


async def _month(world: World, headers: dict[str, str], metric: str) -> dict[str, Any]:
    params = {"metric": metric, "scope": "enterprise", "id": world.a.enterprise.id, "period": "month",
              "from": "2024-03", "dimension": "process"}  # fmt: skip
    response = await world.client.get("/api/v1/statistics", headers=headers, params=params)
    assert response.status_code == 200, response.text
    [row] = response.json()["rows"]
    return dict(row)


async def test_transfers_move_carbon_and_energy_between_processes_and_leave_the_total(world: World) -> None:
    headers = await world.login("a-accountant")
    site, ir = world.a.site, world.a.process
    captive = await ProcessType.get(code="captive_power")
    pw = await Process.create(site=site, process_type=captive, code="PW", name="自备电厂")
    bof = await Process.create(
        site=site, process_type=await ProcessType.get(code="bof_steelmaking"), code="BOF", name="转炉炼钢"
    )
    manual = {"origin": "manual"}
    await _source(
        world,
        headers,
        {
            "code": "IR.COKE",
            "category": "fuel_combustion",
            "item": "coke",
            "process_id": ir.id,
            "inputs": {"FC": {**manual, "unit": "t"}},
        },
        {"FC": "1000"},
    )
    grid_inputs = {"purchased": {**manual, "unit": "MWh"}, "exported": {**manual, "unit": "MWh"}}
    await _source(world, headers, {"code": "GRID", "category": "electricity", "process_id": None,
                                   "inputs": grid_inputs}, {"purchased": "1000", "exported": "0"})  # fmt: skip
    before = await _month(world, headers, "emissions")
    energy_before = await _month(world, headers, "energy")

    gas = await _source(world, headers, {"code": "PW.BFG", "category": "fuel_combustion", "item": "blast_furnace_gas",
                                         "process_id": pw.id, "direction": "transfer", "from_process_id": ir.id,
                                         "inputs": {"FC": {**manual, "unit": "10^4 Nm3"}}}, {"FC": "100"})  # fmt: skip
    assert gas["direction"] == "transfer" and gas["from_process_id"] == ir.id
    await _source(world, headers, {"code": "BOF.POWER", "category": "electricity", "process_id": bof.id,
                                   "direction": "transfer", "inputs": grid_inputs},
                  {"purchased": "300", "exported": "0"})  # fmt: skip
    await refresh_now()
    after = await _month(world, headers, "emissions")
    energy = await _month(world, headers, "energy")

    # the enterprise is what it bought, to the last digit; its processes now follow the carbon and the energy
    assert (after["net"], after["direct"]) == (before["net"], before["direct"])
    assert Decimal(energy["net"]) == Decimal(energy_before["net"])
    parts = {p["key"]: Decimal(p["value"]) for p in after["parts"]}
    old = {p["key"]: Decimal(p["value"]) for p in before["parts"]}
    gas_t = parts["PW"]
    assert gas_t > 0 and parts["IR"] == old["IR"] - gas_t
    assert parts["BOF"] == 300 * GRID and parts["_unallocated"] == 700 * GRID
    assert sum(parts.values()) == Decimal(after["net"])
    tce = {p["key"]: Decimal(p["value"]) for p in energy["parts"]}
    gas_tce = Decimal(100 * 33) / Decimal("29.3076")  # 100 x 10^4 Nm3 at 33.000 GJ per 10^4 Nm3
    assert abs(tce["PW"] - gas_tce) < Decimal("1e-9") and tce["BOF"] == 300 * POWER_TCE
    assert abs(tce["IR"] - (Decimal(1000) * Decimal("28.447") / Decimal("29.3076") - gas_tce)) < Decimal("1e-9")

    # the lineage shows both sides of each transfer
    lineage = await world.client.get(f"/api/v1/emissions/{after['lineage'].split('/')[-2]}/lineage", headers=headers)
    lines = {s["source_id"]: s for s in lineage.json()["lineage"]["sources"]}
    assert Decimal(lines["PW.BFG>IR"]["emission"]) == -Decimal(lines["PW.BFG"]["emission"])
    assert lines["PW.BFG>IR"]["process"] == "IR" and lines["PW.BFG>IR"]["name"] == "PW.BFG（转出）"
    assert lines["BOF.POWER>enterprise"]["process"] == ""


async def test_a_transfer_names_where_it_is_used_and_what_can_move(world: World) -> None:
    headers = await world.login("a-accountant")
    ir = world.a.process
    fuel = {"category": "fuel_combustion", "item": "blast_furnace_gas", "inputs": {"FC": {"origin": "manual",
            "unit": "10^4 Nm3"}}}  # fmt: skip
    cases = [
        ({**fuel, "code": "X1", "direction": "transfer", "process_id": None}, "process_id"),
        ({**fuel, "code": "X2", "direction": "transfer", "process_id": ir.id, "from_process_id": ir.id}, "itself"),
        ({**fuel, "code": "X3", "process_id": ir.id, "from_process_id": ir.id}, "transfer"),
        ({"code": "X4", "category": "flux", "item": "limestone", "process_id": ir.id, "direction": "transfer",
          "inputs": {"AD": {"origin": "manual", "unit": "t"}}}, "not transferred"),
        ({**fuel, "code": "X5", "direction": "transfer", "process_id": ir.id, "from_process_id": 999999}, "process"),
    ]  # fmt: skip
    for body, said in cases:
        response = await world.client.post(
            f"{API}/sources", headers=headers, json={"enterprise_id": world.a.enterprise.id, "name": "x", **body}
        )
        assert response.status_code == 400 and said in response.json()["error"]["message"], (body, response.text)
