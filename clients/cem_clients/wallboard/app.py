"""The executives' wallboard as a Flet app: nobody touches it; it refreshes, follows live events and rotates.

Screens are built from small functions of the view state (:class:`~cem_clients.wallboard.model.Wallboard`):
a header (title, works, clock, freshness), a main area that rotates through overview, processes, trend and
alarms, and an alarm ticker that is always there; a fifth page shows each process's level against the national
benchmarks and limits this year and the biggest reduction potentials, a sixth the compliance year's carbon
allowance (used and remaining, the forecast surplus or deficit with its band and in CNY, the asset value, the open
carbon warnings). Where a picture says it faster than figures,
Flet's own chart controls (``flet-charts``) draw it: this year's months against last year's, the month's processes as
a pie, the last 30 days against the same days a year earlier. Dark theme, numerals readable from five metres
(:mod:`cem_clients.ui.theme`), Simplified Chinese by default (:mod:`cem_clients.ui.i18n`).

Each screen may choose its language and pin a page in its URL, as nobody touches it once it is up:
``?lang=en`` or ``?lang=zh-CN`` (the served default otherwise), ``?page=2`` or ``?page=trend`` (no rotation).

It logs in with a display-only API token (``emissions.read``, ``data.read``, ``alarms.read``, ``org.read``).
A lost platform shows as stale (with the time of the figures shown) and is retried; the live feed reconnects
by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import flet as ft
import flet_charts as fch

from cem_clients.api import Alarm, ApiClient, ClientError, LiveFeed
from cem_clients.ui.alarm_text import describe_alarm
from cem_clients.ui.i18n import Locale, Translator
from cem_clients.ui.theme import (
    AppKind,
    Palette,
    Tone,
    apply_locale,
    apply_theme,
    limit_tone,
    numeral,
    palette_for,
    severity_tone,
    type_scale,
)
from cem_clients.wallboard.model import PAGES, Comparison, Freshness, ProcessLevel, Wallboard

__all__ = ["ScreenOptions", "render", "screen_options", "wallboard_main"]

log = logging.getLogger("cem_clients.wallboard")
KIND = AppKind.WALLBOARD
TERM_KEYS = ("combustion", "process", "electricity", "heat", "fixed_carbon")  # GB/T 32151.5, in its order
#: Colours of the processes in the pie and beside their bars: apart from each other on the dark background.
SERIES = ("#38BDF8", "#F472B6", "#A3E635", "#FB923C", "#C084FC", "#2DD4BF", "#FACC15", "#F87171", "#818CF8", "#94A3B8")
LAST_YEAR = "#64748B"  # last year's bars: there to compare with, quieter than this year's


@dataclass(frozen=True)
class ScreenOptions:
    """What a screen's URL asks for: a language, and a page to stay on (None: the defaults)."""

    locale: Locale | None = None
    page: int | None = None  # index into PAGES


def screen_options(route: str | None) -> ScreenOptions:
    """The options in a Flet route such as ``/?lang=en&page=2``: ``lang`` (``en``, ``zh-CN``; other Chinese
    variants show Simplified Chinese, unknown languages the default) and ``page`` (1 to 4, or a page's name)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(route or "").query)
    lang = query.get("lang", [""])[-1].strip().lower()
    locale = Locale.EN if lang.startswith("en") else Locale.ZH_CN if lang.startswith("zh") else None
    wanted = query.get("page", [""])[-1].strip().lower()
    page = None
    if wanted.isdigit() and 1 <= int(wanted) <= len(PAGES):
        page = int(wanted) - 1
    elif wanted in PAGES:
        page = PAGES.index(wanted)
    return ScreenOptions(locale, page)


def _tile(title: str, body: Sequence[ft.Control], palette: Palette, *, expand: int = 1) -> ft.Container:
    scale = type_scale(KIND)
    # a chart takes the height the tile has left; figures keep theirs
    tight = not any(isinstance(c, fch.BarChart | fch.PieChart) or (isinstance(c, ft.Container) and c.expand)
                    for c in body)  # fmt: skip
    return ft.Container(
        ft.Column(
            [ft.Text(title, size=scale.title, color=palette.text_muted), *body],
            spacing=8,
            tight=tight,
            expand=not tight,
        ),
        bgcolor=palette.surface,
        padding=24,
        border_radius=12,
        expand=expand,
    )


def _muted(text: str, palette: Palette, size: int | None = None) -> ft.Text:
    return ft.Text(text, size=size or type_scale(KIND).label, color=palette.text_muted)


def _span(figure: Comparison, tr: Translator) -> str:
    """``对比去年同期 00:00–14:00`` (today) or ``对比去年同期 6月1日 – 6月15日 14:00`` (month, year)."""
    if figure.since is None or figure.until is None:
        return ""
    if figure.pending:
        return tr.t("wallboard.span.pending")
    since, until = tr.local(figure.since), tr.local(figure.until)
    if since.date() == until.date():
        span = f"{since:%H:%M}–{until:%H:%M}"
    else:
        first = tr.t("wallboard.span.date", month=since.month, day=since.day)
        span = f"{first} – {tr.t('wallboard.span.date', month=until.month, day=until.day)} {until:%H:%M}"
    return tr.t("wallboard.span", span=span)


def _comparison_tile(
    title: str, figure: Comparison | None, tr: Translator, palette: Palette, level: str
) -> ft.Container:
    span = _span(figure, tr) if figure is not None else ""
    if figure is None or figure.value is None or figure.no_data:
        if figure is not None and figure.no_data:  # its data has not come in: not "down 100 %"
            note = " · ".join([tr.t("wallboard.no_data"), span]) if span else tr.t("wallboard.no_data")
        else:
            note = span if figure is not None and figure.pending else tr.t("vs_last_year.none")
        return _tile(title, [numeral("—", KIND, level=level), _muted(note, palette)], palette)
    flags = [tr.t("provisional")] if figure.provisional else []
    if not figure.complete:
        flags.append(tr.t("wallboard.incomplete"))
    if figure.estimated:
        flags.append(tr.t("estimated"))
    change = tr.change_vs_last_year(figure.value, figure.previous)
    tone = None
    if figure.change is not None:
        tone = Tone.GOOD if figure.change <= 0 else Tone.WARNING
        if not figure.complete:  # the figure lacks part of its data: the change is not a finding yet
            tone = None
    return _tile(
        title,
        [
            ft.Row(
                [numeral(tr.compact(figure.value), KIND, level=level), _muted(tr.t("unit.tco2"), palette)],
                vertical_alignment=ft.CrossAxisAlignment.END,
            ),
            ft.Text(change, size=type_scale(KIND).body, color=palette.tone(tone) if tone else palette.text_muted),
            ft.Text(
                " · ".join([span, *flags]) if span else " · ".join(flags),
                size=type_scale(KIND).label,
                color=palette.text_muted,
                max_lines=1 if level == "xl" else 2,  # the big numeral leaves the tile one line
                overflow=ft.TextOverflow.ELLIPSIS,
            ),
        ],
        palette,
    )


def _intensity_tile(board: Wallboard, tr: Translator, palette: Palette) -> ft.Container:
    benchmark, limit = board.references
    status = board.intensity_status()
    value = tr.number(board.intensity, 3) if board.intensity is not None else "—"
    tone = limit_tone({"good": "within", "watch": "near", "over": "over"}[status]) if status else None
    label = {"good": "limit.within", "watch": "limit.near", "over": "limit.over"}.get(status or "", "")
    return _tile(
        f"{tr.t('intensity')} · {tr.t('intensity.crude_steel')}",
        [
            ft.Row(
                [numeral(value, KIND, level="l", tone=tone), _muted(tr.t("unit.tco2_per_t"), palette)],
                vertical_alignment=ft.CrossAxisAlignment.END,
            ),
            ft.Text(tr.t(label) if label else "", size=type_scale(KIND).body, color=palette.tone(tone or Tone.NEUTRAL)),
            _muted(
                f"{tr.t('benchmark')} {tr.number(benchmark.value, 2)} · {tr.t('limit')} {tr.number(limit.value, 2)}",
                palette,
            ),  # fmt: skip
        ],
        palette,
        expand=4,
    )


def _allowance_tile(board: Wallboard, tr: Translator, palette: Palette) -> ft.Container:
    """The compliance year's allowance left after the kept months' emissions, and the forecast at year end."""
    carbon = board.carbon
    if carbon is None:
        return _tile(tr.t("allowance"), [numeral("—", KIND, level="l"),
                                         _muted(tr.t(board.carbon_note or "allowance.unknown"), palette)],
                     palette, expand=3)  # fmt: skip
    tone = Tone.GOOD if carbon.position >= 0 else Tone.CRITICAL
    said = "wall.carbon.surplus_short" if carbon.position >= 0 else "wall.carbon.deficit_short"
    return _tile(
        f"{tr.t('allowance.remaining')} · {carbon.year}",
        [
            ft.Row(
                [numeral(tr.compact(carbon.remaining), KIND, level="l"), _muted(tr.t("unit.tco2"), palette)],
                vertical_alignment=ft.CrossAxisAlignment.END,
            ),
            ft.Text(
                tr.t(said, amount=tr.number(abs(carbon.position), 0)),
                size=type_scale(KIND).body,
                color=palette.tone(tone),
            ),
            _muted(
                tr.t("wall.carbon.used_of", used=tr.compact(carbon.used), total=tr.compact(carbon.allowances)), palette
            ),  # fmt: skip
        ],
        palette,
        expand=3,
    )


def _overview(board: Wallboard, tr: Translator, palette: Palette) -> ft.Control:
    return ft.Column(
        [
            ft.Row(
                [
                    _comparison_tile(tr.t("emissions.today"), board.today, tr, palette, "xl"),
                    _comparison_tile(tr.t("emissions.this_month"), board.month, tr, palette, "l"),
                    _comparison_tile(tr.t("emissions.this_year"), board.year, tr, palette, "l"),
                ],
                spacing=24,
                expand=True,
                vertical_alignment=ft.CrossAxisAlignment.STRETCH,  # tiles as high as the row
            ),
            ft.Row(
                [_intensity_tile(board, tr, palette), _allowance_tile(board, tr, palette), _months(board, tr, palette)],
                spacing=24,
                vertical_alignment=ft.CrossAxisAlignment.STRETCH,
                expand=True,
            ),
        ],
        spacing=24,
        expand=True,
    )


def _bar(fraction: float, tone: str, palette: Palette, height: int = 36, width: int = 900) -> ft.Control:
    return ft.Container(
        ft.Container(width=max(2, int(width * max(0.0, min(1.0, fraction)))), height=height, bgcolor=tone),
        width=width,
        height=height,
        bgcolor=palette.surface_raised,
        # without an alignment a sized Container stretches its child to its own width: every bar was full
        alignment=ft.Alignment.CENTER_LEFT,
    )


def _ticks(values: Sequence[Decimal]) -> tuple[float, float, list[float]]:
    """The value axis of a chart: its bottom, top and three or four round steps (1, 2 or 5 x 10^n) between."""
    low = float(min((*values, Decimal(0))))
    high = float(max((*values, Decimal(0))))
    span = (high - low) or 1.0
    step = 10.0 ** len(str(int(span / 4))) / 10 if span >= 4 else 1.0
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= 4:
            step *= factor
            break
    bottom = step * (low // step)
    top = step * -(-high // step) if high > 0 else 0.0
    top = max(top, bottom + step)
    return bottom, top, [bottom + i * step for i in range(int(round((top - bottom) / step)) + 1)]


def _legend(items: Sequence[tuple[str, str]], palette: Palette) -> ft.Control:
    """Colour swatches with what they stand for."""
    return ft.Row(
        [
            ft.Row(
                [ft.Container(width=28, height=28, bgcolor=colour, border_radius=4), _muted(text, palette)],
                spacing=8,
                tight=True,  # as wide as its text: the legend is one line
            )
            for colour, text in items
        ],
        spacing=32,
        wrap=True,
    )


def _bar_chart(
    groups: Sequence[tuple[str, Sequence[tuple[Decimal | None, str]]]],
    tr: Translator,
    palette: Palette,
    *,
    rod_width: int,
    label_every: int = 1,
) -> fch.BarChart:
    """Grouped bars, one group per period (its label, its rods as value and colour), a value axis in tCO2."""
    values = [v for _, rods in groups for v, _ in rods if v is not None]
    bottom, top, ticks = _ticks(values)
    size = type_scale(KIND).label
    return fch.BarChart(
        groups=[
            fch.BarChartGroup(
                x=x,
                rods=[
                    fch.BarChartRod(from_y=0, to_y=float(v), width=rod_width, color=colour, border_radius=4)
                    for v, colour in rods
                    if v is not None
                ],
                spacing=4,
            )
            for x, (_, rods) in enumerate(groups)
        ],
        bottom_axis=fch.ChartAxis(
            labels=[
                fch.ChartAxisLabel(value=x, label=ft.Text(label, size=size, color=palette.text_muted))
                for x, (label, _) in enumerate(groups)
                if (len(groups) - 1 - x) % label_every == 0  # counted from the last: the latest is always labelled
            ],
            label_size=size + 16,
            label_spacing=1,
        ),
        left_axis=fch.ChartAxis(
            labels=[
                fch.ChartAxisLabel(
                    value=t, label=ft.Text(tr.compact(Decimal(str(t))), size=size, color=palette.text_muted)
                )
                for t in ticks
            ],
            label_size=size * 4,
            label_spacing=ticks[1] - ticks[0],  # else the chart picks its own steps and shows only labels on them
        ),  # fmt: skip
        horizontal_grid_lines=fch.ChartGridLines(interval=ticks[1] - ticks[0], color=palette.outline, width=1),
        min_y=bottom,
        max_y=top + (ticks[1] - ticks[0]) * 0.15,  # room above the top line for its label, under the legend
        interactive=False,  # nobody touches a wallboard
        expand=True,
    )


def _months(board: Wallboard, tr: Translator, palette: Palette) -> ft.Control:
    """This year month by month against last year's (the running month so far, like for like)."""
    names = tr.t("wall.month.names").split(",")
    so_far = palette.tone(Tone.INFO)
    groups = [
        (names[m.month - 1], [(m.net, so_far if m.running else palette.primary), (m.last_year, LAST_YEAR)])
        for m in board.months
    ]
    legend = [(palette.primary, tr.t("wall.legend.this_year")), (LAST_YEAR, tr.t("wall.legend.last_year_month"))]
    if any(m.running for m in board.months):
        legend.insert(1, (so_far, tr.t("wall.legend.so_far")))
    body: list[ft.Control] = (
        [_legend(legend, palette), _bar_chart(groups, tr, palette, rod_width=18)]
        if board.months
        else [_muted(tr.t(board.emissions_note or "no_data"), palette)]
    )
    return _tile(f"{tr.t('wall.months.title')} · {tr.t('unit.tco2')}", body, palette, expand=7)


def _process_colour(index: int) -> str:
    return SERIES[index % len(SERIES)]


def _pie(board: Wallboard, tr: Translator, palette: Palette, *, expand: int = 1) -> ft.Control:
    """The month's emissions by process as a pie (what no process carries as a grey slice of its own)."""
    slices = [(f.name, f.net, _process_colour(i)) for i, f in enumerate(board.processes)]
    if board.unallocated:
        slices.append((tr.t("wall.unallocated"), board.unallocated, LAST_YEAR))
    shown = [(name, net, colour) for name, net, colour in slices if net is not None and net > 0]
    whole = sum((net for _, net, _ in shown), Decimal(0))
    if not whole:
        note = _muted(tr.t("no_data"), palette)  # why is said once, beside the bars
        return _tile(tr.t("wall.share.title"), [note], palette, expand=expand)
    size = type_scale(KIND).label
    sections = [
        fch.PieChartSection(
            value=float(net),
            color=colour,
            radius=190,
            title=f"{tr.number(net * 100 / whole, 1)}%" if net * 12 >= whole else "",  # 8 % and more: room for it
            title_style=ft.TextStyle(size=size, weight=ft.FontWeight.BOLD, color=palette.background),
            title_position=0.62,
        )
        for _, net, colour in shown
    ]
    chart = fch.PieChart(sections=sections, center_space_radius=0, sections_space=2, expand=True)
    return _tile(tr.t("wall.share.title"), [ft.Container(chart, expand=True)], palette, expand=expand)


def _process_row(name: str, net: Decimal | None, largest: Decimal, colour: str, tr: Translator,
                 palette: Palette) -> ft.Control:  # fmt: skip
    scale = type_scale(KIND)
    fraction = float(net / largest) if net and largest else 0.0
    return ft.Row(
        [
            ft.Container(width=20, height=36, bgcolor=colour, border_radius=4),
            ft.Text(
                name, size=scale.body, width=280, color=palette.text, max_lines=1, overflow=ft.TextOverflow.ELLIPSIS
            ),
            _bar(fraction, colour, palette, width=380),  # the colour of its slice of the pie
            ft.Text(
                tr.quantity(net, "tco2", 0) if net is not None else "—",
                size=scale.body,
                color=palette.text,
                width=280,
                text_align=ft.TextAlign.RIGHT,
            ),  # fmt: skip
        ],
        spacing=16,
    )


def _terms(board: Wallboard, tr: Translator, palette: Palette) -> ft.Control:
    """This year by the five terms of GB/T 32151.5 (carbon fixed in products deducted)."""
    scale = type_scale(KIND)
    figures: list[ft.Control] = [
        ft.Column(
            [
                _muted(tr.t(f"console.term.{key}"), palette),
                ft.Text(tr.compact(board.terms[key]), size=scale.body, color=palette.text),
            ],
            spacing=4,
        )  # fmt: skip
        for key in TERM_KEYS
        if key in board.terms
    ]
    title = f"{tr.t('wall.terms.title')} · {tr.t('unit.tco2')}"
    return ft.Row([_muted(title, palette), *(figures or [_muted("—", palette)])], spacing=48, wrap=True)


def _processes(board: Wallboard, tr: Translator, palette: Palette) -> ft.Control:
    scale = type_scale(KIND)
    rows: list[tuple[str, Decimal | None, str]] = [
        (f.name, f.net, _process_colour(i)) for i, f in enumerate(board.processes)
    ]
    if board.unallocated:  # booked to no process (e.g. purchased electricity without a sub-meter): never spread
        rows.append((tr.t("wall.unallocated"), board.unallocated, LAST_YEAR))
    largest = max((net for _, net, _ in rows if net), default=Decimal(0))
    body: list[ft.Control] = [_process_row(n, v, largest, c, tr, palette) for n, v, c in rows] or [
        _muted(tr.t("no_data"), palette, scale.body)
    ]
    if board.emissions_note:  # why the figures are unknown, in the screen's language
        body.append(_muted(tr.t(board.emissions_note), palette, scale.body))
    figures = _tile(f"{tr.t('per_process')} · {tr.t('period.this_month')}", body, palette, expand=3)
    return ft.Column(
        [
            ft.Row(
                [figures, _pie(board, tr, palette, expand=2)],
                spacing=24,
                expand=True,
                vertical_alignment=ft.CrossAxisAlignment.STRETCH,
            ),  # fmt: skip
            ft.Container(_terms(board, tr, palette), bgcolor=palette.surface, padding=24, border_radius=12),
        ],
        spacing=24,
        expand=True,
    )


def _trend(board: Wallboard, tr: Translator, palette: Palette) -> ft.Control:
    scale = type_scale(KIND)
    largest = max((d.net for d in board.trend if d.net > 0), default=Decimal(0))
    incomplete = palette.tone(Tone.WARNING)
    groups = [
        (
            tr.t("wallboard.span.date", month=d.day.month, day=1) if d.day.day == 1 else f"{d.day.day}",
            [(d.net, palette.primary if d.complete else incomplete), (d.last_year, LAST_YEAR)],
        )
        for d in board.trend
    ]
    peak = tr.quantity(largest, "tco2", 0) if largest else "—"
    legend = [(palette.primary, tr.t("wall.legend.this_year")), (LAST_YEAR, tr.t("wall.legend.last_year_day"))]
    if any(not d.complete for d in board.trend):
        legend.insert(1, (incomplete, tr.t("wallboard.incomplete")))
    body: list[ft.Control] = [
        ft.Row(
            [
                _muted(f"{tr.t('trend.daily')} · {tr.t('trend.max', value=peak)}", palette, scale.body),
                _legend(legend, palette),
            ],
            spacing=48,
            wrap=True,
        ),  # fmt: skip
        _bar_chart(groups, tr, palette, rod_width=20, label_every=2)
        if groups
        else _muted(tr.t(board.emissions_note or "no_data"), palette, scale.body),
    ]
    return _tile(tr.t("trend_30d"), body, palette)


def _flow(board: Wallboard, tr: Translator, palette: Palette) -> ft.Control:
    chips: list[ft.Control] = []
    for figure in board.processes:  # the plant's route order (the model keeps it)
        tone = severity_tone(figure.worst_alarm) if figure.worst_alarm else Tone.GOOD
        chips.append(
            ft.Container(
                ft.Text(figure.name, size=type_scale(KIND).body, color=palette.on_tone(tone)),
                bgcolor=palette.tone(tone),
                padding=ft.Padding.symmetric(horizontal=24, vertical=12),
                border_radius=8,
            )
        )
        chips.append(ft.Icon(ft.Icons.ARROW_FORWARD, color=palette.text_muted, size=32))
    return _tile(tr.t("process_flow"), [ft.Row(chips[:-1], wrap=True, spacing=12, run_spacing=12)], palette)


# Rows of the alarm page that fit under the process flow at 1080p (one line each, at the body size): the rest are
# counted, not cut off at the screen's edge.
ALARM_ROWS = 6


def _alarm_time(alarm: Alarm, tr: Translator, now: dt.datetime) -> str:
    """When it was raised, local: the clock today, the date before."""
    return tr.clock(alarm.raised_at) if tr.day(alarm.raised_at) == tr.day(now) else tr.when(alarm.raised_at)


def _alarm_line(alarm: Alarm, tr: Translator) -> tuple[str, str]:
    """What happened, and to which equipment (with the meters an outage affects)."""
    said = describe_alarm(alarm, tr)
    where = said.subject
    if said.consequences:
        where += f" · {tr.t('wallboard.alarm.affects', count=len(said.consequences))}"
    return said.title, where


def _alarm_list(board: Wallboard, tr: Translator, palette: Palette, now: dt.datetime) -> ft.Control:
    scale = type_scale(KIND)
    if not board.alarms:
        return _tile(tr.t("alarms.active"), [ft.Text(tr.t("alarms.none"), size=scale.body, color=palette.tone(
            Tone.GOOD))], palette)  # fmt: skip
    rows: list[ft.Control] = []
    for a in board.alarms[:ALARM_ROWS]:
        title, where = _alarm_line(a, tr)
        rows.append(
            ft.Row(
                [
                    ft.Container(
                        ft.Text(
                            tr.t(f"alarm.severity.{a.severity}"),
                            size=scale.label,
                            color=palette.on_tone(severity_tone(a.severity)),
                        ),  # fmt: skip
                        bgcolor=palette.tone(severity_tone(a.severity)),
                        padding=ft.Padding.symmetric(horizontal=12, vertical=4),
                        border_radius=6,
                    ),
                    ft.Text(
                        spans=[
                            ft.TextSpan(title, ft.TextStyle(weight=ft.FontWeight.BOLD, color=palette.text)),
                            ft.TextSpan(f"  {where}", ft.TextStyle(color=palette.text_muted)),
                        ],
                        size=scale.body,
                        max_lines=1,
                        overflow=ft.TextOverflow.ELLIPSIS,
                        expand=True,
                    ),
                    _muted(_alarm_time(a, tr, now), palette),
                ],
                spacing=16,
                vertical_alignment=ft.CrossAxisAlignment.CENTER,
            )
        )
    more = len(board.alarms) - ALARM_ROWS
    if more > 0:
        rows.append(_muted(tr.t("wallboard.alarm.more", count=more), palette))
    return _tile(tr.t("alarms.active"), rows, palette)


def _header(board: Wallboard, tr: Translator, palette: Palette, now: dt.datetime) -> ft.Control:
    scale = type_scale(KIND)
    state, at = board.freshness(now)
    tone = {Freshness.LIVE: Tone.GOOD, Freshness.STALE: Tone.WARNING, Freshness.OFFLINE: Tone.CRITICAL}[state]
    text = {Freshness.LIVE: "live.online", Freshness.STALE: "live.stale", Freshness.OFFLINE: "live.offline"}[state]
    if state is Freshness.OFFLINE and board.failed_at is None:
        text, tone = "live.loading", Tone.INFO  # the first figures are on their way
    status = tr.t(text) + (f" · {tr.t('live.updated_at', time=tr.clock(at))}" if at else "")
    return ft.Row(
        [
            ft.Text(tr.t("app.wallboard.title"), size=scale.title, weight=ft.FontWeight.BOLD, color=palette.text),
            ft.Text(board.enterprise_name, size=scale.title, color=palette.text_muted, expand=True),
            ft.Container(
                ft.Text(status, size=scale.label, color=palette.on_tone(tone)),
                bgcolor=palette.tone(tone),
                padding=ft.Padding.symmetric(horizontal=16, vertical=6),
                border_radius=8,
            ),
            ft.Text(tr.clock(now), size=scale.title, color=palette.text),
        ],
        spacing=24,
    )


def _ticker(board: Wallboard, tr: Translator, palette: Palette, now: dt.datetime) -> ft.Control:
    scale = type_scale(KIND)
    if board.alarms:
        first = board.alarms[0]
        severity = tr.t(f"alarm.severity.{first.severity}")
        title, where = _alarm_line(first, tr)
        when = _alarm_time(first, tr, now)
        text = f"{tr.t('alarms.count', count=len(board.alarms))} · {severity} · {title} · {where} · {when}"
        tone = severity_tone(first.severity)
    else:
        text, tone = tr.t("alarms.none"), Tone.GOOD
    return ft.Container(
        ft.Text(text, size=scale.body, color=palette.on_tone(tone), max_lines=1, overflow=ft.TextOverflow.ELLIPSIS),
        bgcolor=palette.tone(tone),
        padding=ft.Padding.symmetric(horizontal=24, vertical=10),
        border_radius=8,
    )


def _level_row(level: ProcessLevel, tr: Translator, palette: Palette) -> ft.Control:
    scale = type_scale(KIND)
    tone = Tone.CRITICAL if level.breach else Tone.GOOD if level.best else Tone.INFO
    return ft.Row(
        [
            ft.Container(width=20, height=36, bgcolor=palette.tone(tone), border_radius=4),
            ft.Text(level.name, size=scale.body, width=190, color=palette.text, max_lines=1,
                    overflow=ft.TextOverflow.ELLIPSIS),
            ft.Text(level.text_en if tr.locale is Locale.EN else level.text, size=scale.body, color=palette.tone(tone),
                    expand=True, max_lines=1, overflow=ft.TextOverflow.ELLIPSIS),
            ft.Text(f"{tr.number(level.actual, 1)} {level.unit}", size=scale.body, color=palette.text_muted,
                    width=220, text_align=ft.TextAlign.RIGHT),
        ],
        spacing=16,
        height=52,  # read from across the room: the rows take the tile rather than huddle at its top
        vertical_alignment=ft.CrossAxisAlignment.CENTER,
    )  # fmt: skip


def _benchmarks(board: Wallboard, tr: Translator, palette: Palette) -> ft.Control:
    """Each process's level this year against the national limits and benchmarks; the biggest potentials."""
    scale = type_scale(KIND)
    year = board.benchmark_year
    levels: list[ft.Control] = [_level_row(level, tr, palette) for level in board.levels] or [
        _muted(tr.t(board.benchmark_note or "no_data"), palette, scale.body)
    ]
    levels.append(_muted(tr.t("wall.bench.levels.about"), palette))
    largest = max((p.tce for p in board.potentials), default=Decimal(0))
    colour = palette.tone(Tone.WARNING)
    rows: list[ft.Control] = [
        ft.Row(
            [
                ft.Text(
                    p.name,
                    size=scale.body,
                    width=200,
                    color=palette.text,
                    max_lines=1,
                    overflow=ft.TextOverflow.ELLIPSIS,
                ),
                _bar(float(p.tce / largest) if largest else 0.0, colour, palette, width=240),
                ft.Text(
                    tr.quantity(p.tce, "tce", 0),
                    size=scale.body,
                    color=palette.text,
                    expand=True,
                    max_lines=1,
                    text_align=ft.TextAlign.RIGHT,
                ),
            ],
            spacing=16,
        )  # fmt: skip
        for p in board.potentials
    ]
    if not rows:
        note = board.benchmark_note or ("wall.bench.none_above" if board.potential_tce is not None else "no_data")
        rows.append(_muted(tr.t(note), palette, scale.body))
    if board.potential_tce is not None and board.potential_tco2 is not None:
        total = tr.t("wall.bench.total", tce=tr.number(board.potential_tce, 0), tco2=tr.number(board.potential_tco2, 0))
        rows.append(ft.Text(total, size=scale.body, color=palette.text))
    rows.append(_muted(tr.t("wall.bench.potentials.about"), palette))
    return ft.Row(
        [
            _tile(tr.t("wall.bench.levels.title", year=year) if year else tr.t("wall.bench.levels.title_plain"),
                  levels, palette, expand=3),
            _tile(tr.t("wall.bench.potentials.title", year=year) if year else tr.t("wall.bench.potentials.title_plain"),
                  rows, palette, expand=2),
        ],
        spacing=24,
        expand=True,
        vertical_alignment=ft.CrossAxisAlignment.STRETCH,
    )  # fmt: skip


def _carbon(board: Wallboard, tr: Translator, palette: Palette) -> ft.Control:
    """The compliance year's allowance used and remaining, the forecast surplus or deficit with its band and in
    CNY, the asset value, and the open carbon warnings."""
    scale = type_scale(KIND)
    carbon = board.carbon
    if carbon is None:
        return _tile(tr.t("wall.carbon.title_plain"),
                     [_muted(tr.t(board.carbon_note or "no_data"), palette, scale.body)], palette)  # fmt: skip
    share = carbon.used_share
    used = _tile(
        tr.t("wall.carbon.used_title", year=carbon.year),
        [
            ft.Row(
                [
                    numeral(tr.percent(share, 0) if share is not None else "—", KIND, level="l"),
                    _muted(tr.t("allowance.used"), palette, scale.body),
                ],
                vertical_alignment=ft.CrossAxisAlignment.END,
            ),  # fmt: skip
            _bar(
                float(share or 0), palette.tone(Tone.CRITICAL if (share or 0) > 1 else Tone.INFO), palette, width=560
            ),  # fmt: skip
            ft.Text(
                tr.t("wall.carbon.used_of", used=tr.number(carbon.used, 0), total=tr.number(carbon.allowances, 0)),
                size=scale.body,
                color=palette.text,
            ),  # fmt: skip
            ft.Text(
                tr.t("wall.carbon.remaining", amount=tr.number(carbon.remaining, 0)),
                size=scale.body,
                color=palette.text,
            ),  # fmt: skip
            _muted(tr.t("wall.carbon.used_about", months=carbon.months_used), palette),
        ],
        palette,
        expand=1,
    )
    surplus = carbon.position >= 0
    tone = Tone.GOOD if surplus else Tone.CRITICAL
    forecast = _tile(
        tr.t("wall.carbon.forecast_title", year=carbon.year),
        [
            ft.Row(
                [
                    numeral(tr.number(carbon.position, 0, sign=True), KIND, level="l", tone=tone),
                    _muted(tr.t("unit.tco2"), palette, scale.body),
                ],
                vertical_alignment=ft.CrossAxisAlignment.END,
            ),  # fmt: skip
            ft.Text(
                tr.t("wall.carbon.surplus" if surplus else "wall.carbon.deficit"),
                size=scale.body,
                color=palette.tone(tone),
            ),  # fmt: skip
            ft.Text(
                tr.t(
                    "wall.carbon.band",
                    percent=carbon.band_percent,
                    low=tr.number(carbon.low, 0, sign=True),
                    high=tr.number(carbon.high, 0, sign=True),
                ),
                size=scale.body,
                color=palette.text,
            ),  # fmt: skip
            ft.Text(
                tr.t("wall.carbon.money", money=tr.number(carbon.money, 0, sign=True))
                if carbon.money is not None
                else tr.t("wall.carbon.no_price"),
                size=scale.body,
                color=palette.text,
            ),  # fmt: skip
            _muted(
                tr.t(
                    "wall.carbon.forecast_about", obligation=tr.number(carbon.obligation, 0), deadline=carbon.deadline
                ),
                palette,
            ),  # fmt: skip
        ],
        palette,
        expand=1,
    )
    value = _tile(
        tr.t("wall.carbon.value_title"),
        [
            ft.Row(
                [
                    numeral(tr.compact(carbon.asset_value) if carbon.asset_value is not None else "—", KIND, level="l"),
                    _muted(tr.t("wall.carbon.cny"), palette, scale.body),
                ],
                vertical_alignment=ft.CrossAxisAlignment.END,
            ),  # fmt: skip
            _muted(tr.t("wall.carbon.value_about"), palette),
        ],
        palette,
        expand=1,
    )
    warnings = board.carbon_warnings()
    rows: list[ft.Control] = []
    warning = palette.tone(Tone.CRITICAL)
    for alarm in warnings[:3]:
        said_ = describe_alarm(alarm, tr)
        rows.append(
            ft.Text(
                spans=[
                    ft.TextSpan(said_.title, ft.TextStyle(weight=ft.FontWeight.BOLD, color=warning)),
                    ft.TextSpan(f"  {said_.happened}", ft.TextStyle(color=palette.text)),
                ],
                size=scale.label,  # two warnings of three lines each fit the tile
                max_lines=3,
                overflow=ft.TextOverflow.ELLIPSIS,
            )
        )
    if not rows:
        rows.append(ft.Text(tr.t("wall.carbon.no_warnings"), size=scale.body, color=palette.tone(Tone.GOOD)))
    alerts = _tile(tr.t("wall.carbon.warnings_title"), rows, palette, expand=2)
    return ft.Column(
        [
            ft.Row([used, forecast], spacing=24, expand=3, vertical_alignment=ft.CrossAxisAlignment.STRETCH),
            ft.Row([value, alerts], spacing=24, expand=2, vertical_alignment=ft.CrossAxisAlignment.STRETCH),
        ],
        spacing=24,
        expand=True,
    )


PAGE_VIEWS: dict[str, Callable[[Wallboard, Translator, Palette], ft.Control]] = {
    "overview": _overview,
    "processes": _processes,
    "trend": _trend,
    # the flow as high as its chips, the alarms below it in the rest of the page
    "alarms": lambda b, t, p: ft.Column(
        [ft.Container(_flow(b, t, p)), _alarm_list(b, t, p, dt.datetime.now(dt.UTC))], spacing=24, expand=True
    ),
    "benchmarks": _benchmarks,
    "carbon": _carbon,
}


def render(board: Wallboard, tr: Translator, now: dt.datetime | None = None) -> ft.Control:
    """The whole screen for the view state as it is now."""
    palette = palette_for(KIND)
    now = now or dt.datetime.now(dt.UTC)
    main = PAGE_VIEWS[board.page_name](board, tr, palette)
    error = _muted(board.error, palette) if board.error else ft.Container()
    return ft.Container(
        ft.Column(
            [
                _header(board, tr, palette, now),
                ft.Container(main, expand=True),
                error,
                _ticker(board, tr, palette, now),
            ],
            spacing=24,
            expand=True,
        ),  # fmt: skip
        padding=32,
        expand=True,
    )


def wallboard_main(
    base_url: str,
    token: str,
    enterprise_id: int,
    *,
    locale: str = "zh-CN",
    refresh_s: float = 60.0,
    rotate_s: float = 20.0,
    start_page: str = "overview",
) -> Callable[[ft.Page], Awaitable[None]]:
    """The Flet ``main`` of a wallboard of ``enterprise_id`` on the platform at ``base_url`` with ``token``.

    ``locale`` and ``start_page`` are the defaults of every screen; a screen's URL may choose others
    (:func:`screen_options`). A page chosen in the URL stays: the screen does not rotate.
    """

    async def main(page: ft.Page) -> None:
        apply_theme(page, KIND)
        api = ApiClient(base_url)
        api.use_token(token)
        board = Wallboard(api, enterprise_id, refresh_s=refresh_s)
        tr = Translator(locale)
        pinned = False
        page.padding = 0
        holder = ft.Container(expand=True)
        page.add(holder)

        def choose(route: str | None) -> None:
            nonlocal pinned
            options = screen_options(route)
            tr.set_locale(options.locale or locale)
            apply_locale(page, tr.locale)
            board.page = options.page if options.page is not None else PAGES.index(start_page)
            pinned = options.page is not None
            page.title = tr.t("app.wallboard.title")

        def draw() -> None:
            tr.zone = board.zone
            holder.content = render(board, tr)
            page.update()

        def route_changed(event: ft.RouteChangeEvent) -> None:
            choose(event.route)
            draw()

        choose(page.route)
        page.on_route_change = route_changed

        async def refresher() -> None:
            while True:
                await board.refresh()
                draw()
                await asyncio.sleep(refresh_s)

        async def rotator() -> None:
            while rotate_s > 0:
                await asyncio.sleep(rotate_s)
                if not pinned:
                    board.next_page()
                    draw()

        async def live() -> None:
            async with LiveFeed(api, include_pings=True) as feed:
                async for event in feed:
                    if event.type == "connected":
                        board.apply(event)
                        await board.refresh()  # events sent while disconnected are not replayed
                        draw()
                    elif board.apply(event):
                        draw()
                    elif not feed.connected:
                        board.disconnected()
                        draw()

        async def guarded(name: str, work: Callable[[], Awaitable[None]]) -> None:
            while True:
                try:
                    await work()
                    return
                except asyncio.CancelledError:
                    raise
                except ClientError as err:
                    board.disconnected()
                    board.error = str(err)
                    log.warning("wallboard %s: %s", name, err)
                    draw()
                    await asyncio.sleep(min(refresh_s, 10))

        tasks = [
            asyncio.create_task(guarded("refresh", refresher)),
            asyncio.create_task(rotator()),
            asyncio.create_task(guarded("live", live)),
        ]

        async def on_disconnect(_: object) -> None:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await api.aclose()

        page.on_disconnect = on_disconnect
        draw()
        await asyncio.gather(*tasks, return_exceptions=True)

    return main
