"""Measures library and reduction scenarios on real PostgreSQL, on the works of the gap analysis tests (2026 as a year:
only March has figures).

By hand, on the sinter plant SIN4 (2200 t, 1000 MWh: 122.9 tce): the enterprise's own per-tonne measure saves
0.01 tCO2/t and 5 kgce/t (22 tCO2, 11 tce), applied first; its fractional measure, at adoption 0.5, then removes
0.2 x 0.5 of the CO2 left and 0.1 x 0.5 of the energy left (0.05 x 111.9 = 5.595 tce).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from cem_platform.audit.models import AuditRecord
from cem_platform.benchmarking.models import ReferenceVersion, Scenario
from cem_platform.benchmarking.scenarios import capital_recovery_factor, combine
from tests.test_benchmarking.test_gap_analysis import BM, _process, _works
from tests.test_platform.world import World

GRAM = Decimal("0.000001")
FEN = Decimal("0.01")


def _measure(process_type: str, effect: str, **values: Any) -> dict[str, Any]:
    per_tonne = effect == "per_tonne"
    return {
        "name": f"测试 {effect}",
        "name_en": f"test {effect}",
        "process_types": [process_type],
        "effect": effect,
        "co2_unit": "tCO2/t" if per_tonne else "1",
        "energy_unit": "kgce/t" if per_tonne else "1",
        "capex_unit": "CNY/(t/a)",
        "opex_unit": "CNY/t",
        "lifetime_years": 10,
        "source": "项目可研报告",
        **values,
    }


HEAT = _measure("sintering", "per_tonne", co2="0.01", energy="5", capex="100", opex="2")
SHARE = _measure("sintering", "fraction", co2="0.2", energy="0.1", capex="50", opex="0", lifetime_years=5)
SCRAP = _measure("bof_steelmaking", "per_tonne", co2="0.005", capex="0", opex="0.1", lifetime_years=1)
POWER = _measure("eaf_steelmaking", "per_tonne", co2="0.005", capex="0", opex="0.1", lifetime_years=1)


async def _change_measures(world: World, headers: dict[str, str], changes: list[dict[str, Any]]) -> Any:
    body = {"library": "enterprise", "enterprise_id": world.a.enterprise.id, "reason": "可研", "changes": changes}
    return await world.client.post(f"{BM}/measures/versions", headers=headers, json=body)


def _annualised(capex: str, opex: str, rate: str, years: int, output: Decimal, adoption: str, tce: str) -> Decimal:
    share = Decimal(adoption)
    crf = Decimal(rate) * (1 + Decimal(rate)) ** years / ((1 + Decimal(rate)) ** years - 1)
    cost = Decimal(capex) * output * share * crf + Decimal(opex) * output * share - Decimal(tce) * 1000
    return cost.quantize(FEN, ROUND_HALF_EVEN)


def test_the_combination_rule_and_the_capital_recovery_factor() -> None:
    # absolute first (capped at what is left), then fractions of what is left
    assert combine(Decimal(100), [Decimal(30), Decimal(90)], [Decimal("0.5")]) == (
        [Decimal(30), Decimal(70), Decimal(0)],
        Decimal(0),
    )
    assert combine(Decimal(100), [Decimal(20)], [Decimal("0.5"), Decimal("0.25")]) == (
        [Decimal(20), Decimal(40), Decimal(10)],
        Decimal(30),
    )
    assert combine(Decimal(-5), [Decimal(1)], [Decimal("0.5")]) == ([Decimal(0), Decimal(0)], Decimal(-5))
    assert capital_recovery_factor(Decimal(0), 4) == Decimal("0.25")
    assert capital_recovery_factor(Decimal("0.1"), 1) == Decimal("1.1")


async def test_a_scenario_combines_measures_orders_its_mac_curve_and_keeps_its_versions(world: World) -> None:
    accountant = await world.login("a-accountant")  # signed in with TOTP: the step-up is fresh
    processes = await _works(world, accountant)
    added = await _change_measures(
        world,
        accountant,
        [
            {"code": "own.heat", "entry": HEAT},
            {"code": "own.share", "entry": SHARE},
            {"code": "own.scrap", "entry": SCRAP},
            {"code": "own.power", "entry": POWER},
        ],
    )
    assert added.status_code == 201, added.text
    library = f"measures-enterprise-{world.a.enterprise.id}"
    assert added.json()["library"] == library and added.json()["number"] == 1
    shared = await world.client.get(f"{BM}/measures", headers=accountant, params={"library": "national"})
    assert shared.status_code == 200 and shared.json()["version"] == 1
    seeded = {m["code"]: m for m in shared.json()["entries"]}
    assert seeded["sintering.waste-heat"]["confidence"] == "confirmed" and seeded["coking.cdq"]["capex"] is None

    sin4, sin3, bof, eaf = (processes[code].id for code in ("SIN4", "SIN3", "BOF", "EAF"))
    body = {
        "enterprise_id": world.a.enterprise.id,
        "name": "2026 降碳方案",
        "base_year": 2026,
        "discount_rate": "0.1",
        "energy_price": "1000",
        "applications": [
            {"measure": "own.share", "process_id": sin4, "adoption": "0.5"},  # listed first, applied second
            {"measure": "own.heat", "process_id": sin4},
            {"measure": "own.scrap", "process_id": bof},  # the converter's CO2 is below zero (gas sold): nothing
            {"measure": "sintering.waste-heat", "process_id": sin3},  # shared, no cost
            {"measure": "own.power", "process_id": eaf},
        ],
    }
    created = await world.client.post(f"{BM}/scenarios", headers=accountant, json=body)
    assert created.status_code == 201, created.text
    scenario = created.json()
    assert scenario["versions"] == {"measures": 1, library: 1} and scenario["energy_price_unit"] == "CNY/tce"
    url = f"{BM}/scenarios/{scenario['id']}/result"
    response = await world.client.get(url, headers=await world.login("a-executive"))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["base_year"] == 2026 and result["versions"] == {"measures": 1, library: 1}

    # the base is the gap analysis's own figures: intensity x output
    gap = await world.client.get(
        f"{BM}/gap",
        headers=accountant,
        params={"scope": "process", "id": sin4, "period": "year", "from": "2026", "indicator": "co2_intensity"},
    )
    [march] = gap.json()["subjects"][0]["indicators"][0]["periods"]
    base = (Decimal(march["actual"]) * Decimal(march["output"])).quantize(GRAM, ROUND_HALF_EVEN)
    row = next(p for p in result["processes"] if p["process_id"] == sin4)
    assert row["base_tco2"] == str(base.normalize()) and row["output_t"] == "2200" and row["base_tce"] == "122.9"
    # by hand: 22 tCO2 per tonne first, then 0.2 x 0.5 of what is left
    fraction = ((base - 22) * Decimal("0.1")).quantize(GRAM, ROUND_HALF_EVEN)
    assert [(m["measure_code"], m["rule"], Decimal(m["abatement_tco2"])) for m in row["measures"]] == [
        ("own.heat", "absolute", Decimal(22)),
        ("own.share", "fraction", fraction),
    ]
    assert [m["saving_tce"] for m in row["measures"]] == ["11", "5.595"]
    assert Decimal(row["abatement_tco2"]) == 22 + fraction and row["saving_tce"] == "16.595"
    assert Decimal(row["projected_tco2"]) == base - 22 - fraction
    projected_intensity = ((base - 22 - fraction) / 2200).quantize(GRAM, ROUND_HALF_EVEN)
    assert Decimal(row["projected_intensity_tco2_t"]) == projected_intensity

    # the MAC curve: cheapest per tCO2 first, those without a cost or without abatement last; cumulative sums exact
    mac = result["mac"]
    assert [(p["measure_code"], p["process_code"]) for p in mac] == [
        ("own.power", "EAF"),
        ("own.share", "SIN4"),
        ("own.heat", "SIN4"),
        ("own.scrap", "BOF"),
        ("sintering.waste-heat", "SIN3"),
    ]
    power, share, heat, scrap, seeded_point = mac
    assert (power["abatement_tco2"], power["annualised_cost_cny"], power["cost_per_tco2_cny"]) == ("50", "1000", "20")
    assert Decimal(heat["annualised_cost_cny"]) == _annualised("100", "2", "0.1", 10, Decimal(2200), "1", "11")
    assert Decimal(heat["cost_per_tco2_cny"]) == (Decimal(heat["annualised_cost_cny"]) / 22).quantize(FEN)
    expected_share = _annualised("50", "0", "0.1", 5, Decimal(2200), "0.5", "5.595")
    assert Decimal(share["annualised_cost_cny"]) == expected_share and share["capex_cny"] == "55000"
    assert Decimal(share["cost_per_tco2_cny"]) == (expected_share / fraction).quantize(FEN, ROUND_HALF_EVEN)
    assert (scrap["abatement_tco2"], scrap["annualised_cost_cny"], scrap["cost_per_tco2_cny"]) == ("0", "1000", None)
    assert any("BOF: its base co2 is not above zero" in note for note in result["notes"])
    assert seeded_point["annualised_cost_cny"] is None and seeded_point["cost_per_tco2_cny"] is None
    assert (seeded_point["abatement_tco2"], seeded_point["saving_tce"]) == ("59.75", "21.41")  # 0.0239, 8.564 x 2500 t
    running = Decimal(0)
    for point in mac:
        running += Decimal(point["abatement_tco2"])
        assert Decimal(point["cumulative_abatement_tco2"]) == running
    assert any("sintering.waste-heat has no cost" in note for note in result["notes"])
    enterprise = result["enterprise"]
    assert (
        Decimal(enterprise["abatement_tco2"])
        == running
        == sum(Decimal(p["abatement_tco2"]) for p in result["processes"])
    )
    assert Decimal(enterprise["projected_tco2"]) == Decimal(enterprise["base_tco2"]) - running

    # editing a measure makes version 2; the stored scenario keeps version 1 and its result
    edited = await _change_measures(world, accountant, [{"code": "own.heat", "entry": {**HEAT, "co2": "0.02"}}])
    assert edited.status_code == 201 and edited.json()["number"] == 2
    assert edited.json()["diff"][0]["before"]["co2"] == "0.01" and edited.json()["diff"][0]["after"]["co2"] == "0.02"
    assert (await world.client.get(url, headers=accountant)).json() == result
    # changed, the scenario pins the newest version: 44 tCO2 per year now
    changed = await world.client.put(f"{BM}/scenarios/{scenario['id']}", headers=accountant, json=body)
    assert changed.status_code == 200 and changed.json()["versions"][library] == 2
    again = (await world.client.get(url, headers=accountant)).json()
    heat_again = next(m for m in again["processes"] if m["process_id"] == sin4)["measures"][0]
    assert heat_again["abatement_tco2"] == "44"
    actions = await AuditRecord.filter(action__startswith="benchmarking.scenario").values_list("action", flat=True)
    assert sorted(actions) == ["benchmarking.scenario.change", "benchmarking.scenario.create"]


async def test_bad_measures_and_scenarios_are_refused_and_only_accountants_of_the_enterprise_write(
    world: World,
) -> None:
    accountant = await world.login("a-accountant")
    sinter = await _process(world, "sintering", "SIN1", "1#烧结")
    other = await _process(world, "sintering", "SIN9", "9#烧结")
    other.site = world.b.site
    await other.save()

    async def counts() -> tuple[int, int]:
        return await ReferenceVersion.filter(library__startswith="measures").count(), await Scenario.all().count()

    listed = await world.client.get(
        f"{BM}/measures/versions",
        headers=accountant,
        params={"library": "enterprise", "enterprise_id": world.a.enterprise.id},
    )
    assert listed.status_code == 200 and listed.json() == []
    before = await counts()
    cases = [
        ({**HEAT, "process_types": ["moon_base"]}, "unknown process type 'moon_base'"),
        ({**HEAT, "co2_unit": "kgCO2/t"}, "is in 'tCO2/t', not 'kgCO2/t'"),
        ({**HEAT, "capex": "-5"}, "capex '-5' is negative"),
        ({**HEAT, "lifetime_years": 0}, "lifetime_years 0"),
        ({**SHARE, "co2": "1.5"}, "outside (0, 1]"),
        ({**HEAT, "co2": "0"}, "outside the positive numbers"),
        ({**HEAT, "co2": None, "energy": None}, "give its CO2 or its energy"),
        ({**HEAT, "effect": "magic"}, "effect 'magic'"),
        ({**HEAT, "source": ""}, "give source"),
    ]
    for entry, message in cases:
        refused = await _change_measures(
            world, accountant, [{"code": "own.ok", "entry": HEAT}, {"code": "own.x", "entry": entry}]
        )
        assert refused.status_code == 400 and message in refused.json()["error"]["message"], (message, refused.text)
    assert await counts() == before  # the good measure of each change was not kept either
    denied = await AuditRecord.filter(action="benchmarking.measures.change", outcome="denied").count()
    assert denied == len(cases)
    national = await world.client.post(
        f"{BM}/measures/versions",
        headers=accountant,
        json={"library": "national", "reason": "x", "changes": [{"code": "own.ok", "entry": HEAT}]},
    )
    assert national.status_code == 403 and "group level" in national.json()["error"]["message"]
    executive = await world.login("a-executive")
    assert (await _change_measures(world, executive, [{"code": "own.ok", "entry": HEAT}])).status_code == 403
    assert (await _change_measures(world, accountant, [{"code": "own.ok", "entry": HEAT}])).status_code == 201

    body = {"enterprise_id": world.a.enterprise.id, "name": "方案", "base_year": 2026}
    for application, extra, message in [
        ({"measure": "own.ok", "process_id": sinter.id, "adoption": "0"}, {}, "outside (0, 1]"),
        ({"measure": "own.ok", "process_id": sinter.id, "adoption": "1.2"}, {}, "outside (0, 1]"),
        ({"measure": "coking.cdq", "process_id": sinter.id}, {}, "applies to coking, not to process SIN1"),
        ({"measure": "own.nope", "process_id": sinter.id}, {}, "No measure 'own.nope'"),
        ({"measure": "own.ok", "process_id": other.id}, {}, f"No process {other.id} in enterprise"),
        ({"measure": "own.ok", "process_id": sinter.id}, {"discount_rate": "-0.1"}, "discount_rate"),
        ({"measure": "own.ok", "process_id": sinter.id}, {"energy_price": "abc"}, "energy_price"),
        ({"measure": "own.ok", "process_id": sinter.id}, {"base_year": 1900}, "base_year 1900"),
    ]:
        refused = await world.client.post(
            f"{BM}/scenarios", headers=accountant, json={**body, **extra, "applications": [application]}
        )
        assert refused.status_code == 400 and message in refused.json()["error"]["message"], (message, refused.text)
    assert await Scenario.all().count() == 0

    good = {**body, "applications": [{"measure": "own.ok", "process_id": sinter.id}]}
    assert (await world.client.post(f"{BM}/scenarios", headers=executive, json=good)).status_code == 403
    created = await world.client.post(f"{BM}/scenarios", headers=accountant, json=good)
    assert created.status_code == 201, created.text
    again = await world.client.post(f"{BM}/scenarios", headers=accountant, json=good)
    assert again.status_code == 409 and await Scenario.all().count() == 1
    url = f"{BM}/scenarios/{created.json()['id']}"
    # no emission sources yet: the result says what to do first, as the gap analysis does
    answer = await world.client.get(f"{url}/result", headers=executive)
    assert 400 <= answer.status_code < 500 and "no active emission source" in answer.json()["error"]["message"]
    listed = await world.client.get(
        f"{BM}/scenarios", headers=executive, params={"enterprise_id": world.a.enterprise.id}
    )
    assert [s["name"] for s in listed.json()] == ["方案"]
    assert (await world.client.delete(url, headers=executive)).status_code == 403

    # another enterprise's admin sees none of it
    b_admin = await world.login("b-admin")
    assert (await world.client.get(url, headers=b_admin)).status_code == 404
    assert (await world.client.get(f"{url}/result", headers=b_admin)).status_code == 404
    assert (await world.client.put(url, headers=b_admin, json=good)).status_code == 404
    assert (await world.client.delete(url, headers=b_admin)).status_code == 404
    params = {"enterprise_id": world.a.enterprise.id}
    assert (await world.client.get(f"{BM}/scenarios", headers=b_admin, params=params)).status_code == 404
    assert (await world.client.get(f"{BM}/scenarios", headers=b_admin)).json() == []  # every one in its scope: none
    assert [s["name"] for s in (await world.client.get(f"{BM}/scenarios", headers=executive)).json()] == ["方案"]
    assert (await world.client.get(url)).status_code == 401

    assert (await world.client.delete(url, headers=accountant)).status_code == 204
    assert await Scenario.all().count() == 0
    assert await AuditRecord.filter(action="benchmarking.scenario.delete").count() == 1
