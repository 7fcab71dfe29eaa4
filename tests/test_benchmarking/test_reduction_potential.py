"""Reduction potential on real PostgreSQL, on the works of the gap analysis tests (March 2026).

By hand: a sinter plant's process energy is MWh x 0.1229 x 1000 / t kgce/t, so its potential against a level of
V kgce/t is MWh x 0.1229 - V x t / 1000 tce: SIN4 (1000 MWh, 2200 t) against level 1 (43) is 122.9 - 94.6 = 28.3 tce,
SIN1 (3000 t, 40.97 kgce/t) is better than level 1 and has 0.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tests.test_benchmarking.test_gap_analysis import BM, BOF, BOF_T, _close, _process, _works
from tests.test_platform.world import World, totp_code

GRAM = Decimal("0.000001")


async def _potential(world: World, headers: dict[str, str], **params: Any) -> Any:
    query = {"enterprise_id": world.a.enterprise.id, "period": "month", "from": "2026-03", **params}
    response = await world.client.get(f"{BM}/potential", headers=headers, params=query)
    assert response.status_code == 200, response.text
    return response.json()


def _row(page: Any, code: str, period: int = 0) -> Any:
    return next(p for p in page["processes"] if p["code"] == code)["periods"][period]


def _sum(values: list[str]) -> Decimal:
    return sum((Decimal(v) for v in values), Decimal(0))


async def test_potentials_per_process_against_the_best_national_level_sum_to_the_enterprise(world: World) -> None:
    accountant = await world.login("a-accountant")
    processes = await _works(world, accountant)
    idle = await _process(world, "sintering", "SIN5", "5#烧结")  # no figures at all
    page = await _potential(world, await world.login("a-executive"))
    assert page["reference"] == "default" and page["versions"]["national"] == 1 and page["periods"] == ["2026-03"]

    # above the reference: GB 21256 level 1 (43) is stricter than the national benchmark (45)
    sin4 = _row(page, "SIN4")["energy"]
    assert sin4["status"] == "above" and sin4["potential"] == "28.3" and sin4["unit"] == "tce"
    assert sin4["output"] == "2200" and _close(sin4["gap"], Decimal(122900) / 2200 - 43)
    reference = sin4["reference"]
    assert (reference["entry"], reference["library"], reference["version"], reference["level"]) == (
        "gb21256-2025.sintering",
        "national",
        1,
        "1",
    )
    assert reference["value"] == "43" and reference["corrected"] is True
    assert sin4["lineage"] and sin4["lineage"].startswith("/api/v1/emissions/") and sin4["lineage"].endswith("/lineage")
    assert _row(page, "SIN2")["energy"]["potential"] == "6.8"  # 122.9 - 43 x 2.7
    assert _row(page, "SIN3")["energy"]["potential"] == "15.4"  # 122.9 - 43 x 2.5
    # better than the reference: 0, and it says so
    sin1 = _row(page, "SIN1")["energy"]
    assert sin1["status"] == "reached" and sin1["potential"] == "0" and "better than level 1" in sin1["note"]
    assert Decimal(sin1["gap"]) < 0
    # the converter: level 1 (-30) uncorrected, as its scrap ratio is not entered, and the answer says so
    bof = _row(page, "BOF")["energy"]
    assert bof["reference"]["entry"] == "gb21256-2025.bof" and bof["reference"]["missing"] == ["scrap_ratio"]
    expected_bof = ((BOF + 30) * BOF_T / 1000).quantize(GRAM, ROUND_HALF_EVEN)
    assert _close(bof["potential"], expected_bof) and "not corrected for scrap_ratio" in bof["note"]
    eaf = _row(page, "EAF")["energy"]  # 61.45 kgce/t against GB 21256 >= 70 t level 1 (61): 0.45 x 10,000 t
    assert eaf["reference"]["entry"] == "gb21256-2025.eaf_ge70" and eaf["potential"] == "4.5"
    # no figure: counts nothing, and says why
    none = _row(page, "SIN5")["energy"]
    assert (none["status"], none["potential"], none["reference"]) == ("no_output", None, None) and none["note"]
    assert next(p for p in page["processes"] if p["process_id"] == idle.id)["tce"] == "0"

    # the enterprise: exactly the processes' sum, per period and over the range
    by_hand = Decimal("28.3") + Decimal("6.8") + Decimal("15.4") + Decimal("4.5") + Decimal(bof["potential"])
    [march] = page["enterprise"]
    assert Decimal(march["tce"]) == _sum([p["tce"] for p in page["processes"]]) == by_hand
    assert page["tce"] == march["tce"] and march["counted_tce"] == 6  # SIN1..4, BOF, EAF; not SIN5
    assert {p["code"]: p["tce"] for p in page["processes"]}["SIN4"] == "28.3"
    assert {p["code"] for p in page["processes"]} == {*processes, "SIN5", world.a.process.code}  # every active one
    # CO2: the process references (EU ETS 2021-25) no longer apply in 2026: nothing counted, said
    co2 = _row(page, "SIN4")["co2"]
    assert (co2["status"], co2["potential"], co2["unit"]) == ("no_reference", None, "tCO2") and co2["actual"]
    assert march["tco2"] == "0" and march["counted_tco2"] == 0 and page["tco2"] == "0"

    # a year: the year's intensity against the reference (only March has figures)
    year = await _potential(world, accountant, period="year", **{"from": "2026"})
    assert _row(year, "SIN4")["energy"]["potential"] == "28.3" and year["tce"] == page["tce"]


async def test_a_chosen_level_a_corrected_reference_and_an_own_co2_benchmark(world: World) -> None:
    accountant = await world.login("a-accountant")
    processes = await _works(world, accountant)
    bof = processes["BOF"]
    entered = await world.client.put(
        f"{BM}/inputs",
        headers=accountant,
        json={"process_id": bof.id, "name": "scrap_ratio", "period": "2026-03", "value": "10", "source": "炼钢月报"},
    )
    assert entered.status_code == 200, entered.text

    # the converter's level 1 corrected by its scrap ratio: -30 + 0.23 x 10 = -27.7
    page = await _potential(world, accountant, reference="gb21256-2025.bof:1")
    row = _row(page, "BOF")["energy"]
    reference = row["reference"]
    assert (reference["base"], reference["value"], reference["corrected"]) == ("-30", "-27.7", True)
    assert reference["corrections"][0]["adjustment"] == "2.3" and reference["missing"] == []
    expected = ((BOF + Decimal("27.7")) * BOF_T / 1000).quantize(GRAM, ROUND_HALF_EVEN)
    assert _close(row["potential"], expected) and Decimal(row["potential"]) < Decimal("195")
    assert _row(page, "SIN4")["energy"]["status"] == "no_reference"  # that entry is the converter's only
    assert page["tce"] == row["potential"] and page["enterprise"][0]["counted_tce"] == 1

    # level 3 of whatever applies: SIN4 above (122.9 - 52 x 2.2 = 8.5), the converter within its corrected -9.7
    third = await _potential(world, accountant, reference="3")
    assert _row(third, "SIN4")["energy"]["potential"] == "8.5"
    assert _row(third, "SIN3")["energy"]["potential"] == "0"
    converter = _row(third, "BOF")["energy"]
    assert converter["status"] == "reached" and converter["reference"]["value"] == "-9.7"
    assert third["tce"] == "8.5" and third["enterprise"][0]["tce"] == "8.5"

    # the enterprise's own CO2 benchmark for sinter plants: tCO2 = (actual - 0.01) x output
    entry = {"kind": "benchmark", "process_type": "sintering", "indicator": "co2_intensity", "unit": "tCO2/t",
             "name": "集团最优烧结 CO2", "levels": [{"name": "best", "value": "0.01"}], "source": "集团年报",
             "edition": "2025"}  # fmt: skip
    body = {"library": "enterprise", "enterprise_id": world.a.enterprise.id, "reason": "group best CO2",
            "changes": [{"code": "group-best.sinter-co2", "entry": entry}]}  # fmt: skip
    code = totp_code(world.secrets["a-accountant"], steps_ahead=1)
    added = await world.client.post(f"{BM}/versions", headers=accountant | {"X-CEM-TOTP": code}, json=body)
    assert added.status_code == 201, added.text
    best = await _potential(world, accountant, reference="best")
    assert best["versions"][f"enterprise-{world.a.enterprise.id}"] == 1
    sums = Decimal(0)
    for code in ("SIN1", "SIN2", "SIN3", "SIN4"):
        co2 = _row(best, code)["co2"]
        output = Decimal(co2["output"])
        by_hand = ((Decimal(co2["actual"]) - Decimal("0.01")) * output).quantize(GRAM, ROUND_HALF_EVEN)
        assert co2["status"] == "above" and Decimal(co2["potential"]) == by_hand > 0, code
        assert co2["reference"]["library"] == f"enterprise-{world.a.enterprise.id}" and co2["reference"]["version"] == 1
        assert _row(best, code)["energy"]["status"] == "no_reference"
        sums += by_hand
    assert Decimal(best["tco2"]) == sums and best["enterprise"][0]["counted_tco2"] == 4 and best["tce"] == "0"
    # pinned to the national version, the same answer
    assert await _potential(world, accountant, reference="best", national_version=1) == best


async def test_bad_input_to_the_potential_gets_a_clear_error(world: World) -> None:
    accountant = await world.login("a-accountant")
    await _works(world, accountant)
    enterprise = world.a.enterprise.id
    for params, status, message in [
        ({"reference": "Level 1!"}, 400, "neither a level name"),
        ({"reference": "zzz"}, 400, "has a level 'zzz'"),
        ({"reference": "nope.x:1"}, 400, "No entry 'nope.x'"),
        ({"reference": "gb21256-2025.bof:benchmark"}, 400, "has no level 'benchmark'"),
        ({"from": "2026-13"}, 400, "is not a month"),
        ({"from": "2026-03", "to": "2026-01"}, 400, "comes before"),
        ({"period": "year", "from": "2026-03"}, 400, "is not a year"),
        ({"from": "2020-01", "to": "2026-01"}, 400, "At most 36"),
        ({"national_version": 9}, 404, "no version 9"),
    ]:
        query = {"enterprise_id": enterprise, "period": "month", "from": "2026-03", **params}
        answer = await world.client.get(f"{BM}/potential", headers=accountant, params=query)
        assert answer.status_code == status and message in answer.json()["error"]["message"], (message, answer.text)
    for query in [
        {"enterprise_id": world.b.enterprise.id, "period": "month", "from": "2026-03"},  # another enterprise
        {"enterprise_id": 999999, "period": "month", "from": "2026-03"},
    ]:
        assert (await world.client.get(f"{BM}/potential", headers=accountant, params=query)).status_code == 404
    for query in [
        {"period": "month", "from": "2026-03"},  # no enterprise
        {"enterprise_id": enterprise, "period": "week", "from": "2026-03"},
        {"enterprise_id": enterprise, "period": "month"},
    ]:
        assert (await world.client.get(f"{BM}/potential", headers=accountant, params=query)).status_code == 400
    assert (await world.client.get(f"{BM}/potential", params={"enterprise_id": enterprise})).status_code == 401
