"""One root cause per outage: a PLC connection down or a terminal offline is one alarm listing its meters by name;
their own data alarms are not raised meanwhile (those already open are linked under it) and come back on their own
once the outage is over. Alarms carry the plant names of what they concern."""

from __future__ import annotations

import datetime as dt

from cem_gateway.wire import BufferState, ConnectionState, Status
from cem_platform.alarms.models import Alarm, AlarmKind, AlarmState
from cem_platform.alarms.rules import evaluate
from cem_platform.org.models import Facility, FacilityType, MeasurementPoint, Process, ProcessType
from cem_platform.settings import Settings
from cem_platform.telemetry.store import dt_to_ms
from cem_registry.models import Device
from tests.test_alarms.helpers import (
    alarms_of,
    base_time,
    feed,
    gateway_alarm,
    meters,
    open_alarms,
    readings,
    source,
    status,
    terminal,
)
from tests.test_platform.world import Org, World

SEC = dt.timedelta(seconds=1)
MIN = dt.timedelta(minutes=1)


async def _rolling_meters(org: Org, count: int) -> list[MeasurementPoint]:
    """``count`` meters of a reheating furnace in a hot-rolling process of ``org``'s site."""
    process = await Process.create(
        site=org.site, process_type=await ProcessType.get(code="hot_rolling"), code="HR", name="热轧"
    )
    furnace = await Facility.create(
        process=process, facility_type=await FacilityType.get(code="reheating_furnace"), code="RF1", name="1#加热炉"
    )
    points = await meters(org, count, prefix="HR")
    for number, point in enumerate(points, 1):
        point.facility_id = furnace.id
        point.name = f"加热炉煤气流量{number}"
        await point.save()
    return points


def _plc_status(device: Device, at: dt.datetime, *, down_since: dt.datetime | None, last_good: dt.datetime) -> Status:
    """A heartbeat of ``device`` with two PLC connections, ``rolling-plc`` down since ``down_since`` (or up)."""
    alarms = (gateway_alarm("connection_down", "critical", down_since, "rolling-plc"),) if down_since else ()
    return Status(
        device=device.id,
        state="online",
        ts=dt_to_ms(at),
        started=dt_to_ms(at - 2 * dt.timedelta(hours=1)),
        heartbeat_s=30.0,
        buffer=BufferState(depth=0, capacity=100_000),
        connections=(
            ConnectionState(name="iron-plc", protocol="modbus", connected=True, last_good_poll=dt_to_ms(at)),
            ConnectionState(
                name="rolling-plc",
                protocol="modbus",
                connected=down_since is None,
                last_good_poll=dt_to_ms(last_good),
                last_error="refused (127.0.0.1:43199: [Errno 111] Connect call failed)" if down_since else None,
            ),
        ),
        alarms=alarms,
    )


async def _beat(
    settings: Settings, device: Device, at: dt.datetime, *, down_since: dt.datetime | None, last_good: dt.datetime
) -> None:
    """The gateway's heartbeat at ``at`` (keeps it online for the evaluation at the same time)."""
    await feed(settings, device, _plc_status(device, at, down_since=down_since, last_good=last_good), at)


async def test_a_plc_outage_is_one_alarm_listing_its_meters_by_name(settings: Settings, world: World) -> None:
    device = await terminal(world.a, name="炼钢厂网关")
    t0 = base_time()
    iron = await meters(world.a, 2, sample_seconds=60)
    rolling = await _rolling_meters(world.a, 3)
    await source([*iron, *rolling], device, t0)
    fail = t0 + 30 * MIN
    await readings(device, [*iron, *rolling], t0, fail)
    await readings(device, iron, fail + MIN, fail + 20 * MIN)
    seen = fail + 20 * SEC  # the next heartbeat reports the connection down
    await _beat(settings, device, seen, down_since=seen, last_good=fail)
    await _beat(settings, device, fail + 20 * MIN, down_since=seen, last_good=fail)

    report = await evaluate(settings, now=fail + 20 * MIN)  # 20 periods without readings behind the PLC
    assert report.raised == {}  # no data gap per meter: the PLC alarm says it
    [outage] = await open_alarms()
    assert outage.kind == AlarmKind.METER_COMM
    assert outage.names["device"] == "炼钢厂网关" and outage.names["connection"] == "rolling-plc"
    assert outage.names["process"] == "热轧" and outage.names["process_en"] == "Hot rolling"
    assert outage.detail["last_good_poll"] == fail.isoformat()
    assert [c["point_name"] for c in outage.consequences] == ["加热炉煤气流量1", "加热炉煤气流量2", "加热炉煤气流量3"]
    assert {c["facility"] for c in outage.consequences} == {"1#加热炉"}
    assert {c["point_id"] for c in outage.consequences} == {p.id for p in rolling}  # not the iron meters

    # the API shows the consequences under the alarm, with the names
    headers = await world.login("a-executive")
    body = (await world.client.get(f"/api/v1/alarms/{outage.id}", headers=headers)).json()
    assert [c["point_name"] for c in body["consequences"]] == ["加热炉煤气流量1", "加热炉煤气流量2", "加热炉煤气流量3"]
    assert body["consequences"][0]["facility"] == "1#加热炉" and body["consequences"][0]["alarm_id"] is None
    assert body["names"]["process"] == "热轧" and body["root_id"] is None

    # a meter behind the PLC reported stuck meanwhile is one of its consequences too: not raised on its own
    stuck = _plc_status(device, fail + 21 * MIN, down_since=seen, last_good=fail)
    stuck = Status(
        **{f: getattr(stuck, f) for f in stuck.__struct_fields__ if f != "alarms"},
        alarms=(*stuck.alarms, gateway_alarm("meter_stuck", "warning", fail + 21 * MIN, rolling[0].code)),
    )
    await feed(settings, device, stuck, fail + 21 * MIN)
    assert await alarms_of(AlarmKind.METER_STUCK) == []


async def test_data_alarms_open_before_the_outage_is_known_are_linked_under_it_and_stand_alone_after(
    settings: Settings, world: World
) -> None:
    device = await terminal(world.a, name="炼钢厂网关")
    t0 = base_time()
    iron = await meters(world.a, 1, sample_seconds=60)
    rolling = await _rolling_meters(world.a, 2)
    await source([*iron, *rolling], device, t0)
    fail = t0 + 30 * MIN
    await readings(device, [*iron, *rolling], t0, fail)
    await readings(device, iron, fail + MIN, fail + 40 * MIN)
    # the gateway is slow to report the PLC: the gaps are raised first, each on its own, with plant names
    await _beat(settings, device, fail + 6 * MIN, down_since=None, last_good=fail)
    assert (await evaluate(settings, now=fail + 6 * MIN)).raised == {"data_gap": 2}
    gaps = await open_alarms(AlarmKind.DATA_GAP)
    assert gaps[0].names["point"] == "加热炉煤气流量1" and gaps[0].names["facility"] == "1#加热炉"
    assert gaps[0].names["process"] == "热轧" and gaps[0].names["device"] == "炼钢厂网关"
    assert gaps[0].names["point_code"] == rolling[0].code

    seen = fail + 7 * MIN
    await _beat(settings, device, seen, down_since=seen, last_good=fail)
    await _beat(settings, device, fail + 8 * MIN, down_since=seen, last_good=fail)
    await evaluate(settings, now=fail + 8 * MIN)
    [outage] = await open_alarms(AlarmKind.METER_COMM)
    gaps = await open_alarms(AlarmKind.DATA_GAP)
    assert [g.root_id for g in gaps] == [outage.id, outage.id]
    assert [c["alarm_id"] for c in outage.consequences] == [g.id for g in gaps]
    headers = await world.login("a-executive")
    listed = (await world.client.get("/api/v1/alarms", headers=headers, params={"state": "open"})).json()
    assert {row["id"]: row["root_id"] for row in listed} == {
        outage.id: None,
        gaps[0].id: outage.id,
        gaps[1].id: outage.id,
    }

    # the PLC is back, its meters still silent: their alarms stand on their own again; the outage keeps its list
    back = fail + 9 * MIN
    await _beat(settings, device, back, down_since=None, last_good=back)
    assert [g.root_id for g in await open_alarms(AlarmKind.DATA_GAP)] == [None, None]  # at once, as it clears
    await evaluate(settings, now=back + 10 * SEC)
    [outage] = await alarms_of(AlarmKind.METER_COMM)
    assert outage.state == AlarmState.CLEARED and len(outage.consequences) == 2
    assert [g.root_id for g in await open_alarms(AlarmKind.DATA_GAP)] == [None, None]


async def test_meters_still_silent_after_the_plc_is_back_raise_their_own_alarms(
    settings: Settings, world: World
) -> None:
    device = await terminal(world.a)
    t0 = base_time()
    iron = await meters(world.a, 1, sample_seconds=60)
    rolling = await _rolling_meters(world.a, 2)
    await source([*iron, *rolling], device, t0)
    fail = t0 + 30 * MIN
    await readings(device, [*iron, *rolling], t0, fail)
    await readings(device, iron, fail + MIN, fail + 40 * MIN)
    seen = fail + 20 * SEC
    await _beat(settings, device, seen, down_since=seen, last_good=fail)
    await _beat(settings, device, fail + 10 * MIN, down_since=seen, last_good=fail)
    assert (await evaluate(settings, now=fail + 10 * MIN)).raised == {}
    [outage] = await open_alarms()
    assert len(outage.consequences) == 2

    back = fail + 11 * MIN
    await _beat(settings, device, back, down_since=None, last_good=back)
    assert [a.state for a in await alarms_of(AlarmKind.METER_COMM)] == [AlarmState.CLEARED]
    await readings(device, rolling[:1], back, back + 10 * MIN)  # one meter delivers again, the other does not
    # one gap window (5 periods) to catch up after the PLC came back, then the silent one raises its own
    await _beat(settings, device, back + 4 * MIN, down_since=None, last_good=back + 4 * MIN)
    assert (await evaluate(settings, now=back + 4 * MIN)).raised == {}
    await _beat(settings, device, back + 6 * MIN, down_since=None, last_good=back + 6 * MIN)
    report = await evaluate(settings, now=back + 6 * MIN)
    assert report.raised == {"data_gap": 1}
    [gap] = await open_alarms(AlarmKind.DATA_GAP)
    assert gap.subject_id == str(rolling[1].id) and gap.root_id is None


async def test_an_offline_terminal_lists_its_meters_under_its_alarm(settings: Settings, world: World) -> None:
    device = await terminal(world.a, name="烧结网关")
    t0 = base_time()
    points = await meters(world.a, 3, sample_seconds=60)
    await source(points, device, t0)
    await readings(device, points, t0, t0 + 30 * MIN)
    await feed(settings, device, status(device, t0 + 30 * MIN, started=t0), t0 + 30 * MIN)
    lost = t0 + 31 * MIN
    await feed(settings, device, status(device, lost, state="offline", reason="connection lost"), lost)

    assert (await evaluate(settings, now=t0 + 45 * MIN)).raised == {}
    [offline] = await open_alarms()
    assert offline.kind == AlarmKind.DEVICE_OFFLINE and offline.names == {"device": "烧结网关"}
    assert sorted(c["point_id"] for c in offline.consequences) == sorted(p.id for p in points)
    assert {c["facility"] for c in offline.consequences} == {"1#高炉"}
    assert {c["process"] for c in offline.consequences} == {"炼铁"}
    assert "process" not in offline.names  # a terminal's alarm is about the terminal, whatever its meters


async def test_alarms_from_before_names_were_kept_read_as_empty(settings: Settings, world: World) -> None:
    device = await terminal(world.a)
    at = base_time()
    await feed(settings, device, status(device, at, state="offline", reason="stopped"), at)
    [alarm] = await open_alarms()
    await Alarm.filter(id=alarm.id).update(names=None, consequences=None)  # as migrated: NULL
    headers = await world.login("a-executive")
    response = await world.client.get(f"/api/v1/alarms/{alarm.id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["names"] == {} and response.json()["consequences"] == []
