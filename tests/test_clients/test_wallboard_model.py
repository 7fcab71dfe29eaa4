"""The wallboard's view state against a real platform: figures, comparisons, processes, alarms, freshness."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import pytest

from cem_clients.api import ApiClient, LiveEvent
from cem_clients.wallboard.model import PAGES, Freshness, Wallboard
from cem_platform.alarms.models import AlarmKind, Severity
from cem_platform.alarms.services import AlarmService
from cem_platform.identity.principal import Principal
from cem_platform.identity.services import IdentityService
from tests.test_clients.test_api_client import base_url, free_port  # noqa: F401 - the served platform
from tests.test_platform.world import World

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 6, 15, 12, 0, tzinfo=SHANGHAI)
PER_TONNE = Decimal("28.447") * Decimal("0.0295") * Decimal("0.93") * 44 / 12  # coke, 2015 defaults
API = "/api/v1/accounting"


def close(value: Decimal | None, expected: Decimal, tolerance: str = "0.001") -> bool:
    return value is not None and abs(value - expected) <= Decimal(tolerance)


async def prepare(world: World, year: int = 2025, month_now: int = 6) -> None:
    """Coke burnt in ironmaking and crude steel, entered monthly for ``year`` - 1 and ``year`` up to ``month_now``."""
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
    for entry_year, coke, steel in ((year - 1, "2800", "7000"), (year, "3000", "8000")):
        for month in range(1, 13 if entry_year < year else month_now + 1):
            for code, value in (("COKE", coke), ("STEEL", steel)):
                body = {"source_id": ids[code], "input": "FC" if code == "COKE" else "AD",
                        "month": f"{entry_year}-{month:02d}", "value": value, "unit": "t"}  # fmt: skip
                response = await world.client.post(f"{API}/activity", headers=headers, json=body)
                assert response.status_code == 201, response.text


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


async def test_figures_against_last_year(world: World, board: Wallboard) -> None:
    await prepare(world)
    assert await board.refresh(NOW), board.error
    assert board.enterprise_name == "甲钢铁"
    june, june_2024 = 3000 * PER_TONNE, 2800 * PER_TONNE
    assert board.today is not None and board.month is not None and board.year is not None
    assert close(board.today.value, june / 30) and close(board.today.previous, june_2024 / 30)
    assert close(board.month.value, june)  # the whole month's ledger value (entered monthly)
    assert close(board.month.previous, june_2024 * 15 / 30)  # 1–15 June 2024
    assert close(board.year.value, 6 * june)
    assert close(board.year.previous, 5 * june_2024 + june_2024 * 15 / 30)
    assert board.year.change is not None and board.year.change > 0
    assert close(board.intensity, june / 8000, "0.000001")  # year so far: 6 months of coke over 6 of steel
    assert board.intensity_status() == "good"  # about 0.33 tCO2/t, under the 1.80 reference
    assert len(board.trend) == 30 and board.trend[-1].day == dt.date(2025, 6, 15)
    assert all(close(day.net, (june if day.day.month == 6 else 3000 * PER_TONNE) / 30) for day in board.trend[-15:])
    [process] = board.processes
    assert process.code == "IR" and close(process.net, june)
    assert close(board.category_totals()["fuel_combustion"], june)
    assert board.allowance is None  # not served by the platform: shown as unknown, never invented


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
