"""Carbon and energy statistics of an enterprise, one of its processes or facilities, or one source: the view state
of the console's 统计分析 screen.

:class:`StatisticsBoard` asks the platform's statistics service (``GET /statistics``, :meth:`ApiClient.statistics`)
the question of its :class:`StatisticsQuery` — the metric (emissions in tCO2, or energy in tce of standard coal
with electricity by its equivalent or equal value), scope (the enterprise, one process, one facility — the sum of its
sources — or one source), period kind and range, dimension (emissions: the five terms of GB/T 32151.5, the source
categories, the processes of the enterprise or the sources of a facility; energy: the carriers, the processes or a
facility's sources) and the comparisons (同比 year-on-year, 环比 period-on-period, 定比 against a base period) — and
keeps the answer. Units and captions follow the answer's metric (tce and kgce/t for energy). Everything the screen
shows comes from here, so that the chart, the table and the XLSX export say the same thing:

* :meth:`StatisticsBoard.parts` — the parts of the chosen dimension in a fixed order (carbon fixed in products and
  what no process carries last), :meth:`~StatisticsBoard.series` their signed values period by period;
* :meth:`StatisticsBoard.table` — the periods with each part, the net, the intensity (per tonne, and per 10^4 CNY
  of output value where the enterprise enters it) and the comparisons, and the range's total as the last row;
  :meth:`StatisticsBoard.structure` — the range's parts with their shares; both as :class:`Sheet` values
  (captions in the reader's language, figures rounded as shown: tCO2 and tce to 0.01, intensities to 0.0001
  tCO2/t or 0.01 kgce/t, shares, changes and indexes to 0.01).

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

from cem_clients.api import (
    EmissionSource,
    Facility,
    Process,
    Statistics,
    StatisticsChange,
    StatisticsPart,
    StatisticsRow,
)
from cem_clients.console.accounting import EmissionsQuery
from cem_clients.console.extra_api import ConsoleApi
from cem_clients.console.forms import Problem, Screen
from cem_clients.ui import accounting_text as acc
from cem_clients.ui.i18n import Translator

__all__ = [
    "CARRIERS",
    "CATEGORIES",
    "COMPARISONS",
    "DIMENSIONS",
    "DIMENSIONS_OF",
    "ELECTRICITY_METHODS",
    "PARTS",
    "GROUPS",
    "METRICS",
    "UNALLOCATED",
    "Column",
    "Comparison",
    "Dimension",
    "ElectricityMethod",
    "Metric",
    "Sheet",
    "StatisticsBoard",
    "StatisticsQuery",
    "dimensions",
    "rounded",
]

Dimension = Literal["group", "category", "carrier", "process", "source"]
#: What a question may be about beyond the enterprise and a process: a facility (its sources) or one source.
Part = Literal["", "facility", "source"]
PARTS: tuple[Part, ...] = ("facility", "source")
Comparison = Literal["yoy", "pop", "base"]
Metric = Literal["emissions", "energy"]
ElectricityMethod = Literal["equivalent", "equal_value"]
METRICS: tuple[Metric, ...] = ("emissions", "energy")
#: The breakdowns of each metric, the default first.
DIMENSIONS_OF: dict[Metric, tuple[Dimension, ...]] = {
    "emissions": ("group", "category", "process", "source"),
    "energy": ("carrier", "process", "source"),
}
DIMENSIONS: tuple[Dimension, ...] = ("group", "category", "carrier", "process", "source")
#: The breakdowns of each scope: the enterprise by process, a facility by source, a process and a source by neither.
_SCOPE_DIMENSIONS: dict[str, tuple[Dimension, ...]] = {
    "enterprise": ("group", "category", "carrier", "process"),
    "process": ("group", "category", "carrier"),
    "facility": ("group", "category", "carrier", "source"),
    "source": ("group", "category", "carrier"),
}


def dimensions(metric: Metric, scope: str) -> tuple[Dimension, ...]:
    """The breakdowns of ``metric`` for ``scope`` (enterprise, process, facility or source), the default first."""
    return tuple(d for d in DIMENSIONS_OF[metric] if d in _SCOPE_DIMENSIONS.get(scope, ()))


#: Electricity in standard coal: the equivalent value (当量值, the default) or the equal value (等价值).
ELECTRICITY_METHODS: tuple[ElectricityMethod, ...] = ("equivalent", "equal_value")
COMPARISONS: tuple[Comparison, ...] = ("yoy", "pop", "base")
UNALLOCATED = "_unallocated"  # the part of the enterprise booked to no process
#: The five terms of GB/T 32151.5 in the order of the standard (carbon fixed in products, deducted, last).
GROUPS = ("combustion", "process", "electricity", "heat", "fixed_carbon")
#: Source categories in the order of the inventory (fixed carbon last: it is deducted).
CATEGORIES = ("fuel_combustion", "flux", "electrode", "raw_material", "electricity", "heat", "fixed_carbon")
#: Energy carriers: coals, coke, oils, natural gas, the works' by-product gases, electricity, heat (others after).
CARRIERS = (
    "washed_coal", "anthracite", "bituminous", "lignite", "coke", "fuel_oil", "diesel", "gasoline", "lpg", "tar",
    "crude_benzene", "natural_gas", "coke_oven_gas", "blast_furnace_gas", "converter_gas", "electricity", "heat",
)  # fmt: skip
#: Carriers named by the statistics' own strings (``stats.carrier.*``); fuels by the accounting's item names.
_OWN_CARRIERS = ("electricity", "heat", "steam", "fuel")

TCO2_PLACES = 2
INTENSITY_PLACES = 4
KGCE_PLACES = 2  # kgce/t: a process's energy per tonne is some tens to hundreds
PERCENT_PLACES = 2


def rounded(value: Decimal | None, places: int) -> Decimal | None:
    """``value`` rounded half up to ``places`` (as the screens show it); None stays None."""
    if value is None:
        return None
    result = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return abs(result) if result.is_zero() else result  # never -0.00


@dataclass(kw_only=True)
class StatisticsQuery(EmissionsQuery):
    """What to ask: scope, period kind and range (from :class:`EmissionsQuery`), metric, dimension and comparisons."""

    metric: Metric = "emissions"
    electricity: ElectricityMethod = "equivalent"  # energy only
    dimension: Dimension = "group"
    compare: tuple[Comparison, ...] = ("yoy",)
    base: dt.date | str = ""  # a year, month or day in the fixed-base period (定比)
    part: Part = ""  # a facility or a source asked instead of :attr:`scope` (the enterprise or a process)
    part_id: int | None = None

    @property
    def asked(self) -> str:
        """The scope asked: the facility or source when one is chosen, else the enterprise or the process."""
        return self.part or self.scope

    @property
    def scope_choice(self) -> str:
        """The scope picker's value: ``enterprise``, a process's id, or ``facility:<id>`` / ``source:<id>``."""
        if self.part:
            return f"{self.part}:{self.part_id}"
        return "enterprise" if self.scope == "enterprise" else str(self.scope_id)

    def choose_part(self, value: str) -> bool:
        """A facility or source picked (``facility:<id>``, ``source:<id>``): True; anything else (the enterprise, a
        process) clears it and is the picker's to set: False. The breakdown follows what the scope allows."""
        kind, _, ident = value.partition(":")
        part = next((p for p in PARTS if p == kind), None)
        self.part, self.part_id = (part, int(ident)) if part is not None and ident.isdigit() else ("", None)
        if self.metric in METRICS and self.dimension not in dimensions(self.metric, self.part or "enterprise"):
            self.dimension = dimensions(self.metric, self.part or "enterprise")[0]
        return part is not None and self.part_id is not None

    def validate(self) -> bool:
        """The range as :class:`EmissionsQuery` checks it, then the dimension and the base period."""
        super().validate()
        energy = self.metric == "energy"
        if self.metric not in METRICS:
            self.check("metric", Problem("stats.problem.metric"))
        elif self.dimension not in DIMENSIONS_OF[self.metric]:
            self.check("dimension", Problem("stats.problem.dimension_energy" if energy else "stats.problem.dimension"))
        elif self.scope == "process" and not self.part and self.dimension == "process":
            key = "stats.problem.process_by_process_energy" if energy else "stats.problem.process_by_process"
            self.check("dimension", Problem(key))
        elif self.dimension not in dimensions(self.metric, self.asked):
            self.check("dimension", Problem(f"stats.problem.{self.asked}_dimension"))
        if energy and self.electricity not in ELECTRICITY_METHODS:
            self.check("electricity", Problem("stats.problem.electricity"))
        if "base" in self.compare:
            if not self.bound("base"):
                self.check("base", Problem("stats.problem.base_missing"))
            else:
                self._day("base")  # a year, month or day, as the range's bounds
        return self.valid

    def set_metric(self, metric: Metric) -> None:
        """Ask for ``metric``: the breakdown by processes (or sources) stays, another becomes the metric's default."""
        self.metric = metric
        if self.dimension not in dimensions(metric, self.asked):
            self.dimension = dimensions(metric, self.asked)[0]

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
    facilities: list[Facility] = field(default_factory=list)  # those with emission sources
    sources: list[EmissionSource] = field(default_factory=list)  # emission sources (not outputs)
    answer: Statistics | None = None

    async def load_choices(self) -> bool:
        """The processes of the enterprise, its facilities with sources and its sources (the scopes to choose
        from)."""

        async def work() -> None:
            self.processes = sorted(await self.api.processes(self.enterprise_id), key=lambda p: p.code)
            inventory = await self.api.sources(self.enterprise_id)
            self.sources = sorted((s for s in inventory if s.category != "output"), key=lambda s: s.code)
            used = {s.facility_id for s in self.sources if s.facility_id is not None}
            ours = {p.id for p in self.processes}
            found = [f for p in ours for f in await self.api.facilities(p) if f.id in used] if used else []
            self.facilities = sorted(found, key=lambda f: f.code)

        return await self._load(work)

    def scope_choices(self) -> list[tuple[str, str]]:
        """The facilities and sources as the scope picker offers them after the processes."""
        return [
            *((f"facility:{f.id}", f"{f.code} {f.name}") for f in self.facilities),
            *((f"source:{s.id}", f"{s.code} {s.name}") for s in self.sources),
        ]

    async def load(self) -> bool:
        """Ask the statistics of the query; on a refusal the answer shown before stays and ``error`` says why."""
        q = self.query
        if q.scope_id is None and q.scope == "enterprise":
            q.scope_id = self.enterprise_id
        if not q.validate():
            return False

        async def work() -> None:
            scope_id = q.part_id if q.part else q.scope_id
            self.answer = await self.api.statistics(
                q.part or q.scope,
                scope_id if scope_id is not None else self.enterprise_id,
                q.period,
                q.bound("start"),
                q.bound("end"),
                dimension=q.dimension,
                compare=q.compare,
                base=q.bound("base") if "base" in q.compare else None,
                metric=q.metric,
                electricity=q.electricity,
            )

        return await self._load(work)

    async def open_process(self, process_id: int) -> bool:
        """The per-process view: one process's emissions by term, its intensity, over the same range."""
        q = self.query
        q.scope, q.scope_id = "process", process_id
        q.choose_part("")
        if q.dimension not in dimensions(q.metric, "process"):
            q.dimension = DIMENSIONS_OF[q.metric][0]
        return await self.load()

    async def open_source(self, source_id: int) -> bool:
        """One source of a facility's structure on its own, over the same range."""
        self.query.choose_part(f"source:{source_id}")
        return await self.load()

    async def open_enterprise(self) -> bool:
        """Back to the whole enterprise."""
        q = self.query
        q.scope, q.scope_id = "enterprise", self.enterprise_id
        q.choose_part("")
        return await self.load()

    # ---- what the answer says -----------------------------------------------------------------------------------

    @property
    def rows(self) -> tuple[StatisticsRow, ...]:
        """The periods of the answer."""
        return self.answer.rows if self.answer is not None else ()

    @property
    def metric(self) -> str:
        """What the figures are: the answer's metric (emissions or energy), else the query's."""
        return self.answer.metric if self.answer is not None else self.query.metric

    @property
    def energy(self) -> bool:
        """Whether the figures are energy (tce) rather than emissions (tCO2)."""
        return self.metric == "energy"

    @property
    def unit(self) -> str:
        """The figures' unit as the answer gives it: tCO2 or tce."""
        return self.answer.unit if self.answer is not None else ("tce" if self.energy else "tCO2")

    @property
    def intensity_unit(self) -> str:
        """The intensities' unit as the answer gives it: tCO2/t or kgce/t."""
        if self.answer is not None:
            return self.answer.intensity_unit
        return "kgce/t" if self.energy else "tCO2/t"

    @property
    def value_intensity_unit(self) -> str:
        """The unit of the intensity per output value as the answer gives it (tCO2/10^4 CNY, tce/10^4 CNY)."""
        if self.answer is not None and self.answer.value_intensity_unit:
            return self.answer.value_intensity_unit
        return f"{self.unit}/10^4 CNY"

    def value_unit(self, tr: Translator) -> str:
        """That unit as the reader writes it: tCO2/万元 or tCO2/10k CNY."""
        return tr.t("stats.value_unit", unit=self.unit)

    @property
    def by_value(self) -> bool:
        """Whether the answer holds an intensity per output value: the enterprise's, where it enters its output
        value (产值) for a period at least."""
        return (
            self.answer is not None
            and self.answer.scope == "enterprise"
            and any(r.output_value is not None for r in self.rows)
        )

    @property
    def value_missing(self) -> bool:
        """Whether a period of the enterprise's answer has no output value (the screen says how to enter it)."""
        return (
            self.answer is not None
            and self.answer.scope == "enterprise"
            and any(r.output_value is None for r in self.rows)
        )

    @property
    def intensity_places(self) -> int:
        """The places an intensity is shown with: 0.0001 tCO2/t, 0.01 kgce/t."""
        return KGCE_PLACES if self.intensity_unit.startswith("kg") else INTENSITY_PLACES

    def key(self, name: str) -> str:
        """The string key of a caption that depends on the metric: ``stats.<name>`` for emissions,
        ``stats.energy.<name>`` for energy (those take the answer's ``{unit}`` and ``{intensity_unit}``)."""
        return f"stats.energy.{name}" if self.energy else f"stats.{name}"

    def caption(self, tr: Translator, name: str, **fmt: object) -> str:
        """The caption ``name`` for the answer's metric, with its units."""
        if self.energy:
            return tr.t(self.key(name), unit=self.unit, intensity_unit=self.intensity_unit, **fmt)
        return tr.t(self.key(name), **fmt)

    def electricity_method(self, tr: Translator) -> str:
        """How electricity is counted in the answer: 当量值 or 等价值 (energy only; "" for emissions)."""
        if not self.energy:
            return ""
        method = self.answer.electricity if self.answer is not None else None
        return tr.t(f"stats.electricity.{method or self.query.electricity}")

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
        order = {"group": GROUPS, "category": CATEGORIES, "carrier": CARRIERS}.get(self.answer.dimension, ())
        known = [k for k in order if k in found]
        rest = sorted(k for k in found if k not in order and k != UNALLOCATED)
        return known + rest + ([UNALLOCATED] if UNALLOCATED in found else [])

    def part_name(self, tr: Translator, key: str) -> str:
        """A part by name: a term, a category, a carrier, a process (its code and name) or what no process carries."""
        dimension = self.answer.dimension if self.answer is not None else self.query.dimension
        if key == UNALLOCATED:
            return tr.t("stats.unallocated")
        if dimension == "group":
            return tr.t(f"console.term.{key}") if key in GROUPS else key
        if dimension == "category":
            return acc.category_name(tr, key)
        if dimension == "carrier":
            return tr.t(f"stats.carrier.{key}") if key in _OWN_CARRIERS else acc.item_name(tr, key)
        if dimension == "source":
            name = self._part_names().get(key) or next((s.name for s in self.sources if s.code == key), "")
            return f"{key} {name}".strip()
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

    def source_id(self, code: str) -> int | None:
        """The id of the source with ``code`` (a part of the source dimension), if it is one of the enterprise's."""
        return next((s.id for s in self.sources if s.code == code), None)

    def series(self) -> dict[str, list[Decimal]]:
        """Each part's signed value (tCO2 or tce) period by period (zero where a period has no such part)."""
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
        places = self.intensity_places
        by_value = self.by_value  # the enterprise: its output value and the intensity per 10^4 CNY of it
        value_columns = (
            (Column(tr.t("stats.col.output_value"), TCO2_PLACES),
             Column(tr.t("stats.col.value_intensity", unit=self.value_unit(tr)), INTENSITY_PLACES))
            if by_value else ()
        )  # fmt: skip
        columns = (
            Column(tr.t("console.col.period")),
            *(Column(self.part_name(tr, k), TCO2_PLACES) for k in keys),  # in the net's unit (the table says so)
            Column(self.caption(tr, "col.net"), TCO2_PLACES),
            Column(self.caption(tr, "col.intensity"), places),
            *value_columns,
            *(column for _, column in changes),
            Column(tr.t("stats.col.data")),
        )
        rows: list[tuple[str | Decimal | None, ...]] = []
        for row in self.rows:
            values = {p.key: p.value for p in row.parts}
            comparisons: dict[str, StatisticsChange | None] = {"yoy": row.yoy, "pop": row.pop, "base": row.base}
            cells: list[str | Decimal | None] = [row.period]
            cells += [rounded(values.get(k, Decimal(0)), TCO2_PLACES) for k in keys]
            cells += [rounded(row.net, TCO2_PLACES), rounded(row.intensity, places)]
            if by_value:
                cells += [rounded(row.output_value, TCO2_PLACES), rounded(row.value_intensity, INTENSITY_PLACES)]
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
            cells += [rounded(total.net, TCO2_PLACES), rounded(total.intensity, places)]
            if by_value:
                cells += [rounded(total.output_value, TCO2_PLACES), rounded(total.value_intensity, INTENSITY_PLACES)]
            cells += [None for _ in changes]
            cells.append(tr.t("console.emissions.complete" if total.complete else "console.emissions.incomplete"))
            rows.append(tuple(cells))
        return Sheet(self.caption(tr, "sheet.periods", method=self.electricity_method(tr)), columns, tuple(rows))

    def structure(self, tr: Translator) -> Sheet:
        """The range's parts: each one's signed tCO2 (tce) and its share of the net (adding to 100.00 %), then the
        net."""
        columns = (
            Column(tr.t(f"stats.dimension.{self.answer.dimension if self.answer else self.query.dimension}")),
            Column(self.unit, TCO2_PLACES),
            Column(self.caption(tr, "col.share"), PERCENT_PLACES),
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
            rows.append((self.caption(tr, "col.net"), rounded(net, TCO2_PLACES), Decimal("100.00") if net else None))
        return Sheet(self.caption(tr, "sheet.structure", method=self.electricity_method(tr)), columns, tuple(rows))

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
        """The export's file name: what (energy: with its electricity method), of whom, which periods."""
        q = self.query
        scope = self.answer.name if self.answer is not None else str(q.scope_id or "")
        what = "statistics"
        if self.energy:
            method = self.answer.electricity if self.answer is not None else None
            what = f"statistics-energy-{(method or q.electricity).replace('_', '-')}"
        return f"{what}-{scope}-{q.period}-{q.bound('start')}-{q.bound('end')}.xlsx".replace(" ", "_")

    @staticmethod
    def comparison_values(rows: Sequence[StatisticsRow], name: str) -> list[Decimal | None]:
        """The other periods' nets of a comparison (last year's, the period before's, the base's), row by row."""
        out: list[Decimal | None] = []
        for row in rows:
            change = {"yoy": row.yoy, "pop": row.pop, "base": row.base}.get(name)
            out.append(change.value if change is not None else None)
        return out
