"""What people read from the accounting API: one period asked for by its start, hints that name real points,
and default factors whose provenance cites the standard and says plainly what awaits confirmation."""

from __future__ import annotations

from typing import Any

from cem_platform.accounting import library_store
from cem_platform.accounting.models import LibraryVersion
from tests.test_accounting.kept import read_after_refresh
from tests.test_accounting.test_api import API, VALUES, YEAR, build_inventory, close
from tests.test_platform.world import World, totp_code


async def test_one_period_needs_only_its_start(world: World) -> None:
    headers = await world.login("a-accountant")
    ids = await build_inventory(world, headers)
    for code, input_name, value, unit in VALUES:
        body = {"source_id": ids[code], "input": input_name, "value": value, "unit": unit, **YEAR}
        assert (await world.client.post(f"{API}/activity", headers=headers, json=body)).status_code == 201
    base = {"scope": "enterprise", "id": world.a.enterprise.id, "period": "month"}
    [alone] = (
        await read_after_refresh(world.client, "/api/v1/emissions", headers=headers, params=base | {"from": "2024-03"})
    ).json()["results"]
    both = {"from": "2024-03", "to": "2024-04"}
    [ranged] = (
        await read_after_refresh(world.client, "/api/v1/emissions", headers=headers, params=base | both)
    ).json()["results"]
    assert alone["result_id"] == ranged["result_id"] and alone["period_start"] == ranged["period_start"]
    assert alone["period_start"].startswith("2024-02-29T16:00:00") and alone["period_end"].startswith("2024-03-31T16")
    # A day inside the month means that month; a year asked by its start is the whole year.
    [inside] = (
        await read_after_refresh(
            world.client, "/api/v1/emissions", headers=headers, params=base | {"from": "2024-03-15"}
        )
    ).json()["results"]
    assert inside["result_id"] == alone["result_id"]
    year = base | {"period": "year", "from": "2024"}
    refused = await read_after_refresh(world.client, "/api/v1/emissions", headers=headers, params=year)
    assert refused.status_code == 400 and "2024" in refused.json()["error"]["message"]  # a bare year is no date
    [whole] = (
        await read_after_refresh(
            world.client, "/api/v1/emissions", headers=headers, params=year | {"from": "2024-01-01"}
        )
    ).json()["results"]
    assert close(whole["net"], "1981845.1825")
    # Recalculation takes one period the same way.
    recalculated = await world.client.post(
        "/api/v1/emissions/recalculate",
        headers=headers,
        json={"enterprise_id": world.a.enterprise.id, "period": "month", "from": "2024-03", "reason": "check"},
    )
    assert recalculated.status_code == 200, recalculated.text
    assert [r["period_start"] for r in recalculated.json()] == [alone["period_start"]]


async def test_latest_values_hint_names_points_that_exist(world: World) -> None:
    headers = await world.login("a-crew")
    response = await world.client.get("/api/v1/points/latest", headers=headers)
    assert response.status_code == 400
    hint = response.json()["error"]["hint"]
    assert world.a.point.code in hint and f"ids={world.a.point.id}" in hint, hint
    assert "GET /api/v1/org/points" in hint
    assert world.b.point.code not in hint  # another enterprise's point is not named to this crew


async def test_default_factors_cite_the_standard_and_say_what_awaits_confirmation(world: World) -> None:
    headers = await world.login("a-accountant")
    for library in ("GB/T 32151.5-2015", "MEE-steel-guideline-newer", "grid-factors"):
        response = await world.client.get(f"{API}/library/parameters", headers=headers, params={"library": library})
        assert response.status_code == 200
        for parameter in response.json()["parameters"]:
            zh, en = parameter["source"], parameter["source_en"]
            assert "GHG-STEEL" not in zh + en and "search" not in zh + en, parameter  # no development notes
            assert zh and en and ("GB/T 32151.5-2015" in zh or "生态环境部" in zh or "通知" in zh), parameter
            if parameter["confidence"] == "confirmed":
                assert "已核实" in zh and "Confirmed" in en, parameter
            else:
                assert "待核实" in zh and "Awaiting confirmation" in en, parameter
    coke = await _parameter(world, headers, "GB/T 32151.5-2015", "fuel.coke.ncv")
    assert coke["source"].startswith("GB/T 32151.5-2015 附录B 表B.1") and "表2.1" in coke["source"]
    assert coke["source_en"].startswith("GB/T 32151.5-2015 Annex B, Table B.1")


OLD_NOTE = "Transcribed from GHG-STEEL.md; public-web search (2026) found no copy of the table."


async def test_a_library_seeded_with_development_notes_gets_a_version_citing_the_standard(world: World) -> None:
    library = "GB/T 32151.5-2015"
    headers = await world.login("a-accountant")
    await _parameter(world, headers, library, "fuel.coke.ncv")  # seeds version 1
    # A database seeded before: the defaults carry development notes (and no English source).
    first = await LibraryVersion.get(library=library, number=1)
    old = [{k: v for k, v in p.items() if k != "source_en"} | {"source": OLD_NOTE} for p in first.parameters]
    await LibraryVersion.filter(id=first.id).update(parameters=old)
    # An accountant set the coke's carbon content with a lab report of their own: that provenance is theirs.
    step_up = headers | {"X-CEM-TOTP": totp_code(world.secrets["a-accountant"], steps_ahead=1)}
    cc = {"code": "fuel.coke.cc", "value": "29.1", "source": "化验报告 2024-05", "confidence": "confirmed"}
    change = {"library": library, "reason": "lab report", "changes": [cc]}
    assert (await world.client.post(f"{API}/library/versions", headers=step_up, json=change)).status_code == 201

    library_store._provenance_checked = False  # a process started on that database
    ncv = await _parameter(world, headers, library, "fuel.coke.ncv")
    assert ncv["source"].startswith("GB/T 32151.5-2015 附录B 表B.1") and ncv["value"] == "28.447"
    versions = (await world.client.get(f"{API}/library/versions", headers=headers, params={"library": library})).json()
    newest = versions[0] if versions[0]["number"] > versions[-1]["number"] else versions[-1]
    assert newest["number"] == 3 and newest["author"] == "system (seed)" and "待核实" in newest["reason"]
    assert {d["code"] for d in newest["diff"]} >= {"fuel.coke.ncv", "heat.ef"}
    assert "fuel.coke.cc" not in {d["code"] for d in newest["diff"]}
    cc = await _parameter(world, headers, library, "fuel.coke.cc")
    assert cc["source"] == "化验报告 2024-05" and cc["value"] == "29.1"
    # The stored versions stay as they were; the next start finds nothing to revise.
    assert all(p["source"] == OLD_NOTE for p in (await LibraryVersion.get(library=library, number=1)).parameters)
    library_store._provenance_checked = False
    await _parameter(world, headers, library, "fuel.coke.ncv")
    assert await LibraryVersion.filter(library=library).count() == 3


async def _parameter(world: World, headers: dict[str, str], library: str, code: str) -> dict[str, Any]:
    response = await world.client.get(f"{API}/library/parameters", headers=headers, params={"library": library})
    assert response.status_code == 200, response.text
    return next(p for p in response.json()["parameters"] if p["code"] == code)
