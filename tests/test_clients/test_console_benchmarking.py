"""The console's 对标分析 and 降碳潜力 against the served platform on the gap analysis tests' works (March 2026): what
the view models make of the platform's answers, and the XLSX exports opened with openpyxl, cell by cell against
what the screen shows. The query form's checks need no platform."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any, cast

import flet as ft
import flet_charts as fch
import openpyxl

from cem_clients.api import NotFound
from cem_clients.console.app import ConsoleApp
from cem_clients.console.benchmarking import BenchmarkQuery
from cem_clients.console.model import ConsoleApi
from cem_clients.console.screens_benchmarking import GapSection, PotentialSection
from cem_clients.ui.i18n import Translator
from tests.test_benchmarking.test_gap_analysis import BM, _works
from tests.test_benchmarking.test_scenarios import HEAT, SCRAP, SHARE, _change_measures
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_console_app import StubPage, button, click, controls_in, session_of, texts_in
from tests.test_platform.world import World

MARCH = {"period": "month", "start": "2026-03"}


async def scenario(world: World, headers: dict[str, str], processes: dict[str, Any]) -> int:
    """The scenario tests' measures (a per-tonne and a fractional one for sinter plants, one for the converter) in
    the enterprise's library and a 2026 scenario applying them; its id."""
    added = await _change_measures(
        world, headers, [{"code": "own.heat", "entry": HEAT}, {"code": "own.share", "entry": SHARE},
                         {"code": "own.scrap", "entry": SCRAP}],
    )  # fmt: skip
    assert added.status_code == 201, added.text
    body = {
        "enterprise_id": world.a.enterprise.id, "name": "2026 降碳方案", "base_year": 2026, "discount_rate": "0.1",
        "energy_price": "1000",
        "applications": [
            {"measure": "own.heat", "process_id": processes["SIN4"].id},
            {"measure": "own.share", "process_id": processes["SIN4"].id, "adoption": "0.5"},
            {"measure": "own.heat", "process_id": processes["SIN2"].id},
            {"measure": "sintering.waste-heat", "process_id": processes["SIN3"].id},  # shared, no cost: off the curve
        ],
    }  # fmt: skip
    created = await world.client.post(f"{BM}/scenarios", headers=headers, json=body)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


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

        # one process by year: its own analysis, the year's figure (only March has figures) against its levels
        board = section.board
        sin2 = next(p for p in board.processes if p.code == "SIN2")
        board.query.scope, board.query.scope_id = "process", sin2.id
        board.query.set_period("year")
        await click(button(app.holder, "搜索"))
        assert [s.code for s, _ in board.series()] == ["SIN2"] and board.answer is not None
        assert board.answer.periods == ("2026",) and board.figures()["processes"] == 1
        assert "二级, 距一级 2.52 kgce/t" in texts_in(app.holder) and "对标明细 2026" in texts_in(app.holder)
    finally:
        await app.api.aclose()


async def test_potential_screen_and_its_export_in_english(world: World, base_url: str) -> None:  # noqa: F811
    await _works(world, await world.login("a-accountant"))
    app, _ = await _app(base_url, world, "potential", locale="en")
    try:
        section = app.section
        assert isinstance(section, PotentialSection) and section.board.answer is not None
        board = section.board
        assert board.scenarios_available is True and board.scenarios == []
        assert [p.code for p in board.ranked()][:2] == ["BOF", "SIN4"]
        shown = texts_in(app.holder)
        assert "No scenarios yet." in shown
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

        # a platform without scenarios (404): said so, not an error
        async def none(*_: object) -> None:
            raise NotFound(404, "not_found", "Not Found", "", "")

        board.api.scenarios = none  # type: ignore[method-assign]
        board.scenarios_available = None
        await board.load_scenarios()
        assert board.scenarios_available is False and not board.error
        app.draw()
        assert "The platform does not serve reduction scenarios yet" in " ".join(texts_in(app.holder))

        # a reference no entry has: the platform's refusal is the screen's message, what was shown stays
        board.query.reference = "target"
        await click(button(app.holder, "Search"))
        shown = texts_in(app.holder)
        assert any("has a level 'target'" in t for t in shown) and "250.28 tce" in shown
    finally:
        await app.api.aclose()


async def test_a_scenario_and_its_mac_curve_on_the_potential_screen(world: World, base_url: str) -> None:  # noqa: F811
    accountant = await world.login("a-accountant")  # with TOTP: the measures library's step-up is fresh
    processes = await _works(world, accountant)
    await scenario(world, accountant, processes)
    app, _ = await _app(base_url, world, "potential")
    try:
        section = app.section
        assert isinstance(section, PotentialSection)
        board = section.board
        assert board.scenarios_available is True and board.scenario is not None
        assert [s.name for s in board.scenarios] == ["2026 降碳方案"]
        mac = board.scenario.mac
        costs = [step.cost_per_tco2_cny for step in mac if step.cost_per_tco2_cny is not None]
        assert costs == sorted(costs) and len(costs) == 3  # cheapest first; the costless measure after them
        shown = texts_in(app.holder)
        assert "边际减排成本曲线" in shown and "1 项措施无成本数据，未画入曲线，见下表" in shown
        curve = [c for c in controls_in(app.holder) if isinstance(c, fch.BarChart)][-1]
        widths = [g.rods[0].width for g in curve.groups]
        abatements = [float(step.abatement_tco2) for step in mac if step.cost_per_tco2_cny is not None]
        assert len(widths) == 3 and abs(widths[0] / widths[1] - abatements[0] / abatements[1]) < 0.01  # as wide

        name, book = await _export(app, "导出 Excel")
        sheet = book["边际减排成本 2026 降碳方案"]
        assert [c.value for c in sheet[1]][:3] == ["减排措施", "工序", "减排量 (tCO2)"]
        assert sheet.max_row == 1 + len(mac)
        assert sheet.cell(2, 6).value == float(round(mac[0].cumulative_abatement_tco2 or 0, 2))
    finally:
        await app.api.aclose()
