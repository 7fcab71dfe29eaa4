"""Scope isolation: a user of one enterprise never sees or changes another's."""

from __future__ import annotations

from cem_platform.identity.roles import Role
from cem_platform.org.models import Site
from tests.test_platform.world import World

ATTRIBUTE = {  # collection -> attribute of an Org
    "enterprises": "enterprise",
    "sites": "site",
    "processes": "process",
    "facilities": "facility",
    "points": "point",
}


async def test_lists_show_only_own_enterprise(world: World) -> None:
    headers = await world.login("a-executive")
    for path in ATTRIBUTE:
        rows = (await world.client.get(f"/api/v1/org/{path}", headers=headers)).json()
        assert rows, path
        ids = {r["id"] for r in rows}
        own = getattr(
            world.a,
            ATTRIBUTE[path],
        ).id
        other = getattr(
            world.b,
            ATTRIBUTE[path],
        ).id
        assert own in ids and other not in ids, path


async def test_other_enterprise_objects_answer_404(world: World) -> None:
    headers = await world.login("a-admin")
    for path in (f"enterprises/{world.b.enterprise.id}", f"sites/{world.b.site.id}", f"points/{world.b.point.id}"):
        response = await world.client.get(f"/api/v1/org/{path}", headers=headers)
        assert response.status_code == 404, path
    changed = await world.client.patch(f"/api/v1/org/sites/{world.b.site.id}", headers=headers, json={"name": "x"})
    assert changed.status_code == 404
    created = await world.client.post(
        "/api/v1/org/sites",
        headers=headers,
        json={"enterprise_id": world.b.enterprise.id, "code": "S9", "name": "入侵"},
    )
    assert created.status_code == 404
    assert await Site.filter(code="S9").count() == 0
    assert (await Site.get(id=world.b.site.id)).name != "x"


async def test_users_and_audit_of_other_enterprises_are_invisible(world: World) -> None:
    b_admin = await world.login("b-admin")
    users = (await world.client.get("/api/v1/users", headers=b_admin)).json()
    assert {u["username"] for u in users} == {"b-admin"}
    assert (await world.client.get(f"/api/v1/users/{world.users['a-crew'].id}", headers=b_admin)).status_code == 404
    a_admin = await world.login("a-admin")
    await world.client.patch(f"/api/v1/org/sites/{world.a.site.id}", headers=a_admin, json={"name": "甲新名"})
    a_audit = (await world.client.get("/api/v1/audit?action=org.", headers=a_admin)).json()
    b_audit = (await world.client.get("/api/v1/audit?action=org.", headers=b_admin)).json()
    assert a_audit["total"] == 1
    assert b_audit["total"] == 0


async def test_group_wide_changes_are_visible_to_each_enterprises_auditor(world: World) -> None:
    """A system parameter changed at the group level applies to every enterprise: their auditors see it."""
    group = await world.login("group-admin")
    changed = await world.client.put(
        "/api/v1/system/parameters/comm.heartbeat_seconds", headers=group, json={"value": 45}
    )
    assert changed.status_code == 200, changed.text
    a_admin = await world.login("a-admin")
    await world.client.patch(f"/api/v1/org/sites/{world.a.site.id}", headers=a_admin, json={"name": "甲新名"})
    logged_in = {name: await world.login(name) for name in ("a-auditor", "b-admin")}  # a TOTP code works once
    for auditor, headers in logged_in.items():
        seen = (await world.client.get("/api/v1/audit?action=system.parameter.", headers=headers)).json()
        assert [r["entity_id"] for r in seen["items"]] == ["comm.heartbeat_seconds"], (auditor, seen)
        filtered = await world.client.get(
            f"/api/v1/audit?enterprise_id={world.b.enterprise.id}&action=system.", headers=headers
        )
        assert filtered.json()["total"] == 1  # it applies to every enterprise, so to the one filtered on
    # an enterprise's own records stay its own
    assert (await world.client.get("/api/v1/audit?action=org.", headers=logged_in["b-admin"])).json()["total"] == 0


async def test_scoped_admin_cannot_grant_group_level_or_other_enterprise(world: World) -> None:
    headers = await world.login("a-admin")
    everything = await world.client.post(
        "/api/v1/users",
        headers=headers,
        json={"username": "sneaky", "password": "long-enough-pass", "role": "auditor", "all_enterprises": True},
    )
    assert everything.status_code == 403
    other = await world.client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "username": "sneaky",
            "password": "long-enough-pass",
            "role": "auditor",
            "scopes": [{"enterprise_id": world.b.enterprise.id}],
        },
    )
    assert other.status_code == 404


async def test_site_scoped_user_sees_only_that_site(world: World) -> None:
    second = await Site.create(enterprise=world.a.enterprise, code="ENTA-S2", name="第二基地")
    await world.add_user("site-crew", Role.CREW, enterprise=world.a.enterprise, site=world.a.site)
    headers = await world.login("site-crew")
    sites = {r["id"] for r in (await world.client.get("/api/v1/org/sites", headers=headers)).json()}
    assert sites == {world.a.site.id}
    assert (await world.client.get(f"/api/v1/org/sites/{second.id}", headers=headers)).status_code == 404
    enterprise = await world.client.get(f"/api/v1/org/enterprises/{world.a.enterprise.id}", headers=headers)
    assert enterprise.status_code == 200
