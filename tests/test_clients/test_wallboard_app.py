"""The wallboard app in headless Chromium against a served platform: each page shows its figures.

Screenshots (1920x1080 and 3840x2160) are saved under ``build/screenshots/wallboard/``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from cem_clients.ui import serve as ui_serve
from cem_clients.wallboard.app import wallboard_main
from cem_platform.alarms.models import AlarmKind, Severity
from cem_platform.alarms.services import AlarmService
from cem_platform.identity.services import IdentityService
from tests.test_clients.browser import VIEWPORTS, Browser
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_wallboard_model import SHANGHAI, prepare
from tests.test_platform.world import World

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots" / "wallboard"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as chromium:
        yield chromium


async def _token(world: World) -> str:
    identity = IdentityService(world.settings)
    admin = await identity.principal_for_user(world.users["a-admin"])
    _, secret = await identity.create_api_token(
        admin, name="wallboard", permissions=["org.read", "data.read", "alarms.read", "emissions.read"],
        enterprise_ids=[world.a.enterprise.id], expires_at=None,
    )  # fmt: skip
    return secret


async def test_every_page_in_the_browser(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    today = dt.datetime.now(SHANGHAI).date()
    await prepare(world, today.year, today.month)  # coke and crude steel entered monthly, last year and this
    await AlarmService(world.settings).raise_alarm(
        world.a.enterprise.id, AlarmKind.DATA_GAP, Severity.MAJOR, "point", str(world.a.point.id), "焦炭计量中断"
    )
    token = await _token(world)
    expectations = {
        "overview": ["碳排放监控大屏", "甲钢铁", "今日排放", "本月排放", "本年排放", "排放强度", "配额数据尚未接入"],
        "processes": ["分工序排放 · 本月", "炼铁", "化石燃料燃烧"],
        "trend": ["近30天趋势"],
        "alarms": ["工艺流程状态", "焦炭计量中断", "严重"],
    }
    for page, expected in expectations.items():
        app = ui_serve.serve_app(
            wallboard_main(base_url, token, world.a.enterprise.id, rotate_s=0, start_page=page), name=page
        )
        try:
            path = SCREENSHOTS / f"{page}-1920x1080.png"
            shot = await asyncio.to_thread(
                browser.load, app.url, viewport=VIEWPORTS["wallboard"], screenshot=path, expect=expected
            )
            assert all(any(e in text for text in shot.texts) for e in expected), shot.texts
            assert "1 条告警 · 严重 · 焦炭计量中断" in " ".join(shot.texts)  # the ticker is on every page
            assert not shot.fallback_font_requests
            if page == "overview":
                assert "tCO2" in shot.texts and "同比上升 7.1%" in shot.texts, shot.texts  # 3000 t vs 2800 t
            if page == "overview":
                big = await asyncio.to_thread(
                    browser.load, app.url, viewport=(3840, 2160), screenshot=SCREENSHOTS / "overview-3840x2160.png",
                    expect=expected,
                )  # fmt: skip
                assert "实时" in " ".join(big.texts) or "数据已过时" in " ".join(big.texts)
        finally:
            app.stop()


async def test_english_and_no_inventory(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    """Without a source inventory the figures are unknown, the platform's reason is shown, the rest works."""
    token = await _token(world)
    app = ui_serve.serve_app(
        wallboard_main(base_url, token, world.a.enterprise.id, rotate_s=0, locale="en", start_page="processes"),
        name="english",
    )
    try:
        shot = await asyncio.to_thread(
            browser.load, app.url, viewport=VIEWPORTS["wallboard"], screenshot=SCREENSHOTS / "processes-en-empty.png",
            expect=["Carbon emissions wallboard", "no active emission source"],
        )  # fmt: skip
        assert any("No open alarms" in t or "alarm" in t.lower() for t in shot.texts), shot.texts
    finally:
        app.stop()
