"""Carbon statistics (standard 5.4.4): totals, structure, intensity and comparisons, over the kept results.

Every figure is read from the kept accounting results (:func:`cem_platform.accounting.reads.kept_results`):
nothing is accounted again here and nothing is written, so a statistic and the emissions route give the same
number to the last digit. What this module adds is arithmetic on those figures, all in ``Decimal``:

* **totals** per period and over the range (exact sums of the periods' figures);
* **structure**: each part's signed contribution to the net (the five terms of GB/T 32151.5, the source
  categories, or the processes with what is not allocated to one), as shares of the net that add to exactly
  100.00 % (rounded to 0.01 % by the largest remainder, so the rounding never shows as 99.99 %);
* **intensity**: tCO2 per tonne of crude steel (enterprise) or of the process's product (process); and, where the
  enterprise enters its output value (产值, an output of item ``output_value`` in 10^4 CNY), per 10^4 CNY of it
  (tCO2/万元, tce/万元) for the enterprise;
* **scopes**: the enterprise, a site (its processes), a process, a facility (its sources) or one source; a source's
  figures are its own lines of the kept lineage (where it counts, not the maker's side of a transfer), kept with
  each result (``by_source``), so a facility is the exact sum of its sources;
* **comparisons**: year-on-year (同比: the same period a year earlier; for ISO weeks the same week number of
  the previous ISO year), period-on-period (环比: the period before) and fixed-base (定比: against one chosen
  period of the same kind, as an index with the base = 100).

Errors: :class:`StatisticsError` (400) says what to ask instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from cem_platform.accounting import reads, reporting, units
from cem_platform.accounting.energy import ELECTRICITY_EQUAL_VALUE, ENERGY_LIBRARY
from cem_platform.accounting.inventory import OUTPUT, enterprise_for
from cem_platform.accounting.library import CategoryGroup, Parameter, SourceCategory
from cem_platform.accounting.library_store import load_energy
from cem_platform.accounting.models import EmissionSource, PeriodKind
from cem_platform.accounting.periods import period_of, year_of
from cem_platform.accounting.scopes import CN_ETS_STEEL, scope_total
from cem_platform.errors import InvalidInputError
from cem_platform.identity.principal import Principal
from cem_platform.org.models import Enterprise, Facility, Process, Site

__all__ = [
    "COMPARISONS",
    "DIMENSIONS",
    "METRICS",
    "SCOPES",
    "UNALLOCATED",
    "Change",
    "Part",
    "Row",
    "Statistics",
    "StatisticsError",
    "Total",
    "check_question",
    "default_dimension",
    "dimensions_of",
    "period_label",
    "shares",
    "statistics_of",
    "year_earlier",
]

METRICS = ("emissions", "energy")
DIMENSIONS = {"emissions": ("group", "category", "process", "source"), "energy": ("carrier", "process", "source")}
SCOPES = ("enterprise", "site", "process", "facility", "source")
#: The structures each scope is divided by: the enterprise and a site by process, a facility by source; a process and
#: a source by their terms, categories or carriers only.
_SCOPE_DIMENSIONS = {
    "enterprise": ("group", "category", "process", "carrier"),
    "site": ("group", "category", "process", "carrier"),
    "process": ("group", "category", "carrier"),
    "facility": ("group", "category", "source", "carrier"),
    "source": ("group", "category", "carrier"),
}
_SCOPE_HINTS = {
    "process": "A process is divided by group, category (emissions) or carrier (energy); ask dimension=process for "
    "the enterprise or a site, dimension=source for a facility.",
    "source": "A source is divided by group, category (emissions) or carrier (energy); ask dimension=source for its "
    "facility.",
    "facility": "A facility is divided by source, group, category (emissions) or carrier (energy); ask "
    "dimension=process for the enterprise or a site.",
    "enterprise": "Ask dimension=source for a facility (scope=facility); the enterprise and a site are divided by "
    "process.",
}
_SCOPE_HINTS["site"] = _SCOPE_HINTS["enterprise"]
#: The unit of the output value (产值) intensities are given per.
OUTPUT_VALUE_UNIT = "10^4 CNY"
ELECTRICITY_METHODS = ("equivalent", "equal_value")
COMPARISONS = ("yoy", "pop", "base")
#: The part of an enterprise's emissions that is not booked to a process (purchased electricity and heat
#: without a sub-meter, enterprise-level sources): shown as such, never spread over the processes.
UNALLOCATED = "_unallocated"
#: At most this many periods of a comparison without a kept result are accounted for the answer (see
#: :func:`reads.kept_results`): beyond it they show as having no figure rather than slow the answer down.
COMPARISON_LIVE = 48
#: At most this many periods of each kind in one request (hours: a week; the comparisons read as many again).
MAX_PERIODS = {
    PeriodKind.HOUR: 168,
    PeriodKind.DAY: 400,
    PeriodKind.WEEK: 270,
    PeriodKind.MONTH: 120,
    PeriodKind.YEAR: 30,
}
_HINT_LENGTH = {
    PeriodKind.HOUR: "a week of hours",
    PeriodKind.DAY: "about a year of days",
    PeriodKind.WEEK: "five years of weeks",
    PeriodKind.MONTH: "ten years of months",
    PeriodKind.YEAR: "30 years",
}
_GROUPS = tuple(g.value for g in CategoryGroup)
_CATEGORIES = frozenset(c.value for c in SourceCategory)
_GROUP_COLUMNS = ("combustion", "process_emissions", "electricity", "heat", "fixed_carbon")
_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)


class StatisticsError(InvalidInputError):
    """A statistics question that cannot be answered as asked (metric, dimension, period, range, base)."""

    code = "statistics_error"
    default_hint = "See GET /schema for the statistics parameters."


@dataclasses.dataclass(frozen=True, slots=True)
class Part:
    """One part of a period's structure: its signed contribution to the net (tCO2) and its share of it (%)."""

    key: str
    value: Decimal
    share: Decimal | None  # None when the net is zero


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """A comparison: the other period's figure, the difference and the relative change (None: no figure, or
    a zero one to divide by). ``index`` is the fixed-base index (base = 100). A running period is compared like
    for like: with the other period up to the same point (``until``: the end of the span compared)."""

    period_start: dt.datetime
    label: str
    value: Decimal | None
    change: Decimal | None
    percent: Decimal | None
    index: Decimal | None = None
    until: dt.datetime | None = None  # a running period's comparison: the other span ends here (not its period's end)


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One period: its figures as kept, their structure and its comparisons."""

    period_start: dt.datetime
    period_end: dt.datetime
    label: str
    net: Decimal  # emissions: the net (tCO2); energy: the net consumption (tce)
    direct: Decimal | None  # emissions only
    parts: tuple[Part, ...]
    output: Decimal | None
    intensity: Decimal | None
    output_value: Decimal | None  # 10^4 CNY: the enterprise's output value, where it is entered
    value_intensity: Decimal | None  # per 10^4 CNY of it: tCO2 or tce
    complete: bool
    estimated: bool
    final: bool
    kept: bool
    pending: bool
    as_of: dt.datetime
    result_id: int | None
    comparisons: Mapping[str, Change]


@dataclasses.dataclass(frozen=True, slots=True)
class Total:
    """The whole range: exact sums of its periods, their structure, and the intensity over the range."""

    periods: int
    net: Decimal
    direct: Decimal | None
    parts: tuple[Part, ...]
    output: Decimal | None  # None unless every period has its output
    intensity: Decimal | None
    output_value: Decimal | None  # None unless every period has its output value
    value_intensity: Decimal | None
    complete: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Statistics:
    """A statistics answer: the scope, the rows period by period, the range's total and the names of parts."""

    enterprise: Enterprise
    process: Process | None
    site: Site | None
    facility: Facility | None
    source: EmissionSource | None
    metric: str
    unit: str
    intensity_unit: str
    value_intensity_unit: str  # tCO2/10^4 CNY or tce/10^4 CNY
    value_note: str | None  # why some or all periods have no intensity per output value
    electricity: str | None  # energy: equivalent or equal_value
    equal_value: Parameter | None  # the coefficient electricity=equal_value used
    kind: PeriodKind
    dimension: str
    compare: tuple[str, ...]
    base: Row | None
    rows: tuple[Row, ...]
    total: Total
    names: Mapping[str, str]  # process or source code -> name (dimension process or source)


def period_label(kind: PeriodKind, start: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """The period as people write it (local): 2025, 2025-03, 2025-W10, 2025-03-04, 2025-03-04 13:00."""
    local = start.astimezone(zone)
    if kind is PeriodKind.YEAR:
        return f"{local.year}"
    if kind is PeriodKind.MONTH:
        return f"{local.year}-{local.month:02d}"
    if kind is PeriodKind.WEEK:
        iso = local.date().isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if kind is PeriodKind.DAY:
        return local.date().isoformat()
    return local.strftime("%Y-%m-%d %H:%M")


def year_earlier(kind: PeriodKind, start: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime | None:
    """The start of the same period a year earlier (None when there is none: 29 February, ISO week 53)."""
    local = start.astimezone(zone)
    if kind is PeriodKind.WEEK:
        iso = local.date().isocalendar()
        try:
            monday = dt.date.fromisocalendar(iso.year - 1, iso.week, 1)
        except ValueError:
            return None
        return period_of(kind, dt.datetime.combine(monday, dt.time(12), tzinfo=zone), zone)[0]
    try:
        earlier = local.replace(year=local.year - 1)
    except ValueError:
        return None
    return period_of(kind, earlier, zone)[0]


def shares(values: Mapping[str, Decimal]) -> dict[str, Decimal | None]:
    """Each value's share of their sum in %, rounded to 0.01 so that the shares add to exactly 100.00 (largest
    remainder: the rounding error goes to the parts that lost most by rounding). None for all when the sum is 0."""
    total = sum(values.values(), Decimal(0))
    if not total:
        return dict.fromkeys(values)
    exact = {k: v * _HUNDRED / total for k, v in values.items()}
    rounded = {k: v.quantize(_CENT, ROUND_HALF_EVEN) for k, v in exact.items()}
    steps = int(((_HUNDRED - sum(rounded.values(), Decimal(0))) / _CENT).to_integral_value())
    if steps:
        sign = 1 if steps > 0 else -1
        order = sorted(exact, key=lambda k: sign * (exact[k] - rounded[k]), reverse=True)
        for k in order[: abs(steps)]:
            rounded[k] += sign * _CENT
    return dict(rounded)


def _ratio(value: Decimal, of: Decimal | None) -> Decimal | None:
    return None if of is None or not of else value / of


def _change(
    start: dt.datetime,
    label: str,
    now: Decimal,
    other: Decimal | None,
    base: bool = False,
    until: dt.datetime | None = None,
) -> Change:
    if other is None:
        return Change(start, label, None, None, None, until=until)
    percent = _ratio((now - other) * _HUNDRED, abs(other) if other else None)
    index = _ratio(now * _HUNDRED, other) if base else None
    return Change(
        start,
        label,
        other,
        now - other,
        percent.quantize(_CENT, ROUND_HALF_EVEN) if percent is not None else None,
        index.quantize(_CENT, ROUND_HALF_EVEN) if index is not None else None,
        until,
    )


def _entries(figures: reads.KeptFigures, codes: tuple[str, ...]) -> list[Mapping[str, Any]]:
    return [figures.by_process.get(code) or {} for code in codes]


def _signed_group(group: str, value: Decimal) -> Decimal:
    return -value if group == CategoryGroup.FIXED_CARBON.value else value


def _signed_categories(by_category: Mapping[str, str | Decimal]) -> dict[str, Decimal]:
    out = {}
    for category in SourceCategory:
        if category.value not in by_category:
            continue
        value = Decimal(by_category[category.value])
        out[category.value] = -value if category.group is CategoryGroup.FIXED_CARBON else value
    return out


def _add(into: dict[str, Decimal], values: Mapping[str, str | Decimal]) -> None:
    for key, value in values.items():
        into[key] = into.get(key, Decimal(0)) + Decimal(value)


#: Below this (t or tce), a difference between the processes' sum and the enterprise's figure is the arithmetic's:
#: the figures are kept to 28 significant digits, the enterprise's columns to 10 decimal places.
ROUNDING_RESIDUE = Decimal("0.000001")


def _settled(parts: dict[str, Decimal], total: Decimal) -> dict[str, Decimal]:
    """The processes' parts (with what no process carries as ``_unallocated``) made to add up to ``total`` exactly:
    a rounding residue (under :data:`ROUNDING_RESIDUE`) goes to the largest part, anything more to unallocated."""
    rest = total - sum(parts.values(), Decimal(0))
    if not rest:
        return parts
    if abs(rest) >= ROUNDING_RESIDUE or not parts:
        parts[UNALLOCATED] = parts.get(UNALLOCATED, Decimal(0)) + rest
        return parts
    # The largest part takes the residue and goes last: the others add up first (at 28 digits, in their order, as a
    # reader adds them) and the largest is what brings their sum to the total. Added to the largest where it stood,
    # the residue could round away again on the way to the sum (seen with the demo works' energy by process).
    largest = max(parts, key=lambda k: abs(parts[k]))
    del parts[largest]
    others = sum(parts.values(), Decimal(0))
    value = total - others
    parts[largest] = next((v for v in (value, value.next_plus(), value.next_minus()) if others + v == total), value)
    return parts


class _Measure:
    """What one metric reads from a period's kept figures, for the enterprise (``codes`` None) or the processes
    ``codes`` (one process, or a site's)."""

    unit = ""
    intensity_unit = ""
    value_intensity_unit = ""

    def __init__(self, codes: tuple[str, ...] | None) -> None:
        self.codes = codes

    def value(self, figures: reads.KeptFigures) -> Decimal:
        raise NotImplementedError

    def parts(self, figures: reads.KeptFigures, dimension: str) -> dict[str, Decimal]:
        raise NotImplementedError

    def direct(self, figures: reads.KeptFigures) -> Decimal | None:
        return None

    def complete(self, figures: reads.KeptFigures) -> bool:
        """Whether the data behind the period's figure is complete."""
        return figures.complete

    def estimated(self, figures: reads.KeptFigures) -> bool:
        """Whether any data behind the period's figure is estimated or prorated."""
        return figures.estimated

    def output(self, figures: reads.KeptFigures) -> Decimal | None:
        """Crude steel (enterprise) or the process's product (one process: kept with the period's energy)."""
        if self.codes is None:
            return figures.crude_steel
        if len(self.codes) != 1:
            return None
        text = ((figures.energy or {}).get("by_process") or {}).get(self.codes[0], {}).get("output")
        return Decimal(text) if text else None

    def intensity(self, figures: reads.KeptFigures) -> Decimal | None:
        raise NotImplementedError

    def intensity_of(self, value: Decimal, output: Decimal | None) -> Decimal | None:
        return _ratio(value, output)

    def output_value(self, figures: reads.KeptFigures) -> Decimal | None:
        """The enterprise's output value (10^4 CNY): the enterprise's own, not a part's."""
        return figures.output_value if self.codes is None else None


class _Emissions(_Measure):
    """tCO2 from the kept results' columns; parts are signed contributions to the net."""

    unit = "tCO2"
    intensity_unit = "tCO2/t"
    value_intensity_unit = f"tCO2/{OUTPUT_VALUE_UNIT}"

    def _terms(self, figures: reads.KeptFigures) -> dict[str, Decimal]:
        if self.codes is None:
            return dict(zip(_GROUPS, (getattr(figures, c) for c in _GROUP_COLUMNS), strict=True))
        entries = _entries(figures, self.codes)
        return {g: sum((Decimal(e.get(g, "0")) for e in entries), Decimal(0)) for g in _GROUPS}

    def value(self, figures: reads.KeptFigures) -> Decimal:
        if self.codes is None:
            return figures.net
        return sum((Decimal(e.get("net", "0")) for e in _entries(figures, self.codes)), Decimal(0))

    def direct(self, figures: reads.KeptFigures) -> Decimal | None:
        return scope_total(CN_ETS_STEEL, self._terms(figures))

    def parts(self, figures: reads.KeptFigures, dimension: str) -> dict[str, Decimal]:
        if dimension == "group":
            return {g: _signed_group(g, v) for g, v in self._terms(figures).items()}
        if self.codes is not None:
            entries = _entries(figures, self.codes)
            if dimension == "category":
                by_category: dict[str, Decimal] = {}
                for entry in entries:
                    _add(by_category, entry.get("by_category") or {})
                return _signed_categories(by_category)
            return {code: Decimal(entry.get("net", "0")) for code, entry in zip(self.codes, entries, strict=True)}
        if dimension == "category":
            return _signed_categories(figures.by_category)
        parts = {
            (code or UNALLOCATED): Decimal(entry.get("net", "0")) for code, entry in figures.by_process.items() if entry
        }
        return _settled(parts, figures.net)

    def intensity(self, figures: reads.KeptFigures) -> Decimal | None:
        """Per tonne of crude steel (enterprise) or of the process's product (a site has no one product)."""
        if self.codes is None:
            return figures.intensity
        if len(self.codes) != 1:
            return None
        text = (figures.by_process.get(self.codes[0]) or {}).get("intensity")
        return Decimal(text) if text else None


class _Energy(_Measure):
    """tce from the kept results' energy; electricity by the equivalent value as kept, or by the equal value
    (``equal_value``, tce per MWh) worked out here from the kept MWh."""

    unit = "tce"
    intensity_unit = "kgce/t"
    value_intensity_unit = f"tce/{OUTPUT_VALUE_UNIT}"

    def __init__(self, codes: tuple[str, ...] | None, equal_value: Decimal | None) -> None:
        super().__init__(codes)
        self.equal_value = equal_value

    def complete(self, figures: reads.KeptFigures) -> bool:
        """The result's data (fuels, electricity and heat are the emissions' too) and the energy-carrying media's,
        which no emission figure uses: the energy keeps their quality apart (``energy.complete``)."""
        return figures.complete and (figures.energy or {}).get("complete") is not False

    def estimated(self, figures: reads.KeptFigures) -> bool:
        return figures.estimated or (figures.energy or {}).get("estimated") is True

    def _carriers(self, entry: Mapping[str, Any]) -> dict[str, Decimal]:
        carriers = {k: Decimal(v) for k, v in (entry.get("by_carrier") or {}).items()}
        if self.equal_value is not None and "electricity" in carriers:
            carriers["electricity"] = Decimal(entry.get("electricity_mwh") or "0") * self.equal_value
        return carriers

    def _entries(self, figures: reads.KeptFigures) -> list[Mapping[str, Any]]:
        energy = figures.energy or {}
        if self.codes is None:
            return [energy]
        return [(energy.get("by_process") or {}).get(code) or {} for code in self.codes]

    def value(self, figures: reads.KeptFigures) -> Decimal:
        return sum((sum(self._carriers(e).values(), Decimal(0)) for e in self._entries(figures)), Decimal(0))

    def parts(self, figures: reads.KeptFigures, dimension: str) -> dict[str, Decimal]:
        if dimension == "carrier":
            carriers: dict[str, Decimal] = {}
            for entry in self._entries(figures):
                _add(carriers, self._carriers(entry))
            return carriers
        by_process = (figures.energy or {}).get("by_process") or {}
        if self.codes is not None:
            return {code: sum(self._carriers(by_process.get(code) or {}).values(), Decimal(0)) for code in self.codes}
        parts = {(code or UNALLOCATED): sum(self._carriers(e).values(), Decimal(0)) for code, e in by_process.items()}
        return _settled(parts, self.value(figures))

    def intensity(self, figures: reads.KeptFigures) -> Decimal | None:
        """kgce per tonne of crude steel (enterprise) or of the process's product (工序能耗)."""
        return self.intensity_of(self.value(figures), self.output(figures))

    def intensity_of(self, value: Decimal, output: Decimal | None) -> Decimal | None:
        return _ratio(value * 1000, output)


def _own(figures: reads.KeptFigures, sources: tuple[str, ...]) -> list[Mapping[str, Any]]:
    """The kept figures of each of ``sources`` (codes) in the period ({} for one not in it)."""
    kept = figures.by_source or {}
    return [kept.get(code) or {} for code in sources]


class _SourceEmissions(_Emissions):
    """tCO2 of a facility's sources or of one source: each source's own lines, kept with the result."""

    def __init__(self, sources: tuple[str, ...]) -> None:
        super().__init__(())
        self.sources = sources

    def _categories(self, figures: reads.KeptFigures) -> dict[str, Decimal]:
        """Signed contributions to the net by source category."""
        out: dict[str, Decimal] = {}
        for entry in _own(figures, self.sources):
            if entry.get("category") in _CATEGORIES:  # an energy-carrying medium has no emission category
                _add(out, {entry["category"]: entry["net"]})
        return out

    def _terms(self, figures: reads.KeptFigures) -> dict[str, Decimal]:
        """The five terms as the results keep them (carbon fixed in products positive)."""
        terms = dict.fromkeys(_GROUPS, Decimal(0))
        for category, value in self._categories(figures).items():
            group = SourceCategory(category).group.value
            terms[group] += _signed_group(group, value)
        return terms

    def value(self, figures: reads.KeptFigures) -> Decimal:
        return sum((Decimal(e.get("net", "0")) for e in _own(figures, self.sources)), Decimal(0))

    def parts(self, figures: reads.KeptFigures, dimension: str) -> dict[str, Decimal]:
        if dimension == "group":
            return {g: _signed_group(g, v) for g, v in self._terms(figures).items()}
        if dimension == "category":
            return self._categories(figures)
        own = zip(self.sources, _own(figures, self.sources), strict=True)
        return {code: Decimal(e.get("net", "0")) for code, e in own}

    def output(self, figures: reads.KeptFigures) -> Decimal | None:
        return None  # a facility or a source has no product of its own

    def intensity(self, figures: reads.KeptFigures) -> Decimal | None:
        return None


class _SourceEnergy(_Energy):
    """tce of a facility's sources or of one source (electricity by the equal value worked out from its MWh)."""

    def __init__(self, sources: tuple[str, ...], equal_value: Decimal | None) -> None:
        super().__init__((), equal_value)
        self.sources = sources

    def _carriers(self, entry: Mapping[str, Any]) -> dict[str, Decimal]:
        carrier = entry.get("carrier")
        if not carrier:
            return {}
        if self.equal_value is not None and carrier == "electricity":
            return {carrier: Decimal(entry.get("mwh") or "0") * self.equal_value}
        return {carrier: Decimal(entry.get("tce") or "0")}

    def _entries(self, figures: reads.KeptFigures) -> list[Mapping[str, Any]]:
        return _own(figures, self.sources)

    def parts(self, figures: reads.KeptFigures, dimension: str) -> dict[str, Decimal]:
        if dimension == "carrier":
            carriers: dict[str, Decimal] = {}
            for entry in self._entries(figures):
                _add(carriers, self._carriers(entry))
            return carriers
        own = zip(self.sources, self._entries(figures), strict=True)
        return {code: sum(self._carriers(e).values(), Decimal(0)) for code, e in own if e.get("carrier")}

    def output(self, figures: reads.KeptFigures) -> Decimal | None:
        return None

    def intensity(self, figures: reads.KeptFigures) -> Decimal | None:
        return None


def _row(
    view: reads.PeriodView,
    kind: PeriodKind,
    zone: zoneinfo.ZoneInfo,
    measure: _Measure,
    dimension: str,
    comparisons: Mapping[str, Change] | None = None,
) -> Row:
    figures = view.result
    values = measure.parts(figures, dimension)
    share = shares(values)
    net = measure.value(figures)
    output_value = measure.output_value(figures)
    return Row(
        period_start=figures.period_start,
        period_end=figures.period_end,
        label=period_label(kind, figures.period_start, zone),
        net=net,
        direct=measure.direct(figures),
        parts=tuple(Part(k, v, share[k]) for k, v in values.items()),
        output=measure.output(figures),
        intensity=measure.intensity(figures),
        output_value=output_value,
        value_intensity=_ratio(net, output_value),
        complete=measure.complete(figures),
        estimated=measure.estimated(figures),
        final=figures.final,
        kept=view.kept,
        pending=view.pending,
        as_of=view.as_of,
        result_id=figures.id if view.kept else None,
        comparisons=comparisons or {},
    )


def _total(rows: Sequence[Row], measure: _Measure, expected: int) -> Total:
    parts: dict[str, Decimal] = {}
    for row in rows:
        _add(parts, {p.key: p.value for p in row.parts})
    share = shares(parts)
    net = sum((r.net for r in rows), Decimal(0))
    outputs = [r.output for r in rows]
    output = None
    if rows and all(o is not None for o in outputs):
        output = sum((o for o in outputs if o is not None), Decimal(0))
    directs = [r.direct for r in rows]
    values = [r.output_value for r in rows]
    output_value = None
    if rows and all(v is not None for v in values):
        output_value = sum((v for v in values if v is not None), Decimal(0))
    return Total(
        periods=len(rows),
        net=net,
        direct=sum((d for d in directs if d is not None), Decimal(0)) if None not in directs else None,
        parts=tuple(Part(k, v, share[k]) for k, v in parts.items()),
        output=output,
        intensity=measure.intensity_of(net, output),
        output_value=output_value,
        value_intensity=_ratio(net, output_value),
        complete=len(rows) == expected and all(r.complete for r in rows),
    )


def default_dimension(metric: str) -> str:
    """The structure a metric is shown by unless asked otherwise."""
    return "carrier" if metric == "energy" else "group"


def dimensions_of(metric: str, scope: str) -> tuple[str, ...]:
    """The structures ``metric`` of ``scope`` can be divided by (the metric's default first)."""
    return tuple(d for d in DIMENSIONS.get(metric, ()) if d in _SCOPE_DIMENSIONS.get(scope, ()))


def check_question(metric: str, dimension: str, compare: Sequence[str], scope: str = "enterprise") -> None:
    """Refuse an unknown metric, scope, dimension or comparison with what to ask instead."""
    if scope not in SCOPES:
        raise StatisticsError(f"No scope {scope!r}.", hint=f"Ask for one of {', '.join(SCOPES)} (with its id).")
    if metric not in METRICS:
        raise StatisticsError(
            f"No metric {metric!r}.",
            hint="Ask for emissions (tCO2) or energy (tce, standard coal equivalent), from the kept results.",
        )
    if dimension not in DIMENSIONS[metric]:
        hints = {
            "emissions": "group: the five terms of GB/T 32151.5; category: the source categories; process (the "
            "enterprise or a site); source (a facility).",
            "energy": "carrier: coal, coke, gases, electricity, heat...; process (the enterprise or a site); source "
            "(a facility).",
        }
        raise StatisticsError(f"No dimension {dimension!r} for {metric}.", hint=hints[metric])
    if dimension not in _SCOPE_DIMENSIONS[scope]:
        raise StatisticsError(f"A {scope} is not divided by {dimension}.", hint=_SCOPE_HINTS[scope])
    unknown = [c for c in compare if c not in COMPARISONS]
    if unknown:
        raise StatisticsError(
            f"No comparison {unknown[0]!r}.",
            hint="compare takes yoy (同比), pop (环比) and base (定比, with base=<a date in the base period>).",
        )


async def _equal_value(start: dt.datetime, end: dt.datetime, zone: zoneinfo.ZoneInfo) -> Parameter:
    """The energy library's equal-value coefficient of electricity for the years of [start, end): one per year
    (``electricity.equal_value.<year>``) or one for all (``electricity.equal_value``); a range over years with
    different coefficients is refused (ask per year)."""
    coefficients = await load_energy()
    years = range(year_of(start, zone), year_of(end - dt.timedelta(microseconds=1), zone) + 1)
    general = coefficients.parameters.get(ELECTRICITY_EQUAL_VALUE)
    found = [coefficients.parameters.get(f"{ELECTRICITY_EQUAL_VALUE}.{y}") or general for y in years]
    chosen = [p for p in found if p is not None]
    if len(chosen) < len(found):
        raise StatisticsError(
            f"The energy library ({ENERGY_LIBRARY} v{coefficients.version}) holds no equal-value coefficient of "
            f"electricity for {years[0]}–{years[-1]}.",
            hint=f"Add {ELECTRICITY_EQUAL_VALUE}.<year> (e.g. the grid's coal rate for supply, gce/kWh) with its "
            f"source to {ENERGY_LIBRARY}, or ask electricity=equivalent.",
        )
    if len({(p.code, p.value, p.unit) for p in chosen}) > 1:
        raise StatisticsError(
            "The range spans years with different equal-value coefficients of electricity.",
            hint="Ask for one year at a time with electricity=equal_value.",
        )
    return chosen[0]


async def _sources_of(
    enterprise: Enterprise, facility: Facility | None, source: EmissionSource | None
) -> tuple[tuple[str, ...] | None, dict[str, str]]:
    """The codes (and names) of the sources a facility or source scope sums: a facility's every source, in service
    or retired (its history counts), but its outputs; None for the other scopes."""
    if source is not None:
        if source.enterprise_id != enterprise.id:
            raise StatisticsError(f"Source {source.code} is not of enterprise {enterprise.code}.")
        if source.category == OUTPUT:
            raise StatisticsError(
                f"{source.code} is a production output, not an emission source: it has no emissions or energy.",
                hint="Ask for the source that uses it, or for the intensities of its process or enterprise.",
            )
        return (source.code,), {source.code: source.name}
    if facility is None:
        return None, {}
    found = (
        await EmissionSource.filter(enterprise_id=enterprise.id, facility_id=facility.id)
        .exclude(category=OUTPUT)
        .order_by("code")
        .values_list("code", "name")
    )
    if not found:
        raise StatisticsError(
            f"Facility {facility.code} has no emission source: nothing is accounted for it.",
            hint="Give the sources of the facility its id (facility_id) in the source inventory, or ask for its "
            "process.",
        )
    return tuple(code for code, _ in found), dict(found)


def _value_note(scope: str, rows: Sequence[Row]) -> str | None:
    """Why the answer has no intensity per output value, or some periods have none (None: every period has it)."""
    if scope != "enterprise":
        return "The output value (产值) is the enterprise's: its intensity is given for scope=enterprise only."
    missing = [r for r in rows if r.output_value is None]
    if not missing:
        return None
    how = (
        "Add an output of the enterprise (category output, item output_value, activity AD in 10^4 CNY) and enter "
        "its output value per period (manual entry or a ledger)."
    )
    if len(missing) == len(rows):
        return f"No output value (产值) is entered for these periods: no intensity per output value. {how}"
    return f"No output value (产值) for {len(missing)} of {len(rows)} periods: those have no intensity per it. {how}"


async def statistics_of(
    principal: Principal,
    enterprise_id: int,
    kind: PeriodKind,
    start: dt.datetime,
    end: dt.datetime,
    *,
    metric: str = "emissions",
    process: Process | None = None,
    site: Site | None = None,
    facility: Facility | None = None,
    source: EmissionSource | None = None,
    dimension: str | None = None,
    compare: Sequence[str] = (),
    base: dt.datetime | None = None,
    electricity: str = "equivalent",
    now: dt.datetime | None = None,
) -> Statistics:
    """The statistics of ``metric`` for the enterprise (or ``process``; ``site``: the sum of its processes;
    ``facility``: the sum of its sources; one ``source``) for every period of ``kind`` meeting [start, end)."""
    dimension = dimension or default_dimension(metric)
    scope = (
        "process" if process is not None else "site" if site is not None else "facility" if facility is not None
        else "source" if source is not None else "enterprise"
    )  # fmt: skip
    check_question(metric, dimension, compare, scope)
    if electricity not in ELECTRICITY_METHODS:
        raise StatisticsError(
            f"No electricity method {electricity!r}.", hint="equivalent (当量值, default) or equal_value (等价值)."
        )
    if "base" in compare and base is None:
        raise StatisticsError(
            "A fixed-base comparison needs its base period.",
            hint="Add base=<a date in the base period>, e.g. base=2024-01 for January 2024.",
        )
    enterprise = await enterprise_for(principal, enterprise_id)
    zone = zoneinfo.ZoneInfo(enterprise.timezone)
    now = now or dt.datetime.now(dt.UTC)
    if end <= start:
        raise StatisticsError("'to' must come after 'from'.", hint="Give a later 'to'; it is exclusive.")
    count, lo = 0, period_of(kind, start, zone)[0]
    while lo < min(end, now):
        count += 1
        if count > MAX_PERIODS[kind]:
            raise StatisticsError(
                f"The range holds more than {MAX_PERIODS[kind]} {kind.value} periods.",
                hint=f"Ask for at most {_HINT_LENGTH[kind]}, or a longer period (day -> month).",
            )
        lo = period_of(kind, lo, zone)[1]
    codes: tuple[str, ...] | None = None
    if process is not None:
        codes = (process.code,)
    elif site is not None:
        codes = tuple(sorted(await Process.filter(site_id=site.id).values_list("code", flat=True)))  # type: ignore[arg-type]
    sources, names = await _sources_of(enterprise, facility, source)
    one = codes[0] if process is not None and codes and metric == "emissions" else None
    equal_value: Parameter | None = None
    if metric == "energy" and electricity == "equal_value":
        equal_value = await _equal_value(start, min(end, now) if start < now else end, zone)
    factor = units.convert(equal_value.value, equal_value.unit, "tce/MWh") if equal_value is not None else None
    measure: _Measure
    if sources is not None:
        measure = _SourceEnergy(sources, factor) if metric == "energy" else _SourceEmissions(sources)
    else:
        measure = _Energy(codes, factor) if metric == "energy" else _Emissions(codes)

    async def views(
        lo: dt.datetime, hi: dt.datetime, live_limit: int = reads.MAX_LIVE_PERIODS
    ) -> dict[dt.datetime, reads.PeriodView]:
        await reporting.check_verifier_range(principal, enterprise, lo, hi)
        found = await reads.kept_results(
            principal, enterprise.id, kind, lo, hi, process_code=one,
            processes=site is not None or dimension == "process", energy=process is not None,
            energy_needed=metric == "energy" and sources is None, sources=sources is not None,
            live_limit=live_limit, now=now,
        )  # fmt: skip
        return {v.result.period_start: v for v in found}

    current = await views(start, end)
    periods = sorted(current)
    earlier: dict[dt.datetime, reads.PeriodView] = {}
    if periods and "pop" in compare:
        before = period_of(kind, periods[0] - dt.timedelta(microseconds=1), zone)
        earlier.update(await views(*before))
    year_ago: dict[dt.datetime, dt.datetime | None] = {}
    if periods and "yoy" in compare:
        year_ago = {lo: year_earlier(kind, lo, zone) for lo in periods}
        shifted = [s for s in year_ago.values() if s is not None]
        if shifted:
            # a year earlier may predate the kept history (or, for hours, the kept window): its periods are
            # accounted for the answer only when few are missing, else they show as having no figure
            earlier.update(await views(min(shifted), period_of(kind, max(shifted), zone)[1], COMPARISON_LIVE))
    base_row: Row | None = None
    if "base" in compare and base is not None:
        base_lo, base_hi = period_of(kind, base, zone)
        found = (await views(base_lo, base_hi)).get(base_lo)
        if found is None or not measure.value(found.result):
            raise StatisticsError(
                f"The base period {period_label(kind, base_lo, zone)} has no {metric} to compare with.",
                hint=f"Choose a base period with accounted {metric} (base=<a date in it>).",
            )
        base_row = _row(found, kind, zone, measure, dimension)

    def value(lo: dt.datetime | None) -> tuple[Decimal | None, str]:
        if lo is None:
            return None, ""
        view = current.get(lo) or earlier.get(lo)
        return (measure.value(view.result) if view is not None else None), period_label(kind, lo, zone)

    # A running period is compared like for like: the other period up to the same point (its figures are as of
    # ``as_of``), accounted for the answer; the 8th of a month against last year's whole month would say -70 %.
    partial: dict[tuple[str, dt.datetime], tuple[dt.datetime, dt.datetime]] = {}
    for lo in periods:
        view = current[lo]
        if view.result.final or not compare:
            continue
        # whole hours: meters are kept by the hour, and a span cut inside an hour cannot be accounted from them
        elapsed = dt.timedelta(hours=int((min(view.as_of, now) - lo).total_seconds() // 3600))
        others = {"pop": period_of(kind, lo - dt.timedelta(microseconds=1), zone)[0], "yoy": year_ago.get(lo)}
        for name, other in others.items():
            if name in compare and other is not None:
                # less than an hour in: nothing to compare like for like yet (an empty span, no figure)
                partial[(name, lo)] = (other, min(other + elapsed, period_of(kind, other, zone)[1]))
    # such a span is the sum of the kept months, days and hours it is made of (what is not kept is accounted for the
    # answer): what is compared (emissions, energy) adds up
    spans: dict[tuple[dt.datetime, dt.datetime], list[reads.KeptFigures]] = {}
    if partial:
        for lo_, hi_ in partial.values():
            await reporting.check_verifier_range(principal, enterprise, lo_, hi_)
        spans = await reads.span_parts(
            principal, enterprise.id, kind, list(partial.values()), sources=sources is not None, now=now
        )

    def compared(name: str, lo: dt.datetime, other: dt.datetime | None, net: Decimal) -> Change:
        span = partial.get((name, lo))
        if span is not None:
            found = spans.get(span)
            label = period_label(kind, span[0], zone)
            total = sum((measure.value(part) for part in found), Decimal(0)) if found else None
            return _change(span[0], label, net, total, until=span[1])
        previous, label = value(other)
        return _change(other or lo, label, net, previous)

    rows = []
    for lo in periods:
        view = current[lo]
        net = measure.value(view.result)
        comparisons: dict[str, Change] = {}
        if "yoy" in compare:
            comparisons["yoy"] = compared("yoy", lo, year_ago.get(lo), net)
        if "pop" in compare:
            comparisons["pop"] = compared("pop", lo, period_of(kind, lo - dt.timedelta(microseconds=1), zone)[0], net)
        if base_row is not None:
            comparisons["base"] = _change(base_row.period_start, base_row.label, net, base_row.net, base=True)
        rows.append(_row(view, kind, zone, measure, dimension, comparisons))
    if dimension == "process":
        processes = await Process.filter(site__enterprise_id=enterprise.id).values_list("code", "name")
        names = dict(processes)
    elif dimension != "source":
        names = {}
    return Statistics(
        enterprise=enterprise,
        process=process,
        site=site,
        facility=facility,
        source=source,
        metric=metric,
        unit=measure.unit,
        intensity_unit=measure.intensity_unit,
        value_intensity_unit=measure.value_intensity_unit,
        value_note=_value_note(scope, rows),
        electricity=electricity if metric == "energy" else None,
        equal_value=equal_value,
        kind=kind,
        dimension=dimension,
        compare=tuple(c for c in COMPARISONS if c in compare),
        base=base_row,
        rows=tuple(rows),
        total=_total(rows, measure, count),
        names=names,
    )
