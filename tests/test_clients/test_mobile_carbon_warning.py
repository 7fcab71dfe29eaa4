"""The platform's carbon-asset warnings pushed to the mobile app: the warning job raises them on the carbon-asset
tests' enterprise (2025 short of allowances, its surrender deadline near) and the crew's alarm list and detail say
them in the plant's words in both languages, in headless Chromium at the phone's size (screenshots
``carbon-warning-*.png`` under ``build/screenshots/mobile/``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cem_platform.carbon_assets.services import evaluate_warnings
from cem_platform.settings import Settings
from tests.test_clients.browser import Browser
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_console_carbon import assets
from tests.test_clients.test_mobile_app import PHONE, SCREENSHOTS, browser, log_in, served  # noqa: F401
from tests.test_platform.world import World


async def test_carbon_warnings_in_the_crews_alarm_list_in_both_languages(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
    settings: Settings,
    tmp_path: Path,
) -> None:
    await assets(world)
    report = await evaluate_warnings(settings)
    assert report.raised >= 2, report  # the deficit above its level, and the deadline near with it

    with served(base_url, tmp_path / "mobile", "crew-carbon") as url, browser.session(url, viewport=PHONE) as s:

        def look() -> dict[str, list[str]]:
            seen: dict[str, list[str]] = {}
            log_in(s, "a-crew")
            seen["inbox"] = s.wait_for(["碳配额预测缺口超预警线", "清缴截止临近仍有缺口", "甲钢铁"])
            s.screenshot(SCREENSHOTS / "carbon-warning-inbox-zh.png")
            s.click("清缴截止临近仍有缺口")
            seen["detail"] = s.wait_for(["告警详情", "预测", "先检查", "碳资产"])
            s.screenshot(SCREENSHOTS / "carbon-warning-detail-zh.png")
            s.click("返回告警列表")
            s.click("菜单")
            s.click("English", exact=True)
            seen["inbox-en"] = s.wait_for(["Allowance deficit above its warning level",
                                           "Surrender deadline near with a deficit"])  # fmt: skip
            s.screenshot(SCREENSHOTS / "carbon-warning-inbox-en.png")
            s.click("Allowance deficit above its warning level")
            seen["detail-en"] = s.wait_for(["Check first", "Carbon assets"])
            s.screenshot(SCREENSHOTS / "carbon-warning-detail-en.png")
            return seen

        seen = await asyncio.to_thread(look)
    for name, texts in seen.items():
        shown = "\n".join(texts)
        assert "carbon_deficit" not in shown and "alarm." not in shown, (name, shown)
