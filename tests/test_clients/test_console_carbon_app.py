"""The console's 碳资产 section in headless Chromium at 1440x900, in both languages, on the carbon-asset tests'
enterprise (kept months 2022-01 to 2025-08, a pre-allocation, CCER held, a corrected purchase, CEA and CCER
prices). Screenshots under ``build/screenshots/console/`` (``carbon-*.png``), taken once the charts are painted;
the ledger and a transaction the platform refuses (a negative price) in the entry dialog
(``carbon-ledger-zh``, ``carbon-entry-refused-zh``)."""

from __future__ import annotations

import asyncio

from cem_clients.console.app import console_main
from cem_clients.console.carbon import CarbonBoard
from cem_clients.ui import serve as ui_serve
from tests.test_clients.browser import Browser
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_console_app import (  # noqa: F401 - the module's Chromium
    SCREENSHOTS,
    VIEWPORT,
    browser,
    session_of,
)
from tests.test_clients.test_console_benchmarking_app import look
from tests.test_clients.test_console_carbon import YEAR, assets
from tests.test_platform.world import World

#: Colours only the charts paint: the kept months' bars, the forecast months' bars.
ACTUAL, FORECAST = (37, 99, 235), (147, 197, 253)


async def test_carbon_assets_in_both_languages(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    seeded = await assets(world)
    assert CarbonBoard.__name__  # the view model the screen draws
    texts = await look(
        browser, base_url, "carbon", "carbon-zh",
        ["碳资产", "逐月排放与配额进度 (tCO2)", "累计排放预测至年末 (tCO2)", "2025 年度试算"],
        session=await session_of(base_url, world, "a-accountant"), options=YEAR, colours=(ACTUAL, FORECAST),
        scroll=800,
    )  # fmt: skip
    assert {"碳资产价值", "抵销上限（履约量的 5%）", f"更正 #{seeded['bought']}", "已被更正"} <= set(texts)
    assert not any(t.startswith(("carbon.", "console.")) for t in texts)  # every string translated

    english = await look(
        browser, base_url, "carbon", "carbon-en",
        ["Carbon assets", "Monthly emissions and allowance pace (tCO2)", "Trial calculation 2025"],
        session=await session_of(base_url, world, "a-auditor"), options=YEAR, locale="en",
        colours=(ACTUAL, FORECAST), scroll=800,
    )  # fmt: skip
    assert {"Carbon asset value", "Offset cap (5% of the obligation)", "Corrected"} <= set(english)
    assert not any(t.startswith(("carbon.", "console.")) for t in english)


async def test_the_ledger_and_a_refused_entry_in_the_browser(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    seeded = await assets(world)
    main = console_main(base_url, locale="zh-CN", session=await session_of(base_url, world, "a-accountant"),
                        start_section="carbon", start_options=YEAR)  # fmt: skip
    app = ui_serve.serve_app(main, name="console-carbon-entry")

    def steps() -> list[str]:
        with browser.session(app.url, viewport=VIEWPORT) as s:
            s.wait_for(["2025 年度交易台账", "录入交易"], timeout=60)
            s.scroll(3000, at=(800, 600))
            s.pause(1)
            texts = s.wait_for([f"更正 #{seeded['bought']}", "已被更正", "数量录错"])
            s.screenshot(SCREENSHOTS / "carbon-ledger-zh-1440x900.png")
            s.click("录入交易", exact=True)
            s.wait_for(["录入交易或更正", "价格 (元/吨，可空)"])
            s.fill("数量 (tCO2)", "1000")
            s.fill("价格 (元/吨，可空)", "-5")
            s.click("保存", exact=True)
            texts += s.wait_for(["价格 (元/吨)：“-5”不是非负数"])  # the platform's refusal in Chinese, nothing written
            s.screenshot(SCREENSHOTS / "carbon-entry-refused-zh-1440x900.png")
            return texts

    try:
        texts = await asyncio.to_thread(steps)
    finally:
        app.stop()
    assert not any(t.startswith(("carbon.", "console.")) for t in texts)
