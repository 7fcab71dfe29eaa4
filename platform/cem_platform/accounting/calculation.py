"""Emission results: activity data of each period -> the engine -> stored, versioned results with lineage.

Results are kept, and reads never write. :func:`account_and_store` accounts periods and keeps the outcome; only
the refresh job (:mod:`cem_platform.accounting.refresh`, for ranges whose inputs changed) and an accountant's
audited :func:`recalculate` call it. :mod:`cem_platform.accounting.reads` answers reads from what is kept,
with its freshness.

Accounting a period reads the source
inventory; the activity of each input (meter rollups converted to the input's unit, or the entered, imported
and fed records, prorated when a record spans more than the period; records of a metered input substitute
for the meter over periods they cover entirely); the edition and library versions of the reporting year; and
calls :func:`cem_platform.accounting.engine.account`. The outcome's lineage is hashed (without the library
version numbers themselves, so a library change that does not touch a source's parameters changes nothing):
the same hash keeps the stored result, another hash stores a new version and the earlier one stays, marked
superseded. A period still running has one provisional row, refreshed in place. A year past draft (reported,
see :mod:`cem_platform.accounting.reporting`) is never accounted again into its kept results.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import hashlib
import secrets
import zoneinfo
from collections import defaultdict
from collections.abc import Container, Mapping, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

import msgspec
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from cem_platform.accounting import units
from cem_platform.accounting.balance import BALANCE, MADE, Peer, balanced
from cem_platform.accounting.energy import MEDIUM, EnergyCoefficients, MediumLine, energy_of
from cem_platform.accounting.engine import (
    AccountingResult,
    ParameterLineage,
    Quantity,
    SourceActivity,
    SourceResult,
    account,
)
from cem_platform.accounting.formulas import PRECISION, AccountingError
from cem_platform.accounting.inventory import OUTPUT, OUTPUT_VALUE, OUTPUT_VALUE_UNIT, balance_inputs, enterprise_for
from cem_platform.accounting.library import (
    EDITION_2015,
    CategoryGroup,
    Edition,
    GridFactor,
    GridFactorKind,
    SourceCategory,
)
from cem_platform.accounting.library_store import load_edition, load_energy, load_grid
from cem_platform.accounting.meters import (
    MeterQuantity,
    MeterRequest,
    MeterTerm,
    meter_quantities,
    meter_quantities_many,
)
from cem_platform.accounting.models import (
    ActivityRecord,
    EmissionResult,
    EmissionSource,
    PeriodKind,
    ReportingYear,
    ReportState,
    YearMethod,
)
from cem_platform.accounting.pending import mark
from cem_platform.accounting.periods import local_midnight, period_bounds, period_of, year_of
from cem_platform.audit import services as audit
from cem_platform.errors import ConflictError, NotFoundError
from cem_platform.identity.principal import Principal
from cem_platform.org.models import Enterprise, Process

__all__ = [
    "ENTERPRISE_LEVEL",
    "MAX_LIVE_PERIODS",
    "NoSourceInventoryError",
    "account_and_store",
    "account_aside",
    "fingerprint",
    "frozen_years",
    "get_result",
    "line_source",
    "lineage_json",
    "recalculate",
    "result_versions",
    "set_year_method",
    "stamp_results",
]

#: Process label of sources that belong to the enterprise as a whole (e.g. the grid tie).
ENTERPRISE_LEVEL = ""
#: Joins a transfer's code and its maker in the line id of the maker's side (``IR.COKE>CK``).
TRANSFER_MARK = ">"
#: Share of expected readings a meter needs over a period to count as complete (as ``meters.meter_quantity``).
METER_THRESHOLD = 0.99
_VOLATILE = frozenset({"library_version", "grid_version", "edition_version"})


class NoSourceInventoryError(AccountingError):
    """The enterprise has no emission source in service: its figures are unknown, not zero."""

    code = "no_source_inventory"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """Engine results as JSON values: decimals as exact text, enums by value, dataclasses as objects."""
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int or kind is float:
        return value
    if kind is Decimal:
        return units.exact_text(value)
    if kind is tuple or kind is list:
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value):
        names = _FIELDS.setdefault(kind, tuple(f.name for f in dataclasses.fields(value)))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, Mapping):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


#: The plain form of a source's parameter lineage, by the identity of the engine's tuple (the engine resolves a
#: source's parameters once and hands out the same tuple for every period: see ``engine._parameters``). The
#: tuple is kept with its form so that its id is never reused while the entry lives; bounded, cleared when full.
_PARAMETERS_PLAIN: dict[int, tuple[tuple[ParameterLineage, ...], list[Any]]] = {}
_PARAMETERS_PLAIN_MAX = 4096


def _parameters_plain(parameters: tuple[ParameterLineage, ...]) -> list[Any]:
    """``_plain(parameters)``, computed once per engine tuple. Lineages share the list: it is never mutated."""
    memo = _PARAMETERS_PLAIN.get(id(parameters))
    if memo is not None and memo[0] is parameters:
        return memo[1]
    plain: list[Any] = _plain(parameters)
    if len(_PARAMETERS_PLAIN) >= _PARAMETERS_PLAIN_MAX:
        _PARAMETERS_PLAIN.clear()
    _PARAMETERS_PLAIN[id(parameters)] = (parameters, plain)
    return plain


def _source_plain(source: SourceResult) -> dict[str, Any]:
    """``_plain(source)`` (same keys in the same order), its parameters from :func:`_parameters_plain`."""
    names = _FIELDS.get(SourceResult)
    if names is None:
        names = _FIELDS.setdefault(SourceResult, tuple(f.name for f in dataclasses.fields(SourceResult)))
    return {
        name: _parameters_plain(source.parameters) if name == "parameters" else _plain(getattr(source, name))
        for name in names
    }


def fingerprint(lineage: Mapping[str, Any]) -> str:
    """A hash of everything a result depends on, except the library version numbers themselves (a library
    change that does not touch a source's parameters leaves its figures, and so its result, as they were)."""
    stripped = {k: v for k, v in lineage.items() if k not in _VOLATILE}
    if "energy" in stripped:
        stripped["energy"] = {k: v for k, v in stripped["energy"].items() if k not in _VOLATILE}
    stripped["sources"] = [
        {k: v for k, v in source.items() if k != "edition_version"} for source in lineage.get("sources", [])
    ]
    # the same bytes as json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False), four times faster
    return hashlib.sha256(msgspec.json.encode(stripped, order="sorted")).hexdigest()


@dataclasses.dataclass(frozen=True)
class _Method:
    edition: Edition
    library_version: int
    grid: tuple[GridFactor, ...]
    grid_version: int
    energy: EnergyCoefficients


async def _method_for(enterprise_id: int, year: int, cache: dict[int, _Method]) -> _Method:
    if year in cache:
        return cache[year]
    chosen = await YearMethod.get_or_none(enterprise_id=enterprise_id, year=year)
    code = chosen.edition if chosen else EDITION_2015.code
    edition, number = await load_edition(code, chosen.library_version if chosen else None)
    grid, grid_number = await load_grid(chosen.grid_version if chosen else None)
    cache[year] = _Method(edition, number, grid, grid_number, await load_energy())
    return cache[year]


def _records_quantity(
    records: Sequence[ActivityRecord], start: dt.datetime, end: dt.datetime, unit: str, label: str
) -> Quantity:
    """The entered/imported/fed activity over [start, end): prorated by time where a record spans more."""
    total = Decimal(0)
    covered = dt.timedelta()
    estimated = False
    prorated = False
    used: list[str] = []
    for record in records:
        lo, hi = max(record.period_start, start), min(record.period_end, end)
        if lo >= hi:
            continue
        value = units.convert(record.value, record.unit, unit)
        span = (record.period_end - record.period_start).total_seconds()
        part = (hi - lo).total_seconds()
        if part < span:
            value = value * Decimal(int(part)) / Decimal(int(span))
            prorated = True
        total += value
        covered += hi - lo
        estimated = estimated or record.estimated
        used.append(f"{record.origin.value}#{record.id}")
    if not used:
        return Quantity(Decimal(0), unit, f"{label}: no record for the period", complete=False)
    origin = f"{label}: " + ",".join(used) + (" (prorated by time)" if prorated else "")
    return Quantity(total, unit, origin, complete=covered >= end - start, estimated=estimated or prorated)


async def _metered(
    sources: Sequence[EmissionSource], periods: Sequence[tuple[dt.datetime, dt.datetime]], zone: zoneinfo.ZoneInfo
) -> dict[tuple[int, str], list[MeterQuantity]]:
    """Every metered input's quantity for every period (the part of it the source was in service), read for all
    inputs at once: one query for their points and one per rollup level (not one per input or period)."""
    keys: list[tuple[int, str]] = []
    requests: list[MeterRequest] = []
    for source in sources:
        windows = [_in_service(source, lo, hi, zone) or (lo, hi) for lo, hi in periods]
        for name, spec in sorted((source.inputs or {}).items()):
            if spec["origin"] != "meter":
                continue
            keys.append((source.id, name))
            requests.append(MeterRequest(_terms(spec), windows, str(spec["unit"])))
    if not requests:
        return {}
    enterprise_id = sources[0].enterprise_id
    quantities = await meter_quantities_many(requests, zone=zone, enterprise_id=enterprise_id)
    return dict(zip(keys, quantities, strict=True))


def _terms(spec: Mapping[str, Any]) -> list[MeterTerm]:
    return [MeterTerm(int(p["id"]), int(p.get("sign", 1))) for p in spec["points"]]


async def _input_quantity(
    source: EmissionSource,
    name: str,
    spec: Mapping[str, Any],
    start: dt.datetime,
    end: dt.datetime,
    zone: zoneinfo.ZoneInfo,
    records: Mapping[tuple[int, str], list[ActivityRecord]],
    metered: Mapping[tuple[int, str], MeterQuantity],
) -> Quantity:
    entered = [r for r in records.get((source.id, name), []) if r.period_start < end and r.period_end > start]
    label = f"{source.code}.{name}"
    unit = str(spec["unit"])
    if spec["origin"] != "meter":
        return _records_quantity(entered, start, end, unit, label)
    meter = metered[(source.id, name)]
    if not entered:
        return Quantity(meter.value, meter.unit, meter.origin, meter.complete, meter.estimated)
    if _covers(entered, start, end):
        return _records_quantity(entered, start, end, unit, label + " substitute for the meter")
    # Records of a metered input (人工补录) replace the meter over the days they cover; the meter counts the rest:
    # meter(period) - meter(covered days) + records(covered days).
    pieces = [(max(r.period_start, start), min(r.period_end, end)) for r in entered]
    covered = await meter_quantities(_terms(spec), pieces, unit, zone=zone, enterprise_id=source.enterprise_id)
    substitute = _records_quantity(entered, start, end, unit, label + " substitute for the meter")
    value = meter.value - sum((c.value for c in covered), Decimal(0)) + substitute.value
    complete = all(
        _share(point, [c.details[i] for c in covered]) >= METER_THRESHOLD for i, point in enumerate(meter.details)
    )
    origin = f"{meter.origin} outside the substituted days; {substitute.origin}"
    return Quantity(
        value, unit, origin, complete, meter.estimated or substitute.estimated or any(c.estimated for c in covered)
    )


def _share(point: Mapping[str, Any], covered: Sequence[Mapping[str, Any]]) -> float:
    """A point's completeness over a period less the substituted pieces."""
    expected = float(point["expected"]) - sum(float(c["expected"]) for c in covered)
    readings = int(point["readings"]) - sum(int(c["readings"]) for c in covered)
    return min(1.0, readings / expected) if expected > 0 else 1.0


def _covers(records: Sequence[ActivityRecord], start: dt.datetime, end: dt.datetime) -> bool:
    """Whether the (non-overlapping) records cover [start, end) without a gap."""
    overlapping = [r for r in records if r.period_start < end and r.period_end > start]
    covered = sum((min(r.period_end, end) - max(r.period_start, start) for r in overlapping), dt.timedelta())
    return bool(records) and covered >= end - start


def _in_service(
    source: EmissionSource, start: dt.datetime, end: dt.datetime, zone: zoneinfo.ZoneInfo
) -> tuple[dt.datetime, dt.datetime] | None:
    """The part of [start, end) within the source's service days (None: none of it)."""
    lo, hi = start, end
    if source.in_service_from is not None:
        lo = max(lo, local_midnight(source.in_service_from, zone))
    if source.in_service_until is not None:
        hi = min(hi, local_midnight(source.in_service_until + dt.timedelta(days=1), zone))
    return (lo, hi) if lo < hi else None


def _overrides(source: EmissionSource, month: str | None = None) -> dict[str, Quantity]:
    """The measured parameters of the source: the month's value where one is given for ``month`` (monthly lab
    values), else the value for every period (if any)."""
    out: dict[str, Quantity] = {}
    for name, spec in (source.overrides or {}).items():
        measured = (spec.get("months") or {}).get(month) if month else None
        if measured is not None:
            origin = measured.get("origin") or spec.get("origin", "")
            out[name] = Quantity(Decimal(measured["value"]), spec["unit"], f"measured {month}: {origin}")
        elif spec.get("value") is not None:
            out[name] = Quantity(Decimal(spec["value"]), spec["unit"], f"measured: {spec['origin']}")
    return out


def _monthly(source: EmissionSource) -> bool:
    return any(spec.get("months") for spec in (source.overrides or {}).values())


def _month_parts(
    start: dt.datetime, end: dt.datetime, zone: zoneinfo.ZoneInfo
) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """[start, end) cut at local month boundaries, each part with its month (YYYY-MM)."""
    parts = []
    lo = start
    while lo < end:
        _, month_end = period_of(PeriodKind.MONTH, lo, zone)
        hi = min(month_end, end)
        parts.append((lo, hi, lo.astimezone(zone).strftime("%Y-%m")))
        lo = hi
    return parts


async def _part_quantities(
    source: EmissionSource,
    lo: dt.datetime,
    hi: dt.datetime,
    zone: zoneinfo.ZoneInfo,
    records: Mapping[tuple[int, str], list[ActivityRecord]],
    sources: Sequence[EmissionSource] = (),
) -> dict[str, Quantity]:
    """The activity of one month's part of a period (its meters read for that part alone; a balance input from
    its maker's balance over that part, read from ``sources``)."""
    metered = {}
    for name, spec in (source.inputs or {}).items():
        if spec["origin"] == "meter":
            [metered[(source.id, name)]] = await meter_quantities(
                _terms(spec), [(lo, hi)], str(spec["unit"]), zone=zone, enterprise_id=source.enterprise_id
            )
    peers: dict[int, dict[str, Quantity]] = {}
    in_service: set[int] = set()
    if balance_inputs(source):
        for peer in _balance_peers(source, sources):
            if (window := _in_service(peer, lo, hi, zone)) is not None:
                in_service.add(peer.id)
                if not balance_inputs(peer):
                    peers[peer.id] = await _part_quantities(peer, *window, zone, records)
    return {
        name: _balance_input(source, name, spec, sources, peers, in_service)
        if spec["origin"] == BALANCE
        else await _input_quantity(source, name, spec, lo, hi, zone, records, metered)
        for name, spec in sorted((source.inputs or {}).items())
    }


def _balance_peers(source: EmissionSource, sources: Sequence[EmissionSource]) -> list[EmissionSource]:
    """The sources of ``source``'s balance: its maker's generation lines and sales of the item, and the item's
    other transfers from that maker (those with a balance input too)."""
    maker, item = source.from_process_id, source.item
    return [
        s
        for s in sources
        if s.id != source.id
        and s.item == item
        and (
            (s.direction in (MADE, "sold") and s.process_id == maker)
            or (s.direction == "transfer" and s.from_process_id == maker)
        )
    ]


def _balance_input(
    source: EmissionSource,
    name: str,
    spec: Mapping[str, Any],
    sources: Sequence[EmissionSource],
    computed: Mapping[int, Mapping[str, Quantity]],
    in_service: Container[int],
) -> Quantity:
    """The input ``name`` of a balance user: its share of what its maker made and nobody else was seen to use
    (``computed``: the quantities of the other sources, before signs; ``in_service``: the ids of the sources in
    service over the period; see balance.py for the rule)."""
    share = Decimal(spec["share"])
    shares_total = share
    made: list[Peer] = []
    used: list[Peer] = []
    sold: list[Peer] = []
    for peer in _balance_peers(source, sources):
        if peer.direction == "transfer" and name in (others := balance_inputs(peer)):
            if peer.id in in_service:
                shares_total += others[name]  # another balance user: it shares the rest, it is not subtracted
            continue
        quantities = computed.get(peer.id)
        if quantities is None:
            continue  # not in service over the period
        if name not in quantities:
            raise AccountingError(
                f"{source.code}.{name} is balanced against {peer.code}, which has no input {name}.",
                hint="The generation, the sales and the users of one item are sources of one category.",
            )
        line = Peer(peer.code, quantities[name])
        (made if peer.direction == MADE else sold if peer.direction == "sold" else used).append(line)
    return balanced(
        label=f"{source.code}.{name}", unit=str(spec["unit"]), share=share, shares_total=shares_total, made=made,
        used=used, sold=sold,
    )  # fmt: skip


def _sum_quantities(quantities: Sequence[Quantity], what: str) -> Quantity | None:
    if not quantities:
        return None
    total = sum((units.convert(q.value, q.unit, "t") for q in quantities), Decimal(0))
    return Quantity(
        total,
        "t",
        "; ".join(q.origin for q in quantities),
        complete=all(q.complete for q in quantities),
        estimated=any(q.estimated for q in quantities),
    )


def _notes(result: AccountingResult, names: Mapping[str, str]) -> list[str]:
    notes: list[str] = []
    for source in result.sources:
        label = f"{source.source_id} ({names.get(source.source_id, '')})"
        for given in source.inputs:
            if not given.complete:
                notes.append(f"{label}: activity data {given.name} is incomplete for the period — {given.origin}.")
            elif given.estimated:
                notes.append(f"{label}: activity data {given.name} is estimated or prorated — {given.origin}.")
        for parameter in source.parameters:
            if parameter.estimated:
                notes.append(f"{label}: {parameter.name} {parameter.code} is provisional — {parameter.origin}.")
            if parameter.confidence == "unverified":
                notes.append(
                    f"{label}: default {parameter.code} = {parameter.value} is unverified — {parameter.source}"
                )
            if parameter.overridden:
                notes.append(f"{label}: {parameter.name} is a measured value ({parameter.origin}).")
    if result.crude_steel is None:
        notes.append("No crude steel output for the period (none in the inventory, or none recorded): no intensity.")
    elif not result.crude_steel.complete:
        notes.append(f"Crude steel output is incomplete — {result.crude_steel.origin}.")
    return notes


def lineage_json(
    result: AccountingResult,
    *,
    kind: PeriodKind,
    start: dt.datetime,
    end: dt.datetime,
    method: _Method,
    names: Mapping[str, str],
    processes: Mapping[str, str],
) -> dict[str, Any]:
    """The stored lineage of one result (all decimals as exact strings)."""
    by_process_category: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for source in result.sources:
        by_process_category[source.process][source.category.value] += source.emission
    sources = []
    for source in result.sources:
        data = _source_plain(source)
        data["name"] = names.get(source.source_id, "")
        data["group"] = source.group.value
        sources.append(data)
    return {
        "edition": result.edition,
        "edition_version": result.edition_version,
        "library_version": method.library_version,
        "grid_version": method.grid_version,
        "year": result.year,
        "period": {"kind": kind.value, "start": start.isoformat(), "end": end.isoformat()},
        "complete": result.complete,
        "estimated": result.estimated,
        "totals": _plain(result.totals),
        "by_category": _plain(dict(result.by_category)),
        "by_process": _plain(dict(result.by_process)),
        "by_process_category": _plain({p: dict(c) for p, c in by_process_category.items()}),
        "processes": dict(processes),
        "crude_steel": _plain(result.crude_steel),
        "intensity": _plain(result.intensity),
        "process_intensity": _plain(dict(result.process_intensity)),
        "fuel_energy_gj": _plain(result.fuel_energy_gj),
        "fuel_energy_tce": _plain(result.fuel_energy_tce),
        "sources": sources,
        "notes": _notes(result, names),
    }


def _signed(source: EmissionSource, quantities: dict[str, Quantity]) -> dict[str, Quantity]:
    """A sold or exported line's quantities (entered positive) with a minus sign; any other source's as they are."""
    if source.direction != "sold":
        return quantities
    return {
        name: dataclasses.replace(q, value=-q.value, origin=f"sold/exported: −({q.origin})")
        for name, q in quantities.items()
    }


def _maker(source: EmissionSource, makers: Mapping[int, tuple[str, str]]) -> str:
    """The process code that makes what a transfer uses (the enterprise level when none is named)."""
    if source.from_process_id is None:
        return ENTERPRISE_LEVEL
    made_by = makers.get(source.from_process_id)
    if made_by is None:  # the process was removed from the organisation since
        raise AccountingError(
            f"Source {source.code} is transferred from process {source.from_process_id}, which is gone.",
            hint="Name the process that makes it now (PATCH the source's from_process_id).",
        )
    return made_by[0]


def _transferred(
    activity: SourceActivity, source: EmissionSource, makers: Mapping[int, tuple[str, str]]
) -> SourceActivity:
    """The maker's side of a transfer: the same quantities with a minus sign at the process that makes what
    ``activity`` uses (the enterprise level when none is named), so the enterprise's total is unchanged."""
    maker = _maker(source, makers)
    user = activity.process or "enterprise"
    quantities = {
        name: dataclasses.replace(q, value=-q.value, origin=f"transferred to {user}: −({q.origin})")
        for name, q in activity.activity.items()
    }
    return dataclasses.replace(
        activity, source_id=f"{activity.source_id}{TRANSFER_MARK}{maker or 'enterprise'}", process=maker,
        activity=quantities,
    )  # fmt: skip


def _medium(
    source: EmissionSource, process: str, quantity: Quantity, makers: Mapping[int, tuple[str, str]]
) -> list[MediumLine]:
    """An energy-carrying medium's lines (energy only, never given to the emission engine): where it is used and,
    for one made in the works (a transfer: oxygen from the oxygen plant), with a minus sign where it is made, so the
    enterprise counts the energy that made it once (in the maker's electricity), as GB/T 2589 asks."""
    measured = (source.overrides or {}).get("coefficient")
    coefficient = None
    if measured is not None:
        coefficient = Quantity(Decimal(measured["value"]), measured["unit"], str(measured["origin"]))
    used = MediumLine(source.code, process, source.item, quantity, coefficient)
    if source.direction != "transfer":
        return [used]
    maker = _maker(source, makers)
    made = dataclasses.replace(
        quantity, value=-quantity.value, origin=f"transferred to {process or 'enterprise'}: −({quantity.origin})"
    )
    made_by = MediumLine(f"{source.code}{TRANSFER_MARK}{maker or 'enterprise'}", maker, source.item, made, coefficient)
    return [used, made_by]


def _media_notes(energy: Mapping[str, Any]) -> list[str]:
    """What the lineage notes of the period's media: incomplete or estimated data, unverified coefficients."""
    notes: list[str] = []
    for line in energy.get("media", []):
        label = f"{line['source_id']} ({line['item']})"
        if not line["complete"]:
            notes.append(f"{label}: energy-carrying medium data is incomplete for the period — {line['origin']}.")
        elif line["estimated"]:
            notes.append(f"{label}: energy-carrying medium data is estimated or prorated — {line['origin']}.")
    for code, used in sorted(energy.get("coefficients", {}).items()):
        if code.startswith("medium.") and used.get("confidence") == "unverified":
            notes.append(f"Energy coefficient {code} = {used['value']} {used['unit']} is unverified — {used['source']}")
    return notes


def _activity(
    source: EmissionSource, process: str, quantities: Mapping[str, Quantity], month: str | None, source_id: str
) -> SourceActivity:
    return SourceActivity(
        source_id=source_id,
        process=process,
        category=SourceCategory(source.category),
        activity=dict(quantities),
        item=source.item,
        overrides=_overrides(source, month),
        grid_kind=GridFactorKind(source.grid_kind),
        grid_region=source.grid_region,
    )


async def _account_period(
    enterprise: Enterprise,
    kind: PeriodKind,
    start: dt.datetime,
    end: dt.datetime,
    zone: zoneinfo.ZoneInfo,
    sources: Sequence[EmissionSource],
    records: Mapping[tuple[int, str], list[ActivityRecord]],
    metered: Mapping[tuple[int, str], MeterQuantity],
    methods: dict[int, _Method],
    process_codes: Mapping[int, tuple[str, str]],
) -> tuple[AccountingResult, dict[str, Any], _Method]:
    year = year_of(start, zone)
    method = await _method_for(enterprise.id, year, methods)
    activities: list[SourceActivity] = []
    crude: list[Quantity] = []
    media: list[MediumLine] = []  # energy-carrying media: energy only, no emission term sees them
    values: list[Quantity] = []  # the output value (10^4 CNY): money, never a product's tonnes
    outputs: dict[str, list[Quantity]] = defaultdict(list)
    computed: dict[int, dict[str, Quantity]] = {}  # each source's quantities before signs: what balances read
    in_service = {s.id for s in sources if _in_service(s, start, end, zone) is not None}
    # a balance user once every other source's quantities are known (balance.py)
    for source in sorted(sources, key=lambda s: bool(balance_inputs(s))):
        window = _in_service(source, start, end, zone)
        if window is None:
            continue  # not in service in this period (not yet, or retired)
        process = process_codes[source.process_id][0] if source.process_id else ENTERPRISE_LEVEL
        quantities = {
            name: _balance_input(source, name, spec, sources, computed, in_service)
            if spec["origin"] == BALANCE
            else await _input_quantity(source, name, spec, *window, zone, records, metered)
            for name, spec in sorted((source.inputs or {}).items())
        }
        computed[source.id] = quantities
        if source.direction == MADE:
            continue  # a generation line feeds its maker's balance, and nothing else
        quantities = _signed(source, quantities)
        if window != (start, end):
            days = f"{source.in_service_from or '…'} – {source.in_service_until or '…'}"
            quantities = {
                name: dataclasses.replace(q, origin=f"{q.origin} (in service {days} only)")
                for name, q in quantities.items()
            }
        if source.category == OUTPUT:
            amount = quantities["AD"]
            if source.item == OUTPUT_VALUE:
                values.append(amount)
                continue
            if source.item == "crude_steel":
                crude.append(amount)
            if source.process_id:
                outputs[process].append(amount)
            continue
        if source.category == MEDIUM:
            media += _medium(source, process, quantities["AD"], process_codes)
            continue
        parts = _month_parts(*window, zone) if _monthly(source) else []
        if len(parts) > 1:
            # Monthly measured parameters over a longer period: each month is accounted with its own values and
            # the parts add up (the guideline's consumption- and energy-weighted annual averages give the same sum).
            for lo, hi, month in parts:
                part = _signed(source, await _part_quantities(source, lo, hi, zone, records, sources))
                activities.append(_activity(source, process, part, month, f"{source.code}@{month}"))
                if source.direction == "transfer":
                    activities.append(_transferred(activities[-1], source, process_codes))
            continue
        activities.append(_activity(source, process, quantities, parts[0][2] if parts else None, source.code))
        if source.direction == "transfer":
            activities.append(_transferred(activities[-1], source, process_codes))
    names_of = {s.code: s.name for s in sources}
    if not activities:
        raise NoSourceInventoryError(
            f"Enterprise {enterprise.code} has no active emission source.",
            hint="Build the source inventory first: POST /api/v1/accounting/sources.",
        )
    with decimal.localcontext() as context:
        context.prec = PRECISION
        # An intensity needs a positive output: a period without production has none (the note says so).
        process_outputs = {p: q for p, qs in outputs.items() if (q := _sum_quantities(qs, p)) and q.value > 0}
        crude_steel = _sum_quantities(crude, "crude steel")
        if crude_steel is not None and crude_steel.value <= 0:
            crude_steel = None
    try:
        result = account(
            method.edition,
            year,
            activities,
            crude_steel=crude_steel,
            process_outputs=process_outputs,
            grid_factors=method.grid,
            provisional_grid=True,
        )
    except AccountingError as err:
        raise type(err)(f"{kind.value} from {start.isoformat()}: {err.message}", hint=err.hint) from err
    names = {s.code: s.name for s in sources} | {
        a.source_id: _line_name(a.source_id, names_of) for a in activities if a.source_id not in names_of
    }
    processes = {code: name for code, name in process_codes.values()}
    lineage = lineage_json(result, kind=kind, start=start, end=end, method=method, names=names, processes=processes)
    lineage["energy"] = energy_of(result, process_outputs, method.energy, media)
    lineage["notes"] += _media_notes(lineage["energy"])  # none without media: other lineages stay as they were
    if values:
        # only where the enterprise keeps its output value: the lineage of the others stays as it was
        lineage["output_value"] = _plain(_output_value(values))
        if not Decimal(lineage["output_value"]["value"]) > 0:
            lineage["notes"].append("No output value recorded for the period: no intensity per output value.")
        elif not lineage["output_value"]["complete"]:
            lineage["notes"].append(f"Output value is incomplete — {lineage['output_value']['origin']}.")
    return result, lineage, method


def _output_value(quantities: Sequence[Quantity]) -> Quantity:
    """The period's output value in 10^4 CNY (several output-value sources add up)."""
    with decimal.localcontext() as context:
        context.prec = PRECISION
        total = sum((units.convert(q.value, q.unit, OUTPUT_VALUE_UNIT) for q in quantities), Decimal(0))
    return Quantity(
        total,
        OUTPUT_VALUE_UNIT,
        "; ".join(q.origin for q in quantities),
        complete=all(q.complete for q in quantities),
        estimated=any(q.estimated for q in quantities),
    )


def line_source(source_id: str) -> str | None:
    """The source code of a lineage line where the source itself counts (``CODE`` or a monthly part
    ``CODE@YYYY-MM``); None for the maker's side of a transfer (``CODE>MAKER``), which counts at the maker."""
    line, transfer, _ = source_id.partition(TRANSFER_MARK)
    return None if transfer else line.partition("@")[0]


def _by_source(lineage: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Each source's own figures from the lineage's lines (see :func:`line_source`): its category, its signed
    contribution to the net (tCO2; carbon fixed in products negative) and, where it carries energy, its carrier,
    tce and electricity's MWh (the energy's own per-line values, so they add up with its carriers and processes)."""
    energy = (lineage.get("energy") or {}).get("by_source") or {}
    # the engine's lines (emissions and energy), then the energy-carrying media's (energy only, no emission)
    emitted = {line["source_id"]: line for line in lineage["sources"]}
    media = {line["source_id"]: line for line in (lineage.get("energy") or {}).get("media", [])}
    sums: dict[str, dict[str, Any]] = {}
    with decimal.localcontext() as context:
        context.prec = PRECISION
        for line_id in [*emitted, *media]:
            code = line_source(line_id)
            if code is None:
                continue
            if line_id in emitted:
                line = emitted[line_id]
                emission = Decimal(line["emission"])
                fixed = SourceCategory(line["category"]).group is CategoryGroup.FIXED_CARBON
                entry = sums.setdefault(code, {"category": line["category"], "net": Decimal(0)})
                entry["net"] += -emission if fixed else emission
            else:
                entry = sums.setdefault(code, {"category": MEDIUM, "net": Decimal(0)})
            used = energy.get(line_id)
            if used:
                entry["carrier"] = used["carrier"]
                for name in ("tce", "mwh"):
                    if name in used:
                        entry[name] = entry.get(name, Decimal(0)) + Decimal(used[name])
    return {
        code: {k: units.exact_text(v) if isinstance(v, Decimal) else v for k, v in entry.items()}
        for code, entry in sums.items()
    }


def _line_name(source_id: str, names: Mapping[str, str]) -> str:
    """A line's name: its source's, with the month of a monthly part and the mark of a transfer's maker side."""
    line, transfer, _ = source_id.partition(TRANSFER_MARK)
    code, _, month = line.partition("@")
    return names[code] + (f" ({month})" if month else "") + ("（转出）" if transfer else "")


async def _inventory(enterprise_id: int) -> tuple[list[EmissionSource], dict[int, tuple[str, str]]]:
    # in service now, or retired with a last day (the periods before it keep the source)
    sources = await EmissionSource.filter(
        Q(active=True) | Q(in_service_until__isnull=False), enterprise_id=enterprise_id
    ).order_by("code")
    process_codes = {
        int(p.id): (str(p.code), str(p.name))
        for p in await Process.filter(site__enterprise_id=enterprise_id).only("id", "code", "name")
    }
    return list(sources), process_codes


async def account_aside(
    enterprise: Enterprise,
    kind: PeriodKind,
    periods: Sequence[tuple[dt.datetime, dt.datetime]],
    zone: zoneinfo.ZoneInfo,
) -> list[tuple[dt.datetime, dt.datetime, dict[str, Any], _Method]]:
    """Account each period (no storing): its lineage and the method it used."""
    if not periods:
        return []
    sources, process_codes = await _inventory(enterprise.id)
    first, last = min(lo for lo, _ in periods), max(hi for _, hi in periods)
    records: dict[tuple[int, str], list[ActivityRecord]] = defaultdict(list)
    for record in await ActivityRecord.filter(
        enterprise_id=enterprise.id, superseded_by=None, period_start__lt=last, period_end__gt=first
    ).order_by("period_start"):
        records[(record.source_id, record.input_name)].append(record)
    metered = await _metered(sources, periods, zone)
    methods: dict[int, _Method] = {}
    out = []
    for index, (lo, hi) in enumerate(periods):
        this = {key: values[index] for key, values in metered.items()}
        _, lineage, method = await _account_period(
            enterprise, kind, lo, hi, zone, sources, records, this, methods, process_codes
        )
        out.append((lo, hi, lineage, method))
    return out


async def account_and_store(
    principal: Principal,
    enterprise: Enterprise,
    kind: PeriodKind,
    periods: Sequence[tuple[dt.datetime, dt.datetime]],
    *,
    reason: str,
    now: dt.datetime,
) -> list[EmissionResult]:
    """Account the periods and keep the outcome: a new fingerprint gives a new version, the same keeps the result.
    Only the refresh job and an accountant's audited recalculation call this; reads never do."""
    if not periods:
        return []
    zone = zoneinfo.ZoneInfo(enterprise.timezone)
    first, last = min(lo for lo, _ in periods), max(hi for _, hi in periods)
    stored = {
        r.period_start: r
        for r in await EmissionResult.filter(
            enterprise_id=enterprise.id, period=kind, current=True, period_start__gte=first, period_start__lt=last
        ).only(*_READ_COLUMNS, "fingerprint")
    }
    out: dict[dt.datetime, EmissionResult] = {}
    versions: list[_Version] = []
    for lo, hi, lineage, method in await account_aside(enterprise, kind, periods, zone):
        current, digest, final = stored.get(lo), fingerprint(lineage), hi <= now
        unchanged = current is not None and current.fingerprint == digest and (current.final or not final)
        running = current is not None and not current.final and not final
        if unchanged or running:
            # kept as it is, or a running period's provisional figure refreshed in place: one period at a time
            out[lo] = await _store(
                principal, enterprise.id, kind, lo, hi, lineage, method, current, now, reason, digest
            )
            continue
        versions.append(_Version(lo, hi, lineage, method, current, digest))
    for result in await _store_versions(principal, enterprise.id, kind, versions, now, reason):
        out[result.period_start] = result
    return [out[lo] for lo, _ in periods if lo in out]


#: Columns a read needs (the lineage stays in the database until someone asks for it).
_READ_COLUMNS = (
    "id", "enterprise_id", "period", "period_start", "period_end", "version", "current", "final", "edition",
    "library_version", "grid_version", "net", "combustion", "process_emissions", "electricity", "heat",
    "fixed_carbon", "crude_steel", "intensity", "complete", "estimated", "by_category", "by_process", "energy",
    "by_source", "output_value", "created_at",
)  # fmt: skip


#: Not-kept periods a read accounts on the fly at most; beyond it answers with what is kept and says so.
MAX_LIVE_PERIODS = 400


def _result_values(lineage: Mapping[str, Any], method: _Method, digest: str | None = None) -> dict[str, Any]:
    """The stored columns of a result from its lineage (``digest``: its fingerprint, when already computed)."""
    totals = lineage["totals"]
    crude = lineage["crude_steel"]
    intensities = lineage.get("process_intensity", {})
    return {
        "fingerprint": digest or fingerprint(lineage),
        "edition": lineage["edition"],
        "library_version": method.library_version,
        "grid_version": method.grid_version,
        "net": Decimal(totals["net"]),
        "combustion": Decimal(totals["combustion"]),
        "process_emissions": Decimal(totals["process"]),
        "electricity": Decimal(totals["electricity"]),
        "heat": Decimal(totals["heat"]),
        "fixed_carbon": Decimal(totals["fixed_carbon"]),
        "crude_steel": Decimal(crude["value"]) if crude else None,
        "intensity": Decimal(lineage["intensity"]) if lineage["intensity"] else None,
        "complete": lineage["complete"],
        "estimated": lineage["estimated"],
        "by_category": lineage["by_category"],
        "by_process": {
            p: {**t, "by_category": lineage["by_process_category"].get(p, {}), "intensity": intensities.get(p)}
            for p, t in lineage["by_process"].items()
        },
        "energy": lineage.get("energy"),
        "by_source": _by_source(lineage),
        "output_value": _positive(lineage.get("output_value")),
        "lineage": lineage,
    }


def _positive(quantity: Mapping[str, Any] | None) -> Decimal | None:
    """A kept quantity's value when it is above zero (an intensity needs a positive denominator), else None."""
    value = Decimal(quantity["value"]) if quantity else None
    return value if value is not None and value > 0 else None


def _unsaved(
    enterprise_id: int,
    kind: PeriodKind,
    start: dt.datetime,
    end: dt.datetime,
    lineage: dict[str, Any],
    method: _Method,
    now: dt.datetime,
) -> EmissionResult:
    """A result accounted for one answer, never saved (no id)."""
    return EmissionResult(
        enterprise_id=enterprise_id,
        period=kind,
        period_start=start,
        period_end=end,
        version=0,
        current=True,
        final=end <= now,
        reason="accounted for this answer only (not kept)",
        created_by="",
        created_at=now,
        **_result_values(lineage, method),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Version:
    """A period accounted to new figures: stored as a new version over ``current`` (None: its first)."""

    start: dt.datetime
    end: dt.datetime
    lineage: dict[str, Any]
    method: _Method
    current: EmissionResult | None
    digest: str


def _values(
    principal: Principal, lineage: Mapping[str, Any], method: _Method, digest: str, final: bool, reason: str
) -> dict[str, Any]:
    """Every stored column of a result but its identity (enterprise, period, version, current)."""
    return {
        **_result_values(lineage, method, digest),
        "final": final,
        "reason": reason[:300] or ("provisional: period still running" if not final else "calculated"),
        "created_by": principal.name,
    }


_STAMP_SQL = (
    "INSERT INTO acc_result_stamp (enterprise_id, token, changed_at) VALUES ({p1}, {p2}, {p3}) "
    "ON CONFLICT (enterprise_id) DO UPDATE SET token = excluded.token, changed_at = excluded.changed_at"
)


async def stamp_results(enterprise_id: int, now: dt.datetime, connection: BaseDBAsyncClient | None = None) -> None:
    """A new token for the enterprise's kept results (:class:`ResultStamp`): every writer of ``acc_result`` calls
    this with the rows it wrote, in their transaction where it has one, so that no read caches what changed."""
    client = connection or connections.get("default")
    marks = ("$1", "$2", "$3") if client.capabilities.dialect == "postgres" else ("?", "?", "?")
    sql = _STAMP_SQL.format(p1=marks[0], p2=marks[1], p3=marks[2])
    await client.execute_query(sql, [enterprise_id, secrets.token_hex(16), now])


async def _store_versions(
    principal: Principal,
    enterprise_id: int,
    kind: PeriodKind,
    versions: Sequence[_Version],
    now: dt.datetime,
    reason: str,
) -> list[EmissionResult]:
    """Store new versions of many periods in one transaction: one UPDATE supersedes their current results and
    one multi-row INSERT adds the new ones (what :func:`_store` does per period, without a round trip each).

    When another writer stored one of these periods at the same moment (the INSERT breaks the unique version),
    the batch rolls back and each period is stored on its own by :func:`_store`, which keeps the winner."""
    if not versions:
        return []
    rows = [
        EmissionResult(
            enterprise_id=enterprise_id,
            period=kind,
            period_start=v.start,
            period_end=v.end,
            version=(v.current.version + 1) if v.current else 1,
            current=True,
            **_values(principal, v.lineage, v.method, v.digest, v.end <= now, reason),
        )
        for v in versions
    ]
    superseded = [v.current.id for v in versions if v.current is not None]
    try:
        async with in_transaction() as connection:
            if superseded:
                await EmissionResult.filter(id__in=superseded, current=True).update(current=False, superseded_at=now)
            await EmissionResult.bulk_create(rows, batch_size=100)
            await stamp_results(enterprise_id, now, connection)
    except IntegrityError:
        return [
            await _store(principal, enterprise_id, kind, v.start, v.end, v.lineage, v.method, v.current, now, reason)
            for v in versions
        ]
    # A multi-row INSERT does not hand back the ids on every backend: read them by their unique key.
    ids = {
        (start, version): id_
        for id_, start, version in await EmissionResult.filter(
            enterprise_id=enterprise_id, period=kind, period_start__in=[row.period_start for row in rows]
        ).values_list("id", "period_start", "version")
    }
    for row in rows:
        row.id = ids[(row.period_start, row.version)]
    return rows


async def _store(
    principal: Principal,
    enterprise_id: int,
    kind: PeriodKind,
    start: dt.datetime,
    end: dt.datetime,
    lineage: dict[str, Any],
    method: _Method,
    current: EmissionResult | None,
    now: dt.datetime,
    reason: str,
    digest: str | None = None,
) -> EmissionResult:
    """Keep one period's accounting: the current result when the fingerprint (``digest``, computed when not
    given) is the same, the running period's provisional row refreshed in place, else a new version."""
    digest = digest or fingerprint(lineage)
    final = end <= now
    if current is not None and current.fingerprint == digest and (current.final or not final):
        return current
    values = _values(principal, lineage, method, digest, final, reason)
    if current is not None and not current.final and not final:
        # A running period's provisional figure is refreshed in place; it becomes versioned once it has ended.
        async with in_transaction() as connection:
            await EmissionResult.filter(id=current.id).update(**values, created_at=now)
            await stamp_results(enterprise_id, now, connection)
        return await EmissionResult.get(id=current.id)
    try:
        async with in_transaction() as connection:
            await stamp_results(enterprise_id, now, connection)
            if current is not None:
                await EmissionResult.filter(id=current.id, current=True).update(current=False, superseded_at=now)
            return await EmissionResult.create(
                enterprise_id=enterprise_id,
                period=kind,
                period_start=start,
                period_end=end,
                version=(current.version + 1) if current else 1,
                current=True,
                **values,
            )
    except IntegrityError:
        # Another request stored this period's new version at the same moment: use the one that won.
        winner = await EmissionResult.filter(
            enterprise_id=enterprise_id, period=kind, period_start=start, current=True
        ).first()
        if winner is None:
            raise
        return winner


async def frozen_years(enterprise_id: int) -> set[int]:
    """The enterprise's years past draft (submitted, verified, locked): their results are kept exactly."""
    return set(
        await ReportingYear.filter(enterprise_id=enterprise_id)
        .exclude(state=ReportState.DRAFT)
        .values_list("year", flat=True)  # type: ignore[arg-type]
    )


async def recalculate(
    principal: Principal, enterprise_id: int, kind: PeriodKind, start: dt.datetime, end: dt.datetime, reason: str
) -> list[EmissionResult]:
    """Account a range again on request (after corrections or a library change); audited. A reported year is
    refused: a new draft of it is asked for on purpose (reporting)."""
    enterprise = await enterprise_for(principal, enterprise_id, write=True)
    zone = zoneinfo.ZoneInfo(enterprise.timezone)
    now = _now()
    periods = list(period_bounds(kind, start, end, zone, now))
    frozen = sorted({year_of(lo, zone) for lo, _ in periods} & await frozen_years(enterprise_id))
    if frozen:
        raise ConflictError(
            f"Year {', '.join(map(str, frozen))} is reported: its figures are kept as reported.",
            hint="Open a new draft of the year (with a reason) to account it again.",
        )
    results = await account_and_store(principal, enterprise, kind, periods, reason=reason, now=now)
    await audit.record(
        principal,
        "accounting.recalculate",
        entity_type="emission_result",
        entity_id=f"{kind.value} {start.isoformat()}..{end.isoformat()}",
        enterprise_id=enterprise_id,
        after={"results": [r.id for r in results], "reason": reason},
        summary=f"recalculated {len(results)} {kind.value} period(s)",
    )
    return results


#: A result's own columns without its figures and lineage (what a route needs to say which result it is).
_HEAD_COLUMNS = (
    "id", "enterprise_id", "period", "period_start", "period_end", "version", "current", "final", "fingerprint",
    "net", "created_at", "created_by", "reason", "superseded_at",
)  # fmt: skip


async def get_result(principal: Principal, result_id: int, *, whole: bool = True) -> EmissionResult:
    """One stored result (any version) within the caller's scope; ``whole`` False: its head only (no figures,
    no lineage: :data:`_HEAD_COLUMNS`)."""
    query = EmissionResult.filter(id=result_id)
    result = await (query if whole else query.only(*_HEAD_COLUMNS)).first()
    if result is None or not principal.scope.sees_enterprise(result.enterprise_id):
        raise NotFoundError(f"No emission result {result_id} within your scope.")
    await enterprise_for(principal, result.enterprise_id)
    return result


async def result_versions(result: EmissionResult) -> list[EmissionResult]:
    """Every version of the period of ``result`` (one :func:`get_result` gave), oldest first: heads only."""
    return (
        await EmissionResult.filter(
            enterprise_id=result.enterprise_id, period=result.period, period_start=result.period_start
        )
        .only(*_HEAD_COLUMNS)
        .order_by("version")
    )


async def set_year_method(
    principal: Principal,
    enterprise_id: int,
    year: int,
    edition: str,
    library_version: int | None,
    grid_version: int | None,
) -> YearMethod:
    """Choose the edition (and optionally pin library versions) a reporting year is accounted under; audited."""
    await enterprise_for(principal, enterprise_id, write=True)
    loaded, _ = await load_edition(edition, library_version)
    if not loaded.covers(year):
        raise AccountingError(
            f"Edition {edition} covers data years {loaded.first_year or '…'}–{loaded.last_year or '…'}, not {year}."
        )
    if grid_version is not None:
        await load_grid(grid_version)
    current = await YearMethod.get_or_none(enterprise_id=enterprise_id, year=year)
    before = audit.snapshot(current) if current else None
    async with in_transaction():
        if current is None:
            current = await YearMethod.create(
                enterprise_id=enterprise_id,
                year=year,
                edition=edition,
                library_version=library_version,
                grid_version=grid_version,
                changed_by=principal.name,
            )
        else:
            current.edition = edition
            current.library_version = library_version
            current.grid_version = grid_version
            current.changed_by = principal.name
            await current.save()
        await audit.record(
            principal,
            "accounting.year_method.set",
            entity_type="year_method",
            entity_id=f"{enterprise_id}/{year}",
            enterprise_id=enterprise_id,
            before=before,
            after=audit.snapshot(current),
            summary=f"{year}: {edition}" + (f" v{library_version}" if library_version else ""),
        )
        zone = zoneinfo.ZoneInfo((await Enterprise.get(id=enterprise_id)).timezone)
        await mark(
            enterprise_id,
            local_midnight(dt.date(year, 1, 1), zone),
            local_midnight(dt.date(year + 1, 1, 1), zone),
            "year_method",
            detail=f"{year}: {edition}",
            by=principal.name,
        )
    return current
