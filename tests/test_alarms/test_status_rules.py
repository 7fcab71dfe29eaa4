"""Alarms from terminal status messages: last will and clean stop, the gateway's own alarms, drop counters."""

from __future__ import annotations

import datetime as dt

from cem_platform.alarms.models import AlarmEvent, AlarmKind, AlarmState, Severity
from cem_platform.alarms.rules import evaluate
from cem_platform.settings import Settings
from tests.test_alarms.helpers import alarms_of, base_time, feed, gateway_alarm, open_alarms, status, terminal
from tests.test_platform.world import World

MIN = dt.timedelta(minutes=1)


async def _actions(alarm_id: int) -> list[str]:
    return [e.action for e in await AlarmEvent.filter(alarm_id=alarm_id).order_by("id")]


async def test_last_will_raises_major_offline_once_and_heartbeat_clears_it(settings: Settings, world: World) -> None:
    device = await terminal(world.a, name="1#高炉网关")
    t0 = base_time()
    await feed(settings, device, status(device, t0, started=t0), t0)
    assert await open_alarms() == []

    will = status(device, t0, state="offline", reason="connection lost", started=t0)
    await feed(settings, device, will, t0 + 5 * MIN)
    await feed(settings, device, will, t0 + 6 * MIN)  # the retained will delivered again (ingest reconnected)
    [alarm] = await alarms_of(AlarmKind.DEVICE_OFFLINE)
    assert alarm.severity == Severity.MAJOR
    assert alarm.state == AlarmState.ACTIVE
    assert alarm.subject_type == "device" and alarm.subject_id == device.id
    assert alarm.enterprise_id == world.a.enterprise.id
    assert "1#高炉网关" in alarm.message and "lost its connection" in alarm.message
    assert alarm.occurrences == 1

    await feed(settings, device, status(device, t0 + 10 * MIN, started=t0), t0 + 10 * MIN)
    [alarm] = await alarms_of(AlarmKind.DEVICE_OFFLINE)
    assert alarm.state == AlarmState.CLEARED
    assert alarm.open_key is None
    assert alarm.cleared_by == "rule" and alarm.cleared_at == t0 + 10 * MIN
    assert await _actions(alarm.id) == ["raised", "cleared"]

    # a second outage is a second alarm; the first stays in the history
    await feed(
        settings, device, status(device, t0 + 10 * MIN, state="offline", reason="connection lost"), t0 + 20 * MIN
    )
    assert [a.state for a in await alarms_of(AlarmKind.DEVICE_OFFLINE)] == [AlarmState.CLEARED, AlarmState.ACTIVE]


async def test_clean_stop_is_a_warning_that_escalates_when_the_connection_is_lost(
    settings: Settings, world: World
) -> None:
    device = await terminal(world.a)
    t0 = base_time()
    await feed(settings, device, status(device, t0, started=t0), t0)
    await feed(settings, device, status(device, t0 + MIN, state="offline", reason="stopped", started=t0), t0 + MIN)
    [alarm] = await open_alarms(AlarmKind.DEVICE_OFFLINE)
    assert alarm.severity == Severity.WARNING
    assert "stopped" in alarm.message

    will = status(device, t0 + 2 * MIN, state="offline", reason="connection lost", started=t0)
    await feed(settings, device, will, t0 + 3 * MIN)
    [alarm] = await alarms_of(AlarmKind.DEVICE_OFFLINE)
    assert alarm.severity == Severity.MAJOR
    assert alarm.occurrences == 2
    assert await _actions(alarm.id) == ["raised", "escalated"]


async def test_each_gateway_alarm_raises_its_kind_once_and_clears_when_gone(settings: Settings, world: World) -> None:
    device = await terminal(world.a)
    point = world.a.point
    t0 = base_time()
    reported = (
        gateway_alarm("connection_down", "critical", t0, "PLC-BF1"),
        gateway_alarm("meter_stuck", "warning", t0, point.code),
        gateway_alarm("buffer_full", "critical", t0),
        gateway_alarm("disk_low", "critical", t0 + MIN),
        gateway_alarm("renewal_failed", "warning", t0),
        gateway_alarm("clock_skew", "warning", t0),  # shown in the status, no alarm kind of its own
    )
    for minute in (1, 2, 3):  # three heartbeats reporting the same conditions
        await feed(settings, device, status(device, t0 + minute * MIN, started=t0, alarms=reported), t0 + minute * MIN)

    by_kind = {a.kind: a for a in await open_alarms()}
    assert set(by_kind) == {
        AlarmKind.METER_COMM,
        AlarmKind.METER_STUCK,
        AlarmKind.GATEWAY_BUFFER,
        AlarmKind.CERTIFICATE_EXPIRING,
    }
    assert len(await open_alarms()) == 4  # buffer_full and disk_low are one GATEWAY_BUFFER alarm
    assert all(a.occurrences == 1 for a in by_kind.values())
    comm = by_kind[AlarmKind.METER_COMM]
    assert comm.severity == Severity.CRITICAL and comm.detail["connection"] == "PLC-BF1"
    stuck = by_kind[AlarmKind.METER_STUCK]
    assert (stuck.subject_type, stuck.subject_id) == ("point", str(point.id))
    assert stuck.detail["point_code"] == point.code and stuck.severity == Severity.WARNING
    assert by_kind[AlarmKind.GATEWAY_BUFFER].detail["codes"] == ["buffer_full", "disk_low"]
    assert by_kind[AlarmKind.CERTIFICATE_EXPIRING].subject_id == device.id

    # the gateway stops reporting all but the stuck meter: those alarms clear, the stuck meter stays
    still = (reported[1],)
    await feed(settings, device, status(device, t0 + 4 * MIN, started=t0, alarms=still), t0 + 4 * MIN)
    assert [a.kind for a in await open_alarms()] == [AlarmKind.METER_STUCK]
    # the meter came back, then stuck again: a new occurrence of the same alarm
    again = (gateway_alarm("meter_stuck", "warning", t0 + 5 * MIN, point.code),)
    await feed(settings, device, status(device, t0 + 6 * MIN, started=t0, alarms=again), t0 + 6 * MIN)
    [stuck] = await open_alarms()
    assert stuck.occurrences == 2
    await feed(settings, device, status(device, t0 + 7 * MIN, started=t0), t0 + 7 * MIN)
    assert await open_alarms() == []
    assert len(await alarms_of(AlarmKind.METER_STUCK)) == 1


async def test_gateway_alarms_stay_open_while_the_terminal_is_offline(settings: Settings, world: World) -> None:
    device = await terminal(world.a)
    t0 = base_time()
    down = (gateway_alarm("connection_down", "critical", t0, "PLC-1"),)
    await feed(settings, device, status(device, t0, started=t0, alarms=down), t0)
    await feed(settings, device, status(device, t0, state="offline", reason="connection lost", started=t0), t0 + MIN)
    assert {a.kind for a in await open_alarms()} == {AlarmKind.METER_COMM, AlarmKind.DEVICE_OFFLINE}
    await feed(settings, device, status(device, t0 + 2 * MIN, started=t0), t0 + 2 * MIN)
    assert await open_alarms() == []


async def test_drops_per_hour_raise_at_the_threshold_and_an_hour_without_drops_clears(
    settings: Settings, world: World
) -> None:
    device = await terminal(world.a)
    t0 = base_time()
    started = t0 - dt.timedelta(days=3)  # the gateway has been running for days

    async def heartbeat(minutes: int, spikes: int, out_of_range: int, since: dt.datetime = started) -> None:
        at = t0 + minutes * MIN
        counters = {"rate_of_change": spikes, "out_of_range": out_of_range, "nan": 40}
        await feed(settings, device, status(device, at, started=since, dropped=counters), at)

    # first status seen: its counters are history (dropped any time in three days), not an alarm
    await heartbeat(0, 50, 50)
    await heartbeat(10, 51, 51)
    await heartbeat(20, 52, 52)
    assert await open_alarms() == []
    await heartbeat(30, 53, 52)  # the third spike within the hour (threshold 3)
    [spike] = await open_alarms()
    assert spike.kind == AlarmKind.DATA_SPIKE
    assert (spike.subject_type, spike.subject_id) == ("device", device.id)
    assert spike.detail["drops_last_hour"] == 3 and spike.detail["threshold"] == 3

    # the gateway restarts: its counters start at 0 again; two drops since the restart + two before = 4
    restart = t0 + 35 * MIN
    await heartbeat(40, 0, 2, since=restart)
    [range_alarm] = await open_alarms(AlarmKind.METER_OUT_OF_RANGE)
    assert range_alarm.detail["drops_last_hour"] == 4
    assert range_alarm.detail["total_since_start"] == 2

    await heartbeat(50, 1, 2, since=restart)  # one more spike: the open alarm counts it
    [spike] = await open_alarms(AlarmKind.DATA_SPIKE)
    assert spike.occurrences == 2 and spike.last_seen_at == t0 + 50 * MIN

    report = await evaluate(settings, now=t0 + 100 * MIN)  # out of range quiet for 60 min, spikes for 50
    assert report.cleared.get("meter_out_of_range") == 1
    assert await open_alarms(AlarmKind.METER_OUT_OF_RANGE) == []
    assert len(await open_alarms(AlarmKind.DATA_SPIKE)) == 1
    await evaluate(settings, now=t0 + 111 * MIN)
    assert await open_alarms(AlarmKind.DATA_SPIKE) == []
    [spike] = await alarms_of(AlarmKind.DATA_SPIKE)
    assert spike.clear_note == "no reading dropped for an hour"


async def test_drops_spread_over_more_than_an_hour_raise_nothing(settings: Settings, world: World) -> None:
    device = await terminal(world.a)
    t0 = base_time()
    for minutes, spikes in ((0, 0), (5, 1), (45, 2), (70, 3), (110, 4), (140, 5)):
        at = t0 + minutes * MIN
        await feed(settings, device, status(device, at, started=t0, dropped={"rate_of_change": spikes}), at)
    assert await open_alarms() == []
    at = t0 + 150 * MIN  # 3 drops within the hour from 90 min on: 110, 140 and now
    await feed(settings, device, status(device, at, started=t0, dropped={"rate_of_change": 6}), at)
    [spike] = await open_alarms()
    assert spike.detail["drops_last_hour"] == 3


async def test_last_will_between_heartbeats_does_not_count_old_drops_again(settings: Settings, world: World) -> None:
    device = await terminal(world.a)
    t0 = base_time()
    started = t0 - dt.timedelta(days=1)
    await feed(settings, device, status(device, t0, started=started, dropped={"out_of_range": 30}), t0)
    await feed(
        settings, device, status(device, t0, state="offline", reason="connection lost", started=started), t0 + MIN
    )
    # reconnected without a restart: the will had no counters, so 30 must not count as 30 new drops
    await feed(
        settings, device, status(device, t0 + 2 * MIN, started=started, dropped={"out_of_range": 30}), t0 + 2 * MIN
    )
    assert await open_alarms(AlarmKind.METER_OUT_OF_RANGE) == []
