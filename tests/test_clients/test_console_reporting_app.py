"""The console's reporting and verification screen in headless Chromium at 1440x900, in both languages: a verified
year with late data (reported beside accounted now, "would change by", verification, history), and a locked year
reopened in Python with the authenticator code. Screenshots under ``build/screenshots/console/``."""

from __future__ import annotations

from typing import cast

import flet as ft

from cem_clients.console.app import ConsoleApp
from cem_clients.console.model import ConsoleApi
from cem_clients.console.screens_reporting import ReportingSection
from cem_clients.ui.i18n import Translator
from cem_platform.identity.models import LoginSession
from tests.test_accounting.kept import refresh_now
from tests.test_clients.browser import Browser
from tests.test_clients.test_api_client import base_url, login  # noqa: F401 - the served platform
from tests.test_clients.test_console_app import (  # noqa: F401 - the module's Chromium
    StubPage,
    browser,
    button,
    click,
    field,
    session_of,
    show,
    texts_in,
    type_into,
)
from tests.test_clients.test_console_model import small_example
from tests.test_platform.world import World, totp_code


async def verified_year_with_late_data(base_url: str, world: World) -> None:  # noqa: F811
    """2024 submitted, assigned to a-verifier and verified; then 10 t more coke for April: it would change."""
    enterprise = world.a.enterprise.id
    async with ConsoleApi(base_url) as api:
        await login(api, world, "a-accountant")
        entry = await small_example(api, world)
        await refresh_now()
        await api.submit_year(enterprise, 2024, "报送主管部门")
        await api.assign_verifier(enterprise, 2024, "a-verifier")
        async with ConsoleApi(base_url) as verifier:
            await login(verifier, world, "a-verifier")
            await verifier.verify_year(enterprise, 2024, "290.5", "286.1625965", "焦炭消耗量按过磅单复核，偏差约 4 t。")
        coke = next(s.id for s in entry.sources if s.code == "COKE")
        await api.enter_activity(coke, "FC", "10", "t", month="2024-04")
    await refresh_now()


async def test_reporting_screen_in_both_languages(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    await verified_year_with_late_data(base_url, world)
    shot = await show(
        browser, base_url, "reporting",
        ["报告与核查", "2024 年度", "已核查", "若现在重新核算，2024 年度排放总量将变化 +28.62 tCO2", "核查意见"],
        session=await session_of(base_url, world, "a-accountant"), section="reporting", options={"year": "2024"},
    )  # fmt: skip
    texts = shot.texts
    assert "原因：活动数据有补录或修改" in texts
    assert {"286.16", "290.50", "+4.34", "1,000.00", "0.2862"} <= set(texts)  # reported, verified, difference
    assert {"锁定", "新建草稿"} <= set(texts) and "提交" not in texts and "录入核查结果" not in texts
    assert "核查员：a-verifier" in shot.text and "焦炭消耗量按过磅单复核，偏差约 4 t。" in texts

    english = await show(
        browser, base_url, "reporting-en",
        ["Reporting and verification", "Year 2024", "Verified", "would change by +28.62 tCO2", "Findings"],
        session=await session_of(base_url, world, "a-accountant"), section="reporting",
        options={"year": "2024"}, locale="en",
    )  # fmt: skip
    assert "Because: activity data was added or corrected" in english.texts
    assert {"Lock", "New draft", "Total emissions (GB/T 32151.5)"} <= set(english.texts)

    dialog = await show(
        browser, base_url, "reporting-draft",
        ["2024 年度新建草稿", "原因", "取消"],
        session=await session_of(base_url, world, "a-accountant"), section="reporting",
        options={"year": "2024", "action": "draft"},
    )  # fmt: skip
    assert "2024 年度将按当前数据重新核算，成为新的草稿；原报送版本保留。请说明原因。" in dialog.texts

    verifier = await show(
        browser, base_url, "reporting-verifier",
        ["报告与核查", "2024 年度", "已核查"],
        session=await session_of(base_url, world, "a-verifier"), section="reporting",
    )  # fmt: skip
    assert "2023 年度" not in verifier.texts and "锁定" not in verifier.texts  # only its year; read-only now


async def test_lock_and_reopen_with_the_code(world: World, base_url: str) -> None:  # noqa: F811
    await verified_year_with_late_data(base_url, world)
    session = await session_of(base_url, world, "a-accountant")
    page = StubPage()
    async with ConsoleApi(base_url) as api:
        app = ConsoleApp(cast(ft.Page, page), api, Translator("zh-CN"), start_section="reporting")
        await app.resume(session)
        await LoginSession.filter(user_id=world.users["a-accountant"].id).update(step_up_at=None)
        section = app.section
        assert isinstance(section, ReportingSection)
        await section.desk.select(2024)
        app.draw()
        await click(button(app.holder, "锁定"))
        dialog = app.ui.dialog
        assert dialog is not None
        await click(button(dialog.actions, "锁定"))
        assert app.ui.dialog is None and "2024 年度已锁定" in texts_in(app.holder)

        await click(button(app.holder, "重新打开"))
        dialog = app.ui.dialog
        assert dialog is not None
        await click(button(dialog.actions, "重新打开"))
        assert field(dialog.content, "原因").error == "请说明原因"
        type_into(field(dialog.content, "原因"), "核查意见：焦炭消耗")
        await click(button(dialog.actions, "重新打开"))
        assert app.ui.dialog is dialog and "请输入动态验证码" in texts_in(dialog.content)
        type_into(field(dialog.content, "动态验证码"), totp_code(world.secrets["a-accountant"], 1))
        await click(button(dialog.actions, "重新打开"))
        assert app.ui.dialog is None
        shown = texts_in(app.holder)
        assert "2024 年度已重新打开" in shown and "第 2 稿" in " ".join(shown) and "提交" in shown
