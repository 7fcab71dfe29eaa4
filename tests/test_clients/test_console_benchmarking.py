"""The console's 对标分析 and 降碳潜力 against the served platform on the gap analysis tests' works (March 2026): what
the view models make of the platform's answers, and the XLSX exports opened with openpyxl, cell by cell against
what the screen shows. The query form's checks need no platform."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import cast

import flet as ft
import flet_charts as fch
import openpyxl

from cem_clients.console.app import ConsoleApp
from cem_clients.console.benchmarking import BenchmarkQuery
from cem_clients.console.model import ConsoleApi
from cem_clients.console.screens_benchmarking import GapSection, PotentialSection
from cem_clients.ui.i18n import Translator
from tests.test_benchmarking.test_gap_analysis import _works
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_console_app import StubPage, button, click, controls_in, session_of, texts_in
from tests.test_platform.world import World

MARCH = {"period": "month", "start": "2026-03"}


def test_the_query_is_checked_before_anything_is_sent() -> None:
    query = BenchmarkQuery(start="2026-3")
    assert not query.validate() and query.error("start") == "Write it like 2026-03"
    query.start, query.end = "2026-03", "2026-01"
    assert not query.validate() and query.error("end")
    query.end = "2026-05"
    assert query.validate() and query.last == "2026-05"
    query.set_period("year")  # a month's range becomes its years
    assert (query.period, query.start, query.end) == ("year", "2026", "2026")
    assert query.validate()
    query.start = "2026-03"
    assert not query.validate() and query.error("start") == "Write it like 2026"
    query.start = "2025"
    query.set_period("month")
    assert (query.start, query.end) == ("2025-01", "2026-12")
    assert not BenchmarkQuery(scope="process", start="2026-03").validate()  # a process scope names its process


async def _app(base_url: str, world: World, section: str, locale: str = "zh-CN") -> tuple[ConsoleApp, StubPage]:  # noqa: F811
    page = StubPage()
    api = ConsoleApi(base_url)
    app = ConsoleApp(cast(ft.Page, page), api, Translator(locale), start_section=section, start_options=MARCH)
    await app.resume(await session_of(base_url, world, "a-executive"))
    return app, page


async def _export(app: ConsoleApp, caption: str) -> tuple[str, openpyxl.Workbook]:
    saved: list[tuple[str, bytes]] = []

    async def save(filename: str, content: bytes) -> None:
        saved.append((filename, content))

    app.ui.save_file = save  # type: ignore[method-assign]
    await click(button(app.holder, caption))
    [(name, content)] = saved
    return name, openpyxl.load_workbook(io.BytesIO(content))


def _shown_as(cell: openpyxl.cell.Cell) -> str:
    """A number of the export as the screen writes it (its places from the cell's format)."""
    value = cell.value
    places = len(cell.number_format.split(".")[1]) if "." in cell.number_format else 0
    return f"{Decimal(repr(value)):,.{places}f}"


async def test_gap_analysis_screen_and_its_export(world: World, base_url: str) -> None:  # noqa: F811
    await _works(world, await world.login("a-accountant"))
    app, _ = await _app(base_url, world, "benchmarking")
    try:
        section = app.section
        assert isinstance(section, GapSection) and section.board.answer is not None
        assert section.board.figures() == {"processes": 6, "best": 1, "breaches": 2, "missing": 2}
        shown = texts_in(app.holder)
        assert {"未达三级, 超出 3.86 kgce/t", "二级, 距一级 2.52 kgce/t", "超限", "对标明细 2026-03"} <= set(shown)
        assert "废钢比未录入，未修正" in shown  # the converter's limit: its scrap ratio is not entered
        # one small chart per process compared: the bar and its three GB 21256 levels as lines
        charts = [c for c in controls_in(app.holder) if isinstance(c, fch.BarChart)]
        lines = [c for c in controls_in(app.holder) if isinstance(c, fch.LineChart)]
        assert len(charts) == len(lines) == 6 and all(len(c.data_series) == 3 for c in lines)

        name, book = await _export(app, "导出 Excel")
        assert name == "benchmarking-process_energy-month-2026-03-2026-03.xlsx"
        sheet = book["对标明细 2026-03"]
        header = [c.value for c in sheet[1]]
        assert header[:4] == ["工序", "对标项", "实际值 (kgce/t)", "所达等级"]
        rows = {(r[0].value, r[1].value): r for r in sheet.iter_rows(min_row=2)}
        sin4 = rows[("SIN4 4#烧结", "烧结工序能耗 (GB 21256-2025)")]
        assert [c.value for c in sin4[2:4]] == [55.86, "未达三级, 超出 3.86 kgce/t"]
        assert sin4[7].value == 52 and sin4[8].value == "超限"
        shown = texts_in(app.holder)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, int | float):
                    text = _shown_as(cell)
                    assert text in shown or f"+{text}" in shown, (cell.coordinate, text)
                elif cell.value not in (None, "—"):  # a benchmark has no limit to exceed: nothing in the cell
                    assert cell.value in shown, (cell.coordinate, cell.value)
        assert book["分期对标"].max_row == 1 + 8  # seven processes (the ironworks without figures) and the enterprise
    finally:
        await app.api.aclose()


async def test_potential_screen_and_its_export_in_english(world: World, base_url: str) -> None:  # noqa: F811
    await _works(world, await world.login("a-accountant"))
    app, _ = await _app(base_url, world, "potential", locale="en")
    try:
        section = app.section
        assert isinstance(section, PotentialSection) and section.board.answer is not None
        board = section.board
        assert board.scenarios_available is False  # this platform serves no scenarios: said, not an error
        assert [p.code for p in board.ranked()][:2] == ["BOF", "SIN4"]
        shown = texts_in(app.holder)
        assert "The platform does not serve reduction scenarios yet" in " ".join(shown)
        [bars] = [c for c in controls_in(app.holder) if isinstance(c, fch.BarChart)]  # CO2: nothing counted
        assert [g.rods[0].to_y for g in bars.groups][1:] == [28.3, 15.4, 6.8, 4.5]

        name, book = await _export(app, "Export to Excel")
        assert name == "reduction-potential-default-month-2026-03-2026-03.xlsx"
        sheet = book["Reduction potential"]
        rows = {r[0].value: r for r in sheet.iter_rows(min_row=2)}
        assert rows["SIN4 4#烧结"][5].value == 28.3 and rows["SIN1 1#烧结"][5].value == 0
        assert rows["SIN4 4#烧结"][2].value == "Level 1 · Sintering process energy (GB 21256-2025)"
        total = rows["Enterprise total"][5].value
        assert Decimal(repr(total)) == sum(
            (Decimal(repr(r[5].value)) for k, r in rows.items() if k != "Enterprise total"), Decimal(0)
        )
        shown = texts_in(app.holder)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, int | float):
                    assert _shown_as(cell) in shown, (cell.coordinate, cell.value)
                elif cell.value not in (None, "—"):
                    assert cell.value in shown, (cell.coordinate, cell.value)
        periods = book["Potential by period"]
        assert [c.value for c in periods[2]][:3] == ["2026-03", total, 6]

        # a reference no entry has: the platform's refusal is the screen's message, what was shown stays
        board.query.reference = "target"
        await click(button(app.holder, "Search"))
        shown = texts_in(app.holder)
        assert any("has a level 'target'" in t for t in shown) and "250.28 tce" in shown
    finally:
        await app.api.aclose()
