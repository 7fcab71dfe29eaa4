"""The wallboard app in headless Chromium against a served platform: each page shows its figures, and a screen's
URL chooses its language and pins its page.

Screenshots (1920x1080 and 3840x2160) are saved under ``build/screenshots/wallboard/``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import flet as ft
import flet_charts as fch
import pytest

from cem_clients.ui import serve as ui_serve
from cem_clients.ui.i18n import Locale, Translator
from cem_clients.ui.theme import AppKind, palette_for
from cem_clients.wallboard.app import ScreenOptions, _comparison_tile, _processes, screen_options, wallboard_main
from cem_clients.wallboard.model import Comparison, ProcessFigure, Wallboard
from cem_platform.alarms.models import AlarmKind, Severity
from cem_platform.alarms.services import AlarmService
from cem_platform.identity.services import IdentityService
from tests.test_clients.browser import VIEWPORTS, Browser
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_wallboard_model import SHANGHAI, prepare
from tests.test_platform.world import World

TICKER = "1 条告警 · 严重 · 计量点无数据 · 入炉焦炭（1#高炉）"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots" / "wallboard"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as chromium:
        yield chromium


def _moments() -> tuple[dt.datetime, ...]:
    """Now, and a few minutes either side: the page may have been drawn before an hour's turn and read after it."""
    start = dt.datetime.now(SHANGHAI)
    return (start - dt.timedelta(minutes=3), start, start + dt.timedelta(minutes=2))


def first_day_of_a_year() -> bool:
    """Whether the year so far may be today only: its ledger is not in yet, nothing of the year to compare."""
    return any(now.month == 1 and now.day == 1 for now in _moments())


def spans(lang: str) -> list[str]:
    """The span the today tile compares now: up to the whole hour the day is accounted as of (the service compares
    on whole hours; the page may have been drawn a few minutes before it is read); in the day's first hour
    nothing is compared yet."""
    texts = ["核算后对比去年同期" if lang == "zh" else "Compared with last year once accounted"]
    start = dt.datetime.now(SHANGHAI)
    for minute in range(-4, 3):
        now = start + dt.timedelta(minutes=minute)
        texts.append(f"对比去年同期 00:00–{now:%H}:00" if lang == "zh" else f"vs 00:00–{now:%H}:00 last year")
    return texts


def test_screen_options_from_the_url() -> None:
    assert screen_options("/") == ScreenOptions() and screen_options(None) == ScreenOptions()
    assert screen_options("/?lang=en") == ScreenOptions(Locale.EN)
    assert screen_options("/?lang=zh-CN&page=3") == ScreenOptions(Locale.ZH_CN, 2)
    assert screen_options("/?lang=EN-us&page=trend") == ScreenOptions(Locale.EN, 2)
    assert screen_options("/?lang=fr&page=9") == ScreenOptions()  # unknown: the defaults
    assert screen_options("/?page=0") == ScreenOptions() and screen_options("/?page=alarms").page == 3


def _texts(control: Any) -> list[str]:
    """The texts of a control tree, in order."""
    found = [control.value] if isinstance(control, ft.Text) and control.value else []
    for child in [getattr(control, "content", None), *(getattr(control, "controls", None) or [])]:
        if child is not None:
            found.extend(_texts(child))
    return found


def _bars(control: Any) -> list[tuple[int, int]]:
    """(filled width, track width) of every bar of a control tree: a sized track aligning its fill to the left."""
    found = []
    content = getattr(control, "content", None)
    if isinstance(control, ft.Container) and isinstance(content, ft.Container) and control.alignment is not None:
        found.append((int(content.width or 0), int(control.width or 0)))
    for child in [content, *(getattr(control, "controls", None) or [])]:
        if child is not None:
            found.extend(_bars(child))
    return found


def _charts(control: Any, kind: type) -> list[Any]:
    """The charts of ``kind`` in a control tree."""
    found = [control] if isinstance(control, kind) else []
    for child in [getattr(control, "content", None), *(getattr(control, "controls", None) or [])]:
        if child is not None:
            found.extend(_charts(child, kind))
    return found


def test_process_bars_are_drawn_to_scale() -> None:
    tr, palette = Translator(Locale.ZH_CN, zone="Asia/Shanghai"), palette_for(AppKind.WALLBOARD)
    board = Wallboard(api=Any, enterprise_id=1)  # type: ignore[arg-type]  # drawing needs no client
    board.processes = [
        ProcessFigure(1, "CK", "炼焦", Decimal(400)),
        ProcessFigure(2, "IR", "炼铁", Decimal(1600)),
        ProcessFigure(3, "AX", "辅助生产", None),
    ]
    board.unallocated = Decimal(800)  # purchased electricity without a sub-meter: its own bar, never spread
    page = _processes(board, tr, palette)
    bars = _bars(page)
    assert bars == [(95, 380), (380, 380), (2, 380), (190, 380)]  # a quarter, the largest, unknown, a half
    assert "未分摊到工序" in _texts(page)
    [pie] = _charts(page, fch.PieChart)  # the same figures as shares: 400, 1600 and 800 of 2800
    assert [s.value for s in pie.sections] == [400, 1600, 800]
    assert [s.title for s in pie.sections] == ["14.3%", "57.1%", "28.6%"]


def test_a_tile_says_when_its_data_is_missing_or_incomplete() -> None:
    tr, palette = Translator(Locale.ZH_CN, zone="Asia/Shanghai"), palette_for(AppKind.WALLBOARD)
    since = dt.datetime(2026, 11, 25, tzinfo=SHANGHAI)
    until = since + dt.timedelta(hours=22)
    # nothing came in yet (a meter outage, a demo started this evening): no "down 100 %"
    empty = Comparison(Decimal(0), Decimal(262), False, True, since, until)
    texts = _texts(_comparison_tile("今日排放", empty, tr, palette, "xl"))
    assert "—" in texts and "本时段数据尚未到达 · 对比去年同期 00:00–22:00" in texts
    assert not any("下降" in text for text in texts)
    # part of the data: the figure, flagged, the change shown without a verdict's colour
    partial = Comparison(Decimal(200), Decimal(262), False, True, since, until, estimated=True)
    texts = _texts(_comparison_tile("今日排放", partial, tr, palette, "xl"))
    assert "同比下降 23.7%" in texts and "对比去年同期 00:00–22:00 · 未定稿 · 数据不完整 · 估算" in texts
    whole = Comparison(Decimal(200), Decimal(262), True, False, since, until)
    assert "对比去年同期 00:00–22:00" in _texts(_comparison_tile("今日排放", whole, tr, palette, "xl"))


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
    await prepare(world, today)  # coke and crude steel entered monthly last year and this, this month's days so far
    await AlarmService(world.settings).raise_alarm(
        world.a.enterprise.id, AlarmKind.DATA_GAP, Severity.MAJOR, "point", str(world.a.point.id), "焦炭计量中断",
        names={"point": "入炉焦炭", "facility": "1#高炉", "process": "炼铁"},
    )  # fmt: skip
    token = await _token(world)
    expectations = {
        "overview": [
            "碳排放监控大屏",
            "甲钢铁",
            "今日排放",
            "本月排放",
            "本年排放",
            "排放强度",
            "碳资产数据暂不可用",  # no compliance rule for the year and no figures to allocate from: said
            "本年逐月排放 · tCO2",
            "今年",
            "去年同月",
            *([] if first_day_of_a_year() else ["同比上升"]),
        ],  # the last only once the figures are in, and not on 1 January (today's ledger is not in yet)
        "processes": ["分工序排放 · 本月", "炼铁", "工序占比 · 本月", "本年排放构成", "燃烧排放"],
        "trend": ["近30天趋势", "去年同日"],
        "alarms": ["工艺流程状态", "计量点无数据  入炉焦炭（1#高炉）", "严重"],
    }
    for page, expected in expectations.items():
        app = ui_serve.serve_app(
            wallboard_main(base_url, token, world.a.enterprise.id, rotate_s=0, start_page=page), name=page
        )
        try:
            path = SCREENSHOTS / f"{page}-1920x1080.png"
            shot = await asyncio.to_thread(
                browser.load, app.url, viewport=VIEWPORTS["wallboard"], screenshot=path, expect=[*expected, TICKER]
            )
            assert all(any(e in text for text in shot.texts) for e in expected), shot.texts
            assert TICKER in " ".join(shot.texts)  # the ticker is on every page, once the figures are in
            assert not shot.fallback_font_requests
            if page == "overview":
                # 3000 t against 2800 t a month: the year so far is up (about 7 %; today's ledger is not in yet)
                assert "tCO2" in shot.texts, shot.texts
                assert first_day_of_a_year() or any(t.startswith("同比上升 ") for t in shot.texts), shot.texts
                today_span = [t for t in shot.texts if any(span in t for span in spans("zh"))]
                assert today_span, shot.texts  # today: the span compared, e.g. 对比去年同期 00:00–14:07
            if page == "overview":
                big = await asyncio.to_thread(
                    browser.load, app.url, viewport=(3840, 2160), screenshot=SCREENSHOTS / "overview-3840x2160.png",
                    expect=expected,
                )  # fmt: skip
                assert "实时" in " ".join(big.texts) or "数据已过时" in " ".join(big.texts)
        finally:
            app.stop()


async def test_alarm_page_and_ticker_in_the_plants_words(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    """A PLC outage listing its meters, a data gap and a completeness alarm under its threshold: the alarm page and
    the ticker name equipment by plant name, in local time, in Chinese and in English; no id, no error string."""
    service = AlarmService(world.settings)
    now = dt.datetime.now(dt.UTC)
    point = world.a.point
    await service.raise_alarm(
        world.a.enterprise.id, AlarmKind.DATA_COMPLETENESS, Severity.WARNING, "point", str(point.id),
        f"{point.code} 入炉焦炭: 41 of 60 readings (68.3 %) in the hour from 02:00 UTC, under 90 %",
        {"hour": (now - dt.timedelta(hours=2)).isoformat(), "readings": 41, "expected": 60, "percent": 68.3,
         "threshold_percent": 90},
        at=now - dt.timedelta(hours=1), names={"point": "入炉焦炭", "facility": "1#高炉", "process": "炼铁"},
    )  # fmt: skip
    outage = await service.raise_alarm(
        world.a.enterprise.id, AlarmKind.METER_COMM, Severity.CRITICAL, "device", "gw-bf1",
        "1#高炉网关 (gw-bf1): iron-plc: refused (127.0.0.1:43199: [Errno 111] Connect call failed)",
        {"device_id": "gw-bf1", "connection": "iron-plc", "since": (now - dt.timedelta(minutes=5)).isoformat()},
        "meter_comm:gw-bf1:gw:iron-plc", at=now - dt.timedelta(minutes=5),
        names={"device": "1#高炉网关", "connection": "iron-plc"},
    )  # fmt: skip
    await service.set_consequences(
        outage.id,
        [{"point_id": point.id, "point_code": point.code, "point_name": "入炉焦炭", "facility": "1#高炉",
          "process": "炼铁", "process_en": "Ironmaking", "alarm_id": None},
         {"point_id": 99901, "point_code": "IR.99901", "point_name": "鼓风流量", "facility": "1#高炉",
          "process": "炼铁", "process_en": "Ironmaking", "alarm_id": None}],
        {"process": "炼铁", "process_en": "Ironmaking"},
    )  # fmt: skip
    for number in range(1, 8):  # more than the page shows: counted, not cut at the screen's edge
        await service.raise_alarm(
            world.a.enterprise.id, AlarmKind.DATA_GAP, Severity.WARNING, "point", str(99910 + number),
            f"IR.{99910 + number}: no reading", {"sample_seconds": 60}, at=now - dt.timedelta(hours=2, minutes=number),
            names={"point": f"高炉煤气流量{number}", "facility": "1#高炉", "process": "炼铁"},
        )  # fmt: skip
    clock = now.astimezone(SHANGHAI)
    token = await _token(world)
    raw = ("gw-bf1", "iron-plc", "meter_comm", "UTC", "Errno", point.code, "IR.999")
    app = ui_serve.serve_app(wallboard_main(base_url, token, world.a.enterprise.id, rotate_s=0), name="alarms")
    try:
        for lang, expected in {
            "zh": [
                "9 条告警 · 紧急 · PLC 通信中断 · 炼铁 PLC，1#高炉网关 · 影响 2 个计量点 · "
                f"{(clock - dt.timedelta(minutes=5)):%H:%M}",
                "PLC 通信中断  炼铁 PLC，1#高炉网关 · 影响 2 个计量点",
                "数据不完整  入炉焦炭（1#高炉）",
                "计量点无数据  高炉煤气流量4（1#高炉）",
                "另有 3 条告警",
                "工艺流程状态",
            ],
            "en": [
                "9 alarms · Critical · PLC not answering · Ironmaking PLC, 1#高炉网关 · affects 2 meters",
                "Incomplete data  入炉焦炭 (1#高炉)",
                "3 more alarms",
                "Process flow status",
            ],
        }.items():
            url = app.url.rstrip("/") + f"/?page=alarms&lang={lang}"
            shot = await asyncio.to_thread(
                browser.load, url, viewport=VIEWPORTS["wallboard"], expect=expected,
                screenshot=SCREENSHOTS / f"alarms-{lang}-1920x1080.png",
            )  # fmt: skip
            shown = "\n".join(shot.texts)
            assert all(e in shown for e in expected), shot.texts
            assert not [r for r in raw if r in shown], shot.texts
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
            expect=["Carbon emissions wallboard", "No emission source inventory yet"],
        )  # fmt: skip
        assert not any("/api/v1" in t or "POST " in t for t in shot.texts), shot.texts  # no developer text
        assert any("No open alarms" in t or "alarm" in t.lower() for t in shot.texts), shot.texts
    finally:
        app.stop()


async def test_language_and_page_from_the_url(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    """One app served in Chinese; a screen asks for English and one page in its URL, and gets them."""
    today = dt.datetime.now(SHANGHAI).date()
    await prepare(world, today)
    token = await _token(world)
    app = ui_serve.serve_app(wallboard_main(base_url, token, world.a.enterprise.id, rotate_s=0.5), name="url")
    try:
        url = app.url.rstrip("/") + "/?lang=en"
        expected = [
            "Carbon emissions wallboard",
            "Emissions today",
            "Emissions this month",
            "Carbon asset figures are not available",
            "This year by month · tCO2",
            "Same month last year",
            *([] if first_day_of_a_year() else ["above last year"]),
        ]  # the last only once the figures are in, and not on 1 January
        shot = await asyncio.to_thread(
            browser.load, url + "&page=1", viewport=VIEWPORTS["wallboard"],
            screenshot=SCREENSHOTS / "overview-en-1920x1080.png", expect=expected,
        )  # fmt: skip
        assert all(any(e in text for text in shot.texts) for e in expected), shot.texts
        assert not any("碳排放" in text or "今日" in text for text in shot.texts), shot.texts  # no Chinese left
        assert first_day_of_a_year() or any(t.endswith("% above last year") for t in shot.texts), shot.texts
        assert any(span in t for span in spans("en") for t in shot.texts), shot.texts
        month = f"{today.month}/1 – {today.month}/{today.day}"
        if today.day > 1:
            assert any(t.startswith(f"vs {month}") and "last year" in t for t in shot.texts), shot.texts
        assert shot.settled  # pinned: it does not rotate every half second
        trend = await asyncio.to_thread(
            browser.load, url + "&page=trend", viewport=VIEWPORTS["wallboard"],
            screenshot=SCREENSHOTS / "trend-en-1920x1080.png", expect=["Last 30 days", "Updated", "Same day last year"],
        )  # fmt: skip
        assert trend.settled and "Emissions today" not in trend.texts, trend.texts  # loaded, and still the trend
        assert any(t.startswith("Daily emissions · max") and "tCO2" in t for t in trend.texts), trend.texts
        expected = ["By process · This month", "Share by process · this month", "This year by term", "Combustion"]
        processes = await asyncio.to_thread(
            browser.load, url + "&page=processes", viewport=VIEWPORTS["wallboard"],
            screenshot=SCREENSHOTS / "processes-en-1920x1080.png", expect=[*expected, "炼铁"],
        )  # fmt: skip
        assert all(any(e in t for t in processes.texts) for e in expected), processes.texts
    finally:
        app.stop()


async def test_the_demo_works_in_both_languages(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    """The demo works (its processes, metered sources and ledgers since January last year, accounted and kept), as
    the executives see it: the charts carry its real figures, in Chinese and in English."""
    from cem_platform.accounting.demo import seed_accounting_demo
    from cem_platform.seed import display_token, seed_demo, seed_meter_history

    await seed_demo(world.settings)
    seeded = await seed_accounting_demo()
    assert seeded is not None
    await seed_meter_history()
    found = await display_token(world.settings, None)
    assert found is not None
    enterprise_id, token = found
    app = ui_serve.serve_app(wallboard_main(base_url, token, enterprise_id, rotate_s=0), name="demo")
    try:
        for lang, pages in {
            "zh": {
                "overview": ["本年逐月排放 · tCO2", "去年同月", "1月", "同比"],
                "processes": ["分工序排放 · 本月", "工序占比 · 本月", "炼焦", "烧结", "炼铁", "本年排放构成"],
                "trend": ["近30天趋势", "去年同日"],
            },
            "en": {
                "overview": ["This year by month · tCO2", "Same month last year", "Jan", "last year"],
                "processes": ["By process · This month", "Share by process · this month", "This year by term"],
                "trend": ["Last 30 days", "Same day last year"],
            },
        }.items():
            for page, expected in pages.items():
                shot = await asyncio.to_thread(
                    browser.load, app.url.rstrip("/") + f"/?page={page}&lang={lang}", viewport=VIEWPORTS["wallboard"],
                    screenshot=SCREENSHOTS / f"demo-{page}-{lang}-1920x1080.png", expect=expected,
                )  # fmt: skip
                assert all(any(e in t for t in shot.texts) for e in expected), shot.texts
    finally:
        app.stop()
