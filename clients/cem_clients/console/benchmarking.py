"""Benchmarking and reduction potential: the view state of the console's 对标分析 and 降碳潜力 screens.

:class:`GapBoard` asks the platform's gap analysis (``GET /benchmarking/gap``, :meth:`ApiClient.benchmark_gap`)
for the enterprise's processes (or one process) by month or year and one indicator (process energy in kgce/t, or CO2
in tCO2/t): each process's actual against every benchmark, limit and target that applies, the level reached
("二级, 距一级 3.2 kgce/t"), the gaps, a limit's corrected value and its breach, the corrections applied and those
missing, and the trend. :class:`PotentialBoard` asks the reduction potential (``GET /benchmarking/potential``):
per process (actual − reference) × output in tce and tCO2 against the reference chosen, summed to the enterprise;
and, where the platform serves them, the scenarios with their marginal abatement cost curve (a platform without
them says so: :attr:`PotentialBoard.scenarios_available` False).

Everything the screens show comes from here as :class:`~cem_clients.console.stats.Sheet` values (captions in the
reader's language, figures rounded as shown: kgce/t and tce to 0.01, tCO2/t to 0.0001, tCO2 to 0.01, % to 0.01),
so that the charts, the tables and the XLSX export say the same thing. A question the form can tell is wrong (a
month where a year is asked, the end before the start) is refused before anything is sent; the platform's refusal
lands in ``error`` and what was shown before stays.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from cem_clients.api import (
    BenchmarkComparison,
    GapAnalysis,
    GapIndicator,
    GapPeriod,
    GapSubject,
    NotFound,
    Potential,
    PotentialFigure,
    Process,
    ProcessPotential,
    Scenario,
    ScenarioResult,
)
from cem_clients.console.extra_api import ConsoleApi
from cem_clients.console.forms import Form, Problem, Screen
from cem_clients.console.stats import Column, Sheet, rounded
from cem_clients.ui.i18n import STRINGS, Locale, Translator

__all__ = [
    "BENCHMARK_PERIODS",
    "INDICATORS",
    "REFERENCES",
    "BenchmarkQuery",
    "GapBoard",
    "GapRow",
    "PotentialBoard",
    "in_language",
    "input_name",
    "intensity_places",
]

BenchmarkPeriod = Literal["month", "year"]
BENCHMARK_PERIODS: tuple[BenchmarkPeriod, ...] = ("month", "year")
#: The indicators of the gap analysis, the default first.
INDICATORS = ("process_energy", "co2_intensity")
#: The references a potential may close the gap to ("" the platform's default: the strictest best national level).
REFERENCES = ("", "1", "2", "3", "benchmark", "baseline", "target")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_YEAR = re.compile(r"^\d{4}$")
ENERGY_PLACES = 2  # kgce/t and tce
CO2_INTENSITY_PLACES = 4  # tCO2/t
CO2_PLACES = 2  # tCO2
PERCENT_PLACES = 2


def intensity_places(unit: str) -> int:
    """The places an intensity is shown with: 0.01 kgce/t, 0.0001 tCO2/t."""
    return ENERGY_PLACES if unit.startswith("kg") else CO2_INTENSITY_PLACES


def in_language(tr: Translator, chinese: str, english: str) -> str:
    """The platform's own two texts of a thing (an entry's name, a level's label) in the reader's language."""
    return english if tr.locale is Locale.EN and english else chinese


def input_name(tr: Translator, name: str) -> str:
    """A correction's input in the reader's words (废钢比 / scrap ratio); one the strings do not know by its name."""
    key = f"bench.input.{name}"
    return tr.t(key) if key in STRINGS[tr.locale] else name


def _last_month(now: dt.datetime | None = None) -> str:
    today = (now or dt.datetime.now(dt.UTC)).date().replace(day=1) - dt.timedelta(days=1)
    return f"{today:%Y-%m}"


@dataclass(kw_only=True)
class BenchmarkQuery(Form):
    """What to ask: the enterprise or one process, months or years from ``start`` to ``end`` (included), the
    indicator (gap analysis) and the reference (potential)."""

    scope: Literal["enterprise", "process"] = "enterprise"
    scope_id: int | None = None
    period: BenchmarkPeriod = "month"
    start: str = field(default_factory=_last_month)
    end: str = ""  # "" = start
    indicator: str = INDICATORS[0]
    reference: str = ""

    def set_period(self, period: str) -> None:
        """Months or years: the range follows (a month's year, a year's first and last month)."""
        if period == self.period or period not in BENCHMARK_PERIODS:
            return
        if period == "year":
            self.period, self.start, self.end = "year", self.start[:4], self.end[:4] if self.end else ""
        else:
            self.period = "month"
            self.start = f"{self.start[:4]}-01" if _YEAR.match(self.start) else self.start
            self.end = f"{self.end[:4]}-12" if _YEAR.match(self.end) else self.end

    def validate(self) -> bool:
        """The range in the period kind's form (2026-03 or 2026), the end not before the start."""
        self.begin()
        pattern = _MONTH if self.period == "month" else _YEAR
        hint = "2026-03" if self.period == "month" else "2026"
        start, end = self.start.strip(), self.end.strip()
        if not pattern.match(start):
            self.check("start", Problem("bench.problem.bound", example=hint))
        if end and not pattern.match(end):
            self.check("end", Problem("bench.problem.bound", example=hint))
        if self.valid and end and end < start:
            self.check("end", Problem("console.problem.end_after_start"))
        if self.scope == "process" and self.scope_id is None:
            self.check("scope_id", Problem("console.problem.scope_missing"))
        if self.indicator not in INDICATORS:
            self.check("indicator", Problem("console.problem.choose_one", choices=", ".join(INDICATORS)))
        return self.valid

    @property
    def last(self) -> str:
        """The range's last period (the start when no end is given)."""
        return self.end.strip() or self.start.strip()


@dataclass(frozen=True)
class GapRow:
    """One comparison of one process in one period, as the table shows it."""

    subject: GapSubject
    series: GapIndicator
    period: GapPeriod
    comparison: BenchmarkComparison


def _main(comparisons: Sequence[BenchmarkComparison]) -> BenchmarkComparison | None:
    """The comparison the chart draws: a national limit (GB 21256's grades) first, then a benchmark, then any."""
    for kind in ("limit", "benchmark", "target"):
        for c in comparisons:
            if c.kind == kind and c.library == "national":
                return c
    return comparisons[0] if comparisons else None


@dataclass
class GapBoard(Screen):
    """The gap analysis of the enterprise's processes (or one of them) for the question of :attr:`query`."""

    api: ConsoleApi
    enterprise_id: int
    query: BenchmarkQuery = field(default_factory=BenchmarkQuery)
    processes: list[Process] = field(default_factory=list)
    answer: GapAnalysis | None = None

    async def load_choices(self) -> bool:
        """The enterprise's processes (the scopes to choose from)."""

        async def work() -> None:
            self.processes = sorted(await self.api.processes(self.enterprise_id), key=lambda p: p.code)

        return await self._load(work)

    async def load(self) -> bool:
        """Ask the gap analysis of the query; on a refusal the answer shown before stays and ``error`` says why."""
        q = self.query
        if not q.validate():
            return False

        async def work() -> None:
            scope_id = q.scope_id if q.scope == "process" and q.scope_id is not None else self.enterprise_id
            self.answer = await self.api.benchmark_gap(
                q.scope, scope_id, q.period, q.start.strip(), q.end.strip() or None, indicator=q.indicator
            )

        return await self._load(work)

    # ---- what the answer says -----------------------------------------------------------------------------------

    def series(self) -> list[tuple[GapSubject, GapIndicator]]:
        """Each subject (processes, then the enterprise) with the indicator asked, if it has it."""
        if self.answer is None:
            return []
        out = []
        for subject in self.answer.subjects:
            found = next((s for s in subject.indicators if s.indicator == self.query.indicator), None)
            if found is not None:
                out.append((subject, found))
        return out

    @property
    def unit(self) -> str:
        """The indicator's unit as the answer gives it."""
        found = self.series()
        if found:
            return found[0][1].unit
        return "kgce/t" if self.query.indicator == "process_energy" else "tCO2/t"

    @staticmethod
    def latest(series: GapIndicator) -> GapPeriod | None:
        """The last period of a series with an actual figure."""
        return next((p for p in reversed(series.periods) if p.actual is not None), None)

    def compared(self) -> list[tuple[GapSubject, GapIndicator, GapPeriod, BenchmarkComparison]]:
        """The subjects with a reference to compare with in their latest period: the chart's, with its comparison."""
        out = []
        for subject, series in self.series():
            period = self.latest(series)
            main = _main(period.comparisons) if period is not None else None
            if period is not None and main is not None:
                out.append((subject, series, period, main))
        return out

    @property
    def last_period(self) -> str:
        """The range's last period as the answer names it ("" without an answer)."""
        return self.answer.periods[-1] if self.answer is not None and self.answer.periods else ""

    def rows(self) -> list[GapRow]:
        """Every comparison of every subject in the range's last period (the table's; the periods' sheet has the
        others)."""
        out: list[GapRow] = []
        for subject, series in self.series():
            period = next((p for p in series.periods if p.period == self.last_period), None)
            if period is not None:
                out.extend(GapRow(subject, series, period, c) for c in period.comparisons)
        return out

    def figures(self) -> dict[str, int]:
        """Counts over the latest periods: processes with a figure, at the best level of their main reference,
        above a limit, and comparisons missing a correction's input."""
        rows = self.rows()
        figured = [s for s, series in self.series() if self.latest(series) is not None and s.process_id is not None]
        best = sum(1 for _, _, _, c in self.compared() if c.levels and c.reached == c.levels[0].name)
        breaches = len({r.subject.code for r in rows if r.comparison.breach})
        missing = sum(1 for r in rows if r.comparison.missing)
        return {"processes": len(figured), "best": best, "breaches": breaches, "missing": missing}

    # ---- tables -------------------------------------------------------------------------------------------------

    def table(self, tr: Translator) -> Sheet:
        """The comparisons of the range's last period: who, against what, the actual, the level reached, the gaps
        to the best level, a limit and its breach, the corrections, the trend over the range (intensities in the
        indicator's unit, said in the captions of the actual and the limit); the trend with more than one period."""
        unit = self.unit
        trend = self.answer is not None and len(self.answer.periods) > 1
        places = intensity_places(unit)
        columns = (
            Column(tr.t("bench.col.process")),
            Column(tr.t("bench.col.reference")),
            Column(tr.t("bench.col.actual", unit=unit), places),
            Column(tr.t("bench.col.level")),
            Column(tr.t("bench.col.best_value"), places),
            Column(tr.t("bench.col.gap_best"), places, sign=True),
            Column(tr.t("bench.col.gap_best_percent"), PERCENT_PLACES, sign=True),
            Column(tr.t("bench.col.limit", unit=unit), places),
            Column(tr.t("bench.col.breach")),
            Column(tr.t("bench.col.corrections")),
            *((Column(tr.t("bench.col.trend")),) if trend else ()),
        )
        body: list[tuple[str | Decimal | None, ...]] = []
        for row in self.rows():
            c = row.comparison
            best = c.levels[0] if c.levels else None
            body.append(
                (
                    f"{row.subject.code} {row.subject.name}",
                    in_language(tr, c.name, c.name_en),
                    rounded(row.period.actual, places),
                    in_language(tr, c.text, c.text_en),
                    rounded(best.value, places) if best is not None else None,
                    rounded(best.gap, places) if best is not None else None,
                    rounded(best.relative, PERCENT_PLACES) if best is not None else None,
                    rounded(c.limit, places),
                    "" if c.breach is None else tr.t("bench.breach.yes" if c.breach else "bench.breach.no"),
                    self.corrections(tr, c),
                    *((tr.t(f"bench.trend.{row.series.trend.direction or 'none'}"),) if trend else ()),
                )
            )
        return Sheet(tr.t("bench.sheet.gap", period=self.last_period), columns, tuple(body))

    def periods_table(self, tr: Translator) -> Sheet:
        """Every period of every subject: the actual, its output and its level against its main reference."""
        unit = self.unit
        places = intensity_places(unit)
        columns = (
            Column(tr.t("bench.col.process")),
            Column(tr.t("console.col.period")),
            Column(tr.t("bench.col.actual", unit=unit), places),
            Column(tr.t("bench.col.output"), ENERGY_PLACES),
            Column(tr.t("bench.col.reference")),
            Column(tr.t("bench.col.level")),
            Column(tr.t("bench.col.limit", unit=unit), places),
            Column(tr.t("bench.col.breach")),
        )
        body: list[tuple[str | Decimal | None, ...]] = []
        for subject, series in self.series():
            for period in series.periods:
                main = _main(period.comparisons)
                body.append(
                    (
                        f"{subject.code} {subject.name}",
                        period.period,
                        rounded(period.actual, places),
                        rounded(period.output, ENERGY_PLACES),
                        in_language(tr, main.name, main.name_en) if main else None,
                        in_language(tr, main.text, main.text_en) if main else None,
                        rounded(main.limit, places) if main else None,
                        ""
                        if main is None or main.breach is None
                        else tr.t("bench.breach.yes" if main.breach else "bench.breach.no"),
                    )
                )
        return Sheet(tr.t("bench.sheet.gap_periods"), columns, tuple(body))

    @staticmethod
    def corrections(tr: Translator, c: BenchmarkComparison) -> str:
        """The corrections of a comparison: applied with their input, or missing (not applied)."""
        said = []
        for correction in c.corrections:
            name = input_name(tr, correction.input)
            if correction.adjustment is None:
                said.append(tr.t("bench.correction.missing", input=name))
            elif correction.origin != "zero":
                value = tr.number(correction.value, 2) if correction.value is not None else "—"
                said.append(tr.t("bench.correction.applied", input=name, value=value, unit=correction.unit))
        return "; ".join(said) or "—"

    def filename(self) -> str:
        """The export's file name: what, which indicator, which periods."""
        q = self.query
        return f"benchmarking-{q.indicator}-{q.period}-{q.start.strip()}-{q.last}.xlsx"


@dataclass
class PotentialBoard(Screen):
    """The reduction potential of the enterprise's processes for the question of :attr:`query`, and the
    scenarios where the platform serves them."""

    api: ConsoleApi
    enterprise_id: int
    query: BenchmarkQuery = field(default_factory=BenchmarkQuery)
    answer: Potential | None = None
    scenarios: list[Scenario] = field(default_factory=list)
    scenarios_available: bool | None = None  # None: not asked yet; False: the platform has none (404)
    scenario: ScenarioResult | None = None
    scenario_id: int | None = None

    async def load(self) -> bool:
        """Ask the potential of the query (and, once, which scenarios there are)."""
        q = self.query
        if not q.validate():
            return False

        async def work() -> None:
            self.answer = await self.api.benchmark_potential(
                self.enterprise_id, q.period, q.start.strip(), q.end.strip() or None, reference=q.reference or None
            )

        done = await self._load(work)
        if self.scenarios_available is None:
            await self.load_scenarios()
        return done

    async def load_scenarios(self) -> None:
        """The scenarios and the first one's result; a platform without them (404) leaves them unavailable."""
        try:
            self.scenarios = await self.api.scenarios(self.enterprise_id)
            self.scenarios_available = True
            if self.scenarios:
                await self.open_scenario(self.scenarios[0].id)
        except NotFound:
            self.scenarios, self.scenarios_available = [], False

    async def open_scenario(self, scenario_id: int) -> bool:
        """A scenario's result (its projection and MAC curve)."""

        async def work() -> None:
            self.scenario = await self.api.scenario_result(scenario_id)
            self.scenario_id = scenario_id

        return await self._load(work)

    # ---- what the answer says -----------------------------------------------------------------------------------

    def ranked(self, metric: Literal["tce", "tco2"] = "tce") -> list[ProcessPotential]:
        """The processes with a potential above zero, the largest first."""
        processes = self.answer.processes if self.answer is not None else ()
        return sorted((p for p in processes if getattr(p, metric) > 0), key=lambda p: (-getattr(p, metric), p.code))

    @staticmethod
    def latest(process: ProcessPotential, indicator: Literal["energy", "co2"]) -> PotentialFigure | None:
        """A process's last figure of ``indicator`` with an actual (else its last figure)."""
        figures = [getattr(p, indicator) for p in process.periods]
        return next((f for f in reversed(figures) if f.actual is not None), figures[-1] if figures else None)

    def reference_text(self, tr: Translator, figure: PotentialFigure | None) -> str:
        """The reference of a figure: its level and entry (``一级 · GB 21256 烧结``), or "—"."""
        if figure is None or figure.reference is None:
            return "—"
        r = figure.reference
        label = in_language(tr, r.label, r.label_en)
        return f"{label[:1].upper()}{label[1:]} · {in_language(tr, r.name, r.name_en)}"

    def status_text(self, tr: Translator, process: ProcessPotential) -> str:
        """Why a process counts what it counts (its energy and CO2 statuses, in the reader's words)."""
        energy, co2 = self.latest(process, "energy"), self.latest(process, "co2")
        said = []
        for name, figure in (("energy", energy), ("co2", co2)):
            if figure is not None and tr.t(f"bench.status.{name}.{figure.status}") not in said:
                said.append(tr.t(f"bench.status.{name}.{figure.status}"))
        missing = sorted({m for f in (energy, co2) if f and f.reference for m in f.reference.missing})
        if missing:
            said.append(tr.t("bench.uncorrected", inputs=", ".join(input_name(tr, m) for m in missing)))
        return " · ".join(said)

    # ---- tables -------------------------------------------------------------------------------------------------

    def table(self, tr: Translator) -> Sheet:
        """Each process, the largest potential first: its latest actual, reference level and value (energy), its
        output, the potentials over the range (tce, tCO2 with the latest CO2 intensity) and why it counts what it
        counts; the enterprise's sum last."""
        columns = (
            Column(tr.t("bench.col.process")),
            Column(tr.t("bench.col.energy_actual"), ENERGY_PLACES),
            Column(tr.t("bench.col.energy_reference")),
            Column(tr.t("bench.col.energy_reference_value"), ENERGY_PLACES),
            Column(tr.t("bench.col.output"), ENERGY_PLACES),
            Column(tr.t("bench.col.potential_tce"), ENERGY_PLACES),
            Column(tr.t("bench.col.co2_actual"), CO2_INTENSITY_PLACES),
            Column(tr.t("bench.col.potential_tco2"), CO2_PLACES),
            Column(tr.t("bench.col.status")),
        )
        body: list[tuple[str | Decimal | None, ...]] = []
        answer = self.answer
        if answer is not None:
            order = {p.code: i for i, p in enumerate(self.ranked())}
            processes = sorted(answer.processes, key=lambda p: (order.get(p.code, len(order)), p.code))
            for p in processes:
                energy, co2 = self.latest(p, "energy"), self.latest(p, "co2")
                body.append(
                    (
                        f"{p.code} {p.name}",
                        rounded(energy.actual, ENERGY_PLACES) if energy else None,
                        self.reference_text(tr, energy),
                        rounded(energy.reference.value, ENERGY_PLACES) if energy and energy.reference else None,
                        rounded(energy.output, ENERGY_PLACES) if energy else None,
                        rounded(p.tce, ENERGY_PLACES),
                        rounded(co2.actual, CO2_INTENSITY_PLACES) if co2 else None,
                        rounded(p.tco2, CO2_PLACES),
                        self.status_text(tr, p),
                    )
                )
            if answer.processes:
                body.append(
                    (tr.t("bench.enterprise_total"), None, None, None, None, rounded(answer.tce, ENERGY_PLACES),
                     None, rounded(answer.tco2, CO2_PLACES), "")
                )  # fmt: skip
        return Sheet(tr.t("bench.sheet.potential"), columns, tuple(body))

    def periods_table(self, tr: Translator) -> Sheet:
        """The enterprise's potentials period by period, with how many processes each counts."""
        columns = (
            Column(tr.t("console.col.period")),
            Column(tr.t("bench.col.potential_tce"), ENERGY_PLACES),
            Column(tr.t("bench.col.counted_tce"), 0),
            Column(tr.t("bench.col.potential_tco2"), CO2_PLACES),
            Column(tr.t("bench.col.counted_tco2"), 0),
        )
        rows = tuple(
            (e.period, rounded(e.tce, ENERGY_PLACES), Decimal(e.counted_tce), rounded(e.tco2, CO2_PLACES),
             Decimal(e.counted_tco2))
            for e in (self.answer.enterprise if self.answer is not None else ())
        )  # fmt: skip
        return Sheet(tr.t("bench.sheet.potential_periods"), columns, rows)

    def mac_table(self, tr: Translator) -> Sheet:
        """The scenario's MAC curve: each measure on its process, cheapest per tCO2 first, with its abatement, its
        annualised cost, its cost per tCO2 and the cumulative abatement."""
        columns = (
            Column(tr.t("bench.col.measure")),
            Column(tr.t("bench.col.process")),
            Column(tr.t("bench.col.abatement"), CO2_PLACES),
            Column(tr.t("bench.col.annualised"), 0),
            Column(tr.t("bench.col.cost_per_t"), CO2_PLACES),
            Column(tr.t("bench.col.cumulative"), CO2_PLACES),
        )
        steps = self.scenario.mac if self.scenario is not None else ()
        rows = tuple(
            (
                in_language(tr, step.measure_name, step.measure_name_en) or step.measure_code,
                step.process_code,
                rounded(step.abatement_tco2, CO2_PLACES),
                rounded(step.annualised_cost_cny, 0),
                rounded(step.cost_per_tco2_cny, CO2_PLACES),
                rounded(step.cumulative_abatement_tco2, CO2_PLACES),
            )
            for step in steps
        )
        name = self.scenario_name()
        return Sheet(tr.t("bench.sheet.mac", name=name)[:31], columns, rows)

    def scenario_name(self) -> str:
        """The name of the scenario shown ("" without one)."""
        return next((s.name for s in self.scenarios if s.id == self.scenario_id), "")

    def reference_name(self, tr: Translator) -> str:
        """The reference the answer was computed against, in the reader's words."""
        asked = self.answer.reference if self.answer is not None else (self.query.reference or "default")
        key = f"bench.reference.{asked or 'default'}"
        return tr.t(key) if key in _REFERENCE_KEYS else asked

    def filename(self) -> str:
        """The export's file name: what, against which reference, which periods."""
        q = self.query
        reference = (q.reference or "default").replace(":", "-")
        return f"reduction-potential-{reference}-{q.period}-{q.start.strip()}-{q.last}.xlsx"


_REFERENCE_KEYS = frozenset(f"bench.reference.{r or 'default'}" for r in REFERENCES)
