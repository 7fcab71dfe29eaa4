"""Carbon assets on real PostgreSQL: one seeded enterprise (A) with kept month results from 2022-01 to 2025-08 (2024
verified), its ledger, prices, trial calculations, a rule change and the warnings.

The kept results are written as the refresh job keeps them (acc_result rows), with figures chosen by hand: month m
of year y has combustion 100,000 + 10,000 x (m mod 4) tCO2, process 20,000, fixed carbon 1,500, electricity 30,000
(not in the ETS scope), crude steel 200,000 + 5,000 x (m mod 3) t.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest
from asyncpg.exceptions import RaiseError

from cem_platform.accounting.models import EmissionResult, PeriodKind, ReportingYear, ReportState
from cem_platform.accounting.reads import clear_cache
from cem_platform.alarms.models import Alarm, AlarmKind, AlarmState
from cem_platform.audit.models import AuditRecord
from cem_platform.carbon_assets.models import AssetTransaction, PriceQuote, TrialCalculation
from cem_platform.carbon_assets.services import evaluate_warnings
from cem_platform.settings import Settings
from tests.test_platform.world import World, totp_code

CA = "/api/v1/carbon-assets"
ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
VERIFIED_2024 = Decimal("1500000")


def _month(y: int, m: int) -> dict[str, Decimal]:
    combustion = Decimal(100000 + 10000 * (m % 4))
    return {
        "combustion": combustion,
        "process_emissions": Decimal(20000),
        "fixed_carbon": Decimal(1500),
        "electricity": Decimal(30000),
        "heat": Decimal(0),
        "crude_steel": Decimal(200000 + 5000 * (m % 3)),
    }


def _direct(y: int, m: int) -> Decimal:
    f = _month(y, m)
    return f["combustion"] + f["process_emissions"] - f["fixed_carbon"]


async def _seed(world: World) -> dict[str, int]:
    """Kept month results 2022-01..2025-08 of enterprise A; 2024 verified at VERIFIED_2024. Month -> result id."""
    enterprise = world.a.enterprise
    ids: dict[str, int] = {}
    rows = []
    for y in range(2022, 2026):
        for m in range(1, 13):
            if (y, m) > (2025, 8):
                break
            f = _month(y, m)
            start = dt.datetime(y, m, 1, tzinfo=ZONE)
            end = dt.datetime(y + m // 12, m % 12 + 1, 1, tzinfo=ZONE)
            net = f["combustion"] + f["process_emissions"] + f["electricity"] + f["heat"] - f["fixed_carbon"]
            rows.append(
                EmissionResult(
                    enterprise=enterprise,
                    period=PeriodKind.MONTH,
                    period_start=start.astimezone(dt.UTC),
                    period_end=end.astimezone(dt.UTC),
                    version=1,
                    current=True,
                    final=True,
                    fingerprint=f"{y}{m}",
                    edition="gbt32151_5",
                    library_version=1,
                    grid_version=1,
                    net=net,
                    combustion=f["combustion"],
                    process_emissions=f["process_emissions"],
                    electricity=f["electricity"],
                    heat=f["heat"],
                    fixed_carbon=f["fixed_carbon"],
                    crude_steel=f["crude_steel"],
                    intensity=net / f["crude_steel"],
                    complete=True,
                    estimated=False,
                    energy={"unit": "tce", "total": str(f["crude_steel"] / 2)},
                    created_by="test",
                )
            )
    await EmissionResult.bulk_create(rows)
    for row in await EmissionResult.filter(enterprise=enterprise):
        ids[row.period_start.astimezone(ZONE).strftime("%Y-%m")] = row.id
    await ReportingYear.create(
        enterprise=enterprise, year=2024, state=ReportState.VERIFIED, verified={"net": "0", "direct": "1500000"}
    )
    clear_cache()
    return ids


async def _post(world: World, headers: dict[str, str], path: str, body: dict[str, Any], status: int = 201) -> Any:
    response = await world.client.post(f"{CA}{path}", headers=headers, json=body)
    assert response.status_code == status, response.text
    return response.json()


def _tx(world: World, **fields: Any) -> dict[str, Any]:
    return {"enterprise_id": world.a.enterprise.id, "year": 2025, "traded_on": "2025-03-01", **fields}


async def test_ets_scope_emissions_are_fuel_plus_process_minus_fixed_carbon_of_the_kept_results(world: World) -> None:
    ids = await _seed(world)
    reader = await world.login("a-executive")
    response = await world.client.get(
        f"{CA}/emissions", headers=reader, params={"enterprise_id": world.a.enterprise.id, "year": 2025}
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["scope_terms"] == {"combustion": 1, "process": 1, "fixed_carbon": -1}
    assert [m["month"] for m in page["months"]] == [f"2025-{m:02d}" for m in range(1, 9)]
    for month in page["months"]:
        by_hand = Decimal(month["combustion"]) + Decimal(month["process"]) - Decimal(month["fixed_carbon"])
        assert Decimal(month["direct"]) == by_hand == _direct(2025, int(month["month"][5:]))
        assert month["result_id"] == ids[month["month"]]  # lineage: the very results summed
        assert Decimal(month["net"]) == by_hand + 30000  # electricity counts in net, not in the ETS scope
    assert page["result_ids"] == [ids[f"2025-{m:02d}"] for m in range(1, 9)]
    assert page["forecast_months"] == ["2025-09", "2025-10", "2025-11", "2025-12"]
    direct = page["forecasts"]["direct"]
    assert Decimal(direct["actual"]) == sum(_direct(2025, m) for m in range(1, 9))
    assert direct["method"] == "holt_winters_seasonal_12" and direct["months_forecast"] == 4
    assert Decimal(direct["low"]) <= Decimal(direct["year_end"]) <= Decimal(direct["high"])
    assert set(page["forecasts"]) == {"direct", "net", "energy_tce", "crude_steel"}

    # a production plan for September: the output forecast takes it, emissions keep their forecast intensity
    accountant = await world.login("a-accountant")
    plan = {"enterprise_id": world.a.enterprise.id, "month": "2025-09", "crude_steel": "100000"}
    entered = await world.client.put(f"{CA}/plan", headers=accountant, json=plan)
    assert entered.status_code == 200, entered.text
    assert (await world.client.put(f"{CA}/plan", headers=reader, json=plan)).status_code == 403
    params = {"enterprise_id": world.a.enterprise.id, "year": 2025}
    planned = (await world.client.get(f"{CA}/emissions", headers=reader, params=params)).json()["forecasts"]
    assert planned["crude_steel"]["monthly"][0] == "100000"
    ratio = Decimal(planned["direct"]["monthly"][0]) / Decimal(direct["monthly"][0])
    output_ratio = Decimal(100000) / Decimal(page["forecasts"]["crude_steel"]["monthly"][0])
    assert abs(ratio - output_ratio) < Decimal("0.0001") and planned["direct"]["monthly"][1:] == direct["monthly"][1:]
    assert await AuditRecord.filter(action="carbon_assets.plan.set").count() == 1


async def test_each_process_has_its_ets_scope_output_and_intensity_forecast(world: World) -> None:
    """Blast furnace and converter share each month: the BF 80 % of combustion and all process emissions, the BOF
    the rest and the fixed carbon; the BF's product is 90 % of the crude steel's tonnes, the BOF's all of it."""
    await _seed(world)
    for row in await EmissionResult.filter(enterprise=world.a.enterprise):
        bf = {"combustion": row.combustion * Decimal("0.8"), "process": row.process_emissions, "fixed_carbon": 0}
        bof = {"combustion": row.combustion * Decimal("0.2"), "process": 0, "fixed_carbon": row.fixed_carbon}
        by_process = {
            code: {**{k: str(v) for k, v in t.items()}, "net": str(sum(Decimal(v) for v in t.values()))}
            for code, t in (("BF", bf), ("BOF", bof))
        }
        outputs = {"BF": {"output": str(row.crude_steel * Decimal("0.9"))}, "BOF": {"output": str(row.crude_steel)}}
        energy = {**row.energy, "by_process": outputs}
        await EmissionResult.filter(id=row.id).update(by_process=by_process, energy=energy)
    clear_cache()
    reader = await world.login("a-executive")
    params = {"enterprise_id": world.a.enterprise.id, "year": 2025}
    assert "processes" not in (await world.client.get(f"{CA}/emissions", headers=reader, params=params)).json()
    page = (await world.client.get(f"{CA}/emissions", headers=reader, params={**params, "processes": "true"})).json()
    assert set(page["processes"]) == {"BF", "BOF"}
    bf, bof = page["processes"]["BF"], page["processes"]["BOF"]
    # the processes' actual ETS scope adds up to the enterprise's, month by month as kept
    actual = Decimal(bf["direct"]["actual"]) + Decimal(bof["direct"]["actual"])
    assert actual == Decimal(page["forecasts"]["direct"]["actual"])
    assert Decimal(bof["direct"]["actual"]) == sum(
        _month(2025, m)["combustion"] * Decimal("0.2") - 1500 for m in range(1, 9)
    )
    for process in (bf, bof):
        assert process["direct"]["months_forecast"] == 4 and process["output"]["months_forecast"] == 4
        assert Decimal(process["direct"]["low"]) <= Decimal(process["direct"]["year_end"])
        assert Decimal(process["direct"]["year_end"]) <= Decimal(process["direct"]["high"])
        by_hand = Decimal(process["direct"]["year_end"]) / Decimal(process["output"]["year_end"])
        assert Decimal(process["intensity"]) == by_hand.quantize(Decimal("0.000001"))


async def test_a_2025_trial_with_pre_allocation_true_up_and_the_5_percent_offset_cap(world: World) -> None:
    await _seed(world)
    accountant = await world.login("a-accountant")
    pre = VERIFIED_2024 * Decimal("0.7")
    await _post(
        world, accountant, "/transactions", _tx(world, instrument="allowance", kind="pre_allocation", quantity=str(pre))
    )
    await _post(
        world,
        accountant,
        "/transactions",
        _tx(
            world,
            instrument="offset",
            kind="acquired",
            quantity="500000",
            price="60",
            offset_type="CCER",
            project="风电 A",
            vintage=2024,
        ),
    )
    await _post(world, accountant, "/prices", {"instrument": "CEA", "day": "2025-06-30", "price": "90.5"})
    before = await TrialCalculation.all().count()
    response = await world.client.get(
        f"{CA}/trial", headers=accountant, params={"enterprise_id": world.a.enterprise.id, "year": 2025}
    )
    assert response.status_code == 200, response.text
    trial = response.json()
    assert await TrialCalculation.all().count() == before  # a read writes nothing
    assert trial["rule_version"] == 1 and trial["rule"]["allocation"] == "pre_allocation_true_up"
    allocation = trial["allocation"]
    assert allocation["previous"]["basis"] == "verified" and Decimal(allocation["previous"]["direct"]) == VERIFIED_2024
    assert Decimal(allocation["pre_allocation"]) == pre
    output_2024 = sum(_month(2024, m)["crude_steel"] for m in range(1, 13))
    output = Decimal(trial["emissions"]["forecasts"]["crude_steel"]["year_end"])
    final = (output * VERIFIED_2024 / output_2024).quantize(Decimal("0.0001"))
    assert Decimal(allocation["final"]) == final and Decimal(allocation["true_up"]) == final - pre
    assert Decimal(trial["allocation_received"]) == pre and Decimal(trial["allocation_expected"]) == final - pre
    obligation = Decimal(trial["emissions"]["forecasts"]["direct"]["year_end"])
    assert Decimal(trial["obligation"]) == obligation
    # the 5 % cap: 500,000 t of CCER held, only 5 % of the obligation usable, at each end of the band too
    assert Decimal(trial["offset_cap"]) == (obligation * Decimal("0.05")).quantize(Decimal("0.0001"))
    assert Decimal(trial["offsets_usable"]) == Decimal(trial["offset_cap"]) < Decimal(500000)
    for end in ("low", "high"):
        band = trial["band"][end]
        assert Decimal(band["offsets_usable"]) == (Decimal(band["obligation"]) * Decimal("0.05")).quantize(
            Decimal("0.0001")
        )
    position = Decimal(trial["allowances"]) + Decimal(trial["offsets_usable"]) - obligation
    assert Decimal(trial["position"]) == position and Decimal(trial["allowances"]) == final
    assert Decimal(trial["band"]["low"]["position"]) <= position <= Decimal(trial["band"]["high"]["position"])
    assert Decimal(trial["money"]["position"]) == (position * Decimal("90.5")).quantize(Decimal("0.01"))
    assert "intensity_factor" in " ".join(trial["notes"])  # the uncertain parts of the rule are said

    # trued up after verification: the allocation is what was received from then on
    true_up = _tx(world, instrument="allowance", kind="true_up", quantity="-20000", traded_on="2026-06-30")
    await _post(world, accountant, "/transactions", true_up)
    params = {"enterprise_id": world.a.enterprise.id, "year": 2025}
    trued = (await world.client.get(f"{CA}/trial", headers=accountant, params=params)).json()
    assert Decimal(trued["allocation"]["final"]) == pre - 20000 and Decimal(trued["allocation"]["computed"]) == final
    assert trued["allocation_expected"] == "0" and Decimal(trued["allowances"]) == pre - 20000


async def test_the_ledger_is_append_only_corrections_keep_history_and_bad_input_writes_nothing(
    world: World,
) -> None:
    await _seed(world)
    accountant = await world.login("a-accountant")
    first = await _post(
        world,
        accountant,
        "/transactions",
        _tx(world, instrument="allowance", kind="purchased", quantity="1000", price="88"),
    )
    fixed = await _post(
        world,
        accountant,
        "/transactions",
        _tx(world, instrument="allowance", kind="purchased", quantity="800", price="88", corrects=first["id"]),
    )
    params = {"enterprise_id": world.a.enterprise.id, "year": 2025}
    ledger = (await world.client.get(f"{CA}/transactions", headers=accountant, params=params)).json()
    assert [(t["id"], t["counts"], t["quantity"]) for t in ledger] == [
        (first["id"], False, "1000"),
        (fixed["id"], True, "800"),
    ]
    assert fixed["corrects"] == first["id"]
    with pytest.raises(RaiseError, match="append-only"):  # the database refuses it too
        await AssetTransaction.filter(id=first["id"]).update(quantity=Decimal(1))
    with pytest.raises(RaiseError, match="append-only"):
        await AssetTransaction.filter(id=first["id"]).delete()
    held = (await world.client.get(f"{CA}/holdings", headers=accountant, params=params)).json()
    assert held["allowances"] == "800" and held["transactions"] == [fixed["id"]]
    again = await world.client.post(
        f"{CA}/transactions",
        headers=accountant,
        json=_tx(world, instrument="allowance", kind="purchased", quantity="5", corrects=first["id"]),
    )
    assert again.status_code == 400 and "corrected already" in again.json()["error"]["message"]

    audits = await AuditRecord.filter(action="carbon_assets.transaction.add").count()
    count = await AssetTransaction.all().count()
    bad = [
        _tx(world, instrument="allowance", kind="sold", quantity="801", price="90"),  # more than held
        _tx(world, instrument="allowance", kind="surrendered", quantity="900"),
        _tx(world, instrument="allowance", kind="purchased", quantity="10", price="-1"),  # negative price
        _tx(world, instrument="allowance", kind="purchased", quantity="-10"),
        _tx(
            world, instrument="offset", kind="acquired", quantity="10", offset_type="CCER", project="P", vintage=2010
        ),  # not eligible in 2025
        _tx(world, instrument="offset", kind="acquired", quantity="10", offset_type="VCS", project="P", vintage=2024),
    ]
    for body in bad:
        response = await world.client.post(f"{CA}/transactions", headers=accountant, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["message"]
    assert (
        "more than is held"
        in (await world.client.post(f"{CA}/transactions", headers=accountant, json=bad[0])).json()["error"]["message"]
    )
    assert await AssetTransaction.all().count() == count  # nothing written
    assert await AuditRecord.filter(action="carbon_assets.transaction.add").count() == audits
    prices = await PriceQuote.all().count()
    refused = await world.client.post(
        f"{CA}/prices", headers=accountant, json={"instrument": "CEA", "day": "2025-07-01", "price": "-3"}
    )
    assert refused.status_code == 400 and await PriceQuote.all().count() == prices
    # a CSV import: all rows or none
    csv_rows = b"date,price\n2025-07-01,91.2\n2025-07-02,92\n"
    imported = await world.client.post(
        f"{CA}/prices/import", headers=accountant, params={"instrument": "CEA"}, content=csv_rows
    )
    assert imported.status_code == 201 and imported.json() == {"imported": 2}
    clash = await world.client.post(
        f"{CA}/prices/import",
        headers=accountant,
        params={"instrument": "CEA"},
        content=b"2025-07-03,93\n2025-07-02,92\n",
    )
    assert clash.status_code == 400 and await PriceQuote.all().count() == prices + 2
    held = (await world.client.get(f"{CA}/holdings", headers=accountant, params=params)).json()
    assert held["allowance_price"] == "92" and held["value"] == str(800 * 92)
    trend = (await world.client.get(f"{CA}/holdings/trend", headers=accountant, params=params)).json()
    assert trend[0] == {"month": "2025-03", "allowances": "800", "offsets": "0", "value": None}  # no price yet
    assert next(t for t in trend if t["month"] == "2025-07")["value"] == str(800 * 92)


async def test_roles_and_scope(world: World) -> None:
    await _seed(world)
    reader = await world.login("a-executive")
    refused = await world.client.post(
        f"{CA}/transactions", headers=reader, json=_tx(world, instrument="allowance", kind="purchased", quantity="1")
    )
    assert refused.status_code == 403
    other = await world.login("b-admin")
    params = {"enterprise_id": world.a.enterprise.id, "year": 2025}
    assert (await world.client.get(f"{CA}/holdings", headers=other, params=params)).status_code == 404
    assert (await world.client.get(f"{CA}/trial", headers=other, params=params)).status_code == 404
    written = await world.client.post(
        f"{CA}/transactions", headers=other, json=_tx(world, instrument="allowance", kind="purchased", quantity="1")
    )
    assert written.status_code == 404 and await AssetTransaction.all().count() == 0
    # the rules are shared: an enterprise's accountant cannot change them, even with a step-up
    accountant = await world.login("a-accountant")
    step_up = accountant | {"X-CEM-TOTP": totp_code(world.secrets["a-accountant"], steps_ahead=1)}
    change = {"reason": "x", "changes": [{"code": "2025", "remove": True}]}
    assert (await world.client.post(f"{CA}/rules/versions", headers=step_up, json=change)).status_code == 403


async def test_a_rule_change_never_rewrites_a_published_calculation(world: World) -> None:
    await _seed(world)
    accountant = await world.login("a-accountant")
    published = await _post(world, accountant, "/trials", {"enterprise_id": world.a.enterprise.id, "year": 2025})
    assert published["rule_version"] == 1 and published["figures"]["allocation"]["pre_allocation"] == "1050000"
    rules = (await world.client.get(f"{CA}/rules", headers=accountant)).json()
    rule_2025 = next(e for e in rules["entries"] if e["year"] == 2025)
    for entry in rules["entries"]:
        assert entry["source"] and entry["confidence"] and "uncertain" in entry
    admin = await world.login("group-admin")
    step_up = admin | {"X-CEM-TOTP": totp_code(world.secrets["group-admin"], steps_ahead=1)}
    changed = {**rule_2025, "pre_allocation_share": "0.6"}
    body = {"reason": "the ministry's final share", "changes": [{"code": "2025", "entry": changed}]}
    version = await _post(world, step_up, "/rules/versions", body)
    assert version["number"] == 2 and version["diff"][0]["change"] == "changed"
    params = {"enterprise_id": world.a.enterprise.id, "year": 2025}
    now = (await world.client.get(f"{CA}/trial", headers=accountant, params=params)).json()
    assert now["rule_version"] == 2 and now["allocation"]["pre_allocation"] == "900000"
    kept = (await world.client.get(f"{CA}/trials/{published['id']}", headers=accountant)).json()
    assert kept["rule_version"] == 1 and kept["figures"] == published["figures"]
    old = (await world.client.get(f"{CA}/trial", headers=accountant, params={**params, "rule_version": 1})).json()
    assert old["allocation"]["pre_allocation"] == "1050000"
    assert await AuditRecord.filter(action="carbon_assets.rules.change", outcome="success").count() == 1


async def test_warnings_raised_and_cleared_as_the_forecast_deficit_crosses_its_level_and_the_deadline_nears(
    world: World, settings: Settings
) -> None:
    await _seed(world)
    accountant = await world.login("a-accountant")
    pre = _tx(world, instrument="allowance", kind="pre_allocation", quantity="1050000")
    await _post(world, accountant, "/transactions", pre)
    september = dt.datetime(2025, 9, 15, tzinfo=dt.UTC)  # 2025 kept to August, the rest forecast
    report = await evaluate_warnings(settings, now=september)
    assert report.errors == {} and report.raised == 1
    [alarm] = await Alarm.filter(kind=AlarmKind.CARBON_DEFICIT, state=AlarmState.ACTIVE)
    assert alarm.cause == f"carbon:{world.a.enterprise.id}:2025:deficit" and "forecast deficit" in alarm.message
    deficit = -Decimal(alarm.detail["position"])
    assert deficit > 1000 and alarm.detail["rule_version"] == 1
    # six weeks before the 2025 surrender deadline (2026-12-31), still short: the deadline warning too
    november = dt.datetime(2026, 11, 15, tzinfo=dt.UTC)
    report = await evaluate_warnings(settings, now=november)
    active = await Alarm.filter(kind=AlarmKind.CARBON_DEFICIT, state=AlarmState.ACTIVE).order_by("id")
    assert [a.cause.rsplit(":", 1)[1] for a in active] == ["deficit", "deadline"]
    assert "surrender deadline 2026-12-31" in active[1].message
    # allowances bought to cover the forecast (and its band): both clear
    bought = _tx(world, instrument="allowance", kind="purchased", quantity=str(deficit + 200000), price="90")
    await _post(world, accountant, "/transactions", bought)
    report = await evaluate_warnings(settings, now=november)
    assert report.cleared == 2 and report.raised == 0
    assert await Alarm.filter(kind=AlarmKind.CARBON_DEFICIT, state=AlarmState.ACTIVE).count() == 0
    assert (await Alarm.get(id=alarm.id)).state == AlarmState.CLEARED
    # the allocation intensity lowered below August's 118,500 / 210,000 = 0.5643 tCO2/t: the intensity warning
    admin = await world.login("group-admin")
    step_up = admin | {"X-CEM-TOTP": totp_code(world.secrets["group-admin"], steps_ahead=1)}
    rule = next(
        e for e in (await world.client.get(f"{CA}/rules", headers=admin)).json()["entries"] if e["code"] == "2025"
    )
    body = {"reason": "test", "changes": [{"code": "2025", "entry": {**rule, "intensity_factor": "0.9"}}]}
    await _post(world, step_up, "/rules/versions", body)
    await evaluate_warnings(settings, now=november)
    active = await Alarm.filter(kind=AlarmKind.CARBON_DEFICIT, state=AlarmState.ACTIVE)
    [intensity] = [a for a in active if a.cause.endswith(":intensity")]
    assert "2025-08: 0.5643 tCO2/t above the allocation intensity 0.5488 tCO2/t" in intensity.message
