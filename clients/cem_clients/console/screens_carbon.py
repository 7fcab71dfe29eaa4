"""The 碳资产 screen: one compliance year's holdings and asset value, the trial calculation (试算) with its band, the
trend (monthly ETS-scope emissions against the allowances' even pace), the forecast to year end with its band, the
append-only ledger and its entry form, and the XLSX export of the tables as shown.

Everything drawn comes from :class:`~cem_clients.console.carbon.CarbonBoard`'s sheets and months, so the charts,
the tables beside them and the export say the same figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import flet as ft
import flet_charts as fch

from cem_clients.console.app_kit import (
    SERIES_COLOURS,
    LegendEntry,
    Section,
    Ui,
    card,
    chart_axis,
    chart_card,
    chart_scale,
    checkbox,
    date_field,
    dropdown,
    export_button,
    form_dialog,
    message,
    muted,
    primary_button,
    section_page,
    sheet_data,
    sheet_table,
    stat,
    text_field,
    value_axis,
    wrapped,
)
from cem_clients.console.carbon import INSTRUMENTS, KINDS, CarbonBoard, note_text
from cem_clients.console.model import Console
from cem_clients.ui.theme import Tone

__all__ = ["CarbonSection"]

_ACTUAL, _FORECAST, _PACE, _BAND, _COVER = SERIES_COLOURS[0], "#93C5FD", SERIES_COLOURS[1], "#8B5CF6", "#10B981"
_LEFT, _BOTTOM = 64, 24


class CarbonSection(Section):
    """碳资产: holdings, trial calculation, trend and forecast charts with their tables, the ledger."""

    title_key = "console.section.carbon"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.board: CarbonBoard = console.carbon()
        year = options.get("year", "")
        if year.isdigit() and len(year) == 4:
            self.board.year = int(year)
        self.notice = ""

    async def load(self) -> None:
        await self.board.load()

    # ---- the page ---------------------------------------------------------------------------------------------

    def render(self) -> ft.Control:
        t, board = self.t, self.board
        trailing: list[ft.Control] = [self._year_picker()]
        if board.trial is not None:
            trailing.append(export_button(self.ui, board.filename, self._sheet, more=self._more))
        if self.console.can("accounting.write"):
            trailing.append(primary_button(t("carbon.entry.new"), lambda: self._entry(), icon=ft.Icons.ADD))
        content: list[ft.Control] = [muted(t("carbon.about"))]
        if board.trial is not None:
            content += [self._figures(), self._charts(), self._tables()]
        if board.holdings is not None:
            content.append(self._ledger())
        return section_page(
            t("console.section.carbon"), content, trailing=trailing, error=board.error, notice=self.notice
        )

    def _year_picker(self) -> ft.Control:
        board = self.board
        years = sorted({board.year, *range(board.year - 2, board.year + 2)}, reverse=True)

        async def choose(value: str) -> None:
            if value.isdigit():
                await board.choose_year(int(value))
                self.ui.refresh()

        return dropdown(self.t("carbon.year"), str(board.year), [(str(y), str(y)) for y in years], choose, width=130)

    def _figures(self) -> ft.Control:
        t, tr, trial, held = self.t, self.ui.tr, self.board.trial, self.board.holdings
        assert trial is not None  # noqa: S101 - drawn only with a trial
        surplus = trial.position >= 0
        money = trial.money
        band = t(
            "carbon.stat.band",
            percent=self.board.band_percent,
            low=tr.number(trial.band.low.position, 0, sign=True),
            high=tr.number(trial.band.high.position, 0, sign=True),
        )
        direct = trial.emissions.forecasts.get("direct")
        return ft.Row(
            [
                stat(
                    t("carbon.stat.surplus" if surplus else "carbon.stat.deficit"),
                    f"{tr.number(trial.position, 0, sign=True)} tCO2",
                    tone=Tone.GOOD if surplus else Tone.CRITICAL,
                    note=band,
                ),
                stat(
                    t("carbon.stat.money"),
                    f"{tr.number(money.position, 0, sign=True)} CNY" if money else "—",
                    tone=Tone.GOOD if surplus else Tone.CRITICAL,
                    note=t("carbon.stat.price", price=tr.number(money.price, 2), day=money.price_day)
                    if money
                    else t("carbon.stat.no_price"),
                ),
                stat(
                    t("carbon.stat.value"),
                    f"{tr.number(held.value, 0)} CNY" if held is not None and held.value is not None else "—",
                    note=t("carbon.stat.value_note"),
                ),
                stat(
                    t("carbon.stat.obligation"),
                    f"{tr.number(trial.obligation, 0)} tCO2",
                    note=t(
                        "carbon.stat.obligation_note",
                        low=tr.number(direct.low, 0) if direct else "—",
                        high=tr.number(direct.high, 0) if direct else "—",
                    ),
                ),
            ],
            spacing=12,
        )

    # ---- charts -----------------------------------------------------------------------------------------------

    def _charts(self) -> ft.Control:
        t, board = self.t, self.board
        months = board.months()
        trend = chart_card(
            t("carbon.chart.trend"),
            self._trend_chart() if months else None,
            [
                LegendEntry(t("carbon.basis.actual"), _ACTUAL),
                LegendEntry(t("carbon.basis.forecast"), _FORECAST),
                LegendEntry(t("carbon.legend.pace"), _PACE, line=True, dashed=True),
            ],
            subtitle=t("carbon.chart.trend_about"),
            empty=t("carbon.chart.none"),
            height=250,
            expand=True,
        )
        forecast = chart_card(
            t("carbon.chart.forecast"),
            self._forecast_chart() if months else None,
            [
                LegendEntry(t("carbon.basis.actual"), _ACTUAL, line=True),
                LegendEntry(t("carbon.legend.forecast"), _ACTUAL, line=True, dashed=True),
                LegendEntry(t("carbon.legend.band", percent=board.band_percent), _BAND, line=True, dashed=True),
                LegendEntry(t("carbon.legend.cover"), _COVER, line=True),
            ],
            subtitle=t("carbon.chart.forecast_about"),
            empty=t("carbon.chart.none"),
            height=250,
            expand=True,
        )
        return ft.Row([trend, forecast], spacing=12, vertical_alignment=ft.CrossAxisAlignment.START)

    def _month_axis(self) -> fch.ChartAxis:
        return chart_axis([(float(i), f"{i + 1}") for i in range(12)], size=_BOTTOM)

    def _trend_chart(self) -> ft.Control:
        """Monthly ETS-scope emissions as bars (kept: dark, forecast: light) and the allowances' even monthly pace as
        a dashed line across."""
        tr, board = self.ui.tr, self.board
        months = board.months()
        trial = board.trial
        assert trial is not None  # noqa: S101 - drawn only with a trial
        monthly_pace = float(trial.allowances) / 12
        scale = chart_scale([*(float(m.emissions) for m in months), monthly_pace])
        groups = [
            fch.BarChartGroup(
                x=i,
                rods=[
                    fch.BarChartRod(
                        from_y=0,
                        to_y=float(m.emissions),
                        width=18,
                        border_radius=0,
                        color=_ACTUAL if m.actual else _FORECAST,
                        tooltip=f"{m.month}\n{tr.number(m.emissions, 0)} tCO2",
                    )
                ],
            )  # fmt: skip
            for i, m in enumerate(months)
        ]
        grid = fch.ChartGridLines(interval=scale.step, color=self.ui.palette.outline, width=0.5)
        bars = fch.BarChart(
            groups=groups,
            group_alignment=ft.MainAxisAlignment.SPACE_AROUND,
            min_y=scale.low,
            max_y=scale.high,
            left_axis=value_axis(tr, scale, size=_LEFT),
            bottom_axis=self._month_axis(),
            horizontal_grid_lines=grid,
            tooltip=fch.BarChartTooltip(bgcolor=self.ui.palette.text, fit_inside_horizontally=True),
            expand=True,
        )
        pace = fch.LineChart(
            data_series=[
                fch.LineChartData(
                    points=[fch.LineChartDataPoint(-0.5, monthly_pace), fch.LineChartDataPoint(11.5, monthly_pace)],
                    color=_PACE,
                    stroke_width=2,
                    dash_pattern=[6, 4],
                    point=False,
                )  # fmt: skip
            ],
            min_x=-0.5,
            max_x=11.5,
            min_y=scale.low,
            max_y=scale.high,
            left_axis=value_axis(tr, scale, size=_LEFT, hidden=True),
            bottom_axis=chart_axis([(float(i), "") for i in range(12)], size=_BOTTOM),
            interactive=False,
            expand=True,
        )
        return ft.Stack([bars, pace], expand=True)

    def _forecast_chart(self) -> ft.Control:
        """Cumulative ETS-scope emissions: kept months as a line, the forecast on from the last kept month dashed,
        the band's ends at year end joined to the last kept month, and what covers the obligation (allowances +
        usable offsets) across."""
        tr, board = self.ui.tr, self.board
        trial = board.trial
        assert trial is not None  # noqa: S101 - drawn only with a trial
        months = board.months()
        kept = board.last_actual()
        direct = trial.emissions.forecasts.get("direct")
        cover = float(trial.allowances + trial.offsets_usable)
        low = float(direct.low) if direct else float(months[-1].cumulative)
        high = float(direct.high) if direct else float(months[-1].cumulative)
        values = [float(m.cumulative) for m in months]
        scale = chart_scale([*values, cover, low, high])
        start_x, start_y = (kept - 1, values[kept - 1]) if kept else (-1, 0.0)

        def line(points: Sequence[tuple[float, float]], colour: str, *, dashed: bool = False) -> fch.LineChartData:
            return fch.LineChartData(
                points=[
                    fch.LineChartDataPoint(x, y, tooltip=f"{tr.number(y, 0)} tCO2")
                    for x, y in points
                ],
                color=colour, stroke_width=2.5 if not dashed else 2, dash_pattern=[6, 4] if dashed else None,
                point=not dashed,
            )  # fmt: skip

        series = [line([(-0.5, cover), (11.5, cover)], _COVER)]
        if kept:
            series.append(line([(float(i), values[i]) for i in range(kept)], _ACTUAL))
        if kept < 12:
            series.append(line([(float(start_x), start_y), *((float(i), values[i]) for i in range(kept, 12))],
                               _ACTUAL, dashed=True))  # fmt: skip
            series.append(line([(float(start_x), start_y), (11.0, low)], _BAND, dashed=True))
            series.append(line([(float(start_x), start_y), (11.0, high)], _BAND, dashed=True))
        chart: ft.Control = fch.LineChart(
            data_series=series,
            min_x=-0.5,
            max_x=11.5,
            min_y=scale.low,
            max_y=scale.high,
            left_axis=value_axis(tr, scale, size=_LEFT),
            bottom_axis=self._month_axis(),
            horizontal_grid_lines=fch.ChartGridLines(interval=scale.step, color=self.ui.palette.outline, width=0.5),
            tooltip=fch.LineChartTooltip(bgcolor=self.ui.palette.text, fit_inside_horizontally=True),
            expand=True,
        )
        return chart

    # ---- tables -----------------------------------------------------------------------------------------------

    def _tables(self) -> ft.Control:
        """The trial calculation and the holdings side by side, the months under them (the charts' figures)."""
        t, tr, board = self.t, self.ui.tr, self.board
        trial = board.trial
        assert trial is not None  # noqa: S101 - drawn only with a trial
        notes = [wrapped(note_text(tr, n), 520, muted_=True) for n in trial.notes]
        left = card(
            [sheet_table(board.trial_table(tr), tr), *notes],
            title=t("carbon.trial.title", year=board.year),
            subtitle=t("carbon.trial.about", rule=trial.rule_version, deadline=trial.deadline or "—"),
            expand=True,
        )
        right = card(
            [sheet_table(board.holdings_table(tr), tr, total=True, empty=t("carbon.holdings.empty"))],
            title=t("carbon.holdings.title"),
            subtitle=t("carbon.holdings.about"),
            expand=True,
        )
        months = card(
            [sheet_table(board.months_table(tr), tr)],
            title=t("carbon.months.title"),
            subtitle=t("carbon.months.about"),
        )
        return ft.Column(
            [
                ft.Row([left, right], spacing=12, vertical_alignment=ft.CrossAxisAlignment.START),
                self._assets(),
                months,
                card(
                    [sheet_table(board.processes_table(tr), tr, empty=t("carbon.processes.empty"))],
                    title=t("carbon.processes.title"),
                    subtitle=t("carbon.processes.about"),
                ),
            ],
            spacing=12,
        )

    def _assets(self) -> ft.Control:
        """The asset trend: the holdings' value at each month end (at the prices of then) as a line, its table
        beside it."""
        t, tr, board = self.t, self.ui.tr, self.board
        chart = chart_card(
            t("carbon.chart.assets"),
            self._assets_chart(),
            subtitle=t("carbon.chart.assets_about"),
            empty=t("carbon.chart.assets_none"),
            height=220,
            expand=True,
        )
        table = card(
            [sheet_table(board.assets_table(tr), tr, empty=t("carbon.chart.assets_none"))],
            title=t("carbon.assets.title"),
            expand=True,
        )
        return ft.Row([chart, table], spacing=12, vertical_alignment=ft.CrossAxisAlignment.START)

    def _assets_chart(self) -> ft.Control | None:
        tr = self.ui.tr
        points = [(i, float(m.value)) for i, m in enumerate(self.board.assets) if m.value is not None]
        if not points:
            return None
        count = len(self.board.assets)
        scale = chart_scale([v for _, v in points])
        step = max(1, -(-count // 6))
        labels = [(float(i), m.month) for i, m in enumerate(self.board.assets) if i % step == 0]
        chart: ft.Control = fch.LineChart(
            data_series=[
                fch.LineChartData(
                    points=[
                        fch.LineChartDataPoint(
                            float(i), v, tooltip=f"{self.board.assets[i].month}\n{tr.number(v, 0)} CNY"
                        )
                        for i, v in points
                    ],
                    color=_COVER,
                    stroke_width=2.5,
                    point=True,
                )
            ],  # fmt: skip
            min_x=-0.5,
            max_x=count - 0.5,
            min_y=scale.low,
            max_y=scale.high,
            left_axis=value_axis(tr, scale, size=_LEFT),
            bottom_axis=chart_axis(labels, size=_BOTTOM),
            horizontal_grid_lines=fch.ChartGridLines(interval=scale.step, color=self.ui.palette.outline, width=0.5),
            tooltip=fch.LineChartTooltip(bgcolor=self.ui.palette.text, fit_inside_horizontally=True),
            expand=True,
        )
        return chart

    def _ledger(self) -> ft.Control:
        t, tr, board = self.t, self.ui.tr, self.board
        return card(
            [sheet_table(board.ledger_table(tr), tr, empty=t("carbon.ledger.empty"), wrap=200)],
            title=t("carbon.ledger.title", year=board.year),
            subtitle=t("carbon.ledger.about"),
        )

    # ---- entering a transaction -------------------------------------------------------------------------------

    def _entry(self) -> None:
        ui, t, board = self.ui, self.t, self.board
        form = board.begin_entry()
        counted = [e for e in board.transactions if e.counts]

        def void(value: bool) -> None:
            form.void = value
            ui.refresh()

        def corrects(value: str) -> None:
            target = next((e for e in counted if str(e.id) == value), None)
            if target is None:
                form.corrects, form.void = None, False
            else:
                fresh = board.begin_entry(target, void=form.void)
                for name in ("instrument", "kind", "quantity", "traded_on", "price", "offset_type", "project",
                             "vintage", "corrects"):  # fmt: skip
                    setattr(form, name, getattr(fresh, name))
                board.form = form
            ui.refresh()

        def instrument(value: str) -> None:
            form.set_instrument(value)
            ui.refresh()

        def body() -> ft.Control:
            parts: list[ft.Control] = [
                message(form.message),
                dropdown(
                    t("carbon.entry.corrects"),
                    str(form.corrects) if form.corrects is not None else "",
                    [
                        ("", t("carbon.entry.new_entry")),
                        *(
                            (str(e.id), f"#{e.id} {e.traded_on} {t(f'carbon.kind.{e.kind}')} {tr_number(e.quantity)}")
                            for e in counted
                        ),
                    ],
                    corrects,
                    width=520,
                ),  # fmt: skip
            ]
            if form.corrects is not None:
                parts.append(checkbox(t("carbon.entry.void"), form.void, void))
            parts.append(
                ft.Row(
                    [
                        dropdown(
                            t("carbon.col.instrument"),
                            form.instrument,
                            [(i, t(f"carbon.instrument.{i}")) for i in INSTRUMENTS],
                            instrument,
                            width=200,
                        ),
                        dropdown(
                            t("carbon.col.kind"),
                            form.kind,
                            [(k, t(f"carbon.kind.{k}")) for k in KINDS[form.instrument]],
                            lambda v: setattr(form, "kind", v),
                            error=form.error("kind"),
                            width=200,
                        ),
                    ],
                    spacing=8,
                )
            )
            parts.append(
                ft.Row(
                    [
                        text_field(
                            t("carbon.col.quantity"),
                            form.quantity,
                            lambda v: setattr(form, "quantity", v),
                            error=form.error("quantity"),
                            width=200,
                        ),
                        text_field(
                            t("carbon.entry.price"),
                            form.price,
                            lambda v: setattr(form, "price", v),
                            error=form.error("price"),
                            width=160,
                        ),
                        date_field(
                            ui,
                            t("carbon.col.day"),
                            form.traded_on,
                            lambda v: setattr(form, "traded_on", v),
                            error=form.error("traded_on"),
                            width=170,
                        ),
                    ],  # fmt: skip
                    spacing=8,
                )
            )
            if form.instrument == "offset":
                parts.append(
                    ft.Row(
                        [
                            text_field(
                                t("carbon.entry.offset_type"),
                                form.offset_type,
                                lambda v: setattr(form, "offset_type", v),
                                width=120,
                            ),
                            text_field(
                                t("carbon.col.project"), form.project, lambda v: setattr(form, "project", v), width=250
                            ),
                            text_field(
                                t("carbon.col.vintage"),
                                form.vintage,
                                lambda v: setattr(form, "vintage", v),
                                error=form.error("vintage"),
                                width=140,
                            ),
                        ],  # fmt: skip
                        spacing=8,
                    )
                )
            parts += [
                text_field(t("carbon.col.note"), form.note, lambda v: setattr(form, "note", v), width=520),
                muted(t("carbon.entry.about")),
            ]
            return ft.Column(parts, spacing=10, tight=True)  # short: as high as its fields

        def tr_number(value: object) -> str:
            return ui.tr.number(value, 2)  # type: ignore[arg-type]

        async def save() -> None:
            done = await board.submit_entry(ui.tr)
            if done is not None:
                self.notice = t("carbon.entry.saved", id=done.id)
                ui.close_dialog()

        form_dialog(
            ui,
            t("carbon.entry.title"),
            body,
            submit=t("save"),
            on_submit=save,
            on_cancel=lambda: setattr(board, "form", None),
            width=600,
        )

    # ---- export -----------------------------------------------------------------------------------------------

    def _sheet(self) -> tuple[str, Sequence[str], Sequence[Sequence[object]]]:
        return sheet_data(self.board.trial_table(self.ui.tr))

    def _more(self) -> list[tuple[str, Sequence[str], Sequence[Sequence[object]]]]:
        tr = self.ui.tr
        return [
            sheet_data(self.board.holdings_table(tr)),
            sheet_data(self.board.months_table(tr)),
            sheet_data(self.board.ledger_table(tr)),
            sheet_data(self.board.assets_table(tr)),
            sheet_data(self.board.processes_table(tr)),
        ]
