"""The console's 碳资产 section in headless Chromium at 1440x900, in both languages, on the carbon-asset tests'
enterprise (kept months 2022-01 to 2025-08, a pre-allocation, CCER held, a corrected purchase, CEA and CCER
prices). Screenshots under ``build/screenshots/console/`` (``carbon-*.png``), taken once the charts are painted."""

from __future__ import annotations

from cem_clients.console.carbon import CarbonBoard
from tests.test_clients.browser import Browser
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_console_app import browser, session_of  # noqa: F401 - the module's Chromium
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
