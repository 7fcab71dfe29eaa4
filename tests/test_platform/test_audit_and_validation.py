"""Every change leaves an audit record (without secrets); bad input gets a clear 4xx and writes nothing."""

from __future__ import annotations

import pytest
from tortoise import connections

from cem_platform.audit.models import AuditRecord
from cem_platform.org.models import Enterprise, MeasurementPoint, Site
from tests.test_platform.world import World


async def test_changes_are_audited_with_before_and_after(world: World) -> None:
    headers = await world.login("group-admin")
    created = await world.client.post(
        "/api/v1/org/enterprises",
        headers=headers,
        json={"code": "ENTC", "name": "丙钢铁", "credit_code": "91320100MA1X2Y3K4J"},
    )
    assert created.status_code == 201, created.text
    enterprise_id = created.json()["id"]
    await world.client.patch(f"/api/v1/org/enterprises/{enterprise_id}", headers=headers, json={"name": "丙钢铁集团"})
    await world.client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "username": "c-crew",
            "password": "long-enough-pass",
            "role": "crew",
            "scopes": [{"enterprise_id": enterprise_id}],
        },
    )
    await world.client.put("/api/v1/system/parameters/auth.lockout_minutes", headers=headers, json={"value": 30})

    create = await AuditRecord.get(action="org.enterprise.create", entity_id=str(enterprise_id))
    assert create.actor == "group-admin" and create.ip == "127.0.0.1" and create.request_id
    assert create.after is not None and create.after["name"] == "丙钢铁"
    update = await AuditRecord.get(action="org.enterprise.update", entity_id=str(enterprise_id))
    assert update.before is not None and update.after is not None
    assert (update.before["name"], update.after["name"]) == ("丙钢铁", "丙钢铁集团")
    user_record = await AuditRecord.get(action="users.create")
    assert "password" not in str(user_record.after) and "long-enough-pass" not in str(user_record.after)
    param = await AuditRecord.get(action="system.parameter.system.update", entity_id="auth.lockout_minutes")
    assert param.before == {"value": 15} and param.after == {"value": 30}

    page = (await world.client.get("/api/v1/audit?entity_type=enterprise", headers=headers)).json()
    assert [i["action"] for i in page["items"]] == ["org.enterprise.update", "org.enterprise.create"]


async def test_audit_log_is_append_only(world: World) -> None:
    headers = await world.login("a-admin")
    await world.client.patch(f"/api/v1/org/sites/{world.a.site.id}", headers=headers, json={"name": "新名"})
    conn = connections.get("default")
    with pytest.raises(Exception, match="append-only"):
        await conn.execute_query("UPDATE audit_record SET actor = 'someone-else'")
    with pytest.raises(Exception, match="append-only"):
        await conn.execute_query("DELETE FROM audit_record")
    assert await AuditRecord.filter(actor="a-admin").count() >= 1


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("enterprises", {"code": "ENTD", "name": "丁", "credit_code": "91320100MA1X2Y3K4A"}, "check character"),
        ("enterprises", {"code": "ENTD", "name": "丁", "timezone": "Mars/Olympus"}, "time zone"),
        ("enterprises", {"code": "bad code!", "name": "丁"}, "code"),
        ("enterprises", {"code": "ENTD", "name": "丁", "colour": "red"}, "colour"),
        ("enterprises", {"code": "ENTA", "name": "重复"}, None),
    ],
)
async def test_bad_enterprise_input_is_refused_and_nothing_written(
    world: World, path: str, body: dict[str, object], fragment: str | None
) -> None:
    headers = await world.login("group-admin")
    before = await Enterprise.all().count()
    response = await world.client.post(f"/api/v1/org/{path}", headers=headers, json=body)
    assert 400 <= response.status_code < 500
    error = response.json()["error"]
    assert error["message"] and error["hint"]
    if fragment:
        assert fragment in error["message"]
    else:
        assert response.status_code == 409
    assert await Enterprise.all().count() == before
    assert await AuditRecord.filter(action="org.enterprise.create").count() == 0


async def test_point_unit_must_fit_its_quantity(world: World) -> None:
    headers = await world.login("a-device-admin")
    body = {
        "facility_id": world.a.facility.id,
        "code": "X1",
        "name": "电耗",
        "medium": "electricity",
        "quantity": "energy",
        "unit": "t",
        "kind": "totaliser",
    }
    response = await world.client.post("/api/v1/org/points", headers=headers, json=body)
    assert response.status_code == 400
    assert "kWh" in response.json()["error"]["hint"]
    assert not await MeasurementPoint.exists(code="X1")
    body["unit"] = "kWh"
    assert (await world.client.post("/api/v1/org/points", headers=headers, json=body)).status_code == 201
    patched = await world.client.patch(
        f"/api/v1/org/points/{world.a.point.id}",
        headers=headers,
        json={"calibrated_on": "2026-01-10", "calibration_due": "2025-01-10"},
    )
    assert patched.status_code == 400
    assert (await MeasurementPoint.get(id=world.a.point.id)).calibration_due is None


async def test_deleting_a_used_object_is_refused_and_deleting_an_unused_one_works(world: World) -> None:
    headers = await world.login("a-admin")
    in_use = await world.client.delete(f"/api/v1/org/sites/{world.a.site.id}", headers=headers)
    assert in_use.status_code == 409
    assert await Site.exists(id=world.a.site.id)
    spare = await world.client.post(
        "/api/v1/org/sites",
        headers=headers,
        json={"enterprise_id": world.a.enterprise.id, "code": "SPARE", "name": "备用"},
    )
    spare_id = spare.json()["id"]
    assert (await world.client.delete(f"/api/v1/org/sites/{spare_id}", headers=headers)).status_code == 204
    assert not await Site.exists(id=spare_id)
    assert await AuditRecord.filter(action="org.site.delete", entity_id=str(spare_id)).count() == 1
