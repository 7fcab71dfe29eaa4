"""The console's 碳资产 against the served platform on the carbon-asset tests' enterprise (kept months 2022-01 to
2025-08, 2024 verified): what the view model makes of the holdings, the ledger and the trial calculation, the XLSX
export opened with openpyxl cell by cell against what the screen shows, and a transaction the platform refuses.
The entry form's own checks need no platform."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any, cast

import flet as ft
import flet_charts as fch
import openpyxl

from cem_clients.console.app import ConsoleApp
from cem_clients.console.carbon import TransactionForm
from cem_clients.console.model import ConsoleApi
from cem_clients.console.screens_carbon import CarbonSection
from cem_clients.ui.i18n import Translator
from cem_platform.accounting.models import EmissionResult
from cem_platform.accounting.reads import clear_cache
from tests.test_carbon_assets.test_carbon_assets import CA, VERIFIED_2024, _seed
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_console_app import StubPage, button, click, controls_in, session_of, texts_in
from tests.test_platform.world import World

YEAR = {"year": "2025"}


async def assets(world: World) -> dict[str, Any]:
    """The kept months (their combustion varied by a few thousand tonnes), a pre-allocation of 70 % of 2024's
    verified emissions, 500,000 t of CCER (2024 vintage), a purchase of 10,000 t corrected to 12,000 t, and the
    latest CEA and CCER prices."""
    await _seed(world)
    for row in await EmissionResult.filter(enterprise=world.a.enterprise):  # months that vary: a forecast with a band
        delta = Decimal((row.period_start.month * 7919 + row.period_start.year * 104729) % 9001 - 4500)
        combustion = row.combustion + delta  # the blast furnace 80 % of it and the process emissions, the BOF the rest
        bf = {"combustion": combustion * Decimal("0.8"), "process": row.process_emissions, "fixed_carbon": Decimal(0)}
        bof = {"combustion": combustion * Decimal("0.2"), "process": Decimal(0), "fixed_carbon": row.fixed_carbon}
        by_process = {
            code: {**{k: str(v) for k, v in t.items()}, "net": str(t["combustion"] + t["process"] - t["fixed_carbon"])}
            for code, t in (("BF", bf), ("BOF", bof))
        }
        energy = {**row.energy, "by_process": {"BF": {"output": str(row.crude_steel * Decimal("0.9"))},
                                                "BOF": {"output": str(row.crude_steel)}}}  # fmt: skip
        await EmissionResult.filter(id=row.id).update(
            combustion=combustion, net=row.net + delta, by_process=by_process, energy=energy
        )
    clear_cache()
    accountant = await world.login("a-accountant")

    async def post(path: str, body: dict[str, Any]) -> Any:
        response = await world.client.post(f"{CA}{path}", headers=accountant, json=body)
        if path == "/prices" and "already" in response.text:  # prices are one series for all: kept from a test before
            return None
        assert response.status_code == 201, response.text
        return response.json()

    tx = {"enterprise_id": world.a.enterprise.id, "year": 2025, "traded_on": "2025-03-01"}
    pre = str(VERIFIED_2024 * Decimal("0.7"))
    await post("/transactions", {**tx, "instrument": "allowance", "kind": "pre_allocation", "quantity": pre})
    ccer = {"price": "60", "offset_type": "CCER", "project": "风电 A", "vintage": 2024}
    await post("/transactions", {**tx, "instrument": "offset", "kind": "acquired", "quantity": "500000", **ccer})
    bought = await post("/transactions", {**tx, "instrument": "allowance", "kind": "purchased", "quantity": "10000",
                                          "price": "88", "traded_on": "2025-05-10"})  # fmt: skip
    await post("/transactions", {**tx, "instrument": "allowance", "kind": "purchased", "quantity": "12000",
                                 "price": "88", "traded_on": "2025-05-10", "corrects": bought["id"],
                                 "note": "数量录错"})  # fmt: skip
    await post("/prices", {"instrument": "CEA", "day": "2025-06-30", "price": "90.5"})
    await post("/prices", {"instrument": "CCER", "day": "2025-06-30", "price": "62"})
    return {"accountant": accountant, "bought": bought["id"]}


def test_the_entry_form_is_checked_before_anything_is_sent() -> None:
    form = TransactionForm(quantity="12,5", traded_on="2025-13-01")
    assert form.validate() is None and form.error("quantity") and form.error("traded_on")
    form.quantity, form.traded_on = "1000", "2025-03-01"
    assert form.validate() == {
        "instrument": "allowance", "kind": "purchased", "quantity": "1000", "traded_on": "2025-03-01", "note": "",
    }  # fmt: skip
    form.set_instrument("offset")  # the kind follows the instrument
    assert form.kind == "acquired" and form.validate() is None and form.error("vintage")
    form.vintage, form.project, form.price = "2024", "风电 A", "60"
    body = form.validate()
    assert body is not None and body["vintage"] == 2024 and body["offset_type"] == "CCER" and body["price"] == "60"
    assert TransactionForm(void=True, traded_on="2025-03-01").validate() is None  # a void names what it cancels


async def _app(base_url: str, world: World, locale: str = "zh-CN") -> tuple[ConsoleApp, StubPage]:  # noqa: F811
    page = StubPage()
    app = ConsoleApp(
        cast(ft.Page, page), ConsoleApi(base_url), Translator(locale), start_section="carbon", start_options=YEAR
    )
    await app.resume(await session_of(base_url, world, "a-accountant"))
    return app, page


def _shown_as(cell: openpyxl.cell.Cell) -> str:
    value = cell.value
    places = len(cell.number_format.split(".")[1]) if "." in cell.number_format else 0
    return f"{Decimal(repr(value)):,.{places}f}"


async def test_carbon_assets_screen_its_export_and_a_refused_entry(world: World, base_url: str) -> None:  # noqa: F811
    seeded = await assets(world)
    app, _ = await _app(base_url, world)
    try:
        section = app.section
        assert isinstance(section, CarbonSection)
        board = section.board
        assert board.trial is not None and board.holdings is not None and not board.error
        trial = board.trial
        # allowances held: pre-allocation + the corrected purchase (12,000, not 10,000)
        pre = VERIFIED_2024 * Decimal("0.7")
        assert board.holdings.allowances == pre + 12000 and trial.allowances_held == pre + 12000
        assert [e.counts for e in board.transactions] == [True, True, False, True]
        assert board.transactions[3].corrects == seeded["bought"]
        # the twelve months: eight kept, four forecast, their sum the obligation's
        months = board.months()
        assert [m.actual for m in months] == [True] * 8 + [False] * 4 and board.last_actual() == 8
        assert abs(months[-1].cumulative - trial.obligation) < Decimal("0.01")
        assert trial.offsets_usable == trial.offset_cap < 500000  # the 5 % cap

        shown = texts_in(app.holder)
        assert {"碳资产", "2025 年度试算", "抵销上限（履约量的 5%）", "已被更正"} <= set(shown)
        assert f"更正 #{seeded['bought']}" in shown
        assert not any(t.startswith(("carbon.", "console.")) for t in shown)
        # the trend as bars (kept, forecast) with the pace; the forecast as lines with the band's two ends
        [bars] = [c for c in controls_in(app.holder) if isinstance(c, fch.BarChart)]
        assert len(bars.groups) == 12 and bars.groups[0].rods[0].color != bars.groups[11].rods[0].color
        lines = [c for c in controls_in(app.holder) if isinstance(c, fch.LineChart)]
        pace, forecast, assets_chart = lines  # the trend's pace, the forecast, the asset value by month end
        valued = [(i, m) for i, m in enumerate(board.assets) if m.value is not None]  # a price known by then
        drawn = assets_chart.data_series[0].points
        assert len(pace.data_series) == 1
        assert [(p.x, p.y) for p in drawn] == [(i, float(m.value or 0)) for i, m in valued]
        assert all(p.tooltip.startswith(m.month) for p, (_, m) in zip(drawn, valued, strict=True))
        assert len(forecast.data_series) == 5  # cover, actual, forecast, band low, band high
        direct = trial.emissions.forecasts["direct"]
        ends = sorted(s.points[-1].y for s in forecast.data_series[3:])
        assert ends == [float(direct.low), float(direct.high)]

        saved: list[tuple[str, bytes]] = []

        async def save(filename: str, content: bytes) -> None:
            saved.append((filename, content))

        app.ui.save_file = save  # type: ignore[method-assign]
        await click(button(app.holder, "导出 Excel"))
        [(name, content)] = saved
        assert name == "carbon-assets-2025.xlsx"
        book = openpyxl.load_workbook(io.BytesIO(content))
        assert book.sheetnames == ["试算 2025", "持有 2025", "逐月 2025", "台账 2025", "资产趋势 2025", "工序预测 2025"]
        processes = book["工序预测 2025"]  # each process's kept figures add up to the enterprise's
        assert [processes.cell(r, 1).value for r in (2, 3)] == ["BF", "BOF"]
        kept = sum(Decimal(repr(processes.cell(r, 2).value)) for r in (2, 3))
        assert abs(kept - trial.emissions.forecasts["direct"].actual) < Decimal("0.02")
        trend = book["资产趋势 2025"]  # month ends from the first transaction's (March 2025) to this month's
        assert trend.cell(2, 1).value == "2025-03" and trend.max_row == 1 + len(board.assets)
        assert trend.cell(trend.max_row, 4).value == float(board.holdings.value or 0)  # today's prices: the same
        sheet = book["试算 2025"]
        assert [c.value for c in sheet[1]] == ["项目", "tCO2", "金额 (元)"]
        rows = {r[0].value: r for r in sheet.iter_rows(min_row=2)}
        assert rows["全年履约排放"][1].value == float(round(trial.obligation, 2))
        assert rows["盈缺（正为盈余）"][2].value == float(round(trial.money.position, 2)) if trial.money else False
        holdings = book["持有 2025"]
        assert holdings.cell(holdings.max_row, 4).value == float(board.holdings.value or 0)
        assert book["逐月 2025"].max_row == 13 and book["台账 2025"].max_row == 5
        for name in book.sheetnames:
            for row in book[name].iter_rows(min_row=2):
                for cell in row:
                    if isinstance(cell.value, int | float):
                        text = _shown_as(cell)
                        assert text in shown or f"+{text}" in shown, (name, cell.coordinate, text)
                    elif cell.value not in (None, "—", ""):
                        assert cell.value in shown, (name, cell.coordinate, cell.value)

        # a surrender beyond the holding: the platform's refusal in the form, nothing written
        form = board.begin_entry()
        form.kind, form.quantity, form.traded_on = "surrendered", "99999999", "2025-12-01"
        assert await board.submit_entry(Translator("zh-CN")) is None and board.form is form
        assert form.message == "清缴 99999999 t 超过持有量，未写入。"  # the platform's refusal in the reader's words
        assert len(board.transactions) == 4
        form.instrument, form.kind, form.vintage, form.quantity = "offset", "acquired", "2005", "10"
        assert await board.submit_entry(Translator("en")) is None
        assert form.message.startswith("Vintage 2005 is not eligible in 2025 (the rule accepts")
        assert len(board.transactions) == 4
        # a correction of the 500,000 t of CCER to 400,000 t is kept and counts instead
        ccer = board.transactions[1]
        form = board.begin_entry(ccer)
        form.quantity = "400000"
        done = await board.submit_entry()
        assert done is not None and done.corrects == ccer.id and board.form is None
        assert [e.counts for e in board.transactions] == [True, False, False, True, True]
        assert board.holdings is not None and board.holdings.offsets_total == 400000
    finally:
        await app.api.aclose()
