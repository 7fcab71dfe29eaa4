"""The balance of a by-product gas on real PostgreSQL: the quantity of a user no meter sees, by the documented rule.

Ironmaking burns 1,000 t of coke and makes 500 x 10^4 Nm3 of blast-furnace gas (its generation line); it sells
50 of them; the power plant's meter sees 300. Hot rolling burns the gas without a meter and declares half of the
rest: (500 - 300 - 50) x 0.5 = 75 x 10^4 Nm3; the other half is flared and stays at ironmaking. The enterprise's
figures do not move; the processes do, and the balanced quantity says how it was found.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from cem_platform.accounting.balance import Peer, balanced
from cem_platform.accounting.engine import Quantity
from cem_platform.accounting.formulas import AccountingError
from cem_platform.org.models import Process, ProcessType
from tests.test_accounting.kept import refresh_now
from tests.test_accounting.test_api import API
from tests.test_accounting.test_transfers import _month, _source
from tests.test_platform.world import World

GAS = {"category": "fuel_combustion", "item": "blast_furnace_gas"}
NM3 = "10^4 Nm3"
MANUAL = {"FC": {"origin": "manual", "unit": NM3}}


def _q(value: str, complete: bool = True) -> Quantity:
    return Quantity(Decimal(value), NM3, "entered", complete=complete)


def test_the_rule_shares_the_rest_and_never_a_shortfall() -> None:
    rest = balanced(label="HR.BFG.FC", unit=NM3, share=Decimal("0.5"), shares_total=Decimal("0.8"),
                    made=[Peer("IR.MADE", _q("500"))], used=[Peer("PW.BFG", _q("300"))],
                    sold=[Peer("IR.SALE", _q("50"))])  # fmt: skip
    assert rest.value == Decimal("75") and rest.estimated and rest.complete
    assert "made IR.MADE 500 − used PW.BFG 300 − sold IR.SALE 50 = 150" in rest.origin and "share 0.5" in rest.origin
    # in another unit, from a generation read in Nm3 and an incomplete user
    rest = balanced(label="x", unit=NM3, share=Decimal(1), shares_total=Decimal(1),
                    made=[Peer("M", Quantity(Decimal("2000000"), "Nm3", "meter"))],
                    used=[Peer("U", _q("150", complete=False))], sold=[])  # fmt: skip
    assert rest.value == Decimal(50) and not rest.complete
    short = balanced(label="x", unit=NM3, share=Decimal(1), shares_total=Decimal(1),
                     made=[Peer("M", _q("100"))], used=[Peer("U", _q("130"))], sold=[])  # fmt: skip
    assert short.value == 0 and "exceed the generation by 30" in short.origin
    for made, total, said in (([], Decimal(1), "no generation line"), ([Peer("M", _q("1"))], Decimal("1.2"), "1.2")):
        with pytest.raises(AccountingError, match=re.escape(said)):
            balanced(label="x", unit=NM3, share=Decimal("0.6"), shares_total=total, made=made, used=[], sold=[])


async def test_an_unmetered_user_gets_its_share_of_the_makers_rest(world: World) -> None:
    headers = await world.login("a-accountant")
    site, ir = world.a.site, world.a.process
    pw = await Process.create(site=site, process_type=await ProcessType.get(code="captive_power"), code="PW", name="PW")
    hr = await Process.create(site=site, process_type=await ProcessType.get(code="hot_rolling"), code="HR", name="HR")
    coke = {"code": "IR.COKE", "category": "fuel_combustion", "item": "coke", "process_id": ir.id,
            "inputs": {"FC": {"origin": "manual", "unit": "t"}}}  # fmt: skip
    await _source(world, headers, coke, {"FC": "1000"})
    await _source(world, headers, {**GAS, "code": "IR.BFG.MADE", "process_id": ir.id, "direction": "made",
                                   "inputs": MANUAL}, {"FC": "500"})  # fmt: skip
    await _source(world, headers, {**GAS, "code": "IR.BFG.SALE", "process_id": ir.id, "direction": "sold",
                                   "inputs": MANUAL}, {"FC": "50"})  # fmt: skip
    await _source(world, headers, {**GAS, "code": "PW.BFG", "process_id": pw.id, "direction": "transfer",
                                   "from_process_id": ir.id, "inputs": MANUAL}, {"FC": "300"})  # fmt: skip
    await refresh_now()
    before = await _month(world, headers, "emissions")
    energy_before = await _month(world, headers, "energy")

    balance = {"FC": {"origin": "balance", "unit": NM3, "share": "0.5"}}
    user = await _source(world, headers, {**GAS, "code": "HR.BFG", "process_id": hr.id, "direction": "transfer",
                                          "from_process_id": ir.id, "inputs": balance}, {})  # fmt: skip
    assert user["inputs"]["FC"] == {"origin": "balance", "unit": NM3, "share": "0.5"}
    await refresh_now()
    after = await _month(world, headers, "emissions")
    energy = await _month(world, headers, "energy")

    # the enterprise does not move; hot rolling burns 75 of the gas the power plant burns 300 of
    assert (after["net"], after["direct"]) == (before["net"], before["direct"])
    assert Decimal(energy["net"]) == Decimal(energy_before["net"])
    parts = {p["key"]: Decimal(p["value"]) for p in after["parts"]}
    old = {p["key"]: Decimal(p["value"]) for p in before["parts"]}
    assert parts["HR"] == parts["PW"] * 75 / 300 and parts["PW"] == old["PW"]
    assert parts["IR"] == old["IR"] - parts["HR"] and sum(parts.values()) == Decimal(after["net"])
    tce = {p["key"]: Decimal(p["value"]) for p in energy["parts"]}
    assert abs(tce["HR"] - Decimal(75 * 33) / Decimal("29.3076")) < Decimal("1e-9")
    assert after["estimated"] is True  # a balanced quantity is derived, not measured

    lineage = await world.client.get(f"/api/v1/emissions/{after['lineage'].split('/')[-2]}/lineage", headers=headers)
    lines = {s["source_id"]: s for s in lineage.json()["lineage"]["sources"]}
    assert "IR.BFG.MADE" not in lines  # the generation feeds the balance, it is no emission of its own
    [used] = lines["HR.BFG"]["inputs"]
    assert Decimal(used["used_value"]) == 75 and "balance (made IR.BFG.MADE 500" in used["origin"]
    assert Decimal(lines["HR.BFG>IR"]["emission"]) == -Decimal(lines["HR.BFG"]["emission"])

    # nothing is entered for a balanced input
    record = {"source_id": user["id"], "input": "FC", "value": "10", "unit": NM3, "from": "2024-03-01",
              "to": "2024-03-31"}  # fmt: skip
    refused = await world.client.post(f"{API}/activity", headers=headers, json=record)
    assert refused.status_code == 400 and "balance" in refused.json()["error"]["message"]


async def test_balance_shares_and_generation_lines_are_checked(world: World) -> None:
    headers = await world.login("a-accountant")
    ir = world.a.process
    pw = await Process.create(site=world.a.site, process_type=await ProcessType.get(code="captive_power"),
                              code="PW", name="PW")  # fmt: skip

    def balance(share: Any) -> dict[str, Any]:
        return {"FC": {"origin": "balance", "unit": NM3, "share": share}}

    user = {**GAS, "process_id": pw.id, "direction": "transfer", "from_process_id": ir.id}
    first = {**user, "code": "B1", "inputs": balance("0.7")}
    created = await world.client.post(
        f"{API}/sources", headers=headers, json={"enterprise_id": world.a.enterprise.id, "name": "b1", **first}
    )
    assert created.status_code == 201, created.text
    cases = [
        ({**user, "code": "B2", "inputs": balance("0.4")}, "add up to 1.1"),
        ({**user, "code": "B3", "inputs": balance("1.5")}, "at most 1"),
        ({**user, "code": "B4", "inputs": balance("0")}, "above 0"),
        ({**user, "code": "B5", "inputs": balance("lots")}, "not a decimal"),
        ({**GAS, "code": "B6", "process_id": pw.id, "inputs": balance("0.1")}, "transfer"),
        ({**GAS, "code": "B7", "process_id": None, "direction": "made", "inputs": MANUAL}, "process_id"),
        ({**user, "code": "B8", "inputs": {"FC": {"origin": "manual", "unit": NM3, "share": "0.1"}}}, "only to"),
    ]
    for body, said in cases:
        response = await world.client.post(
            f"{API}/sources", headers=headers, json={"enterprise_id": world.a.enterprise.id, "name": "x", **body}
        )
        assert response.status_code == 400 and said in response.json()["error"]["message"], (body, response.text)
    # a balance user with no generation line at its maker: the refresh keeps the reason, a read says it
    report = await refresh_now()
    assert "no generation line" in report.errors[world.a.enterprise.id]
    params = {"scope": "enterprise", "id": world.a.enterprise.id, "period": "month", "from": "2024-03"}
    page = await world.client.get("/api/v1/emissions", headers=headers, params=params)
    assert page.status_code == 400 and "no generation line" in page.json()["error"]["message"], page.text
