"""The statistics screen (统计分析): an enterprise's, a process's, a facility's or a source's emissions or energy by
period, with their structure, intensity and comparisons, as charts and as the same figures in tables, exported as
they are shown.

The question is asked in the filter bar (scope, period kind and range, metric — emissions in tCO2 or energy in tce,
with electricity by its equivalent or equal value — and dimension, 同比 / 环比 / 定比 with the base period); units and
captions follow the answer (tce and kgce/t for energy, where electricity's own card replaces direct emissions); the
answer is drawn from :class:`~cem_clients.console.stats.StatisticsBoard`: the range's figures as
cards, a stacked bar per period by the dimension (deductions such as carbon fixed in products below zero) with the
net as a line over it, the structure of the range as a pie with its table, the intensity (tCO2 per tonne of crude
steel, or of the process's product in a process's view; per 10^4 CNY of output value where the enterprise enters
it) and the comparison periods' nets as lines, then the table of the periods with the range's total. A process of
the process dimension opens its own view (the per-process page: its emissions by term and its intensity over the
same periods), and a source of a facility's source dimension its own.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal

import flet as ft
import flet_charts as fch

from cem_clients.console.accounting import PERIOD_KINDS
from cem_clients.console.app_kit import (
    SERIES_COLOURS,
    Cell,
    ChartScale,
    LegendEntry,
    Section,
    Ui,
    card,
    chart_axis,
    chart_card,
    chart_scale,
    date_field,
    dropdown,
    emissions_range_fields,
    export_button,
    filter_bar,
    heading,
    inline_checkbox,
    message,
    muted,
    secondary_button,
    stat,
    table,
    text,
    value_axis,
)
from cem_clients.console.model import Console
from cem_clients.console.stats import (
    COMPARISONS,
    DIMENSIONS_OF,
    ELECTRICITY_METHODS,
    GROUPS,
    METRICS,
    UNALLOCATED,
    Comparison,
    Sheet,
    StatisticsBoard,
    dimensions,
)
from cem_clients.ui.theme import Tone

__all__ = ["StatisticsSection"]

#: The five terms always in the same colours; carbon fixed in products (deducted) and what no process carries in
#: greys, whatever the dimension.
_FIXED_COLOUR, _UNALLOCATED_COLOUR, _NET_COLOUR = "#64748B", "#94A3B8", "#0F172A"
_TERM_COLOURS = dict(zip(GROUPS, (*SERIES_COLOURS[:4], _FIXED_COLOUR), strict=True))
_COMPARE_COLOURS = {"yoy": SERIES_COLOURS[7], "pop": SERIES_COLOURS[4], "base": SERIES_COLOURS[3]}
_LEFT = 56  # the room of a value axis's labels
_BOTTOM = 26  # the room of the periods' labels
_WIDE, _NARROW = 680, 440  # the room of the periods' labels under the wide chart and under a half-width one (px)
#: What an intensity is per, by scope (a facility and a source have no product: no intensity).
_PER = {"process": "stats.stat.intensity_process"}


class StatisticsSection(Section):
    """Totals, structure, intensity and comparisons of emissions or energy by period, as charts and tables, with
    export."""

    title_key = "console.section.statistics"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.board: StatisticsBoard = console.statistics()
        q = self.board.query
        year = dt.datetime.now(dt.UTC).year
        period = options.get("period", "month")
        q.period = period if period in PERIOD_KINDS else "month"
        q.start, q.end = options.get("start", f"{year}-01"), options.get("end", f"{year + 1}-01")
        metric = options.get("metric", "emissions")
        q.metric = next((m for m in METRICS if m == metric), "emissions")
        electricity = options.get("electricity", "equivalent")
        q.electricity = next((m for m in ELECTRICITY_METHODS if m == electricity), "equivalent")
        offered = DIMENSIONS_OF[q.metric]
        q.dimension = next((d for d in offered if d == options.get("dimension")), offered[0])
        if "compare" in options:
            q.compare = tuple(c for c in COMPARISONS if c in options["compare"].split(","))
        q.base = options.get("base", "")

    async def load(self) -> None:
        board = self.board
        await board.load_choices()
        scope = self.options.get("scope", "")
        found = next((p.id for p in board.processes if scope in (p.code, str(p.id))), None) if scope else None
        if found is not None:
            board.query.scope, board.query.scope_id = "process", found
        kind, _, code = scope.partition(":")  # facility:<code> or source:<code>
        facility = next((f.id for f in board.facilities if code in (f.code, str(f.id))), None)
        source = next((x.id for x in board.sources if code in (x.code, str(x.id))), None)
        if kind == "facility" and facility is not None:
            board.query.choose_part(f"facility:{facility}")
        elif kind == "source" and source is not None:
            board.query.choose_part(f"source:{source}")
        if self.options.get("dimension") in dimensions(board.query.metric, board.query.asked):
            board.query.dimension = next(d for d in DIMENSIONS_OF[board.query.metric] if d == self.options["dimension"])
        await board.load()

    # ---- drawing ------------------------------------------------------------------------------------------------

    def render(self) -> ft.Control:
        t, board = self.t, self.board
        body: list[ft.Control] = [
            heading(
                t("console.section.statistics"),
                trailing=[
                    export_button(self.ui, board.filename, self._sheet, more=self._more_sheets)
                    if board.answer is not None
                    else ft.Container()
                ],
            ),
            muted(t(board.key("about"))),
            self._filters(),
            message(board.error),
        ]
        if board.answer is not None:
            if board.answer.scope != "enterprise":
                body.append(self._scope_banner())
            body += [self._figures()]
            if board.value_missing:
                body.append(muted(t("stats.value_missing")))  # where no output value is entered, and how to
            body += [self._charts(), self._table()]
        return ft.Column(body, spacing=12)

    def _filters(self) -> ft.Control:
        t, board, q = self.t, self.board, self.board.query
        show = self.ui.act(board.load)

        def metric(value: str) -> None:
            chosen = next((m for m in METRICS if m == value), None)
            if chosen is not None:
                q.set_metric(chosen)
                self.ui.refresh()  # the breakdowns and the electricity method follow the metric

        def dimension(value: str) -> None:
            q.dimension = next((d for d in dimensions(q.metric, q.asked) if d == value), q.dimension)

        def pick(value: str) -> bool:
            took = q.choose_part(value)
            self.ui.refresh()  # the breakdowns follow the scope (a facility by source)
            return took

        def electricity(value: str) -> None:
            q.electricity = next((m for m in ELECTRICITY_METHODS if m == value), q.electricity)

        def toggle(name: Comparison) -> Callable[[bool], None]:
            def changed(on: bool) -> None:
                q.toggle(name, on)
                self.ui.refresh()  # the base period's field comes and goes with 定比

            return changed

        enterprise = (board.enterprise_id, self.console.enterprise.name if self.console.enterprise else "—")
        fields: list[ft.Control] = [
            *emissions_range_fields(
                self.ui,
                q,
                enterprise,
                board.processes,
                show,
                widths=(230, 130, 150, 150),
                more_scopes=board.scope_choices(),
                pick_more=pick,
                chosen=q.scope_choice,
            ),  # fmt: skip
            dropdown(
                t("stats.metric"),
                q.metric,
                [(m, t(f"stats.metric.{m}")) for m in METRICS],
                metric,
                error=q.error("metric"),
                width=175,  # "Emissions tCO2" whole
            ),
            dropdown(
                t("stats.dimension"),
                q.dimension,
                [(d, t(f"stats.dimension.{d}")) for d in dimensions(q.metric, q.asked)],
                dimension,
                error=q.error("dimension"),
                width=215,
            ),
        ]
        if q.metric == "energy":
            fields.append(
                dropdown(
                    t("stats.electricity"),
                    q.electricity,
                    [(m, t(f"stats.electricity.{m}")) for m in ELECTRICITY_METHODS],
                    electricity,
                    error=q.error("electricity"),
                    width=190,
                )
            )
        fields += [
            *(inline_checkbox(t(f"stats.compare.{c}"), c in q.compare, toggle(c)) for c in COMPARISONS),
        ]
        if "base" in q.compare:
            fields.append(
                date_field(
                    self.ui,
                    t("stats.base"),
                    q.base,
                    q.set_base,
                    error=q.error("base"),
                    hint="2024-01",
                    width=150,
                    on_submit=show,
                )  # fmt: skip
            )
        return filter_bar(fields, show, self.ui)

    def _scope_banner(self) -> ft.Control:
        """What the view is of (a process, a facility or a source), with the way back to the enterprise."""
        t, board = self.t, self.board
        scope = board.answer.scope if board.answer is not None else "process"
        icon = {"facility": ft.Icons.FACTORY_OUTLINED, "source": ft.Icons.LOCAL_FIRE_DEPARTMENT_OUTLINED}.get(
            scope, ft.Icons.PRECISION_MANUFACTURING_OUTLINED
        )
        return ft.Row(
            [
                ft.Icon(icon, color=self.ui.palette.primary, size=20),
                text(t(f"stats.{scope}_view", name=board.scope_name()), bold=True),
                secondary_button(
                    t("stats.back_to_enterprise"), self.ui.act(board.open_enterprise), icon=ft.Icons.ARROW_BACK
                ),
            ],
            spacing=12,
            vertical_alignment=ft.CrossAxisAlignment.CENTER,
        )

    def _figures(self) -> ft.Control:
        t, tr, board = self.t, self.ui.tr, self.board
        answer = board.answer
        assert answer is not None  # noqa: S101 - drawn only with an answer
        total, q, unit = answer.total, board.query, board.unit
        per = t(_PER.get(answer.scope, "stats.stat.intensity_enterprise"))
        intensity = (
            f"{tr.number(total.intensity, board.intensity_places)} {board.intensity_unit}"
            if total.intensity is not None
            else "—"
        )
        if total.intensity is not None:
            intensity_note = per
        elif any(r.intensity is not None for r in board.rows):  # a process's range: its output is not summed
            intensity_note = t("stats.stat.intensity_by_period")
        elif answer.scope in ("facility", "source"):
            intensity_note = t("stats.stat.no_product")
        else:
            intensity_note = t("stats.stat.no_output")
        figures = [
            stat(
                t(board.key("stat.net")),
                f"{tr.number(total.net, 2)} {unit}",
                note=f"{q.bound('start')} – {q.bound('end')}",
            ),  # fmt: skip
            self._electricity_figure() if board.energy else self._direct_figure(),
            stat(
                t(board.key("stat.intensity")),
                intensity,
                note=intensity_note,
            ),  # fmt: skip
        ]
        if board.by_value:
            figures.append(self._value_figure())
        figures += [
            stat(t("console.emissions.periods"), str(total.periods), note=t(f"console.period.{answer.period}")),
            stat(
                t("console.emissions.data"),
                t("console.emissions.complete" if total.complete else "console.emissions.incomplete"),
                tone=Tone.GOOD if total.complete else Tone.WARNING,
            ),
        ]
        return ft.Row(figures, spacing=12)

    def _value_figure(self) -> ft.Control:
        """The enterprise's intensity per 10^4 CNY of output value (产值) over the range, where it is entered."""
        t, tr, board = self.t, self.ui.tr, self.board
        assert board.answer is not None  # noqa: S101 - drawn only with an answer
        total, unit = board.answer.total, board.value_unit(tr)
        if total.value_intensity is not None and total.output_value is not None:
            value = tr.number(total.value_intensity, 4)  # the unit in the caption: the card is narrow
            note = t("stats.stat.output_value", value=tr.number(total.output_value, 2))
        elif any(r.value_intensity is not None for r in board.rows):
            value, note = "—", t("stats.stat.value_by_period")
        else:
            value, note = "—", t("stats.stat.no_output_value")
        return stat(t("stats.stat.value_intensity", unit=unit), value, note=note)

    def _direct_figure(self) -> ft.Control:
        """Emissions: the direct emissions (the national carbon market's scope) and their share of the net."""
        t, tr = self.t, self.ui.tr
        assert self.board.answer is not None  # noqa: S101 - drawn only with an answer
        total = self.board.answer.total
        direct_share = (
            t("stats.stat.direct_share", percent=tr.number(total.direct * 100 / total.net, 2))
            if total.net and total.direct is not None
            else ""
        )
        return stat(
            t("stats.stat.direct"),
            f"{tr.number(total.direct, 2)} tCO2" if total.direct is not None else "—",
            note=direct_share,
        )

    def _electricity_figure(self) -> ft.Control:
        """Energy: electricity by the method asked for (当量值 / 等价值), its share of the net (by carrier) and the
        library's coefficient when the equal value was used."""
        t, tr, board = self.t, self.ui.tr, self.board
        answer = board.answer
        assert answer is not None  # noqa: S101 - drawn only with an answer
        total = answer.total
        method = board.electricity_method(tr)
        notes = []
        if answer.dimension == "carrier":  # electricity is a part: its tce and its share
            title = t("stats.energy.stat.electricity", method=method)
            power = next((p.value for p in total.parts if p.key == "electricity"), Decimal(0))
            value = f"{tr.number(power, 2)} {board.unit}"
            if total.net:
                notes.append(t("stats.energy.stat.electricity_share", percent=tr.number(power * 100 / total.net, 2)))
        else:  # by process electricity is in each process's figure: how it was counted
            title, value = t("stats.electricity"), method
            notes.append(t("stats.energy.stat.electricity_by_carrier"))
        used = answer.coefficient
        if used is not None:
            notes.append(
                t("stats.energy.stat.coefficient", value=tr.number(used.value, 4), unit=used.unit, version=used.code)
            )
        return stat(title, value, note=" · ".join(notes))

    # ---- charts -------------------------------------------------------------------------------------------------

    def colour(self, key: str, index: int) -> str:
        """The colour of a part: the terms' own, greys for deductions and what no process carries, else in turn."""
        if key == "fixed_carbon":
            return _FIXED_COLOUR
        if key == UNALLOCATED:
            return _UNALLOCATED_COLOUR
        if self.board.answer is not None and self.board.answer.dimension == "group":
            return _TERM_COLOURS.get(key, SERIES_COLOURS[index % len(SERIES_COLOURS)])
        return SERIES_COLOURS[index % len(SERIES_COLOURS)]

    def _charts(self) -> ft.Control:
        t, tr, board = self.t, self.ui.tr, self.board
        answer = board.answer
        assert answer is not None  # noqa: S101 - drawn only with an answer
        keys = board.parts()
        entries = [LegendEntry(board.part_name(tr, k), self.colour(k, i)) for i, k in enumerate(keys)]
        entries.append(LegendEntry(t(board.key("series.net")), _NET_COLOUR, line=True))
        periods = chart_card(
            t(board.key("chart.periods"), dimension=t(f"stats.dimension.{answer.dimension}")),
            self._period_chart(keys),
            entries,
            subtitle=t(board.key("chart.periods_about")),
            empty=t("stats.chart.empty"),
            height=280,
            expand=True,
        )
        structure = chart_card(
            t(board.key("chart.structure")),
            self._pie(keys),
            subtitle=t(board.key("chart.structure_about")),
            empty=t("stats.chart.no_positive_part" if board.rows and keys else "stats.chart.empty"),
            height=200,
            width=440,
            below=[self._sheet_table(board.structure(tr), links=answer.dimension in ("process", "source"))],
        )
        per = t(_PER.get(answer.scope, "stats.stat.intensity_enterprise"))
        own_product = answer.scope not in ("facility", "source")  # a facility or a source has none: no intensity
        intensity = chart_card(
            board.caption(tr, "chart.intensity"),
            self._intensity_chart(),
            [LegendEntry(f"{t(board.key('series.intensity'))} ({per})", SERIES_COLOURS[5], line=True)]
            if own_product
            else [],
            subtitle=t(board.key("chart.intensity_about")),
            empty=t(board.key("chart.intensity_empty")) if own_product else t("stats.stat.no_product"),
            height=200,
            expand=True,
        )
        compare_entries = [LegendEntry(t(board.key("series.net")), _NET_COLOUR, line=True)]
        for name in answer.compare:
            caption = (
                t("stats.series.base", period=answer.base.period if answer.base else "")
                if name == "base"
                else t(f"stats.series.{name}")
            )
            compare_entries.append(LegendEntry(caption, _COMPARE_COLOURS[name], line=True))
        compare = chart_card(
            board.caption(tr, "chart.compare"),
            self._compare_chart() if answer.compare else None,
            compare_entries,
            subtitle=t(board.key("chart.compare_about")),
            empty=t("stats.chart.compare_empty") if board.rows else t("stats.chart.empty"),
            height=200,
            expand=True,
        )
        return ft.Column(
            [
                ft.Row([periods, structure], spacing=12, vertical_alignment=ft.CrossAxisAlignment.START),
                ft.Row([intensity, compare], spacing=12, vertical_alignment=ft.CrossAxisAlignment.START),
            ],
            spacing=12,
        )

    def _period_labels(self, count: int, room: int) -> list[tuple[float, str]]:
        """The periods' labels under a chart ``room`` px wide: every n-th, so that they do not run into each other."""
        rows = self.board.rows
        period = self.board.answer.period if self.board.answer is not None else "month"
        labels = [_short(period, r.period) for r in rows[:count]]
        widest = max((len(label) for label in labels), default=1) * 13 // 2 + 10  # 12 px digits: about 6.5 px
        step = max(1, math.ceil(count / max(1, room // widest)))
        return [(float(i), labels[i]) for i in range(0, count, step)]

    def _value_axis(self, scale: ChartScale, *, hidden: bool = False) -> fch.ChartAxis:
        return value_axis(self.ui.tr, scale, size=_LEFT, hidden=hidden)

    def _period_chart(self, keys: Sequence[str]) -> ft.Control | None:
        """A stacked bar per period (the parts, deductions below zero) and the net as a line over the bars."""
        board, tr = self.board, self.ui.tr
        rows = board.rows
        if not rows:
            return None
        series = board.series()
        count = len(rows)
        tops = [sum(max(float(series[k][i]), 0.0) for k in keys) for i in range(count)]
        bottoms = [sum(min(float(series[k][i]), 0.0) for k in keys) for i in range(count)]
        nets = [float(r.net) for r in rows]
        scale = chart_scale([*tops, *bottoms, *nets])
        width = max(2.0, min(36.0, 700 / count * 0.55))
        groups = []
        for i, row in enumerate(rows):
            items, up, down = [], 0.0, 0.0
            for index, key in enumerate(keys):
                value = float(series[key][i])
                if value > 0:
                    items.append(fch.BarChartRodStackItem(from_y=up, to_y=up + value, color=self.colour(key, index)))
                    up += value
                elif value < 0:
                    items.append(
                        fch.BarChartRodStackItem(from_y=down + value, to_y=down, color=self.colour(key, index))
                    )
                    down += value
            tip = f"{row.period}\n{self.t(board.key('series.net'))} {tr.number(row.net, 2)} {board.unit}"
            rod = fch.BarChartRod(
                from_y=down, to_y=up, stack_items=items, width=width, border_radius=0, color="#00000000", tooltip=tip
            )
            groups.append(fch.BarChartGroup(x=i, rods=[rod]))
        labels = self._period_labels(count, _WIDE)
        grid = fch.ChartGridLines(interval=scale.step, color=self.ui.palette.outline, width=0.5)
        bars = fch.BarChart(
            groups=groups,
            group_alignment=ft.MainAxisAlignment.SPACE_AROUND,
            min_y=scale.low,
            max_y=scale.high,
            left_axis=self._value_axis(scale),
            bottom_axis=chart_axis(labels, size=_BOTTOM),
            horizontal_grid_lines=grid,
            tooltip=fch.BarChartTooltip(bgcolor=self.ui.palette.text, fit_inside_horizontally=True),
            expand=True,
        )
        # the same plot area as the bars (same axes' room), points at the bars' centres: x from -0.5 to count - 0.5
        net = fch.LineChart(
            data_series=[
                fch.LineChartData(
                    points=[fch.LineChartDataPoint(i, v) for i, v in enumerate(nets)],
                    color=_NET_COLOUR,
                    stroke_width=2,
                    point=count <= 60,
                )
            ],
            min_x=-0.5,
            max_x=count - 0.5,
            min_y=scale.low,
            max_y=scale.high,
            left_axis=self._value_axis(scale, hidden=True),
            bottom_axis=chart_axis([(float(i), "") for i in range(count)], size=_BOTTOM),
            interactive=False,
            expand=True,
        )
        return ft.Stack([bars, net], expand=True)

    def _line_chart(self, lines: Sequence[tuple[Sequence[float | None], str, bool]], scale: ChartScale) -> ft.Control:
        """Lines over the periods (``(values, colour, dashed)``; a period without a value has no point)."""
        count = len(self.board.rows)
        grid = fch.ChartGridLines(interval=scale.step, color=self.ui.palette.outline, width=0.5)
        chart: ft.Control = fch.LineChart(
            data_series=[
                fch.LineChartData(
                    points=[fch.LineChartDataPoint(i, v) for i, v in enumerate(values) if v is not None],
                    color=colour,
                    stroke_width=2,
                    point=count <= 60,
                    dash_pattern=[6, 4] if dashed else None,
                )
                for values, colour, dashed in lines
            ],
            min_x=-0.5,
            max_x=count - 0.5,
            min_y=scale.low,
            max_y=scale.high,
            left_axis=self._value_axis(scale),
            bottom_axis=chart_axis(self._period_labels(count, _NARROW), size=_BOTTOM),
            horizontal_grid_lines=grid,
            tooltip=fch.LineChartTooltip(bgcolor=self.ui.palette.text, fit_inside_horizontally=True, max_width=220),
            expand=True,
        )
        return chart

    def _intensity_chart(self) -> ft.Control | None:
        values = [float(r.intensity) if r.intensity is not None else None for r in self.board.rows]
        known = [v for v in values if v is not None]
        if not known:
            return None
        return self._line_chart([(values, SERIES_COLOURS[5], False)], chart_scale(known))

    def _compare_chart(self) -> ft.Control | None:
        board = self.board
        if not board.rows:
            return None
        lines: list[tuple[Sequence[float | None], str, bool]] = [
            ([float(r.net) for r in board.rows], _NET_COLOUR, False)
        ]
        for name in board.compared:
            values = [float(v) if v is not None else None for v in board.comparison_values(board.rows, name)]
            lines.append((values, _COMPARE_COLOURS[name], True))
        known = [v for values, _, _ in lines for v in values if v is not None]
        return self._line_chart(lines, chart_scale(known))

    def _pie(self, keys: Sequence[str]) -> ft.Control | None:
        """The range's positive parts as slices (deductions are in the table under it, with negative shares)."""
        answer = self.board.answer
        if answer is None or not self.board.rows:
            return None
        values = {p.key: p.value for p in answer.total.parts}
        sections = [
            fch.PieChartSection(value=float(values[k]), color=self.colour(k, i), radius=64, title="")
            for i, k in enumerate(keys)
            if values.get(k, Decimal(0)) > 0
        ]
        if not sections:
            return None
        return ft.Container(
            fch.PieChart(sections=sections, center_space_radius=34, sections_space=1, start_degree_offset=-90),
            alignment=ft.Alignment.CENTER,
        )

    # ---- tables -------------------------------------------------------------------------------------------------

    def _sheet_table(self, sheet: Sheet, *, links: bool = False) -> ft.Control:
        """A :class:`Sheet` as the kit's table (the last row, a total, in bold); ``links``: a process's (a source's)
        name opens its view."""
        board, palette = self.board, self.ui.palette
        shown = sheet.shown(self.ui.tr)
        rows: list[list[Cell]] = []
        keys = board.parts()
        for r, cells in enumerate(shown):
            last = r == len(shown) - 1
            row: list[Cell] = []
            for c, value in enumerate(cells):
                if last or (c > 0 and sheet.columns[c].caption == board.caption(self.ui.tr, "col.net")):
                    row.append(ft.Text(value, weight=ft.FontWeight.BOLD, color=palette.text))
                elif links and c == 0 and r < len(keys) and self._opens(keys[r]) is not None:
                    row.append(self._part_link(value, keys[r]))
                else:
                    row.append(value)
            rows.append(row)
        columns = [(c.caption, c.places is not None) for c in sheet.columns]
        return table(columns, rows, empty=self.t("stats.chart.empty"))

    def _opens(self, code: str) -> Callable[[], Awaitable[bool]] | None:
        """What a part of the structure opens: a process's view (dimension process) or a source's (source)."""
        board = self.board
        by_source = board.answer is not None and board.answer.dimension == "source"
        found = board.source_id(code) if by_source else board.process_id(code)
        if found is None:
            return None
        return functools.partial(board.open_source if by_source else board.open_process, found)

    def _part_link(self, caption: str, code: str) -> ft.Control:
        opens = self._opens(code)
        assert opens is not None  # noqa: S101 - the caller checked
        by_source = self.board.answer is not None and self.board.answer.dimension == "source"

        async def open_() -> None:
            await opens()

        # a source by its code beside the pie (its name in the tooltip): the card is narrow, the shares must show
        return ft.TextButton(
            content=code if by_source else caption,
            icon=ft.Icons.OPEN_IN_NEW,
            tooltip=f"{self.t('stats.open_source')}: {caption}" if by_source else self.t("stats.open_process"),
            on_click=self.ui.act(open_),
            style=ft.ButtonStyle(padding=ft.Padding.symmetric(horizontal=4)),
        )

    def _table(self) -> ft.Control:
        t, tr, board = self.t, self.ui.tr, self.board
        answer = board.answer
        below: list[ft.Control] = []
        if answer is not None and answer.base is not None:
            net = tr.number(answer.base.net, 2)
            below.append(muted(board.caption(tr, "base_note", period=answer.base.period, net=net)))
        body = [self._sheet_table(board.table(tr)), *below]
        return card(body, title=t("stats.table"), subtitle=board.caption(tr, "table_about"))

    # ---- export -------------------------------------------------------------------------------------------------

    def _sheet(self) -> tuple[str, list[str], list[list[object]]]:
        sheet = self.board.table(self.ui.tr)
        return sheet.title, sheet.header, sheet.workbook_rows()

    def _more_sheets(self) -> list[tuple[str, Sequence[str], Sequence[Sequence[object]]]]:
        sheet = self.board.structure(self.ui.tr)
        return [(sheet.title, sheet.header, sheet.workbook_rows())]


def _short(period: str, label: str) -> str:
    """A period's label under a chart: days without their year, hours as their time."""
    if period == "day":
        return label[5:]
    if period == "hour":
        return label[11:]
    return label
