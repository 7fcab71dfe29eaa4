"""Emission-source inventory and activity data (standard 5.4.3, 5.2.3.3): scoped, validated, audited.

Sources are the enterprise's emission sources (and production outputs) with where each activity input comes
from. Activity records are values entered by hand (人工采集, with evidence), imported from a ledger, or sent
by a feed. A ledger upload is validated row by row and stored with its report; on confirmation all its valid
rows are written in one transaction, or none. A record for exactly the same source, input and period as an
earlier one supersedes it (the earlier record stays); an overlap with a different period is refused. Records
for a metered input are substitutes (人工补录: a failed meter, history before the meter): a period they cover
entirely is accounted from them instead of the meter.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import functools
import hashlib
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.transactions import in_transaction

from cem_platform.accounting import pending, units
from cem_platform.accounting.balance import BALANCE, MADE, check_share
from cem_platform.accounting.energy import ENERGY_LIBRARY, MEDIUM, SEEDED, medium_units
from cem_platform.accounting.formulas import AccountingError
from cem_platform.accounting.ledger import LedgerInput, LedgerRow, parse_ledger, row_from_json, row_to_json
from cem_platform.accounting.library import EDITION_2015, EDITIONS, GridFactorKind, SourceCategory
from cem_platform.accounting.library_store import load_energy
from cem_platform.accounting.meters import MeterDataError, amount_unit
from cem_platform.accounting.models import (
    ActivityImport,
    ActivityOrigin,
    ActivityRecord,
    EmissionSource,
    Evidence,
    ImportStatus,
)
from cem_platform.accounting.periods import local_midnight
from cem_platform.audit import services as audit
from cem_platform.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from cem_platform.identity.principal import Principal
from cem_platform.identity.roles import Permission
from cem_platform.org.models import Enterprise, Facility, MeasurementPoint, Process

__all__ = [
    "MAX_EVIDENCE_BYTES",
    "MAX_LEDGER_BYTES",
    "MEDIUM",
    "OUTPUT",
    "OUTPUT_VALUE",
    "OUTPUT_VALUE_UNIT",
    "FIELD_ORIGINS",
    "ManualEntry",
    "SourceIn",
    "activity_inputs",
    "add_evidence",
    "confirm_import",
    "create_source",
    "discard_import",
    "enter_activity",
    "EnterableInput",
    "enterable_inputs",
    "entry_units",
    "enterprise_for",
    "get_import",
    "input_units",
    "known_items",
    "list_records",
    "list_sources",
    "start_import",
    "update_source",
]

OUTPUT = "output"  # category of production outputs (crude steel, a process's product): intensities, not emissions
#: The item of the enterprise's output value (产值): an output of the enterprise as a whole whose activity is money,
#: kept in 10^4 CNY (万元), the denominator of intensities per output value. Money never converts to tonnes (units),
#: so it cannot be taken for a product's mass.
OUTPUT_VALUE = "output_value"
OUTPUT_VALUE_UNIT = "10^4 CNY"
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
MAX_LEDGER_BYTES = 5 * 1024 * 1024
# What a field entry (activity.enter without accounting.write) may be for: an input read by hand, or a metered
# input whose meter it substitutes for (人工补录). Ledger and feed inputs are the accountants'.
FIELD_ORIGINS = ("manual", "meter")


def activity_inputs(category: str, item: str = "") -> dict[str, tuple[str, ...]]:
    """The activity inputs of a category and the units its formulas take for each (fuel FC: t or 10^4 Nm3; an
    output: tonnes of product, or for ``item`` output_value money in 10^4 CNY)."""
    if category == MEDIUM:
        return {"AD": _MEDIUM_UNITS}
    if category == OUTPUT:
        return {"AD": (OUTPUT_VALUE_UNIT,)} if item == OUTPUT_VALUE else {"AD": ("t",)}
    method = EDITION_2015.method(SourceCategory(category))
    found: dict[str, list[str]] = {}
    for variant in method.variants:
        for name in method.activity_inputs(variant):
            unit = variant.emission.input_units[name]
            if unit not in found.setdefault(name, []):
                found[name].append(unit)
    return {name: tuple(u) for name, u in sorted(found.items())}


#: The units an energy-carrying medium is counted in: gases in Nm3, water in t (its coefficient says which).
_MEDIUM_UNITS = ("Nm3", "t")


def _category(text: str) -> str:
    allowed = [c.value for c in SourceCategory] + [OUTPUT, MEDIUM]
    if text not in allowed:
        raise InvalidInputError(f"Category {text!r} is not one of {', '.join(allowed)}.")
    return text


def input_units(source: EmissionSource) -> dict[str, str]:
    """The unit each activity input of ``source`` is kept in."""
    return {name: str(spec["unit"]) for name, spec in (source.inputs or {}).items()}


async def enterprise_for(principal: Principal, enterprise_id: int, *, write: bool = False) -> Enterprise:
    """The enterprise, if the caller's scope covers all of it (accounting is per legal entity); else 404."""
    enterprise = await Enterprise.get_or_none(id=enterprise_id)
    if enterprise is None or not principal.scope.sees_enterprise(enterprise_id):
        raise NotFoundError(f"No enterprise {enterprise_id} within your scope.")
    if not principal.scope.covers_enterprise(enterprise_id):
        raise PermissionDeniedError(
            "Emission accounting covers a whole enterprise; your scope holds only some of its sites.",
            hint="Ask an administrator for the enterprise scope." if write else "Ask for the enterprise scope.",
        )
    return enterprise


@dataclass(frozen=True)
class SourceIn:
    """A source as the API receives it (create: every field; update: the fields to change)."""

    code: str | None = None
    name: str | None = None
    category: str | None = None
    item: str | None = None
    process_id: int | None = None
    facility_id: int | None = None
    inputs: Mapping[str, Any] | None = None
    overrides: Mapping[str, Any] | None = None
    grid_kind: str | None = None
    grid_region: str | None = None
    direction: str | None = None
    from_process_id: int | None = None  # direction "transfer": the process that makes it (None: enterprise level)
    active: bool | None = None
    note: str | None = None
    in_service_from: dt.date | None = None
    in_service_until: dt.date | None = None


def _check_service(first: dt.date | None, last: dt.date | None) -> None:
    if first is not None and last is not None and last < first:
        raise InvalidInputError(
            f"in_service_until {last} comes before in_service_from {first}.",
            hint="Both are local days and both are included.",
        )


async def _check_inputs(enterprise_id: int, category: str, inputs: Mapping[str, Any], item: str = "") -> dict[str, Any]:
    expected = activity_inputs(category, item)
    if set(inputs) != set(expected):
        raise InvalidInputError(
            f"A {category} source takes the activity inputs {', '.join(expected)}; got {', '.join(inputs) or 'none'}.",
            hint="Describe where each input's data comes from: origin meter (with points), manual, import or feed.",
        )
    checked: dict[str, Any] = {}
    for name, spec in inputs.items():
        if not isinstance(spec, Mapping):
            raise InvalidInputError(f"Input {name}: give an object with origin and unit.")
        origin = str(spec.get("origin", ""))
        if origin not in _INPUT_ORIGINS:
            raise InvalidInputError(f"Input {name}: origin {origin!r} is not one of {', '.join(_INPUT_ORIGINS)}.")
        unit = str(spec.get("unit", ""))
        if not any(_converts(unit, target) for target in expected[name]):
            raise InvalidInputError(
                f"Input {name}: unit {unit!r} does not convert to {' or '.join(expected[name])}.",
                hint="Use the unit the data is kept in, e.g. t, kg, 10^4 Nm3, Nm3, MWh, kWh, GJ.",
            )
        entry: dict[str, Any] = {"origin": origin, "unit": units.canonical(unit)}
        if origin == ActivityOrigin.METER.value:
            entry["points"] = await _check_points(enterprise_id, name, entry["unit"], spec.get("points"))
        elif spec.get("points"):
            raise InvalidInputError(f"Input {name}: points belong only to origin meter.")
        if origin == BALANCE:
            try:
                entry["share"] = str(check_share(spec.get("share"), f"Input {name}: share"))
            except AccountingError as err:
                raise InvalidInputError(err.message, hint=err.hint) from None
        elif spec.get("share") is not None:
            raise InvalidInputError(f"Input {name}: a share belongs only to origin balance.")
        checked[name] = entry
    return checked


#: Where an input's data comes from: records and meters (ActivityOrigin), or its maker's balance (balance.py).
_INPUT_ORIGINS = (*(o.value for o in ActivityOrigin), BALANCE)


def balance_inputs(source: EmissionSource) -> dict[str, Decimal]:
    """The inputs of ``source`` whose quantity is its maker's balance, with their shares."""
    return {
        name: Decimal(spec["share"]) for name, spec in (source.inputs or {}).items() if spec.get("origin") == BALANCE
    }


async def _check_balance(
    enterprise_id: int,
    source_id: int | None,
    direction: str,
    process_id: int | None,
    from_process_id: int | None,
    item: str,
    inputs: Mapping[str, Any],
) -> None:
    """A generation line (direction made) belongs to its maker; a balance input to a transfer from a maker, and
    the shares of one maker's balance users of one item add up to at most 1."""
    if direction == MADE and process_id is None:
        raise InvalidInputError(
            "A generation line (direction made) belongs to the process that makes it: give process_id.",
        )
    shares = {name: Decimal(spec["share"]) for name, spec in inputs.items() if spec.get("origin") == BALANCE}
    if not shares:
        return
    if direction != "transfer" or from_process_id is None:
        raise InvalidInputError(
            "An input from the balance is the rest of what a process makes: the source is a transfer from it.",
            hint="Set direction 'transfer' and from_process_id (the maker, which has a line with direction 'made').",
        )
    peers = EmissionSource.filter(
        enterprise_id=enterprise_id, direction="transfer", from_process_id=from_process_id, item=item, active=True
    )
    if source_id is not None:
        peers = peers.exclude(id=source_id)
    for peer in await peers:
        for name, share in balance_inputs(peer).items():
            if name in shares:
                shares[name] += share
    for name, total in shares.items():
        if total > 1:
            raise InvalidInputError(
                f"Input {name}: the balance shares of this maker's {item or 'item'} users would add up to {total}.",
                hint="Together they are at most 1 (what is left is flared or lost and stays at the maker).",
            )


def _converts(unit: str, target: str) -> bool:
    try:
        units.convert(Decimal(1), unit, target)
    except units.UnitError:
        return False
    return True


async def _check_points(enterprise_id: int, name: str, unit: str, points: Any) -> list[dict[str, int]]:
    """The points of a metered input: active points of the enterprise, each once, each giving an amount (a
    totaliser, or a flow integrated over time) that converts to the input's ``unit``."""
    if not isinstance(points, list) or not points:
        raise InvalidInputError(f"Input {name}: origin meter needs points, e.g. [{{'id': 12, 'sign': 1}}].")
    terms: list[dict[str, int]] = []
    for item in points:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), int):
            raise InvalidInputError(f"Input {name}: each point is {{'id': <point id>, 'sign': 1 or -1}}.")
        sign = item.get("sign", 1)
        if sign not in (1, -1):
            raise InvalidInputError(f"Input {name}: sign of point {item['id']} must be 1 or -1.")
        terms.append({"id": int(item["id"]), "sign": int(sign)})
    ids = [t["id"] for t in terms]
    found = {p.id: p for p in await MeasurementPoint.filter(id__in=ids, enterprise_id=enterprise_id, active=True).all()}
    for point_id in ids:
        point = found.get(point_id)
        if point is None:
            raise InvalidInputError(f"Input {name}: no active point {point_id} in this enterprise.")
        if point.kind == "state":
            raise InvalidInputError(f"Input {name}: point {point.code} measures a state, not an amount.")
        try:
            amount = amount_unit(point.code, point.kind, point.unit)
        except MeterDataError as err:
            raise InvalidInputError(f"Input {name}: {err.message}", hint=err.hint) from None
        if not _converts(amount, unit):
            given = amount if amount == point.unit else f"{amount} (integrated from {point.unit})"
            raise InvalidInputError(
                f"Input {name}: point {point.code} gives {given}, which does not convert to the input's unit {unit}.",
                hint="Choose points that measure this input, or give the input the unit its meters measure in.",
            )
    if len(set(ids)) != len(ids):
        raise InvalidInputError(f"Input {name}: a point is listed twice; list each point once.")
    return terms


def _check_overrides(category: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    if category == MEDIUM:
        return _check_medium_overrides(overrides)
    if category == OUTPUT:
        if overrides:
            raise InvalidInputError("A production output has no parameters to override.")
        return {}
    allowed = EDITION_2015.method(SourceCategory(category)).parameter_codes
    checked: dict[str, Any] = {}
    for name, spec in overrides.items():
        if name not in allowed:
            raise InvalidInputError(f"Override {name!r}: parameters of this method are {', '.join(sorted(allowed))}.")
        if not isinstance(spec, Mapping):
            raise InvalidInputError(f"Override {name}: give value, unit and origin.")
        months = _check_months(name, spec.get("months"))
        value = _decimal(spec.get("value"), f"override {name}") if spec.get("value") is not None or not months else None
        origin = str(spec.get("origin", "")).strip()
        if not origin and (value is not None or any(not m.get("origin") for m in months.values())):
            raise InvalidInputError(
                f"Override {name}: say where the measured value comes from (origin).",
                hint="E.g. 'lab report 2025-07 No. 12'.",
            )
        checked[name] = {
            "value": None if value is None else str(value),
            "unit": str(spec.get("unit", "")),
            "origin": origin,
        }
        if months:
            checked[name]["months"] = months
    return checked


def _check_medium_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A medium's measured coefficient (the enterprise's own energy per Nm3 or t of it), in place of the library's."""
    checked: dict[str, Any] = {}
    for name, spec in overrides.items():
        if name != "coefficient":
            raise InvalidInputError(
                f"Override {name!r}: an energy-carrying medium has one parameter, coefficient (kgce per Nm3 or per t)."
            )
        if not isinstance(spec, Mapping) or spec.get("months"):
            raise InvalidInputError("Override coefficient: give one value, its unit and origin (no monthly values).")
        value = _decimal(spec.get("value"), "override coefficient")
        if value <= 0:
            raise InvalidInputError("Override coefficient: a medium's energy per unit is positive.")
        unit = str(spec.get("unit", ""))
        try:
            dimension = units.dimension(unit)
        except units.UnitError:
            dimension = ""
        if dimension not in ("energy/gas_volume", "energy/mass"):
            raise InvalidInputError(
                f"Override coefficient: unit {unit!r} is not energy per Nm3 or per t.", hint="E.g. kgce/Nm3 or kgce/t."
            )
        origin = str(spec.get("origin", "")).strip()
        if not origin:
            raise InvalidInputError(
                "Override coefficient: say where the measured value comes from (origin).",
                hint="E.g. 'air separation unit energy balance 2025'.",
            )
        checked[name] = {"value": str(value), "unit": units.canonical(unit), "origin": origin[:300]}
    return checked


async def _check_medium(item: str, inputs: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """An energy-carrying medium has a coefficient (the energy library's newest ``medium.<item>``, or the source's
    measured one) and its quantity is kept in the unit the coefficient is per (Nm3 for gases, t for water)."""
    if not item:
        raise InvalidInputError("An energy-carrying medium names its item, e.g. oxygen, nitrogen or fresh_water.")
    coefficients = await load_energy()
    per_unit = medium_units(coefficients)
    measured = overrides.get("coefficient")
    if measured is not None:
        per = str(measured["unit"]).partition("/")[2]
    elif item in per_unit:
        per = per_unit[item]
    else:
        raise InvalidInputError(
            f"The energy library ({ENERGY_LIBRARY} v{coefficients.version}) has no coefficient for the medium "
            f"{item!r}; known: {', '.join(per_unit) or 'none'}.",
            hint=f"Pick a known medium, add medium.{item} with its source to the library {ENERGY_LIBRARY}, or give "
            "the source a measured coefficient (overrides.coefficient in kgce/Nm3 or kgce/t).",
        )
    unit = str(inputs["AD"]["unit"])
    if not _converts(unit, per):
        raise InvalidInputError(
            f"Input AD: {item} is counted in {per} (its coefficient is per {per}); {unit!r} does not convert to it.",
            hint="Gases in Nm3 (or 10^3 Nm3, 10^4 Nm3), water in t.",
        )


_MONTH = re.compile(r"^(19|20|21)\d\d-(0[1-9]|1[0-2])$")


def _check_months(name: str, months: Any) -> dict[str, dict[str, str]]:
    """Monthly measured values of a parameter (月度实测值): {"2024-01": {"value": "28.1", "origin": "lab 01"}}."""
    if months is None:
        return {}
    if not isinstance(months, Mapping) or len(months) > 1200:
        raise InvalidInputError(f"Override {name}: months maps YYYY-MM to a value and its origin (at most 1200).")
    checked: dict[str, dict[str, str]] = {}
    for month, entry in sorted(months.items()):
        if not isinstance(month, str) or not _MONTH.match(month):
            raise InvalidInputError(f"Override {name}: {str(month)[:20]!r} is not a month (YYYY-MM).")
        if not isinstance(entry, Mapping):
            entry = {"value": entry}
        value = _decimal(entry.get("value"), f"override {name} {month}")
        if value <= 0:
            raise InvalidInputError(f"Override {name} {month}: a measured parameter is positive.")
        checked[month] = {"value": str(value), "origin": str(entry.get("origin", "")).strip()[:300]}
    return checked


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        number = Decimal("NaN")
    if not number.is_finite():
        raise InvalidInputError(f"{what}: {value!r} is not a decimal number.", hint="Write it like 1234.5.")
    return number


async def _check_process(enterprise_id: int, process_id: int | None) -> None:
    if process_id is None:
        return
    if not await Process.filter(id=process_id, site__enterprise_id=enterprise_id).exists():
        raise InvalidInputError(f"No process {process_id} in this enterprise.")


_ITEM_PREFIX = {
    SourceCategory.FUEL_COMBUSTION.value: "fuel",
    SourceCategory.FLUX.value: "flux",
    SourceCategory.RAW_MATERIAL.value: "raw",
    SourceCategory.FIXED_CARBON.value: "fixed",
}


def known_items(category: str) -> list[str]:
    """Fuels, materials or products with default parameters in at least one edition (the material dictionary); for
    energy-carrying media, those the energy library is seeded with (an accountant may add others to the library)."""
    if category == MEDIUM:
        return sorted(p.code.removeprefix("medium.") for p in SEEDED if p.code.startswith("medium."))
    prefix = _ITEM_PREFIX.get(category)
    if prefix is None:
        return []
    return sorted({item for edition in EDITIONS.values() for item in edition.items(prefix)})


def _check_item(category: str, item: str, overrides: Mapping[str, Any]) -> None:
    """An item without defaults in any edition is accepted only when measured values replace every parameter."""
    known = known_items(category)
    if not known or item in known:
        return
    needed = set(EDITION_2015.method(SourceCategory(category)).parameter_codes)
    if needed <= set(overrides):
        return
    raise InvalidInputError(
        f"No edition has default parameters for {category} item {item!r}; known: {', '.join(known)}.",
        hint=f"Pick a known item, or give measured values for {', '.join(sorted(needed))} in overrides.",
    )


def _check_output_value(process_id: int | None, facility_id: int | None) -> None:
    """The output value is the enterprise's, not a process's or a facility's."""
    if process_id is not None or facility_id is not None:
        raise InvalidInputError(
            "The output value (output_value) belongs to the enterprise as a whole, not to a process or facility.",
            hint="Leave process_id and facility_id out; enter the enterprise's output value in 10^4 CNY (万元).",
        )


async def _check_facility(enterprise_id: int, process_id: int | None, facility_id: int | None) -> None:
    if facility_id is None:
        return
    query = Facility.filter(id=facility_id, process__site__enterprise_id=enterprise_id)
    if process_id is not None:
        query = query.filter(process_id=process_id)
    if not await query.exists():
        raise InvalidInputError(f"No facility {facility_id} in this enterprise (and process, if given).")


async def list_sources(principal: Principal, enterprise_id: int) -> list[EmissionSource]:
    """The enterprise's sources and outputs, by code."""
    await enterprise_for(principal, enterprise_id)
    return await EmissionSource.filter(enterprise_id=enterprise_id).order_by("code").prefetch_related("process")


async def create_source(principal: Principal, enterprise_id: int, data: SourceIn) -> EmissionSource:
    """Add a source to the inventory (audited)."""
    await enterprise_for(principal, enterprise_id, write=True)
    if not data.code or not data.name or not data.category:
        raise InvalidInputError("A source needs code, name and category.")
    category = _category(data.category)
    engine = category not in (OUTPUT, MEDIUM)  # outputs and media are never given to the emission engine
    if engine and EDITION_2015.method(SourceCategory(category)).parameter_codes.get("EF") != "grid":
        needs_item = "{item}" in "".join(EDITION_2015.method(SourceCategory(category)).parameter_codes.values())
        if needs_item and not data.item:
            raise InvalidInputError(f"A {category} source names its item (fuel, material or product code).")
    if category == OUTPUT and not data.item:
        raise InvalidInputError("An output names its product, e.g. crude_steel (or output_value, in 10^4 CNY).")
    if category == OUTPUT and data.item == OUTPUT_VALUE:
        _check_output_value(data.process_id, data.facility_id)
    if engine:
        _check_item(category, data.item or "", data.overrides or {})
    await _check_process(enterprise_id, data.process_id)
    await _check_facility(enterprise_id, data.process_id, data.facility_id)
    inputs = await _check_inputs(enterprise_id, category, data.inputs or {}, data.item or "")
    overrides = _check_overrides(category, data.overrides or {})
    if category == MEDIUM:
        await _check_medium(data.item or "", inputs, overrides)
    grid_kind = _grid_kind(data.grid_kind)
    _check_service(data.in_service_from, data.in_service_until)
    direction = _direction(category, data.item or "", data.direction)
    await _check_transfer(enterprise_id, direction, data.process_id, data.from_process_id)
    await _check_balance(enterprise_id, None, direction, data.process_id, data.from_process_id, data.item or "", inputs)
    if await EmissionSource.filter(enterprise_id=enterprise_id, code=data.code).exists():
        raise ConflictError(f"Source code {data.code!r} exists in this enterprise.", hint="Pick another code.")
    async with in_transaction():
        source = await EmissionSource.create(
            enterprise_id=enterprise_id,
            process_id=data.process_id,
            facility_id=data.facility_id,
            code=data.code,
            name=data.name,
            category=category,
            item=data.item or "",
            inputs=inputs,
            overrides=overrides,
            grid_kind=grid_kind,
            grid_region=data.grid_region or "national",
            direction=direction,
            from_process_id=data.from_process_id if direction == "transfer" else None,
            active=True if data.active is None else data.active,
            in_service_from=data.in_service_from,
            in_service_until=data.in_service_until,
            note=data.note or "",
        )
        await audit.record(
            principal,
            "accounting.source.create",
            entity_type="emission_source",
            entity_id=source.id,
            enterprise_id=enterprise_id,
            after=audit.snapshot(source),
            summary=f"source {source.code} ({category})",
        )
        await pending.mark_history(enterprise_id, "source", detail=f"source {source.code} added", by=principal.name)
    return source


def _service_days(source: EmissionSource, data: SourceIn, was_active: bool, zone: zoneinfo.ZoneInfo) -> None:
    """Retiring a source (active false) ends its service today unless a last day is given, so the periods it
    was in service keep it; putting it back in service (active true) opens it again unless a last day is given."""
    if data.in_service_from is not None:
        source.in_service_from = data.in_service_from
    if data.in_service_until is not None:
        source.in_service_until = data.in_service_until
    elif data.active is False and was_active and source.in_service_until is None:
        source.in_service_until = dt.datetime.now(zone).date()
    elif data.active is True and not was_active:
        source.in_service_until = None
    _check_service(source.in_service_from, source.in_service_until)


#: By-products of an integrated works that may leave the boundary (sold): their consumption may be entered net of
#: what is sold (negative when more is sold than burned), or the sale on its own line (direction "sold").
BY_PRODUCTS = frozenset({"blast_furnace_gas", "coke_oven_gas", "converter_gas", "tar", "crude_benzene"})
DIRECTIONS = ("consumed", "sold", "transfer", MADE)
#: Categories whose quantity may leave the boundary: by-product fuels sold, electricity and heat exported.
_SOLD_CATEGORIES = (SourceCategory.FUEL_COMBUSTION.value, SourceCategory.ELECTRICITY.value, SourceCategory.HEAT.value)


def may_be_negative(source: EmissionSource) -> bool:
    """A net by-product consumption may be negative (more sold than burned); a purchased fuel, a material, a sold
    line, electricity or heat (exports go on their own line) may not."""
    return (
        source.category == SourceCategory.FUEL_COMBUSTION.value
        and source.item in BY_PRODUCTS
        and source.direction == "consumed"
    )


def _direction(category: str, item: str, text: str | None) -> str:
    value = text or "consumed"
    if value not in DIRECTIONS:
        raise InvalidInputError(f"direction {value!r} is not one of {', '.join(DIRECTIONS)}.")
    if value == "sold" and (
        category not in _SOLD_CATEGORIES
        or (category == SourceCategory.FUEL_COMBUSTION.value and item not in BY_PRODUCTS)
    ):
        raise InvalidInputError(
            f"Only by-products ({', '.join(sorted(BY_PRODUCTS))}), electricity and heat are sold or exported.",
            hint="A purchased fuel or a material is consumed; enter what is consumed.",
        )
    if value in ("transfer", MADE) and category not in _TRANSFER_CATEGORIES:
        raise InvalidInputError(
            f"A {category} source is not transferred between processes.",
            hint="Fuels (coke, by-product gases), raw materials (hot metal), electricity, heat and energy-carrying "
            "media (oxygen from the works' oxygen plant) are.",
        )
    return value


#: What one process makes and another uses inside the works: fuels (coke, by-product gases), carbon-bearing
#: materials (hot metal), sub-metered electricity and heat, energy-carrying media (oxygen, nitrogen, water).
_TRANSFER_CATEGORIES = (*_SOLD_CATEGORIES, SourceCategory.RAW_MATERIAL.value, MEDIUM)


async def _check_transfer(
    enterprise_id: int, direction: str, process_id: int | None, from_process_id: int | None
) -> None:
    """A transfer is used at a process and made at another (or, None, at the enterprise level: the grid tie)."""
    if direction != "transfer":
        if from_process_id is not None:
            raise InvalidInputError(
                "from_process_id is for a transfer between processes.",
                hint="Set direction 'transfer', or leave it out.",
            )
        return
    if process_id is None:
        raise InvalidInputError(
            "A transfer is used at a process: give process_id (the user) and from_process_id (the maker).",
            hint="from_process_id left out means the enterprise level, e.g. electricity from the grid tie.",
        )
    if from_process_id == process_id:
        raise InvalidInputError("A transfer goes from one process to another, not to itself.")
    await _check_process(enterprise_id, from_process_id)


def _grid_kind(text: str | None) -> str:
    value = text or GridFactorKind.ETS_PRESCRIBED.value
    if value not in {k.value for k in GridFactorKind}:
        raise InvalidInputError(f"grid_kind {value!r} is not one of {', '.join(k.value for k in GridFactorKind)}.")
    return value


async def update_source(principal: Principal, source_id: int, data: SourceIn) -> EmissionSource:
    """Change a source (audited). Results already stored keep what they used; the next calculation uses this."""
    source = await EmissionSource.get_or_none(id=source_id)
    if source is None or not principal.scope.sees_enterprise(source.enterprise_id):
        raise NotFoundError(f"No emission source {source_id} within your scope.")
    enterprise = await enterprise_for(principal, source.enterprise_id, write=True)
    if data.category is not None and data.category != source.category:
        raise InvalidInputError("The category of a source cannot change; retire it and add a new one.")
    before = audit.snapshot(source)
    was_active = source.active
    if (
        source.category == OUTPUT
        and data.item is not None
        and (data.item == OUTPUT_VALUE) != (source.item == OUTPUT_VALUE)
    ):
        raise InvalidInputError(
            "An output value (10^4 CNY) and a product output (t) do not turn into each other.",
            hint="Retire this output and add a new one.",
        )
    if source.category == OUTPUT and source.item == OUTPUT_VALUE:
        _check_output_value(data.process_id, data.facility_id)
    if data.process_id is not None:
        await _check_process(source.enterprise_id, data.process_id)
        source.process_id = data.process_id
    if data.facility_id is not None:
        await _check_facility(source.enterprise_id, source.process_id, data.facility_id)
    if data.inputs is not None:
        source.inputs = await _check_inputs(source.enterprise_id, source.category, data.inputs, source.item)
    if data.overrides is not None:
        source.overrides = _check_overrides(source.category, data.overrides)
    for name in ("name", "item", "facility_id", "grid_region", "active", "note"):
        value = getattr(data, name)
        if value is not None:
            setattr(source, name, value)
    if data.grid_kind is not None:
        source.grid_kind = _grid_kind(data.grid_kind)
    if data.direction is not None or data.item is not None:
        source.direction = _direction(source.category, source.item, data.direction or source.direction)
    if data.from_process_id is not None or data.direction is not None or data.process_id is not None:
        kept = source.from_process_id if source.direction == "transfer" else None
        wanted = data.from_process_id if data.from_process_id is not None else kept
        await _check_transfer(source.enterprise_id, source.direction, source.process_id, wanted)
        source.from_process_id = wanted
    await _check_balance(
        source.enterprise_id, source.id, source.direction, source.process_id, source.from_process_id, source.item,
        source.inputs or {},
    )  # fmt: skip
    if source.category == MEDIUM and (data.item is not None or data.inputs is not None or data.overrides is not None):
        await _check_medium(source.item, source.inputs, source.overrides or {})
    _service_days(source, data, was_active, zoneinfo.ZoneInfo(enterprise.timezone))
    async with in_transaction():
        await source.save()
        await audit.record(
            principal,
            "accounting.source.update",
            entity_type="emission_source",
            entity_id=source.id,
            enterprise_id=source.enterprise_id,
            before=before,
            after=audit.snapshot(source),
            summary=f"source {source.code}",
        )
        await pending.mark_history(
            source.enterprise_id, "source", detail=f"source {source.code} changed", by=principal.name
        )
    return source


# ---------------------------------------------------------------------------------------------------------
# Activity data


async def add_evidence(
    principal: Principal, enterprise_id: int, filename: str, content_type: str, content: bytes
) -> Evidence:
    """Store an evidence file (a weighbridge ticket, an invoice, a photo of the meter) for manual entries;
    audited. Field staff (activity.enter only) need to see the enterprise, accountants the whole of it."""
    if _field_only(principal):
        if not principal.scope.sees_enterprise(enterprise_id) or not await Enterprise.exists(id=enterprise_id):
            raise NotFoundError(f"No enterprise {enterprise_id} within your scope.")
    else:
        await enterprise_for(principal, enterprise_id, write=True)
    if not content:
        raise InvalidInputError("The evidence file is empty.")
    if len(content) > MAX_EVIDENCE_BYTES:
        raise InvalidInputError(f"Evidence files are limited to {MAX_EVIDENCE_BYTES // 1024 // 1024} MiB.")
    async with in_transaction():
        evidence = await Evidence.create(
            enterprise_id=enterprise_id,
            filename=filename[:255] or "evidence",
            content_type=content_type[:100] or "application/octet-stream",
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            content=content,
            uploaded_by=principal.name,
        )
        await audit.record(
            principal,
            "accounting.evidence.add",
            entity_type="evidence",
            entity_id=evidence.id,
            enterprise_id=enterprise_id,
            after={"filename": evidence.filename, "sha256": evidence.sha256, "size": evidence.size},
            summary=f"evidence {evidence.filename}",
        )
    return evidence


@dataclass(frozen=True)
class ManualEntry:
    """One manually entered value: source, input, the local days it covers (``to`` inclusive), value, unit."""

    source_id: int
    input_name: str
    first_day: dt.date
    last_day: dt.date
    value: str
    unit: str
    estimated: bool = False
    note: str = ""
    evidence_id: int | None = None


def _local_bounds(first: dt.date, last: dt.date, zone: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    if last < first:
        raise InvalidInputError("The last day comes before the first.", hint="'to' is the last day, inclusive.")
    return local_midnight(first, zone), local_midnight(last + dt.timedelta(days=1), zone)


async def _writable_input(source: EmissionSource, input_name: str) -> dict[str, Any]:
    spec = (source.inputs or {}).get(input_name)
    if spec is None:
        raise InvalidInputError(
            f"Source {source.code} has no activity input {input_name!r}; it has {', '.join(source.inputs or {})}."
        )
    if spec.get("origin") == BALANCE:
        raise InvalidInputError(
            f"Input {input_name} of {source.code} is the rest of its maker's balance: nothing is entered for it.",
            hint="Enter the generation and the metered users at the maker, or give the input another origin.",
        )
    return dict(spec)


async def _store_record(
    principal: Principal,
    source: EmissionSource,
    input_name: str,
    start: dt.datetime,
    end: dt.datetime,
    value: Decimal,
    unit: str,
    origin: ActivityOrigin,
    *,
    estimated: bool,
    note: str,
    evidence_id: int | None = None,
    import_id: int | None = None,
    import_row: int | None = None,
) -> ActivityRecord:
    """Write one record inside the caller's transaction; the same period supersedes, an overlap is refused.

    Field staff (activity.enter without accounting.write) may correct only their own manual entries."""
    spec = await _writable_input(source, input_name)
    if _field_only(principal) and spec.get("origin") not in FIELD_ORIGINS:
        raise PermissionDeniedError(
            f"Input {input_name} of {source.code} comes from {spec.get('origin')}, which carbon accountants keep.",
            hint="Field entries are for inputs read by hand or substituting for a meter; ask a carbon accountant.",
        )
    if not _converts(unit, spec["unit"]):
        raise InvalidInputError(f"Unit {unit!r} does not convert to {spec['unit']} (input {input_name}).")
    if value < 0 and not may_be_negative(source):
        raise InvalidInputError(
            f"Input {input_name} of {source.code} cannot be negative.",
            hint="Only the net consumption of a by-product (gas, tar, crude benzene) may be negative; enter sales "
            "and exports as positive quantities on a source with direction 'sold'.",
        )
    live = await ActivityRecord.filter(
        source_id=source.id, input_name=input_name, superseded_by=None, period_start__lt=end, period_end__gt=start
    ).select_for_update()
    same = [r for r in live if r.period_start == start and r.period_end == end]
    other = [r for r in live if r not in same]
    if _field_only(principal):
        for earlier in same:
            if earlier.origin != ActivityOrigin.MANUAL or earlier.entered_by != principal.name:
                raise PermissionDeniedError(
                    f"Record {earlier.id} for this period was {_how_entered(earlier)}; "
                    "only a carbon accountant may correct it.",
                    hint="Ask a carbon accountant (accounting.write) to correct it, or enter another period.",
                )
    if other:
        clash = other[0]
        raise ConflictError(
            f"Source {source.code} {input_name} already has record {clash.id} for "
            f"{clash.period_start.isoformat()} – {clash.period_end.isoformat()}, overlapping this period.",
            hint="Correct that record by entering its exact period again, or enter periods that do not overlap.",
        )
    created = await ActivityRecord.create(
        enterprise_id=source.enterprise_id,
        source_id=source.id,
        input_name=input_name,
        period_start=start,
        period_end=end,
        value=value,
        unit=units.canonical(unit),
        origin=origin,
        estimated=estimated,
        note=note,
        evidence_id=evidence_id,
        import_batch_id=import_id,
        import_row=import_row,
        entered_by=principal.name,
    )
    now = dt.datetime.now(dt.UTC)
    for old in same:
        old.superseded_by = created.id
        old.superseded_at = now
        await old.save(update_fields=["superseded_by", "superseded_at"])
    return created


def _field_only(principal: Principal) -> bool:
    """Field staff: may enter readings (activity.enter) but not keep the books (accounting.write)."""
    return not principal.can(Permission.ACCOUNTING_WRITE)


def _how_entered(record: ActivityRecord) -> str:
    if record.origin == ActivityOrigin.MANUAL:
        return f"entered by {record.entered_by}"
    if record.origin == ActivityOrigin.IMPORT:
        return f"imported from ledger {record.import_batch_id}"
    return f"sent by a {record.origin.value}"


async def _site_of(source: EmissionSource) -> int | None:
    """The site of a process-level source (None for an enterprise-level one)."""
    if source.process_id is None:
        return None
    process = await Process.get(id=source.process_id)
    return process.site_id


def _field_sees(principal: Principal, source: EmissionSource, sites: Mapping[int, int]) -> bool:
    """:func:`_field_sees_site` with the site looked up in ``sites`` (process ids to site ids)."""
    return _field_sees_site(principal, source, sites.get(source.process_id) if source.process_id is not None else None)


def _field_sees_site(principal: Principal, source: EmissionSource, site_id: int | None) -> bool:
    """May field staff enter for this source, whose process is on ``site_id``? That site must be in scope; an
    enterprise-level source (no site) needs the whole enterprise."""
    if principal.scope.covers_enterprise(source.enterprise_id):
        return True
    return site_id is not None and principal.scope.sees_site(source.enterprise_id, site_id)


async def _entry_enterprise(principal: Principal, source: EmissionSource) -> Enterprise:
    """The enterprise of a source the caller may enter values for (404 when not in scope)."""
    if not _field_only(principal):
        return await enterprise_for(principal, source.enterprise_id, write=True)
    if not source.active or not _field_sees_site(principal, source, await _site_of(source)):
        raise NotFoundError(
            f"No emission source {source.id} within your scope.",
            hint="Field entries are for the sources of the sites you are assigned to.",
        )
    return await Enterprise.get(id=source.enterprise_id)


@dataclass(frozen=True)
class EnterableInput:
    """An activity input the caller may enter values for, with the units a value may be given in."""

    source: EmissionSource
    site_id: int | None
    input_name: str
    unit: str
    origin: str
    units: tuple[str, ...]

    @property
    def may_be_negative(self) -> bool:
        """Only the net consumption of a by-product may be negative (see :func:`may_be_negative`)."""
        return may_be_negative(self.source)


def entry_units(unit: str) -> tuple[str, ...]:
    """The simple units a value kept in ``unit`` may be entered in, ``unit`` first (itself only when compound)."""
    own = units.canonical(unit)
    return (own, *(u for u in units.known_units() if u != own and _converts(u, own)))


async def enterable_inputs(principal: Principal, enterprise_id: int) -> list[EnterableInput]:
    """The inputs of active sources the caller may enter by hand: field staff those read by hand or metered
    (a substitute) at the sites in their scope, accountants every input of the enterprise."""
    field = _field_only(principal)
    if field:
        if not principal.scope.sees_enterprise(enterprise_id) or not await Enterprise.exists(id=enterprise_id):
            raise NotFoundError(f"No enterprise {enterprise_id} within your scope.")
    else:
        await enterprise_for(principal, enterprise_id)
    sources = await EmissionSource.filter(enterprise_id=enterprise_id, active=True).order_by("code")
    sites = dict(await Process.filter(site__enterprise_id=enterprise_id).values_list("id", "site_id"))
    out = []
    for source in sources:
        site_id = sites.get(source.process_id) if source.process_id is not None else None
        if field and not _field_sees(principal, source, sites):
            continue
        for name, spec in sorted((source.inputs or {}).items()):
            origin = str(spec.get("origin", ""))
            if origin == BALANCE or (field and origin not in FIELD_ORIGINS):
                continue
            unit = units.canonical(str(spec["unit"]))
            out.append(EnterableInput(source, site_id, name, unit, origin, _entry_units_cached(unit)))
    return out


@functools.lru_cache(maxsize=256)
def _entry_units_cached(unit: str) -> tuple[str, ...]:
    return entry_units(unit)


async def enter_activity(principal: Principal, entry: ManualEntry) -> ActivityRecord:
    """Store one manually entered value (人工采集), audited; a correction of the same period supersedes."""
    source = await EmissionSource.get_or_none(id=entry.source_id)
    if source is None or not principal.scope.sees_enterprise(source.enterprise_id):
        raise NotFoundError(f"No emission source {entry.source_id} within your scope.")
    enterprise = await _entry_enterprise(principal, source)
    if (
        entry.evidence_id is not None
        and not await Evidence.filter(id=entry.evidence_id, enterprise_id=source.enterprise_id).exists()
    ):
        raise InvalidInputError(f"No evidence {entry.evidence_id} in this enterprise.", hint="Upload it first.")
    start, end = _local_bounds(entry.first_day, entry.last_day, zoneinfo.ZoneInfo(enterprise.timezone))
    value = _decimal(entry.value, "value")
    async with in_transaction():
        created = await _store_record(
            principal, source, entry.input_name, start, end, value, entry.unit, ActivityOrigin.MANUAL,
            estimated=entry.estimated, note=entry.note, evidence_id=entry.evidence_id,
        )  # fmt: skip
        await audit.record(
            principal,
            "accounting.activity.enter",
            entity_type="activity_record",
            entity_id=created.id,
            enterprise_id=source.enterprise_id,
            after=audit.snapshot(created, ["source_id", "input_name", "period_start", "period_end", "value", "unit"]),
            summary=f"{source.code} {entry.input_name} {value} {entry.unit}",
        )
        await pending.mark(
            source.enterprise_id, start, end, "activity", detail=f"{source.code} {entry.input_name}", by=principal.name
        )
    return created


async def list_records(
    principal: Principal,
    enterprise_id: int,
    *,
    source_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    include_superseded: bool = False,
    limit: int = 500,
    offset: int = 0,
) -> list[ActivityRecord]:
    """Activity records of an enterprise, newest period first."""
    await enterprise_for(principal, enterprise_id)
    query = ActivityRecord.filter(enterprise_id=enterprise_id)
    if source_id is not None:
        query = query.filter(source_id=source_id)
    if start is not None:
        query = query.filter(period_end__gt=start)
    if end is not None:
        query = query.filter(period_start__lt=end)
    if not include_superseded:
        query = query.filter(superseded_by=None)
    return await query.order_by("-period_start", "source_id", "input_name").offset(offset).limit(limit)


async def get_record(principal: Principal, record_id: int) -> ActivityRecord:
    """One activity record (a correction's predecessor too), if the caller's scope covers its enterprise; else 404."""
    record = await ActivityRecord.get_or_none(id=record_id)
    if record is None or not principal.scope.sees_enterprise(record.enterprise_id):
        raise NotFoundError(f"No activity record {record_id} within your scope.")
    await enterprise_for(principal, record.enterprise_id)
    return record


# ---------------------------------------------------------------------------------------------------------
# Ledger import


async def _ledger_inputs(enterprise_id: int) -> tuple[list[LedgerInput], dict[str, EmissionSource]]:
    sources = await EmissionSource.filter(enterprise_id=enterprise_id, active=True)
    inputs = [
        LedgerInput(source.code, name, str(spec["unit"]), allow_negative=may_be_negative(source))
        for source in sources
        for name, spec in sorted((source.inputs or {}).items())
    ]
    return inputs, {s.code: s for s in sources}


async def _live_records(
    rows: Sequence[LedgerRow], sources: Mapping[str, EmissionSource]
) -> dict[tuple[int, str], list[ActivityRecord]]:
    """The live records of the rows' sources over the rows' time span, by (source, input), by start: one query."""
    if not rows:
        return {}
    found: dict[tuple[int, str], list[ActivityRecord]] = {}
    query = ActivityRecord.filter(
        source_id__in={sources[r.source_code].id for r in rows},
        superseded_by=None,
        period_start__lt=max(r.period_end for r in rows if r.period_end),
        period_end__gt=min(r.period_start for r in rows if r.period_start),
    ).order_by("period_start")
    for record in await query:
        found.setdefault((record.source_id, record.input_name), []).append(record)
    return found


def _overlap(
    records: Sequence[ActivityRecord], ends: Sequence[dt.datetime], start: dt.datetime, end: dt.datetime
) -> ActivityRecord | None:
    """The first of ``records`` (live ones of one input: sorted by start, never overlapping each other, so their
    ``ends`` are sorted too) that overlaps [start, end) without being exactly that period (which a row corrects)."""
    first = bisect.bisect_right(ends, start)
    for record in records[first:]:
        if record.period_start >= end:
            return None
        if not (record.period_start == start and record.period_end == end):
            return record
    return None


async def start_import(principal: Principal, enterprise_id: int, filename: str, content: bytes) -> ActivityImport:
    """Validate a ledger file row by row and keep the report; nothing is written until it is confirmed."""
    enterprise = await enterprise_for(principal, enterprise_id, write=True)
    if len(content) > MAX_LEDGER_BYTES:
        raise InvalidInputError(f"Ledger files are limited to {MAX_LEDGER_BYTES // 1024 // 1024} MiB.")
    inputs, sources = await _ledger_inputs(enterprise_id)
    report = parse_ledger(filename, content, inputs, zoneinfo.ZoneInfo(enterprise.timezone))
    rows = list(report.rows)
    # Rows that would clash with stored records of another period are invalid too: say so now, not at confirm.
    stored = await _live_records([r for r in rows if r.status == "valid" and r.period_start and r.period_end], sources)
    ends_of: dict[tuple[int, str], list[dt.datetime]] = {}
    checked: list[LedgerRow] = []
    for row in rows:
        if row.status == "valid" and row.period_start and row.period_end:
            key = (sources[row.source_code].id, row.input_name)
            records = stored.get(key, [])
            if key not in ends_of:
                ends_of[key] = [r.period_end for r in records]
            clash = _overlap(records, ends_of[key], row.period_start, row.period_end)
            if clash is not None:
                row = dataclasses.replace(
                    row,
                    status="invalid",
                    errors=(
                        *row.errors,
                        f"stored record {clash.id} covers an overlapping period "
                        f"({clash.period_start.date()} – {clash.period_end.date()}); enter the same period to "
                        "correct it, or periods that do not overlap",
                    ),
                )
        checked.append(row)
    valid = [r for r in checked if r.status == "valid"]
    async with in_transaction():
        batch = await ActivityImport.create(
            enterprise_id=enterprise_id,
            filename=filename[:255],
            sha256=hashlib.sha256(content).hexdigest(),
            total_rows=len(checked),
            valid_rows=len(valid),
            report=[row_to_json(r) for r in checked],
            rows=[row_to_json(r) for r in valid],
            created_by=principal.name,
        )
        await audit.record(
            principal,
            "accounting.import.validate",
            entity_type="activity_import",
            entity_id=batch.id,
            enterprise_id=enterprise_id,
            after={"filename": batch.filename, "rows": len(checked), "valid": len(valid)},
            summary=f"ledger {batch.filename}: {len(valid)} of {len(checked)} rows valid",
        )
    return batch


async def _import_of(principal: Principal, import_id: int) -> ActivityImport:
    batch = await ActivityImport.get_or_none(id=import_id)
    if batch is None or not principal.scope.sees_enterprise(batch.enterprise_id):
        raise NotFoundError(f"No ledger import {import_id} within your scope.")
    await enterprise_for(principal, batch.enterprise_id)
    return batch


async def get_import(principal: Principal, import_id: int) -> ActivityImport:
    """A ledger import with its report."""
    return await _import_of(principal, import_id)


async def confirm_import(principal: Principal, import_id: int) -> ActivityImport:
    """Write every valid row of a validated ledger in one transaction — all of them or, on any error, none."""
    batch = await _import_of(principal, import_id)
    await enterprise_for(principal, batch.enterprise_id, write=True)
    if batch.status is not ImportStatus.VALIDATED:
        raise ConflictError(f"Ledger import {import_id} is {batch.status.value}; only a validated one is confirmed.")
    if not batch.rows:
        raise InvalidInputError("The ledger has no valid row to import.", hint="Correct the file and upload it again.")
    _, sources = await _ledger_inputs(batch.enterprise_id)
    async with in_transaction():
        locked = await ActivityImport.filter(id=batch.id, status=ImportStatus.VALIDATED).select_for_update().first()
        if locked is None:
            raise ConflictError(f"Ledger import {import_id} was confirmed or discarded meanwhile.")
        for data in batch.rows:
            row = row_from_json(data)
            source = sources.get(row.source_code)
            if source is None or row.period_start is None or row.period_end is None or row.value is None:
                raise ConflictError(
                    f"Row {row.row}: source {row.source_code} is no longer active; nothing was imported.",
                    hint="Upload the ledger again.",
                )
            try:
                await _store_record(
                    principal, source, row.input_name, row.period_start, row.period_end, row.value, row.unit,
                    ActivityOrigin.IMPORT, estimated=row.estimated, note=row.note, import_id=batch.id,
                    import_row=row.row,
                )  # fmt: skip
            except (InvalidInputError, ConflictError) as err:
                raise ConflictError(
                    f"Row {row.row}: {err.message} Nothing was imported.", hint="Upload the ledger again."
                ) from err
        batch.status = ImportStatus.IMPORTED
        batch.decided_by = principal.name
        batch.decided_at = dt.datetime.now(dt.UTC)
        await batch.save(update_fields=["status", "decided_by", "decided_at"])
        await audit.record(
            principal,
            "accounting.import.confirm",
            entity_type="activity_import",
            entity_id=batch.id,
            enterprise_id=batch.enterprise_id,
            after={"filename": batch.filename, "imported": len(batch.rows)},
            summary=f"ledger {batch.filename}: {len(batch.rows)} rows imported",
        )
        spans = [
            (r.period_start, r.period_end) for r in map(row_from_json, batch.rows) if r.period_start and r.period_end
        ]
        if spans:
            await pending.mark(
                batch.enterprise_id,
                min(lo for lo, _ in spans),
                max(hi for _, hi in spans),
                "import",
                detail=f"ledger {batch.filename}",
                by=principal.name,
            )
    return batch


async def discard_import(principal: Principal, import_id: int) -> ActivityImport:
    """Drop a validated ledger without writing anything (audited)."""
    batch = await _import_of(principal, import_id)
    await enterprise_for(principal, batch.enterprise_id, write=True)
    if batch.status is not ImportStatus.VALIDATED:
        raise ConflictError(f"Ledger import {import_id} is {batch.status.value}; only a validated one is discarded.")
    async with in_transaction():
        batch.status = ImportStatus.DISCARDED
        batch.decided_by = principal.name
        batch.decided_at = dt.datetime.now(dt.UTC)
        await batch.save(update_fields=["status", "decided_by", "decided_at"])
        await audit.record(
            principal,
            "accounting.import.discard",
            entity_type="activity_import",
            entity_id=batch.id,
            enterprise_id=batch.enterprise_id,
            summary=f"ledger {batch.filename} discarded",
        )
    return batch
