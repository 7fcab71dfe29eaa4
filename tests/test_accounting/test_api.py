"""Emission accounting through the API, as an accountant works: inventory, activity data, results, lineage.

Reference example A of the domain notes is reproduced to 0.01 tCO2 from values entered by hand and from an
imported ledger; library changes add versions without touching earlier results; import errors are reported
per row and nothing of the file is written; scope and permissions hold.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import openpyxl

from cem_platform.accounting.models import ActivityRecord, EmissionResult, LibraryVersion
from cem_platform.accounting.pending import mark_points
from cem_platform.audit.models import AuditRecord
from cem_platform.identity.models import LoginSession, User
from cem_platform.telemetry.rollup import fold_pending
from cem_platform.telemetry.store import store_for
from tests.test_accounting.kept import read_after_refresh
from tests.test_accounting.test_meters import _rows
from tests.test_platform.world import World, totp_code
from tests.test_timeseries.helpers import SHANGHAI, UTC, write

YEAR = {"from": "2024-01-01", "to": "2024-12-31"}
API = "/api/v1/accounting"

# (code, name, category, item, inputs {name: unit}, overrides)
SOURCES: list[tuple[str, str, str, str, dict[str, str], dict[str, Any]]] = [
    (
        "COKE",
        "焦炭",
        "fuel_combustion",
        "coke",
        {"FC": "t"},
        {
            "NCV": {"value": "28.435", "unit": "GJ/t", "origin": "given in reference example A"},
            "CC": {"value": "29.42", "unit": "tC/TJ", "origin": "given in reference example A"},
        },
    ),
    (
        "NG",
        "天然气",
        "fuel_combustion",
        "natural_gas",
        {"FC": "10^4 Nm3"},
        {
            "CC": {"value": "15.32", "unit": "tC/TJ", "origin": "given in reference example A"},
        },
    ),
    ("LIMESTONE", "石灰石", "flux", "limestone", {"AD": "t"}, {}),
    ("DOLOMITE", "白云石", "flux", "dolomite", {"AD": "t"}, {}),
    ("ELECTRODE", "电极", "electrode", "", {"AD": "t"}, {}),
    ("PIGIRON", "外购生铁", "raw_material", "pig_iron", {"AD": "t"}, {}),
    ("POWER", "净购入电力", "electricity", "", {"purchased": "MWh", "exported": "MWh"}, {}),
    ("HEAT", "净购入热力", "heat", "", {"purchased": "GJ", "exported": "GJ"}, {}),
    ("FIXED.STEEL", "粗钢固碳", "fixed_carbon", "crude_steel", {"AD": "t"}, {}),
    ("OUT.STEEL", "粗钢产量", "output", "crude_steel", {"AD": "t"}, {}),
]
# (source, input, value, unit) — entered the way the ledger gives them
VALUES = [
    ("COKE", "FC", "500000", "t"),
    ("NG", "FC", "2000", "万Nm3"),
    ("LIMESTONE", "AD", "150000", "t"),
    ("DOLOMITE", "AD", "40000", "t"),
    ("ELECTRODE", "AD", "3000000", "kg"),
    ("PIGIRON", "AD", "30000", "t"),
    ("POWER", "purchased", "800000", "MWh"),
    ("POWER", "exported", "50000000", "kWh"),
    ("HEAT", "purchased", "200000", "GJ"),
    ("HEAT", "exported", "0", "GJ"),
    ("FIXED.STEEL", "AD", "2500000", "t"),
    ("OUT.STEEL", "AD", "2500", "kt"),
]
EXPECTED = {
    "COKE": "1426330.8785",
    "NG": "43300.3040",
    "LIMESTONE": "66000",
    "DOLOMITE": "18840",
    "ELECTRODE": "10989",
    "PIGIRON": "5160",
    "POWER": "427725",
    "HEAT": "22000",
    "FIXED.STEEL": "38500",
}
NET = Decimal("1981845.1825")


def close(value: str | Decimal, expected: str | Decimal, tolerance: str = "0.01") -> bool:
    return abs(Decimal(value) - Decimal(expected)) <= Decimal(tolerance)


async def build_inventory(world: World, headers: dict[str, str], origin: str = "manual") -> dict[str, int]:
    """The reference works' sources; returns their ids by code."""
    ids = {}
    for code, name, category, item, inputs, overrides in SOURCES:
        body = {
            "enterprise_id": world.a.enterprise.id,
            "code": code,
            "name": name,
            "category": category,
            "item": item,
            "process_id": None if category in ("electricity", "heat", "output") else world.a.process.id,
            "inputs": {k: {"origin": origin, "unit": unit} for k, unit in inputs.items()},
            "overrides": overrides,
        }
        response = await world.client.post(f"{API}/sources", headers=headers, json=body)
        assert response.status_code == 201, response.text
        ids[code] = response.json()["id"]
    return ids


async def year_emissions(world: World, headers: dict[str, str], scope: str = "enterprise", id_: int = 0) -> Any:
    response = await read_after_refresh(world.client,
        "/api/v1/emissions",
        headers=headers,
        params={"scope": scope, "id": id_ or world.a.enterprise.id, "period": "year", "from": "2024-01-01",
                "to": "2025-01-01"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


def check_reference(page: Any) -> dict[str, Any]:
    [result] = page["results"]
    assert result["final"] is True
    by_category = result["by_category"]
    assert close(by_category["fuel_combustion"], "1469631.1825")
    assert close(by_category["flux"], "84840")
    assert close(by_category["electrode"], "10989")
    assert close(by_category["raw_material"], "5160")
    assert close(by_category["electricity"], "427725")
    assert close(by_category["heat"], "22000")
    assert close(by_category["fixed_carbon"], "38500")
    assert close(result["totals"]["process"], "100989")
    assert close(result["net"], NET)
    assert close(result["intensity"], "0.7927", "0.00005")
    assert close(result["output"], "2500000")
    assert result["complete"] is True
    return dict(result)


async def test_reference_example_from_manual_entry(world: World) -> None:
    headers = await world.login("a-accountant")
    ids = await build_inventory(world, headers)
    for code, input_name, value, unit in VALUES:
        body = {"source_id": ids[code], "input": input_name, "value": value, "unit": unit, **YEAR}
        response = await world.client.post(f"{API}/activity", headers=headers, json=body)
        assert response.status_code == 201, response.text
    result = check_reference(await year_emissions(world, headers))

    lineage = (await world.client.get(f"/api/v1/emissions/{result['result_id']}/lineage", headers=headers)).json()
    sources = {s["source_id"]: s for s in lineage["lineage"]["sources"]}
    for code, expected in EXPECTED.items():
        assert close(sources[code]["emission"], expected, "0.0001"), code
    coke = sources["COKE"]
    assert coke["formula_id"] == "combustion.fuel.mass"
    ncv = next(p for p in coke["parameters"] if p["name"] == "NCV")
    assert ncv["overridden"] is True and ncv["value"] == "28.435" and ncv["default_value"] == "28.447"
    of = next(p for p in coke["parameters"] if p["name"] == "OF")
    assert of["overridden"] is False and of["version"] == "library v1" and of["value"] == "93"
    fc = coke["inputs"][0]
    assert fc["origin"].startswith("COKE.FC: manual#")
    ng = sources["NG"]["inputs"][0]
    assert ng["unit"] == "10^4 Nm3" and ng["used_unit"] == "10^4 Nm3"
    power = sources["POWER"]
    grid = power["parameters"][0]
    assert grid["code"] == "grid.ets_prescribed.national.2023-2024" and grid["value"] == "0.5703"
    assert lineage["lineage"]["edition"] == "GB/T 32151.5-2015"
    assert any("unverified" in note for note in lineage["lineage"]["notes"])

    # The same request again keeps the stored result; the process view is a part of the same result.
    again = await year_emissions(world, headers)
    assert again["results"][0]["result_id"] == result["result_id"]
    process = await year_emissions(world, headers, "process", world.a.process.id)
    assert close(process["results"][0]["by_category"]["fuel_combustion"], "1469631.1825")
    assert "electricity" not in process["results"][0]["by_category"]
    assert process["results"][0]["result_id"] == result["result_id"]


def ledger_rows() -> list[list[str]]:
    return [["排放源", "参数", "起始日期", "截止日期", "数值", "单位", "备注"]] + [
        [code, name, "2024-01-01", "2024-12-31", value, unit, "年度台账"] for code, name, value, unit in VALUES
    ]


async def test_reference_example_from_imported_ledger_and_report(world: World) -> None:
    headers = await world.login("a-accountant")
    await build_inventory(world, headers, origin="import")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in ledger_rows():
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    uploaded = await world.client.post(
        f"{API}/imports",
        headers=headers,
        params={"enterprise_id": world.a.enterprise.id, "filename": "2024台账.xlsx"},
        content=buffer.getvalue(),
    )
    assert uploaded.status_code == 201, uploaded.text
    report = uploaded.json()
    assert report["status"] == "validated" and report["valid_rows"] == len(VALUES) and report["invalid_rows"] == 0
    assert await ActivityRecord.all().count() == 0  # nothing written before confirmation
    confirmed = await world.client.post(f"{API}/imports/{report['id']}/confirm", headers=headers)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "imported"
    assert await ActivityRecord.all().count() == len(VALUES)
    again = await world.client.post(f"{API}/imports/{report['id']}/confirm", headers=headers)
    assert again.status_code == 409
    check_reference(await year_emissions(world, headers))

    xlsx = await read_after_refresh(
        world.client,
        "/api/v1/emissions/report",
        headers=headers,
        params={"enterprise_id": world.a.enterprise.id, "year": 2024},
    )
    assert xlsx.status_code == 200, xlsx.text
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert len(workbook.sheetnames) >= 5
    cells = [c for ws in workbook.worksheets for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert any(isinstance(c, int | float | Decimal) and close(Decimal(str(c)), NET, "0.01") for c in cells)
    assert any(isinstance(c, str) and "COKE" in c for c in cells)


async def test_import_errors_are_reported_per_row_and_nothing_is_written(world: World) -> None:
    headers = await world.login("a-accountant")
    await build_inventory(world, headers, origin="import")
    rows = ledger_rows()
    rows[2][0] = "NO.SUCH.SOURCE"  # unknown source
    rows[3][5] = "GJ"  # limestone in GJ
    rows[4][4] = "forty thousand"  # not a number
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    uploaded = await world.client.post(
        f"{API}/imports",
        headers=headers,
        params={"enterprise_id": world.a.enterprise.id, "filename": "ledger.csv"},
        content=text.getvalue().encode("utf-8-sig"),
    )
    assert uploaded.status_code == 201, uploaded.text
    report = uploaded.json()
    assert report["invalid_rows"] == 3 and report["valid_rows"] == len(VALUES) - 3
    bad = {r["row"]: r for r in report["report"] if r["status"] == "invalid"}
    assert sorted(bad) == [3, 4, 5]
    assert "NO.SUCH.SOURCE" in " ".join(bad[3]["errors"])
    assert "GJ" in " ".join(bad[4]["errors"])
    assert bad[5]["errors"]
    assert await ActivityRecord.all().count() == 0
    discarded = await world.client.post(f"{API}/imports/{report['id']}/discard", headers=headers)
    assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"
    assert (await world.client.post(f"{API}/imports/{report['id']}/confirm", headers=headers)).status_code == 409
    assert await ActivityRecord.all().count() == 0

    not_a_ledger = await world.client.post(
        f"{API}/imports",
        headers=headers,
        params={"enterprise_id": world.a.enterprise.id, "filename": "notes.txt"},
        content=b"hello",
    )
    assert not_a_ledger.status_code == 400
    assert not_a_ledger.json()["error"]["hint"]


async def test_ledger_rows_overlapping_stored_records_are_reported_at_upload(world: World) -> None:
    """Every kind of overlap with a stored month is caught when the file is checked, including rows that share
    only its first or its last day (a query excluding "same start OR same end" once let those through)."""
    headers = await world.login("a-accountant")
    ids = await build_inventory(world, headers)
    stored = await world.client.post(
        f"{API}/activity",
        headers=headers,
        json={"source_id": ids["LIMESTONE"], "input": "AD", "month": "2024-03", "value": "3100", "unit": "t"},
    )
    assert stored.status_code == 201, stored.text

    async def upload(*rows: list[str]) -> dict[str, Any]:
        text = io.StringIO()
        csv.writer(text).writerows([["source", "input", "from", "to", "value", "unit"], *rows])
        uploaded = await world.client.post(
            f"{API}/imports",
            headers=headers,
            params={"enterprise_id": world.a.enterprise.id, "filename": "march.csv"},
            content=text.getvalue().encode(),
        )
        assert uploaded.status_code == 201, uploaded.text
        report: dict[str, Any] = uploaded.json()
        return report

    report = await upload(
        ["LIMESTONE", "AD", "2024-03-01", "2024-03-01", "100", "t"],  # row 2: the month's first day
        ["LIMESTONE", "AD", "2024-03-31", "2024-03-31", "100", "t"],  # 3: its last day
        ["LIMESTONE", "AD", "2024-02-20", "2024-02-29", "100", "t"],  # 4: the days before
        ["LIMESTONE", "AD", "2024-03-10", "2024-04-10", "100", "t"],  # 5: across its end
        ["DOLOMITE", "AD", "2024-03-01", "2024-03-01", "100", "t"],  # 6: another source
    )
    status = {r["row"]: r["status"] for r in report["report"]}
    assert status == {2: "invalid", 3: "invalid", 4: "valid", 5: "invalid", 6: "valid"}
    clash = next(r for r in report["report"] if r["row"] == 3)
    assert f"stored record {stored.json()['id']}" in " ".join(clash["errors"])
    correction = await upload(["LIMESTONE", "AD", "2024-03-01", "2024-03-31", "3200", "t"])  # the very month
    assert correction["valid_rows"] == 1, correction["report"]
    confirmed = await world.client.post(f"{API}/imports/{correction['id']}/confirm", headers=headers)
    assert confirmed.status_code == 200, confirmed.text
    live = await ActivityRecord.filter(source_id=ids["LIMESTONE"], superseded_by=None).order_by("period_start")
    assert [r.value for r in live] == [Decimal(3200)]


async def test_library_change_needs_step_up_and_leaves_earlier_results(world: World) -> None:
    headers = await world.login("a-accountant")
    ids = await build_inventory(world, headers)
    for code, input_name, value, unit in VALUES:
        body = {"source_id": ids[code], "input": input_name, "value": value, "unit": unit, **YEAR}
        assert (await world.client.post(f"{API}/activity", headers=headers, json=body)).status_code == 201
    first = check_reference(await year_emissions(world, headers))

    change = {
        "library": "GB/T 32151.5-2015",
        "reason": "test: electrode factor from a plant measurement campaign",
        "changes": [{"code": "electrode.ef", "value": "3.700", "source": "measurement campaign 2024-11"}],
    }
    user = await User.get(username="a-accountant")
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await LoginSession.filter(user_id=user.id).update(step_up_at=stale)  # the login's confirmation has aged
    refused = await world.client.post(f"{API}/library/versions", headers=headers, json=change)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "step_up_required", refused.text
    assert await LibraryVersion.filter(library="GB/T 32151.5-2015").count() == 1
    code = totp_code(world.secrets["a-accountant"], steps_ahead=1)
    changed = await world.client.post(f"{API}/library/versions", headers=headers | {"X-CEM-TOTP": code}, json=change)
    assert changed.status_code == 201, changed.text
    version = changed.json()
    assert version["number"] == 2 and version["author"] == "a-accountant"
    assert version["diff"] == [
        {
            "code": "electrode.ef",
            "change": "changed",
            "before": version["diff"][0]["before"],
            "after": version["diff"][0]["after"],
        }
    ]
    assert version["diff"][0]["before"]["value"] == "3.663" and version["diff"][0]["after"]["value"] == "3.700"
    assert await AuditRecord.filter(action="accounting.library.change").count() == 1

    second = (await year_emissions(world, headers))["results"][0]
    assert second["result_id"] != first["result_id"] and second["version"] == 2
    assert close(second["by_category"]["electrode"], "11100")
    old = (await world.client.get(f"/api/v1/emissions/{first['result_id']}/lineage", headers=headers)).json()
    assert old["current"] is False and close(old["lineage"]["totals"]["net"], NET)
    electrode = next(s for s in old["lineage"]["sources"] if s["source_id"] == "ELECTRODE")
    assert electrode["parameters"][0]["value"] == "3.663"
    assert [v["version"] for v in old["versions"]] == [1, 2]
    stored = await EmissionResult.get(id=first["result_id"])
    assert stored.net == Decimal(first["net"])

    # Pinning the year to library v1 brings the published figure back as a new version, v2 stays for audit.
    pinned = await world.client.put(
        f"{API}/years",
        headers=headers,
        json={"enterprise_id": world.a.enterprise.id, "year": 2024, "edition": "GB/T 32151.5-2015",
              "library_version": 1},
    )  # fmt: skip
    assert pinned.status_code == 200, pinned.text
    third = (await year_emissions(world, headers))["results"][0]
    assert close(third["net"], NET) and third["library_version"] == 1


async def test_scope_and_permissions(world: World) -> None:
    accountant = await world.login("a-accountant")
    await build_inventory(world, accountant)
    params = {"scope": "enterprise", "id": world.a.enterprise.id, "period": "month", "from": "2024-01",
              "to": "2024-03"}  # fmt: skip
    crew = await world.login("a-crew")
    assert (await read_after_refresh(world.client, "/api/v1/emissions", headers=crew, params=params)).status_code == 403
    other = await world.login("b-admin", steps_ahead=0)
    assert (
        await read_after_refresh(world.client, "/api/v1/emissions", headers=other, params=params)
    ).status_code == 404
    executive = await world.login("a-executive")
    page = await read_after_refresh(world.client, "/api/v1/emissions", headers=executive, params=params)
    assert page.status_code == 200, page.text
    results = page.json()["results"]
    assert len(results) == 2 and all(r["complete"] is False for r in results)  # nothing entered yet
    body = {"enterprise_id": world.a.enterprise.id, "code": "X", "name": "x", "category": "flux", "item": "limestone",
            "inputs": {"AD": {"origin": "manual", "unit": "t"}}}  # fmt: skip
    assert (await world.client.post(f"{API}/sources", headers=executive, json=body)).status_code == 403
    bad_unit = body | {"code": "Y", "inputs": {"AD": {"origin": "manual", "unit": "GJ"}}}
    refused = await world.client.post(f"{API}/sources", headers=accountant, json=bad_unit)
    assert refused.status_code == 400 and "does not convert" in refused.json()["error"]["message"]


async def test_meter_backed_source_per_day_and_hour(world: World) -> None:
    """Coke metered by a totaliser: day results from the rollups, an hour of them, a gap marked incomplete."""
    headers = await world.login("a-accountant")
    point = world.a.point  # ENTA.BF1.COKE, totaliser in t, one reading a minute
    body = {
        "enterprise_id": world.a.enterprise.id, "code": "BF.COKE", "name": "入炉焦炭", "category": "fuel_combustion",
        "item": "coke", "process_id": world.a.process.id,
        "inputs": {"FC": {"origin": "meter", "unit": "t", "points": [{"id": point.id, "sign": 1}]}},
    }  # fmt: skip
    created = await world.client.post(f"{API}/sources", headers=headers, json=body)
    assert created.status_code == 201, created.text
    day = dt.datetime(2025, 3, 1, tzinfo=SHANGHAI).astimezone(UTC)  # 2025-02-28T16:00Z
    full = _rows(point, day, 1440, delta=0.5)  # 720 t over the local day, every minute
    half = _rows(point, day + dt.timedelta(days=1), 720, delta=0.5)  # the next day: only the first 12 hours
    store = store_for()
    await write(store, full + half)
    await mark_points((await fold_pending(store)).touched)  # as the fold job does: the refresh job takes them
    params = {"scope": "enterprise", "id": world.a.enterprise.id, "period": "day", "from": "2025-03-01",
              "to": "2025-03-03"}  # fmt: skip
    page = await read_after_refresh(world.client, "/api/v1/emissions", headers=headers, params=params)
    assert page.status_code == 200, page.text
    first, second = page.json()["results"]
    per_tonne = Decimal("28.447") * Decimal("0.0295") * Decimal("0.93") * 44 / 12  # 2015 coke defaults
    assert close(first["net"], 720 * per_tonne, "0.0001") and first["complete"] is True
    assert close(second["net"], 360 * per_tonne, "0.0001") and second["complete"] is False
    lineage = (await world.client.get(f"/api/v1/emissions/{second['result_id']}/lineage", headers=headers)).json()
    assert lineage["lineage"]["sources"][0]["inputs"][0]["origin"] == f"meter:{point.code}"
    assert any("incomplete" in note for note in lineage["lineage"]["notes"])
    hours = await read_after_refresh(world.client,
        "/api/v1/emissions", headers=headers,
        params=params | {"period": "hour", "from": "2025-03-01T00:00:00+08:00", "to": "2025-03-01T03:00:00+08:00"},
    )  # fmt: skip
    assert hours.status_code == 200, hours.text
    assert [close(r["net"], 30 * per_tonne, "0.0001") for r in hours.json()["results"]] == [True] * 3
    # A value entered for the half day's meter (人工补录) substitutes for it over the whole day it covers;
    # the complete day stays on the meter.
    manual = {"source_id": created.json()["id"], "input": "FC", "value": "700", "unit": "t", "from": "2025-03-02",
              "to": "2025-03-02", "note": "meter failed at noon: weighbridge total"}  # fmt: skip
    substituted = await world.client.post(f"{API}/activity", headers=headers, json=manual)
    assert substituted.status_code == 201, substituted.text
    first, second = (
        await read_after_refresh(world.client, "/api/v1/emissions", headers=headers, params=params)
    ).json()["results"]
    assert close(first["net"], 720 * per_tonne, "0.0001")
    assert close(second["net"], 700 * per_tonne, "0.0001") and second["complete"] is True and second["version"] == 2
    lineage = (await world.client.get(f"/api/v1/emissions/{second['result_id']}/lineage", headers=headers)).json()
    assert "substitute for the meter" in lineage["lineage"]["sources"][0]["inputs"][0]["origin"]
    # The month: the meter where it has data (1 March), the substitute for 2 March, nothing else yet.
    march = params | {"period": "month", "from": "2025-03", "to": "2025-04"}
    [month] = (await read_after_refresh(world.client, "/api/v1/emissions", headers=headers, params=march)).json()[
        "results"
    ]
    assert close(month["net"], 1420 * per_tonne, "0.0001") and month["complete"] is False
    lineage = (await world.client.get(f"/api/v1/emissions/{month['result_id']}/lineage", headers=headers)).json()
    origin = lineage["lineage"]["sources"][0]["inputs"][0]["origin"]
    assert origin.startswith(f"meter:{point.code} outside the substituted days") and "manual#" in origin


async def test_items_come_from_the_library_or_are_measured(world: World) -> None:
    headers = await world.login("a-accountant")
    categories = (await world.client.get(f"{API}/source-categories", headers=headers)).json()
    assert "coke" in categories["fuel_combustion"]["items"]
    assert categories["fuel_combustion"]["inputs"] == {"FC": ["t", "10^4 Nm3"]}
    assert categories["electricity"]["inputs"] == {"exported": ["MWh"], "purchased": ["MWh"]}
    body = {"enterprise_id": world.a.enterprise.id, "code": "BIO", "name": "生物质", "category": "fuel_combustion",
            "item": "biomass_pellets", "inputs": {"FC": {"origin": "manual", "unit": "t"}}}  # fmt: skip
    refused = await world.client.post(f"{API}/sources", headers=headers, json=body)
    assert refused.status_code == 400 and "biomass_pellets" in refused.json()["error"]["message"]
    measured = {
        name: {"value": value, "unit": unit, "origin": "lab report 2024-05"}
        for name, value, unit in (("NCV", "17.2", "GJ/t"), ("CC", "0", "tC/TJ"), ("OF", "98", "%"))
    }
    accepted = await world.client.post(f"{API}/sources", headers=headers, json=body | {"overrides": measured})
    assert accepted.status_code == 201, accepted.text
    elsewhere = body | {"code": "F", "item": "coke", "facility_id": world.b.facility.id}
    refused = await world.client.post(f"{API}/sources", headers=headers, json=elsewhere)
    assert refused.status_code == 400 and "facility" in refused.json()["error"]["message"]


async def test_manual_entry_with_evidence_corrections_and_overlaps(world: World) -> None:
    headers = await world.login("a-accountant")
    ids = await build_inventory(world, headers)
    ticket = "过磅单 2024-03 石灰石 12,000 t".encode()
    uploaded = await world.client.post(
        f"{API}/evidence",
        headers=headers | {"content-type": "text/plain; charset=utf-8"},
        params={"enterprise_id": world.a.enterprise.id, "filename": "weighbridge-2024-03.txt"},
        content=ticket,
    )
    assert uploaded.status_code == 201, uploaded.text
    evidence = uploaded.json()
    assert evidence["size"] == len(ticket) and len(evidence["sha256"]) == 64
    entry = {"source_id": ids["LIMESTONE"], "input": "AD", "month": "2024-03", "value": "12000", "unit": "t",
             "evidence_id": evidence["id"], "note": "weighbridge total"}  # fmt: skip
    first = await world.client.post(f"{API}/activity", headers=headers, json=entry)
    assert first.status_code == 201, first.text
    assert first.json()["evidence_id"] == evidence["id"]
    download = await world.client.get(f"{API}/evidence/{evidence['id']}", headers=headers)
    assert download.content == ticket and download.headers["x-content-type-options"] == "nosniff"
    assert "attachment" in download.headers["content-disposition"]
    other = await world.login("b-admin")
    assert (await world.client.get(f"{API}/evidence/{evidence['id']}", headers=other)).status_code == 404

    month = {"scope": "enterprise", "id": world.a.enterprise.id, "period": "month", "from": "2024-03",
             "to": "2024-04"}  # fmt: skip
    before = (await read_after_refresh(world.client, "/api/v1/emissions", headers=headers, params=month)).json()[
        "results"
    ][0]
    assert close(before["by_category"]["flux"], "5280")  # 12,000 t x 0.440
    corrected = await world.client.post(f"{API}/activity", headers=headers, json=entry | {"value": "12500"})
    assert corrected.status_code == 201
    records = await ActivityRecord.filter(source_id=ids["LIMESTONE"]).order_by("id")
    assert [r.superseded_by for r in records] == [corrected.json()["id"], None]
    after = (await read_after_refresh(world.client, "/api/v1/emissions", headers=headers, params=month)).json()[
        "results"
    ][0]
    assert close(after["by_category"]["flux"], "5500") and after["version"] == before["version"] + 1
    overlap = entry | {"month": None, "from": "2024-03-15", "to": "2024-04-15"}
    refused = await world.client.post(f"{API}/activity", headers=headers, json=overlap)
    assert refused.status_code == 409 and refused.json()["error"]["hint"]
    listed = await world.client.get(
        f"{API}/activity", headers=headers, params={"enterprise_id": world.a.enterprise.id, "include_superseded": True}
    )
    assert len(listed.json()) == 2
    # one record by id (the ids a lineage names): the corrected one says what replaced it
    replaced = await world.client.get(f"{API}/activity/{first.json()['id']}", headers=headers)
    assert replaced.status_code == 200 and replaced.json() == listed.json()[1] | {
        "superseded_by": corrected.json()["id"]
    }
    assert replaced.json()["value"] == "12000" and replaced.json()["evidence_id"] == evidence["id"]
    auditor = await world.login("a-auditor")
    current = (await world.client.get(f"{API}/activity/{corrected.json()['id']}", headers=auditor)).json()
    assert current["value"] == "12500" and current["superseded_by"] is None
    assert (await world.client.get(f"{API}/activity/{first.json()['id']}", headers=other)).status_code == 404
    assert (await world.client.get(f"{API}/activity/999999999", headers=headers)).status_code == 404
    assert await AuditRecord.filter(action="accounting.activity.enter").count() == 2
    # a day within the month is prorated: 12,500 t / 31 days, marked estimated
    day = month | {"period": "day", "from": "2024-03-10", "to": "2024-03-11"}
    [one] = (await read_after_refresh(world.client, "/api/v1/emissions", headers=headers, params=day)).json()["results"]
    assert close(one["by_category"]["flux"], Decimal("5500") / 31, "0.0001") and one["estimated"] is True
