"""Control operations need a fresh TOTP confirmation; refused ones change nothing."""

from __future__ import annotations

import datetime as dt

from cem_platform.audit.models import AuditRecord
from cem_platform.identity.models import LoginSession, User
from tests.test_platform.world import World, totp_code

NEW_USER = {"username": "new-crew", "password": "long-enough-pass", "role": "crew"}


async def _age_step_up(username: str) -> None:
    user = await User.get(username=username)
    await LoginSession.filter(user_id=user.id).update(step_up_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))


async def test_stale_confirmation_is_refused_and_nothing_is_written(world: World) -> None:
    headers = await world.login("a-admin")
    await _age_step_up("a-admin")
    users_before, audit_before = await User.all().count(), await AuditRecord.all().count()
    body = NEW_USER | {"scopes": [{"enterprise_id": world.a.enterprise.id}]}
    response = await world.client.post("/api/v1/users", headers=headers, json=body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "step_up_required"
    assert "/auth/step-up" in response.json()["error"]["hint"]
    assert await User.all().count() == users_before
    # the refusal itself is audited, like any other refusal, naming the operation it stopped
    assert await AuditRecord.all().count() == audit_before + 1
    refusal = await AuditRecord.all().order_by("-id").first()
    assert refusal is not None
    assert refusal.action == "control.refused" and refusal.outcome == "denied"
    assert refusal.actor == "a-admin" and refusal.enterprise_id == world.a.enterprise.id
    assert refusal.summary.startswith("POST /api/v1/users:")


async def test_code_in_header_confirms_the_operation(world: World) -> None:
    headers = await world.login("a-admin")
    await _age_step_up("a-admin")
    body = NEW_USER | {"scopes": [{"enterprise_id": world.a.enterprise.id}]}
    wrong = await world.client.post("/api/v1/users", headers=headers | {"X-CEM-TOTP": "111111"}, json=body)
    assert wrong.status_code == 403
    refused = await AuditRecord.filter(action="control.refused").get()
    assert refused.outcome == "denied" and "wrong" in refused.summary
    code = totp_code(world.secrets["a-admin"], steps_ahead=1)  # the login used the current step's code
    ok = await world.client.post("/api/v1/users", headers=headers | {"X-CEM-TOTP": code}, json=body)
    assert ok.status_code == 201, ok.text


async def test_step_up_endpoint_opens_a_short_window(world: World) -> None:
    headers = await world.login("a-admin")
    await _age_step_up("a-admin")
    code = totp_code(world.secrets["a-admin"], steps_ahead=1)
    confirmed = await world.client.post("/api/v1/auth/step-up", headers=headers, json={"totp": code})
    assert confirmed.status_code == 200
    until = dt.datetime.fromisoformat(confirmed.json()["step_up_until"])
    assert dt.timedelta(minutes=1) < until - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=5)
    reused = await world.client.post("/api/v1/auth/step-up", headers=headers, json={"totp": code})
    assert reused.status_code == 403  # a code never works twice
    body = NEW_USER | {"scopes": [{"enterprise_id": world.a.enterprise.id}]}
    assert (await world.client.post("/api/v1/users", headers=headers, json=body)).status_code == 201


async def test_api_token_cannot_do_control_operations(world: World) -> None:
    admin = await world.login("group-admin")
    created = await world.client.post(
        "/api/v1/api-tokens",
        headers=admin,
        json={"name": "mes", "permissions": ["system.read"], "enterprise_ids": [world.a.enterprise.id]},
    )
    assert created.status_code == 201, created.text
    token = {"Authorization": f"Bearer {created.json()['token']}"}
    denied = await world.client.put(
        "/api/v1/system/parameters/comm.heartbeat_seconds", headers=token, json={"value": 40}
    )
    assert denied.status_code == 403
