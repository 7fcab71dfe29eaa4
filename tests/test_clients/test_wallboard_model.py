"""The wallboard's view state against a real platform: figures, comparisons, processes, alarms, freshness.

The comparisons with last year are like for like: the day, month and year so far up to the time today's figure is
accounted as of, against the same local dates and time of day a year earlier, proven with meter readings whose rate
changes in the afternoon. The figures come from the statistics service in two requests a refresh, never from the
emissions route. The served service's clock is pinned to the screen's (:func:`pinned`), as the two agree in use.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from cem_clients.api import ApiClient, Emissions, LiveEvent, Statistics
from cem_clients.wallboard.model import PAGES, Freshness, Wallboard
from cem_platform.alarms.models import AlarmKind, Severity
from cem_platform.alarms.services import AlarmService
from cem_platform.identity.principal import Principal
from cem_platform.identity.services import IdentityService
from cem_platform.org.models import Process, ProcessType
from cem_platform.statistics import routes as statistics_routes
from cem_platform.statistics.services import Statistics as Answer
from cem_platform.statistics.services import statistics_of
from cem_platform.telemetry.rollup import fold_pending
from cem_platform.telemetry.store import store_for
from tests.test_accounting.test_meters import _rows
from tests.test_clients.test_api_client import base_url, free_port  # noqa: F401 - the served platform
from tests.test_platform.world import World
from tests.test_timeseries.helpers import write

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 6, 15, 12, 0, tzinfo=SHANGHAI)
PER_TONNE = Decimal("28.447") * Decimal("0.0295") * Decimal("0.93") * 44 / 12  # coke, 2015 defaults
API = "/api/v1/accounting"


def close(value: Decimal | None, expected: Decimal, tolerance: str = "0.001") -> bool:
    return value is not None and abs(value - expected) <= Decimal(tolerance)


async def prepare(world: World, today: dt.date | None = None) -> None:
    """Coke burnt in ironmaking and crude steel, entered monthly for last year and this year's months before
    ``today``'s, and for this month's days before today in one ledger (as a works enters them: what is over)."""
    headers = await world.login("a-accountant")
    ids = {}
    for code, category, item, process in (
        ("COKE", "fuel_combustion", "coke", world.a.process.id),
        ("STEEL", "output", "crude_steel", None),
    ):
        body = {"enterprise_id": world.a.enterprise.id, "code": code, "name": code, "category": category,
                "item": item, "process_id": process, "inputs": {("FC" if code == "COKE" else "AD"):
                {"origin": "manual", "unit": "t"}}}  # fmt: skip
        response = await world.client.post(f"{API}/sources", headers=headers, json=body)
        assert response.status_code == 201, response.text
        ids[code] = response.json()["id"]
    today = today or NOW.date()
    year = today.year
    days = ((today.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)).day
    for entry_year, coke, steel in ((year - 1, 2800, 7000), (year, 3000, 8000)):
        for month in range(1, 13 if entry_year < year else today.month + 1):
            for code, value in (("COKE", coke), ("STEEL", steel)):
                body: dict[str, Any] = {"source_id": ids[code], "input": "FC" if code == "COKE" else "AD",
                                        "value": str(value), "unit": "t"}  # fmt: skip
                if (entry_year, month) == (year, today.month):  # this month: its days before today
                    if today.day == 1:
                        continue
                    body["value"] = str(Decimal(value) * (today.day - 1) / days)
                    body |= {"from": today.replace(day=1).isoformat(), "to": (today - dt.timedelta(days=1)).isoformat()}
                else:
                    body["month"] = f"{entry_year}-{month:02d}"
                response = await world.client.post(f"{API}/activity", headers=headers, json=body)
                assert response.status_code == 201, response.text


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    """Pins the served statistics service's clock (which says what period is running, and accounts it as of then);
    call it with the screen's moment."""
    clock = [NOW]

    async def statistics_at_the_screens_time(*args: Any, **kwargs: Any) -> Answer:
        return await statistics_of(*args, **kwargs, now=clock[0].astimezone(dt.UTC))

    monkeypatch.setattr(statistics_routes, "statistics_of", statistics_at_the_screens_time)
    return lambda now: clock.__setitem__(0, now)


@pytest.fixture
async def board(world: World, base_url: str) -> AsyncIterator[Wallboard]:  # noqa: F811
    """A wallboard of enterprise A with a display-only API token, as the executives' screen runs."""
    identity = IdentityService(world.settings)
    admin = await identity.principal_for_user(world.users["a-admin"])
    _, secret = await identity.create_api_token(
        admin, name="wallboard", permissions=["org.read", "data.read", "alarms.read", "emissions.read"],
        enterprise_ids=[world.a.enterprise.id], expires_at=None,
    )  # fmt: skip
    async with ApiClient(base_url) as api:
        api.use_token(secret)
        yield Wallboard(api, world.a.enterprise.id, refresh_s=60)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """A moment in the plant's time."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


async def test_figures_against_last_year(world: World, board: Wallboard, pinned: Callable[..., None]) -> None:
    await prepare(world)
    pinned(NOW)
    assert await board.refresh(NOW), board.error
    assert board.enterprise_name == "甲钢铁"
    june, june_2024 = 3000 * PER_TONNE, 2800 * PER_TONNE  # entered by month: spread evenly over June's 720 hours
    days, half = Decimal(14) / 30, Decimal("0.5") / 30  # 1-14 June entered; the 15th to 12:00 last year
    assert board.today is not None and board.month is not None and board.year is not None
    assert (board.today.since, board.month.since, board.year.since) == (at(2025, 6, 15), at(2025, 6, 1), at(2025, 1, 1))
    assert board.today.until == board.month.until == board.year.until == NOW  # the running day as of now
    # today's ledger is not in yet: no figure, not "down 100 %"; last year's same hours are known
    assert board.today.no_data and board.today.value == 0 and close(board.today.previous, june_2024 * half)
    assert close(board.month.value, june * days) and close(board.month.previous, june_2024 * (days + half))
    assert close(board.year.value, 5 * june + june * days)
    assert close(board.year.previous, 5 * june_2024 + june_2024 * (days + half))
    assert not board.month.complete and board.month.provisional  # today has no data yet
    assert close(board.intensity, june / 8000, "0.000001")  # year so far: coke over crude steel, same spans
    assert board.intensity_status() == "good"  # about 1.07 tCO2/t, under the 1.80 reference
    assert len(board.trend) == 30 and board.trend[-1].day == dt.date(2025, 6, 15)
    assert all(close(day.net, june / 30) for day in board.trend[-15:-1]) and board.trend[-1].net == 0
    assert close(board.trend[-2].last_year, june_2024 / 30)  # the same date a year earlier, for the chart
    assert close(board.trend[-1].last_year, june_2024 * half)  # the running day: the same hours
    may = board.trend[0]  # 17 May: last year's May had 31 days too
    assert may.day == dt.date(2025, 5, 17) and close(may.last_year, june_2024 / 31)
    [process] = board.processes  # the month tile's span too: the processes add up to the month's figure
    assert process.code == "IR" and process.net is not None and close(process.net, june * days)
    assert close(process.net, board.month.value) and not board.unallocated  # all of it booked to ironmaking
    # this year by month against last year's months; June is running, compared with 1 June to 15 June 12:00
    assert [m.month for m in board.months] == [1, 2, 3, 4, 5, 6]
    assert [m.running for m in board.months][-2:] == [False, True]
    assert all(close(m.net, june) and close(m.last_year, june_2024) for m in board.months[:-1])
    assert close(board.months[-1].net, june * days) and close(board.months[-1].last_year, june_2024 * (days + half))
    assert close(board.terms["combustion"], 5 * june + june * days) and not board.terms["process"]
    # the allowance is the platform's trial calculation of the compliance year (carbon assets), never configuration
    assert board.carbon is not None and board.allowance == board.carbon.allowances

    # In the first hour of a day there is no whole hour to compare like for like yet (meters are kept by the hour):
    # today waits for its comparison instead of being set against last year's whole day
    pinned(at(2025, 6, 15, 0, 20))
    assert await board.refresh(at(2025, 6, 15, 0, 20)), board.error
    assert board.today is not None and board.today.pending and board.today.previous is None
    assert board.month is not None and close(board.month.value, june * days)


async def metered_coke(world: World) -> None:
    """Coke metered by the blast furnace's totaliser (t a minute), with known readings on both sides.

    Last year the rate quadruples at noon on 15 June (the screen's time), so that the whole of that day (1,800 t)
    is far from its morning (360 t).
    """
    headers = await world.login("a-accountant")
    meter = {"origin": "meter", "unit": "t", "points": [{"id": world.a.point.id, "sign": 1}]}
    body = {"enterprise_id": world.a.enterprise.id, "code": "BF.COKE", "name": "入炉焦炭", "category":
            "fuel_combustion", "item": "coke", "process_id": world.a.process.id, "inputs": {"FC": meter}}  # fmt: skip
    response = await world.client.post(f"{API}/sources", headers=headers, json=body)
    assert response.status_code == 201, response.text
    point = world.a.point
    rows = [
        *_rows(point, at(2024, 3, 1), 60, delta=1.0),  # 60 t: last year's year so far only
        *_rows(point, at(2024, 6, 14), 120, delta=1.0),  # 120 t: last year's month and year so far
        *_rows(point, at(2024, 6, 15), 720, delta=0.5),  # 360 t: 00:00-12:00, the span compared
        *_rows(point, at(2024, 6, 15, 12), 720, delta=2.0),  # 1,440 t: the afternoon, not compared
        *_rows(point, at(2024, 6, 20), 60, delta=1.0),  # 60 t: after the span, not compared
        *_rows(point, at(2025, 2, 1), 60, delta=1.0),  # 60 t: this year so far
        *_rows(point, at(2025, 6, 14), 60, delta=1.0),  # 60 t: this month so far
        *_rows(point, at(2025, 6, 15), 720, delta=0.75),  # 540 t by 12:00
    ]
    store = store_for()
    await write(store, rows)
    await fold_pending(store)


async def test_like_for_like_against_last_years_same_hours(
    world: World, board: Wallboard, pinned: Callable[..., None]
) -> None:
    await metered_coke(world)
    calls: list[tuple[str, str]] = []
    emissions, statistics = board.api.emissions, board.api.statistics

    async def counted_emissions(*args: object, **kwargs: object) -> Emissions:
        calls.append(("emissions", str(args[2])))
        return await emissions(*args, **kwargs)  # type: ignore[arg-type]

    async def counted_statistics(*args: object, **kwargs: object) -> Statistics:
        calls.append(("statistics", str(args[2])))
        return await statistics(*args, **kwargs)  # type: ignore[arg-type]

    board.api.emissions = counted_emissions  # type: ignore[method-assign]
    board.api.statistics = counted_statistics  # type: ignore[method-assign]
    # inside an hour: the service compares the running day on whole hours (meters are kept by the hour), 00:00-12:00
    now = at(2025, 6, 15, 12, 30)
    pinned(now)
    assert await board.refresh(now), board.error
    assert board.today is not None and board.month is not None and board.year is not None
    assert (board.today.since, board.today.until) == (at(2025, 6, 15), at(2025, 6, 15, 12))
    assert close(board.today.value, 540 * PER_TONNE) and close(board.today.previous, 360 * PER_TONNE)
    assert board.today.change is not None and close(board.today.change, Decimal("0.5"), "0.000001")  # +50 %
    assert close(board.month.value, 600 * PER_TONNE) and close(board.month.previous, 480 * PER_TONNE)
    assert close(board.year.value, 660 * PER_TONNE) and close(board.year.previous, 540 * PER_TONNE)
    assert board.today.complete  # every minute of the span compared has its reading
    assert not board.month.complete  # days without readings this month
    assert board.intensity is None  # no crude steel entered
    assert board.trend[-1].day == dt.date(2025, 6, 15) and close(board.trend[-1].net, 540 * PER_TONNE)
    assert close(board.trend[-1].last_year, 360 * PER_TONNE)  # the running day against the same hours
    assert close(board.months[-1].last_year, 480 * PER_TONNE)  # June so far against 1 June to 15 June 12:00
    # from the statistics service, in two requests: the year by month and the recent days (each with last year's
    # same periods, the running ones like for like); none to the emissions route, however many processes and
    # periods there are. One more request a refresh fails here.
    assert sorted(calls) == [("statistics", "day"), ("statistics", "month")], calls

    # At midnight the service has nothing of the day yet: today waits (no figure, not 0 t); the month runs to midnight.
    calls.clear()
    pinned(at(2025, 6, 15))
    assert await board.refresh(at(2025, 6, 15, 0, 0, 10)), board.error  # the screen's clock a little ahead
    assert sorted(calls) == [("statistics", "day"), ("statistics", "month")], calls
    assert board.today is not None and board.today.pending and board.today.value is None
    assert board.month is not None and not board.month.pending and board.month.until == at(2025, 6, 15)
    assert close(board.month.value, 60 * PER_TONNE) and close(board.month.previous, 120 * PER_TONNE)

    # At the start of a month, the day and the month wait; the year runs to the month's start.
    pinned(at(2025, 6, 1))
    assert await board.refresh(at(2025, 6, 1)), board.error
    assert board.today is not None and board.today.pending and board.month is not None and board.month.pending
    assert board.year is not None and not board.year.pending and board.year.until == at(2025, 6, 1)
    assert close(board.year.value, 60 * PER_TONNE) and close(board.year.previous, 60 * PER_TONNE)
    assert [p.net for p in board.processes] == [None]  # nothing of the month yet: shown as "—", not as 0 t
    # and at the start of a year, every comparison waits
    pinned(at(2025, 1, 1))
    assert await board.refresh(at(2025, 1, 1)), board.error
    assert all(figure is not None and figure.pending for figure in (board.today, board.month, board.year))


async def test_alarms_colour_the_process_and_live_events_update_the_ticker(world: World, board: Wallboard) -> None:
    alarms = AlarmService(world.settings)
    raised = await alarms.raise_alarm(
        world.a.enterprise.id, AlarmKind.DATA_GAP, Severity.MAJOR, "point", str(world.a.point.id), "焦炭计量中断"
    )
    assert await board.refresh(NOW), board.error
    assert [a.id for a in board.alarms] == [raised.id]
    assert board.processes[0].worst_alarm == "major"
    await alarms.clear(await _admin(world), raised.id, "meter back")
    cleared = await board.api.alarm(raised.id)
    assert cleared.state == "cleared"
    data = {"type": "alarm", "enterprise_id": world.a.enterprise.id, "action": "cleared",
            "alarm": msgspec.to_builtins(cleared)}  # fmt: skip
    assert board.apply(LiveEvent(type="alarm", data=data, received_at=NOW))
    assert board.alarms == [] and board.processes[0].worst_alarm is None


async def test_an_outage_is_one_ticker_entry_colouring_the_processes_of_its_meters(
    world: World, board: Wallboard
) -> None:
    alarms = AlarmService(world.settings)
    gap = await alarms.raise_alarm(
        world.a.enterprise.id, AlarmKind.DATA_GAP, Severity.WARNING, "point", str(world.a.point.id), "no reading"
    )
    outage = await alarms.raise_alarm(
        world.a.enterprise.id, AlarmKind.METER_COMM, Severity.CRITICAL, "device", "gw-bf1", "iron-plc: refused"
    )
    entry = {"point_id": world.a.point.id, "point_code": world.a.point.code, "point_name": "入炉焦炭",
             "facility": "1#高炉", "process": "炼铁", "alarm_id": gap.id}  # fmt: skip
    await alarms.set_consequences(outage.id, [entry], {"process": "炼铁"})
    await alarms.set_root([gap.id], outage.id)  # the meter's gap is listed under the outage
    assert await board.refresh(NOW), board.error
    assert [a.id for a in board.alarms] == [outage.id]  # one entry: the outage
    assert board.processes[0].worst_alarm == "critical"  # the process of its meter, though it is about a terminal

    await alarms.set_root([gap.id], None)  # the outage is over, the meter still silent: on its own again
    await alarms.clear(await _admin(world), outage.id, "PLC back")
    for alarm_id in (gap.id, outage.id):
        data = {"type": "alarm", "enterprise_id": world.a.enterprise.id, "action": "updated",
                "alarm": msgspec.to_builtins(await board.api.alarm(alarm_id))}  # fmt: skip
        assert board.apply(LiveEvent(type="alarm", data=data, received_at=NOW))
    assert [a.id for a in board.alarms] == [gap.id] and board.processes[0].worst_alarm == "warning"


async def _admin(world: World) -> Principal:
    return await IdentityService(world.settings).principal_for_user(world.users["a-admin"])


async def test_freshness_and_page_rotation(world: World, board: Wallboard) -> None:
    assert board.freshness(NOW) == (Freshness.OFFLINE, None)
    assert await board.refresh(NOW)
    assert board.freshness(NOW)[0] is Freshness.STALE  # loaded, but the live feed is not connected yet
    board.apply(LiveEvent(type="connected", data={}, received_at=NOW))
    assert board.freshness(NOW) == (Freshness.LIVE, NOW)
    assert board.freshness(NOW + dt.timedelta(minutes=3))[0] is Freshness.STALE
    board.disconnected()
    assert board.freshness(NOW)[0] is Freshness.STALE
    live_api = board.api
    async with ApiClient(f"http://127.0.0.1:{free_port()}", retries=1, timeout=2) as unreachable:
        board.api = unreachable
        assert not await board.refresh(NOW + dt.timedelta(minutes=1))  # the platform cannot be reached
    board.api = live_api
    assert board.error and board.loaded_at == NOW  # the last figures stay, marked stale
    assert board.freshness(NOW + dt.timedelta(minutes=1))[0] is Freshness.STALE
    assert [board.next_page() for _ in PAGES] == [*PAGES[1:], PAGES[0]]


async def test_processes_follow_the_plants_route(world: World, board: Wallboard) -> None:
    """Coking and sintering, ironmaking, steelmaking, rolling, then auxiliary: the route, whatever the codes."""
    for code, name, process_type in (
        ("AA", "辅助生产", "auxiliary"),  # codes sort against the route on purpose
        ("BO", "转炉炼钢", "bof_steelmaking"),
        ("CK", "炼焦", "coking"),
        ("HR", "热轧", "hot_rolling"),
        ("SN", "烧结", "sintering"),
    ):
        await Process.create(
            site=world.a.site, process_type=await ProcessType.get(code=process_type), code=code, name=name
        )
    assert await board.refresh(NOW), board.error
    assert [p.name for p in board.processes] == ["炼焦", "烧结", "炼铁", "转炉炼钢", "热轧", "辅助生产"]
