"""A source counts in the local days it is in service: retiring one leaves the periods it served unchanged.

Before, a retired source (``active`` false) dropped out of every period, so recalculating last year after a
kiln was retired this year silently lowered last year's emissions.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

from cem_platform.accounting.models import EmissionSource
from cem_platform.org.models import MeasurementPoint
from tests.test_accounting.kept import read_after_refresh
from tests.test_platform.world import World

API = "/api/v1/accounting"
LIMESTONE_EF = Decimal("0.440")  # tCO2/t, the 2015 edition's default


async def _source(world: World, headers: dict[str, str], code: str, item: str, **extra: Any) -> int:
    body = {
        "enterprise_id": world.a.enterprise.id, "code": code, "name": code, "category": "flux", "item": item,
        "process_id": world.a.process.id, "inputs": {"AD": {"origin": "manual", "unit": "t"}}, **extra,
    }  # fmt: skip
    response = await world.client.post(f"{API}/sources", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _enter(world: World, headers: dict[str, str], source_id: int, value: str, **period: str) -> None:
    body = {"source_id": source_id, "input": "AD", "value": value, "unit": "t", **period}
    response = await world.client.post(f"{API}/activity", headers=headers, json=body)
    assert response.status_code == 201, response.text


async def _months(world: World, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await read_after_refresh(world.client,
        "/api/v1/emissions",
        headers=headers,
        params={"scope": "enterprise", "id": world.a.enterprise.id, "period": "month", "from": "2024-01",
                "to": "2024-04"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def _flux(result: dict[str, Any]) -> Decimal:
    return Decimal(result["by_category"]["flux"])


async def test_a_retired_source_keeps_the_periods_it_served(world: World) -> None:
    headers = await world.login("a-accountant")
    lime = await _source(world, headers, "LIME", "limestone")
    dolo = await _source(world, headers, "DOLO", "dolomite")
    for month, value in (("2024-01", "100"), ("2024-02", "200"), ("2024-03", "300")):
        await _enter(world, headers, lime, value, month=month)
        await _enter(world, headers, dolo, "10", month=month)
    before = await _months(world, headers)
    assert [r["complete"] for r in before] == [True, True, True]

    retired = await world.client.patch(
        f"{API}/sources/{lime}", headers=headers, json={"active": False, "in_service_until": "2024-02-29"}
    )
    assert retired.status_code == 200, retired.text
    assert (retired.json()["active"], retired.json()["in_service_until"]) == (False, "2024-02-29")
    after = await _months(world, headers)
    # January and February are what they were (same stored results, no new version) ...
    assert [(r["result_id"], r["net"]) for r in after[:2]] == [(r["result_id"], r["net"]) for r in before[:2]]
    # ... March no longer has the limestone: 300 t x 0.440 less
    assert _flux(before[2]) - _flux(after[2]) == 300 * LIMESTONE_EF
    assert after[2]["result_id"] != before[2]["result_id"] and after[2]["complete"] is True


async def test_service_days_clip_a_period_and_retiring_defaults_to_today(world: World) -> None:
    headers = await world.login("a-accountant")
    dolo = await _source(world, headers, "DOLO", "dolomite")
    for month in ("2024-01", "2024-02", "2024-03"):
        await _enter(world, headers, dolo, "10", month=month)
    # a kiln commissioned on 10 February: February counts from that day, and is complete with its 20 days
    new = await _source(world, headers, "LIME.NEW", "limestone", in_service_from="2024-02-10")
    await _enter(world, headers, new, "50", **{"from": "2024-02-10", "to": "2024-02-29"})
    months = await _months(world, headers)
    assert "LIME.NEW" not in {s["source_id"] for s in await _sources_of(world, headers, months[0])}
    feb = months[1]
    assert feb["complete"] is True
    [entry] = [s for s in await _sources_of(world, headers, feb) if s["source_id"] == "LIME.NEW"]
    assert Decimal(entry["emission"]) == 50 * LIMESTONE_EF
    assert "in service 2024-02-10" in entry["inputs"][0]["origin"]

    bad = await world.client.patch(f"{API}/sources/{new}", headers=headers, json={"in_service_until": "2024-02-01"})
    assert bad.status_code == 400 and "comes before" in bad.json()["error"]["message"]

    retired = await world.client.patch(f"{API}/sources/{new}", headers=headers, json={"active": False})
    today = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert retired.json()["in_service_until"] == today
    again = await world.client.patch(f"{API}/sources/{new}", headers=headers, json={"active": True})
    assert again.json()["in_service_until"] is None
    stored = await EmissionSource.get(id=new)
    assert (stored.active, stored.in_service_from, stored.in_service_until) == (True, dt.date(2024, 2, 10), None)


async def _sources_of(world: World, headers: dict[str, str], result: dict[str, Any]) -> list[dict[str, Any]]:
    response = await world.client.get(f"/api/v1/emissions/{result['result_id']}/lineage", headers=headers)
    assert response.status_code == 200, response.text
    sources: list[dict[str, Any]] = response.json()["lineage"]["sources"]
    return sources


async def test_meter_points_must_give_the_inputs_unit(world: World) -> None:
    """A meter bound to an input it cannot measure is refused when the source is saved (before, it was taken and
    every emissions request of the enterprise then failed on it)."""
    headers = await world.login("a-accountant")
    flow = await MeasurementPoint.create(
        facility=world.a.facility, enterprise=world.a.enterprise, code="ENTA.GRID.P", name="购电功率", medium="power",
        quantity="power", unit="MW", kind="flow",
    )  # fmt: skip

    async def power(points: list[dict[str, int]]) -> Any:
        inputs = {name: {"origin": "meter", "unit": "MWh", "points": points} for name in ("purchased", "exported")}
        body = {"enterprise_id": world.a.enterprise.id, "code": f"P{len(points)}{points[0]['id']}", "name": "电",
                "category": "electricity", "inputs": inputs}  # fmt: skip
        return await world.client.post(f"{API}/sources", headers=headers, json=body)

    coke_meter = await power([{"id": world.a.point.id, "sign": 1}])  # a totaliser in t
    assert coke_meter.status_code == 400, coke_meter.text
    assert "gives t, which does not convert to the input's unit MWh" in coke_meter.json()["error"]["message"]
    twice = await power([{"id": flow.id, "sign": 1}, {"id": flow.id, "sign": -1}])
    assert twice.status_code == 400 and "listed twice" in twice.json()["error"]["message"]
    ok = await power([{"id": flow.id, "sign": 1}])  # MW integrated over time gives MWh
    assert ok.status_code == 201, ok.text

    # what clients check a form against before sending it: the amount a point gives, and the unit table
    shown = (await world.client.get(f"/api/v1/org/points/{flow.id}", headers=headers)).json()
    assert (shown["unit"], shown["amount_unit"]) == ("MW", "MWh")
    table = {u["name"]: u for u in (await world.client.get(f"{API}/units", headers=headers)).json()}
    assert table["MWh"]["dimension"] == table["GJ"]["dimension"] == "energy" and "万吨" in table["10^4 t"]["aliases"]
