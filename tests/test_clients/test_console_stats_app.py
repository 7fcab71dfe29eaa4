"""The console's statistics section in headless Chromium at 1440x900, in both languages, on the statistics tests'
works (four months of 2023 and 2024 with known inputs): the figures, the charts and the table, a process's own
view, the processes; the export driven in Python on the same app and opened with openpyxl. Screenshots under
``build/screenshots/console/`` (``statistics-*.png``), taken once the charts are painted."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import cast

import flet as ft
import flet_charts as fch
import openpyxl
from PIL import Image

from cem_clients.console.app import ConsoleApp, console_main
from cem_clients.console.model import ConsoleApi
from cem_clients.console.screens_stats import StatisticsSection
from cem_clients.ui import serve as ui_serve
from cem_clients.ui.i18n import Translator
from tests.test_accounting.kept import refresh_now
from tests.test_accounting.test_api import API
from tests.test_clients.browser import Browser
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_console_app import (  # noqa: F401 - the module's Chromium
    SCREENSHOTS,
    VIEWPORT,
    StubPage,
    browser,
    button,
    click,
    click_select,
    controls_in,
    field,
    session_of,
    texts_in,
    type_into,
)
from tests.test_platform.world import World
from tests.test_statistics.test_emission_statistics import _works

MONTHS = {"period": "month", "start": "2024-01", "end": "2024-05", "compare": "yoy,pop,base", "base": "2024-01"}
#: Colours only the charts paint (the series of the terms, the grey of fixed carbon): on the screenshot, the charts
#: are drawn. The page's accessibility tree can be ahead of its picture on a busy machine.
COMBUSTION, PROCESS, FIXED = (37, 99, 235), (245, 158, 11), (100, 116, 139)


def painted(png: Path, colours: Sequence[tuple[int, int, int]]) -> bool:
    """Whether the screenshot shows each of ``colours`` (in more than a few pixels: a bar, a slice)."""
    with Image.open(png) as image:
        counts = {colour: n for n, colour in image.convert("RGB").getcolors(1 << 20) or []}
    return all(counts.get(colour, 0) > 50 for colour in colours)


async def look(
    chromium: Browser,
    base_url: str,  # noqa: F811
    name: str,
    expect: Sequence[str],
    *,
    session: str,
    options: Mapping[str, str],
    locale: str = "zh-CN",
    colours: Sequence[tuple[int, int, int]] = (COMBUSTION, FIXED),
    scroll: int = 0,
) -> list[str]:
    """Open the statistics section in Chromium at 1440x900, wait for ``expect`` and for the charts to be painted
    in ``colours``, save ``statistics-<name>`` (and, with ``scroll``, a second picture scrolled down by that many
    pixels: ``-table``); the texts shown. Nothing sticks out of the window."""
    main = console_main(base_url, locale=locale, session=session, start_section="statistics", start_options=options)
    app = ui_serve.serve_app(main, name=f"console-statistics-{name}")

    def steps() -> list[str]:
        with chromium.session(app.url, viewport=VIEWPORT) as s:
            texts = s.wait_for(expect, timeout=60)
            path = SCREENSHOTS / f"statistics-{name}-1440x900.png"
            deadline = time.monotonic() + 60
            while not painted(s.screenshot(path), colours):
                assert time.monotonic() < deadline, f"{path}: the charts are not painted"
                s.pause(1)
            # on the first screen (further down, a wide table scrolls sideways within its card)
            overflowing = [n for n in s.nodes() if n.width and n.y < VIEWPORT[1] and n.x + n.width > VIEWPORT[0] + 1]
            assert not overflowing, overflowing
            if scroll:
                s.scroll(scroll, at=(800, 600))
                texts += s.wait_for(["合计" if locale == "zh-CN" else "Total"])
                s.screenshot(SCREENSHOTS / f"statistics-{name}-table-1440x900.png")
            return texts

    try:
        return await asyncio.to_thread(steps)
    finally:
        app.stop()


async def converter_output(world: World, headers: dict[str, str], process_id: int) -> None:
    """The converter's crude steel as its own output (11,000 t x m in month m of 2024), accounted."""
    body = {
        "enterprise_id": world.a.enterprise.id, "code": "OUT.BOF", "name": "转炉钢产量", "category": "output",
        "item": "crude_steel", "process_id": process_id, "inputs": {"AD": {"origin": "manual", "unit": "t"}},
        "overrides": {},
    }  # fmt: skip
    response = await world.client.post(f"{API}/sources", headers=headers, json=body)
    assert response.status_code == 201, response.text
    for month, last in ((1, 31), (2, 29), (3, 31), (4, 30)):
        record = {"source_id": response.json()["id"], "input": "AD", "value": str(11000 * month), "unit": "t",
                  "from": f"2024-{month:02d}-01", "to": f"2024-{month:02d}-{last}"}  # fmt: skip
        entered = await world.client.post(f"{API}/activity", headers=headers, json=record)
        assert entered.status_code == 201, entered.text
    await refresh_now()


async def test_statistics_in_both_languages(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    accountant = await world.login("a-accountant")  # once: an authenticator code is accepted once
    bof = await _works(world, accountant)
    texts = await look(
        browser, base_url, "zh",
        ["统计分析", "区间净排放", "30,097.82 tCO2", "分期排放（按五类排放）", "区间排放结构", "燃烧排放",
         "固碳（扣除）"],
        session=await session_of(base_url, world, "a-executive"), options=MONTHS, scroll=900,
        colours=(COMBUSTION, PROCESS, FIXED),
    )  # fmt: skip
    assert {"同比", "环比", "定比", "基期", "排放强度（tCO2/t）", "对比（tCO2）", "上年同期"} <= {*texts}
    assert "基期 2024-01" in texts
    assert {"2024-01", "2024-04", "0.2736 tCO2/t", "79.13", "-1,694.00", "分期数据", "定比指数 (基期=100)"} <= {*texts}
    assert {"+100.00", "400.00", "12,039.13"} <= set(texts)  # the table: period on period, the index, April's net
    assert not any(t.startswith(("stats.", "console.")) for t in texts)  # every string translated

    english = await look(
        browser, base_url, "en",
        ["Statistics", "Net emissions in the range", "30,097.82 tCO2", "Emissions by period, by Five emission terms"],
        session=await session_of(base_url, world, "a-auditor"), options=MONTHS, locale="en", scroll=900,
    )  # fmt: skip
    assert {"Year on year", "Period on period", "Fixed base", "Same period last year"} <= set(english)
    assert {"Fixed carbon (deducted)", "Combustion", "Process", "Electricity"} <= set(english)
    assert {"Figures by period", "Index (base = 100)", "YoY (%)"} <= set(english)
    assert not any(t.startswith(("stats.", "console.")) for t in english)

    # the converter's own view by source category: flux and the carbon fixed in its steel, and — its crude steel
    # now booked to it — its intensity per tonne of its product
    await converter_output(world, accountant, bof.id)
    process = await look(
        browser, base_url, "process",
        ["工序视图：转炉炼钢", "返回全企业", "分期排放（按排放源类别）", "熔剂分解", "固碳产品"],
        session=await session_of(base_url, world, "a-accountant"),
        options={**MONTHS, "scope": "BOF", "dimension": "category", "compare": "yoy"}, scroll=900,
    )  # fmt: skip
    assert "3,146.00 tCO2" in process  # 484 x 10 - 169.4 x 10: the converter's net over the four months
    assert "每吨工序产品" in process and "排放强度 (每吨工序产品)" in process
    assert "0.0286" in process  # each month: 314.6 x m t over 11,000 x m t of its steel
    assert "0.0286 tCO2/t" in process  # and the range: its output is kept with its emissions

    by_process = await look(
        browser, base_url, "by-process", ["分期排放（按工序）", "IR 炼铁", "未归属工序"],
        session=await session_of(base_url, world, "a-executive"), options={**MONTHS, "dimension": "process"},
        colours=(COMBUSTION, PROCESS),
    )  # fmt: skip
    assert {"BOF 转炉炼钢", "3,146.00", "23,815.17", "3,136.65"} <= set(by_process)


async def test_the_export_holds_what_the_screen_shows(world: World, base_url: str) -> None:  # noqa: F811
    bof = await _works(world, await world.login("a-accountant"))
    session = await session_of(base_url, world, "a-executive")
    page = StubPage()
    async with ConsoleApi(base_url) as api:
        app = ConsoleApp(cast(ft.Page, page), api, Translator("zh-CN"), start_section="statistics",
                         start_options=MONTHS)  # fmt: skip
        await app.resume(session)
        section = app.section
        assert isinstance(section, StatisticsSection) and section.board.answer is not None
        charts = [c for c in controls_in(app.holder) if isinstance(c, fch.BarChart | fch.LineChart | fch.PieChart)]
        bars = next(c for c in charts if isinstance(c, fch.BarChart))
        assert len(bars.groups) == 4 and bars.groups[0].rods[0].from_y < 0  # fixed carbon below zero
        assert sum(isinstance(c, fch.PieChart) for c in charts) == 1 and len(charts) == 5  # bars, net, pie, 2 lines

        saved: list[tuple[str, bytes]] = []

        async def save(filename: str, content: bytes) -> None:
            saved.append((filename, content))

        app.ui.save_file = save  # type: ignore[method-assign]
        await click(button(app.holder, "导出 Excel"))
        [(name, content)] = saved
        assert name == "statistics-甲钢铁-month-2024-01-2024-05.xlsx"
        sheet = openpyxl.load_workbook(io.BytesIO(content))["分期统计"]
        shown = texts_in(app.holder)
        for row in sheet.iter_rows(min_row=1):
            for cell in row:
                value = cell.value
                if isinstance(value, int | float):
                    places = len(cell.number_format.split(".")[1]) if "." in cell.number_format else 0
                    text = f"{Decimal(repr(value)):,.{places}f}"
                    assert text in shown or f"+{text}" in shown, (cell.coordinate, text)
                else:
                    assert value in shown, (cell.coordinate, value)
        assert sheet["A6"].value == "合计" and sheet["F6"].value == float(round(Decimal("30097.8172"), 2))

        # a refusal of the platform is the screen's message; what was shown stays
        type_into(field(app.holder, "基期"), "2022-06")
        await click(button(app.holder, "搜索"))
        shown = texts_in(app.holder)
        assert any("2022-06 has no emissions" in t for t in shown) and "30,097.82" in shown

        # the per-process view from the structure's table (dimension process), and back
        section.board.query.dimension, section.board.query.base = "process", "2024-01"
        await click(button(app.holder, "搜索"))
        link = next(c for c in controls_in(app.holder) if isinstance(c, ft.TextButton) and c.content == "BOF 转炉炼钢")
        await click(link)
        assert section.board.query.scope_id == bof.id and "工序视图：转炉炼钢" in texts_in(app.holder)
        await click(button(app.holder, "返回全企业"))
        assert section.board.query.scope == "enterprise" and "工序视图：转炉炼钢" not in texts_in(app.holder)

        # energy from the metric picker: the breakdowns follow it, the equal value without its coefficient is the
        # platform's message and hint, and the export says the metric, the method and the units
        def dropdown_of(caption: str) -> ft.Dropdown:
            return next(c for c in controls_in(app.holder) if isinstance(c, ft.Dropdown) and c.label == caption)

        metric = dropdown_of("统计指标")
        metric.value = "energy"
        await click_select(metric)
        assert [o.key for o in dropdown_of("分析维度").options] == ["carrier", "process"]
        assert section.board.query.dimension == "carrier"  # the five terms are emissions': energy's default instead
        dimension = dropdown_of("分析维度")
        dimension.value = "process"
        await click_select(dimension)
        method = dropdown_of("电力折标煤")
        method.value = "equal_value"
        await click_select(method)
        section.board.query.compare = ("yoy",)
        await click(button(app.holder, "搜索"))
        shown = texts_in(app.holder)
        assert any("electricity.equal_value" in t for t in shown) and "30,097.82 tCO2" in shown
        method = dropdown_of("电力折标煤")
        method.value = "equivalent"
        await click_select(method)
        await click(button(app.holder, "搜索"))
        shown = texts_in(app.holder)
        assert {"区间综合能耗", "分期能耗（按工序）", "综合能耗 (tce)", "能耗强度 (kgce/t)"} <= set(shown)
        assert [t for t in shown if "tCO2" in t] == ["碳排放 tCO2"]  # the metric picker's other choice only
        saved.clear()
        await click(button(app.holder, "导出 Excel"))
        [(name, content)] = saved
        assert name == "statistics-energy-equivalent-甲钢铁-month-2024-01-2024-05.xlsx"
        book = openpyxl.load_workbook(io.BytesIO(content))
        assert book.sheetnames == ["分期能耗（电力当量值）", "能源结构（电力当量值）"]
        header = [c.value for c in book["分期能耗（电力当量值）"][1]]
        assert "综合能耗 (tce)" in header and "能耗强度 (kgce/t)" in header
        assert book["能源结构（电力当量值）"]["B1"].value == "tce"
        net = book["分期能耗（电力当量值）"].cell(row=6, column=header.index("综合能耗 (tce)") + 1).value
        assert f"{Decimal(repr(net)):,.2f}" in shown and f"{Decimal(repr(net)):,.2f} tce" in shown


async def test_the_demo_works_in_both_languages(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    """The demo works (its processes, metered sources and ledgers since January last year, accounted and kept) as
    its executive sees them: this year's months by process and by term, against last year."""
    from cem_platform.accounting.demo import seed_accounting_demo
    from cem_platform.seed import DEMO_PASSWORD, seed_demo, seed_meter_history

    await seed_demo(world.settings)
    assert await seed_accounting_demo() is not None
    await seed_meter_history()
    year = dt.datetime.now(dt.UTC).year
    options = {"period": "month", "start": f"{year}-01", "end": f"{year}-12", "compare": "yoy,pop"}

    async def demo_session() -> str:
        async with ConsoleApi(base_url) as api:
            await api.login("demo-executive", DEMO_PASSWORD)
            assert api.refresh_token is not None
            return api.refresh_token

    by_process = await look(
        browser, base_url, "demo-zh", ["统计分析", "分期排放（按工序）", "炼焦", "烧结", "炼铁", f"{year}-11"],
        session=await demo_session(), options={**options, "dimension": "process"}, colours=(COMBUSTION,),
        scroll=900,
    )  # fmt: skip
    assert "上年同期" in by_process and "同比 (%)" in by_process
    english = await look(
        browser, base_url, "demo-en", ["Statistics", "Emissions by period, by Five emission terms", "Combustion"],
        session=await demo_session(), options=options, locale="en", colours=(COMBUSTION, PROCESS),
    )  # fmt: skip
    assert "Same period last year" in english and f"{year}-01" in english

    # energy (tce): by process, the converter below zero (the converter gas it recovers for the lime kiln counts
    # against it), and by carrier in English, electricity by its equivalent value with its share
    energy = {**options, "metric": "energy"}
    zh = await look(
        browser, base_url, "energy-zh",
        ["统计分析", "区间综合能耗", "分期能耗（按工序）", "区间能源结构", "能耗强度（kgce/t）", "转炉炼钢"],
        session=await demo_session(), options={**energy, "dimension": "process"}, colours=(COMBUSTION,), scroll=900,
    )  # fmt: skip
    assert {"电力折标煤", "当量值", "综合能耗 (tce)", "能耗强度 (kgce/t)", "对比（tce）"} <= set(zh)
    # the converter first (by code) and below zero: in the structure's first row and the table's first column
    structure, table_ = zh.index("占综合能耗 (%)"), zh.index("数据状态")
    first = next(t for t in zh[structure + 1 :] if t[:1] in "-0123456789")
    assert first.startswith("-") and zh[table_ + 1].startswith("-"), (zh[structure:], zh[table_:])
    assert any(t.endswith(" tce") for t in zh) and any(t.endswith(" kgce/t") for t in zh)
    assert not any(t.startswith(("stats.", "console.")) for t in zh)
    en = await look(
        browser, base_url, "energy-en",
        ["Statistics", "Net energy in the range", "Energy by period, by Energy carriers",
         "Electricity (Equivalent value)", "Washed coal", "Electricity"],
        session=await demo_session(), options=energy, locale="en", colours=(COMBUSTION, PROCESS), scroll=900,
    )  # fmt: skip
    assert {"Net energy (tce)", "Energy intensity (kgce/t)", "Energy structure of the range"} <= set(en)
    assert any(t.endswith("% of the net") for t in en)

    # the converter's own view: the converter gas it recovers outweighs what it uses, below zero per tonne of steel
    process = await look(
        browser, base_url, "energy-process-zh",
        ["工序视图：转炉炼钢", "区间综合能耗", "分期能耗（按能源品种）", "转炉煤气"],
        session=await demo_session(), options={**energy, "scope": "BOF", "dimension": "carrier"}, colours=(COMBUSTION,),
    )  # fmt: skip
    assert any(t.startswith("-") and t.endswith(" tce") for t in process)
    assert any(t.startswith("-") and t.endswith(" kgce/t") for t in process)
    assert "没有为正的组成部分可画扇区：回收和扣除项见下表" in process  # not "no results": the table has them
    assert not any(t.startswith(("stats.", "console.")) for t in en)
