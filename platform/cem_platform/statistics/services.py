"""Carbon statistics (standard 5.4.4): totals, structure, intensity and comparisons, over the kept results.

Every figure is read from the kept accounting results (:func:`cem_platform.accounting.reads.kept_results`):
nothing is accounted again here and nothing is written, so a statistic and the emissions route give the same
number to the last digit. What this module adds is arithmetic on those figures, all in ``Decimal``:

* **totals** per period and over the range (exact sums of the periods' figures);
* **structure**: each part's signed contribution to the net (the five terms of GB/T 32151.5, the source
  categories, or the processes with what is not allocated to one), as shares of the net that add to exactly
  100.00 % (rounded to 0.01 % by the largest remainder, so the rounding never shows as 99.99 %);
* **intensity**: tCO2 per tonne of crude steel (enterprise) or of the process's product (process);
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

from cem_platform.accounting import reads, reporting
from cem_platform.accounting.inventory import enterprise_for
from cem_platform.accounting.library import CategoryGroup, SourceCategory
from cem_platform.accounting.models import PeriodKind
from cem_platform.accounting.periods import period_of
from cem_platform.accounting.scopes import CN_ETS_STEEL, scope_total
from cem_platform.errors import InvalidInputError
from cem_platform.identity.principal import Principal
from cem_platform.org.models import Enterprise, Process, Site

__all__ = [
    "COMPARISONS",
    "DIMENSIONS",
    "METRICS",
    "UNALLOCATED",
    "Change",
    "Part",
    "Row",
    "Statistics",
    "StatisticsError",
    "Total",
    "emission_statistics",
    "period_label",
    "shares",
    "year_earlier",
]

METRICS = ("emissions",)
DIMENSIONS = ("group", "category", "process")
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
    a zero one to divide by). ``index`` is the fixed-base index (base = 100)."""

    period_start: dt.datetime
    label: str
    value: Decimal | None
    change: Decimal | None
    percent: Decimal | None
    index: Decimal | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One period: its figures as kept, their structure and its comparisons."""

    period_start: dt.datetime
    period_end: dt.datetime
    label: str
    net: Decimal
    direct: Decimal
    parts: tuple[Part, ...]
    output: Decimal | None
    intensity: Decimal | None
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
    direct: Decimal
    parts: tuple[Part, ...]
    output: Decimal | None  # None unless every period has its output
    intensity: Decimal | None
    complete: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Statistics:
    """A statistics answer: the scope, the rows period by period, the range's total and the names of parts."""

    enterprise: Enterprise
    process: Process | None
    site: Site | None
    kind: PeriodKind
    dimension: str
    compare: tuple[str, ...]
    base: Row | None
    rows: tuple[Row, ...]
    total: Total
    names: Mapping[str, str]  # process code -> name (dimension process)


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


def _change(start: dt.datetime, label: str, now: Decimal, other: Decimal | None, base: bool = False) -> Change:
    if other is None:
        return Change(start, label, None, None, None)
    percent = _ratio((now - other) * _HUNDRED, abs(other) if other else None)
    index = _ratio(now * _HUNDRED, other) if base else None
    return Change(
        start,
        label,
        other,
        now - other,
        percent.quantize(_CENT, ROUND_HALF_EVEN) if percent is not None else None,
        index.quantize(_CENT, ROUND_HALF_EVEN) if index is not None else None,
    )


def _entries(figures: reads.KeptFigures, codes: tuple[str, ...]) -> list[Mapping[str, Any]]:
    return [figures.by_process.get(code) or {} for code in codes]


def _parts(figures: reads.KeptFigures, codes: tuple[str, ...] | None, dimension: str) -> dict[str, Decimal]:
    """The signed contributions to the net of one period, by ``dimension`` (``codes``: the processes of the scope;
    None: the enterprise)."""
    if codes is not None:
        entries = _entries(figures, codes)
        if dimension == "group":
            return {g: _signed_group(g, sum((Decimal(e.get(g, "0")) for e in entries), Decimal(0))) for g in _GROUPS}
        if dimension == "category":
            by_category: dict[str, Decimal] = {}
            for entry in entries:
                for key, value in (entry.get("by_category") or {}).items():
                    by_category[key] = by_category.get(key, Decimal(0)) + Decimal(value)
            return _signed_categories(by_category)
        return {code: Decimal(entry.get("net", "0")) for code, entry in zip(codes, entries, strict=True)}
    if dimension == "group":
        values = (getattr(figures, c) for c in _GROUP_COLUMNS)
        return {g: _signed_group(g, v) for g, v in zip(_GROUPS, values, strict=True)}
    if dimension == "category":
        return _signed_categories(figures.by_category)
    parts = {
        (code or UNALLOCATED): Decimal(entry.get("net", "0")) for code, entry in figures.by_process.items() if entry
    }
    # what no process carries shows as such; the parts add up to the enterprise's net exactly
    rest = figures.net - sum(parts.values(), Decimal(0))
    if rest or UNALLOCATED in parts:
        parts[UNALLOCATED] = parts.get(UNALLOCATED, Decimal(0)) + rest
    return parts


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


def _terms(figures: reads.KeptFigures, codes: tuple[str, ...] | None) -> dict[str, Decimal]:
    if codes is None:
        values = [getattr(figures, c) for c in _GROUP_COLUMNS]
        return dict(zip(_GROUPS, values, strict=True))
    entries = _entries(figures, codes)
    return {g: sum((Decimal(e.get(g, "0")) for e in entries), Decimal(0)) for g in _GROUPS}


def _net(figures: reads.KeptFigures, codes: tuple[str, ...] | None) -> Decimal:
    if codes is None:
        return figures.net
    return sum((Decimal(e.get("net", "0")) for e in _entries(figures, codes)), Decimal(0))


def _intensity(figures: reads.KeptFigures, codes: tuple[str, ...] | None) -> Decimal | None:
    """Per tonne of crude steel (enterprise) or of the process's product (one process; a site has no one product)."""
    if codes is None:
        return figures.intensity
    if len(codes) != 1:
        return None
    text = (figures.by_process.get(codes[0]) or {}).get("intensity")
    return Decimal(text) if text else None


def _row(
    view: reads.PeriodView,
    kind: PeriodKind,
    zone: zoneinfo.ZoneInfo,
    codes: tuple[str, ...] | None,
    dimension: str,
    comparisons: Mapping[str, Change] | None = None,
) -> Row:
    figures = view.result
    values = _parts(figures, codes, dimension)
    share = shares(values)
    return Row(
        period_start=figures.period_start,
        period_end=figures.period_end,
        label=period_label(kind, figures.period_start, zone),
        net=_net(figures, codes),
        direct=scope_total(CN_ETS_STEEL, _terms(figures, codes)),
        parts=tuple(Part(k, v, share[k]) for k, v in values.items()),
        output=figures.crude_steel if codes is None else None,
        intensity=_intensity(figures, codes),
        complete=figures.complete,
        estimated=figures.estimated,
        final=figures.final,
        kept=view.kept,
        pending=view.pending,
        as_of=view.as_of,
        result_id=figures.id if view.kept else None,
        comparisons=comparisons or {},
    )


def _total(rows: Sequence[Row], codes: tuple[str, ...] | None) -> Total:
    parts: dict[str, Decimal] = {}
    for row in rows:
        for part in row.parts:
            parts[part.key] = parts.get(part.key, Decimal(0)) + part.value
    share = shares(parts)
    net = sum((r.net for r in rows), Decimal(0))
    outputs = [r.output for r in rows]
    output = None
    if rows and codes is None and all(o is not None for o in outputs):
        output = sum((o for o in outputs if o is not None), Decimal(0))
    return Total(
        periods=len(rows),
        net=net,
        direct=sum((r.direct for r in rows), Decimal(0)),
        parts=tuple(Part(k, v, share[k]) for k, v in parts.items()),
        output=output,
        intensity=_ratio(net, output),
        complete=all(r.complete for r in rows),
    )


def check_question(metric: str, dimension: str, compare: Sequence[str], process: bool) -> None:
    """Refuse an unknown metric, dimension or comparison with what to ask instead."""
    if metric not in METRICS:
        raise StatisticsError(
            f"No metric {metric!r}.", hint=f"Ask for one of: {', '.join(METRICS)} (tCO2, from the kept results)."
        )
    if dimension not in DIMENSIONS:
        raise StatisticsError(
            f"No dimension {dimension!r}.",
            hint="group: the five terms of GB/T 32151.5; category: the source categories; process: the processes.",
        )
    if process and dimension == "process":
        raise StatisticsError(
            "A process is not divided by process.", hint="Ask dimension=process for the enterprise instead."
        )
    unknown = [c for c in compare if c not in COMPARISONS]
    if unknown:
        raise StatisticsError(
            f"No comparison {unknown[0]!r}.",
            hint="compare takes yoy (同比), pop (环比) and base (定比, with base=<a date in the base period>).",
        )


async def emission_statistics(
    principal: Principal,
    enterprise_id: int,
    kind: PeriodKind,
    start: dt.datetime,
    end: dt.datetime,
    *,
    process: Process | None = None,
    site: Site | None = None,
    dimension: str = "group",
    compare: Sequence[str] = (),
    base: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Statistics:
    """The statistics of the enterprise (or of ``process``, or of ``site``: the sum of its processes) for every
    period of ``kind`` meeting [start, end)."""
    check_question("emissions", dimension, compare, process is not None)
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
    one = codes[0] if process is not None and codes else None

    async def views(
        lo: dt.datetime, hi: dt.datetime, live_limit: int = reads.MAX_LIVE_PERIODS
    ) -> dict[dt.datetime, reads.PeriodView]:
        await reporting.check_verifier_range(principal, enterprise, lo, hi)
        found = await reads.kept_results(
            principal, enterprise.id, kind, lo, hi, process_code=one,
            processes=site is not None or dimension == "process", live_limit=live_limit, now=now,
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
        if found is None or not _net(found.result, codes):
            raise StatisticsError(
                f"The base period {period_label(kind, base_lo, zone)} has no emissions to compare with.",
                hint="Choose a base period with accounted emissions (base=<a date in it>).",
            )
        base_row = _row(found, kind, zone, codes, dimension)

    def value(lo: dt.datetime | None) -> tuple[Decimal | None, str]:
        if lo is None:
            return None, ""
        view = current.get(lo) or earlier.get(lo)
        return (_net(view.result, codes) if view is not None else None), period_label(kind, lo, zone)

    rows = []
    for lo in periods:
        view = current[lo]
        net = _net(view.result, codes)
        comparisons: dict[str, Change] = {}
        if "yoy" in compare:
            other = year_ago.get(lo)
            previous, label = value(other)
            comparisons["yoy"] = _change(other or lo, label, net, previous)
        if "pop" in compare:
            other = period_of(kind, lo - dt.timedelta(microseconds=1), zone)[0]
            previous, label = value(other)
            comparisons["pop"] = _change(other, label, net, previous)
        if base_row is not None:
            comparisons["base"] = _change(base_row.period_start, base_row.label, net, base_row.net, base=True)
        rows.append(_row(view, kind, zone, codes, dimension, comparisons))
    names: dict[str, str] = {}
    if dimension == "process":
        processes = await Process.filter(site__enterprise_id=enterprise.id).values_list("code", "name")
        names = dict(processes)
    return Statistics(
        enterprise=enterprise,
        process=process,
        site=site,
        kind=kind,
        dimension=dimension,
        compare=tuple(c for c in COMPARISONS if c in compare),
        base=base_row,
        rows=tuple(rows),
        total=_total(rows, codes),
        names=names,
    )
