"""The benchmarking screens: 对标分析 (each process against the national benchmarks, limits and the enterprise's own
targets) and 降碳潜力 (what each process would save closing its gap to a chosen reference).

Both ask their question in the kit's filter bar (scope, month or year and the range, the indicator or the
reference), draw the answer of :mod:`cem_clients.console.benchmarking` as charts where a picture says it faster —
each process's actual by period as bars with its levels (一级, 二级, 三级 / the limit) as lines; the processes'
potentials as bars, the largest first — and as tables beside them, and export those tables as they are shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flet as ft
import flet_charts as fch

from cem_clients.api import BenchmarkComparison, GapIndicator, GapSubject
from cem_clients.console.app_kit import (
    SERIES_COLOURS,
    LegendEntry,
    Section,
    Ui,
    card,
    chart_axis,
    chart_card,
    chart_scale,
    dropdown,
    export_button,
    filter_bar,
    heading,
    message,
    muted,
    sheet_data,
    sheet_table,
    stat,
    text_field,
    value_axis,
)
from cem_clients.console.benchmarking import (
    BENCHMARK_PERIODS,
    INDICATORS,
    REFERENCES,
    BenchmarkQuery,
    GapBoard,
    PotentialBoard,
    in_language,
    intensity_places,
)
from cem_clients.console.model import Console
from cem_clients.ui.i18n import Translator
from cem_clients.ui.theme import Tone

__all__ = ["GapSection", "PotentialSection"]

#: The levels' lines, best first (一级 / the benchmark, 二级, 三级 / the limit), and the bars by what they reached.
_LEVEL_COLOURS = ("#10B981", "#F59E0B", "#DC2626", "#8B5CF6", "#64748B")
_BAR, _BAR_BEST, _BAR_BREACH = "#2563EB", "#10B981", "#DC2626"
_LEFT, _BOTTOM = 56, 26
_SMALL_WIDTH = 386  # three small charts side by side at 1440 px (the section is about 1,187 px wide)
_TOP = 10  # processes in the potential's chart
_MAC_WIDTH = 1000  # px the MAC curve's bars share (the card is the section's width, about 1,187 px)


def _options(query: BenchmarkQuery, options: Mapping[str, str]) -> None:
    """The query's start options: ``period`` (month, year), ``start``, ``end``, ``indicator``, ``reference``."""
    period = options.get("period", query.period)
    if period == "year":
        query.set_period("year")
    query.start = options.get("start", query.start)
    query.end = options.get("end", query.end)
    query.indicator = next((i for i in INDICATORS if i == options.get("indicator")), query.indicator)
    query.reference = options.get("reference", query.reference)


def _range_fields(ui: Ui, query: BenchmarkQuery, on_submit: Callable[[], Any]) -> list[ft.Control]:
    """Month or year, and the range (from, to included)."""
    t = ui.t
    example = "2026-03" if query.period == "month" else "2026"

    def period(value: str) -> None:
        query.set_period(value)
        ui.refresh()  # the range's fields follow (a month becomes its year)

    submit = on_submit
    return [
        dropdown(
            t("console.emissions.period"),
            query.period,
            [(k, t(f"console.period.{k}")) for k in BENCHMARK_PERIODS],
            period,
            width=130,
        ),
        text_field(
            t("bench.from"),
            query.start,
            lambda v: setattr(query, "start", v),
            error=query.error("start"),
            hint=example,
            width=140,
            on_submit=submit,
        ),  # fmt: skip
        text_field(
            t("bench.to"),
            query.end,
            lambda v: setattr(query, "end", v),
            error=query.error("end"),
            hint=t("bench.to_hint"),
            width=140,
            on_submit=submit,
        ),  # fmt: skip
    ]


def _capital(text: str) -> str:
    """A level's label starting a legend entry: level 1 -> Level 1 (Chinese as it is)."""
    return text[:1].upper() + text[1:]


def _bar_axis(labels: Sequence[str]) -> fch.ChartAxis:
    return chart_axis([(float(i), label) for i, label in enumerate(labels)], size=_BOTTOM)


class GapSection(Section):
    """对标分析: each process's actual against its benchmarks, limits and targets, as small charts and a table."""

    title_key = "console.section.benchmarking"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.board: GapBoard = console.benchmarking()
        _options(self.board.query, options)

    async def load(self) -> None:
        board = self.board
        await board.load_choices()
        scope = self.options.get("scope", "")
        found = next((p.id for p in board.processes if scope in (p.code, str(p.id))), None) if scope else None
        if found is not None:
            board.query.scope, board.query.scope_id = "process", found
        await board.load()

    def render(self) -> ft.Control:
        t, board = self.t, self.board
        body: list[ft.Control] = [
            heading(
                t("console.section.benchmarking"),
                trailing=[
                    export_button(self.ui, board.filename, self._sheet, more=self._more)
                    if board.answer is not None
                    else ft.Container()
                ],
            ),
            muted(t("bench.gap.about")),
            self._filters(),
            message(board.error),
        ]
        if board.answer is not None:
            body += [self._figures(), self._charts(), self._table()]
        return ft.Column(body, spacing=12)

    def _filters(self) -> ft.Control:
        t, board, q = self.t, self.board, self.board.query
        show = self.ui.act(board.load)

        def scope(value: str) -> None:
            if value == "enterprise":
                q.scope, q.scope_id = "enterprise", None
            elif value.isdigit():
                q.scope, q.scope_id = "process", int(value)

        def indicator(value: str) -> None:
            q.indicator = next((i for i in INDICATORS if i == value), q.indicator)

        enterprise = self.console.enterprise.name if self.console.enterprise else "—"
        fields: list[ft.Control] = [
            dropdown(
                t("console.emissions.scope"),
                "enterprise" if q.scope == "enterprise" else str(q.scope_id),
                [("enterprise", enterprise), *((str(p.id), f"{p.code} {p.name}") for p in board.processes)],
                scope,
                error=q.error("scope_id"),
                width=220,
            ),
            *_range_fields(self.ui, q, show),
            dropdown(
                t("bench.indicator"),
                q.indicator,
                [(i, t(f"bench.indicator.{i}")) for i in INDICATORS],
                indicator,
                width=230,
            ),
        ]
        return filter_bar(fields, show, self.ui)

    def _figures(self) -> ft.Control:
        t, board = self.t, self.board
        counts = board.figures()
        periods = board.answer.periods if board.answer is not None else ()
        span = f"{periods[0]} – {periods[-1]}" if len(periods) > 1 else (periods[0] if periods else "")
        return ft.Row(
            [
                stat(t("bench.stat.processes"), str(counts["processes"]), note=span),
                stat(t("bench.stat.best"), str(counts["best"]), tone=Tone.GOOD, note=t("bench.stat.best_note")),
                stat(
                    t("bench.stat.breaches"),
                    str(counts["breaches"]),
                    tone=Tone.CRITICAL if counts["breaches"] else Tone.GOOD,
                    note=t("bench.stat.breaches_note"),
                ),
                stat(
                    t("bench.stat.missing"),
                    str(counts["missing"]),
                    tone=Tone.WARNING if counts["missing"] else None,
                    note=t("bench.stat.missing_note"),
                ),
            ],
            spacing=12,
        )

    def _charts(self) -> ft.Control:
        t, tr, board = self.t, self.ui.tr, self.board
        compared = board.compared()
        if not compared:
            return card([muted(t("bench.chart.none"))], title=t("bench.chart.title"))
        cards = [self._small_chart(tr, subject, series, main) for subject, series, _, main in compared]
        return ft.Column(
            [
                muted(t("bench.chart.about", unit=board.unit)),
                ft.Row(cards, spacing=12, run_spacing=12, wrap=True, vertical_alignment=ft.CrossAxisAlignment.START),
            ],
            spacing=8,
        )

    def _small_chart(
        self, tr: Translator, subject: GapSubject, series: GapIndicator, main: BenchmarkComparison
    ) -> ft.Control:
        """One process: its actual by period as bars (coloured by the level reached), its main reference's levels
        as lines across."""
        places = intensity_places(series.unit)
        periods = list(series.periods)
        count = len(periods)
        actuals = [float(p.actual) if p.actual is not None else None for p in periods]
        levels = [(level, _LEVEL_COLOURS[i % len(_LEVEL_COLOURS)]) for i, level in enumerate(main.levels)]
        scale = chart_scale([*(a for a in actuals if a is not None), *(float(level.value) for level, _ in levels)])
        width = max(4.0, min(28.0, 300 / max(count, 1) * 0.5))
        groups = []
        for i, period in enumerate(periods):
            if period.actual is None:
                continue
            same = next((c for c in period.comparisons if c.entry == main.entry), None)
            colour = _BAR
            if same is not None and same.breach:
                colour = _BAR_BREACH
            elif same is not None and same.levels and same.reached == same.levels[0].name:
                colour = _BAR_BEST
            tip = f"{period.period}\n{tr.number(period.actual, places)} {series.unit}"
            if same is not None:
                tip += f"\n{in_language(tr, same.text, same.text_en)}"
            groups.append(
                fch.BarChartGroup(
                    x=i,
                    rods=[
                        fch.BarChartRod(
                            from_y=0, to_y=float(period.actual), width=width, color=colour, border_radius=0, tooltip=tip
                        )
                    ],
                )  # fmt: skip
            )
        labels = [p.period for p in periods]
        step = max(1, -(-count // 4))
        shown_labels = [(float(i), labels[i]) for i in range(0, count, step)]
        grid = fch.ChartGridLines(interval=scale.step, color=self.ui.palette.outline, width=0.5)
        bars = fch.BarChart(
            groups=groups,
            group_alignment=ft.MainAxisAlignment.SPACE_AROUND,
            min_y=scale.low,
            max_y=scale.high,
            left_axis=value_axis(tr, scale, size=_LEFT),
            bottom_axis=chart_axis(shown_labels, size=_BOTTOM),
            horizontal_grid_lines=grid,
            tooltip=fch.BarChartTooltip(bgcolor=self.ui.palette.text, fit_inside_horizontally=True),
            expand=True,
        )
        lines = fch.LineChart(
            data_series=[
                fch.LineChartData(
                    points=[
                        fch.LineChartDataPoint(-0.5, float(level.value)),
                        fch.LineChartDataPoint(count - 0.5, float(level.value)),
                    ],
                    color=colour,
                    stroke_width=2,
                    dash_pattern=[6, 4],
                    point=False,
                )  # fmt: skip
                for level, colour in levels
            ],
            min_x=-0.5,
            max_x=count - 0.5,
            min_y=scale.low,
            max_y=scale.high,
            left_axis=value_axis(tr, scale, size=_LEFT, hidden=True),
            bottom_axis=chart_axis([(float(i), "") for i in range(count)], size=_BOTTOM),
            interactive=False,
            expand=True,
        )
        entries = [
            LegendEntry(f"{_capital(in_language(tr, level.label, level.label_en))} {tr.number(level.value, places)}",
                        colour, line=True, dashed=True)
            for level, colour in levels
        ]  # fmt: skip
        latest = GapBoard.latest(series)
        reached = next((c for c in latest.comparisons if c.entry == main.entry), main) if latest else main
        return chart_card(
            f"{subject.code} {subject.name}",
            ft.Stack([bars, lines], expand=True),
            entries,
            subtitle=in_language(tr, reached.text, reached.text_en),
            height=180,
            width=_SMALL_WIDTH,
            below=[muted(in_language(tr, main.name, main.name_en), width=_SMALL_WIDTH - 32)],
        )

    def _table(self) -> ft.Control:
        t, tr, board = self.t, self.ui.tr, self.board
        return card(
            [sheet_table(board.table(tr), tr, empty=t("bench.table.empty"), wrap=140)],
            title=t("bench.gap.table", period=board.last_period),
            subtitle=t("bench.gap.table_about"),
        )

    def _sheet(self) -> tuple[str, Sequence[str], Sequence[Sequence[object]]]:
        return sheet_data(self.board.table(self.ui.tr))

    def _more(self) -> list[tuple[str, Sequence[str], Sequence[Sequence[object]]]]:
        return [sheet_data(self.board.periods_table(self.ui.tr))]


class PotentialSection(Section):
    """降碳潜力: each process's potential against the reference chosen, the largest first, and the enterprise's
    sum; the scenarios where the platform serves them."""

    title_key = "console.section.potential"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.board: PotentialBoard = console.potential()
        _options(self.board.query, options)

    async def load(self) -> None:
        await self.board.load()

    def render(self) -> ft.Control:
        t, board = self.t, self.board
        body: list[ft.Control] = [
            heading(
                t("console.section.potential"),
                trailing=[
                    export_button(self.ui, board.filename, self._sheet, more=self._more)
                    if board.answer is not None
                    else ft.Container()
                ],
            ),
            muted(t("bench.potential.about")),
            self._filters(),
            message(board.error),
        ]
        if board.answer is not None:
            body += [self._figures(), self._charts(), self._table()]
        body.append(self._scenarios())
        return ft.Column(body, spacing=12)

    def _filters(self) -> ft.Control:
        t, board, q = self.t, self.board, self.board.query
        show = self.ui.act(board.load)

        def reference(value: str) -> None:
            q.reference = "" if value == "default" else value

        fields: list[ft.Control] = [
            *_range_fields(self.ui, q, show),
            dropdown(
                t("bench.reference"),
                q.reference or "default",
                [(r or "default", t(f"bench.reference.{r or 'default'}")) for r in REFERENCES],
                reference,
                width=300,
            ),
        ]
        return filter_bar(fields, show, self.ui)

    def _figures(self) -> ft.Control:
        t, tr, board = self.t, self.ui.tr, self.board
        answer = board.answer
        assert answer is not None  # noqa: S101 - drawn only with an answer
        counted = max((e.counted_tce for e in answer.enterprise), default=0)
        periods = answer.periods
        span = f"{periods[0]} – {periods[-1]}" if len(periods) > 1 else (periods[0] if periods else "")
        return ft.Row(
            [
                stat(t("bench.stat.potential_tce"), f"{tr.number(answer.tce, 2)} tce", note=span),
                stat(t("bench.stat.potential_tco2"), f"{tr.number(answer.tco2, 2)} tCO2", note=span),
                stat(t("bench.stat.above"), str(len(board.ranked())), note=t("bench.stat.above_note")),
                stat(t("bench.stat.counted"), f"{counted} / {len(answer.processes)}", note=span),  # fmt: skip
            ],
            spacing=12,
        )

    def _charts(self) -> ft.Control:
        t = self.t
        energy = chart_card(
            t("bench.chart.potential_tce"),
            self._ranked_chart("tce"),
            subtitle=t("bench.chart.potential_about", reference=self.board.reference_name(self.ui.tr)),
            empty=t("bench.chart.potential_none"),
            height=240,
            expand=True,
        )
        co2 = chart_card(
            t("bench.chart.potential_tco2"),
            self._ranked_chart("tco2"),
            subtitle=t("bench.chart.potential_co2_about"),
            empty=t("bench.chart.potential_co2_none"),
            height=240,
            expand=True,
        )
        return ft.Row([energy, co2], spacing=12, vertical_alignment=ft.CrossAxisAlignment.START)

    def _ranked_chart(self, metric: str) -> ft.Control | None:
        """The processes' potentials as bars, the largest first (the first ten)."""
        tr = self.ui.tr
        ranked = self.board.ranked("tco2" if metric == "tco2" else "tce")[:_TOP]
        if not ranked:
            return None
        values = [float(getattr(p, metric)) for p in ranked]
        scale = chart_scale(values)
        unit = "tCO2" if metric == "tco2" else "tce"
        colour = SERIES_COLOURS[2] if metric == "tco2" else SERIES_COLOURS[0]
        groups = [
            fch.BarChartGroup(
                x=i,
                rods=[
                    fch.BarChartRod(
                        from_y=0,
                        to_y=v,
                        width=min(36.0, 420 / len(ranked) * 0.5),
                        color=colour,
                        border_radius=0,
                        tooltip=f"{p.code} {p.name}\n{tr.number(v, 2)} {unit}",
                    )
                ],
            )  # fmt: skip
            for i, (p, v) in enumerate(zip(ranked, values, strict=True))
        ]
        chart: ft.Control = fch.BarChart(
            groups=groups,
            group_alignment=ft.MainAxisAlignment.SPACE_AROUND,
            min_y=scale.low,
            max_y=scale.high,
            left_axis=value_axis(tr, scale, size=_LEFT),
            bottom_axis=_bar_axis([p.code for p in ranked]),
            horizontal_grid_lines=fch.ChartGridLines(interval=scale.step, color=self.ui.palette.outline, width=0.5),
            tooltip=fch.BarChartTooltip(bgcolor=self.ui.palette.text, fit_inside_horizontally=True),
            expand=True,
        )
        return chart

    def _table(self) -> ft.Control:
        t, tr, board = self.t, self.ui.tr, self.board
        return card(
            [sheet_table(board.table(tr), tr, total=True, empty=t("bench.table.empty"), wrap=170)],
            title=t("bench.potential.table"),
            subtitle=t("bench.potential.table_about"),
        )

    def _scenarios(self) -> ft.Control:
        """The scenarios: not served by this platform yet (said so), none yet, or one's projection and its marginal
        abatement cost curve (bars as wide as their abatement, as high as their cost per tCO2, cheapest first) with
        its table."""
        t, tr, board = self.t, self.ui.tr, self.board
        if board.scenarios_available is False:
            return card([muted(t("bench.scenarios.unavailable"))], title=t("bench.scenarios"))
        if not board.scenarios or board.scenario is None:
            return card([muted(t("bench.scenarios.none"))], title=t("bench.scenarios"))
        result = board.scenario

        async def choose(value: str) -> None:
            if value.isdigit():
                await board.open_scenario(int(value))
                self.ui.refresh()

        picker = dropdown(
            t("bench.scenario"),
            str(board.scenario_id),
            [(str(s.id), f"{s.name} ({s.base_year})" if s.base_year else s.name) for s in board.scenarios],
            choose,
            width=320,
        )
        projected = result.enterprise.projected_tco2
        note = t(
            "bench.scenarios.projection",
            abatement=tr.number(result.enterprise.abatement_tco2, 2),
            projected=tr.number(projected, 2) if projected is not None else "—",
        )
        uncosted = sum(1 for step in result.mac if step.cost_per_tco2_cny is None)
        below: list[ft.Control] = [muted(t("bench.mac.uncosted", count=uncosted))] if uncosted else []
        below += [muted(n) for n in result.notes]
        below.append(sheet_table(board.mac_table(tr), tr, empty=t("bench.table.empty"), wrap=260))
        drawn = [s for s in result.mac if s.cost_per_tco2_cny is not None and s.abatement_tco2 > 0]
        entries = [
            LegendEntry(
                f"{in_language(tr, s.measure_name, s.measure_name_en) or s.measure_code} · {s.process_code}",
                SERIES_COLOURS[i % len(SERIES_COLOURS)],
            )
            for i, s in enumerate(drawn)
        ]
        return chart_card(
            t("bench.mac.title"),
            self._mac_chart(),
            entries,
            subtitle=t("bench.mac.about"),
            trailing=[picker],
            empty=t("bench.mac.none"),
            height=260,
            below=[muted(note), *below],
        )

    def _mac_chart(self) -> ft.Control | None:
        """The MAC curve: one bar per measure with a cost, side by side, as wide as its share of the abatement."""
        tr, result = self.ui.tr, self.board.scenario
        steps = [s for s in (result.mac if result is not None else ()) if s.cost_per_tco2_cny is not None]
        steps = [s for s in steps if s.abatement_tco2 > 0]
        if not steps:
            return None
        total = float(sum(s.abatement_tco2 for s in steps))
        costs = [float(s.cost_per_tco2_cny or 0) for s in steps]
        scale = chart_scale(costs)
        groups = []
        for i, (step, cost) in enumerate(zip(steps, costs, strict=True)):
            name = in_language(tr, step.measure_name, step.measure_name_en) or step.measure_code
            tip = (
                f"{name} · {step.process_code}\n{tr.number(step.abatement_tco2, 2)} tCO2\n"
                f"{tr.number(cost, 2)} {self.t('bench.mac.unit')}"
            )
            width = max(3.0, _MAC_WIDTH * float(step.abatement_tco2) / total)
            rod = fch.BarChartRod(
                from_y=min(0.0, cost), to_y=max(0.0, cost), width=width, border_radius=0, tooltip=tip,
                color=SERIES_COLOURS[i % len(SERIES_COLOURS)],
            )  # fmt: skip
            groups.append(fch.BarChartGroup(x=i, rods=[rod]))
        chart: ft.Control = fch.BarChart(
            groups=groups,
            group_alignment=ft.MainAxisAlignment.START,
            group_spacing=0,
            min_y=scale.low,
            max_y=scale.high,
            left_axis=value_axis(tr, scale, size=_LEFT),
            bottom_axis=chart_axis(
                [(float(i), "") for i in range(len(groups))], size=4, title=self.t("bench.mac.axis")
            ),
            horizontal_grid_lines=fch.ChartGridLines(interval=scale.step, color=self.ui.palette.outline, width=0.5),
            tooltip=fch.BarChartTooltip(bgcolor=self.ui.palette.text, fit_inside_horizontally=True),
            expand=True,
        )
        return chart

    def _sheet(self) -> tuple[str, Sequence[str], Sequence[Sequence[object]]]:
        return sheet_data(self.board.table(self.ui.tr))

    def _more(self) -> list[tuple[str, Sequence[str], Sequence[Sequence[object]]]]:
        sheets = [sheet_data(self.board.periods_table(self.ui.tr))]
        if self.board.scenario is not None:
            sheets.append(sheet_data(self.board.mac_table(self.ui.tr)))
        return sheets
