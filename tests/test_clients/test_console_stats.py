"""The console's statistics board against a real platform served over HTTP (real PostgreSQL), on the statistics
tests' works with known inputs (four months of 2023 and 2024; every 2024 input 1.1 times its 2023 month, month m
holding m times January's): the table, the structure and the series the screen draws, the XLSX export, the
per-process view, and questions refused before they are sent or by the platform. Energy (tce) on the energy tests'
works (March 2024, hand-computed): by carrier and by process, a converter below zero, the equal value refused without
its coefficient."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from decimal import Decimal

import openpyxl
import pytest

from cem_clients.console.app_kit import workbook
from cem_clients.console.model import Console, ConsoleApi, StatisticsBoard, localized
from cem_clients.ui.i18n import Translator
from tests.test_clients.test_api_client import base_url, login  # noqa: F401 - the served platform
from tests.test_platform.world import World
from tests.test_statistics.test_emission_statistics import NET_2024_01, _works
from tests.test_statistics.test_energy_statistics import BOF_POWER, COKE, GAS, HEAT, TOTAL, WORKS_POWER
from tests.test_statistics.test_energy_statistics import _works as _energy_works

ZH, EN = Translator("zh-CN"), Translator("en")
NET_RANGE = NET_2024_01 * 10  # January to April 2024: 1 + 2 + 3 + 4 Januaries


@pytest.fixture
async def api(base_url: str) -> AsyncIterator[ConsoleApi]:  # noqa: F811
    """A client of the real platform."""
    async with ConsoleApi(base_url) as client:
        yield client


async def board_of(api: ConsoleApi, world: World, username: str = "a-executive") -> StatisticsBoard:
    """The statistics board of ``username`` on January to April 2024 by month, with every comparison."""
    await login(api, world, username)
    console = Console(api)
    assert await console.open(), console.error
    assert "statistics" in console.sections()
    board = console.statistics()
    assert await board.load_choices(), board.error
    q = board.query
    q.period, q.start, q.end, q.compare, q.base = "month", "2024-01", "2024-05", ("yoy", "pop", "base"), "2024-01"
    return board


def number(text: str) -> Decimal:
    """A figure as shown (thousand separators, a sign) as a number."""
    return Decimal(text.replace(",", "").replace("+", ""))


async def test_table_structure_and_series_of_the_works(world: World, api: ConsoleApi) -> None:
    bof = await _works(world, await world.login("a-accountant"))
    board = await board_of(api, world)
    assert await board.load(), board.error
    assert [r.period for r in board.rows] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    # the terms of GB/T 32151.5 in the standard's order; purchased heat is zero throughout and left out
    assert board.parts() == ["combustion", "process", "electricity", "fixed_carbon"]
    assert [board.part_name(ZH, k) for k in board.parts()] == ["燃烧排放", "过程排放", "电力排放", "固碳（扣除）"]
    series = board.series()
    assert series["fixed_carbon"][0] == Decimal("-169.4") and series["fixed_carbon"][3] == Decimal("-677.6")
    assert [sum(series[k][i] for k in series) for i in range(4)] == [r.net for r in board.rows]

    sheet = board.table(ZH)
    assert sheet.header == [
        "期间", "燃烧排放", "过程排放", "电力排放", "固碳（扣除）", "净排放 (tCO2)",
        "排放强度 (tCO2/t)", "同比 (%)", "环比 (%)", "定比指数 (基期=100)", "数据状态",
    ]  # fmt: skip
    shown = sheet.shown(ZH)
    assert shown[0][:7] == ["2024-01", "2,381.52", "484.00", "313.67", "-169.40", "3,009.78", "0.2736"]
    assert [row[7:10] for row in shown[:4]] == [
        ["+10.00", "—", "100.00"],
        ["+10.00", "+100.00", "200.00"],
        ["+10.00", "+50.00", "300.00"],
        ["+10.00", "+33.33", "400.00"],
    ]  # fmt: skip  (December 2023 holds no emissions: no period-on-period change for January)
    total = shown[-1]
    assert total[0] == "合计" and total[5] == "30,097.82" and number(total[5]) == round(NET_RANGE, 2)
    assert total[6] == "0.2736" and total[7:10] == ["—", "—", "—"] and total[10] == "数据完整"
    assert number(total[1]) == sum(number(row[1]) for row in shown[:4])  # the total is the periods' sum

    structure = board.structure(ZH).shown(ZH)
    assert [row[0] for row in structure] == ["燃烧排放", "过程排放", "电力排放", "固碳（扣除）", "净排放 (tCO2)"]
    assert structure[3][1] == "-1,694.00" and structure[3][2].startswith("-")  # deducted: a negative share
    assert sum(number(row[2]) for row in structure[:-1]) == Decimal("100.00")
    assert structure[-1][1:] == ["30,097.82", "100.00"]
    english = board.table(EN)
    assert english.header[1] == "Combustion" and english.shown(EN)[-1][0] == "Total"

    # the export holds the figures as numbers, rounded and formatted as shown, and the structure as a second sheet
    title, header, rows = sheet.title, sheet.header, sheet.workbook_rows()
    more = board.structure(ZH)
    book = openpyxl.load_workbook(
        io.BytesIO(workbook(title, header, rows, more=[(more.title, more.header, more.workbook_rows())]))
    )
    assert book.sheetnames == ["分期统计", "排放结构"]
    cells = [[c.value for c in row] for row in book["分期统计"].iter_rows()]
    assert cells[0] == header and len(cells) == 1 + 5
    for written, on_screen in zip(cells[1:], shown, strict=True):
        for value, text in zip(written, on_screen, strict=True):
            if isinstance(value, int | float):
                assert round(Decimal(repr(value)), 4) == number(text), (value, text)
            else:
                assert value == text
    assert book["分期统计"]["F2"].number_format == "#,##0.00" and book["分期统计"]["G2"].number_format == "#,##0.0000"
    assert [c.value for c in book["排放结构"]["A"]][1:] == [row[0] for row in structure]

    # by process: the processes and what no process carries add up to the enterprise
    board.query.dimension = "process"
    assert await board.load(), board.error
    assert board.parts() == ["BOF", "IR", "_unallocated"]
    assert [board.part_name(ZH, k) for k in board.parts()] == ["BOF 转炉炼钢", "IR 炼铁", "未归属工序"]
    assert board.part_name(EN, "_unallocated") == "Not booked to a process"
    assert board.table(ZH).shown(ZH)[-1][4] == "30,097.82"

    # the per-process view: the converter's own terms over the same months, the dimension back to the terms
    assert await board.open_process(bof.id), board.error
    answer = board.answer
    assert answer is not None and answer.scope == "process" and answer.name == "转炉炼钢"
    assert board.query.dimension == "group" and board.parts() == ["process", "fixed_carbon"]
    assert board.table(ZH).shown(ZH)[0][1:4] == ["484.00", "-169.40", "314.60"]


async def test_questions_refused_before_sending_and_by_the_platform(world: World, api: ConsoleApi) -> None:
    await _works(world, await world.login("a-accountant"))
    board = await board_of(api, world, "a-auditor")
    q = board.query
    q.base = ""
    assert not await board.load() and board.answer is None
    assert localized(q.error("base"), ZH) == "定比需要基期：请填写基期所在的年、月或日"
    q.base = "2024-01"
    assert await board.load(), board.error
    shown = board.table(ZH).shown(ZH)

    q.scope, q.scope_id, q.dimension = "process", board.processes[0].id, "process"
    assert not await board.load()
    assert localized(q.error("dimension"), EN).startswith("A process is not divided by process")
    q.scope, q.scope_id, q.dimension = "enterprise", board.enterprise_id, "group"

    q.base = "2022-06"  # the platform's 400: message and hint, the figures shown before stay
    assert not await board.load()
    assert "2022-06 has no emissions" in board.error and "Choose a base period" in board.error
    assert board.table(ZH).shown(ZH) == shown
    q.base, q.period, q.start, q.end = "2024-01", "hour", "2024-01", "2024-03"
    assert not await board.load() and "more than 168 hour periods" in board.error
    q.start, q.end, q.period, q.compare = "2022-01", "2022-03", "month", ("yoy",)  # nothing accounted then
    assert await board.load(), board.error
    assert board.parts() == [] and board.structure(ZH).shown(ZH) == [["净排放 (tCO2)", "0.00", "—"]]
    nets = [row[:2] for row in board.table(ZH).shown(ZH)]
    assert nets == [["2022-01", "0.00"], ["2022-02", "0.00"], ["合计", "0.00"]]
    shown = board.table(ZH).shown(ZH)
    q.start, q.end, q.period, q.compare = "2024-05", "2024-01", "month", ("yoy", "pop", "base")
    assert not await board.load()
    assert localized(q.error("end"), ZH) and board.table(ZH).shown(ZH) == shown


async def test_energy_by_carrier_and_process_with_units_of_the_answer(world: World, api: ConsoleApi) -> None:
    bof = await _energy_works(world, await world.login("a-accountant"))
    board = await board_of(api, world)
    q = board.query
    q.start, q.end, q.compare = "2024-03", "2024-04", ("yoy",)
    q.set_metric("energy")
    assert q.dimension == "carrier"
    assert await board.load(), board.error
    answer = board.answer
    assert answer is not None and (answer.metric, board.unit, board.intensity_unit) == ("energy", "tce", "kgce/t")
    assert answer.electricity == "equivalent" and answer.total.direct is None
    # the carriers in the works' order (fuels, by-product gases, electricity, heat), named in both languages
    assert board.parts() == ["coke", "converter_gas", "electricity", "heat"]
    assert [board.part_name(ZH, k) for k in board.parts()] == ["焦炭", "转炉煤气", "电力", "热力"]
    assert [board.part_name(EN, k) for k in board.parts()] == ["Coke", "Converter gas", "Electricity", "Heat"]

    sheet = board.table(ZH)
    assert sheet.header == [
        "期间", "焦炭", "转炉煤气", "电力", "热力", "综合能耗 (tce)", "能耗强度 (kgce/t)", "同比 (%)", "数据状态",
    ]  # fmt: skip
    shown = sheet.shown(ZH)
    # 1,000 t coke at 28.435 GJ/t over 29.3076 GJ/tce; 100 x 10^4 Nm3 converter gas recovered (84 GJ each, minus);
    # 2,500 MWh at 0.1229 tce/MWh; 1,000 GJ heat at 0.03412 tce/GJ; per tonne of the 10,000 t of crude steel
    assert shown[0][:7] == ["2024-03", "970.23", "-286.62", "307.25", "34.12", "1,024.98", "102.50"]
    assert number(shown[0][5]) == round(TOTAL, 2) and number(shown[0][6]) == round(TOTAL * 1000 / 10000, 2)
    assert number(shown[0][1]) == round(COKE, 2) and number(shown[0][2]) == round(GAS, 2)
    assert shown[0][7] == "—"  # March 2023 holds no energy
    assert shown[-1][0] == "合计" and shown[-1][5] == "1,024.98"
    english = board.table(EN)
    assert english.header[5:7] == ["Net energy (tce)", "Energy intensity (kgce/t)"]

    structure = board.structure(ZH)
    assert structure.header == ["能源品种", "tce", "占综合能耗 (%)"]
    rows = structure.shown(ZH)
    assert rows[1][:2] == ["转炉煤气", "-286.62"] and rows[1][2].startswith("-")  # recovered: a negative share
    assert sum(number(row[2]) for row in rows[:-1]) == Decimal("100.00")
    assert rows[-1] == ["综合能耗 (tce)", "1,024.98", "100.00"]
    electricity = next(p for p in answer.total.parts if p.key == "electricity")
    assert electricity.value == BOF_POWER + WORKS_POWER

    # the export says what it holds: the metric and the method in its name, the units in its captions
    assert board.filename() == "statistics-energy-equivalent-甲钢铁-month-2024-03-2024-04.xlsx"
    book = openpyxl.load_workbook(
        io.BytesIO(
            workbook(
                sheet.title,
                sheet.header,
                sheet.workbook_rows(),
                more=[(structure.title, structure.header, structure.workbook_rows())],
            )
        )
    )
    assert book.sheetnames == ["分期能耗（电力当量值）", "能源结构（电力当量值）"]
    periods = book["分期能耗（电力当量值）"]
    assert periods["F1"].value == "综合能耗 (tce)" and periods["G1"].value == "能耗强度 (kgce/t)"
    assert periods["C2"].value == float(round(GAS, 2)) and periods["G2"].number_format == "#,##0.00"
    assert book["能源结构（电力当量值）"]["B1"].value == "tce"

    # by process: the converter recovers more than it uses, what no process carries is the works' power and heat
    q.dimension = "process"
    assert await board.load(), board.error
    assert board.parts() == ["BOF", "IR", "_unallocated"]
    values = {p.key: p.value for p in board.answer.total.parts} if board.answer else {}
    assert values["BOF"] < 0 and abs(values["BOF"] - (BOF_POWER + GAS)) < Decimal("1e-6")
    assert values["_unallocated"] == WORKS_POWER + HEAT
    assert board.table(ZH).shown(ZH)[0][1:4] == ["-40.82", "970.23", "95.57"]

    # the converter's own view: back to its carriers, its process energy per tonne of its steel below zero
    assert await board.open_process(bof.id), board.error
    assert board.query.dimension == "carrier" and board.parts() == ["converter_gas", "electricity"]
    assert board.table(EN).shown(EN)[0][1:5] == ["-286.62", "245.80", "-40.82", "-4.08"]

    # a breakdown of the other metric is refused before sending; the equal value needs the library's coefficient
    q.dimension = "group"
    assert not await board.load()
    assert localized(q.error("dimension"), ZH) == "请选择分析维度：能源品种或工序"
    q.dimension = "process"
    assert not await board.load() and localized(q.error("dimension"), EN).endswith("choose the energy carriers")
    q.scope, q.scope_id, q.dimension, q.electricity = "enterprise", board.enterprise_id, "carrier", "equal_value"
    shown = board.table(ZH).shown(ZH)
    assert not await board.load()
    assert "electricity.equal_value" in board.error and board.table(ZH).shown(ZH) == shown

    # and emissions again: the five terms, tCO2
    q.set_metric("emissions")
    assert q.dimension == "group" and await board.load(), board.error
    assert board.unit == "tCO2" and board.table(ZH).header[-4:-2] == ["净排放 (tCO2)", "排放强度 (tCO2/t)"]
