"""The wallboard's carbon page against the served platform, on the carbon-asset tests' enterprise (kept months
2022-01 to 2025-08; 2026 has no compliance rule yet, so the open 2025 year is shown): the allowance used and
remaining, the forecast surplus or deficit with its band, the asset value, from two requests a refresh; the
platform's carbon warnings raised by its job and shown; the page in headless Chromium at 1920x1080 in both languages
(``carbon-zh-1920x1080.png``, ``carbon-en-1920x1080.png`` under ``build/screenshots/wallboard/``)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from cem_clients.ui import serve as ui_serve
from cem_clients.wallboard.app import wallboard_main
from cem_clients.wallboard.model import PAGES, Wallboard
from cem_platform.carbon_assets.services import evaluate_warnings
from cem_platform.settings import Settings
from tests.test_clients.browser import VIEWPORTS, Browser
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_console_carbon import assets
from tests.test_clients.test_wallboard_app import SCREENSHOTS, _token, browser  # noqa: F401 - the module's Chromium
from tests.test_clients.test_wallboard_model import board  # noqa: F401 - the display token's board
from tests.test_platform.world import World


async def test_the_allowance_from_two_requests_and_the_carbon_warnings(
    world: World,
    board: Wallboard,  # noqa: F811
    settings: Settings,
) -> None:
    await assets(world)
    report = await evaluate_warnings(settings)  # the platform's job: 2025 short, its deadline near
    assert report.raised >= 1, report
    calls: list[tuple[str, int]] = []
    for name in ("carbon_trial", "carbon_holdings"):
        method = getattr(board.api, name)

        async def counted(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            calls.append((_name, args[1]))
            return await _method(*args, **kwargs)

        setattr(board.api, name, counted)
    assert await board.refresh(), board.error
    # this year has no rule: the year before once, then only it
    assert calls == [("carbon_trial", 2026), ("carbon_trial", 2025), ("carbon_holdings", 2025)]
    carbon = board.carbon
    assert carbon is not None and carbon.year == 2025 and board.carbon_year == 2025 and not board.carbon_note
    pre = Decimal(1050000)
    assert carbon.allowances == board.allowance and carbon.used > 0 and carbon.months_used == 8
    assert carbon.remaining == carbon.allowances - carbon.used and carbon.position < 0  # short of allowances
    assert carbon.low <= carbon.position <= carbon.high and carbon.band_percent == 80
    assert carbon.asset_value == (pre + 12000) * Decimal("90.5") + 500000 * 62
    warnings = board.carbon_warnings()
    assert warnings and {a.detail["what"] for a in warnings} >= {"deficit"}
    calls.clear()
    assert await board.refresh(), board.error
    assert calls == [("carbon_trial", 2025), ("carbon_holdings", 2025)]  # two requests a refresh
    assert PAGES[-1] == "carbon" and PAGES.index("benchmarks") == 4  # a page at the end: ?page= numbers kept


async def test_the_carbon_page_in_both_languages(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
    settings: Settings,
) -> None:
    await assets(world)
    await evaluate_warnings(settings)
    token = await _token(world)
    app = ui_serve.serve_app(wallboard_main(base_url, token, world.a.enterprise.id, rotate_s=0), name="carbon")
    try:
        for lang, expected in {
            "zh": ["2025 年度配额使用", "2025 年度预测盈缺", "碳资产价值", "碳资产预警", "碳配额预测缺口超预警线",
                   "预计年末缺口"],
            "en": ["Allowance used · 2025", "Forecast surplus or deficit · 2025", "Carbon asset value",
                   "Carbon warnings", "Surrender deadline near with a deficit"],
        }.items():  # fmt: skip
            shot = await asyncio.to_thread(
                browser.load, app.url.rstrip("/") + f"/?page=carbon&lang={lang}", viewport=VIEWPORTS["wallboard"],
                screenshot=SCREENSHOTS / f"carbon-{lang}-1920x1080.png", expect=expected,
            )  # fmt: skip
            assert all(any(e in t for t in shot.texts) for e in expected), shot.texts
            assert not any(t.startswith(("wall.", "wallboard.", "alarm.")) for t in shot.texts)
            overflowing = [n for n in shot.nodes if n.width and n.x + n.width > VIEWPORTS["wallboard"][0] + 1]
            assert not overflowing, overflowing
        # the overview's allowance tile: the platform's figures, no longer configuration
        expected = ["剩余配额 · 2025", "预计年末缺口 7,058 tCO2"]
        shot = await asyncio.to_thread(
            browser.load, app.url.rstrip("/") + "/?page=overview&lang=zh-CN", viewport=VIEWPORTS["wallboard"],
            screenshot=SCREENSHOTS / "overview-carbon-zh-1920x1080.png", expect=expected,
        )  # fmt: skip
        assert all(any(e in t for t in shot.texts) for e in expected), shot.texts
    finally:
        app.stop()
