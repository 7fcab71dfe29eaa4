"""The alarm service: one open alarm per cause even under races, escalation, live events on Redis."""

from __future__ import annotations

import asyncio
import datetime as dt

import msgspec
from redis.asyncio import Redis

from cem_platform.alarms.models import Alarm, AlarmEvent, AlarmKind, AlarmState, Severity
from cem_platform.alarms.services import AlarmService
from cem_platform.identity.principal import Principal
from cem_platform.settings import Settings
from tests.test_platform.world import World

CAUSE = "data_gap:4711"


async def _raise(service: AlarmService, world: World, at: dt.datetime, severity: Severity = Severity.WARNING) -> Alarm:
    return await service.raise_alarm(
        world.a.enterprise.id, AlarmKind.DATA_GAP, severity, "point", "4711", "no reading", {"n": 1}, CAUSE, at=at
    )


async def test_racing_raises_of_one_cause_make_one_alarm(settings: Settings, world: World) -> None:
    service = AlarmService(settings)
    t0 = dt.datetime.now(dt.UTC)
    await asyncio.gather(*(_raise(service, world, t0 + dt.timedelta(seconds=i)) for i in range(6)))
    [alarm] = await Alarm.all()
    assert alarm.open_key == CAUSE and alarm.state == AlarmState.ACTIVE
    actions = [e.action for e in await AlarmEvent.filter(alarm_id=alarm.id).order_by("id")]
    assert actions == ["raised"] + ["repeated"] * (alarm.occurrences - 1)

    # a later sighting counts; the same one again does not
    later = t0 + dt.timedelta(minutes=5)
    before = alarm.occurrences
    await _raise(service, world, later)
    await _raise(service, world, later)
    alarm = await Alarm.get(id=alarm.id)
    assert alarm.occurrences == before + 1 and alarm.last_seen_at == later


async def test_escalation_makes_an_acknowledged_alarm_active_again(settings: Settings, world: World) -> None:
    service = AlarmService(settings)
    t0 = dt.datetime.now(dt.UTC)
    alarm = await _raise(service, world, t0)
    await service.acknowledge(Principal.system("a-crew"), alarm.id, "on it")
    await _raise(service, world, t0 + dt.timedelta(minutes=1))  # same severity: stays acknowledged
    assert (await Alarm.get(id=alarm.id)).state == AlarmState.ACKNOWLEDGED
    await _raise(service, world, t0 + dt.timedelta(minutes=2), Severity.CRITICAL)
    alarm = await Alarm.get(id=alarm.id)
    assert alarm.state == AlarmState.ACTIVE and alarm.severity == Severity.CRITICAL
    assert alarm.acknowledged_by == ""
    events = await AlarmEvent.filter(alarm_id=alarm.id).order_by("id")
    assert [e.action for e in events] == ["raised", "acknowledged", "repeated", "escalated"]
    assert events[-1].detail == {"severity": "critical", "from": "warning", "was_acknowledged_by": "a-crew"}

    # once cleared, the cause opens a new alarm and the old one stays in the history
    await service.clear_cause(CAUSE, note="readings back")
    assert await service.clear_cause(CAUSE) is None
    await _raise(service, world, t0 + dt.timedelta(minutes=3))
    assert [a.state for a in await Alarm.all().order_by("id")] == [AlarmState.CLEARED, AlarmState.ACTIVE]


async def _next_alarm_event(messages: asyncio.Queue[dict[str, object]]) -> dict[str, object]:
    return await asyncio.wait_for(messages.get(), timeout=5)


async def test_alarm_changes_are_published_on_redis_after_commit(settings: Settings, world: World) -> None:
    redis = Redis.from_url(settings.redis.url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    enterprise = world.a.enterprise.id
    await pubsub.subscribe(f"cem:live:{enterprise}")
    messages: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    async def listen() -> None:
        async for message in pubsub.listen():
            event = msgspec.json.decode(message["data"])
            if event.get("type") == "alarm":
                assert await Alarm.filter(id=event["alarm"]["id"]).exists()  # committed before it went out
                await messages.put(event)

    listener = asyncio.create_task(listen())
    try:
        service = AlarmService(settings)
        alarm = await _raise(service, world, dt.datetime.now(dt.UTC))
        raised = await _next_alarm_event(messages)
        assert raised["action"] == "raised" and raised["enterprise_id"] == enterprise
        body = raised["alarm"]
        assert isinstance(body, dict)
        assert body["id"] == alarm.id and body["kind"] == "data_gap" and body["state"] == "active"

        headers = await world.login("a-crew")
        response = await world.client.post(
            f"/api/v1/alarms/{alarm.id}/acknowledge", headers=headers, json={"note": "on it"}
        )
        assert response.status_code == 200
        acknowledged = await _next_alarm_event(messages)
        assert acknowledged["action"] == "acknowledged"
        assert acknowledged["alarm"]["acknowledged_by"] == "a-crew"  # type: ignore[index]
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await redis.aclose()
