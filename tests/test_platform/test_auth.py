"""Login with and without TOTP, lockout, refresh, logout, TOTP enrolment."""

from __future__ import annotations

import httpx
import pyotp
from litestar import Litestar

from cem_platform.audit.models import AuditRecord
from cem_platform.identity.models import User
from cem_platform.identity.roles import Role
from tests.test_platform.world import PASSWORD, World, totp_code


async def test_login_without_totp_gives_working_tokens(world: World) -> None:
    response = await world.client.post("/api/v1/auth/login", json={"username": "a-executive", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["totp_enrolment_required"] is False
    me = await world.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["role"] == "executive"
    assert me.json()["enterprise_ids"] == [world.a.enterprise.id]
    assert await AuditRecord.filter(action="auth.login", outcome="success", actor="a-executive").count() == 1


async def test_wrong_password_and_unknown_user_look_the_same(world: World) -> None:
    wrong = await world.client.post("/api/v1/auth/login", json={"username": "a-executive", "password": "nope-nope-1"})
    unknown = await world.client.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope-nope-1"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]
    assert "password" not in str(await AuditRecord.filter(outcome="failed").values("before", "after"))


async def test_totp_user_needs_code_and_a_code_works_once(world: World) -> None:
    no_code = await world.client.post("/api/v1/auth/login", json={"username": "a-admin", "password": PASSWORD})
    assert no_code.status_code == 401
    assert no_code.json()["error"]["code"] == "totp_required"

    bad = await world.client.post(
        "/api/v1/auth/login", json={"username": "a-admin", "password": PASSWORD, "totp": "000000"}
    )
    assert bad.status_code == 401

    code = totp_code(world.secrets["a-admin"])
    first = await world.client.post(
        "/api/v1/auth/login", json={"username": "a-admin", "password": PASSWORD, "totp": code}
    )
    assert first.status_code == 200
    replay = await world.client.post(
        "/api/v1/auth/login", json={"username": "a-admin", "password": PASSWORD, "totp": code}
    )
    assert replay.status_code == 401
    assert "already used" in replay.json()["error"]["message"]


async def _from(app: Litestar, ip: str, body: dict[str, str]) -> httpx.Response:
    """A login from another address than the test client's."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40001))
    async with httpx.AsyncClient(transport=transport, base_url="http://cem.test") as other:
        return await other.post("/api/v1/auth/login", json=body)


async def test_lockout_locks_the_address_not_the_account_then_unlock(world: World, app: Litestar) -> None:
    crew = world.users["a-crew"]
    for _ in range(5):
        response = await world.client.post(
            "/api/v1/auth/login", json={"username": "a-crew", "password": "wrong-password-x"}
        )
        assert response.status_code == 401
    locked = await world.client.post("/api/v1/auth/login", json={"username": "a-crew", "password": PASSWORD})
    assert locked.status_code == 423
    assert locked.json()["error"]["code"] == "account_locked"
    assert await AuditRecord.filter(action="auth.lockout", entity_id=str(crew.id)).count() == 1
    assert await AuditRecord.filter(action="auth.login", outcome="denied", entity_id=str(crew.id)).count() == 1
    # the crew member's own phone, elsewhere, still logs in: guessing cannot lock a person out
    own = await _from(app, "127.0.0.2", {"username": "a-crew", "password": PASSWORD})
    assert own.status_code == 200, own.text

    admin = await world.login("a-admin")
    shown = await world.client.get(f"/api/v1/users/{crew.id}", headers=admin)
    assert shown.json()["locked_until"] is not None
    unlocked = await world.client.post(f"/api/v1/users/{crew.id}/unlock", headers=admin)
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["locked_until"] is None
    again = await world.client.post("/api/v1/auth/login", json={"username": "a-crew", "password": PASSWORD})
    assert again.status_code == 200


async def test_a_lock_does_not_tell_which_names_exist(world: World, app: Litestar) -> None:
    answers = {}
    for name in ("a-admin", "nobody-here"):
        for _ in range(5):
            wrong = await _from(app, "127.0.0.3", {"username": name, "password": "wrong-password-x"})
            assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "username or password is wrong"
        answers[name] = await _from(app, "127.0.0.3", {"username": name, "password": "wrong-password-x"})
    assert [a.status_code for a in answers.values()] == [423, 423]
    assert {a.json()["error"]["code"] for a in answers.values()} == {"account_locked"}
    assert answers["a-admin"].json()["error"]["message"][:60] == answers["nobody-here"].json()["error"]["message"][:60]
    # and the administrator, from their own desk, is not locked out
    assert (await world.login("a-admin"))["Authorization"].startswith("Bearer ")


async def test_refresh_rotates_and_logout_ends_the_session(world: World) -> None:
    login = (await world.client.post("/api/v1/auth/login", json={"username": "a-auditor", "password": PASSWORD})).json()
    refreshed = await world.client.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
    assert refreshed.status_code == 200
    new = refreshed.json()
    old_access = await world.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {login['access_token']}"})
    assert old_access.status_code == 401

    headers = {"Authorization": f"Bearer {new['access_token']}"}
    assert (await world.client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    assert (await world.client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    assert (await world.client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    after = await world.client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert after.status_code == 401


async def test_reuse_of_a_rotated_refresh_token_ends_its_family(world: World) -> None:
    login = (await world.client.post("/api/v1/auth/login", json={"username": "a-auditor", "password": PASSWORD})).json()
    rotated = (await world.client.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})).json()
    headers = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert (await world.client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    # someone replays the first refresh token (copied before the rotation)
    replay = await world.client.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
    assert replay.status_code == 401
    # the whole family ends: the rightful holder's current tokens too, so the copy is worth nothing
    assert (await world.client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    later = await world.client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert later.status_code == 401
    reuse = await AuditRecord.filter(action="auth.refresh_reuse").get()
    assert reuse.outcome == "denied" and reuse.entity_id == str(world.users["a-auditor"].id)
    # another session of the same person is untouched
    other = await world.client.post("/api/v1/auth/login", json={"username": "a-auditor", "password": PASSWORD})
    assert other.status_code == 200


async def test_required_totp_must_be_enrolled_before_anything_else(world: World) -> None:
    await world.add_user("new-accountant", Role.ACCOUNTANT, enterprise=world.a.enterprise, totp=False)
    login = (
        await world.client.post("/api/v1/auth/login", json={"username": "new-accountant", "password": PASSWORD})
    ).json()
    assert login["totp_enrolment_required"] is True
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    blocked = await world.client.get("/api/v1/org/sites", headers=headers)
    assert blocked.status_code == 403
    assert "/auth/totp/enrol" in blocked.json()["error"]["hint"]

    enrol = await world.client.post("/api/v1/auth/totp/enrol", headers=headers)
    assert enrol.status_code == 200
    body = enrol.json()
    assert body["provisioning_uri"].startswith("otpauth://totp/")
    assert body["qr_svg"].lstrip().startswith("<?xml") or "<svg" in body["qr_svg"]
    wrong = await world.client.post("/api/v1/auth/totp/confirm", headers=headers, json={"totp": "123456"})
    assert wrong.status_code == 400
    confirm = await world.client.post(
        "/api/v1/auth/totp/confirm", headers=headers, json={"totp": pyotp.TOTP(body["secret"]).now()}
    )
    assert confirm.status_code == 204
    assert (await world.client.get("/api/v1/org/sites", headers=headers)).status_code == 200
    user = await User.get(username="new-accountant")
    assert user.totp_secret_encrypted is not None
    assert body["secret"] not in user.totp_secret_encrypted  # stored encrypted, not in clear


async def test_change_own_password_ends_other_sessions(world: World) -> None:
    first = await world.login("a-crew")
    second = await world.login("a-crew")
    response = await world.client.post(
        "/api/v1/auth/password", headers=first, json={"current_password": PASSWORD, "new_password": "another-long-pass"}
    )
    assert response.status_code == 204
    assert (await world.client.get("/api/v1/auth/me", headers=first)).status_code == 200
    assert (await world.client.get("/api/v1/auth/me", headers=second)).status_code == 401
    relogin = await world.client.post(
        "/api/v1/auth/login", json={"username": "a-crew", "password": "another-long-pass"}
    )
    assert relogin.status_code == 200
