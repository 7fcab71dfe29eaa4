"""Formulas in the versioned library (standard 5.4.9.2), on real PostgreSQL.

Version 1 of the ``formulas`` library is the code-defined formulas with the same text: the reference example keeps
its figures and its fingerprint. A change is checked by the safe parser and a test case, needs TOTP step-up, is
audited (refusals too) and writes nothing when refused; a draft year is accounted again with the new formula
version, a submitted year keeps its figures and the formula versions it used.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest

from cem_platform.accounting import calculation, library_store
from cem_platform.accounting.library import EDITION_2015, SEEDED_FORMULAS
from cem_platform.accounting.models import EmissionResult, LibraryVersion, PeriodKind, ReportingYear
from cem_platform.accounting.periods import local_midnight
from cem_platform.audit.models import AuditRecord
from cem_platform.identity.models import LoginSession, User
from cem_platform.identity.roles import Role
from tests.test_accounting.kept import refresh_now
from tests.test_accounting.test_api import API, NET, SOURCES, VALUES, YEAR, check_reference, close, year_emissions
from tests.test_accounting.test_kept_results import _reference_year, _row_counts, _submit
from tests.test_platform.world import Org, World, totp_code

FORMULAS = f"{API}/library/formulas"
FLUX = {
    "code": "process.flux",
    "expression": "AD * EF * 98 / 100",
    "reason": "test: 2 % of the flux carbon stays in the slag (plant study 2025)",
    "test_case": {"inputs": {"AD": "1000", "EF": "0.440"}, "expected": "431.2"},
}


def _step_up(world: World, headers: dict[str, str]) -> dict[str, str]:
    return headers | {"X-CEM-TOTP": totp_code(world.secrets["a-accountant"], steps_ahead=1)}


def _formula_lines(result: EmissionResult | dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    lineage = result.lineage if isinstance(result, EmissionResult) else result
    return {s["source_id"]: (s["formula_id"], s["formula_version"], s["expression"]) for s in lineage["sources"]}


async def test_seeded_formulas_are_the_code_formulas_and_keep_the_fingerprint(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await world.login("a-accountant")
    listed = await world.client.get(FORMULAS, headers=headers)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["version"] == 1 and {f["code"] for f in body["formulas"]} == set(SEEDED_FORMULAS)
    for entry in body["formulas"]:
        seeded = SEEDED_FORMULAS[entry["code"]]
        assert entry["expression"] == seeded.expression and entry["inputs"] == dict(seeded.input_units)
        assert entry["result_unit"] == seeded.result_unit and entry["version"] == "1" and entry["source"]
    assert entry["category"] and entry["role"] in ("emission", "energy")

    await _reference_year(world, headers)
    result = check_reference(await year_emissions(world, headers))
    kept = await EmissionResult.get(id=result["result_id"])
    assert {v[1] for v in _formula_lines(kept).values()} == {"1"}

    # The same year accounted with the code-defined formulas (as before they moved) has the same fingerprint.
    monkeypatch.setattr(library_store, "build_methods", lambda formulas: EDITION_2015.methods)
    monkeypatch.setattr(library_store, "_editions", {})
    zone = zoneinfo.ZoneInfo(world.a.enterprise.timezone)
    bounds = (local_midnight(dt.date(2024, 1, 1), zone), local_midnight(dt.date(2025, 1, 1), zone))
    [(_, _, lineage, _)] = await calculation.account_aside(world.a.enterprise, PeriodKind.YEAR, [bounds], zone)
    assert calculation.fingerprint(lineage) == kept.fingerprint
    assert _formula_lines(lineage) == _formula_lines(kept)


async def test_a_formula_change_is_refused_unless_safe_tested_and_stepped_up(world: World) -> None:
    headers = await world.login("a-accountant")  # the login's TOTP confirms the step-up for a few minutes
    executive = await world.login("a-executive")
    assert (await world.client.get(FORMULAS, headers=headers)).status_code == 200  # seeded
    before = await _row_counts()
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"test_case": {"inputs": {"AD": "1000", "EF": "0.440"}, "expected": "440"}}, "not the expected 440"),
        ({"test_case": {"inputs": {"AD": "1000"}, "expected": "431.2"}}, "needs EF"),
        ({"expression": "__import__('os').system('true')"}, "function calls not allowed"),
        ({"expression": "AD.real * EF"}, "attribute access"),
        ({"expression": "AD * EF ** 2"}, "power"),
        ({"expression": "AD * (EF"}, "not valid"),
        ({"expression": "AD * EF * SLAG"}, "SLAG used"),
        ({"expression": "AD + EF"}, "adds"),
        ({"expression": "AD * EF * AD"}, "gives"),
        ({"expression": "AD * EF / (1 - 1)"}, "divides by zero"),
        ({"expression": "AD * EF" + " * 1" * 200}, "at most 400"),
        ({"expression": "AD * EF"}, "nothing to version"),
        ({"reason": "  "}, "reason"),
        ({"code": "process.nothing"}, "no formula"),
    ]
    for change, message in refusals:
        response = await world.client.post(FORMULAS, headers=headers, json=FLUX | change)
        assert response.status_code in (400, 404), (change, response.text)
        assert message in response.json()["error"]["message"], (message, response.text)
    assert await AuditRecord.filter(action="accounting.formula.change", outcome="denied").count() == len(refusals)

    # Without a fresh TOTP confirmation the route is not reached.
    user = await User.get(username="a-accountant")
    await LoginSession.filter(user_id=user.id).update(step_up_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    refused = await world.client.post(FORMULAS, headers=headers, json=FLUX)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "step_up_required", refused.text
    # A user without the library permission is refused too.
    assert (await world.client.post(FORMULAS, headers=executive, json=FLUX)).status_code == 403

    after = await _row_counts()
    assert {k: v for k, v in after.items() if k != "audit_record"} == {
        k: v for k, v in before.items() if k != "audit_record"
    }
    assert await LibraryVersion.filter(library="formulas").count() == 1


async def _inventory_of(world: World, org: Org, headers: dict[str, str]) -> None:
    ids = {}
    for code, name, category, item, inputs, overrides in SOURCES:
        body = {
            "enterprise_id": org.enterprise.id, "code": code, "name": name, "category": category, "item": item,
            "process_id": None if category in ("electricity", "heat", "output") else org.process.id,
            "inputs": {k: {"origin": "manual", "unit": unit} for k, unit in inputs.items()}, "overrides": overrides,
        }  # fmt: skip
        response = await world.client.post(f"{API}/sources", headers=headers, json=body)
        assert response.status_code == 201, response.text
        ids[code] = response.json()["id"]
    for code, input_name, value, unit in VALUES:
        body = {"source_id": ids[code], "input": input_name, "value": value, "unit": unit, **YEAR}
        assert (await world.client.post(f"{API}/activity", headers=headers, json=body)).status_code == 201


async def test_a_formula_change_reaccounts_a_draft_year_and_spares_a_submitted_one(world: World) -> None:
    # Enterprise A submits 2024; enterprise B's 2024 is a draft. Same inventory and activity.
    headers = await world.login("a-accountant")
    await _reference_year(world, headers)
    submitted = await _submit(world, headers)
    await world.add_user("b-accountant", Role.ACCOUNTANT, enterprise=world.b.enterprise)
    b_headers = await world.login("b-accountant")
    await _inventory_of(world, world.b, b_headers)
    b_year = (await year_emissions(world, b_headers, "enterprise", world.b.enterprise.id))["results"][0]
    a_before = await EmissionResult.get(id=submitted["result_id"])
    b_before = await EmissionResult.get(id=b_year["result_id"])
    assert close(a_before.net, NET) and close(b_before.net, NET)

    changed = await world.client.post(FORMULAS, headers=_step_up(world, headers), json=FLUX)
    assert changed.status_code == 201, changed.text
    version = changed.json()
    assert version["library"] == "formulas" and version["number"] == 2 and version["author"] == "a-accountant"
    [diff] = version["diff"]
    assert diff["code"] == "process.flux" and diff["before"]["expression"] == "AD * EF"
    assert diff["after"]["expression"] == "AD * EF * 98 / 100" and diff["after"]["test_case"]["result"] == "431.2"
    listed = {f["code"]: f for f in (await world.client.get(FORMULAS, headers=headers)).json()["formulas"]}
    assert listed["process.flux"]["version"] == "2" and listed["process.electrode"]["version"] == "1"
    old = (await world.client.get(FORMULAS, headers=headers, params={"version": 1})).json()
    assert {f["code"]: f["expression"] for f in old["formulas"]}["process.flux"] == "AD * EF"
    [audit] = await AuditRecord.filter(action="accounting.formula.change", outcome="success")
    assert audit.entity_id == "formulas v2" and audit.actor == "a-accountant"

    report = await refresh_now()
    assert not report.errors and "ENTA/2024" in report.frozen_years
    # The draft year: a new version with the flux at 98 % and the flux sources naming formula version 2.
    b_year = (await year_emissions(world, b_headers, "enterprise", world.b.enterprise.id))["results"][0]
    b_after = await EmissionResult.get(id=b_year["result_id"])
    assert b_after.id != b_before.id and b_after.version == b_before.version + 1
    assert close(b_after.net, NET - Decimal("84840") * Decimal("0.02"))
    lines = _formula_lines(b_after)
    assert lines["LIMESTONE"] == ("process.flux", "2", "AD * EF * 98 / 100") and lines["DOLOMITE"][1] == "2"
    assert lines["ELECTRODE"] == ("process.electrode", "1", "AD * EF") and lines["COKE"][1] == "1"
    # The submitted year: its kept result, figures and formula versions as submitted; the difference is shown.
    a_year = (await year_emissions(world, headers))["results"][0]
    a_after = await EmissionResult.get(id=a_year["result_id"])
    assert a_after.id == a_before.id and a_after.net == a_before.net and a_after.fingerprint == a_before.fingerprint
    assert _formula_lines(a_after)["LIMESTONE"] == ("process.flux", "1", "AD * EF")
    row = await ReportingYear.get(enterprise_id=world.a.enterprise.id, year=2024)
    assert row.state.value == "submitted" and row.reported == submitted["reported"]
    assert row.drift is not None and close(row.drift["net"], "-1696.8")
