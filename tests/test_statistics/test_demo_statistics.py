"""The demo works' statistics on real PostgreSQL: its processes carry the carbon and energy that leave them.

Before transfers, the coke ovens carried about 73 % of the process emissions (all washed coal was booked there) and
the power plant, the hot mill and the converter nothing. Now coke, by-product gases, hot metal and sub-metered
electricity are followed to where they are used, and the users without a meter take their share of their maker's
balance.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cem_platform.org.models import Process
from tests.test_platform.world import World


async def _last_month(world: World, headers: dict[str, str], enterprise_id: int, month: str, **params: Any) -> Any:
    query = {"scope": "enterprise", "id": enterprise_id, "period": "month", "from": month, **params}
    response = await world.client.get("/api/v1/statistics", headers=headers, params=query)
    assert response.status_code == 200, response.text
    [row] = response.json()["rows"]
    return row


async def test_the_demo_processes_follow_the_carbon_and_the_energy(world: World) -> None:
    from cem_platform.accounting.demo import seed_accounting_demo
    from cem_platform.seed import seed_demo

    await seed_demo(world.settings)
    seeded = await seed_accounting_demo()
    assert seeded is not None
    headers = await world.login("group-admin")
    emissions = await _last_month(world, headers, seeded.enterprise_id, seeded.month, dimension="process")
    parts = {p["key"]: Decimal(p["value"]) for p in emissions["parts"]}
    assert sum(parts.values()) == Decimal(emissions["net"])
    assert abs(Decimal(emissions["net"]) - seeded.net_t) < Decimal("0.000001")  # the demo banner's figure
    # the finance office's output value: tCO2 per 10^4 CNY beside tCO2 per t of crude steel
    assert Decimal(emissions["value_intensity"]) > 0 and Decimal(emissions["output_value"]) > 0
    processes = {k: v for k, v in parts.items() if k != "_unallocated"}
    total = sum(processes.values())
    assert processes["CK"] / total < Decimal("0.5"), processes  # what their coke and gas do not take
    for code in ("IR", "PW", "HR", "LK", "BOF", "EAF"):
        assert processes[code] > 0, (code, processes)  # the gas burned, the hot metal's carbon, the EAF's electricity
    energy = await _last_month(world, headers, seeded.enterprise_id, seeded.month, metric="energy", dimension="process")
    tce = {p["key"]: Decimal(p["value"]) for p in energy["parts"]}
    assert tce["BOF"] < 0 < tce["PW"], tce  # the converter recovers its gas for the lime kiln and the power plant
    assert sum(tce.values()) == Decimal(energy["net"])
    # the unmetered users take their share of the makers' balances (generation less the metered users)
    assert processes["SN"] > 0 and tce["SN"] > 0 and tce["CK"] > 0, tce
    # every process with a product has its emissions and energy per tonne of it
    for code in ("CK", "SN", "IR", "BOF", "EAF", "HR", "LK"):
        process = await Process.get(code=code, site__enterprise_id=seeded.enterprise_id)
        for metric in ("emissions", "energy"):
            row = await _last_month(world, headers, process.id, seeded.month, scope="process", metric=metric)
            assert row["intensity"] is not None, (code, metric, row)
