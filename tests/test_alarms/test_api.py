"""The alarm API: listing and filters, acknowledging and clearing with notes and audit, scope, thresholds."""

from __future__ import annotations

import datetime as dt

from cem_platform.alarms.models import Alarm, AlarmKind, Severity
from cem_platform.alarms.rules import evaluate
from cem_platform.alarms.services import AlarmService
from cem_platform.audit.models import AuditRecord
from cem_platform.identity.roles import Role
from cem_platform.org.models import Site
from cem_platform.settings import Settings
from tests.test_alarms.helpers import dead_letters, terminal
from tests.test_platform.world import World


async def _alarm(
    settings: Settings, world: World, enterprise_id: int, kind: AlarmKind, subject: str, severity: Severity
) -> Alarm:
    subject_type = "point" if kind in (AlarmKind.DATA_GAP, AlarmKind.DATA_COMPLETENESS) else "device"
    return await AlarmService(settings).raise_alarm(
        enterprise_id, kind, severity, subject_type, subject, f"{kind.value} on {subject}"
    )


async def test_list_filters_and_detail(settings: Settings, world: World) -> None:
    a, b = world.a.enterprise.id, world.b.enterprise.id
    offline = await _alarm(settings, world, a, AlarmKind.DEVICE_OFFLINE, "dev-aaaaaaaaaaaa", Severity.MAJOR)
    gap = await _alarm(settings, world, a, AlarmKind.DATA_GAP, str(world.a.point.id), Severity.WARNING)
    foreign = await _alarm(settings, world, b, AlarmKind.DEVICE_OFFLINE, "dev-bbbbbbbbbbbb", Severity.MAJOR)
    stuck = await AlarmService(settings).raise_alarm(
        a, AlarmKind.METER_STUCK, Severity.WARNING, "point", "77", "stuck", cause="meter_stuck:dev-aaaaaaaaaaaa:gw:M77"
    )
    await AlarmService(settings).clear_cause(gap.cause, note="readings back")

    headers = await world.login("a-executive")

    async def ids(**params: object) -> list[int]:
        response = await world.client.get("/api/v1/alarms", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()]

    assert await ids() == [stuck.id, gap.id, offline.id]  # newest first, cleared ones kept; not B's
    assert await ids(state="open") == [stuck.id, offline.id]
    assert await ids(state="cleared") == [gap.id]
    assert await ids(kind="device_offline") == [offline.id]
    assert await ids(severity="major") == [offline.id]
    assert await ids(device_id="dev-aaaaaaaaaaaa") == [stuck.id, offline.id]
    assert await ids(subject_type="point", subject_id=str(world.a.point.id)) == [gap.id]
    assert await ids(enterprise_id=b) == []
    assert await ids(limit=1, offset=1) == [gap.id]
    bad = await world.client.get("/api/v1/alarms", headers=headers, params={"state": "closed"})
    assert bad.status_code == 400

    group = await world.login("group-admin")
    everything = await world.client.get("/api/v1/alarms", headers=group, params={"kind": "device_offline"})
    assert [row["id"] for row in everything.json()] == [foreign.id, offline.id]

    detail = await world.client.get(f"/api/v1/alarms/{gap.id}", headers=headers)
    assert detail.status_code == 200
    body = detail.json()
    assert body["state"] == "cleared" and body["cleared_by"] == "rule" and body["clear_note"] == "readings back"
    assert [(e["action"], e["actor"]) for e in body["events"]] == [("raised", "rule"), ("cleared", "rule")]


async def test_acknowledge_and_clear_with_notes_audit_and_state_rules(settings: Settings, world: World) -> None:
    alarm = await _alarm(settings, world, world.a.enterprise.id, AlarmKind.DEAD_LETTERS, "dev-x", Severity.WARNING)
    crew = await world.login("a-crew")
    url = f"/api/v1/alarms/{alarm.id}"

    acked = await world.client.post(f"{url}/acknowledge", headers=crew, json={"note": "去现场看看"})
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert body["state"] == "acknowledged" and body["acknowledged_by"] == "a-crew" and body["ack_note"] == "去现场看看"
    again = await world.client.post(f"{url}/acknowledge", headers=crew, json={})
    assert again.status_code == 200 and again.json()["ack_note"] == "去现场看看"  # no change, no second record
    [record] = await AuditRecord.filter(action="alarm.acknowledge")
    assert (record.actor, record.entity_id, record.enterprise_id) == ("a-crew", str(alarm.id), world.a.enterprise.id)
    assert record.before == {"state": "active"} and record.after == {"state": "acknowledged", "note": "去现场看看"}

    no_note = await world.client.post(f"{url}/clear", headers=crew, json={"note": "   "})
    assert no_note.status_code == 400 and "note" in no_note.json()["error"]["message"]
    cleared = await world.client.post(f"{url}/clear", headers=crew, json={"note": "replaced the cable"})
    assert cleared.status_code == 200
    assert cleared.json()["state"] == "cleared" and cleared.json()["cleared_by"] == "a-crew"
    [record] = await AuditRecord.filter(action="alarm.clear")
    assert record.after == {"state": "cleared", "note": "replaced the cable"}

    late_ack = await world.client.post(f"{url}/acknowledge", headers=crew, json={"note": "?"})
    assert late_ack.status_code == 409
    assert "cleared alarm cannot be acknowledged" in late_ack.json()["error"]["message"]
    assert (await world.client.post(f"{url}/clear", headers=crew, json={"note": "again"})).status_code == 409

    history = (await world.client.get(url, headers=crew)).json()["events"]
    assert [(e["action"], e["actor"], e["note"]) for e in history] == [
        ("raised", "rule", ""),
        ("acknowledged", "a-crew", "去现场看看"),
        ("cleared", "a-crew", "replaced the cable"),
    ]
    unknown = await world.client.post("/api/v1/alarms/1/acknowledge", headers=crew, json={"note": "", "x": 1})
    assert unknown.status_code == 400  # unknown fields are refused


async def test_another_enterprise_cannot_see_or_handle_an_alarm(settings: Settings, world: World) -> None:
    alarm = await _alarm(settings, world, world.a.enterprise.id, AlarmKind.DEVICE_OFFLINE, "dev-a", Severity.MAJOR)
    await world.add_user("b-crew", Role.CREW, enterprise=world.b.enterprise)
    other = await world.login("b-crew")
    url = f"/api/v1/alarms/{alarm.id}"
    assert (await world.client.get(url, headers=other)).status_code == 404
    assert (await world.client.post(f"{url}/acknowledge", headers=other, json={"note": "x"})).status_code == 404
    assert (await world.client.post(f"{url}/clear", headers=other, json={"note": "x"})).status_code == 404
    assert (await world.client.get("/api/v1/alarms", headers=other)).json() == []
    viewer = await world.login("a-executive")  # may read, may not handle
    assert (await world.client.get(url, headers=viewer)).status_code == 200
    denied = await world.client.post(f"{url}/acknowledge", headers=viewer, json={"note": "x"})
    assert denied.status_code == 403
    assert (await Alarm.get(id=alarm.id)).state == "active"
    assert await AuditRecord.filter(action__startswith="alarm.").count() == 0


async def test_a_crew_of_one_site_sees_the_alarms_of_that_site_only(settings: Settings, world: World) -> None:
    north = await Site.create(enterprise=world.a.enterprise, code="ENTA-S2", name="北区")
    here = await terminal(world.a)
    there = await terminal(world.a, site=north)
    a = world.a.enterprise.id
    mine = await _alarm(settings, world, a, AlarmKind.DEVICE_OFFLINE, here.id, Severity.MAJOR)
    point = await _alarm(settings, world, a, AlarmKind.DATA_GAP, str(world.a.point.id), Severity.WARNING)
    theirs = await _alarm(settings, world, a, AlarmKind.DEVICE_OFFLINE, there.id, Severity.MAJOR)
    await world.add_user("s2-crew", Role.CREW, enterprise=world.a.enterprise, site=north)
    await world.add_user("s1-crew", Role.CREW, enterprise=world.a.enterprise, site=world.a.site)
    s1 = await world.login("s1-crew")
    s2 = await world.login("s2-crew")
    assert [r["id"] for r in (await world.client.get("/api/v1/alarms", headers=s1)).json()] == [point.id, mine.id]
    assert [r["id"] for r in (await world.client.get("/api/v1/alarms", headers=s2)).json()] == [theirs.id]
    assert (await world.client.get(f"/api/v1/alarms/{mine.id}", headers=s2)).status_code == 404


async def test_threshold_change_through_the_api_is_audited_and_changes_the_evaluation(
    settings: Settings, world: World
) -> None:
    device = await terminal(world.a)
    now = dt.datetime.now(dt.UTC)
    await dead_letters(device, 6, now - dt.timedelta(minutes=10))
    assert (await evaluate(settings, now=now)).raised == {}  # 6 of 20

    crew = await world.login("a-crew")
    path = "/api/v1/system/parameters/alarm.dead_letters_per_hour"
    assert (await world.client.put(path, headers=crew, json={"value": 5})).status_code == 403
    device_admin = await world.login("a-device-admin")
    changed = await world.client.put(path, headers=device_admin, json={"value": 5})
    assert changed.status_code == 200, changed.text
    [record] = await AuditRecord.filter(action="system.parameter.alarm.update")
    assert (record.actor, record.entity_id) == ("a-device-admin", "alarm.dead_letters_per_hour")
    assert record.before == {"value": 20} and record.after == {"value": 5}

    report = await evaluate(settings, now=now)
    assert report.raised == {"dead_letters": 1}
    [alarm] = await Alarm.all()
    assert alarm.detail["threshold"] == 5 and alarm.detail["count"] == 6

    back = await world.client.put(path, headers=device_admin, json={"value": 10})
    assert back.status_code == 200
    assert (await evaluate(settings, now=now)).cleared == {"dead_letters": 1}


async def test_list_by_site_and_by_the_time_raised(settings: Settings, world: World) -> None:
    north = await Site.create(enterprise=world.a.enterprise, code="ENTA-S3", name="北区")
    here = await terminal(world.a)
    there = await terminal(world.a, site=north)
    a = world.a.enterprise.id
    service = AlarmService(settings)
    morning = dt.datetime(2026, 12, 7, 0, 30, tzinfo=dt.UTC)  # 08:30 in Shanghai
    early = await service.raise_alarm(
        a, AlarmKind.DEVICE_OFFLINE, Severity.MAJOR, "device", here.id, "offline", at=morning
    )
    gap = await service.raise_alarm(
        a,
        AlarmKind.DATA_GAP,
        Severity.WARNING,
        "point",
        str(world.a.point.id),
        "gap",
        at=morning + dt.timedelta(hours=2),
    )
    late = await service.raise_alarm(
        a, AlarmKind.DEVICE_OFFLINE, Severity.MAJOR, "device", there.id, "offline", at=morning + dt.timedelta(hours=4)
    )
    headers = await world.login("a-executive")

    async def ids(**params: object) -> list[int]:
        response = await world.client.get("/api/v1/alarms", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()]

    assert await ids(site_id=world.a.site.id) == [gap.id, early.id]  # its terminal and its point
    assert await ids(site_id=north.id) == [late.id]
    assert await ids(site_id=world.b.site.id) == []  # another enterprise's site: nothing of A's
    assert await ids(**{"from": "2026-12-07T10:30:00+08:00"}) == [late.id, gap.id]  # at or after
    assert await ids(**{"from": "2026-12-07T08:30:00+08:00", "to": "2026-12-07T10:30:00+08:00"}) == [early.id]
    naive = await world.client.get("/api/v1/alarms", headers=headers, params={"from": "2026-12-07T08:30:00"})
    assert naive.status_code == 400 and "time zone" in naive.json()["error"]["message"]
    garbage = await world.client.get("/api/v1/alarms", headers=headers, params={"to": "yesterday"})
    assert garbage.status_code == 400
