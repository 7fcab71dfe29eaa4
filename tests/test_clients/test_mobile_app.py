"""The crews' mobile app in headless Chromium at a phone's size (390x844) against a served platform.

A crew member logs in with a password, finds an alarm in the inbox, acknowledges it with a note (the platform then
has it acknowledged), loses the connection, clears another alarm (kept on the phone, the banner says so, and it is
sent once the connection is back). A device administrator logs in with the authenticator code, finds a registered
device, opens it and issues an enrolment token. An accountant's 人工采集 form shows its fields, checks them and
sends a reading.

The platform is reached through a proxy the test can cut (:class:`Cuttable`). Screenshots are saved under
``build/screenshots/mobile/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import segno

from cem_clients.api import ApiClient
from cem_clients.mobile.app import mobile_main, user_dir
from cem_clients.mobile.app_entry import CONFIG_FILE, data_dir, platform_url
from cem_clients.ui import serve as ui_serve
from cem_platform.alarms.models import Alarm, AlarmKind, Severity
from cem_platform.alarms.services import AlarmService
from cem_platform.identity.services import IdentityService
from cem_platform.telemetry.store import Row, dt_to_ms, store_for
from tests.test_clients.browser import _ENABLE_SEMANTICS_JS, VIEWPORTS, Browser, Session
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_platform.world import PASSWORD, World, totp_code
from tests.test_registry.fleet import enrolled_terminal, register
from tests.test_timeseries.helpers import write

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots" / "mobile"
PHONE = VIEWPORTS["mobile"]
SOURCES = "/api/v1/accounting/sources"


class Cuttable:
    """A TCP proxy to the platform whose connection the test can cut (refused, open ones closed) and restore."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target_host, self.target_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as chromium:
        yield chromium


@pytest.fixture
async def proxy(base_url: str) -> AsyncIterator[Cuttable]:  # noqa: F811
    link = Cuttable(base_url)
    await link.start()
    yield link
    await link.cut()


@contextlib.contextmanager
def served(platform_url: str, data_dir: Path, name: str, *, refresh_s: float = 5.0) -> Iterator[str]:
    app = ui_serve.serve_app(
        mobile_main(platform_url, data_dir=data_dir, tick_s=0.5, refresh_s=refresh_s, backoff=0.5), name=name
    )
    try:
        yield app.url
    finally:
        app.stop()


def log_in(s: Session, username: str, totp: str | None = None, *, shot: str | None = None, keep: bool = False) -> None:
    s.wait_for(["碳排放现场助手", "用户名", "密码", "保持登录"])
    s.fill("用户名", username)
    s.fill("密码", PASSWORD)
    if keep:
        s.click("保持登录")
        s.wait_for(["不保存密码"])
    if shot:
        s.screenshot(SCREENSHOTS / f"{shot}.png")
    s.click("登录", exact=True)
    if totp is not None:
        s.wait_for(["动态验证码", "请输入身份验证器应用中的6位数字"])
        if shot:
            s.screenshot(SCREENSHOTS / f"{shot}-totp.png")
        s.fill("动态验证码", totp)
        s.click("登录", exact=True)


async def test_crew_acknowledges_an_alarm_then_clears_one_offline(
    world: World, proxy: Cuttable, browser: Browser, tmp_path: Path
) -> None:
    coke, gateway = await plc_outage_and_coke_gap(world)
    note = "已派人检查焦炭皮带秤"
    data_dir = tmp_path / "mobile"

    with served(proxy.url, data_dir, "crew") as url, browser.session(url, viewport=PHONE) as s:

        def inbox_and_acknowledge() -> list[str]:
            log_in(s, "a-crew", shot="login")
            texts = s.wait_for(["告警", "设备", "计量点无数据", "PLC 通信中断", "紧急 1", "严重 1", "全部 2"])
            s.screenshot(SCREENSHOTS / "inbox.png")
            s.click("计量点无数据")
            s.wait_for(["告警详情", "处理记录", "入炉焦炭（1#高炉）", "先检查", "发生时间"])
            s.fill("备注", note)
            s.click("确认", exact=True)
            s.wait_for(["告警已确认", "已确认"])
            s.screenshot(SCREENSHOTS / "alarm-detail.png")
            return texts

        texts = await asyncio.to_thread(inbox_and_acknowledge)
        assert any("人工采集" in t for t in texts)  # crews enter field readings (activity.enter)
        async with ApiClient(proxy.url) as api:
            await api.login("a-crew", PASSWORD)
            acknowledged = await api.alarm(coke.id)
        assert (acknowledged.state, acknowledged.acknowledged_by, acknowledged.ack_note) == (
            "acknowledged", "a-crew", note,
        )  # fmt: skip
        assert [e.action for e in acknowledged.events] == ["raised", "acknowledged"]

        await proxy.cut()  # the phone loses the network

        def clear_offline() -> None:
            s.click("返回告警列表")
            s.click("PLC 通信中断")
            s.wait_for(["告警详情", "炼铁 PLC，1#高炉网关", "受影响的计量点（2）"])
            s.click("清除", exact=True)  # no note: refused on the phone
            s.wait_for(["清除告警必须填写备注：做了什么"])
            s.fill("备注", "交换机已重启")
            s.click("清除", exact=True)
            s.wait_for(["已保存在手机上，联网后自动发送", "离线：自", "1 项操作待发送", "清除待发送"])
            s.screenshot(SCREENSHOTS / "offline.png")
            s.click("1 项操作待发送")  # the banner opens what waits
            s.wait_for(
                ["待发送操作", "清除告警", "PLC 通信中断 · 炼铁 PLC，1#高炉网关", "平台暂时连不上，恢复后自动重发"]
            )
            s.screenshot(SCREENSHOTS / "outbox.png")
            s.click("返回", exact=True)  # the app bar's arrow (first on the page): the outbox's view pops
            s.wait_for(["告警详情", "清除待发送"])  # the alarm's view under it, as it was

        await asyncio.to_thread(clear_offline)
        stored = json.loads((user_dir(data_dir, "a-crew") / "outbox.json").read_text())
        assert [(i["kind"], i["payload"]) for i in stored["pending"]] == [
            ("clear", {"alarm_id": gateway.id, "note": "交换机已重启"})
        ]

        await proxy.start()  # the network is back: the ticker sends what waits

        def back_online() -> None:
            s.wait_gone("待发送", timeout=30)
            s.click("返回告警列表")
            s.wait_gone("PLC 通信中断")

        await asyncio.to_thread(back_online)
        async with ApiClient(proxy.url) as api:
            await api.login("a-crew", PASSWORD)
            cleared = await api.alarm(gateway.id)
        assert (cleared.state, cleared.cleared_by, cleared.clear_note) == ("cleared", "a-crew", "交换机已重启")
        assert json.loads((user_dir(data_dir, "a-crew") / "outbox.json").read_text())["pending"] == []

        def english() -> None:
            s.click("菜单")
            s.click("English", exact=True)
            s.wait_for(["Alarms", "Devices", "Meter sends no data", "Major 1"])
            s.screenshot(SCREENSHOTS / "inbox-en.png")

        await asyncio.to_thread(english)


async def test_alarms_in_the_plants_words_in_both_languages(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,
    tmp_path: Path,
) -> None:
    """A PLC outage (with the meters it leaves without data), a data gap and a completeness alarm (under its
    threshold): names and local times on the face of the inbox and the detail, ids and error strings one tap away."""
    await plc_outage_and_coke_gap(world)
    now = dt.datetime.now(dt.UTC)
    await AlarmService(world.settings).raise_alarm(
        world.a.enterprise.id, AlarmKind.DATA_COMPLETENESS, Severity.WARNING, "point", "903",
        "IR.903 鼓风湿度: 41 of 60 readings (68.3 %) in the hour from 2026-12-07 02:00 UTC, under 90 %",
        {"hour": (now - dt.timedelta(hours=1)).isoformat(), "readings": 41, "expected": 60, "percent": 68.3,
         "threshold_percent": 90},
        at=now - dt.timedelta(minutes=50), names={"point": "鼓风湿度", "facility": "1#高炉", "process": "炼铁"},
    )  # fmt: skip
    raw = ("gw-bf1", "iron-plc", "meter_comm", "UTC", "Errno", "IR.903", world.a.point.code)
    by_id = re.compile(r"(计量点|设备|Point|Device) [0-9a-z]")  # how the screens named things before

    with served(base_url, tmp_path / "mobile", "crew-words") as url, browser.session(url, viewport=PHONE) as s:

        def look() -> dict[str, list[str]]:
            seen: dict[str, list[str]] = {}
            log_in(s, "a-crew")
            seen["inbox"] = s.wait_for(["PLC 通信中断", "炼铁 PLC，1#高炉网关", "影响 2 个计量点", "计量点无数据",
                                        "数据不完整", "紧急 1", "严重 1", "警告 1", "提示 0", "全部 3"])  # fmt: skip
            s.screenshot(SCREENSHOTS / "alarms-inbox-zh.png")
            s.click("PLC 通信中断")
            seen["detail"] = s.wait_for(
                ["告警详情", "1#高炉网关自", "起连不上炼铁 PLC", "先检查", "受影响的计量点（2）",
                 "热风炉煤气流量（1#热风炉）", "鼓风流量（1#高炉）", "查看技术信息"]
            )  # fmt: skip
            s.screenshot(SCREENSHOTS / "alarms-detail-zh.png")
            s.click("查看技术信息")
            s.wait_for(["收起技术信息", "iron-plc: refused", "meter_comm:gw-bf1:gw:iron-plc"])
            s.screenshot(SCREENSHOTS / "alarms-detail-technical-zh.png")
            s.click("返回告警列表")
            s.click("菜单")
            s.click("English", exact=True)
            seen["inbox-en"] = s.wait_for(
                ["PLC not answering", "Ironmaking PLC, 1#高炉网关", "Affects 2 meters", "Meter sends no data",
                 "Incomplete data", "Critical 1", "All 3"]
            )  # fmt: skip
            s.screenshot(SCREENSHOTS / "alarms-inbox-en.png")
            s.click("Incomplete data")
            seen["detail-en"] = s.wait_for(["鼓风湿度 (1#高炉) delivered 41 of 60 readings", "68.3%, under 90%",
                                            "Check first", "Show technical detail"])  # fmt: skip
            s.screenshot(SCREENSHOTS / "alarms-detail-en.png")
            return seen

        seen = await asyncio.to_thread(look)
    for screen_name, texts in seen.items():
        shown = "\n".join(texts)
        assert not [r for r in raw if r in shown], (screen_name, [r for r in raw if r in shown])
        assert not by_id.search(shown), (screen_name, shown)


async def test_device_admin_logs_in_with_totp_finds_a_device_and_enrols_a_terminal(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,
    tmp_path: Path,
) -> None:
    admin = await world.login("a-admin")
    terminal = await enrolled_terminal(
        world, admin, site_id=world.a.site.id, facility_id=world.a.facility.id, name="1#高炉 采集网关"
    )
    await register(world, admin, serial="HX-MOBILE-0002", name="烧结 备用网关")  # registered, not enrolled
    reading_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    await write(store_for(), [Row(point_id=world.a.point.id, ts=dt_to_ms(reading_at), value=1234.5, delta=0.5)])
    code = totp_code(world.secrets["a-device-admin"], 0)
    nameplate, blank = tmp_path / "nameplate.png", tmp_path / "blank.png"
    segno.make('{"serial": "HX-MOB-0200", "model": "CEM-GW2"}').save(str(nameplate), kind="png", scale=8, border=4)
    segno.make("x").save(str(blank), kind="png", scale=1, border=40, dark="#fff")

    with served(base_url, tmp_path / "mobile", "device-admin") as url, browser.session(url, viewport=PHONE) as s:

        def devices_and_enrolment() -> list[str]:
            log_in(s, "a-device-admin", code)
            s.wait_for(["告警", "设备", "注册终端"])
            s.click("设备", exact=True)
            s.wait_for(["1#高炉 采集网关", "烧结 备用网关", "已登记", "离线", "0/2 台在线", "证书 19 天后到期"])
            s.screenshot(SCREENSHOTS / "devices.png")
            s.fill("搜索设备", "nothing-like-it")
            s.wait_for(["没有匹配的设备"])
            s.fill("搜索设备", "高炉")
            s.click("1#高炉 采集网关")
            detail = s.wait_for(
                ["设备详情", "缓存深度", "未知（无心跳）", "证书", "有效", "实时数据", "ENTA.BF1.COKE", "1,234.5 t"]
            )
            s.screenshot(SCREENSHOTS / "device-detail.png")
            s.click("返回设备列表")  # the detail is a view over the tabs: back to them first
            s.wait_gone("设备详情")
            s.click("注册终端", exact=True)
            s.wait_for(["序列号", "签发令牌", "扫码填写序列号"])
            choose_photo(s, "扫码填写序列号", blank)
            s.wait_for(["照片中没有找到二维码"])
            choose_photo(s, "扫码填写序列号", nameplate)  # the serial from the nameplate's QR code
            s.wait_gone("照片中没有找到二维码")
            assert s.field_value("序列号") == "HX-MOB-0200"
            s.fill("名称", "2#高炉 采集网关")
            s.click("签发令牌")
            s.wait_for(["令牌只显示这一次", "HX-MOB-0200", "注册令牌", "注册二维码", "在终端上运行"])
            s.screenshot(SCREENSHOTS / "enrolment.png")
            token, command = s.field_value("注册令牌"), s.field_value("在终端上运行")
            assert command.startswith("cem gateway enroll --server ") and token and token in command, (token, command)
            return detail

        detail = await asyncio.to_thread(devices_and_enrolment)
        assert terminal.device_id in "\n".join(detail)
    response = await world.client.get("/api/v1/registry/devices", headers=admin, params={"q": "HX-MOB-0200"})
    devices = response.json()["items"] if isinstance(response.json(), dict) else response.json()
    assert [(d["serial"], d["name"], d["site_id"], d["state"]) for d in devices] == [
        ("HX-MOB-0200", "2#高炉 采集网关", world.a.site.id, "registered")
    ]


async def test_accountant_enters_a_manual_reading(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,
    tmp_path: Path,
) -> None:
    headers = await world.login("a-accountant")
    body = {"enterprise_id": world.a.enterprise.id, "code": "LIMESTONE", "name": "石灰石", "category": "flux",
            "item": "limestone", "process_id": world.a.process.id,
            "inputs": {"AD": {"origin": "manual", "unit": "t"}}}  # fmt: skip
    response = await world.client.post(SOURCES, headers=headers, json=body)
    assert response.status_code == 201, response.text
    source_id = response.json()["id"]
    code = totp_code(world.secrets["a-accountant"], 1)  # the step of world.login() is used up

    with served(base_url, tmp_path / "mobile", "accountant") as url, browser.session(url, viewport=PHONE) as s:

        def manual_reading() -> None:
            log_in(s, "a-accountant", code)
            s.wait_for(["告警", "人工采集"])
            s.click("人工采集", exact=True)
            s.wait_for(["排放源与输入项", "时段", "按月", "按日", "月份（YYYY-MM）", "数值", "单位", "估算值", "提交"])
            s.screenshot(SCREENSHOTS / "manual-reading.png")
            s.click("提交", exact=True)  # nothing chosen: said per field
            s.wait_for(["请选择排放源与输入项", "请更正标出的字段"])
            s.click("排放源与输入项")
            s.click("LIMESTONE 石灰石 · 活动量 (t)")
            s.fill("月份（YYYY-MM）", "2025-05")
            s.fill("数值", "12,000.5")
            s.click("提交", exact=True)
            s.wait_for(["数字不要用千位分隔符，小数用小数点：12000.5"])
            s.screenshot(SCREENSHOTS / "manual-reading-errors.png")
            s.fill("数值", "12000.5")
            s.click("提交", exact=True)
            s.wait_for(["已提交到平台", "最近提交：12,000.5 t"])

        await asyncio.to_thread(manual_reading)
    params = {"enterprise_id": world.a.enterprise.id, "source_id": source_id}
    response = await world.client.get("/api/v1/accounting/activity", headers=headers, params=params)
    [stored] = response.json()["items"] if isinstance(response.json(), dict) else response.json()
    assert (stored["value"], stored["unit"], stored["origin"], stored["entered_by"]) == (
        "12000.5", "t", "manual", "a-accountant",
    )  # fmt: skip


# Browser steps the Session does not offer (the browser's back button, a reload, the phone's file chooser),
# through its Playwright page.


def browser_back(s: Session) -> None:
    s._run(lambda: s._page.go_back(wait_until="commit"), 15)


def restart(s: Session) -> None:
    """Reload the page: a new session of the app, as after closing and opening it again."""

    def reload() -> None:
        s._page.reload(wait_until="load")
        s._page.wait_for_function("() => !document.getElementById('loading')")
        s._page.wait_for_function(_ENABLE_SEMANTICS_JS)

    s._run(reload, 60)


def local_storage(s: Session) -> str:
    return str(s._run(lambda: s._page.evaluate("() => JSON.stringify(window.localStorage)"), 15))


def choose_photo(s: Session, button: str, photo: Path) -> None:
    """Tap ``button`` and give the file chooser it opens ``photo`` (the phone's camera would take it)."""
    s._run(lambda: s._page.once("filechooser", lambda chooser: chooser.set_files(str(photo))), 5)
    s.click(button)


async def test_crew_sees_pushed_alarms_goes_back_and_stays_logged_in(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,
    tmp_path: Path,
) -> None:
    service = AlarmService(world.settings)
    now = dt.datetime.now(dt.UTC)
    await service.raise_alarm(world.a.enterprise.id, AlarmKind.DATA_GAP, Severity.MAJOR, "point",
                              str(world.a.point.id), "焦炭计量中断", at=now - dt.timedelta(minutes=20),
                              names={"point": "入炉焦炭", "facility": "1#高炉"})  # fmt: skip
    # Lists are reloaded only every 10 minutes here: what shows sooner was pushed.
    with (
        served(base_url, tmp_path / "mobile", "crew-live", refresh_s=600) as url,
        browser.session(url, viewport=PHONE) as s,
    ):

        def logged_in_live() -> None:
            log_in(s, "a-crew", keep=True, shot="login-keep")
            s.wait_for(["计量点无数据", "实时推送", "全部 1"])

        await asyncio.to_thread(logged_in_live)
        at = dt.datetime.now(dt.UTC)
        pushed = await service.raise_alarm(world.a.enterprise.id, AlarmKind.DEVICE_OFFLINE, Severity.CRITICAL,
                                           "device", "gw-live", "gw-live went offline", {"reason": "stopped"},
                                           at=at, names={"device": "2#转炉网关"})  # fmt: skip

        def back_and_forth() -> None:
            s.wait_for(["网关离线", "2#转炉网关", "紧急 1", "全部 2"], timeout=15)
            s.screenshot(SCREENSHOTS / "inbox-live.png")
            s.click("2#转炉网关")
            s.wait_for(["告警详情", "确认是否为计划停机"])
            browser_back(s)  # the browser's (Android's) back: to the list, not out of the app
            s.wait_gone("告警详情")
            s.wait_for(["计量点无数据", "2#转炉网关"])
            s.click("计量点无数据")
            s.wait_for(["告警详情", "入炉焦炭（1#高炉）"])
            s.click("返回", exact=True)  # the app bar's back arrow (its tooltip in Chinese) pops the view (on_view_pop)
            s.wait_gone("告警详情")
            s.wait_for(["计量点无数据", "实时推送"])

        await asyncio.to_thread(back_and_forth)
        await clear_as_admin(world, pushed.id)

        def restarted() -> str:
            s.wait_gone("2#转炉网关", timeout=15)  # cleared elsewhere: pushed too
            kept = local_storage(s)
            restart(s)
            s.wait_for(["计量点无数据", "实时推送"])  # no password asked for
            return kept

        kept = await asyncio.to_thread(restarted)
        assert "rt" in kept and "a-crew" in kept and PASSWORD not in kept

        def log_out() -> str:
            s.click("菜单")
            s.click("退出登录")
            s.wait_for(["用户名", "密码"])
            restart(s)
            s.wait_for(["用户名", "密码", "保持登录"])
            return local_storage(s)

        assert "refresh_token" not in await asyncio.to_thread(log_out)


async def plc_outage_and_coke_gap(world: World) -> tuple[Alarm, Alarm]:
    """A data gap of the coke meter (major, 20 minutes ago) and an iron-making PLC outage (critical, 5 minutes ago)
    listing two meters, as the platform's rules leave them."""
    service = AlarmService(world.settings)
    now = dt.datetime.now(dt.UTC)
    coke = await service.raise_alarm(
        world.a.enterprise.id, AlarmKind.DATA_GAP, Severity.MAJOR, "point", str(world.a.point.id),
        f"{world.a.point.code} 入炉焦炭: no reading since 2026-12-07 02:40 UTC (expected every 60 s)",
        {"point_code": world.a.point.code, "sample_seconds": 60, "gap_intervals": 5,
         "last_reading_at": (now - dt.timedelta(minutes=25)).isoformat()},
        at=now - dt.timedelta(minutes=20), names={"point": "入炉焦炭", "facility": "1#高炉", "process": "炼铁"},
    )  # fmt: skip
    gateway = await service.raise_alarm(
        world.a.enterprise.id, AlarmKind.METER_COMM, Severity.CRITICAL, "device", "gw-bf1",
        "1#高炉网关 (gw-bf1): iron-plc: refused (127.0.0.1:43199: [Errno 111] Connect call failed)",
        {"device_id": "gw-bf1", "connection": "iron-plc", "since": (now - dt.timedelta(minutes=5)).isoformat()},
        "meter_comm:gw-bf1:gw:iron-plc", at=now - dt.timedelta(minutes=5),
        names={"device": "1#高炉网关", "connection": "iron-plc"},
    )  # fmt: skip
    meters = [("热风炉煤气流量", "1#热风炉", 901), ("鼓风流量", "1#高炉", 902)]
    await service.set_consequences(
        gateway.id,
        [{"point_id": pid, "point_code": f"IR.{pid}", "point_name": name, "facility": facility, "process": "炼铁",
          "process_en": "Ironmaking", "alarm_id": None} for name, facility, pid in meters],
        {"process": "炼铁", "process_en": "Ironmaking"},
    )  # fmt: skip
    return coke, gateway


async def clear_as_admin(world: World, alarm_id: int) -> None:
    admin = await IdentityService(world.settings).principal_for_user(world.users["a-admin"])
    await AlarmService(world.settings).clear(admin, alarm_id, "已在调度室处理")


def test_the_packaged_app_finds_its_platform_and_its_storage(tmp_path: Path) -> None:
    assert platform_url(tmp_path, {}) is None  # not configured: the app says so
    (tmp_path / CONFIG_FILE).write_text('{"platform_url": " https://cem.plant.example "}')
    assert platform_url(tmp_path, {}) == "https://cem.plant.example"
    assert platform_url(tmp_path, {"CEM_PLATFORM_URL": "http://10.0.0.5:8000"}) == "http://10.0.0.5:8000"
    (tmp_path / CONFIG_FILE).write_text("{not json")
    assert platform_url(tmp_path, {}) is None
    assert data_dir({"FLET_APP_STORAGE_DATA": "/data/app", "CEM_MOBILE_DATA": "/x"}) == Path("/data/app/cem-mobile")
    assert data_dir({"CEM_MOBILE_DATA": "/x"}) == Path("/x/cem-mobile")
    assert user_dir(tmp_path, "a-crew") == tmp_path / "users" / "a-crew"
    assert user_dir(tmp_path, "../王工").name == "x-" + "../王工".encode().hex()  # never a path outside
