"""The periodic rules: silent terminals, certificates, data gaps, completeness, dead letters; no storms, no twins."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

from cem_platform.alarms.models import Alarm, AlarmEvent, AlarmKind, AlarmState, Severity
from cem_platform.alarms.rules import evaluate
from cem_platform.settings import Settings
from cem_platform.telemetry.models import DeviceStatus
from cem_registry.models import CertificateState, DeviceState
from tests.test_alarms.helpers import (
    alarms_of,
    base_time,
    certificate,
    dead_letters,
    feed,
    hourly,
    meters,
    open_alarms,
    readings,
    rollups_done,
    source,
    status,
    terminal,
)
from tests.test_platform.world import World

SEC = dt.timedelta(seconds=1)
MIN = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


async def test_missed_heartbeats_raise_offline_once_and_clear_when_heard_from(settings: Settings, world: World) -> None:
    device = await terminal(world.a)
    t0 = base_time()
    await feed(settings, device, status(device, t0, started=t0, heartbeat_s=30), t0)
    assert (await evaluate(settings, now=t0 + 85 * SEC)).raised == {}  # 3 x 30 s not yet over
    report = await evaluate(settings, now=t0 + 95 * SEC)
    assert report.raised == {"device_offline": 1}
    await evaluate(settings, now=t0 + 150 * SEC)
    [alarm] = await open_alarms()
    assert alarm.kind == AlarmKind.DEVICE_OFFLINE and alarm.severity == Severity.MAJOR
    assert alarm.detail["reason"] == "missed heartbeats" and alarm.raised_at == t0 + 95 * SEC
    assert "no heartbeat for 95 s" in alarm.message

    # heard from again (the status is stored, whoever cleared first): the evaluation clears it
    await DeviceStatus.filter(device_id=device.id).update(received_at=t0 + 160 * SEC)
    report = await evaluate(settings, now=t0 + 170 * SEC)
    assert report.cleared == {"device_offline": 1}
    [alarm] = await alarms_of(AlarmKind.DEVICE_OFFLINE)
    assert alarm.state == AlarmState.CLEARED and alarm.clear_note == "heartbeats arrive again"


async def test_suspended_terminal_is_not_watched(settings: Settings, world: World) -> None:
    device = await terminal(world.a)
    t0 = base_time()
    await feed(settings, device, status(device, t0, started=t0), t0)
    await evaluate(settings, now=t0 + 10 * MIN)
    assert len(await open_alarms(AlarmKind.DEVICE_OFFLINE)) == 1
    device.state = DeviceState.SUSPENDED
    await device.save()
    await evaluate(settings, now=t0 + 11 * MIN)
    [alarm] = await alarms_of(AlarmKind.DEVICE_OFFLINE)
    assert alarm.state == AlarmState.CLEARED and "suspended" in alarm.clear_note


async def test_expiring_certificate_raises_escalates_when_expired_and_clears_after_renewal(
    settings: Settings, world: World
) -> None:
    device = await terminal(world.a)
    now = dt.datetime.now(dt.UTC)
    old = await certificate(device, now + dt.timedelta(days=10))
    await certificate(device, now + dt.timedelta(days=200), CertificateState.REVOKED)  # not valid: not counted
    report = await evaluate(settings, now=now)
    assert report.raised == {"certificate_expiring": 1}
    [alarm] = await open_alarms()
    assert alarm.severity == Severity.WARNING and alarm.detail["serial"] == old.serial
    assert "in 10 days" in alarm.message
    assert (await evaluate(settings, now=now + HOUR)).raised == {}

    report = await evaluate(settings, now=now + dt.timedelta(days=11))
    [alarm] = await open_alarms(AlarmKind.CERTIFICATE_EXPIRING)
    assert alarm.severity == Severity.CRITICAL and "expired" in alarm.message
    assert [e.action for e in await AlarmEvent.filter(alarm_id=alarm.id).order_by("id")] == ["raised", "escalated"]

    old.state = CertificateState.SUPERSEDED
    await old.save()
    await certificate(device, now + dt.timedelta(days=400))
    report = await evaluate(settings, now=now + dt.timedelta(days=11, hours=1))
    assert report.cleared.get("certificate_expiring") == 1
    assert await open_alarms(AlarmKind.CERTIFICATE_EXPIRING) == []


async def test_data_gap_of_one_meter_while_its_terminal_is_online(settings: Settings, world: World) -> None:
    device = await terminal(world.a)
    t0 = base_time()
    alive, silent = await meters(world.a, 2, sample_seconds=60)
    await source([alive, silent], device, t0)
    await readings(device, [alive, silent], t0, t0 + 30 * MIN)
    await readings(device, [alive], t0 + 31 * MIN, t0 + 40 * MIN)
    at = t0 + 40 * MIN + 30 * SEC
    await feed(settings, device, status(device, at, started=t0), at)

    assert (await evaluate(settings, now=t0 + 34 * MIN)).raised.get("data_gap") is None  # 4 periods: not yet
    report = await evaluate(settings, now=t0 + 41 * MIN)  # 11 periods without a reading (alarm from 5)
    assert report.raised == {"data_gap": 1}
    [gap] = await open_alarms()
    assert (gap.subject_type, gap.subject_id) == ("point", str(silent.id))
    assert gap.detail["device_id"] == device.id
    assert gap.detail["last_reading_at"] == (t0 + 30 * MIN).isoformat()
    assert silent.code in gap.message

    await readings(device, [alive, silent], t0 + 41 * MIN, t0 + 42 * MIN)
    await feed(settings, device, status(device, t0 + 42 * MIN, started=t0), t0 + 42 * MIN)
    report = await evaluate(settings, now=t0 + 42 * MIN + 10 * SEC)
    assert report.cleared == {"data_gap": 1}
    assert await open_alarms() == []


async def test_outage_of_a_terminal_with_50_meters_is_one_alarm(settings: Settings, world: World) -> None:
    device = await terminal(world.a)
    t0 = base_time()
    points = await meters(world.a, 50, sample_seconds=10)
    await source(points, device, t0)
    await readings(device, points, t0, t0 + 10 * MIN)
    await feed(settings, device, status(device, t0 + 10 * MIN, started=t0), t0 + 10 * MIN)

    # silent: missed heartbeats, every meter without readings for far longer than 5 periods
    for minutes in (15, 20, 30):
        await evaluate(settings, now=t0 + minutes * MIN)
    report = await evaluate(settings, now=t0 + 31 * MIN)
    assert report.held_back == 50
    assert [a.kind for a in await open_alarms()] == [AlarmKind.DEVICE_OFFLINE]

    # the broker delivers the last will: still one alarm, now from the will
    await feed(
        settings, device, status(device, t0, state="offline", reason="connection lost", started=t0), t0 + 32 * MIN
    )
    await evaluate(settings, now=t0 + 33 * MIN)
    assert [a.kind for a in await open_alarms()] == [AlarmKind.DEVICE_OFFLINE]

    # back online: the gap alarms wait one gap window while the gateway catches up
    back = t0 + 40 * MIN
    await feed(settings, device, status(device, back, started=t0), back)
    assert await open_alarms() == []
    await evaluate(settings, now=back + 20 * SEC)
    assert await open_alarms() == []
    # caught up, except one meter that stays silent: that one alarm, nothing else
    await readings(device, points[1:], t0 + 10 * MIN, back + 2 * MIN)
    await feed(settings, device, status(device, back + 2 * MIN, started=t0), back + 2 * MIN)
    report = await evaluate(settings, now=back + 2 * MIN + 10 * SEC)
    assert report.raised == {"data_gap": 1}
    [gap] = await open_alarms()
    assert gap.subject_id == str(points[0].id)
    assert len(await alarms_of(AlarmKind.DEVICE_OFFLINE)) == 1


async def test_completeness_of_the_last_finished_hour(settings: Settings, world: World) -> None:
    device = await terminal(world.a)
    hour = base_time() + 3 * HOUR  # the hour being judged
    full, half, new = await meters(world.a, 3, sample_seconds=60)
    await source([full, half], device, hour - 2 * HOUR)
    await source([new], device, hour + 20 * MIN)  # started within the hour: not incomplete
    for point in (full, half):
        await hourly(point, hour - HOUR, 60)
    await hourly(full, hour, 60)
    await hourly(half, hour, 40, estimated=10)  # 30 measured of 60 expected, 10 gap-filled
    await hourly(new, hour, 40)
    now = hour + HOUR + 10 * MIN
    await readings(device, [full, half, new], now - 3 * MIN, now)  # no data gap now
    await readings(device, [half], hour + 59 * MIN, hour + 59 * MIN)  # arrived late, not in the rollup yet
    await feed(
        settings, device, status(device, now - 20 * SEC, started=hour - 5 * HOUR, heartbeat_s=3600), now - 20 * SEC
    )

    report = await evaluate(settings, now=now)  # the rollup job has not folded the hour's readings yet
    assert report.raised == {} and "not finished" in report.notes[0]
    await rollups_done()
    report = await evaluate(settings, now=now)
    assert report.raised == {"data_completeness": 1}
    [alarm] = await open_alarms()
    assert alarm.subject_id == str(half.id)
    assert alarm.detail["readings"] == 30 and alarm.detail["percent"] == 50.0
    assert alarm.detail["hour"] == hour.isoformat()
    assert (await evaluate(settings, now=now + 2 * MIN)).raised == {}  # the same hour again: no repeat

    # the next hour is incomplete too: the same alarm, one more occurrence
    await hourly(full, hour + HOUR, 60)
    await hourly(new, hour + HOUR, 60)
    await hourly(half, hour + HOUR, 50)
    later = now + HOUR
    await readings(device, [full, half, new], later - 3 * MIN, later)
    await rollups_done()
    await feed(
        settings, device, status(device, later - 20 * SEC, started=hour - 5 * HOUR, heartbeat_s=3600), later - 20 * SEC
    )
    await evaluate(settings, now=later)
    [alarm] = await open_alarms()
    assert alarm.occurrences == 2 and alarm.detail["hour"] == (hour + HOUR).isoformat()

    # a complete hour clears it
    for point in (full, half, new):
        await hourly(point, hour + 2 * HOUR, 60)
    last = later + HOUR
    await readings(device, [full, half, new], last - 3 * MIN, last)
    await rollups_done()
    await feed(
        settings, device, status(device, last - 20 * SEC, started=hour - 5 * HOUR, heartbeat_s=3600), last - 20 * SEC
    )
    report = await evaluate(settings, now=last)
    assert report.cleared == {"data_completeness": 1}
    assert await open_alarms() == []


async def test_completeness_is_held_back_for_an_hour_with_an_outage(settings: Settings, world: World) -> None:
    device = await terminal(world.a)
    hour = base_time() + 3 * HOUR
    points = await meters(world.a, 20, sample_seconds=60)
    await source(points, device, hour - 2 * HOUR)
    await feed(settings, device, status(device, hour - HOUR, started=hour - 5 * HOUR), hour - HOUR)
    for point in points:
        await hourly(point, hour - HOUR, 60)
        await hourly(point, hour, 35)  # 25 minutes lost in the outage
    await feed(settings, device, status(device, hour, state="offline", reason="stopped"), hour + 10 * MIN)
    back = hour + 35 * MIN
    await feed(settings, device, status(device, back, started=back), back)
    now = hour + HOUR + 10 * MIN
    await readings(device, points, now - 3 * MIN, now)
    await rollups_done()
    await feed(settings, device, status(device, now - 10 * SEC, started=back), now - 10 * SEC)
    report = await evaluate(settings, now=now)
    assert report.raised == {}
    assert report.held_back == 20
    assert [a.kind for a in await alarms_of(AlarmKind.DEVICE_OFFLINE)] == [AlarmKind.DEVICE_OFFLINE]
    assert await open_alarms() == []


async def test_dead_letters_per_hour(settings: Settings, world: World) -> None:
    device = await terminal(world.a)
    quiet = await terminal(world.a)
    now = base_time()
    await dead_letters(device, 12, now - 50 * MIN)
    await dead_letters(device, 8, now - 5 * MIN, reason="identity_mismatch")
    await dead_letters(device, 30, now - 2 * HOUR)  # older than the hour
    await dead_letters(quiet, 19, now - 5 * MIN)
    report = await evaluate(settings, now=now)
    assert report.raised == {"dead_letters": 1}
    [alarm] = await open_alarms()
    assert alarm.subject_id == device.id
    assert alarm.detail["count"] == 20 and alarm.detail["reasons"] == {"schema": 12, "identity_mismatch": 8}

    report = await evaluate(settings, now=now + 15 * MIN)  # the 12 of 50 minutes ago fell out of the hour
    assert report.cleared == {"dead_letters": 1}
    assert await open_alarms() == []


async def test_concurrent_evaluations_raise_each_cause_once(settings: Settings, world: World) -> None:
    t0 = base_time()
    silent = await terminal(world.a)
    await feed(settings, silent, status(silent, t0 - HOUR, started=t0 - 2 * HOUR), t0 - HOUR)
    online = await terminal(world.b)
    await certificate(online, t0 + dt.timedelta(days=3))
    points = await meters(world.b, 3, sample_seconds=60)
    await source(points, online, t0 - HOUR)
    await readings(online, points, t0 - HOUR, t0 - 30 * MIN)
    await feed(settings, online, status(online, t0 - 10 * SEC, started=t0 - 2 * HOUR), t0 - 10 * SEC)
    await dead_letters(online, 25, t0 - 10 * MIN)

    reports = await asyncio.gather(*(evaluate(settings, now=t0) for _ in range(4)))
    causes = Counter(a.cause for a in await Alarm.all())
    assert len(causes) == 1 + 1 + 3 + 1  # offline, certificate, three gaps, dead letters
    assert set(causes.values()) == {1}
    assert sum(sum(r.raised.values()) for r in reports) >= 6
    for alarm in await Alarm.all():
        assert alarm.occurrences == 1  # the same sighting at the same time is not a repeat
        assert [e.action for e in await AlarmEvent.filter(alarm_id=alarm.id)] == ["raised"]


async def test_meters_of_a_terminal_heard_from_again_get_one_gap_window_to_catch_up(
    settings: Settings, world: World
) -> None:
    device = await terminal(world.a)
    t0 = base_time()
    points = await meters(world.a, 5, sample_seconds=60)
    await source(points, device, t0)
    await readings(device, points, t0, t0 + 10 * MIN)
    await feed(settings, device, status(device, t0 + 10 * MIN, started=t0), t0 + 10 * MIN)
    await evaluate(settings, now=t0 + 30 * MIN)
    assert [a.kind for a in await open_alarms()] == [AlarmKind.DEVICE_OFFLINE]

    # its status is stored again (the evaluation sees it before on_status could clear anything)
    await DeviceStatus.filter(device_id=device.id).update(received_at=t0 + 31 * MIN)
    report = await evaluate(settings, now=t0 + 31 * MIN + 10 * SEC)
    assert report.cleared == {"device_offline": 1} and report.raised == {}
    assert report.held_back == 5
    await DeviceStatus.filter(device_id=device.id).update(received_at=t0 + 37 * MIN)
    report = await evaluate(settings, now=t0 + 37 * MIN)  # a gap window later, still no readings
    assert report.raised == {"data_gap": 5}
