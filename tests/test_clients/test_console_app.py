"""The console app in headless Chromium at 1440x900 against a served platform: each screen shows its data.

The browser only loads pages, so every screen is opened directly: a session resumed from a refresh token
(``session=``) and a start section with its options (``start_section=``, ``start_options=``); the sign-in screen
without a session. Screenshots are saved under ``build/screenshots/console/``.

What takes clicks and typing (sign-in with the code, suspend with step-up, the enrolment token, a library change,
the lineage drill-down, a ledger upload, the report download) is driven in Python on the same app object against
the same platform, with a stand-in for the page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import inspect
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import cast

import flet as ft
import pytest

from cem_clients.console.app import SECTION_VIEWS, ConsoleApp, console_main
from cem_clients.console.app_kit import Ui
from cem_clients.console.model import ConsoleApi
from cem_clients.console.screens_accounting import ActivitySection, EmissionsSection, InventorySection, LibrarySection
from cem_clients.console.screens_admin import UsersSection
from cem_clients.console.screens_devices import FleetSection, open_control_dialog, open_token_dialog
from cem_clients.ui import serve as ui_serve
from cem_clients.ui.i18n import Translator
from cem_platform.identity.models import LoginSession, User
from cem_platform.org.models import Process as ProcessRow
from cem_platform.org.models import ProcessType
from cem_platform.org.models import Site as SiteRow
from cem_platform.settings import Settings
from cem_platform.telemetry.live import hub_for
from cem_platform.telemetry.models import DeviceStatus
from cem_registry.models import Device as DeviceRow
from tests.test_clients.browser import VIEWPORTS, Browser, Snapshot
from tests.test_clients.test_api_client import base_url, login  # noqa: F401 - the served platform
from tests.test_clients.test_console_model import LEDGER_HEADER, small_example
from tests.test_platform.world import PASSWORD, World, totp_code
from tests.test_registry.fleet import enrolled_terminal, register

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots" / "console"
VIEWPORT = VIEWPORTS["console"]  # 1440x900


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as chromium:
        yield chromium


async def session_of(base_url: str, world: World, username: str) -> str:  # noqa: F811
    """A refresh token of ``username`` signed in with password and authenticator code, as the app would keep it.

    The app rotates the token when it resumes the session, so every page load needs a session of its own; an
    authenticator code works once, so the user's last accepted time step is forgotten first.
    """
    await User.filter(id=world.users[username].id).update(totp_last_step=0)
    async with ConsoleApi(base_url) as api:
        await login(api, world, username)
        token = api.refresh_token
    assert token is not None
    return token


async def show(
    browser: Browser,
    base_url: str,  # noqa: F811
    name: str,
    expect: list[str],
    *,
    session: str | None = None,
    section: str | None = None,
    options: Mapping[str, str] | None = None,
    locale: str = "zh-CN",
) -> Snapshot:
    """Serve the console, open it in Chromium at 1440x900 and wait for ``expect``; the screenshot is ``name``."""
    main = console_main(base_url, locale=locale, session=session, start_section=section, start_options=options)
    app = ui_serve.serve_app(main, name=f"console-{name}")
    try:
        shot = await asyncio.to_thread(
            browser.load, app.url, viewport=VIEWPORT, screenshot=SCREENSHOTS / f"{name}-1440x900.png", expect=expect
        )
    finally:
        app.stop()
    assert not shot.fallback_font_requests  # every glyph came from the bundled font
    overflowing = [n for n in shot.nodes if n.width and n.x + n.width > VIEWPORT[0] + 1]
    assert not overflowing, overflowing  # nothing sticks out of the window
    return shot


async def test_sign_in_screen_without_a_session(base_url: str, browser: Browser) -> None:  # noqa: F811
    shot = await show(browser, base_url, "login", ["碳排放管理控制台", "用户名", "密码", "动态验证码", "登录"])
    assert "设备管理员与碳核算员使用" in shot.text and "English" in shot.texts
    english = await show(
        browser, base_url, "login-en", ["Carbon management console", "Authenticator code"], locale="en"
    )
    assert "Sign in" in english.text


async def test_an_expired_session_leads_to_the_sign_in_screen(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,
) -> None:
    token = await session_of(base_url, world, "a-device-admin")
    async with ConsoleApi(base_url) as api:
        api.use_refresh_token(token)
        await api.refresh()
        await api.logout()  # the session is over on the platform
    shot = await show(browser, base_url, "login-expired", ["登录已过期，请重新登录"], session=token)
    assert "用户名" in shot.text


async def test_fleet_as_a_device_admin(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    admin = await world.login("a-admin")
    busy = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="1#高炉网关")
    now = dt.datetime.now(dt.UTC)
    await DeviceRow.filter(id=busy.device_id).update(last_seen_at=now, state="active")
    await DeviceStatus.create(
        device_id=busy.device_id, enterprise_id=world.a.enterprise.id, state="online", reported_at=now,
        received_at=now, buffer_depth=1250, buffer_evicted=0, status={},
    )  # fmt: skip
    spare = await register(world, admin, serial="HX-CONSOLE-0001", name="转炉备用网关")

    shot = await show(
        browser, base_url, "fleet", ["设备总览", "HX-CONSOLE-0001", "已登记", "1#高炉网关", "运行中", "实时"],
        session=await session_of(base_url, world, "a-device-admin"), section="fleet",
    )  # fmt: skip
    texts = shot.texts
    assert "转炉备用网关\nHX-CONSOLE-0001" in texts  # the registered spare: name and serial in one cell
    assert "1,250" in texts  # the gateway's backlog
    for caption in ("设备总数", "正常", "需关注", "离线", "已停用", "待注册", "缓存积压", "证书即将到期"):
        assert caption in texts, caption
    # the rail holds the device admin's sections only
    assert {"设备总览", "告警", "设备登记", "计量点", "告警阈值"} <= set(texts) and "排放因子库" not in texts
    assert "a-device-admin · 设备管理员" in texts

    token_shot = await show(
        browser, base_url, "fleet-token", ["终端注册令牌", "转炉备用网关 (HX-CONSOLE-0001)", "注册令牌"],
        session=await session_of(base_url, world, "a-device-admin"), section="fleet", options={"token": spare["id"]},
    )  # fmt: skip
    assert any(t.startswith("有效至 ") for t in token_shot.texts), token_shot.texts

    english = await show(
        browser, base_url, "fleet-en", ["Fleet", "HX-CONSOLE-0001", "Registered", "Certificates expiring"],
        session=await session_of(base_url, world, "a-device-admin"), section="fleet", locale="en",
    )  # fmt: skip
    assert "Device administrator" in english.text


async def test_factor_library_as_an_accountant(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    token = await session_of(base_url, world, "a-accountant")
    shot = await show(
        browser, base_url, "library",
        ["排放因子库", "GB/T 32151.5-2015", "第 1 版", "第 1 版的变更", "焦炭 低位发热量"],
        session=token, section="library", options={"search": "fuel.coke"},
    )  # fmt: skip
    texts = shot.texts
    assert "28.447" in texts and "GJ/t" in texts  # coke's NCV, as the library gives it
    assert "新增" in texts  # the first version adds every parameter
    assert {"排放源清单", "活动数据录入", "台账导入", "排放核算", "年度报告"} <= set(texts)
    assert "设备总览" not in texts  # not an accountant's section


async def test_emissions_and_the_lineage_drill_down(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    async with ConsoleApi(base_url) as api:
        await login(api, world, "a-accountant")
        await small_example(api, world)  # 100 t of coke and 1000 t of crude steel in March 2024

    march = {"start": "2024-03", "end": "2024-04"}
    shot = await show(
        browser, base_url, "emissions", ["排放核算", "2024-03", "286.16", "化石燃料燃烧"],
        session=await session_of(base_url, world, "a-accountant"),
        section="emissions", options=march,
    )  # fmt: skip
    assert "1,000.00" in shot.texts and "0.2862" in shot.texts  # crude steel and the intensity
    assert "已定稿" in shot.texts and "点击一行查看核算依据" in shot.texts

    lineage = await show(
        browser, base_url, "emissions-lineage",
        ["核算依据：2024-03", "COKE", "FC * NCV * CC * OF * 44 / 12", "焦炭 低位发热量", "28.447"],
        session=await session_of(base_url, world, "a-accountant"), section="emissions",
        options=march | {"drill": "first", "source": "COKE"},
    )  # fmt: skip
    texts = lineage.texts
    assert "286.163" in texts  # the source's emission
    assert "因子库第 1 版" in lineage.text and "GB/T 32151.5-2015" in lineage.text
    assert any("COKE · 消耗量：手工录入 #" in t for t in texts), texts  # where the activity data came from
    assert "第 1 版" in texts and "library v1" not in texts  # the parameter's version


async def test_audit_log_as_admin(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    admin = await world.login("a-admin")
    devices = [await register(world, admin) for _ in range(3)]
    token = await session_of(base_url, world, "a-admin")
    shot = await show(
        browser, base_url, "audit", ["审计日志", "登记设备", "设备 · " + devices[-1]["id"]], session=token,
        section="audit",
    )  # fmt: skip
    texts = shot.texts
    assert "a-admin" in texts and "成功" in texts
    codes = [t for t in texts if t == "registry.device.register" or t.startswith("device ·")]
    assert not codes, codes  # words, not codes (the code is the action's tooltip)
    assert any(t.startswith("第 1 至 ") for t in texts), texts  # the pager
    assert {"设备总览", "用户与角色", "审计日志", "排放核算"} <= set(texts)  # an admin sees every section


async def test_every_other_section_as_admin(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    """The sections with tables and forms of their own (ledger import and report are driven in Python below)."""
    async with ConsoleApi(base_url) as api:
        await login(api, world, "a-accountant")
        await small_example(api, world)  # sources, activity records
    expectations = {
        "registration": ["设备登记", "硬件序列号", "安装位置（选到越细越好）", "甲钢铁"],
        "points": ["计量点", "ENTA.BF1.COKE", "入炉焦炭", "炼铁 / 1#高炉", "累计量"],
        "thresholds": ["告警阈值", "gap_intervals", "允许范围", "2 – 1000"],
        "users": ["用户与角色", "a-crew", "现场班组", "甲钢铁"],
        "inventory": ["排放源清单", "IR 炼铁", "化石燃料燃烧", "COKE", "产品产量", "粗钢"],
        "activity": ["活动数据录入", "最近录入", "COKE", "STEEL", "2024-03-01 – 2024-03-31", "1,000"],
    }
    for section, expected in expectations.items():
        session = await session_of(base_url, world, "a-admin")
        await show(browser, base_url, section, expected, session=session, section=section)


async def test_point_picker_and_scope_editor_in_the_browser(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,
) -> None:
    await SiteRow.create(enterprise_id=world.a.enterprise.id, code="ENTA-S2", name="轧钢厂")
    await show(
        browser, base_url, "inventory-meter-points", ["新增排放源", "查找计量点", "ENTA.BF1.COKE 入炉焦炭", "单位 t"],
        session=await session_of(base_url, world, "a-admin"), section="inventory",
        options={"new": "fuel_combustion", "meter": "FC", "find": "coke"},
    )  # fmt: skip
    await show(
        browser, base_url, "users-scopes", ["修改用户 a-crew", "甲钢铁（整个企业）", "轧钢厂", "或仅限以下厂区："],
        session=await session_of(base_url, world, "a-admin"), section="users", options={"edit": "a-crew"},
    )  # fmt: skip
    english = await show(
        browser, base_url, "audit-days-en", ["Audit log", "From", "To (inclusive)"],
        session=await session_of(base_url, world, "a-admin"), section="audit",
        options={"from": "2024-02-30"}, locale="en",
    )  # fmt: skip
    assert "A date like 2025-03-31" in english.texts  # the typed day is checked, the message in English


async def test_a_day_picked_from_the_calendar_in_chinese(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,
) -> None:
    """The calendar speaks the app's language (Flutter's own texts follow the page's locale) and the day picked
    becomes the field's value: the month of that day for the activity month."""
    session = await session_of(base_url, world, "a-accountant")
    served = ui_serve.serve_app(
        console_main(base_url, locale="zh-CN", session=session, start_section="activity"), name="console-calendar"
    )
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()  # the browser's zone is Asia/Shanghai

    def pick() -> tuple[list[str], str]:
        with browser.session(served.url, viewport=VIEWPORT) as page:
            page.wait_for(["活动数据录入", "月份（YYYY-MM）"])
            page.click("从日历中选择")  # the first calendar button: the month's
            shown = page.wait_for(["上个月", "下个月", "取消", "确认"])
            page.screenshot(SCREENSHOTS / "calendar-1440x900.png")
            page.click(f"15, {today.year}年{today.month}月15日")
            page.click("确认", exact=True)
            page.wait_gone("上个月")
            return shown, page.field_value("月份（YYYY-MM）")

    try:
        shown, month = await asyncio.to_thread(pick)
    finally:
        served.stop()
    assert not [text for text in shown if "Previous month" in text or "Select year" in text], shown  # not English
    assert month == f"{today:%Y-%m}"


BAD_LEDGER = LEDGER_HEADER + (
    "COKE,FC,2024-04-01,2024-04-30,900,t,台账\n"
    "NOPE,FC,2024-04-01,2024-04-30,x,t,\n"
    "COKE,FC,2024-05-10,2024-05-01,12a,furlong,\n"
    "COKE,FC,2024-04-01,2024-04-30,5,GJ,\n"
    "COKE,FC,2024-06-01,,5,t,\n"
)


@pytest.mark.parametrize(
    ("locale", "choose", "expect"),
    [
        (
            "zh-CN",
            "选择台账文件（XLSX/CSV）",
            ["未知排放源 NOPE：", "数值“12a”不是十进制数", "单位“GJ”不能换算为 t", "与第 2 行重复", "周期缺少截止日期"],
        ),
        (
            "en",
            "Choose a ledger file (XLSX/CSV)",
            ["Unknown source NOPE:", "Value '12a' is not", "Unit 'GJ' does not convert", "Duplicate of row 2"],
        ),
    ],
    ids=["zh", "en"],
)
async def test_a_bad_ledger_reads_in_the_readers_language(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
    locale: str,
    choose: str,
    expect: list[str],
) -> None:
    """A ledger with a problem of each kind: the report says each in the page's language, nothing in the other."""
    async with ConsoleApi(base_url) as api:
        await login(api, world, "a-accountant")
        await small_example(api, world)

    async def pick(_ui: Ui, extensions: Sequence[str] = ()) -> tuple[str, bytes]:
        return "bad-ledger.csv", BAD_LEDGER.encode("utf-8-sig")

    monkeypatch.setattr(Ui, "pick_file", pick)  # the browser cannot drive the system's file dialog
    session = await session_of(base_url, world, "a-accountant")
    served = ui_serve.serve_app(
        console_main(base_url, locale=locale, session=session, start_section="ledger"), name=f"console-ledger-{locale}"
    )

    def upload() -> list[str]:
        with browser.session(served.url, viewport=VIEWPORT) as page:
            page.click(choose)
            shown = page.wait_for(expect)
            page.screenshot(SCREENSHOTS / f"ledger-problems-{locale}-1440x900.png")
            return shown

    try:
        shown = await asyncio.to_thread(upload)
    finally:
        served.stop()
    other = ("Unknown source", "is not a", "Duplicate") if locale == "zh-CN" else ("未知", "数值", "重复")
    assert not [text for text in shown if any(word in text for word in other)], shown


# ---- the flows, driven in Python (the browser above only loads pages) --------------------------------------------


class StubPage:
    """What the console uses of a Flet page, without a browser: updates counted, dialogs kept, tasks run."""

    def __init__(self) -> None:
        self.title = ""
        self.web = True
        self.updates = 0
        self.dialogs: list[ft.DialogControl] = []
        self.tasks: list[asyncio.Future[object]] = []
        self.updated = asyncio.Event()

    def update(self, *_: object) -> None:
        self.updates += 1
        self.updated.set()

    async def until(self, condition: Callable[[], bool], timeout: float = 10) -> None:
        """Wait for ``condition``, looked at after every update of the page."""
        async with asyncio.timeout(timeout):
            while not condition():
                self.updated.clear()
                await self.updated.wait()

    def show_dialog(self, dialog: ft.DialogControl) -> None:
        self.dialogs.append(dialog)

    def pop_dialog(self) -> ft.DialogControl | None:
        return self.dialogs.pop() if self.dialogs else None

    def run_task(self, handler: Callable[..., Awaitable[object]], *args: object) -> asyncio.Future[object]:
        task = asyncio.ensure_future(handler(*args))
        self.tasks.append(task)
        return task

    async def settle(self) -> None:
        """Wait for the tasks started (a token being issued)."""
        while self.tasks:
            await self.tasks.pop(0)


def controls_in(root: object) -> Iterator[ft.BaseControl]:
    """Every control under ``root`` (itself included), depth first."""
    if isinstance(root, ft.BaseControl):
        yield root
        for f in dataclasses.fields(root):
            if f.name.startswith("_") or f.name in ("parent", "page"):
                continue
            yield from controls_in(getattr(root, f.name, None))
    elif isinstance(root, list | tuple):
        for item in root:
            yield from controls_in(item)


def texts_in(root: object) -> list[str]:
    """The texts shown under ``root``: Text values, field labels, button captions."""
    found = []
    for control in controls_in(root):
        for name in ("value", "label", "content", "text"):
            value = getattr(control, name, None)
            if isinstance(value, str) and value:
                found.append(value)
    return found


def field(root: object, caption: str) -> ft.TextField:
    """The text field labelled ``caption`` under ``root``."""
    return next(c for c in controls_in(root) if isinstance(c, ft.TextField) and c.label == caption)


def type_into(control: ft.TextField, value: str) -> None:
    """Type ``value`` into a field as the browser would report it."""
    control.value = value
    assert callable(control.on_change)
    control.on_change()  # type: ignore[call-arg]


def button(root: object, caption: str) -> ft.BaseControl:
    """The button whose caption is ``caption`` under ``root``."""
    return next(
        c for c in controls_in(root) if isinstance(c, ft.FilledButton | ft.OutlinedButton) and c.content == caption
    )


def shown_dialog(app: ConsoleApp) -> ft.AlertDialog | None:
    """The dialog the console shows now."""
    return app.ui.dialog


def signed_in(app: ConsoleApp) -> bool:
    """Whether the console shows the signed-in shell."""
    return app.signed_in


async def click(control: ft.BaseControl) -> None:
    """Click a button (its handler takes no event)."""
    handler = getattr(control, "on_click", None)
    assert callable(handler), control
    result = handler()
    if inspect.isawaitable(result):
        await result


async def test_sign_in_suspend_with_the_code_and_an_enrolment_token(
    settings: Settings,
    world: World,
    base_url: str,  # noqa: F811
) -> None:
    admin = await world.login("a-admin")
    terminal = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="BF1 gateway")
    spare = await register(world, admin, name="spare")
    page = StubPage()
    async with ConsoleApi(base_url) as api:
        app = ConsoleApp(cast(ft.Page, page), api, Translator("zh-CN"))
        app.draw()
        assert "登录" in texts_in(app.holder) and not app.signed_in
        type_into(field(app.holder, "用户名"), "a-device-admin")
        type_into(field(app.holder, "密码"), PASSWORD)
        await click(button(app.holder, "登录"))
        assert not signed_in(app) and app.console.login_form.needs_code
        assert app.login_message == "Enter your authenticator code"  # the view model's message, shown in Chinese:
        assert "请输入动态验证码" in texts_in(app.holder) and "Enter your authenticator code" not in texts_in(
            app.holder
        )
        type_into(field(app.holder, "动态验证码"), totp_code(world.secrets["a-device-admin"]))
        await click(button(app.holder, "登录"))
        assert signed_in(app) and app.section_name == "fleet", app.login_message
        assert {"BF1 gateway", "spare", "设备总览"} <= set(texts_in(app.holder))

        # the fleet follows the live feed: a heartbeat puts the gateway online without a reload
        fleet = app.section
        assert isinstance(fleet, FleetSection)
        await page.until(lambda: fleet.fleet.live_status().state == "live")
        assert "实时" in texts_in(app.holder) and fleet.fleet.counts.online == 0
        await hub_for(settings).publish(world.a.enterprise.id, {
            "type": "status", "enterprise_id": world.a.enterprise.id, "site_id": world.a.site.id,
            "device_id": terminal.device_id, "state": "online", "ts": int(dt.datetime.now(dt.UTC).timestamp() * 1000),
            "buffer_depth": 7,
        })  # fmt: skip
        await page.until(lambda: fleet.fleet.counts.online == 1)
        assert "在线" in texts_in(app.holder) and fleet.fleet.total_backlog == 7

        # suspend: reason, then the code the platform asks for (the sign-in's confirmation is dropped)
        await LoginSession.filter(user_id=world.users["a-device-admin"].id).update(step_up_at=None)
        device = next(d for d in fleet.fleet.devices if d.id == terminal.device_id)
        open_control_dialog(app.ui, app.console, device, "suspend", fleet._controlled)
        dialog = app.ui.dialog
        assert dialog is not None and page.dialogs == [dialog]
        type_into(field(dialog.content, "原因（记入审计日志）"), "meter cabinet opened")
        await click(button(dialog.actions, "停用"))
        assert shown_dialog(app) is dialog and "请输入动态验证码" in texts_in(dialog.content)
        type_into(field(dialog.content, "动态验证码"), totp_code(world.secrets["a-device-admin"], 1))
        await click(button(dialog.actions, "停用"))
        assert shown_dialog(app) is None and page.dialogs == []
        assert fleet.notice == "BF1 gateway 现在的状态：已停用"
        assert next(d for d in fleet.fleet.devices if d.id == terminal.device_id).state == "suspended"

        # an enrolment token for the spare: issued as the dialog opens, with its QR code
        spare_device = next(d for d in fleet.fleet.devices if d.id == spare["id"])
        open_token_dialog(app.ui, app.console, spare_device, fleet.fleet.refresh)
        await page.settle()
        dialog = app.ui.dialog
        assert dialog is not None
        images = [c for c in controls_in(dialog.content) if isinstance(c, ft.Image)]
        assert len(images) == 1 and isinstance(images[0].src, bytes) and images[0].src.startswith(b"\x89PNG")
        assert any(t.startswith("cem_enr_") for t in texts_in(dialog.content))
        await click(button(dialog.actions, "关闭"))
        assert shown_dialog(app) is None

        app.switch_language("en")
        assert {"Fleet", "Sign out", "Suspended"} <= set(
            texts_in(app.holder)
        ) and page.title == "Carbon management console"
        await click(next(c for c in controls_in(app.holder) if isinstance(c, ft.TextButton)))  # sign out
        assert not signed_in(app) and "Sign in" in texts_in(app.holder)
        assert fleet.fleet.live_status().state == "off"  # the live feed ended with the section


async def test_accounting_flows_library_change_lineage_ledger_and_report(
    world: World,
    base_url: str,  # noqa: F811
) -> None:
    async with ConsoleApi(base_url) as api:
        await login(api, world, "a-accountant")
        await small_example(api, world)
    session = await session_of(base_url, world, "a-accountant")
    await LoginSession.filter(user_id=world.users["a-accountant"].id).update(step_up_at=None)
    page = StubPage()
    async with ConsoleApi(base_url) as api:
        app = ConsoleApp(cast(ft.Page, page), api, Translator("zh-CN"), start_section="library")
        await app.resume(session)
        assert app.signed_in and app.section_name == "library"

        # a change of coke's NCV: reason, value, source, the code; a new version with its diff
        library = app.section
        assert isinstance(library, LibrarySection)
        library._propose(library.library.parameter("fuel.coke.ncv"))
        dialog = app.ui.dialog
        assert dialog is not None
        type_into(field(dialog.content, "修改原因"), "lab report 2026-01")
        type_into(field(dialog.content, "数值"), "28.500")
        type_into(field(dialog.content, "出处"), "lab report 2026-01 No. 3")
        await click(button(dialog.actions, "提交"))
        assert shown_dialog(app) is dialog  # the platform asks for the code
        type_into(field(dialog.content, "动态验证码"), totp_code(world.secrets["a-accountant"], 1))
        await click(button(dialog.actions, "提交"))
        assert shown_dialog(app) is None and library.notice == "已生成 GB/T 32151.5-2015 第 2 版"
        shown = texts_in(app.holder)
        assert {"第 2 版的变更", "焦炭 低位发热量", "28.447 GJ/t", "28.500 GJ/t", "修改"} <= set(shown)

        # emissions: a row opens its lineage, a source its inputs and parameters, back to the periods
        await app.show("emissions", {"start": "2024-03", "end": "2024-04"})
        emissions = app.section
        assert isinstance(emissions, EmissionsSection)
        [march] = emissions.explorer.rows
        await emissions._drill_handler(march.result_id)()
        emissions._source_handler("COKE")()
        shown = texts_in(app.holder)
        assert "核算依据：2024-03" in shown and "FC * NCV * CC * OF * 44 / 12" in " ".join(shown)
        await click(button(app.holder, "返回"))
        assert emissions.explorer.source_code is None and emissions.explorer.lineage is not None

        # ledger: the picked file is checked row by row, then the valid rows are imported
        async def pick(extensions: Sequence[str] = ()) -> tuple[str, bytes]:
            assert tuple(extensions) == ("xlsx", "csv")
            return "april.csv", ledger_csv.encode("utf-8-sig")

        ledger_csv = LEDGER_HEADER + "COKE,FC,2024-04-01,2024-04-30,900,t,台账\nNOPE,FC,2024-04-01,2024-04-30,x,t,\n"
        app.ui.pick_file = pick  # type: ignore[method-assign]
        await app.show("ledger")
        await click(button(app.holder, "选择台账文件（XLSX/CSV）"))
        shown = texts_in(app.holder)
        assert "april.csv：共 2 行，有效 1 行，有误 1 行" in shown and "待确认" in shown
        # each problem in the accountant's words, not the platform's English sentence
        assert any(t.startswith("未知排放源 NOPE：没有哪个数据来源为导入的排放源使用这个编码。") for t in shown)
        assert (
            "数值“x”不是十进制数：请只写数字，可带小数点“.”和千位分隔符“,”，如 1234.5 或 1,234.5；单位填在单位列。"
            in shown
        )
        assert not any("Unknown source" in t or "is not a decimal number" in t for t in shown)
        app.switch_language("en")
        assert any(
            t.startswith("Unknown source NOPE: no source with this code accepts imported data.")
            for t in texts_in(app.holder)
        )
        app.switch_language("zh-CN")
        await click(button(app.holder, "导入 1 个有效行"))
        assert "已导入" in texts_in(app.holder)

        # the annual report: generated and offered as a download
        saved: list[tuple[str, bytes]] = []

        async def save(filename: str, content: bytes) -> None:
            saved.append((filename, content))

        app.ui.save_file = save  # type: ignore[method-assign]
        await app.show("report")
        type_into(field(app.holder, "年份"), "2024")
        await click(button(app.holder, "生成报告"))
        assert [name for name, _ in saved] == ["ghg-report-ENTA-2024.xlsx"] and saved[0][1].startswith(b"PK")
        assert "ghg-report-ENTA-2024.xlsx" in texts_in(app.holder)


async def test_every_section_draws_in_both_languages(world: World, base_url: str) -> None:  # noqa: F811
    session = await session_of(base_url, world, "a-admin")
    page = StubPage()
    async with ConsoleApi(base_url) as api:
        app = ConsoleApp(cast(ft.Page, page), api, Translator("zh-CN"))
        await app.resume(session)
        assert app.console.sections() == list(SECTION_VIEWS)
        for locale in ("zh-CN", "en"):
            app.switch_language(locale)
            for name in SECTION_VIEWS:
                await app.show(name)
                shown = texts_in(app.holder)
                title = app.t(f"console.section.{name}")
                assert shown.count(title) >= 2, (locale, name)  # in the rail and as the heading
                assert not any(t.startswith("console.") for t in shown), (locale, name)  # every string translated


async def test_point_picker_scopes_and_date_pickers(world: World, base_url: str) -> None:  # noqa: F811
    """The source form's point picker, a user's sites, and dates picked from the calendar."""
    await SiteRow.create(enterprise_id=world.a.enterprise.id, code="ENTA-S2", name="轧钢厂")
    session = await session_of(base_url, world, "a-admin")
    page = StubPage()
    async with ConsoleApi(base_url) as api:
        app = ConsoleApp(cast(ft.Page, page), api, Translator("zh-CN"), start_section="inventory")
        await app.resume(session)
        inventory = app.section
        assert isinstance(inventory, InventorySection)

        # a coke source measured by the blast furnace's meter: found by name, added, shown with its unit
        inventory._new()
        form = inventory.inventory.form
        dialog = app.ui.dialog
        assert form is not None and dialog is not None
        origin = next(c for c in controls_in(dialog.content) if isinstance(c, ft.Dropdown) and c.label == "数据来源")
        origin.value = "meter"
        await click_select(origin)
        assert form.inputs["FC"].origin == "meter" and "查找计量点" in texts_in(dialog.content)
        type_into(field(dialog.content, "查找计量点"), "焦炭")
        await click(button(dialog.content, "搜索"))
        assert "ENTA.BF1.COKE 入炉焦炭" in texts_in(dialog.content)
        await click(button(dialog.content, "加"))
        assert form.inputs["FC"].points == [(world.a.point.id, 1)] and "单位 t" in texts_in(dialog.content)
        type_into(field(dialog.content, "编码"), "BF1.COKE")
        type_into(field(dialog.content, "名称"), "1#高炉焦炭")
        form.item, form.process_id = "coke", world.a.process.id
        await click(button(dialog.actions, "保存"))
        assert shown_dialog(app) is None and inventory.inventory.created is not None
        assert inventory.inventory.created.inputs["FC"]["points"] == [{"id": world.a.point.id, "sign": 1}]

        # a crew member of one site: the whole enterprise unticked, the rolling mill ticked
        await app.show("users", {"edit": "a-crew"})
        users = app.section
        assert isinstance(users, UsersSection) and users.users.edit_form is not None
        dialog = app.ui.dialog
        assert dialog is not None
        boxes = {c.label: c for c in controls_in(dialog.content) if isinstance(c, ft.Checkbox)}
        assert {"甲钢铁（整个企业）", "轧钢厂", "甲钢铁 works"} <= set(boxes) and boxes["甲钢铁（整个企业）"].value
        tick(boxes["轧钢厂"], True)
        edit = users.users.edit_form
        assert [(s.enterprise_id, s.site_id) for s in edit.scopes] == [(world.a.enterprise.id, users.users.sites[1].id)]
        type_into(field(dialog.content, "动态验证码"), totp_code(world.secrets["a-admin"], 1))
        await click(button(dialog.actions, "保存"))
        assert shown_dialog(app) is None and "甲钢铁 / 轧钢厂" in texts_in(app.holder)

        # activity data: the month picked from the calendar, typed days given up
        await app.show("activity")
        activity = app.section
        assert isinstance(activity, ActivitySection)
        type_into(field(app.holder, "起始日"), "2024-03-01")
        month = field(app.holder, "月份（YYYY-MM）")
        assert isinstance(month.suffix_icon, ft.IconButton)
        await click(month.suffix_icon)
        [picker] = [d for d in page.dialogs if isinstance(d, ft.DatePicker)]
        picker.value = dt.datetime(2024, 3, 9)  # noqa: DTZ001 - a calendar day, as the picker reports it
        assert callable(picker.on_change)
        picker.on_change()  # type: ignore[call-arg]
        assert (activity.entry.form.month, activity.entry.form.first_day) == ("2024-03", None)
        assert field(app.holder, "月份（YYYY-MM）").value == "2024-03" and field(app.holder, "起始日").value == ""
        app.leave()


def tick(box: ft.Checkbox, value: bool) -> None:
    """Tick or untick a check box as the browser would report it."""
    box.value = value
    assert callable(box.on_change)
    box.on_change()  # type: ignore[call-arg]


async def click_select(control: ft.Dropdown) -> None:
    """Report the dropdown's value as chosen."""
    assert callable(control.on_select)
    result = control.on_select()  # type: ignore[call-arg]
    if inspect.isawaitable(result):
        await result


RAW_IDENTIFIER = re.compile(
    r"\b[a-z]+_[a-z_]+\b|\b[a-z]+\.[a-z_]+\.[a-z_]+\b|10\^4|library v\d|[a-z]+#\d|Seeded|provisional:|system \(seed\)"
    r"|\bcalculated\b|GHG-STEEL|^(FC|AD|NCV|CC|OF|EF|purchased|exported)$|\.(FC|AD|purchased|exported)\b"
)
ENGLISH_SENTENCE = re.compile(r"[A-Za-z]{3,} [A-Za-z]{3,} [A-Za-z]{3,}")


async def test_accounting_screens_name_things_in_both_languages(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,
) -> None:
    """Inventory, factor library with provenance, activity entry, emissions and a lineage: names, units and
    reasons in the screen's language, amounts rounded, no code of the platform's and no development note."""
    async with ConsoleApi(base_url) as api:
        await login(api, world, "a-accountant")
        await small_example(api, world)
    march = {"start": "2024-03", "end": "2024-04"}
    screens = {
        "inventory": ({}, {"zh-CN": ["焦炭", "消耗量：手工录入 · t"], "en": ["Coke", "Consumption: Manual entry · t"]}),
        "library": (
            {"search": "coke"},  # the filter takes codes (and names)
            {
                "zh-CN": ["焦炭 低位发热量", "GB/T 32151.5-2015 附录B 表B.1", "核算公式 · 第 1 版", "熔剂消耗排放"],
                "en": [
                    "Coke net calorific value",
                    "GB/T 32151.5-2015 Annex B, Table B.1",
                    "Accounting formulas · Version 1",
                    "Flux consumption",
                ],
            },
        ),
        "activity": ({}, {"zh-CN": ["消耗量", "1,000"], "en": ["Consumption", "1,000"]}),
        "emissions": (march, {"zh-CN": ["286.16", "1,000.00"], "en": ["286.16", "1,000.00"]}),
        "lineage": (
            march | {"drill": "first", "source": "COKE"},
            {
                "zh-CN": ["焦炭 低位发热量", "燃料燃烧（按质量）", "输入变化后重算（活动数据、排放源变更）"],
                "en": ["Coke net calorific value", "Fuel combustion (by mass)", "Recalculated after input changes"],
            },
        ),
    }
    for locale in ("zh-CN", "en"):
        for name, (options, expected) in screens.items():
            section = "emissions" if name == "lineage" else name
            shot = await show(
                browser, base_url, f"accounting-{name}-{locale[:2]}", expected[locale],
                session=await session_of(base_url, world, "a-accountant"), section=section, options=options,
                locale=locale,
            )  # fmt: skip
            raw = [t for t in shot.texts if RAW_IDENTIFIER.search(t) and " * " not in t]  # formulas use symbols
            assert not raw, (name, locale, raw)
            if locale == "zh-CN":
                english = [t for t in shot.texts if ENGLISH_SENTENCE.search(t)]
                assert not english, (name, english)
            if name == "library":
                pending = "待核实" if locale == "zh-CN" else "Awaiting confirmation"
                assert any(pending in t for t in shot.texts), shot.texts


async def transfer_example(api: ConsoleApi, world: World) -> int:
    """The coke ovens' gas generation line and the hot stoves' unmetered share of its balance (0.4); the coking
    process's id."""
    coking = await ProcessRow.create(
        site=world.a.site, process_type=await ProcessType.get(code="coking"), code="CK", name="炼焦"
    )
    gas = {"FC": {"origin": "manual", "unit": "10^4 Nm3"}}
    await api.create_source(
        world.a.enterprise.id, code="CK.COG.MADE", name="焦炉煤气发生量", category="fuel_combustion",
        item="coke_oven_gas", inputs=gas, process_id=coking.id, direction="made",
    )  # fmt: skip
    await api.create_source(
        world.a.enterprise.id, code="IR.COG", name="热风炉富化焦炉煤气", category="fuel_combustion",
        item="coke_oven_gas", process_id=world.a.process.id, direction="transfer", from_process_id=coking.id,
        inputs={"FC": {"origin": "balance", "unit": "10^4 Nm3", "share": "0.4"}},
    )  # fmt: skip
    return coking.id


async def test_a_transfer_with_a_balance_input_through_the_form(world: World, base_url: str) -> None:  # noqa: F811
    """Direction transfer offers the maker; with a maker an input may come from its balance, with a share."""
    async with ConsoleApi(base_url) as api:
        await login(api, world, "a-accountant")
        coking = await transfer_example(api, world)
    session = await session_of(base_url, world, "a-accountant")
    async with ConsoleApi(base_url) as api:
        app = ConsoleApp(cast(ft.Page, StubPage()), api, Translator("zh-CN"), start_section="inventory")
        await app.resume(session)
        inventory = app.section
        assert isinstance(inventory, InventorySection)
        shown = texts_in(app.holder)
        assert "转自 炼焦（CK）" in shown and "产出（发生量）" in shown
        assert "消耗量：按平衡 40% · 万Nm3" in shown, shown

        inventory._new()
        form, dialog = inventory.inventory.form, app.ui.dialog
        assert form is not None and dialog is not None

        def choice(caption: str) -> ft.Dropdown:
            return next(c for c in controls_in(dialog.content) if isinstance(c, ft.Dropdown) and c.label == caption)

        assert "产出工序" not in texts_in(dialog.content)
        assert "balance" not in [o.key for o in choice("数据来源").options or []]
        process = choice("工序")
        process.value = str(world.a.process.id)
        await click_select(process)
        direction = choice("流向")
        assert [o.text for o in direction.options or []] == ["本工序消耗", "外售/外供", "工序间转入", "产出（发生量）"]
        direction.value = "transfer"
        await click_select(direction)
        maker = choice("产出工序")
        assert [o.text for o in maker.options or []] == ["企业级（如电网关口）", "CK 炼焦"]  # not its own process
        assert "balance" not in [o.key for o in choice("数据来源").options or []]  # the enterprise level has none
        maker.value = str(coking)
        await click_select(maker)
        origin = choice("数据来源")
        origin.value = "balance"
        await click_select(origin)
        type_into(field(dialog.content, "平衡份额"), "0.6")
        type_into(field(dialog.content, "编码"), "SN.COG")
        type_into(field(dialog.content, "名称"), "烧结点火焦炉煤气")
        form.item, form.inputs["FC"].unit = "coke_oven_gas", "10^4 Nm3"
        await click(button(dialog.actions, "保存"))
        assert shown_dialog(app) is None, form.errors or form.message
        created = inventory.inventory.created
        assert created is not None and (created.direction, created.from_process_id) == ("transfer", coking)
        assert created.inputs["FC"] == {"origin": "balance", "unit": "10^4 Nm3", "share": "0.6"}

        # a third user would take more than what is left: refused in the form, the share field keeps its value
        inventory._new()
        form, dialog = inventory.inventory.form, app.ui.dialog
        assert form is not None and dialog is not None
        form.code, form.name, form.item, form.process_id = "X.COG", "X", "coke_oven_gas", world.a.process.id
        form.direction, form.from_process_id = "transfer", coking
        form.inputs["FC"].origin, form.inputs["FC"].share = "balance", "0.1"
        app.ui.refresh()
        await click(button(dialog.actions, "保存"))
        assert "合计将为 1.1，不能超过 1" in " ".join(texts_in(dialog.content)), texts_in(dialog.content)
        assert field(dialog.content, "平衡份额").value == "0.1"
        app.leave()


async def test_transfers_and_balance_inputs_in_the_browser(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,
) -> None:
    """The inventory names a transfer's maker and a balance input's share, and the form its direction, maker and
    share field, in Chinese and in English."""
    async with ConsoleApi(base_url) as api:
        await login(api, world, "a-accountant")
        await transfer_example(api, world)
    lists = {
        "zh-CN": ["转自 炼焦（CK）", "按平衡 40%", "产出（发生量）", "流向"],
        "en": ["from CK (炼焦)", "balance 40 %", "Made (generation line)", "Direction"],
    }
    forms = {  # a dropdown's choice is no text of the page's (the screenshots show direction, maker and origin)
        "zh-CN": ["新增排放源", "消耗量", "平衡份额"],
        "en": ["New source", "Consumption", "Balance share"],
    }
    opened = {"new": "fuel_combustion", "direction": "transfer", "process": "IR", "from": "CK", "balance": "FC"}
    refused = {  # a share above 1, and no code
        "zh-CN": ("名称", "平衡份额", "保存", "份额为大于 0、不超过 1 的小数，如 0.25", "请输入排放源编码"),
        "en": ("Name", "Balance share", "Save", "A share above 0 and at most 1, e.g. 0.25", "Enter the source's code"),
    }
    for locale in ("zh-CN", "en"):
        shot = await show(
            browser, base_url, f"inventory-transfers-{locale[:2]}", lists[locale],
            session=await session_of(base_url, world, "a-accountant"), section="inventory", locale=locale,
        )  # fmt: skip
        raw = [t for t in shot.texts if RAW_IDENTIFIER.search(t)]
        assert not raw, (locale, raw)
        await show(
            browser, base_url, f"inventory-transfer-form-{locale[:2]}", forms[locale],
            session=await session_of(base_url, world, "a-accountant"), section="inventory", options=opened,
            locale=locale,
        )  # fmt: skip
        served = ui_serve.serve_app(
            console_main(
                base_url, locale=locale, session=await session_of(base_url, world, "a-accountant"),
                start_section="inventory", start_options=opened | {"item": "coke_oven_gas"},
            ),
            name=f"console-transfer-refused-{locale}",
        )  # fmt: skip
        try:
            picture = SCREENSHOTS / f"inventory-transfer-refused-{locale[:2]}-1440x900.png"
            await asyncio.to_thread(refuse_a_share, browser, served.url, refused[locale], picture)
        finally:
            served.stop()


def refuse_a_share(browser: Browser, url: str, texts: tuple[str, ...], shot: Path) -> None:
    """Fill the opened source form's name and a balance share of 1.5, save, wait for the refusals (the share, the
    code left out), take ``shot``."""
    name, share, save, *problems = texts
    with browser.session(url, viewport=VIEWPORT) as page:
        page.wait_for([share])
        page.fill(name, "SN ignition")
        page.fill(share, "1.5")
        page.click(save, exact=True)
        page.wait_for(problems)
        page.screenshot(shot)
