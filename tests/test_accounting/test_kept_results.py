"""Kept results and reporting states, on real PostgreSQL, as an accountant, a verifier and readers work.

Reads write nothing, whoever reads; input changes reach draft years through the refresh job and leave a
submitted year exactly as reported, showing what it would change by; the verifier's flow; reopening a locked
year needs step-up; the national market's direct scope; what a real year needs (monthly lab values, sold
by-products, refused negative purchases, steam in tonnes, per-source results, the supplementary sheet).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from decimal import Decimal
from typing import Any

import openpyxl
from tortoise import connections

from cem_platform.accounting.calculation import fingerprint, stamp_results
from cem_platform.accounting.models import (
    ActivityRecord,
    EmissionResult,
    PendingRecalculation,
    ReportingYear,
    ResultStamp,
)
from cem_platform.accounting.refresh import refresh
from cem_platform.audit.models import AuditRecord
from cem_platform.identity.models import LoginSession, User
from tests.test_accounting.kept import refresh_now
from tests.test_accounting.test_api import API, EXPECTED, NET, VALUES, YEAR, build_inventory, close
from tests.test_platform.world import World, totp_code

DIRECT = Decimal("1532120.1825")  # combustion 1,469,631.1825 + process 100,989 − fixed carbon 38,500
REPORTING = f"{API}/reporting"


async def _reference_year(world: World, headers: dict[str, str]) -> dict[str, int]:
    ids = await build_inventory(world, headers)
    for code, input_name, value, unit in VALUES:
        body = {"source_id": ids[code], "input": input_name, "value": value, "unit": unit, **YEAR}
        response = await world.client.post(f"{API}/activity", headers=headers, json=body)
        assert response.status_code == 201, response.text
    await refresh_now()
    return ids


def _year(world: World, year: int = 2024, scope: str = "enterprise", id_: int = 0) -> dict[str, Any]:
    return {"scope": scope, "id": id_ or world.a.enterprise.id, "period": "year", "from": f"{year}-01-01"}


async def _get(world: World, headers: dict[str, str], url: str, params: dict[str, Any]) -> Any:
    response = await world.client.get(url, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _row_counts() -> dict[str, int]:
    """Rows of every table of the database."""
    connection = connections.get("default")
    tables = await connection.execute_query_dict(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    )
    counts = {}
    for row in tables:
        name = row["table_name"]
        [count] = await connection.execute_query_dict(f'SELECT count(*) AS n FROM "{name}"')  # noqa: S608
        counts[name] = int(count["n"])
    return counts


async def _submit(world: World, headers: dict[str, str], year: int = 2024) -> dict[str, Any]:
    body = {"enterprise_id": world.a.enterprise.id, "year": year, "reason": "annual report to the MEE"}
    response = await world.client.post(f"{REPORTING}/submit", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_read_by_every_role_writes_nothing(world: World) -> None:
    accountant = await world.login("a-accountant")
    await _reference_year(world, accountant)
    assign = {"enterprise_id": world.a.enterprise.id, "year": 2024, "verifier": "a-verifier"}
    assert (await world.client.put(f"{REPORTING}/verifier", headers=accountant, json=assign)).status_code == 200
    # A factor change leaves every result stale: a read now must still not account (nor version) anything.
    change = {
        "library": "GB/T 32151.5-2015",
        "reason": "test: electrode factor from a plant measurement campaign",
        "changes": [{"code": "electrode.ef", "value": "3.700", "source": "measurement campaign 2024-11"}],
    }
    step_up = accountant | {"X-CEM-TOTP": totp_code(world.secrets["a-accountant"], steps_ahead=1)}
    assert (await world.client.post(f"{API}/library/versions", headers=step_up, json=change)).status_code == 201
    assert await PendingRecalculation.filter(enterprise_id=world.a.enterprise.id, cause="library").exists()
    readers = {name: await world.login(name) for name in ("a-admin", "a-executive", "a-auditor", "a-verifier")}
    readers["a-accountant"] = accountant
    process = world.a.process.id
    month = {"scope": "enterprise", "id": world.a.enterprise.id, "period": "month", "from": "2024-01", "to": "2025-01"}
    day = {
        "scope": "enterprise",
        "id": world.a.enterprise.id,
        "period": "day",
        "from": "2024-03-01",
        "to": "2024-04-01",
    }
    result_id = await EmissionResult.filter(period="year", current=True).first().values_list("id", flat=True)
    before = await _row_counts()
    versions_before = await EmissionResult.all().count()
    for name, headers in readers.items():
        for params in (_year(world), _year(world, scope="process", id_=process), month, day):
            page = await _get(world, headers, "/api/v1/emissions", params)
            assert all(r["pending"] for r in page["results"]), name  # the library change is not accounted yet
        await _get(world, headers, f"/api/v1/emissions/{result_id}/lineage", {})
        await _get(world, headers, REPORTING, {"enterprise_id": world.a.enterprise.id, "year": 2024})
        sources = {"enterprise_id": world.a.enterprise.id, "period": "month", "from": "2024-03"}
        assert await _get(world, headers, f"{REPORTING}/sources", sources), name
        report = await world.client.get(
            "/api/v1/emissions/report", headers=headers, params={"enterprise_id": world.a.enterprise.id, "year": 2024}
        )
        assert report.status_code == 200, (name, report.text)
    assert await _row_counts() == before
    assert await EmissionResult.all().count() == versions_before
    # The refresh job does the accounting, as the system, once.
    report = await refresh_now()
    assert report.new_versions > 0 and not report.errors
    year = (await _get(world, accountant, "/api/v1/emissions", _year(world)))["results"][0]
    assert year["pending"] is False and year["version"] == 2 and close(year["net"], NET + 111)
    stored = await EmissionResult.get(id=year["result_id"])
    assert stored.created_by == "accounting-refresh" and "library" in stored.reason


async def test_a_repeated_read_is_served_from_the_cache_until_the_results_stamp_changes(world: World) -> None:
    """The cache of reads.py: a second read of the same range does not read the rows again while the enterprise's
    stamp holds (a row changed behind the writers' back is not seen), and reads them again once a writer stamps."""
    accountant = await world.login("a-accountant")
    await _reference_year(world, accountant)
    token = await ResultStamp.get(enterprise_id=world.a.enterprise.id).values_list("token", flat=True)
    first = (await _get(world, accountant, "/api/v1/emissions", _year(world)))["results"][0]
    assert close(first["net"], NET)
    connection = connections.get("default")
    await connection.execute_query("UPDATE acc_result SET net = net + 1 WHERE id = $1", [first["result_id"]])
    again = (await _get(world, accountant, "/api/v1/emissions", _year(world)))["results"][0]
    assert again["net"] == first["net"]  # the cached read: the stamp did not change
    await stamp_results(world.a.enterprise.id, dt.datetime.now(dt.UTC))
    assert await ResultStamp.get(enterprise_id=world.a.enterprise.id).values_list("token", flat=True) != token
    fresh = (await _get(world, accountant, "/api/v1/emissions", _year(world)))["results"][0]
    assert Decimal(fresh["net"]) == Decimal(first["net"]) + 1
    # the fingerprint hashes the bytes the standard library's sorted compact encoding gives (names in Chinese
    # included): results kept before it was computed with msgspec are not versioned again by that change
    stored = await EmissionResult.get(id=first["result_id"])
    volatile = ("library_version", "grid_version", "edition_version")
    stripped = {k: v for k, v in stored.lineage.items() if k not in volatile}
    stripped["energy"] = {k: v for k, v in stripped["energy"].items() if k not in volatile}
    stripped["sources"] = [{k: v for k, v in line.items() if k != "edition_version"} for line in stripped["sources"]]
    text = json.dumps(stripped, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert any(ord(c) > 127 for c in text)
    assert fingerprint(stored.lineage) == stored.fingerprint == hashlib.sha256(text.encode()).hexdigest()


async def test_late_data_and_a_factor_change_leave_a_submitted_year_as_reported(world: World) -> None:
    headers = await world.login("a-accountant")
    ids = await _reference_year(world, headers)
    # 2025 is a draft beside the reported 2024: the same change reaches it
    body = {"source_id": ids["ELECTRODE"], "input": "AD", "value": "1000", "unit": "t", "month": "2025-01"}
    assert (await world.client.post(f"{API}/activity", headers=headers, json=body)).status_code == 201
    await refresh_now()
    submitted = await _submit(world, headers)
    assert submitted["state"] == "submitted" and close(submitted["reported"]["net"], NET)
    assert close(submitted["reported"]["direct"], DIRECT)
    reported = await EmissionResult.get(id=submitted["result_id"])

    # late data for 2024 (a corrected limestone total) and a factor change (electrode EF 3.663 -> 3.700)
    late = {"source_id": ids["LIMESTONE"], "input": "AD", "value": "151000", "unit": "t", **YEAR}
    assert (await world.client.post(f"{API}/activity", headers=headers, json=late)).status_code == 201
    change = {
        "library": "GB/T 32151.5-2015",
        "reason": "test: electrode factor",
        "changes": [{"code": "electrode.ef", "value": "3.700", "source": "measurement campaign"}],
    }
    step_up = headers | {"X-CEM-TOTP": totp_code(world.secrets["a-accountant"], steps_ahead=1)}
    assert (await world.client.post(f"{API}/library/versions", headers=step_up, json=change)).status_code == 201
    refreshed = await refresh_now()
    assert "ENTA/2024" in refreshed.frozen_years

    # 2024: the same kept result, untouched; the difference is shown
    year = (await _get(world, headers, "/api/v1/emissions", _year(world)))["results"][0]
    assert year["result_id"] == reported.id and year["version"] == 1 and year["net"] == submitted["reported"]["net"]
    assert await EmissionResult.filter(period_start=reported.period_start, period="year").count() == 1
    march = await _get(world, headers, "/api/v1/emissions", _year(world) | {"period": "month", "from": "2024-03"})
    assert march["results"][0]["version"] == 1
    state = await _get(world, headers, REPORTING, {"enterprise_id": world.a.enterprise.id, "year": 2024})
    drift = state["would_change_by"]
    assert Decimal(drift["net"]) == Decimal(440) + Decimal(111)  # 1,000 t limestone x 0.440 + 3,000 t x 0.037
    assert Decimal(drift["direct"]) == Decimal(551) and set(drift["causes"]) >= {"activity", "library"}
    assert Decimal(drift["would_be"]["net"]) == Decimal(submitted["reported"]["net"]) + 551
    # a recalculation of a reported year is refused; 2025 (a draft) followed the factor change
    refused = await world.client.post(
        "/api/v1/emissions/recalculate",
        headers=headers,
        json={"enterprise_id": world.a.enterprise.id, "period": "year", "from": "2024-01-01", "reason": "try"},
    )
    assert refused.status_code == 409 and "reported" in refused.json()["error"]["message"]
    jan = await _get(world, headers, "/api/v1/emissions", _year(world, 2025) | {"period": "month", "from": "2025-01"})
    assert close(jan["results"][0]["by_category"]["electrode"], "3700") and jan["results"][0]["version"] == 2

    # a new draft, asked for with a reason: accounted from the current inputs, audited
    no_reason = await world.client.post(
        f"{REPORTING}/draft", headers=headers, json={"enterprise_id": world.a.enterprise.id, "year": 2024}
    )
    assert no_reason.status_code == 400
    body = {"enterprise_id": world.a.enterprise.id, "year": 2024, "reason": "late limestone delivery notes"}
    draft = await world.client.post(f"{REPORTING}/draft", headers=headers, json=body)
    assert draft.status_code == 200, draft.text
    assert draft.json()["state"] == "draft" and draft.json()["draft"] == 2
    year = (await _get(world, headers, "/api/v1/emissions", _year(world)))["results"][0]
    assert year["version"] == 2 and close(year["net"], NET + 551) and year["pending"] is False
    assert (await EmissionResult.get(id=reported.id)).net == reported.net  # the reported version stays, superseded
    assert await AuditRecord.filter(action="accounting.reporting.new_draft").count() == 1


async def test_the_verifiers_flow_and_reopening_a_locked_year(world: World) -> None:
    accountant = await world.login("a-accountant")
    await _reference_year(world, accountant)
    await _submit(world, accountant)
    verifier = await world.login("a-verifier")
    params = {"enterprise_id": world.a.enterprise.id, "year": 2024}
    # not yet assigned: the verifier sees nothing of the year
    refused = await world.client.get("/api/v1/emissions", headers=verifier, params=_year(world))
    assert refused.status_code == 403
    assign = params | {"verifier": "a-verifier"}
    not_a_verifier = await world.client.put(
        f"{REPORTING}/verifier", headers=accountant, json=params | {"verifier": "a-auditor"}
    )
    assert not_a_verifier.status_code == 400
    assert (await world.client.put(f"{REPORTING}/verifier", headers=accountant, json=assign)).status_code == 200
    page = await _get(world, verifier, "/api/v1/emissions", _year(world))
    assert close(page["results"][0]["net"], NET)
    other_year = await world.client.get("/api/v1/emissions", headers=verifier, params=_year(world, 2023))
    assert other_year.status_code == 403
    # read-only: no entry, no source change, no recalculation
    activity = {"enterprise_id": world.a.enterprise.id}
    assert (await world.client.get(f"{API}/activity", headers=verifier, params=activity)).status_code == 400
    inside = activity | {"from": "2024-01-01", "to": "2025-01-01"}
    records = await world.client.get(f"{API}/activity", headers=verifier, params=inside)
    assert records.status_code == 200 and records.json()
    outside = activity | {"from": "2023-01-01", "to": "2025-01-01"}
    assert (await world.client.get(f"{API}/activity", headers=verifier, params=outside)).status_code == 403
    lineage = await world.client.get(f"/api/v1/emissions/{page['results'][0]['result_id']}/lineage", headers=verifier)
    assert lineage.status_code == 200
    post = await world.client.post(f"{API}/activity", headers=verifier, json={"source_id": 1, "input": "AD"})
    assert post.status_code == 403
    # the accountant cannot verify; the verifier records the verified figures and findings
    verify = params | {"net": "1981900", "direct": "1532175", "findings": "电极消耗量按领料单复核，偏差 55 t。"}
    assert (await world.client.post(f"{REPORTING}/verify", headers=accountant, json=verify)).status_code == 403
    verified = await world.client.post(f"{REPORTING}/verify", headers=verifier, json=verify)
    assert verified.status_code == 200, verified.text
    state = verified.json()
    assert state["state"] == "verified" and state["verified"]["by"] == "a-verifier"
    assert close(state["verified"]["difference_net"], Decimal("1981900") - NET)
    assert "偏差" in state["findings"]
    again = await world.client.post(f"{REPORTING}/verify", headers=verifier, json=verify)
    assert again.status_code == 409  # verified once
    # locked; reopening needs a fresh TOTP
    assert (await world.client.post(f"{REPORTING}/lock", headers=accountant, json=params)).status_code == 200
    user = await User.get(username="a-accountant")
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await LoginSession.filter(user_id=user.id).update(step_up_at=stale)
    reopen = params | {"reason": "verifier's finding on electrodes"}
    no_step_up = await world.client.post(f"{REPORTING}/reopen", headers=accountant, json=reopen)
    assert no_step_up.status_code == 403 and no_step_up.json()["error"]["code"] == "step_up_required"
    as_draft = await world.client.post(f"{REPORTING}/draft", headers=accountant, json=reopen)
    assert as_draft.status_code == 409  # a locked year is reopened, not redrafted
    code = totp_code(world.secrets["a-accountant"], steps_ahead=1)
    reopened = await world.client.post(f"{REPORTING}/reopen", headers=accountant | {"X-CEM-TOTP": code}, json=reopen)
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["state"] == "draft" and reopened.json()["draft"] == 2
    history = [(h["from"], h["state"]) for h in reopened.json()["history"]]
    assert history == [("draft", "submitted"), ("submitted", "verified"), ("verified", "locked"), ("locked", "draft")]
    actions = set(await AuditRecord.filter(entity_type="reporting_year").values_list("action", flat=True))
    assert actions >= {
        "accounting.reporting.submit",
        "accounting.reporting.assign_verifier",
        "accounting.reporting.verify",
        "accounting.reporting.lock",
        "accounting.reporting.reopen",
    }
    denied = await AuditRecord.filter(entity_type="reporting_year", outcome="denied").count()
    assert denied >= 2  # the auditor as verifier, the second verification, the draft of a locked year
    row = await ReportingYear.get(enterprise_id=world.a.enterprise.id, year=2024)
    assert row.verified is not None and row.reported is not None


async def test_direct_scope_per_source_results_and_the_supplementary_sheet(world: World) -> None:
    headers = await world.login("a-accountant")
    await _reference_year(world, headers)
    [year] = (await _get(world, headers, "/api/v1/emissions", _year(world)))["results"]
    totals = {k: Decimal(v) for k, v in year["totals"].items()}
    assert Decimal(year["direct"]) == totals["combustion"] + totals["process"] - totals["fixed_carbon"]
    assert close(year["direct"], DIRECT)
    [process] = (
        await _get(world, headers, "/api/v1/emissions", _year(world, scope="process", id_=world.a.process.id))
    )["results"]
    # the ironmaking process carries the fuels, fluxes, electrode, pig iron and the steel's fixed carbon
    assert process["direct"] == year["direct"]
    rows = await _get(
        world,
        headers,
        f"{REPORTING}/sources",
        {"enterprise_id": world.a.enterprise.id, "period": "year", "from": "2024-01-01"},
    )
    by_code = {r["source"]: r for r in rows}
    for code, expected in EXPECTED.items():
        assert close(by_code[code]["emission"], expected, "0.0001"), code
    assert by_code["COKE"]["result_id"] == year["result_id"] and by_code["POWER"]["group"] == "electricity"
    one = await _get(
        world,
        headers,
        f"{REPORTING}/sources",
        {"enterprise_id": world.a.enterprise.id, "period": "year", "from": "2024-01-01", "source": "NG"},
    )
    assert [r["source"] for r in one] == ["NG"]
    too_many = await world.client.get(
        f"{REPORTING}/sources",
        headers=headers,
        params={"enterprise_id": world.a.enterprise.id, "period": "day", "from": "2024-01-01", "to": "2024-12-31"},
    )
    assert too_many.status_code == 400
    xlsx = await world.client.get(
        "/api/v1/emissions/report", headers=headers, params={"enterprise_id": world.a.enterprise.id, "year": 2024}
    )
    assert xlsx.status_code == 200, xlsx.text
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    sheet = book["补充数据表"]
    values = [Decimal(str(c.value)) for row in sheet.iter_rows() for c in row if isinstance(c.value, int | float)]
    assert any(abs(v - DIRECT) < Decimal("0.01") for v in values)
    texts = " ".join(str(c.value) for row in sheet.iter_rows() for c in row if isinstance(c.value, str))
    assert "2024-01-01" in texts and "2024-12-31" in texts


async def test_what_a_real_year_needs(world: World) -> None:
    """Monthly lab values, sold by-products on their own lines, a refused negative purchase, steam in tonnes."""
    headers = await world.login("a-accountant")
    enterprise, process = world.a.enterprise.id, world.a.process.id

    async def source(code: str, category: str, item: str, inputs: dict[str, str], **extra: Any) -> int:
        body = {
            "enterprise_id": enterprise, "code": code, "name": code, "category": category, "item": item,
            "process_id": process if category not in ("electricity", "heat") else None,
            "inputs": {k: {"origin": "manual", "unit": u} for k, u in inputs.items()}, **extra,
        }  # fmt: skip
        response = await world.client.post(f"{API}/sources", headers=headers, json=body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def enter(source_id: int, input_name: str, value: str, unit: str, month: str, **extra: Any) -> Any:
        body = {"source_id": source_id, "input": input_name, "value": value, "unit": unit, "month": month, **extra}
        return await world.client.post(f"{API}/activity", headers=headers, json=body)

    # coke with its monthly lab NCV and carbon content: each month is accounted with its own values
    months = {
        "NCV": {"unit": "GJ/t", "months": {"2024-01": {"value": "28.2", "origin": "化验单 2024-01"},
                                           "2024-02": {"value": "28.6", "origin": "化验单 2024-02"}}},
        "CC": {"unit": "tC/TJ", "months": {"2024-01": {"value": "29.6", "origin": "化验单 2024-01"},
                                           "2024-02": {"value": "29.2", "origin": "化验单 2024-02"}}},
    }  # fmt: skip
    coke = await source("COKE", "fuel_combustion", "coke", {"FC": "t"}, overrides=months)
    assert (await enter(coke, "FC", "1000", "t", "2024-01")).status_code == 201
    assert (await enter(coke, "FC", "3000", "t", "2024-02")).status_code == 201
    # blast furnace gas: burned (net, may be negative) and sold on its own line (positive, accounted negative)
    bfg = await source("BFG", "fuel_combustion", "blast_furnace_gas", {"FC": "10^4 Nm3"})
    bfg_sold = await source("BFG.SOLD", "fuel_combustion", "blast_furnace_gas", {"FC": "10^4 Nm3"}, direction="sold")
    assert (await enter(bfg, "FC", "500", "10^4 Nm3", "2024-01")).status_code == 201
    assert (await enter(bfg_sold, "FC", "100", "10^4 Nm3", "2024-01")).status_code == 201
    negative_sale = await enter(bfg_sold, "FC", "-100", "10^4 Nm3", "2024-02")
    assert negative_sale.status_code == 400
    # a purchased fuel cannot be negative, nor be "sold"
    ng = await source("NG", "fuel_combustion", "natural_gas", {"FC": "10^4 Nm3"})
    refused = await enter(ng, "FC", "-5", "10^4 Nm3", "2024-01")
    assert refused.status_code == 400 and "cannot be negative" in refused.json()["error"]["message"]
    sold_ng = await world.client.post(
        f"{API}/sources",
        headers=headers,
        json={"enterprise_id": enterprise, "code": "NG.SOLD", "name": "x", "category": "fuel_combustion",
              "item": "natural_gas", "direction": "sold", "inputs": {"FC": {"origin": "manual", "unit": "10^4 Nm3"}}},
    )  # fmt: skip
    assert sold_ng.status_code == 400
    # purchased steam in tonnes at 1.0 MPa(a) and 300 °C: 100 x (3051.70 − 83.74) / 1000 GJ
    heat = await source("STEAM", "heat", "", {"purchased": "GJ", "exported": "GJ"})
    steam = await enter(
        heat, "purchased", "100", "t_steam", "2024-01", steam={"pressure_mpa": "1.0", "temperature_c": "300"}
    )
    assert steam.status_code == 201, steam.text
    assert Decimal(steam.json()["value"]) == Decimal("296.796") and steam.json()["unit"] == "GJ"
    assert "3051.7" in steam.json()["note"] and "IAPWS-IF97" in steam.json()["note"]
    water = await enter(
        heat, "purchased", "100", "t_steam", "2024-02", steam={"pressure_mpa": "1.0", "temperature_c": "150"}
    )
    assert water.status_code == 400 and "water" in water.json()["error"]["message"]
    assert (await enter(heat, "exported", "0", "GJ", "2024-01")).status_code == 201
    await refresh_now()

    def coke_t(fc: str, ncv: str, cc: str) -> Decimal:
        return Decimal(fc) * Decimal(ncv) * Decimal(cc) / 1000 * Decimal("0.93") * 44 / 12

    jan, feb = coke_t("1000", "28.2", "29.6"), coke_t("3000", "28.6", "29.2")
    params = {"scope": "enterprise", "id": enterprise, "period": "month", "from": "2024-01", "to": "2024-03"}
    january, february = (await _get(world, headers, "/api/v1/emissions", params))["results"]
    bfg_per = Decimal("33.000") * Decimal("70.80") / 1000 * Decimal("0.99") * 44 / 12  # per 10^4 Nm3
    assert close(january["by_category"]["fuel_combustion"], jan + 400 * bfg_per, "0.0001")  # 500 burned − 100 sold
    assert close(february["by_category"]["fuel_combustion"], feb, "0.0001")
    year = (await _get(world, headers, "/api/v1/emissions", _year(world)))["results"][0]
    assert close(year["by_category"]["fuel_combustion"], jan + feb + 400 * bfg_per, "0.0001")
    rows = await _get(
        world, headers, f"{REPORTING}/sources", {"enterprise_id": enterprise, "period": "year", "from": "2024-01-01"}
    )
    parts = {r["source"]: Decimal(r["emission"]) for r in rows}
    assert close(parts["COKE@2024-01"], jan, "0.0001") and close(parts["COKE@2024-02"], feb, "0.0001")
    assert parts["BFG.SOLD"] < 0 and close(parts["BFG.SOLD"], -100 * bfg_per, "0.0001")
    stored = await ActivityRecord.get(id=steam.json()["id"])
    assert stored.value == Decimal("296.796") and stored.unit == "GJ"


async def test_hours_older_than_the_kept_window_are_retired_when_their_inputs_change(world: World) -> None:
    """Hours are kept for 35 days: an older kept hour whose input changes stops being current (kept for audit),
    and a read accounts it on request with the new value instead of serving the stale one."""
    headers = await world.login("a-accountant")
    body = {
        "enterprise_id": world.a.enterprise.id, "code": "LIME", "name": "石灰石", "category": "flux",
        "item": "limestone", "process_id": world.a.process.id, "inputs": {"AD": {"origin": "manual", "unit": "t"}},
    }  # fmt: skip
    source = (await world.client.post(f"{API}/sources", headers=headers, json=body)).json()["id"]
    entry = {"source_id": source, "input": "AD", "value": "240", "unit": "t", "from": "2025-03-01", "to": "2025-03-01"}
    assert (await world.client.post(f"{API}/activity", headers=headers, json=entry)).status_code == 201
    then = dt.datetime(2025, 3, 3, tzinfo=dt.UTC)
    await refresh(now=then)  # as the job ran two days after that day: its hours were within the window
    hours = {"scope": "enterprise", "id": world.a.enterprise.id, "period": "hour",
             "from": "2025-03-01T00:00:00+08:00", "to": "2025-03-01T02:00:00+08:00"}  # fmt: skip
    before = (await _get(world, headers, "/api/v1/emissions", hours))["results"]
    assert [r["kept"] for r in before] == [True, True] and close(before[0]["net"], Decimal(10) * Decimal("0.440"))
    corrected = entry | {"value": "480"}
    assert (await world.client.post(f"{API}/activity", headers=headers, json=corrected)).status_code == 201
    await refresh_now()
    after = (await _get(world, headers, "/api/v1/emissions", hours))["results"]
    assert [r["kept"] for r in after] == [False, False] and [r["result_id"] for r in after] == [None, None]
    assert close(after[0]["net"], Decimal(20) * Decimal("0.440"))
    old = await EmissionResult.get(id=before[0]["result_id"])
    assert old.current is False and old.superseded_at is not None
