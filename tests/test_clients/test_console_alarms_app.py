"""The console's alarm view and the fleet's health in headless Chromium at 1440x900, in Chinese and English.

Screenshots are saved under ``build/screenshots/console/`` (``alarms-*``, ``fleet-degraded-*``).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import cast

import flet as ft
import openpyxl

from cem_clients.api import Alarm
from cem_clients.console.app import ConsoleApp
from cem_clients.console.app_kit import workbook
from cem_clients.console.model import ConsoleApi
from cem_clients.ui.alarm_text import describe_alarm
from cem_clients.ui.i18n import Translator
from cem_platform.alarms.models import Alarm as AlarmRow
from cem_platform.alarms.models import AlarmKind, Severity
from cem_platform.alarms.rules import ValueConflict, on_value_conflicts
from cem_platform.alarms.services import AlarmService
from cem_platform.settings import Settings
from cem_platform.telemetry.models import DeviceStatus
from cem_registry.models import Device as DeviceRow
from tests.test_clients.browser import Browser
from tests.test_clients.test_api_client import base_url, login  # noqa: F401 - the served platform
from tests.test_clients.test_console_alarms import SHANGHAI, _report
from tests.test_clients.test_console_app import (  # noqa: F401 - Chromium, the console and its stand-in page
    StubPage,
    browser,
    button,
    click,
    controls_in,
    field,
    session_of,
    show,
    shown_dialog,
    texts_in,
    type_into,
)
from tests.test_platform.world import World
from tests.test_registry.fleet import enrolled_terminal

NAMES = {"device": "炼钢厂网关", "device_en": "Steelworks gateway", "process": "轧钢", "process_en": "Rolling mill"}


async def test_alarm_view_and_a_degraded_gateway_in_both_languages(
    settings: Settings,
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    admin = await world.login("a-admin")
    gateway = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="炼钢厂网关")
    now = dt.datetime.now(dt.UTC)
    down_since = (now - dt.timedelta(minutes=5)).replace(microsecond=0)
    await DeviceRow.filter(id=gateway.device_id).update(last_seen_at=now, state="active")
    await DeviceStatus.create(
        device_id=gateway.device_id, enterprise_id=world.a.enterprise.id, state="online", reported_at=now,
        received_at=now, buffer_depth=0, buffer_evicted=0, status=_report(now, {"rolling-plc": down_since}),
    )  # fmt: skip
    service = AlarmService(settings)
    comm = await service.raise_alarm(
        world.a.enterprise.id, AlarmKind.METER_COMM, Severity.CRITICAL, "device", gateway.device_id,
        f"{gateway.device_id}: rolling-plc: refused (127.0.0.1:43199: [Errno 111] Connect call failed)",
        {"source": "gateway", "device_id": gateway.device_id, "connection": "rolling-plc",
         "since": down_since.isoformat()},
        f"meter_comm:{gateway.device_id}:gw:rolling-plc", at=down_since, names=NAMES,
    )  # fmt: skip
    # the outage's consequences: two meters without data, one of them with its own data alarm listed under it
    meters = [
        {
            "point_id": world.a.point.id,
            "point_code": "RL.HSM.ELEC",
            "point_name": "热轧电耗",
            "facility": "热轧产线",
            "process": "轧钢",
            "alarm_id": None,
        },
        {
            "point_id": world.a.point.id + 1000,
            "point_code": "RL.RHF.BFG",
            "point_name": "加热炉高炉煤气",
            "facility": "加热炉",
            "process": "轧钢",
            "alarm_id": None,
        },
    ]
    await service.set_consequences(comm.id, meters, {})
    under = await service.raise_alarm(
        world.a.enterprise.id, AlarmKind.DATA_GAP, Severity.WARNING, "point", str(world.a.point.id + 1000),
        "no data", names={"point": "加热炉高炉煤气", "facility": "加热炉"},
    )  # fmt: skip
    await service.set_root([under.id], comm.id)
    gap = await service.raise_alarm(
        world.a.enterprise.id, AlarmKind.DATA_GAP, Severity.WARNING, "point", str(world.a.point.id), "no data",
        at=now - dt.timedelta(hours=3), names={"point": "焦炭流量", "facility": "1#高炉"},
    )  # fmt: skip
    await service.clear_cause(gap.cause, note="readings back")
    zh, en = Translator("zh-CN"), Translator("en")

    # the fleet: the gateway online but degraded, saying which PLC since when, in local time
    down_zh = zh.t("console.fleet.connection_down_since", connection="轧钢 PLC", time=zh.when(down_since))
    fleet = await show(
        browser, base_url, "fleet-degraded", ["设备总览", "需关注", down_zh],
        session=await session_of(base_url, world, "a-device-admin"), section="fleet",
    )  # fmt: skip
    assert "rolling-plc" not in fleet.text and gateway.device_id not in fleet.text
    assert "正常" in fleet.texts and "需关注" in fleet.texts  # the counts' captions
    english_fleet = await show(
        browser, base_url, "fleet-degraded-en",
        ["Fleet", "Degraded", en.t("console.fleet.connection_down_since", connection="Rolling mill PLC",
                                   time=en.when(down_since))],
        session=await session_of(base_url, world, "a-device-admin"), section="fleet", locale="en",
    )  # fmt: skip
    assert "rolling-plc" not in english_fleet.text

    # the list of open alarms: the comm alarm in plant words, not the gap (cleared)
    comm_zh = describe_alarm((await _client_alarm(base_url, world, comm.id)), zh)
    listed = await show(
        browser, base_url, "alarms-list", ["告警", comm_zh.title, comm_zh.subject, comm_zh.raised_at, "紧急", "未处理"],
        session=await session_of(base_url, world, "a-device-admin"), section="alarms",
    )  # fmt: skip
    assert "导出 Excel" in listed.texts and "重置" in listed.texts
    assert zh.t("console.alarms.affected", count=2) in listed.text
    assert "加热炉高炉煤气" not in listed.text  # its data alarm is listed under the outage, not on its own
    assert "rolling-plc" not in listed.text and "Errno" not in listed.text and "UTC" not in listed.text

    # one alarm: what happened, what to check, its history; the technical text folded away
    detail = await show(
        browser, base_url, "alarms-detail",
        ["发生了什么", comm_zh.happened, "先检查", comm_zh.check_first, "处理记录", "系统规则", "技术信息", "确认",
         zh.t("console.alarms.consequences", count=2), *comm_zh.consequences],
        session=await session_of(base_url, world, "a-device-admin"), section="alarms",
        options={"alarm": str(comm.id)},
    )  # fmt: skip
    assert "Errno" not in detail.text

    # the acknowledge dialog over it, then acknowledged through the API: the state shows, in English too
    dialog = await show(
        browser, base_url, "alarms-ack-dialog", ["确认告警", "备注", "可填写：谁去处理、预计何时恢复", "取消"],
        session=await session_of(base_url, world, "a-device-admin"), section="alarms",
        options={"alarm": str(comm.id), "action": "acknowledge"},
    )  # fmt: skip
    assert comm_zh.title in dialog.text
    comm_en = describe_alarm((await _client_alarm(base_url, world, comm.id)), en)
    english = await show(
        browser, base_url, "alarms-detail-en",
        ["Alarms", "What happened", comm_en.happened, "Check first", "History", "Acknowledge"],
        session=await session_of(base_url, world, "a-device-admin"), section="alarms", locale="en",
        options={"alarm": str(comm.id)},
    )  # fmt: skip
    assert "轧钢" not in english.text and "rolling-plc" not in english.text
    await show(
        browser, base_url, "alarms-clear-dialog-en", ["Clear alarm", "Required: what was done"],
        session=await session_of(base_url, world, "a-device-admin"), section="alarms", locale="en",
        options={"alarm": str(comm.id), "action": "clear"},
    )  # fmt: skip

    # all alarms, the cleared one too; an executive reads them but is told handling needs the permission
    gap_zh = describe_alarm((await _client_alarm(base_url, world, gap.id)), zh)
    history = await show(
        browser, base_url, "alarms-all-executive", [gap_zh.title, gap_zh.subject, "已清除", "您可以查看告警"],
        session=await session_of(base_url, world, "a-executive"), section="alarms",
        options={"state": "", "alarm": str(comm.id)},
    )  # fmt: skip
    assert "确认" not in history.texts  # no buttons the platform would refuse
    assert (await AlarmRow.get(id=comm.id)).state == "active"  # showing the dialogs changed nothing
    assert workbook("x", ["a"], [["b"]]).startswith(b"PK")  # an XLSX is a zip


async def _client_alarm(base_url: str, world: World, alarm_id: int) -> Alarm:  # noqa: F811
    """The alarm as the console gets it (names, detail, events)."""
    async with ConsoleApi(base_url) as api:
        await login(api, world, "a-executive")
        return await api.alarm(alarm_id)


async def test_acknowledge_clear_and_export_driven_in_python(
    settings: Settings,
    world: World,
    base_url: str,  # noqa: F811
) -> None:
    admin = await world.login("a-admin")
    gateway = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="炼钢厂网关")
    comm = await AlarmService(settings).raise_alarm(
        world.a.enterprise.id, AlarmKind.METER_COMM, Severity.CRITICAL, "device", gateway.device_id,
        f"{gateway.device_id}: rolling-plc: refused", {"device_id": gateway.device_id, "connection": "rolling-plc"},
        f"meter_comm:{gateway.device_id}:gw:rolling-plc", names=NAMES,
    )  # fmt: skip
    session = await session_of(base_url, world, "a-device-admin")
    page = StubPage()
    async with ConsoleApi(base_url) as api:
        app = ConsoleApp(cast(ft.Page, page), api, Translator("zh-CN"))
        await app.resume(session)
        await app.show("alarms")
        [grid] = [c for c in controls_in(app.holder) if isinstance(c, ft.DataTable)]
        opener = grid.rows[0].on_select_change
        assert callable(opener)
        await opener()  # type: ignore[call-arg]  # a row's click opens its detail
        shown = texts_in(app.holder)
        assert "发生了什么" in shown and "处理记录" in shown and "轧钢 PLC，炼钢厂网关" in shown

        # acknowledge with a note
        await click(button(app.holder, "确认"))
        dialog = shown_dialog(app)
        assert dialog is not None
        type_into(field(dialog.content, "备注"), "电工已去现场")
        await click(button(dialog.actions, "确认"))
        assert shown_dialog(app) is None and "已确认：PLC 通信中断" in texts_in(app.holder)
        assert (await AlarmRow.get(id=comm.id)).ack_note == "电工已去现场"

        # clearing needs a note: the dialog says so and sends nothing
        await click(button(app.holder, "清除"))
        dialog = shown_dialog(app)
        assert dialog is not None
        await click(button(dialog.actions, "清除"))
        dialog = shown_dialog(app)
        assert dialog is not None
        assert (
            field(dialog.content, "备注 *").error == "清除告警必须填写备注：做了什么，或为何不再适用"
        )  # under the field
        assert (await AlarmRow.get(id=comm.id)).state == "acknowledged"
        type_into(field(dialog.content, "备注 *"), "换了网线")
        await click(button(dialog.actions, "清除"))
        assert shown_dialog(app) is None and (await AlarmRow.get(id=comm.id)).clear_note == "换了网线"

        # the list as a spreadsheet: what a person reads, local times; the ids only in the technical column
        saved: list[tuple[str, bytes]] = []

        async def save(filename: str, content: bytes) -> None:
            saved.append((filename, content))

        app.ui.save_file = save  # type: ignore[method-assign]
        await click(button(app.holder, "导出 Excel"))
        [(name, content)] = saved
        assert name == f"告警-{dt.datetime.now(SHANGHAI).date().isoformat()}.xlsx"
        sheet = openpyxl.load_workbook(io.BytesIO(content)).active
        rows = [[c.value for c in row] for row in sheet.iter_rows()]
        assert rows[0][:4] == ["级别", "告警", "设备 / 计量点", "发生时间"] and rows[0][-1] == "技术信息"
        [row] = rows[1:]
        assert row[:3] == ["紧急", "PLC 通信中断", "轧钢 PLC，炼钢厂网关"] and row[5] == "已清除"
        raised = (await AlarmRow.get(id=comm.id)).raised_at
        assert row[3] == Translator("zh-CN").when(raised)  # local time, as on the screen
        assert all(gateway.device_id not in str(v) for v in row[:-1]) and gateway.device_id in row[-1]


async def test_a_data_conflict_reads_in_both_languages(
    settings: Settings,
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    """The alarm ingest raises when a terminal sends another value for a stored (point, time), as the platform
    raises it (names looked up by the rules), in the console's detail in Chinese and English."""
    admin = await world.login("a-admin")
    gateway = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="炼铁厂网关")
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = int((at - dt.timedelta(minutes=10)).timestamp() * 1000)
    point = world.a.point
    conflict = ValueConflict(point.id, point.code, stamp, 4411, 1234.125, 1234.0, None, None)
    assert await on_value_conflicts(settings, gateway.device_id, world.a.enterprise.id, [conflict], at) == 1
    [alarm] = await AlarmRow.filter(kind=AlarmKind.DATA_CONFLICT)
    zh, en = Translator("zh-CN"), Translator("en")
    said_zh = describe_alarm(await _client_alarm(base_url, world, alarm.id), zh)
    assert "1,234.125" in said_zh.happened and "1,234.0" in said_zh.happened
    detail = await show(
        browser, base_url, "alarms-data-conflict",
        ["发生了什么", said_zh.title, said_zh.happened, "先检查", said_zh.check_first],
        session=await session_of(base_url, world, "a-device-admin"), section="alarms",
        options={"alarm": str(alarm.id)},
    )  # fmt: skip
    assert said_zh.subject in detail.text
    said_en = describe_alarm(await _client_alarm(base_url, world, alarm.id), en)
    await show(
        browser, base_url, "alarms-data-conflict-en",
        ["What happened", said_en.title, said_en.happened, "Check first", said_en.check_first],
        session=await session_of(base_url, world, "a-device-admin"), section="alarms", locale="en",
        options={"alarm": str(alarm.id)},
    )  # fmt: skip
