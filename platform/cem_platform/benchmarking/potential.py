"""Reduction potential (standard 5.4.7): what each process would save if it closed its gap to a chosen reference.

For each process and period: potential = (actual intensity − reference value) × output, in tce (process energy,
kgce/t × t / 1000) and in tCO2 (CO2 per tonne, tCO2/t × t). Everything comes from the gap analysis
(:func:`cem_platform.benchmarking.services.analyse`): the actual intensities and outputs are the statistics service's
as kept, the reference values are the entries' levels corrected as the gap analysis corrects them, from the same
library versions. A process already at or better than its reference has potential 0, and says so; one without output
(or without a figure) or without a reference for its type counts nothing, and says why.

Each potential is rounded once, to 0.000001 t (a gram), half to even; every sum (a process over the range, the
enterprise per period and over the range) adds those figures exactly, so the processes' potentials add up to the
enterprise's. A year asked as a year is the year's intensity against the reference times the year's output (not the
sum of its months, whose shortfalls and surpluses do not offset).

``reference`` chooses the level to close the gap to:

* none: the best level of the national library's limit and benchmark entries that apply (GB 21256's level 1, the
  national efficiency benchmark...), the strictest (lowest corrected value) of them;
* ``LEVEL`` (e.g. ``1``, ``benchmark``, ``target``, ``best``): that level of the entries that apply and have it, in
  either library, the strictest of them;
* ``ENTRY:LEVEL`` (e.g. ``gb21256-2025.bof:2``): that level of that one entry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import msgspec

from cem_platform.accounting import units
from cem_platform.accounting.models import PeriodKind
from cem_platform.benchmarking.references import INDICATORS, NATIONAL, BenchmarkError, version_of
from cem_platform.benchmarking.services import (
    Analysis,
    Comparison,
    CorrectionOut,
    IndicatorSeries,
    LevelOut,
    PeriodOut,
    analyse,
)
from cem_platform.identity.principal import Principal

__all__ = ["Potential", "ReferenceChoice", "parse_reference", "potential"]

_REFERENCE = re.compile(r"^(?:(?P<entry>[a-z0-9][a-z0-9_\-]*(?:\.[a-z0-9_\-]+){0,3}):)?(?P<level>[a-z0-9_]{1,24})$")
_GRAM = Decimal("0.000001")
_THOUSAND = Decimal(1000)
# per indicator: the unit of its potential, and what turns intensity x tonnes into it
_POTENTIAL = {"process_energy": ("tce", _THOUSAND), "co2_intensity": ("tCO2", Decimal(1))}


@dataclasses.dataclass(frozen=True, slots=True)
class ReferenceChoice:
    """The level to close the gap to: ``level`` of ``entry`` (any entry that applies when None); both None: the best
    level of the national limits and benchmarks."""

    entry: str | None = None
    level: str | None = None

    @property
    def text(self) -> str:
        if self.level is None:
            return "default"
        return f"{self.entry}:{self.level}" if self.entry else self.level


def parse_reference(text: str | None) -> ReferenceChoice:
    """``LEVEL`` or ``ENTRY:LEVEL`` (none or empty: the default), or BenchmarkError saying what to write."""
    if text is None or not text.strip():
        return ReferenceChoice()
    found = _REFERENCE.match(text.strip())
    if found is None:
        raise BenchmarkError(
            f"reference {text!r} is neither a level name nor ENTRY:LEVEL.",
            hint="E.g. reference=1 (level 1), reference=benchmark, reference=target or "
            "reference=gb21256-2025.sintering:2; leave it out for the best national level.",
        )
    return ReferenceChoice(found["entry"], found["level"])


# ---- the answer ---------------------------------------------------------------------------------------------------


class ReferenceOut(msgspec.Struct, kw_only=True):
    """The reference level used, with its entry, library version and corrections."""

    entry: str
    library: str
    version: int
    kind: str
    name: str
    name_en: str
    edition: str
    confidence: str
    level: str
    label: str
    label_en: str
    base: str  # as published
    value: str  # corrected as the gap analysis corrects it
    corrected: bool  # every correction of the entry applied
    corrections: list[CorrectionOut]
    missing: list[str]  # inputs a correction needs that are not entered (their corrections not applied)


class FigureOut(msgspec.Struct, kw_only=True):
    """The potential of one indicator of one process in one period."""

    indicator: str
    intensity_unit: str
    unit: str  # of the potential: tce or tCO2
    actual: str | None
    output: str | None  # t of the process's product
    reference: ReferenceOut | None
    gap: str | None  # actual - reference (intensity unit)
    potential: str | None  # null: not counted (see status)
    # above: potential > 0; reached: at or better than the reference, 0; no_output: no output or no figure;
    # no_reference: no entry for its type with that level; undecided: an entry's condition cannot be decided
    status: str
    note: str
    complete: bool
    as_of: dt.datetime | None
    lineage: str | None  # the statistics figure's lineage


class ProcessPeriodOut(msgspec.Struct, kw_only=True):
    """One process in one period: the energy and the CO2 potential."""

    period: str
    period_start: dt.datetime
    energy: FigureOut
    co2: FigureOut


class ProcessOut(msgspec.Struct, kw_only=True):
    """One process over the periods asked."""

    process_id: int
    code: str
    name: str
    process_type: str | None
    periods: list[ProcessPeriodOut]
    tce: str  # the counted potentials over the range
    tco2: str


class EnterprisePeriodOut(msgspec.Struct, kw_only=True):
    """The enterprise in one period: the sum of its processes' counted potentials."""

    period: str
    tce: str
    tco2: str
    counted_tce: int  # processes counted
    counted_tco2: int


class Potential(msgspec.Struct, kw_only=True):
    """The reduction potential of an enterprise's processes and of the enterprise."""

    enterprise_id: int
    period: str
    periods: list[str]
    timezone: str
    reference: str  # as asked ("default": the best national level)
    versions: dict[str, int]  # library -> version used (repeat with them)
    processes: list[ProcessOut]
    enterprise: list[EnterprisePeriodOut]
    tce: str  # the enterprise over the range
    tco2: str


# ---- choosing the reference ---------------------------------------------------------------------------------------


def _candidates(choice: ReferenceChoice, comparisons: Sequence[Comparison]) -> list[tuple[Comparison, LevelOut]]:
    out: list[tuple[Comparison, LevelOut]] = []
    for c in comparisons:
        if choice.level is None:
            if c.library == NATIONAL and c.kind in ("limit", "benchmark"):
                out.append((c, c.levels[0]))
        elif choice.entry in (None, c.entry):
            out.extend((c, level) for level in c.levels if level.name == choice.level)
    return out


def _chosen(choice: ReferenceChoice, comparisons: Sequence[Comparison]) -> tuple[Comparison, LevelOut] | None:
    """The strictest (lowest corrected value) of the candidates, the first of equals."""
    candidates = _candidates(choice, comparisons)
    return min(candidates, key=lambda pair: Decimal(pair[1].value)) if candidates else None


async def _check_choice(choice: ReferenceChoice, versions: dict[str, int]) -> None:
    """BenchmarkError when no entry of the versions used has the level (or the entry) asked."""
    if choice.level is None:
        return
    entries: list[Mapping[str, Any]] = []
    for library, number in versions.items():
        stored = await version_of(library, number) if number else None
        entries.extend(stored.entries if stored is not None else [])
    used = ", ".join(f"{library} v{number}" for library, number in versions.items())
    if choice.entry is not None:
        entry = next((e for e in entries if e["code"] == choice.entry), None)
        if entry is None:
            raise BenchmarkError(
                f"No entry {choice.entry!r} in the libraries used ({used}).",
                hint="See GET /api/v1/benchmarking/entries for the entries and their levels.",
            )
        names = [level["name"] for level in entry["levels"]]
        if choice.level not in names:
            raise BenchmarkError(
                f"Entry {choice.entry} has no level {choice.level!r}.", hint=f"Its levels: {', '.join(names)}."
            )
    elif not any(level["name"] == choice.level for e in entries for level in e["levels"]):
        known = sorted({level["name"] for e in entries for level in e["levels"]})
        raise BenchmarkError(
            f"No entry of the libraries used ({used}) has a level {choice.level!r}.",
            hint=f"Levels: {', '.join(known)}.",
        )


# ---- one figure ---------------------------------------------------------------------------------------------------


def _figure(choice: ReferenceChoice, series: IndicatorSeries, row: PeriodOut, versions: dict[str, int]) -> FigureOut:
    unit, divisor = _POTENTIAL[series.indicator]
    figure = FigureOut(
        indicator=series.indicator,
        intensity_unit=series.unit,
        unit=unit,
        actual=row.actual,
        output=row.output,
        reference=None,
        gap=None,
        potential=None,
        status="no_output",
        note="",
        complete=row.complete,
        as_of=row.as_of,
        lineage=row.lineage,
    )
    if row.actual is None or row.output is None or Decimal(row.output) <= 0:
        if row.output is None:
            figure.note = "No figure for the period (nothing accounted, or no output): nothing to count."
        elif Decimal(row.output) <= 0:
            figure.note = "No output in the period: nothing to count."
        else:
            figure.note = "No intensity for the period: nothing to count."
        return figure
    chosen = _chosen(choice, row.comparisons)
    if chosen is None:
        if row.unresolved:
            figure.status = "undecided"
            figure.note = "No reference can be chosen: " + " ".join(u.reason for u in row.unresolved)
        else:
            figure.status = "no_reference"
            asked = "the national limits and benchmarks" if choice.level is None else f"reference {choice.text}"
            figure.note = f"No entry of {asked} applies to this process in {row.period}: nothing counted."
        return figure
    comparison, level = chosen
    actual, value, output = Decimal(row.actual), Decimal(level.value), Decimal(row.output)
    gap = actual - value
    figure.reference = ReferenceOut(
        entry=comparison.entry,
        library=comparison.library,
        version=versions[comparison.library],
        kind=comparison.kind,
        name=comparison.name,
        name_en=comparison.name_en,
        edition=comparison.edition,
        confidence=comparison.confidence,
        level=level.name,
        label=level.label,
        label_en=level.label_en,
        base=level.base,
        value=level.value,
        corrected=comparison.corrected,
        corrections=comparison.corrections,
        missing=comparison.missing,
    )
    figure.gap = units.exact_text(gap)
    uncorrected = f" (not corrected for {', '.join(comparison.missing)}: not entered)" if comparison.missing else ""
    if gap > 0:
        amount = (gap * output / divisor).quantize(_GRAM, ROUND_HALF_EVEN)
        figure.potential, figure.status = units.exact_text(amount), "above"
        figure.note = (
            f"{units.exact_text(gap)} {series.unit} above {level.label_en} of {comparison.entry}{uncorrected} "
            f"× {units.exact_text(output)} t = {units.exact_text(amount)} {unit}."
        )
    else:
        figure.potential, figure.status = "0", "reached"
        figure.note = (
            f"Already at or better than {level.label_en} of {comparison.entry}{uncorrected} by "
            f"{units.exact_text(-gap)} {series.unit}: potential 0."
        )
    return figure


# ---- the potential ------------------------------------------------------------------------------------------------


async def potential(
    principal: Principal,
    enterprise_id: int,
    kind: PeriodKind,
    first: str,
    last: str,
    reference: str | None = None,
    *,
    national_version: int | None = None,
    enterprise_version: int | None = None,
    now: dt.datetime | None = None,
) -> Potential:
    """The reduction potential of the enterprise's active processes for the periods ``first``..``last`` (both
    included) of ``kind`` against ``reference`` (see the module), summed to the enterprise."""
    choice = parse_reference(reference)
    analysis: Analysis = await analyse(
        principal,
        enterprise_id,
        kind,
        first,
        last,
        national_version=national_version,
        enterprise_version=enterprise_version,
        include_enterprise=False,
        now=now,
    )
    await _check_choice(choice, analysis.versions)
    zero = Decimal(0)
    sums = {label: {"process_energy": zero, "co2_intensity": zero} for label in analysis.periods}
    counted = {label: {"process_energy": 0, "co2_intensity": 0} for label in analysis.periods}
    processes: list[ProcessOut] = []
    for subject in analysis.subjects:
        if subject.process_id is None:
            continue
        by_indicator = {s.indicator: s for s in subject.indicators}
        totals = {code: zero for code in INDICATORS}
        periods: list[ProcessPeriodOut] = []
        for i, label in enumerate(analysis.periods):
            figures: dict[str, FigureOut] = {}
            for code, series in by_indicator.items():
                figure = figures[code] = _figure(choice, series, series.periods[i], analysis.versions)
                if figure.potential is not None:
                    amount = Decimal(figure.potential)
                    totals[code] += amount
                    sums[label][code] += amount
                    counted[label][code] += 1
            periods.append(
                ProcessPeriodOut(
                    period=label,
                    period_start=by_indicator["process_energy"].periods[i].period_start,
                    energy=figures["process_energy"],
                    co2=figures["co2_intensity"],
                )
            )
        processes.append(
            ProcessOut(
                process_id=subject.process_id,
                code=subject.code,
                name=subject.name,
                process_type=subject.process_type,
                periods=periods,
                tce=units.exact_text(totals["process_energy"]),
                tco2=units.exact_text(totals["co2_intensity"]),
            )
        )
    enterprise = [
        EnterprisePeriodOut(
            period=label,
            tce=units.exact_text(sums[label]["process_energy"]),
            tco2=units.exact_text(sums[label]["co2_intensity"]),
            counted_tce=counted[label]["process_energy"],
            counted_tco2=counted[label]["co2_intensity"],
        )
        for label in analysis.periods
    ]
    return Potential(
        enterprise_id=analysis.enterprise_id,
        period=analysis.period,
        periods=analysis.periods,
        timezone=analysis.timezone,
        reference=choice.text,
        versions=analysis.versions,
        processes=processes,
        enterprise=enterprise,
        tce=units.exact_text(sum((s["process_energy"] for s in sums.values()), zero)),
        tco2=units.exact_text(sum((s["co2_intensity"] for s in sums.values()), zero)),
    )
