"""The console's alarm view and fleet health against a real platform served over HTTP."""

from __future__ import annotations

import datetime as dt
import io

import msgspec
import openpyxl

from cem_clients.api import LiveEvent
from cem_clients.console.app_kit import workbook
from cem_clients.console.model import AlarmBoard, AlarmFilters, ConsoleApi, FleetOverview, Problem
from cem_clients.ui.alarm_text import describe_alarm
from cem_clients.ui.i18n import Translator
from cem_platform.alarms.models import AlarmKind, Severity
from cem_platform.alarms.services import AlarmService
from cem_platform.org.models import Site as SiteRow
from cem_platform.settings import Settings
from cem_platform.telemetry.models import DeviceStatus
from cem_registry.models import Device as DeviceRow
from tests.test_clients.test_api_client import base_url, free_port, login  # noqa: F401 - the served platform
from tests.test_clients.test_console_model import api, as_user  # noqa: F401 - the console's client
from tests.test_platform.world import World
from tests.test_registry.fleet import enrolled_terminal

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _report(now: dt.datetime, down: dict[str, dt.datetime]) -> dict[str, object]:
    """A gateway's status as it sends it: five connections, those in ``down`` refused since then."""
    names = ("coke-sinter-plc", "iron-plc", "steel-plc", "rolling-plc", "energy-opcua")
    ms = int(now.timestamp() * 1000)
    return {
        "device": "x",
        "state": "online",
        "ts": ms,
        "connections": [
            {
                "name": n,
                "protocol": "modbus",
                "connected": n not in down,
                "last_good_poll": int(down[n].timestamp() * 1000) if n in down else ms,
                "last_error": "refused" if n in down else None,
            }
            for n in names
        ],
        "alarms": [
            {
                "code": "connection_down",
                "severity": "critical",
                "message": f"{n}: refused",
                "since": int(t.timestamp() * 1000),
                "subject": n,
            }
            for n, t in down.items()
        ],
    }


async def test_fleet_counts_a_gateway_with_a_connection_down_or_an_open_alarm_as_degraded(
    settings: Settings,
    world: World,
    api: ConsoleApi,  # noqa: F811
) -> None:
    admin = await world.login("a-admin")
    rolling = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="轧钢网关")
    iron = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="炼铁网关")
    fine = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="烧结网关")
    gone = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="备用网关")
    now = dt.datetime.now(dt.UTC)
    down_since = now - dt.timedelta(minutes=5)
    for device in (rolling, iron, fine):
        await DeviceRow.filter(id=device.device_id).update(last_seen_at=now, state="active")
        report = _report(now, {"rolling-plc": down_since} if device is rolling else {})
        await DeviceStatus.create(
            device_id=device.device_id, enterprise_id=world.a.enterprise.id, state="online", reported_at=now,
            received_at=now, buffer_depth=0, buffer_evicted=0, status=report,
        )  # fmt: skip
    service = AlarmService(settings)
    comm = await service.raise_alarm(
        world.a.enterprise.id, AlarmKind.METER_COMM, Severity.CRITICAL, "device", rolling.device_id,
        "rolling-plc: refused", {"device_id": rolling.device_id, "connection": "rolling-plc"},
        f"meter_comm:{rolling.device_id}:gw:rolling-plc",
    )  # fmt: skip
    buffer = await service.raise_alarm(
        world.a.enterprise.id, AlarmKind.GATEWAY_BUFFER, Severity.MAJOR, "device", iron.device_id,
        "buffer full", {"device_id": iron.device_id},
    )  # fmt: skip

    await as_user(api, world, "a-device-admin")
    fleet = FleetOverview(api)
    assert await fleet.refresh(now), fleet.error
    counts = fleet.counts
    assert (counts.online, counts.healthy, counts.degraded, counts.offline) == (3, 1, 2, 1)
    assert fleet.health_of(next(d for d in fleet.devices if d.id == gone.device_id)) == "offline"
    assert [d.id for d in fleet.degraded] == [iron.device_id, rolling.device_id]  # in the list's order (by name)
    health = fleet.health[rolling.device_id]
    [down] = health.connections_down
    assert down.name == "rolling-plc" and down.since == down_since.replace(
        microsecond=down_since.microsecond // 1000 * 1000
    )
    assert down.alarm is not None and down.alarm.id == comm.id  # the alarm names the PLC in plant words
    assert [a.id for a in fleet.health[iron.device_id].alarms] == [buffer.id]
    assert not fleet.health[fine.device_id].degraded
    fleet.state = "degraded"
    assert {d.id for d in fleet.visible()} == {rolling.device_id, iron.device_id}
    fleet.state = "healthy"
    assert [d.id for d in fleet.visible()] == [fine.device_id]

    # the buffer alarm cleared: that gateway is healthy again; the PLC still down keeps the other degraded
    await service.clear_cause(buffer.cause, note="drained")
    assert await fleet.refresh(now)
    assert (fleet.counts.healthy, fleet.counts.degraded) == (2, 1)
    # the PLC answers again (the next heartbeat says so) but its alarm is still open: still degraded
    await DeviceStatus.filter(device_id=rolling.device_id).update(status=_report(now, {}))
    assert await fleet.refresh(now)
    health = fleet.health[rolling.device_id]
    assert health.connections_down == () and [x.id for x in health.alarms] == [comm.id]
    await service.clear_cause(comm.cause, note="answers again")
    assert await fleet.refresh(now) and (fleet.counts.healthy, fleet.counts.degraded) == (3, 0)
    await DeviceStatus.filter(device_id=rolling.device_id).update(status=_report(now, {"rolling-plc": down_since}))

    # live: heartbeats and alarm events change the health without a reload
    live = FleetOverview(api)
    assert await live.refresh(now) and live.counts.degraded == 1  # rolling: its PLC is down (the alarm cleared)
    ms = int(now.timestamp() * 1000)

    def heartbeat(codes: list[str]) -> LiveEvent:
        data = {"type": "status", "device_id": rolling.device_id, "state": "online", "ts": ms, "alarms": codes}
        return LiveEvent(type="status", data=data, received_at=now)

    live.apply(heartbeat(["connection_down"]), now)  # still down: the last full report says which
    assert [d.name for d in live.health[rolling.device_id].connections_down] == ["rolling-plc"]
    assert live.apply(heartbeat([]), now) and live.counts.degraded == 0  # no connection down any more
    again = await service.raise_alarm(
        world.a.enterprise.id, AlarmKind.DEAD_LETTERS, Severity.WARNING, "device", iron.device_id, "refused"
    )
    raised = msgspec.to_builtins(await api.alarm(again.id))
    assert live.apply(LiveEvent(type="alarm", data={"action": "raised", "alarm": raised}, received_at=now), now)
    assert live.counts.degraded == 1 and [a.id for a in live.health[iron.device_id].alarms] == [again.id]
    cleared = raised | {"state": "cleared"}
    assert live.apply(LiveEvent(type="alarm", data={"action": "cleared", "alarm": cleared}, received_at=now), now)
    assert live.counts.degraded == 0 and live.open_alarms == []

    # a caller without alarms.read sees the connections only
    blind = FleetOverview(api, with_alarms=False)
    assert await blind.refresh(now)
    assert blind.counts.degraded == 1 and blind.health[rolling.device_id].alarms == ()


async def test_alarm_board_filters_opens_acknowledges_clears_and_exports(
    settings: Settings,
    world: World,
    api: ConsoleApi,  # noqa: F811
) -> None:
    a = world.a.enterprise.id
    north = await SiteRow.create(enterprise=world.a.enterprise, code="ENTA-N", name="北区")
    admin = await world.login("a-admin")
    here = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="炼钢网关")
    there = await enrolled_terminal(world, admin, site_id=north.id, name="北区网关")
    service = AlarmService(settings)
    yesterday = dt.datetime.now(SHANGHAI).replace(hour=9, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    old = await service.raise_alarm(
        a, AlarmKind.DEVICE_OFFLINE, Severity.MAJOR, "device", there.device_id, "offline", at=yesterday
    )
    comm = await service.raise_alarm(
        a, AlarmKind.METER_COMM, Severity.CRITICAL, "device", here.device_id, "steel-plc: refused",
        {"device_id": here.device_id, "connection": "steel-plc"}, f"meter_comm:{here.device_id}:gw:steel-plc",
    )  # fmt: skip
    gap = await service.raise_alarm(a, AlarmKind.DATA_GAP, Severity.WARNING, "point", str(world.a.point.id), "gap")
    await service.clear_cause(gap.cause, note="readings back")

    await as_user(api, world, "a-device-admin")
    board = AlarmBoard(api, a, AlarmFilters(timezone="Asia/Shanghai"))
    assert await board.load(), board.error
    assert {s.name for s in board.sites} >= {"北区"}
    assert [x.id for x in board.alarms] == [comm.id, old.id]  # open ones, newest first
    board.filters.state = "cleared"
    assert await board.search() and [x.id for x in board.alarms] == [gap.id]
    board.filters.state, board.filters.site_id = "", north.id
    assert await board.search() and [x.id for x in board.alarms] == [old.id]
    board.filters.site_id, board.filters.severity = None, "critical"
    assert await board.search() and [x.id for x in board.alarms] == [comm.id]
    board.filters.severity, board.filters.first_day = "", yesterday.date()
    board.filters.last_day = yesterday.date()
    assert await board.search() and [x.id for x in board.alarms] == [old.id]  # raised on that local day
    board.filters.first_day, board.filters.last_day = "2026-12-09", "2026-12-08"
    assert not await board.search() and board.filters.error("last_day")
    board.filters.first_day = board.filters.last_day = None
    board.filters.state, board.page_size = "", 2
    assert await board.search() and board.has_next and len(board.alarms) == 2
    assert await board.next_page() and [x.id for x in board.alarms] == [old.id] and not board.has_next

    opened = await board.open(comm.id)
    assert opened is not None and [e.action for e in opened.events] == ["raised"]
    form = board.start("clear")
    assert form is not None
    assert await board.submit() is None and form.error("note") == Problem("console.alarms.problem.note_required")
    ack = board.start("acknowledge")
    assert ack is not None
    ack.note = "电工已去现场"
    done = await board.submit()
    assert done is not None and done.state == "acknowledged" and done.ack_note == "电工已去现场"
    assert board.opened is not None and [e.action for e in board.opened.events] == ["raised", "acknowledged"]
    clear = board.start("clear")
    assert clear is not None
    clear.note = "换了网线"
    done = await board.submit()
    assert done is not None and done.state == "cleared" and done.clear_note == "换了网线"
    assert not board.may_acknowledge(done) and not board.may_clear(done)
    late = board.start("acknowledge")  # cleared meanwhile: the platform refuses, the form says so
    assert late is not None and await board.submit() is None and "cleared" in late.message

    # someone who may read alarms but not handle them: the platform's refusal lands in the form
    await as_user(api, world, "a-executive")
    viewer = AlarmBoard(api, a)
    assert await viewer.load() and await viewer.open(old.id) is not None
    refused = viewer.start("acknowledge")
    assert refused is not None and await viewer.submit() is None and refused.message
    assert (await api.alarm(old.id)).state == "active"

    # the export: the texts a person reads, local times, in the session's language
    tr = Translator("zh-CN")
    words = describe_alarm(done, tr)
    book = openpyxl.load_workbook(io.BytesIO(workbook("告警", ["告警", "发生时间"], [[words.title, words.raised_at]])))
    sheet = book.active
    assert [c.value for c in sheet[1]] == ["告警", "发生时间"]
    assert sheet["A2"].value == words.title and sheet["B2"].value == tr.when(done.raised_at)
    assert "Z" not in words.raised_at and "+00:00" not in words.raised_at
