"""Route of the statistics service (standard 5.4.4): ``GET /api/v1/statistics``.

Figures travel as exact decimal strings (tCO2 or tce, t, tCO2/t or kgce/t) as the accounting routes give them;
shares, changes in per cent and fixed-base indexes are rounded to 0.01. Periods are the enterprise's local days,
ISO weeks, months and years, and hours.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import QueryParameter

from cem_platform.accounting import inventory, units
from cem_platform.accounting.models import EmissionSource, PeriodKind
from cem_platform.accounting.periods import parse_instant, period_of
from cem_platform.accounting.scopes import CN_ETS_STEEL
from cem_platform.errors import NotFoundError
from cem_platform.identity.http import principal_of, requires
from cem_platform.identity.roles import Permission
from cem_platform.org.models import Facility, Process, Site
from cem_platform.statistics.services import (
    COMPARISONS,
    SCOPES,
    UNALLOCATED,
    Change,
    Part,
    Row,
    StatisticsError,
    Total,
    check_question,
    default_dimension,
    statistics_of,
)

__all__ = ["StatisticsController"]

AnyRequest = Request[Any, Any, Any]
_SCOPE_PATTERN = f"^({'|'.join(SCOPES)})$"


def _text(value: Decimal | None) -> str | None:
    """Exact decimal text without exponent or trailing zeros (as the accounting routes write it)."""
    return None if value is None else units.exact_text(value)


class PartOut(msgspec.Struct, kw_only=True):
    """One part of the structure: its signed contribution to the net (tCO2) and its share of the net (%)."""

    key: str  # a term, category, carrier, process or source code, or "_unallocated" (booked to no process)
    name: str  # the process's or source's name (dimension process or source); empty otherwise
    value: str
    share: str | None  # %, 0.01; the shares of a period add to exactly 100.00; null when the net is 0


class ChangeOut(msgspec.Struct, kw_only=True):
    """A comparison of the net with another period: its net, the difference and the change in %."""

    period: str  # the other period's label
    period_start: dt.datetime
    value: str | None  # null: no kept figure for that period
    change: str | None
    percent: str | None  # null when the other figure is missing or zero
    index: str | None = None  # fixed-base index, base = 100 (compare=base only)
    # a running period is compared like for like: the other period up to the same point, which ends here
    until: dt.datetime | None = None


class RowOut(msgspec.Struct, kw_only=True):
    """One period."""

    period: str  # 2025, 2025-03, 2025-W10, 2025-03-04 or 2025-03-04 13:00 (local)
    period_start: dt.datetime
    period_end: dt.datetime
    net: str  # emissions: the net, tCO2; energy: the net consumption, tce
    direct: str | None  # emissions: the national carbon market's scope (combustion + process − fixed carbon)
    parts: list[PartOut]
    output: str | None  # crude steel (enterprise) or the process's product, t
    intensity: str | None  # per t of that output: tCO2/t (emissions) or kgce/t (energy)
    output_value: str | None  # the enterprise's output value (产值), 10^4 CNY, where it is entered
    value_intensity: str | None  # per 10^4 CNY of it: tCO2/10^4 CNY or tce/10^4 CNY
    complete: bool
    estimated: bool
    final: bool
    kept: bool
    pending: bool
    as_of: dt.datetime
    lineage: str | None  # the result that explains the figures
    yoy: ChangeOut | None = None
    pop: ChangeOut | None = None
    base: ChangeOut | None = None


class TotalOut(msgspec.Struct, kw_only=True):
    """The whole range: exact sums of its periods."""

    periods: int
    net: str
    direct: str | None
    parts: list[PartOut]
    output: str | None  # null unless every period has its crude steel output
    intensity: str | None
    output_value: str | None  # null unless every period has its output value
    value_intensity: str | None
    complete: bool  # every period of the range is here and complete


class CoefficientOut(msgspec.Struct, kw_only=True):
    """A library coefficient the answer used (energy, electricity by the equal value)."""

    code: str
    value: str
    unit: str
    version: str
    source: str


class StatisticsPage(msgspec.Struct, kw_only=True):
    """Statistics of an enterprise or a process, period by period, with the range's total."""

    metric: str
    unit: str  # tCO2 or tce
    intensity_unit: str  # tCO2/t or kgce/t
    value_intensity_unit: str  # tCO2/10^4 CNY or tce/10^4 CNY (per 万元 of output value)
    value_note: str | None  # why (some) periods have no intensity per output value, and how to enter it
    electricity: str | None  # energy: equivalent (当量值) or equal_value (等价值)
    coefficient: CoefficientOut | None  # energy by the equal value: the coefficient used
    scope: str
    id: int
    name: str
    period: str
    timezone: str
    dimension: str
    compare: list[str]
    direct_scope: str
    base: RowOut | None
    rows: list[RowOut]
    total: TotalOut


def _parts_out(parts: tuple[Part, ...], names: dict[str, str]) -> list[PartOut]:
    return [
        PartOut(key=p.key, name=names.get(p.key, ""), value=units.exact_text(p.value), share=_text_share(p.share))
        for p in parts
    ]


def _text_share(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _change_out(change: Change | None) -> ChangeOut | None:
    if change is None:
        return None
    return ChangeOut(
        period=change.label,
        period_start=change.period_start,
        value=_text(change.value),
        change=_text(change.change),
        percent=_text_share(change.percent),
        index=_text_share(change.index),
        until=change.until,
    )


def _row_out(row: Row, names: dict[str, str]) -> RowOut:
    return RowOut(
        period=row.label, period_start=row.period_start, period_end=row.period_end, net=units.exact_text(row.net),
        direct=_text(row.direct), parts=_parts_out(row.parts, names), output=_text(row.output),
        intensity=_text(row.intensity), output_value=_text(row.output_value),
        value_intensity=_text(row.value_intensity), complete=row.complete, estimated=row.estimated, final=row.final,
        kept=row.kept, pending=row.pending, as_of=row.as_of,
        lineage=f"/api/v1/emissions/{row.result_id}/lineage" if row.result_id is not None else None,
        yoy=_change_out(row.comparisons.get("yoy")), pop=_change_out(row.comparisons.get("pop")),
        base=_change_out(row.comparisons.get("base")),
    )  # fmt: skip


def _total_out(total: Total, names: dict[str, str]) -> TotalOut:
    return TotalOut(
        periods=total.periods, net=units.exact_text(total.net), direct=_text(total.direct),
        parts=_parts_out(total.parts, names), output=_text(total.output), intensity=_text(total.intensity),
        output_value=_text(total.output_value), value_intensity=_text(total.value_intensity), complete=total.complete,
    )  # fmt: skip


class StatisticsController(Controller):
    """Energy and carbon statistics: totals, structure, intensity and comparisons over the kept results (5.4.4)."""

    path = "/statistics"
    tags = ["statistics"]

    @get("/", guards=[requires(Permission.EMISSIONS_READ)], summary="Energy and carbon statistics by period")
    async def statistics(
        self,
        request: AnyRequest,
        scope_kind: Annotated[str, QueryParameter(name="scope", pattern=_SCOPE_PATTERN)],
        scope_id: Annotated[int, QueryParameter(name="id")],
        period: Annotated[str, QueryParameter(description="hour, day, week (ISO), month or year")],
        start: Annotated[str, QueryParameter(name="from", description="YYYY-MM-DD, YYYY-MM or ISO instant")],
        end: Annotated[
            str | None, QueryParameter(name="to", description="exclusive; omitted: the one period holding `from`")
        ] = None,
        metric: Annotated[
            str, QueryParameter(description="emissions (tCO2) or energy (tce)", max_length=20)
        ] = "emissions",
        dimension: Annotated[
            str | None,
            QueryParameter(
                description="emissions: group (the five terms, default), category, process (enterprise, site) or "
                "source (facility); energy: carrier (default), process (enterprise, site) or source (facility)",
                max_length=20,
            ),
        ] = None,
        electricity: Annotated[
            str,
            QueryParameter(
                description="energy: electricity by the equivalent value (当量值, default) or equal_value (等价值)",
                max_length=20,
            ),
        ] = "equivalent",
        compare: Annotated[
            str, QueryParameter(description="comma list of yoy (同比), pop (环比), base (定比)", max_length=40)
        ] = "",
        base: Annotated[
            str | None, QueryParameter(description="a date in the fixed-base period (compare=base)", max_length=40)
        ] = None,
    ) -> StatisticsPage:
        """Emissions (tCO2) or energy (tce, standard coal equivalent per GB/T 2589): totals, structure (each part's
        signed share of the net, adding to 100.00 %), intensity and the
        comparisons asked for, period by period and over the range. Every figure is the kept result's, exactly
        as the emissions route gives it (this route accounts nothing and writes nothing); each period links to
        the result that explains it and says whether it is complete, estimated or pending recalculation.

        Periods: ``hour`` (at most a week), ``day`` (about a year), ``week`` (ISO weeks in the enterprise's
        zone), ``month``, ``year``. ``yoy`` compares with the same period a year earlier (the same ISO week
        number for weeks), ``pop`` with the period before, ``base`` with the period holding ``base`` as an index
        (base = 100). The process dimension adds ``_unallocated``: what is booked to no process (e.g.
        purchased electricity without sub-meters), never spread over the processes. A site's figures are the sum
        of its processes' (what is booked to no process belongs to no site). A facility's are the sum of its
        sources' (dimension ``source``), a source's its own lines of the lineage (where it counts; the maker's side
        of a transfer counts at the maker's process); they have no product of their own, so no intensity per t.

        Where the enterprise enters its output value (产值: an output of item ``output_value``, in 10^4 CNY), the
        enterprise's periods have ``output_value`` and ``value_intensity`` (tCO2 or tce per 10^4 CNY); ``value_note``
        says why a period, or another scope, has none."""
        principal = principal_of(request)
        kinds = {k.value: k for k in PeriodKind}
        if period not in kinds:
            raise StatisticsError(f"No period {period!r}.", hint="Ask for hour, day, week, month or year.")
        kind = kinds[period]
        wanted = tuple(c.strip() for c in compare.split(",") if c.strip())
        dimension = dimension or default_dimension(metric)
        check_question(metric, dimension, wanted, scope_kind)
        process: Process | None = None
        site: Site | None = None
        facility: Facility | None = None
        source: EmissionSource | None = None
        if scope_kind == "process":
            process = await Process.get_or_none(id=scope_id).prefetch_related("site")
            if process is None or not principal.scope.sees_enterprise(process.site.enterprise_id):
                raise NotFoundError(f"No process {scope_id} within your scope.")
            enterprise_id = process.site.enterprise_id
        elif scope_kind == "site":
            site = await Site.get_or_none(id=scope_id)
            if site is None or not principal.scope.sees_enterprise(site.enterprise_id):
                raise NotFoundError(f"No site {scope_id} within your scope.")
            enterprise_id = site.enterprise_id
        elif scope_kind == "facility":
            facility = await Facility.get_or_none(id=scope_id).prefetch_related("process__site")
            if facility is None or not principal.scope.sees_enterprise(facility.process.site.enterprise_id):
                raise NotFoundError(f"No facility {scope_id} within your scope.")
            enterprise_id = facility.process.site.enterprise_id
        elif scope_kind == "source":
            source = await EmissionSource.get_or_none(id=scope_id)
            if source is None or not principal.scope.sees_enterprise(source.enterprise_id):
                raise NotFoundError(f"No emission source {scope_id} within your scope.")
            enterprise_id = source.enterprise_id
        else:
            enterprise_id = scope_id
        enterprise = await inventory.enterprise_for(principal, enterprise_id)
        zone = zoneinfo.ZoneInfo(enterprise.timezone)
        first = parse_instant(start, zone, "from")
        last = period_of(kind, first, zone)[1] if end is None or not end.strip() else parse_instant(end, zone, "to")
        base_at = parse_instant(base, zone, "base") if base is not None and base.strip() else None
        stats = await statistics_of(
            principal, enterprise_id, kind, first, last, metric=metric, process=process, site=site, facility=facility,
            source=source, dimension=dimension, compare=wanted, base=base_at, electricity=electricity,
        )  # fmt: skip
        used = stats.equal_value
        names = dict(stats.names)
        if dimension == "process":
            names.setdefault(UNALLOCATED, "")
        return StatisticsPage(
            metric=metric, unit=stats.unit, intensity_unit=stats.intensity_unit,
            value_intensity_unit=stats.value_intensity_unit, value_note=stats.value_note, electricity=stats.electricity,
            coefficient=CoefficientOut(
                code=used.code, value=units.exact_text(used.value), unit=used.unit, version=used.version,
                source=used.source,
            ) if used is not None else None,
            scope=scope_kind, id=scope_id,
            name=(process or site or facility or source or enterprise).name, period=kind.value,
            timezone=enterprise.timezone, dimension=dimension, compare=[c for c in COMPARISONS if c in wanted],
            direct_scope=f"{CN_ETS_STEEL.code} v{CN_ETS_STEEL.version}",
            base=_row_out(stats.base, names) if stats.base is not None else None,
            rows=[_row_out(r, names) for r in stats.rows], total=_total_out(stats.total, names),
        )  # fmt: skip
