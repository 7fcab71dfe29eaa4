"""API tokens for third parties; system parameters and communication settings."""

from __future__ import annotations

from cem_platform.identity.models import ApiToken
from cem_platform.sysconfig.models import SystemParameter
from tests.test_platform.world import PASSWORD, World


async def test_api_token_reads_within_its_enterprise_until_revoked(world: World) -> None:
    admin = await world.login("a-admin")
    created = await world.client.post(
        "/api/v1/api-tokens",
        headers=admin,
        json={"name": "erp", "permissions": ["org.read"], "enterprise_ids": [world.a.enterprise.id]},
    )
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    stored = await ApiToken.get(id=created.json()["details"]["id"])
    assert stored.token_hash != secret and secret not in stored.token_hash
    token = {"Authorization": f"Bearer {secret}"}
    points = (await world.client.get("/api/v1/org/points", headers=token)).json()
    assert {p["enterprise_id"] for p in points} == {world.a.enterprise.id}
    assert (await world.client.get(f"/api/v1/org/points/{world.b.point.id}", headers=token)).status_code == 404
    assert (await world.client.get("/api/v1/users", headers=token)).status_code == 403
    listed = (await world.client.get("/api/v1/api-tokens", headers=admin)).json()
    assert all("token" not in t and "token_hash" not in t for t in listed)

    revoke = await world.client.delete(f"/api/v1/api-tokens/{stored.id}", headers=admin)
    assert revoke.status_code == 204
    assert (await world.client.get("/api/v1/org/points", headers=token)).status_code == 401


async def test_api_token_refuses_unknown_permissions_and_foreign_enterprises(world: World) -> None:
    admin = await world.login("a-admin")
    bad_permission = await world.client.post(
        "/api/v1/api-tokens",
        headers=admin,
        json={"name": "x", "permissions": ["users.write"], "enterprise_ids": [world.a.enterprise.id]},
    )
    assert bad_permission.status_code == 400
    assert "org.read" in bad_permission.json()["error"]["hint"]
    foreign = await world.client.post(
        "/api/v1/api-tokens",
        headers=admin,
        json={"name": "x", "permissions": ["org.read"], "enterprise_ids": [world.b.enterprise.id]},
    )
    assert foreign.status_code == 404
    assert await ApiToken.all().count() == 0


async def test_device_admin_changes_communication_but_not_system_parameters(world: World) -> None:
    headers = await world.login("a-device-admin")
    comm = await world.client.put(
        "/api/v1/system/parameters/comm.heartbeat_seconds", headers=headers, json={"value": 60}
    )
    assert comm.status_code == 200
    assert comm.json() == {"key": "comm.heartbeat_seconds", "value": 60, "version": 1}
    system = await world.client.put(
        "/api/v1/system/parameters/auth.lockout_threshold", headers=headers, json={"value": 3}
    )
    assert system.status_code == 403
    out_of_range = await world.client.put(
        "/api/v1/system/parameters/comm.heartbeat_seconds", headers=headers, json={"value": 1}
    )
    assert out_of_range.status_code == 400
    assert "minimum" in out_of_range.json()["error"]["message"]
    assert (await SystemParameter.get(key="comm.heartbeat_seconds")).value == 60


async def test_lockout_threshold_parameter_takes_effect(world: World) -> None:
    admin = await world.login("a-admin")
    changed = await world.client.put(
        "/api/v1/system/parameters/auth.lockout_threshold", headers=admin, json={"value": 3}
    )
    assert changed.status_code == 200
    for _ in range(3):
        await world.client.post("/api/v1/auth/login", json={"username": "a-auditor", "password": "wrong-one-x"})
    locked = await world.client.post("/api/v1/auth/login", json={"username": "a-auditor", "password": PASSWORD})
    assert locked.status_code == 423
