"""Gap analysis (standard 5.4.5.2): a process's or the enterprise's intensity against every benchmark and limit.

The actual figures are the statistics service's (:func:`cem_platform.statistics.services.statistics_of`): process energy
per tonne of the process's product (kgce/t, electricity at its equivalent value) and CO2 per tonne (tCO2/t; per tonne
of crude steel for the enterprise), exactly as kept; nothing here accounts or writes. Each reference entry applies to
a period when its validity covers the period and its condition holds (e.g. the EAF's size class); its level values
are corrected as the entry says, from the process's own data where the platform has it (an EAF's capacity, from its
facilities) and from the inputs entered per process and period otherwise (:class:`CorrectionInput`). A correction
whose input is missing is named in the answer and not applied; nothing is guessed.

Lower is better for every indicator: the level reached is the best level whose (corrected) value the actual does
not exceed. The answer names the library versions it used, and takes them as parameters: asked again with the same
versions, it gives the same answer whatever was edited since.

:func:`evaluate_limits` raises an ``energy_limit`` alarm for a process above its corrected limit, and clears it once
the process is back within it; the ``cem.benchmarking.limits`` job runs it every five minutes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import msgspec

from cem_platform.accounting import units
from cem_platform.accounting.calculation import NoSourceInventoryError
from cem_platform.accounting.inventory import enterprise_for
from cem_platform.accounting.models import PeriodKind
from cem_platform.accounting.periods import parse_instant, period_of
from cem_platform.alarms.models import Alarm, AlarmKind, AlarmState, Severity
from cem_platform.alarms.services import AlarmService
from cem_platform.audit.services import record
from cem_platform.benchmarking.models import CorrectionInput
from cem_platform.benchmarking.references import (
    INDICATORS,
    INPUTS,
    NATIONAL,
    BenchmarkError,
    decimal_of,
    enterprise_library,
    version_of,
)
from cem_platform.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from cem_platform.identity.principal import Principal
from cem_platform.org.models import Enterprise, Facility, Process
from cem_platform.settings import Settings
from cem_platform.statistics.services import statistics_of

__all__ = [
    "MAX_PERIODS",
    "Analysis",
    "Comparison",
    "IndicatorSeries",
    "LimitReport",
    "analyse",
    "evaluate_limits",
    "input_period",
    "set_input",
]

MAX_PERIODS = {PeriodKind.MONTH: 36, PeriodKind.YEAR: 10}
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_YEAR = re.compile(r"^\d{4}$")
_CN_DIGITS = {"1": "一", "2": "二", "3": "三", "4": "四", "5": "五"}
_NAMED = {
    "benchmark": ("标杆水平", "benchmark"),
    "baseline": ("基准水平", "baseline"),
    "average": ("平均水平", "average"),
    "target": ("目标", "target"),
    "best": ("最优", "best"),
}
_HUNDRED = Decimal(100)
_CENT = Decimal("0.01")


def _text(value: Decimal | None) -> str | None:
    return None if value is None else units.exact_text(value)


def _short(value: Decimal) -> str:
    """For the sentences: two decimals at most, no trailing zeros."""
    return units.exact_text(value.quantize(_CENT, ROUND_HALF_EVEN))


def level_label(name: str) -> tuple[str, str]:
    """A level as people say it, in Chinese and English: 二级 / level 2, 标杆水平 / benchmark."""
    if name in _CN_DIGITS:
        return f"{_CN_DIGITS[name]}级", f"level {name}"
    return _NAMED.get(name, (name, name))


# ---- the answer ---------------------------------------------------------------------------------------------------


class LevelOut(msgspec.Struct, kw_only=True):
    """One level of an entry in this period: its value as published, as corrected, and the actual's gap to it."""

    name: str
    label: str
    label_en: str
    base: str  # as published
    value: str  # corrected (equal to base without corrections)
    gap: str | None  # actual - value: positive = above (worse than) the level
    relative: str | None  # gap / |value| in %, 0.01; null when the value is 0


class CorrectionOut(msgspec.Struct, kw_only=True):
    """One correction of an entry: the input used, where it came from, and what it adds to every level."""

    input: str
    value: str | None
    unit: str
    # entered, months (a year from its months' values weighted by output), facility, zero (the entry says an input not
    # entered means none), missing
    origin: str
    source: str
    adjustment: str | None  # null: missing, not applied


class Comparison(msgspec.Struct, kw_only=True):
    """The actual of one period against one reference entry."""

    entry: str
    kind: str  # limit, benchmark, target
    library: str
    name: str
    name_en: str
    edition: str
    confidence: str
    levels: list[LevelOut]
    reached: str | None  # the best level not exceeded; null: none reached
    next_level: str | None  # the level above the one reached (the first level when none is reached)
    gap_to_next: str | None
    text: str  # "二级, 距一级 3.2 kgce/t"
    text_en: str  # "Level 2, 3.2 kgce/t from level 1"
    limit: str | None  # a limit's binding value (corrected)
    breach: bool | None  # a limit: above its binding value
    corrected: bool  # every correction of the entry applied
    corrections: list[CorrectionOut]
    missing: list[str]  # inputs a correction needs that are not entered for the period


class Unresolved(msgspec.Struct, kw_only=True):
    """An entry that may apply but cannot be decided: its condition's input is unknown."""

    entry: str
    reason: str


class PeriodOut(msgspec.Struct, kw_only=True):
    """One period of one indicator."""

    period: str
    period_start: dt.datetime
    actual: str | None  # null: no output (or no figure) in the period
    output: str | None
    complete: bool
    as_of: dt.datetime | None  # when the figure was accounted
    lineage: str | None
    comparisons: list[Comparison]
    unresolved: list[Unresolved]


class TrendOut(msgspec.Struct, kw_only=True):
    """The actual over the periods asked (lower is better)."""

    first: str | None
    last: str | None
    change: str | None  # last - first
    slope: str | None  # least-squares change per period, 0.0001
    direction: str | None  # improving, worsening, flat; null with fewer than two figures


class IndicatorSeries(msgspec.Struct, kw_only=True):
    """One indicator of one process (or of the enterprise) over the periods asked."""

    indicator: str
    unit: str
    name: str
    name_en: str
    periods: list[PeriodOut]
    trend: TrendOut


class SubjectOut(msgspec.Struct, kw_only=True):
    """A process (or the enterprise as a whole: ``process_id`` null) and its indicators."""

    process_id: int | None
    code: str
    name: str
    process_type: str | None
    indicators: list[IndicatorSeries]


class Analysis(msgspec.Struct, kw_only=True):
    """A gap analysis of an enterprise's processes (or one process) and of the enterprise."""

    enterprise_id: int
    period: str
    periods: list[str]
    timezone: str
    versions: dict[str, int]  # library -> version used (repeat the analysis with them)
    subjects: list[SubjectOut]


# ---- periods and inputs -------------------------------------------------------------------------------------------


def _labels(kind: PeriodKind, first: str, last: str) -> list[str]:
    pattern = _MONTH if kind is PeriodKind.MONTH else _YEAR
    for label, what in ((first, "from"), (last, "to")):
        if not pattern.match(label):
            example = "2026-03" if kind is PeriodKind.MONTH else "2026"
            raise BenchmarkError(
                f"{what} {label!r} is not a {kind.value} like {example}.",
                hint=f"Give from and to as {kind.value}s (to included), e.g. {example}.",
            )
    if kind is PeriodKind.YEAR:
        years = list(range(int(first), int(last) + 1))
        labels = [str(y) for y in years]
    else:
        y0, m0 = (int(p) for p in first.split("-"))
        y1, m1 = (int(p) for p in last.split("-"))
        labels = [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(y0 * 12 + m0 - 1, y1 * 12 + m1)]
    if not labels:
        raise BenchmarkError("'to' comes before 'from'.", hint="Give to at or after from (both included).")
    if len(labels) > MAX_PERIODS[kind]:
        raise BenchmarkError(f"At most {MAX_PERIODS[kind]} {kind.value}s at a time.", hint="Ask for a shorter range.")
    return labels


def input_period(text: str) -> tuple[str, str]:
    """(kind, label) of a correction input's period: 2026-03 (a month) or 2026 (a year)."""
    text = text.strip()
    if _MONTH.match(text):
        return "month", text
    if _YEAR.match(text):
        return "year", text
    raise BenchmarkError(f"Period {text!r} is neither a month (2026-03) nor a year (2026).")


def _start(kind: PeriodKind, label: str, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    return parse_instant(label if kind is PeriodKind.MONTH else f"{label}-01", zone, "from")


async def set_input(
    principal: Principal, process_id: int, name: str, period: str, value: str | None, source: str
) -> CorrectionInput | None:
    """Enter (or with ``value`` None remove) a correction input of a process for a month or year; audited, refusals
    too."""
    try:
        return await _set_input(principal, process_id, name, period, value, source)
    except (InvalidInputError, NotFoundError, PermissionDeniedError) as err:
        await record(
            principal, "benchmarking.input.set", entity_type="correction_input",
            entity_id=f"{process_id}/{name[:32]}/{period[:7]}", outcome="denied", summary=err.message[:300],
        )  # fmt: skip
        raise


async def _set_input(
    principal: Principal, process_id: int, name: str, period: str, value: str | None, source: str
) -> CorrectionInput | None:
    process = await Process.get_or_none(id=process_id).prefetch_related("site")
    if process is None or not principal.scope.sees_site(process.site.enterprise_id, process.site_id):
        raise NotFoundError(f"No process {process_id} within your scope.")
    await enterprise_for(principal, process.site.enterprise_id, write=True)
    definition = INPUTS.get(name)
    if definition is None:
        raise BenchmarkError(f"No correction input {name!r}.", hint=f"Inputs: {', '.join(INPUTS)}.")
    kind, label = input_period(period)
    existing = await CorrectionInput.get_or_none(process_id=process.id, name=name, period=label)
    before = _input_json(existing) if existing else None
    source = source.strip()
    if value is None:
        if existing is None:
            raise NotFoundError(f"No {name} entered for process {process.code} in {label}.")
        await existing.delete()
        await record(
            principal,
            "benchmarking.input.remove",
            entity_type="correction_input",
            entity_id=f"{process.id}/{name}/{label}",
            enterprise_id=process.site.enterprise_id,
            before=before,
            summary=f"{process.code} {name} {label} removed",
        )
        return None
    number = decimal_of(value, name)
    if not definition.lowest <= number <= definition.highest:
        raise BenchmarkError(
            f"{name} {value!r} is outside {definition.lowest}–{definition.highest} {definition.unit}.",
            hint=f"Give {definition.label_en} in {definition.unit}.",
        )
    if not source or len(source) > 300:
        raise BenchmarkError(
            "Say where the value comes from (source, at most 300 characters).",
            hint="E.g. 'steelmaking monthly report 2026-03'.",
        )
    if existing is None:
        existing = CorrectionInput(
            enterprise_id=process.site.enterprise_id, process_id=process.id, name=name, period_kind=kind, period=label
        )
    existing.value, existing.unit, existing.source, existing.entered_by = (
        number,
        definition.unit,
        source,
        principal.name,
    )
    await existing.save()
    await record(
        principal,
        "benchmarking.input.set",
        entity_type="correction_input",
        entity_id=f"{process.id}/{name}/{label}",
        enterprise_id=process.site.enterprise_id,
        before=before,
        after=_input_json(existing),
        summary=f"{process.code} {name} {label} = {units.exact_text(number)}",
    )
    return existing


def _input_json(row: CorrectionInput) -> dict[str, Any]:
    return {"value": units.exact_text(Decimal(row.value)), "unit": row.unit, "source": row.source}


@dataclasses.dataclass(frozen=True, slots=True)
class _Known:
    value: Decimal
    origin: str  # entered, months or facility
    source: str


class _Inputs:
    """The inputs of one process: entered per month or year, what its facilities say, and for a year without its own
    value, the months' values weighted by the process's monthly output (``outputs``) when every month with output has
    one."""

    def __init__(
        self,
        entered: Mapping[tuple[str, str], CorrectionInput],
        capacity: Decimal | None,
        facility: str,
        outputs: Mapping[str, Decimal] | None = None,
    ):
        self.entered = entered
        self.capacity = capacity
        self.facility = facility
        self.outputs = outputs or {}

    def get(self, name: str, label: str) -> _Known | None:
        keys = [(name, label)] + ([(name, label[:4])] if len(label) == 7 else [])
        for key in keys:
            row = self.entered.get(key)
            if row is not None:
                return _Known(Decimal(row.value), "entered", f"{row.source} ({row.period}, {row.entered_by})")
        if len(label) == 4:
            weighted = self._weighted(name, label)
            if weighted is not None:
                return weighted
        if name == "eaf_capacity" and self.capacity is not None:
            return _Known(self.capacity, "facility", f"capacity of {self.facility}")
        return None

    def _weighted(self, name: str, year: str) -> _Known | None:
        months = {m: o for m, o in self.outputs.items() if m.startswith(f"{year}-") and o > 0}
        rows = [self.entered.get((name, m)) for m in sorted(months)]
        if not months or any(r is None for r in rows):
            return None
        total = sum(months.values(), Decimal(0))
        value = sum((Decimal(r.value) * months[r.period] for r in rows if r is not None), Decimal(0)) / total
        return _Known(value, "months", f"the {len(rows)} months' values of {year} weighted by the process's output")


def _months_of(labels: Sequence[str]) -> list[str]:
    return [f"{year}-{month:02d}" for year in sorted({label[:4] for label in labels}) for month in range(1, 13)]


async def _inputs_of(
    principal: Principal,
    enterprise: Enterprise,
    process: Process,
    kind: PeriodKind,
    labels: Sequence[str],
    span: tuple[dt.datetime, dt.datetime],
    now: dt.datetime | None,
) -> _Inputs:
    wanted = set(labels) | {label[:4] for label in labels}
    if kind is PeriodKind.YEAR:
        wanted |= set(_months_of(labels))
    rows = await CorrectionInput.filter(process_id=process.id, period__in=sorted(wanted))
    outputs: dict[str, Decimal] = {}
    if kind is PeriodKind.YEAR and any(r.period_kind == "month" for r in rows):
        monthly = await statistics_of(principal, enterprise.id, PeriodKind.MONTH, *span, metric="energy",
                                      process=process, now=now)  # fmt: skip
        outputs = {row.label: row.output for row in monthly.rows if row.output is not None}
    eafs = await Facility.filter(process_id=process.id, active=True, facility_type__code="eaf", capacity__isnull=False)
    sized = [(Decimal(f.capacity), f.name) for f in eafs if f.capacity_unit.strip() == "t" and f.capacity is not None]
    largest = max(sized, default=None)
    return _Inputs(
        {(r.name, r.period): r for r in rows},
        largest[0] if largest is not None else None,
        largest[1] if largest is not None else "",
        outputs,
    )


# ---- one comparison -----------------------------------------------------------------------------------------------


def _applies(entry: Mapping[str, Any], kind: PeriodKind, label: str) -> bool:
    first = f"{label}-01" if kind is PeriodKind.MONTH else f"{label}-01-01"
    last = f"{label}-31" if kind is PeriodKind.MONTH else f"{label}-12-31"
    if entry.get("valid_from") and entry["valid_from"] > last:
        return False
    if entry.get("valid_until") and entry["valid_until"] < first:
        return False
    return not (entry["kind"] == "target" and entry.get("year") != int(label[:4]))


def _condition(entry: Mapping[str, Any], inputs: _Inputs, label: str) -> bool | str:
    """True when the entry's condition holds, False when not, a reason when it cannot be decided."""
    condition = entry.get("condition")
    if not condition:
        return True
    name = condition["input"]
    known = inputs.get(name, label)
    if known is None:
        definition = INPUTS[name]
        how = f"; the platform reads it from {definition.derived_from}" if definition.derived_from else ""
        return f"{name} ({definition.label_en}) is not known for {label}: enter it for the process{how}."
    if condition.get("min") is not None and known.value < Decimal(condition["min"]):
        return False
    return not (condition.get("max") is not None and known.value >= Decimal(condition["max"]))


def _correction(c: Mapping[str, Any], inputs: _Inputs, label: str) -> CorrectionOut:
    definition = INPUTS[c["input"]]
    known = inputs.get(c["input"], label)
    if known is None:
        if c.get("when_missing") == "zero":
            return CorrectionOut(
                input=c["input"],
                value=None,
                unit=definition.unit,
                origin="zero",
                source="not entered: taken as not used, as the entry says",
                adjustment="0",
            )
        return CorrectionOut(
            input=c["input"],
            value=None,
            unit=definition.unit,
            origin="missing",
            source=f"not entered for {label} (PUT /api/v1/benchmarking/inputs: the month's or the year's value)",
            adjustment=None,
        )
    points = known.value
    if c.get("below") is not None:
        points = max(Decimal(c["below"]) - known.value, Decimal(0))
    elif c.get("above") is not None:
        points = max(known.value - Decimal(c["above"]), Decimal(0))
    if c.get("max_points") is not None:
        points = min(points, Decimal(c["max_points"]))
    return CorrectionOut(
        input=c["input"],
        value=units.exact_text(known.value),
        unit=definition.unit,
        origin=known.origin,
        source=known.source,
        adjustment=units.exact_text(Decimal(c["coefficient"]) * points),
    )


def compare(entry: Mapping[str, Any], library: str, actual: Decimal, inputs: _Inputs, label: str) -> Comparison:
    """The actual against one entry in one period (its corrections applied where their inputs are known)."""
    corrections = [_correction(c, inputs, label) for c in entry.get("corrections") or []]
    adjustment = sum((Decimal(c.adjustment) for c in corrections if c.adjustment is not None), Decimal(0))
    unit = entry["unit"]
    levels: list[LevelOut] = []
    values: list[tuple[str, Decimal]] = []
    for level in entry["levels"]:
        base = Decimal(level["value"])
        value = base + adjustment
        gap = actual - value
        relative = (gap * _HUNDRED / abs(value)).quantize(_CENT, ROUND_HALF_EVEN) if value else None
        zh, en = level_label(level["name"])
        levels.append(
            LevelOut(
                name=level["name"],
                label=zh,
                label_en=en,
                base=units.exact_text(base),
                value=units.exact_text(value),
                gap=units.exact_text(gap),
                relative=f"{relative:.2f}" if relative is not None else None,
            )
        )
        values.append((level["name"], value))
    reached_at = next((i for i, (_, value) in enumerate(values) if actual <= value), None)
    reached = values[reached_at][0] if reached_at is not None else None
    if reached_at is None:
        worst_name, worst = values[-1]
        next_level, gap_to_next = worst_name, actual - worst
        zh, en = level_label(worst_name)
        text = f"未达{zh}, 超出 {_short(gap_to_next)} {unit}"
        text_en = f"Short of {en} by {_short(gap_to_next)} {unit}"
    elif reached_at == 0:
        next_level, gap_to_next = None, None
        zh, en = level_label(values[0][0])
        margin = values[0][1] - actual
        text = f"{zh}, 优于{zh} {_short(margin)} {unit}"
        text_en = f"{en[0].upper()}{en[1:]}, {_short(margin)} {unit} better than {en}"
    else:
        name, _ = values[reached_at]
        next_level, better = values[reached_at - 1]
        gap_to_next = actual - better
        zh, en = level_label(name)
        nzh, nen = level_label(next_level)
        text = f"{zh}, 距{nzh} {_short(gap_to_next)} {unit}"
        text_en = f"{en[0].upper()}{en[1:]}, {_short(gap_to_next)} {unit} from {nen}"
    limit: Decimal | None = None
    if entry["kind"] == "limit":
        limit = dict(values)[entry["limit_level"]]
    missing = [c.input for c in corrections if c.adjustment is None]
    return Comparison(
        entry=entry["code"],
        kind=entry["kind"],
        library=library,
        name=entry["name"],
        name_en=entry.get("name_en", ""),
        edition=entry.get("edition", ""),
        confidence=entry.get("confidence", ""),
        levels=levels,
        reached=reached,
        next_level=next_level,
        gap_to_next=_text(gap_to_next),
        text=text,
        text_en=text_en,
        limit=_text(limit),
        breach=(actual > limit) if limit is not None else None,
        corrected=not missing,
        corrections=corrections,
        missing=missing,
    )


def _trend(actuals: Sequence[Decimal]) -> TrendOut:
    if len(actuals) < 2:
        only = _text(actuals[0]) if actuals else None
        return TrendOut(first=only, last=only, change=None, slope=None, direction=None)
    n = Decimal(len(actuals))
    xs = [Decimal(i) for i in range(len(actuals))]
    mean_x, mean_y = sum(xs, Decimal(0)) / n, sum(actuals, Decimal(0)) / n
    covariance = sum(((x - mean_x) * (y - mean_y) for x, y in zip(xs, actuals, strict=True)), Decimal(0))
    slope = covariance / sum(((x - mean_x) ** 2 for x in xs), Decimal(0))
    change = actuals[-1] - actuals[0]
    direction = "improving" if change < 0 else "worsening" if change > 0 else "flat"
    return TrendOut(
        first=_text(actuals[0]),
        last=_text(actuals[-1]),
        change=_text(change),
        slope=_text(slope.quantize(Decimal("0.0001"), ROUND_HALF_EVEN)),
        direction=direction,
    )


# ---- the analysis -------------------------------------------------------------------------------------------------


async def analyse(
    principal: Principal,
    enterprise_id: int,
    kind: PeriodKind,
    first: str,
    last: str,
    *,
    process: Process | None = None,
    indicators: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    national_version: int | None = None,
    enterprise_version: int | None = None,
    include_enterprise: bool = True,
    now: dt.datetime | None = None,
) -> Analysis:
    """The gap analysis of the enterprise's processes (or ``process``) and, unless ``process`` is given, of the
    enterprise as a whole, for the periods ``first``..``last`` (both included) of ``kind`` (month or year).

    ``kinds`` restricts the entries compared (e.g. only limits) and skips what has none to compare with."""
    if kind not in MAX_PERIODS:
        raise BenchmarkError(f"No period {kind.value!r} for benchmarking.", hint="Ask for month or year.")
    wanted = list(indicators or INDICATORS)
    unknown = [i for i in wanted if i not in INDICATORS]
    if unknown:
        raise BenchmarkError(f"No indicator {unknown[0]!r}.", hint=f"Indicators: {', '.join(INDICATORS)}.")
    labels = _labels(kind, first, last)
    enterprise = await enterprise_for(principal, enterprise_id)
    zone = zoneinfo.ZoneInfo(enterprise.timezone)
    national = await version_of(NATIONAL, national_version)
    own_library = enterprise_library(enterprise.id)
    own = await version_of(own_library, enterprise_version)
    versions = {NATIONAL: national.number if national else 0, own_library: own.number if own else 0}
    entries: list[tuple[str, Mapping[str, Any]]] = [
        *((NATIONAL, e) for e in (national.entries if national else [])),
        *((own_library, e) for e in (own.entries if own else [])),
    ]
    if kinds is not None:
        entries = [(lib, e) for lib, e in entries if e["kind"] in kinds]
    start = _start(kind, labels[0], zone)
    end = period_of(kind, _start(kind, labels[-1], zone), zone)[1]
    subjects: list[SubjectOut] = []
    if process is not None:
        processes = [process]
    else:
        processes = await Process.filter(site__enterprise_id=enterprise.id, active=True).order_by("site_id", "code")
    for p in processes:
        await p.fetch_related("process_type")
        mine = [
            (lib, e)
            for lib, e in entries
            if e.get("process_type") == p.process_type.code and e.get("process_code") in (None, p.code)
        ]
        inputs = await _inputs_of(principal, enterprise, p, kind, labels, (start, end), now)
        series = await _series(
            principal, enterprise, kind, start, end, labels, zone, wanted, mine, inputs, p, kinds, now
        )
        if series or kinds is None:
            subjects.append(
                SubjectOut(
                    process_id=p.id, code=p.code, name=p.name, process_type=p.process_type.code, indicators=series
                )
            )
    if process is None and include_enterprise:
        mine = [(lib, e) for lib, e in entries if e.get("process_type") is None]
        series = await _series(
            principal, enterprise, kind, start, end, labels, zone, wanted, mine, _Inputs({}, None, ""), None, kinds, now
        )
        if series or kinds is None:
            subjects.append(
                SubjectOut(
                    process_id=None, code=enterprise.code, name=enterprise.name, process_type=None, indicators=series
                )
            )
    return Analysis(
        enterprise_id=enterprise.id,
        period=kind.value,
        periods=labels,
        timezone=enterprise.timezone,
        versions=versions,
        subjects=subjects,
    )


async def _series(
    principal: Principal,
    enterprise: Enterprise,
    kind: PeriodKind,
    start: dt.datetime,
    end: dt.datetime,
    labels: Sequence[str],
    zone: zoneinfo.ZoneInfo,
    wanted: Sequence[str],
    entries: Sequence[tuple[str, Mapping[str, Any]]],
    inputs: _Inputs,
    process: Process | None,
    kinds: Sequence[str] | None,
    now: dt.datetime | None,
) -> list[IndicatorSeries]:
    out = []
    for code in wanted:
        indicator = INDICATORS[code]
        relevant = [(lib, e) for lib, e in entries if e["indicator"] == code]
        if kinds is not None and not relevant:
            continue
        stats = await statistics_of(
            principal, enterprise.id, kind, start, end, metric=indicator.metric, process=process, now=now
        )
        rows = {row.label: row for row in stats.rows}
        periods: list[PeriodOut] = []
        actuals: list[Decimal] = []
        for label in labels:
            row = rows.get(label)
            actual = row.intensity if row is not None else None
            comparisons: list[Comparison] = []
            unresolved: list[Unresolved] = []
            if actual is not None:
                actuals.append(actual)
                for library, entry in relevant:
                    if not _applies(entry, kind, label):
                        continue
                    holds = _condition(entry, inputs, label)
                    if isinstance(holds, str):
                        unresolved.append(Unresolved(entry=entry["code"], reason=holds))
                    elif holds:
                        comparisons.append(compare(entry, library, actual, inputs, label))
            periods.append(
                PeriodOut(
                    period=label,
                    period_start=_start(kind, label, zone),
                    actual=_text(actual),
                    output=_text(row.output) if row is not None else None,
                    complete=bool(row is not None and row.complete),
                    as_of=row.as_of if row is not None else None,
                    lineage=f"/api/v1/emissions/{row.result_id}/lineage" if row is not None and row.result_id else None,
                    comparisons=comparisons,
                    unresolved=unresolved,
                )
            )
        out.append(
            IndicatorSeries(
                indicator=code,
                unit=indicator.unit,
                name=indicator.name,
                name_en=indicator.name_en,
                periods=periods,
                trend=_trend(actuals),
            )
        )
    return out


# ---- limit alarms -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class LimitReport:
    """What one evaluation did."""

    enterprises: int = 0
    compared: int = 0
    raised: int = 0  # raised, or seen again above the limit
    cleared: int = 0
    errors: dict[int, str] = dataclasses.field(default_factory=dict)


def _cause(process_id: int, entry: str) -> str:
    return f"{AlarmKind.ENERGY_LIMIT.value}:{process_id}:{entry}"


async def evaluate_limits(settings: Settings, now: dt.datetime | None = None) -> LimitReport:
    """Compare every active process with its limits (process energy per tonne) in its latest month with a figure (the
    running month, else the month before); raise an ``energy_limit`` alarm above the corrected limit, clear it once
    within. An alarm whose limit or process is gone is cleared too; a process with no figure keeps its alarm."""
    now = now or dt.datetime.now(dt.UTC)
    report = LimitReport()
    service = AlarmService(settings)
    principal = Principal.system("benchmarking")
    for enterprise in await Enterprise.filter(active=True).order_by("id"):
        report.enterprises += 1
        zone = zoneinfo.ZoneInfo(enterprise.timezone)
        this_month = period_of(PeriodKind.MONTH, now, zone)[0]
        before = period_of(PeriodKind.MONTH, this_month - dt.timedelta(microseconds=1), zone)[0]
        first, last = (m.astimezone(zone).strftime("%Y-%m") for m in (before, this_month))
        try:
            analysis = await analyse(
                principal,
                enterprise.id,
                PeriodKind.MONTH,
                first,
                last,
                indicators=("process_energy",),
                kinds=("limit",),
                include_enterprise=False,
                now=now,
            )
        except NoSourceInventoryError:
            continue  # nothing accounted yet: nothing to compare (and no alarm of its own to clear)
        except Exception as err:  # noqa: BLE001 - one enterprise's trouble must not stop the others' alarms
            report.errors[enterprise.id] = str(err)[:300]
            continue
        applicable: set[str] = set()
        unjudged: set[int] = set()
        for subject in analysis.subjects:
            if subject.process_id is None:
                continue
            for series in subject.indicators:
                figured = [p for p in series.periods if p.actual is not None]
                if not figured:  # no figure to judge by: its alarms stay as they are
                    unjudged.add(subject.process_id)
                    continue
                latest = figured[-1]
                for comparison in latest.comparisons:
                    cause = _cause(subject.process_id, comparison.entry)
                    applicable.add(cause)
                    report.compared += 1
                    if comparison.breach:
                        await _raise(service, enterprise, subject, series.unit, latest, comparison, analysis, cause)
                        report.raised += 1
                    elif await service.clear_cause(cause, note=f"{latest.period}: within {comparison.limit}"):
                        report.cleared += 1
                for unresolved in latest.unresolved:  # undecided (e.g. the EAF's size unknown): left as it is
                    applicable.add(_cause(subject.process_id, unresolved.entry))
        stale = await Alarm.filter(
            enterprise_id=enterprise.id,
            kind=AlarmKind.ENERGY_LIMIT,
            state__in=[AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED],
        ).values_list("cause", flat=True)
        for cause in (str(c) for c in stale):
            process_id = cause.split(":")[1]
            if process_id.isdigit() and int(process_id) in unjudged:
                continue
            if cause not in applicable and await service.clear_cause(
                cause, note="no limit applies any more (entry removed or process inactive)"
            ):
                report.cleared += 1
    return report


async def _raise(
    service: AlarmService,
    enterprise: Enterprise,
    subject: SubjectOut,
    unit: str,
    period: PeriodOut,
    comparison: Comparison,
    analysis: Analysis,
    cause: str,
) -> None:
    if subject.process_id is None or comparison.limit is None or period.actual is None:
        return
    over = Decimal(period.actual) - Decimal(comparison.limit)
    uncorrected = f"; not corrected for {', '.join(comparison.missing)} (not entered)" if comparison.missing else ""
    message = (
        f"{subject.name} {period.period}: {_short(Decimal(period.actual))} {unit} above the limit "
        f"{_short(Decimal(comparison.limit))} {unit} of {comparison.name_en or comparison.name} by {_short(over)} "
        f"{unit}{uncorrected}"
    )
    process = await Process.get(id=subject.process_id).prefetch_related("process_type")
    await service.raise_alarm(
        enterprise.id,
        AlarmKind.ENERGY_LIMIT,
        Severity.MAJOR,
        "process",
        str(subject.process_id),
        message,
        detail={
            "period": period.period,
            "actual": period.actual,
            "limit": comparison.limit,
            "over": units.exact_text(over),
            "unit": unit,
            "entry": comparison.entry,
            "library": comparison.library,
            "edition": comparison.edition,
            "versions": analysis.versions,
            "missing": comparison.missing,
            "text": comparison.text,
            "text_en": comparison.text_en,
        },
        cause=cause,
        # the figure's own time: the same figure seen again every run changes nothing; a figure accounted again with
        # new inputs and still above counts one more occurrence
        at=period.as_of,
        names={"process": process.name, "process_en": process.process_type.name_en},
    )
