"""Bad input is a clear 4xx with the project's error body, never a 500 (issue 17, each case reproduced)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cem_platform.org.models import Facility, Site
from tests.test_platform.world import World, totp_code


def _refused(response: httpx.Response, *, says: str = "", code: str = "invalid_input") -> dict[str, Any]:
    """The response is a 400 with the project's error body (and, when given, a message naming the problem)."""
    assert response.status_code == 400, (response.request.url, response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"error", "request_id"} and body["request_id"]
    assert set(body["error"]) == {"code", "message", "hint", "details"}
    assert body["error"]["code"] == code and body["error"]["hint"]
    assert says in body["error"]["message"], body["error"]["message"]
    return body


@pytest.mark.parametrize("capacity", ["12345678901234567890.123456789", "1e999999", "NaN", "-Infinity", "-1"])
async def test_a_decimal_that_does_not_fit_its_column(world: World, capacity: str) -> None:
    headers = await world.login("group-admin")
    facility = {
        "process_id": world.a.process.id,
        "facility_type_id": world.a.facility.facility_type_id,
        "code": "BF9",
        "name": "9#高炉",
    }
    created = await world.client.post(
        "/api/v1/org/facilities", headers=headers, json={**facility, "capacity": capacity}
    )
    _refused(created, says="capacity")
    changed = await world.client.patch(
        f"/api/v1/org/facilities/{world.a.facility.id}", headers=headers, json={"capacity": capacity}
    )
    _refused(changed, says="capacity")
    assert await Facility.all().count() == 2 and (await Facility.get(id=world.a.facility.id)).capacity is None
    fits = await world.client.post(
        "/api/v1/org/facilities", headers=headers, json={**facility, "capacity": "99999999999999.9999"}
    )
    assert fits.status_code == 201, fits.text


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/registry/devices?q=%00",
        "/api/v1/audit?actor=%00",
        "/api/v1/audit?action=users.%00",
        "/api/v1/alarms?subject_id=a%00b",
        "/api/v1/ingest/dead-letters?reason=%00",
    ],
)
async def test_a_nul_character_in_a_query(world: World, url: str) -> None:
    headers = await world.login("group-admin")
    _refused(await world.client.get(url, headers=headers), says="NUL")


async def test_a_nul_character_in_json_text_writes_nothing(world: World) -> None:
    headers = await world.login("group-admin")
    renamed = await world.client.patch(
        f"/api/v1/org/sites/{world.a.site.id}", headers=headers, json={"name": "新\u0000厂区"}
    )
    _refused(renamed, says="NUL")
    assert (await Site.get(id=world.a.site.id)).name == "甲钢铁 works"
    login = await world.client.post("/api/v1/auth/login", json={"username": "group\u0000admin", "password": "x" * 12})
    assert 400 <= login.status_code < 500 and login.json()["error"]["code"]


@pytest.mark.parametrize("object_id", [2**31, 2**63, 2**70, -(2**70)])
async def test_an_id_outside_the_integer_range_in_a_path(world: World, object_id: int) -> None:
    headers = await world.login("group-admin")
    _refused(await world.client.get(f"/api/v1/org/sites/{object_id}", headers=headers), says="range")
    _refused(
        await world.client.patch(f"/api/v1/org/points/{object_id}", headers=headers, json={"name": "x"}),
        says="range",
    )
    _refused(await world.client.delete(f"/api/v1/org/facilities/{object_id}", headers=headers), says="range")


async def test_an_id_outside_the_integer_range_in_a_body(world: World) -> None:
    headers = await world.login("group-admin")
    created = await world.client.post(
        "/api/v1/org/processes",
        headers=headers,
        json={"site_id": 2**40, "process_type_id": 1, "code": "X", "name": "x"},
    )
    assert _refused(created, says="site_id")["error"]["details"][0]["key"] == "site_id"


async def test_a_code_longer_than_its_column_in_a_list_filter(world: World) -> None:
    headers = await world.login("group-admin")
    response = await world.client.get("/api/v1/points/latest?codes=" + "C" * 65, headers=headers)
    _refused(response, says="does not fit")


async def test_a_time_outside_the_stored_range(world: World) -> None:
    headers = await world.login("group-admin")
    for url in ("/api/v1/audit", "/api/v1/ingest/dead-letters"):
        response = await world.client.get(url, headers=headers, params={"from": "0001-01-01T00:00:00+14:00"})
        _refused(response, says="date or time")


async def test_json_nested_200000_deep(world: World) -> None:
    headers = {**await world.login("group-admin"), "content-type": "application/json"}
    for body in ("[" * 200_000 + "]" * 200_000, '{"a":' * 200_000 + "1" + "}" * 200_000):
        _refused(await world.client.post("/api/v1/org/enterprises", headers=headers, content=body), says="nested")


async def test_a_dead_letter_reason_longer_than_its_column(world: World) -> None:
    headers = await world.login("group-admin")
    response = await world.client.get("/api/v1/ingest/dead-letters?reason=" + "x" * 65, headers=headers)
    assert _refused(response, says="reason")["error"]["details"][0]["key"] == "reason"


async def test_the_openapi_document_describes_the_error_body_of_every_route(world: World) -> None:
    document = (await world.client.get("/schema/openapi.json")).json()
    components = document["components"]["schemas"]
    assert components["ErrorBody"]["required"] == ["error", "request_id"]
    assert components["ErrorBody"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
    assert set(components["ErrorDetail"]["required"]) == {"code", "message", "hint", "details"}
    operations = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            operations += 1
            for status in ("400", "401", "403", "404", "429", "500"):
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    assert operations > 50
    # and the body the API really answers is that one (here a 400 and a 404)
    headers = await world.login("group-admin")
    for response in (
        await world.client.get("/api/v1/org/sites/abc", headers=headers),
        await world.client.get("/api/v1/org/sites/999999", headers=headers),
    ):
        body = response.json()
        assert set(body) == set(components["ErrorBody"]["required"])
        assert set(body["error"]) == set(components["ErrorDetail"]["required"])


@pytest.mark.parametrize("value", ["12345678901234567890.123456789", "1e999999", "1e-999999"])
async def test_a_library_parameter_too_large_or_too_fine_for_a_stored_value(world: World, value: str) -> None:
    headers = await world.login("a-accountant")
    step_up = headers | {"X-CEM-TOTP": totp_code(world.secrets["a-accountant"], steps_ahead=1)}
    change = {
        "library": "GB/T 32151.5-2015",
        "reason": "lab report",
        "changes": [{"code": "fuel.coke.cc", "value": value, "source": "化验报告", "confidence": "confirmed"}],
    }
    response = await world.client.post("/api/v1/accounting/library/versions", headers=step_up, json=change)
    _refused(response, says="fuel.coke.cc", code="accounting_error")
