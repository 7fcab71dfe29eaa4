"""Energy-carrying media (耗能工质) on real PostgreSQL: tce per process and per carrier against hand-computed values.

March 2024 of a small works: coke burned at ironmaking (1,000 t at a measured NCV of 28.435 GJ/t), an oxygen plant (OX)
that uses 300 MWh of electricity and delivers 500,000 Nm3 of oxygen to the converter (a transfer), 20 x 10^4 Nm3 of
nitrogen bought for the converter, 100,000 Nm3 of compressed air at the converter with a measured coefficient of
0.0500 kgce/Nm3, and 10,000 t of fresh water at ironmaking; 10,000 t of crude steel. GB/T 2589: oxygen and nitrogen
0.4000 kgce/Nm3, fresh water 0.0857 kgce/t, electricity 0.1229 kgce/kWh.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

from cem_platform.accounting import library_store
from cem_platform.accounting.energy import ENERGY_LIBRARY
from cem_platform.accounting.models import EmissionResult, LibraryVersion, PeriodKind
from cem_platform.org.models import Process, ProcessType
from tests.test_accounting.kept import refresh_now
from tests.test_accounting.test_api import API
from tests.test_platform.world import World, totp_code

STATS = "/api/v1/statistics"
MONTH = {"from": "2024-03-01", "to": "2024-03-31"}
COKE = Decimal(28435) / Decimal("29.3076")  # 970.2261...
OX_POWER = Decimal("36.87")  # 300 MWh x 0.1229 tce/MWh
OXYGEN = Decimal(200)  # 500,000 Nm3 x 0.0004 tce/Nm3: at the converter, and -200 at the oxygen plant that made it
NITROGEN = Decimal(80)  # 200,000 Nm3 x 0.0004 tce/Nm3, bought
AIR = Decimal(5)  # 100,000 Nm3 x 0.00005 tce/Nm3 (measured)
WATER = Decimal("0.857")  # 10,000 t x 0.0000857 tce/t

Source = tuple[str, str, str, int | None, dict[str, str], dict[str, Any], list[tuple[str, str]]]


def _close(value: str | None, expected: Decimal, tolerance: str = "0.000001") -> bool:
    return value is not None and abs(Decimal(value) - expected) <= Decimal(tolerance)


async def _add(world: World, headers: dict[str, str], sources: list[Source]) -> None:
    for code, category, item, process_id, inputs, extra, values in sources:
        body = {
            "enterprise_id": world.a.enterprise.id, "code": code, "name": code, "category": category, "item": item,
            "process_id": process_id, "inputs": {k: {"origin": "manual", "unit": u} for k, u in inputs.items()},
            **extra,
        }  # fmt: skip
        response = await world.client.post(f"{API}/sources", headers=headers, json=body)
        assert response.status_code == 201, response.text
        for name, value in values:
            record = {"source_id": response.json()["id"], "input": name, "value": value, "unit": inputs[name], **MONTH}
            entered = await world.client.post(f"{API}/activity", headers=headers, json=record)
            assert entered.status_code == 201, entered.text
    await refresh_now()


async def _processes(world: World) -> tuple[Process, Process]:
    bof = await Process.create(
        site=world.a.site, process_type=await ProcessType.get(code="bof_steelmaking"), code="BOF", name="转炉炼钢"
    )
    oxygen_plant = await Process.create(
        site=world.a.site, process_type=await ProcessType.get(code="auxiliary"), code="OX", name="制氧"
    )
    return bof, oxygen_plant


async def _stats(world: World, headers: dict[str, str], **params: Any) -> Any:
    query = {"metric": "energy", "scope": "enterprise", "id": world.a.enterprise.id, "period": "month",
             "from": "2024-03", **params}  # fmt: skip
    response = await world.client.get(STATS, headers=headers, params=query)
    assert response.status_code == 200, response.text
    return response.json()


async def _march(world: World) -> EmissionResult:
    """The kept result of March 2024."""
    start = dt.datetime(2024, 3, 1, tzinfo=zoneinfo.ZoneInfo(world.a.enterprise.timezone))
    return await EmissionResult.get(
        enterprise_id=world.a.enterprise.id, period=PeriodKind.MONTH, period_start=start, current=True
    )


def _figures(page: Any) -> list[Any]:
    """What an emissions answer says about the figures (not when or from which kept version it was read)."""
    return [(r["net"], r["direct"], sorted((p["key"], p["value"]) for p in r["parts"])) for r in page["rows"]]


async def test_media_in_tce_per_process_and_carrier_made_in_house_nets_to_zero_and_no_emission_moves(
    world: World,
) -> None:
    headers = await world.login("a-accountant")
    bof, oxygen_plant = await _processes(world)
    await _add(world, headers, [
        ("COKE", "fuel_combustion", "coke", world.a.process.id, {"FC": "t"},
         {"overrides": {"NCV": {"value": "28.435", "unit": "GJ/t", "origin": "lab, March"}}}, [("FC", "1000")]),
        ("OX.POWER", "electricity", "", oxygen_plant.id, {"purchased": "MWh", "exported": "MWh"}, {},
         [("purchased", "300"), ("exported", "0")]),
        ("OUT.STEEL", "output", "crude_steel", bof.id, {"AD": "t"}, {}, [("AD", "10000")]),
    ])  # fmt: skip
    reader = await world.login("a-executive")
    emissions = {
        dimension: _figures(await _stats(world, reader, metric="emissions", dimension=dimension))
        for dimension in ("group", "category", "process")
    }
    before = await _march(world)

    await _add(world, headers, [
        ("BOF.O2", "energy_medium", "oxygen", bof.id, {"AD": "Nm3"},
         {"direction": "transfer", "from_process_id": oxygen_plant.id}, [("AD", "500000")]),
        ("BOF.N2", "energy_medium", "nitrogen", bof.id, {"AD": "10^4 Nm3"}, {}, [("AD", "20")]),
        ("BOF.AIR", "energy_medium", "compressed_air", bof.id, {"AD": "Nm3"},
         {"overrides": {"coefficient": {"value": "0.0500", "unit": "kgce/Nm3", "origin": "air station balance"}}},
         [("AD", "100000")]),
        ("IR.WATER", "energy_medium", "fresh_water", world.a.process.id, {"AD": "t"}, {}, [("AD", "10000")]),
    ])  # fmt: skip

    # the enterprise: in-house oxygen counts once (in the oxygen plant's electricity), bought media count
    page = await _stats(world, reader)
    [march] = page["rows"]
    assert _close(march["net"], COKE + OX_POWER + NITROGEN + AIR + WATER)
    carriers = {p["key"]: Decimal(p["value"]) for p in march["parts"]}
    assert carriers.get("oxygen", Decimal(0)) == 0
    assert (carriers["nitrogen"], carriers["compressed_air"], carriers["fresh_water"]) == (NITROGEN, AIR, WATER)
    assert carriers["electricity"] == OX_POWER and _close(str(carriers["coke"]), COKE)
    assert sum(carriers.values()) == Decimal(march["net"])

    # per process: the converter carries its oxygen, the oxygen plant the electricity less the oxygen it delivered
    processes = {
        p["key"]: Decimal(p["value"]) for p in (await _stats(world, reader, dimension="process"))["rows"][0]["parts"]
    }
    assert processes["BOF"] == OXYGEN + NITROGEN + AIR
    assert processes["OX"] == OX_POWER - OXYGEN and processes["OX"] < 0
    assert _close(str(processes["IR"]), COKE + WATER)
    assert sum(processes.values()) == Decimal(march["net"])
    converter = await _stats(world, reader, scope="process", id=bof.id)
    [row] = converter["rows"]
    assert Decimal(row["net"]) == OXYGEN + NITROGEN + AIR
    assert Decimal(row["intensity"]) == (OXYGEN + NITROGEN + AIR) * 1000 / 10000  # 28.5 kgce/t of crude steel
    assert {p["key"] for p in row["parts"]} == {"oxygen", "nitrogen", "compressed_air"}
    plant = (await _stats(world, reader, scope="process", id=oxygen_plant.id))["rows"][0]
    assert {p["key"]: Decimal(p["value"]) for p in plant["parts"]} == {"electricity": OX_POWER, "oxygen": -OXYGEN}

    # no emission figure moves: the same answers, and the engine's lineage holds no medium
    for dimension, figures in emissions.items():
        assert _figures(await _stats(world, reader, metric="emissions", dimension=dimension)) == figures, dimension
    after = await _march(world)
    for column in ("net", "combustion", "process_emissions", "electricity", "heat", "fixed_carbon", "intensity"):
        assert getattr(after, column) == getattr(before, column), column
    assert (after.by_category, after.by_process) == (before.by_category, before.by_process)
    assert after.lineage["sources"] == before.lineage["sources"] and after.lineage["totals"] == before.lineage["totals"]

    # the lineage says how: each medium line with its quantity and coefficient, the maker's side negative
    energy = after.lineage["energy"]
    lines = {line["source_id"]: line for line in energy["media"]}
    assert set(lines) == {"BOF.O2", "BOF.O2>OX", "BOF.N2", "BOF.AIR", "IR.WATER"}
    assert (lines["BOF.O2>OX"]["process"], lines["BOF.O2>OX"]["tce"]) == ("OX", "-200")
    assert lines["BOF.N2"]["coefficient"]["code"] == "medium.nitrogen" and lines["BOF.N2"]["tce"] == "80"
    assert lines["BOF.AIR"]["coefficient"]["origin"] == "measured: air station balance"
    assert energy["coefficients"]["medium.oxygen"]["value"] == "0.4000"
    assert "medium.compressed_air" not in energy["coefficients"]  # the measured value was used, not the library's
    assert energy["complete"] is True
    assert any("medium.nitrogen" in note and "unverified" in note for note in after.lineage["notes"])
    assert not any("medium." in note for note in before.lineage["notes"])


async def test_a_medium_needs_a_coefficient_and_the_unit_it_is_counted_in(world: World) -> None:
    headers = await world.login("a-accountant")
    bof, oxygen_plant = await _processes(world)

    async def create(item: str, unit: str, **extra: Any) -> Any:
        body = {
            "enterprise_id": world.a.enterprise.id, "code": f"M.{item}.{unit}", "name": item,
            "category": "energy_medium", "item": item, "process_id": bof.id,
            "inputs": {"AD": {"origin": "manual", "unit": unit}}, **extra,
        }  # fmt: skip
        return await world.client.post(f"{API}/sources", headers=headers, json=body)

    argon = await create("argon", "Nm3")
    assert argon.status_code == 400 and "medium.argon" in argon.json()["error"]["hint"], argon.text
    for item, unit, said in (("oxygen", "t", "Nm3"), ("fresh_water", "Nm3", "in t")):
        refused = await create(item, unit)
        assert refused.status_code == 400 and said in refused.json()["error"]["message"], refused.text
    assert (await create("oxygen", "MWh")).status_code == 400  # not a quantity of a medium at all
    assert (await create("", "Nm3")).status_code == 400
    sold = await create("oxygen", "Nm3", direction="sold")
    assert sold.status_code == 400 and "sold" in sold.json()["error"]["message"], sold.text
    for override in (
        {"NCV": {"value": "1", "unit": "GJ/t", "origin": "lab"}},
        {"coefficient": {"value": "0.5", "unit": "kgce/kWh", "origin": "lab"}},
        {"coefficient": {"value": "0.5", "unit": "kgce/Nm3"}},
        {"coefficient": {"value": "-0.5", "unit": "kgce/Nm3", "origin": "lab"}},
    ):
        refused = await create("oxygen", "Nm3", overrides=override)
        assert refused.status_code == 400, (override, refused.text)

    # argon with a measured coefficient, or once the library holds one with its source
    measured = {"coefficient": {"value": "0.6", "unit": "kgce/Nm3", "origin": "supplier's declaration 2024"}}
    assert (await create("argon", "Nm3", overrides=measured)).status_code == 201
    change = {
        "library": ENERGY_LIBRARY,
        "reason": "test: argon from the supplier",
        "changes": [{"code": "medium.argon", "value": "0.5", "unit": "kgce/Nm3", "source": "test value"}],
    }
    step_up = headers | {"X-CEM-TOTP": totp_code(world.secrets["a-accountant"], steps_ahead=1)}
    assert (await world.client.post(f"{API}/library/versions", headers=step_up, json=change)).status_code == 201
    assert (await create("argon", "10^3 Nm3")).status_code == 201

    # a made-in-house medium is a transfer from its maker; a change keeps the unit its coefficient is per
    made = await create("nitrogen", "Nm3", direction="transfer", from_process_id=oxygen_plant.id)
    assert made.status_code == 201, made.text
    changed = await world.client.patch(
        f"{API}/sources/{made.json()['id']}",
        headers=headers,
        json={"inputs": {"AD": {"origin": "manual", "unit": "t"}}},
    )
    assert changed.status_code == 400 and "Nm3" in changed.json()["error"]["message"], changed.text
    water = await create("fresh_water", "t")
    assert water.status_code == 201
    renamed = await world.client.patch(f"{API}/sources/{water.json()['id']}", headers=headers, json={"item": "oxygen"})
    assert renamed.status_code == 400, renamed.text

    categories = (await world.client.get(f"{API}/source-categories", headers=headers)).json()
    assert categories["energy_medium"]["inputs"] == {"AD": ["Nm3", "t"]}
    assert {"oxygen", "nitrogen", "fresh_water", "softened_water", "deaerated_water"} <= set(
        categories["energy_medium"]["items"]
    )


async def test_an_energy_library_stored_before_the_media_gets_their_coefficients_once(world: World) -> None:
    headers = await world.login("a-accountant")
    await _coefficient(world, headers, "electricity.equivalent")  # seeds version 1
    # A database seeded before the media: version 1 holds electricity and heat only.
    first = await LibraryVersion.get(library=ENERGY_LIBRARY, number=1)
    old = [p for p in first.parameters if not p["code"].startswith("medium.")]
    await LibraryVersion.filter(id=first.id).update(
        parameters=old, diff=[d for d in first.diff if not d["code"].startswith("medium.")]
    )

    library_store._provenance_checked = False  # a process started on that database
    oxygen = await _coefficient(world, headers, "medium.oxygen")
    assert (oxygen["value"], oxygen["unit"], oxygen["confidence"]) == ("0.4000", "kgce/Nm3", "as_published")
    assert "huatuo6.cn" in oxygen["source"]
    nitrogen = await _coefficient(world, headers, "medium.nitrogen")
    assert nitrogen["confidence"] == "unverified" and "待核实" in nitrogen["source"]
    second = await LibraryVersion.get(library=ENERGY_LIBRARY, number=2)
    assert second.author == "system (seed)" and {d["change"] for d in second.diff} == {"added"}
    assert {d["code"] for d in second.diff} == {p["code"] for p in second.parameters} - {p["code"] for p in old}

    # what an accountant removes stays removed; a start with nothing to add adds no version
    change = {"library": ENERGY_LIBRARY, "reason": "no CO2 gas here", "changes": [
        {"code": "medium.carbon_dioxide", "remove": True}]}  # fmt: skip
    step_up = headers | {"X-CEM-TOTP": totp_code(world.secrets["a-accountant"], steps_ahead=1)}
    assert (await world.client.post(f"{API}/library/versions", headers=step_up, json=change)).status_code == 201
    library_store._provenance_checked = False
    await _coefficient(world, headers, "medium.oxygen")
    assert await LibraryVersion.filter(library=ENERGY_LIBRARY).count() == 3
    newest = await LibraryVersion.get(library=ENERGY_LIBRARY, number=3)
    assert "medium.carbon_dioxide" not in {p["code"] for p in newest.parameters}


async def _coefficient(world: World, headers: dict[str, str], code: str) -> dict[str, Any]:
    response = await world.client.get(f"{API}/library/parameters", headers=headers, params={"library": ENERGY_LIBRARY})
    assert response.status_code == 200, response.text
    return next(p for p in response.json()["parameters"] if p["code"] == code)


async def test_the_demo_works_buys_oxygen_and_nitrogen_and_a_second_seed_adds_nothing(world: World) -> None:
    from cem_platform.accounting.demo import MEDIA, seed_accounting_demo
    from cem_platform.accounting.models import ActivityImport, EmissionSource
    from cem_platform.seed import seed_demo

    await seed_demo(world.settings)
    seeded = await seed_accounting_demo()
    assert seeded is not None
    headers = await world.login("group-admin")
    query = {"metric": "energy", "scope": "enterprise", "id": seeded.enterprise_id, "period": "month",
             "from": seeded.month}  # fmt: skip
    [month] = (await world.client.get(STATS, headers=headers, params=query)).json()["rows"]
    carriers = {p["key"]: Decimal(p["value"]) for p in month["parts"]}
    assert carriers["oxygen"] > 0 and carriers["nitrogen"] > 0, carriers
    result = await EmissionResult.get(id=seeded.result_id)
    lines = {line["source_id"]: line for line in result.lineage["energy"]["media"]}
    assert set(lines) == {code for code, *_ in MEDIA}
    assert {line["process"] for line in lines.values()} == {"IR", "EAF"}
    assert all(line["complete"] for line in lines.values())  # the ledger covers last month
    assert sum(Decimal(line["tce"]) for line in lines.values()) == carriers["oxygen"] + carriers["nitrogen"]

    sources = await EmissionSource.filter(enterprise_id=seeded.enterprise_id).count()
    imports = await ActivityImport.filter(enterprise_id=seeded.enterprise_id).count()
    again = await seed_accounting_demo()
    assert again is not None and again.net_t == seeded.net_t
    assert await EmissionSource.filter(enterprise_id=seeded.enterprise_id).count() == sources
    assert await ActivityImport.filter(enterprise_id=seeded.enterprise_id).count() == imports


async def test_media_data_missing_leaves_the_energy_incomplete_not_the_emissions(world: World) -> None:
    headers = await world.login("a-accountant")
    await _add(world, headers, [
        ("COKE", "fuel_combustion", "coke", world.a.process.id, {"FC": "t"}, {}, [("FC", "1000")]),
        ("IR.WATER", "energy_medium", "fresh_water", world.a.process.id, {"AD": "t"}, {}, []),
    ])  # fmt: skip
    reader = await world.login("a-executive")
    [energy] = (await _stats(world, reader))["rows"]
    [carbon] = (await _stats(world, reader, metric="emissions"))["rows"]
    assert carbon["complete"] is True and energy["complete"] is False
    result = await _march(world)
    assert result.complete is True and result.lineage["energy"]["complete"] is False
    assert any("IR.WATER" in note and "incomplete" in note for note in result.lineage["notes"])
