"""Field entry (人工采集 by maintenance crews): permission activity.enter without accounting.write.

A crew member sees only the inputs read by hand or metered at the sites in scope, enters values and meter
photos, corrects only their own entries, and cannot touch ledger inputs, other sites or the books.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cem_platform.accounting.models import ActivityRecord, EmissionSource
from cem_platform.audit.models import AuditRecord
from cem_platform.identity.roles import Role
from cem_platform.org.models import Process, ProcessType, Site
from tests.test_platform.world import World

API = "/api/v1/accounting"


async def _sources(world: World) -> dict[str, EmissionSource]:
    """In enterprise A: limestone at site 1 (manual), coke at site 1 (metered), a ledger input at site 1, an
    enterprise-level manual input, and dolomite at a second site."""
    a = world.a
    site2 = await Site.create(enterprise=a.enterprise, code="ENTA-S2", name="二基地")
    process2 = await Process.create(
        site=site2, process_type=await ProcessType.get(code="ironmaking"), code="IR2", name="炼铁二"
    )
    made = {}
    specs: list[tuple[str, int | None, str, str, dict[str, Any]]] = [
        ("LIME", a.process.id, "flux", "limestone", {"AD": {"origin": "manual", "unit": "t"}}),
        (
            "COKE",
            a.process.id,
            "fuel_combustion",
            "coke",
            {"FC": {"origin": "meter", "unit": "t", "points": [{"id": a.point.id, "sign": 1}]}},
        ),
        ("DOLO.LEDGER", a.process.id, "flux", "dolomite", {"AD": {"origin": "import", "unit": "t"}}),
        ("STEAM", None, "heat", "", {"purchased": {"origin": "manual", "unit": "GJ"}}),
        ("DOLO.S2", process2.id, "flux", "dolomite", {"AD": {"origin": "manual", "unit": "t"}}),
    ]
    for code, process_id, category, item, inputs in specs:
        made[code] = await EmissionSource.create(
            enterprise=a.enterprise,
            process_id=process_id,
            code=code,
            name=code.lower(),
            category=category,
            item=item,
            inputs=inputs,
        )
    return made


async def test_crew_at_one_site_enters_and_corrects_only_their_own(world: World) -> None:
    sources = await _sources(world)
    await world.add_user("site-crew", Role.CREW, enterprise=world.a.enterprise, site=world.a.site)
    await world.add_user("site-crew-2", Role.CREW, enterprise=world.a.enterprise, site=world.a.site)
    crew = await world.login("site-crew")
    params = {"enterprise_id": world.a.enterprise.id}

    listed = await world.client.get(f"{API}/activity/inputs", headers=crew, params=params)
    assert listed.status_code == 200, listed.text
    rows = {(r["source_code"], r["input"]): r for r in listed.json()}
    # site 1's manual and metered inputs only: no ledger input, no enterprise-level source, no other site
    assert set(rows) == {("LIME", "AD"), ("COKE", "FC")}
    assert rows[("COKE", "FC")]["origin"] == "meter"
    assert rows[("LIME", "AD")]["units"][0] == "t" and "kg" in rows[("LIME", "AD")]["units"]
    # coke is bought: only a by-product's net consumption (gas, tar, crude benzene) may be negative
    assert rows[("LIME", "AD")]["may_be_negative"] is False and rows[("COKE", "FC")]["may_be_negative"] is False
    assert rows[("LIME", "AD")]["site_id"] == world.a.site.id

    # a photo of the weighbridge ticket, then the reading with it
    photo = await world.client.post(
        f"{API}/evidence",
        headers={**crew, "content-type": "image/jpeg"},
        params={**params, "filename": "ticket.jpg"},
        content=b"\xff\xd8\xff fake jpeg",
    )
    assert photo.status_code == 201, photo.text
    entry = {"source_id": sources["LIME"].id, "input": "AD", "from": "2026-11-01", "to": "2026-11-01"}
    first = await world.client.post(
        f"{API}/activity",
        headers=crew,
        json={**entry, "value": "412.5", "unit": "t", "evidence_id": photo.json()["id"]},
    )
    assert first.status_code == 201, first.text
    assert first.json()["entered_by"] == "site-crew"
    # their own correction of the same day supersedes
    again = await world.client.post(f"{API}/activity", headers=crew, json={**entry, "value": "41250", "unit": "kg"})
    assert again.status_code == 201, again.text
    old = await ActivityRecord.get(id=first.json()["id"])
    assert old.superseded_by == again.json()["id"]

    # a colleague may not overwrite it; an accountant may
    colleague = await world.login("site-crew-2")
    clash = await world.client.post(f"{API}/activity", headers=colleague, json={**entry, "value": "1", "unit": "t"})
    assert clash.status_code == 403, clash.text
    assert "accountant" in clash.json()["error"]["message"]
    accountant = await world.login("a-accountant")
    fixed = await world.client.post(f"{API}/activity", headers=accountant, json={**entry, "value": "400", "unit": "t"})
    assert fixed.status_code == 201, fixed.text
    # and then the crew member may not overwrite the accountant's correction either
    back = await world.client.post(f"{API}/activity", headers=crew, json={**entry, "value": "412.5", "unit": "t"})
    assert back.status_code == 403, back.text

    # outside what a field entry is for: the ledger input, another site, the enterprise-level source
    ledger = await world.client.post(
        f"{API}/activity",
        headers=crew,
        json={**entry, "source_id": sources["DOLO.LEDGER"].id, "value": "1", "unit": "t"},
    )
    assert ledger.status_code == 403, ledger.text
    for code, name in (("DOLO.S2", "AD"), ("STEAM", "purchased")):
        hidden = await world.client.post(
            f"{API}/activity",
            headers=crew,
            json={**entry, "source_id": sources[code].id, "input": name, "value": "1", "unit": "t"},
        )
        assert hidden.status_code == 404, hidden.text

    # a metered input: a substitute for the meter over that day
    sub = await world.client.post(
        f"{API}/activity",
        headers=crew,
        json={
            **entry,
            "source_id": sources["COKE"].id,
            "input": "FC",
            "value": "3",
            "unit": "t",
            "note": "meter down",
        },
    )
    assert sub.status_code == 201, sub.text

    # nothing else of the books: sources, imports, results
    assert (await world.client.get(f"{API}/sources", headers=crew, params=params)).status_code == 403
    assert (await world.client.post(f"{API}/imports", headers=crew, params=params, content=b"x")).status_code == 403

    live = await ActivityRecord.filter(source_id=sources["LIME"].id, superseded_by=None)
    assert [(r.value, r.entered_by) for r in live] == [(Decimal(400), "a-accountant")]
    audits = await AuditRecord.filter(action="accounting.activity.enter", actor="site-crew").count()
    assert audits == 3


async def test_enterprise_crew_sees_every_field_input_and_accountant_every_input(world: World) -> None:
    await _sources(world)
    crew = await world.login("a-crew")  # scoped to the whole enterprise
    params = {"enterprise_id": world.a.enterprise.id}
    listed = (await world.client.get(f"{API}/activity/inputs", headers=crew, params=params)).json()
    assert {r["source_code"] for r in listed} == {"LIME", "COKE", "STEAM", "DOLO.S2"}

    accountant = await world.login("a-accountant")
    listed = (await world.client.get(f"{API}/activity/inputs", headers=accountant, params=params)).json()
    assert {r["source_code"] for r in listed} == {"LIME", "COKE", "STEAM", "DOLO.S2", "DOLO.LEDGER"}
    steam = next(r for r in listed if r["source_code"] == "STEAM")
    assert steam["site_id"] is None and steam["units"][0] == "GJ" and "MJ" in steam["units"]

    # another enterprise is not there; executives and device admins may not enter at all
    other = await world.client.get(
        f"{API}/activity/inputs", headers=crew, params={"enterprise_id": world.b.enterprise.id}
    )
    assert other.status_code == 404, other.text
    for role in ("a-executive", "a-device-admin"):
        headers = await world.login(role)
        denied = await world.client.get(f"{API}/activity/inputs", headers=headers, params=params)
        assert denied.status_code == 403, denied.text
