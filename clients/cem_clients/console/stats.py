"""Carbon statistics of an enterprise or one of its processes: the view state of the console's 统计分析 screen.

:class:`StatisticsBoard` asks the platform's statistics service (``GET /statistics``, :meth:`ApiClient.statistics`)
the question of its :class:`StatisticsQuery` — scope (the enterprise or one process), period kind and range,
dimension (the five terms of GB/T 32151.5, the source categories or the processes) and the comparisons (同比
year-on-year, 环比 period-on-period, 定比 against a base period) — and keeps the answer. Everything the screen
shows comes from here, so that the chart, the table and the XLSX export say the same thing:

* :meth:`StatisticsBoard.parts` — the parts of the chosen dimension in a fixed order (carbon fixed in products and
  what no process carries last), :meth:`~StatisticsBoard.series` their signed values period by period;
* :meth:`StatisticsBoard.table` — the periods with each part, the net, the intensity and the comparisons, and the
  range's total as the last row; :meth:`StatisticsBoard.structure` — the range's parts with their shares;
  both as :class:`Sheet` values (captions in the reader's language, figures rounded as shown: tCO2 to 0.01,
  intensities to 0.0001, shares, changes and indexes to 0.01).

A question the form can tell is wrong (no range, the end before the start, 定比 without its base period, a process
divided by process) is refused before anything is sent; the platform's refusal (400 with message and hint: a range
too long, a base period without emissions) lands in ``error`` and what was shown before stays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from cem_clients.api import Process, Statistics, StatisticsChange, StatisticsPart, StatisticsRow
from cem_clients.console.accounting import EmissionsQuery
from cem_clients.console.extra_api import ConsoleApi
from cem_clients.console.forms import Problem, Screen
from cem_clients.ui import accounting_text as acc
from cem_clients.ui.i18n import Translator

__all__ = [
    "CATEGORIES",
    "COMPARISONS",
    "DIMENSIONS",
    "GROUPS",
    "UNALLOCATED",
    "Column",
    "Comparison",
    "Dimension",
    "Sheet",
    "StatisticsBoard",
    "StatisticsQuery",
    "rounded",
]

Dimension = Literal["group", "category", "process"]
Comparison = Literal["yoy", "pop", "base"]
DIMENSIONS: tuple[Dimension, ...] = ("group", "category", "process")
COMPARISONS: tuple[Comparison, ...] = ("yoy", "pop", "base")
UNALLOCATED = "_unallocated"  # the part of the enterprise booked to no process
#: The five terms of GB/T 32151.5 in the order of the standard (carbon fixed in products, deducted, last).
GROUPS = ("combustion", "process", "electricity", "heat", "fixed_carbon")
#: Source categories in the order of the inventory (fixed carbon last: it is deducted).
CATEGORIES = ("fuel_combustion", "flux", "electrode", "raw_material", "electricity", "heat", "fixed_carbon")

TCO2_PLACES = 2
INTENSITY_PLACES = 4
PERCENT_PLACES = 2


def rounded(value: Decimal | None, places: int) -> Decimal | None:
    """``value`` rounded half up to ``places`` (as the screens show it); None stays None."""
    if value is None:
        return None
    result = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return abs(result) if result.is_zero() else result  # never -0.00


@dataclass(kw_only=True)
class StatisticsQuery(EmissionsQuery):
    """What to ask: scope, period kind and range (from :class:`EmissionsQuery`), dimension and comparisons."""

    dimension: Dimension = "group"
    compare: tuple[Comparison, ...] = ("yoy",)
    base: dt.date | str = ""  # a year, month or day in the fixed-base period (定比)

    def validate(self) -> bool:
        """The range as :class:`EmissionsQuery` checks it, then the dimension and the base period."""
        super().validate()
        if self.dimension not in DIMENSIONS:
            self.check("dimension", Problem("stats.problem.dimension"))
        elif self.scope == "process" and self.dimension == "process":
            self.check("dimension", Problem("stats.problem.process_by_process"))
        if "base" in self.compare:
            if not self.bound("base"):
                self.check("base", Problem("stats.problem.base_missing"))
            else:
                self._day("base")  # a year, month or day, as the range's bounds
        return self.valid

    def set_base(self, value: dt.date | str) -> None:
        """The base period: typed, or a day picked (kept as the year, month or day of the period kind)."""
        if isinstance(value, dt.date):
            value = {"year": f"{value.year}", "month": f"{value:%Y-%m}"}.get(self.period, value.isoformat())
        self.base = value

    def toggle(self, comparison: Comparison, on: bool) -> None:
        """Ask for ``comparison`` or not (the order of :data:`COMPARISONS` is kept)."""
        wanted = set(self.compare) | {comparison} if on else set(self.compare) - {comparison}
        self.compare = tuple(c for c in COMPARISONS if c in wanted)


@dataclass(frozen=True)
class Column:
    """A column of a :class:`Sheet`: its caption and the places its figures are shown with (None: text)."""

    caption: str
    places: int | None = None
    sign: bool = False  # a change: + before a rise


@dataclass(frozen=True)
class Sheet:
    """A table as the screen shows it and the export writes it: captions, rows of text or rounded figures."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str | Decimal | None, ...], ...]

    def shown(self, tr: Translator) -> list[list[str]]:
        """Every cell as text (figures with thousand separators, "—" for none)."""
        out = []
        for row in self.rows:
            cells = []
            for value, column in zip(row, self.columns, strict=True):
                if value is None:
                    cells.append("—")
                elif isinstance(value, Decimal):
                    cells.append(tr.number(value, column.places or 0, sign=column.sign))
                else:
                    cells.append(value)
            out.append(cells)
        return out

    def workbook_rows(self) -> list[list[object]]:
        """The rows for the XLSX export: figures as numbers rounded as shown, "—" for none."""
        return [["—" if value is None else value for value in row] for row in self.rows]

    @property
    def header(self) -> list[str]:
        """The captions."""
        return [c.caption for c in self.columns]


@dataclass
class StatisticsBoard(Screen):
    """The statistics of the enterprise or one of its processes for the question of :attr:`query`."""

    api: ConsoleApi
    enterprise_id: int
    query: StatisticsQuery = field(default_factory=StatisticsQuery)
    processes: list[Process] = field(default_factory=list)
    answer: Statistics | None = None

    async def load_choices(self) -> bool:
        """The processes of the enterprise (the scopes to choose from)."""

        async def work() -> None:
            self.processes = sorted(await self.api.processes(self.enterprise_id), key=lambda p: p.code)

        return await self._load(work)

    async def load(self) -> bool:
        """Ask the statistics of the query; on a refusal the answer shown before stays and ``error`` says why."""
        q = self.query
        if q.scope_id is None and q.scope == "enterprise":
            q.scope_id = self.enterprise_id
        if not q.validate():
            return False

        async def work() -> None:
            self.answer = await self.api.statistics(
                q.scope,
                q.scope_id if q.scope_id is not None else self.enterprise_id,
                q.period,
                q.bound("start"),
                q.bound("end"),
                dimension=q.dimension,
                compare=q.compare,
                base=q.bound("base") if "base" in q.compare else None,
            )

        return await self._load(work)

    async def open_process(self, process_id: int) -> bool:
        """The per-process view: one process's emissions by term, its intensity, over the same range."""
        q = self.query
        q.scope, q.scope_id = "process", process_id
        if q.dimension == "process":
            q.dimension = "group"
        return await self.load()

    # ---- what the answer says -----------------------------------------------------------------------------------

    @property
    def rows(self) -> tuple[StatisticsRow, ...]:
        """The periods of the answer."""
        return self.answer.rows if self.answer is not None else ()

    @property
    def compared(self) -> tuple[str, ...]:
        """The comparisons the answer holds."""
        return self.answer.compare if self.answer is not None else ()

    def parts(self) -> list[str]:
        """The keys of the parts in the answer: the standard's order for terms and categories, processes by code
        with what no process carries last; a part that is zero in every period and the total is left out."""
        if self.answer is None:
            return []
        values: dict[str, Decimal] = {}
        for part in (*self.answer.total.parts, *(p for r in self.rows for p in r.parts)):
            values[part.key] = values.get(part.key, Decimal(0)) + abs(part.value)
        found = [k for k, v in values.items() if v]
        order = {"group": GROUPS, "category": CATEGORIES}.get(self.answer.dimension, ())
        known = [k for k in order if k in found]
        rest = sorted(k for k in found if k not in order and k != UNALLOCATED)
        return known + rest + ([UNALLOCATED] if UNALLOCATED in found else [])

    def part_name(self, tr: Translator, key: str) -> str:
        """A part by name: a term, a category, a process (its code and name) or what no process carries."""
        dimension = self.answer.dimension if self.answer is not None else self.query.dimension
        if key == UNALLOCATED:
            return tr.t("stats.unallocated")
        if dimension == "group":
            return tr.t(f"console.term.{key}") if key in GROUPS else key
        if dimension == "category":
            return acc.category_name(tr, key)
        name = self._part_names().get(key) or next((p.name for p in self.processes if p.code == key), "")
        return f"{key} {name}".strip()

    def _part_names(self) -> dict[str, str]:
        if self.answer is None:
            return {}
        return {p.key: p.name for r in (*self.rows,) for p in r.parts if p.name} | {
            p.key: p.name for p in self.answer.total.parts if p.name
        }

    def process_id(self, code: str) -> int | None:
        """The id of the process with ``code`` (a part of the process dimension), if it is one of the enterprise's."""
        return next((p.id for p in self.processes if p.code == code), None)

    def series(self) -> dict[str, list[Decimal]]:
        """Each part's signed value (tCO2) period by period (zero where a period has no such part)."""
        keys = self.parts()
        out: dict[str, list[Decimal]] = {k: [] for k in keys}
        for row in self.rows:
            values = {p.key: p.value for p in row.parts}
            for key in keys:
                out[key].append(values.get(key, Decimal(0)))
        return out

    def scope_name(self) -> str:
        """What the answer is of: the enterprise's or the process's name."""
        return self.answer.name if self.answer is not None else ""

    # ---- tables ---------------------------------------------------------------------------------------------------

    def _change_columns(self, tr: Translator) -> list[tuple[str, Column]]:
        columns = []
        for name in self.compared:
            if name == "base":
                columns.append(("base", Column(tr.t("stats.col.base_index"), PERCENT_PLACES)))
            else:
                columns.append((name, Column(tr.t(f"stats.col.{name}_percent"), PERCENT_PLACES, sign=True)))
        return columns

    def table(self, tr: Translator) -> Sheet:
        """The periods, each part, the net, the intensity and the comparisons asked for; the total last."""
        keys = self.parts()
        changes = self._change_columns(tr)
        columns = (
            Column(tr.t("console.col.period")),
            *(Column(self.part_name(tr, k), TCO2_PLACES) for k in keys),  # in tCO2, as the net (the table says so)
            Column(tr.t("stats.col.net"), TCO2_PLACES),
            Column(tr.t("stats.col.intensity"), INTENSITY_PLACES),
            *(column for _, column in changes),
            Column(tr.t("stats.col.data")),
        )
        rows: list[tuple[str | Decimal | None, ...]] = []
        for row in self.rows:
            values = {p.key: p.value for p in row.parts}
            comparisons: dict[str, StatisticsChange | None] = {"yoy": row.yoy, "pop": row.pop, "base": row.base}
            cells: list[str | Decimal | None] = [row.period]
            cells += [rounded(values.get(k, Decimal(0)), TCO2_PLACES) for k in keys]
            cells += [rounded(row.net, TCO2_PLACES), rounded(row.intensity, INTENSITY_PLACES)]
            for name, _ in changes:
                change = comparisons[name]
                figure = None if change is None else (change.index if name == "base" else change.percent)
                cells.append(rounded(figure, PERCENT_PLACES))
            cells.append(self.data_state(tr, row))
            rows.append(tuple(cells))
        if self.answer is not None and self.rows:  # the range's total, under its periods
            total = self.answer.total
            values = {p.key: p.value for p in total.parts}
            cells = [tr.t("stats.total_row")]
            cells += [rounded(values.get(k, Decimal(0)), TCO2_PLACES) for k in keys]
            cells += [rounded(total.net, TCO2_PLACES), rounded(total.intensity, INTENSITY_PLACES)]
            cells += [None for _ in changes]
            cells.append(tr.t("console.emissions.complete" if total.complete else "console.emissions.incomplete"))
            rows.append(tuple(cells))
        return Sheet(tr.t("stats.sheet.periods"), columns, tuple(rows))

    def structure(self, tr: Translator) -> Sheet:
        """The range's parts: each one's signed tCO2 and its share of the net (adding to 100.00 %), then the net."""
        columns = (
            Column(tr.t(f"stats.dimension.{self.answer.dimension if self.answer else self.query.dimension}")),
            Column("tCO2", TCO2_PLACES),
            Column(tr.t("stats.col.share"), PERCENT_PLACES),
        )
        rows: list[tuple[str | Decimal | None, ...]] = []
        if self.answer is not None and self.rows:
            parts: dict[str, StatisticsPart] = {p.key: p for p in self.answer.total.parts}
            for key in self.parts():
                part = parts.get(key)
                value = part.value if part is not None else Decimal(0)
                share = part.share if part is not None else None
                rows.append((self.part_name(tr, key), rounded(value, TCO2_PLACES), rounded(share, PERCENT_PLACES)))
            net = self.answer.total.net
            rows.append((tr.t("stats.col.net"), rounded(net, TCO2_PLACES), Decimal("100.00") if net else None))
        return Sheet(tr.t("stats.sheet.structure"), columns, tuple(rows))

    def data_state(self, tr: Translator, row: StatisticsRow) -> str:
        """How far a period's figures can be relied on: final or provisional, estimated, incomplete, recalculating."""
        words = [tr.t("final") if row.final else tr.t("provisional")]
        if row.estimated:
            words.append(tr.t("estimated"))
        if not row.complete:
            words.append(tr.t("console.emissions.incomplete"))
        if row.pending:
            words.append(tr.t("console.emissions.pending"))
        return " · ".join(words)

    def filename(self) -> str:
        """The export's file name: what, of whom, which periods."""
        q = self.query
        scope = self.answer.name if self.answer is not None else str(q.scope_id or "")
        return f"statistics-{scope}-{q.period}-{q.bound('start')}-{q.bound('end')}.xlsx".replace(" ", "_")

    @staticmethod
    def comparison_values(rows: Sequence[StatisticsRow], name: str) -> list[Decimal | None]:
        """The other periods' nets of a comparison (last year's, the period before's, the base's), row by row."""
        out: list[Decimal | None] = []
        for row in rows:
            change = {"yoy": row.yoy, "pop": row.pop, "base": row.base}.get(name)
            out.append(change.value if change is not None else None)
        return out
