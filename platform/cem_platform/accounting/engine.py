"""The accounting engine: activity data + one methodology edition -> emissions with full lineage.

Pure functions over immutable data — no database, no I/O — so the same code serves the API, batch
recalculation and tests. The caller describes each emission source as a :class:`SourceActivity` (category,
process, item such as a fuel or product, activity quantities, optional measured parameters) and calls
:func:`account` with an :class:`~cem_platform.accounting.library.Edition` and the data year. For each source
the engine takes the edition's method for the category, resolves every parameter — a measured override
if given, else the edition's default (never another edition's), the grid factor series for electricity —
converts units explicitly (CC in tC/TJ -> tC/GJ, OF in % -> fraction, kWh -> MWh ...), evaluates the
declarative formula and keeps the lineage: every input with value, unit and origin, the formula id and
version, every parameter with code, version, value, unit and whether it was overridden, and the edition.

Results are summed per category, per term and per process into E = combustion + process + electricity +
heat − fixed carbon. Everything is exact ``Decimal`` carried to :data:`~.formulas.PRECISION` digits; nothing
is rounded except by :func:`round_for_display`. Completeness and estimation flags of every quantity used
propagate to the source, process and enterprise figures built on them.

Errors: :class:`ActivityDataError` (an :class:`~.formulas.AccountingError`) for wrong activity data, plus
the library's and formulas' errors.
"""

from __future__ import annotations

import decimal
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

from cem_platform.accounting import units
from cem_platform.accounting.formulas import PRECISION, AccountingError
from cem_platform.accounting.library import (
    GRID,
    GRID_FACTORS,
    CategoryGroup,
    Edition,
    EditionMismatchError,
    GridFactor,
    GridFactorKind,
    Method,
    MethodVariant,
    Parameter,
    ParameterNotFoundError,
    SourceCategory,
    grid_factor,
)

__all__ = [
    "GJ_PER_TCE",
    "AccountingResult",
    "ActivityDataError",
    "GroupTotals",
    "InputLineage",
    "ParameterLineage",
    "Quantity",
    "SourceActivity",
    "SourceResult",
    "account",
    "round_for_display",
]

#: Standard coal equivalent: 1 tce = 29.3076 GJ.
GJ_PER_TCE = Decimal("29.3076")


class ActivityDataError(AccountingError):
    """The activity data given for a source does not fit the method."""

    code = "activity_data_error"
    default_hint = "Give each named quantity once, in a unit the method accepts, with its origin."


@functools.lru_cache(maxsize=1024)
def _factor(from_unit: str, to_unit: str) -> Decimal | None:
    """The exact factor from ``from_unit`` to ``to_unit`` (``cem_platform.accounting.units``), or None when the
    two do not convert (different dimensions, or a unit the module does not know). Percentages are fractions.

    Cached: units are fixed definitions, and a period's accounting asks for the same few pairs many times."""
    if from_unit == to_unit:
        return Decimal(1)
    if (from_unit, to_unit) == ("%", "1"):
        return Decimal("0.01")
    try:
        return units.convert(Decimal(1), from_unit, to_unit)
    except units.UnitError:
        return None


def round_for_display(value: Decimal, places: int = 4) -> Decimal:
    """Round half-up to ``places`` decimals — for display and reports only, never inside the computation."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Quantity:
    """A measured or entered value: exact value, unit, where it came from, and data-quality flags."""

    value: Decimal
    unit: str
    origin: str
    complete: bool = True
    estimated: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.value, Decimal) or not self.value.is_finite():
            raise ActivityDataError(
                f"Quantity from {self.origin!r} must be a finite Decimal (built from text), got {self.value!r}."
            )
        if not self.origin.strip():
            raise ActivityDataError("Every quantity needs an origin, e.g. 'meter:IR.BF1.COKE' or 'manual:entry 17'.")


@dataclass(frozen=True)
class SourceActivity:
    """One emission source: its category, process, item and activity data, with optional measured parameters.

    ``activity`` is keyed by the method's activity inputs (fuel: ``FC``; flux, electrode, raw materials and
    products: ``AD``; electricity and heat: ``purchased`` and ``exported``). ``overrides`` is keyed by the
    parameter inputs (``NCV``, ``CC``, ``OF``, ``EF``) and replaces the edition's default for this source
    only. Negative fuel consumption is allowed: by-product gas, tar or benzene sold outside the boundary.
    """

    source_id: str
    process: str
    category: SourceCategory
    activity: Mapping[str, Quantity]
    item: str = ""
    overrides: Mapping[str, Quantity] = field(default_factory=dict)
    grid_kind: GridFactorKind = GridFactorKind.ETS_PRESCRIBED
    grid_region: str = "national"


@dataclass(frozen=True)
class InputLineage:
    """An activity quantity as given and as used by the formula."""

    name: str
    value: Decimal
    unit: str
    origin: str
    complete: bool
    estimated: bool
    used_value: Decimal
    used_unit: str


@dataclass(frozen=True)
class ParameterLineage:
    """A parameter as taken (default, grid series or measured override) and as used by the formula.

    ``origin`` is the override's origin, ``default:<edition> <version>`` or ``grid:<kind>``; ``source`` is
    the document note of a default; ``default_value`` is the default an override replaced, if any.
    """

    name: str
    code: str
    value: Decimal
    unit: str
    used_value: Decimal
    used_unit: str
    origin: str
    overridden: bool
    edition: str | None
    version: str | None
    source: str
    confidence: str | None
    default_value: Decimal | None = None
    complete: bool = True
    estimated: bool = False


@dataclass(frozen=True)
class SourceResult:
    """The emission of one source (tCO2; fixed carbon is positive here and deducted in totals), with lineage."""

    source_id: str
    process: str
    category: SourceCategory
    item: str
    emission: Decimal
    unit: str
    formula_id: str
    formula_version: str
    expression: str
    edition: str
    edition_version: str
    inputs: tuple[InputLineage, ...]
    parameters: tuple[ParameterLineage, ...]
    energy_gj: Decimal | None
    complete: bool
    estimated: bool

    @property
    def group(self) -> CategoryGroup:
        """The term of E_total this source adds to."""
        return self.category.group

    @property
    def overridden(self) -> tuple[str, ...]:
        """Names of the parameters replaced by measured values."""
        return tuple(p.name for p in self.parameters if p.overridden)

    def parameter(self, name: str) -> ParameterLineage:
        """The lineage of parameter input ``name`` (e.g. 'NCV')."""
        for lineage in self.parameters:
            if lineage.name == name:
                return lineage
        raise KeyError(name)


@dataclass(frozen=True)
class GroupTotals:
    """Totals per term of E_total, and the net: combustion + process + electricity + heat − fixed carbon."""

    combustion: Decimal
    process: Decimal
    electricity: Decimal
    heat: Decimal
    fixed_carbon: Decimal
    net: Decimal

    @classmethod
    def of(cls, results: Iterable[SourceResult]) -> GroupTotals:
        """Sum ``results`` per term (call inside the engine's precision context)."""
        sums = dict.fromkeys(CategoryGroup, Decimal(0))
        for result in results:
            sums[result.group] += result.emission
        net = (
            sums[CategoryGroup.COMBUSTION]
            + sums[CategoryGroup.PROCESS]
            + sums[CategoryGroup.ELECTRICITY]
            + sums[CategoryGroup.HEAT]
            - sums[CategoryGroup.FIXED_CARBON]
        )
        return cls(
            sums[CategoryGroup.COMBUSTION],
            sums[CategoryGroup.PROCESS],
            sums[CategoryGroup.ELECTRICITY],
            sums[CategoryGroup.HEAT],
            sums[CategoryGroup.FIXED_CARBON],
            net,
        )


@dataclass(frozen=True)
class AccountingResult:
    """An enterprise's emissions for one data year under one edition, per source, category and process."""

    edition: str
    edition_version: str
    year: int
    sources: tuple[SourceResult, ...]
    totals: GroupTotals
    by_category: Mapping[SourceCategory, Decimal]
    by_process: Mapping[str, GroupTotals]
    fuel_energy_gj: Decimal
    fuel_energy_tce: Decimal
    process_fuel_energy_gj: Mapping[str, Decimal]
    crude_steel: Quantity | None
    intensity: Decimal | None
    process_intensity: Mapping[str, Decimal]
    process_energy_intensity_kgce: Mapping[str, Decimal]
    complete: bool
    estimated: bool

    def source(self, source_id: str) -> SourceResult:
        """The result of one source."""
        for result in self.sources:
            if result.source_id == source_id:
                return result
        raise KeyError(source_id)


def account(
    edition: Edition,
    year: int,
    sources: Iterable[SourceActivity],
    *,
    crude_steel: Quantity | None = None,
    process_outputs: Mapping[str, Quantity] | None = None,
    grid_factors: Sequence[GridFactor] = GRID_FACTORS,
    provisional_grid: bool = False,
) -> AccountingResult:
    """Account ``sources`` for data ``year`` under ``edition``; intensities when outputs are given (in t).

    ``grid_factors`` is the grid factor series to use (a stored library version; the seeded one by default).
    With ``provisional_grid``, a data year without a published factor uses the newest earlier one of the same
    kind and region, and the figures built on it are marked estimated (lineage origin says ``provisional``).
    """
    if not edition.covers(year):
        raise EditionMismatchError(
            f"Edition {edition.code} does not cover data year {year} "
            f"(valid {edition.first_year or '…'}–{edition.last_year or '…'})."
        )
    activities = list(sources)
    seen: set[str] = set()
    for activity in activities:
        if activity.source_id in seen:
            raise ActivityDataError(f"Source id {activity.source_id!r} is given twice; each source once.")
        seen.add(activity.source_id)
    outputs = dict(process_outputs or {})
    with decimal.localcontext() as context:
        context.prec = PRECISION
        results = tuple(
            _account_source(edition, year, activity, grid_factors, provisional_grid) for activity in activities
        )
        totals = GroupTotals.of(results)
        by_category = {
            category: sum((r.emission for r in results if r.category == category), Decimal(0))
            for category in SourceCategory
        }
        processes = sorted({r.process for r in results} | set(outputs))
        by_process = {p: GroupTotals.of(r for r in results if r.process == p) for p in processes}
        process_energy = {
            p: sum((r.energy_gj for r in results if r.process == p and r.energy_gj is not None), Decimal(0))
            for p in processes
        }
        fuel_energy = sum(process_energy.values(), Decimal(0))
        intensity = None
        if crude_steel is not None:
            intensity = totals.net / _output_tonnes(crude_steel, "crude steel")
        process_intensity: dict[str, Decimal] = {}
        process_energy_intensity: dict[str, Decimal] = {}
        for process, output in outputs.items():
            tonnes = _output_tonnes(output, f"output of {process}")
            process_intensity[process] = by_process[process].net / tonnes
            process_energy_intensity[process] = process_energy[process] / GJ_PER_TCE * 1000 / tonnes
        fuel_energy_tce = fuel_energy / GJ_PER_TCE
    quantities = [q for q in (crude_steel, *outputs.values()) if q is not None]
    return AccountingResult(
        edition=edition.code,
        edition_version=edition.version,
        year=year,
        sources=results,
        totals=totals,
        by_category=MappingProxyType(by_category),
        by_process=MappingProxyType(by_process),
        fuel_energy_gj=fuel_energy,
        fuel_energy_tce=fuel_energy_tce,
        process_fuel_energy_gj=MappingProxyType(process_energy),
        crude_steel=crude_steel,
        intensity=intensity,
        process_intensity=MappingProxyType(process_intensity),
        process_energy_intensity_kgce=MappingProxyType(process_energy_intensity),
        complete=all(r.complete for r in results) and all(q.complete for q in quantities),
        estimated=any(r.estimated for r in results) or any(q.estimated for q in quantities),
    )


def _output_tonnes(quantity: Quantity, what: str) -> Decimal:
    factor = _factor(quantity.unit, "t")
    if factor is None:
        raise ActivityDataError(f"The {what} must be in t (or kg, kt), got {quantity.unit!r} from {quantity.origin}.")
    tonnes = quantity.value * factor
    if tonnes <= 0:
        raise ActivityDataError(f"The {what} must be positive to compute an intensity, got {quantity.value}.")
    return tonnes


@dataclass(frozen=True)
class _Resolved:
    """A parameter before unit conversion to the chosen formula's declared unit."""

    name: str
    code: str
    value: Decimal
    unit: str
    origin: str
    overridden: bool
    edition: str | None
    version: str | None
    source: str
    confidence: str | None
    default_value: Decimal | None
    complete: bool = True
    estimated: bool = False


@dataclass(frozen=True)
class _Parameters:
    """What a source's parameters come to, independent of its activity: the method, the chosen variant, the
    parameters' lineage and their values in the formula's units (see :func:`_parameters`)."""

    edition: Edition
    grid_factors: Sequence[GridFactor]
    method: Method
    variant: MethodVariant
    lineage: tuple[ParameterLineage, ...]
    values: Mapping[str, Decimal]


#: Resolved parameters by source shape (see :func:`_parameters`); bounded, cleared when full.
_PARAMETERS: dict[tuple[object, ...], _Parameters] = {}
_PARAMETERS_MAX = 4096


def _parameters(
    edition: Edition,
    year: int,
    activity: SourceActivity,
    grid_factors: Sequence[GridFactor],
    provisional: bool,
    where: str,
) -> _Parameters:
    """The parameters of a source: resolved (override, default or grid factor), the variant whose units they
    fit, converted to its declared units. They depend on the edition, the year, the category, the item, the
    overrides and the grid series, never on the activity quantities, so a run of periods resolves them once per
    source: cached by those (the edition and the grid series by identity: loaded versions never change).
    Errors are raised each time, never cached."""
    overrides = tuple(
        (name, str(q.value), q.unit, q.origin, q.complete, q.estimated)
        for name, q in sorted(activity.overrides.items())
    )
    key = (
        id(edition), year, activity.category, activity.item, overrides, activity.grid_kind, activity.grid_region,
        id(grid_factors), provisional,
    )  # fmt: skip
    cached = _PARAMETERS.get(key)
    if cached is not None and cached.edition is edition and cached.grid_factors is grid_factors:
        return cached
    method = edition.method(activity.category)
    unknown_overrides = sorted(set(activity.overrides) - set(method.parameter_codes))
    if unknown_overrides:
        raise ActivityDataError(
            f"{where}: {', '.join(unknown_overrides)} cannot be overridden; "
            f"parameters of this method are {', '.join(sorted(method.parameter_codes))}."
        )
    resolved = {
        name: _resolve(edition, year, method, activity, name, grid_factors, provisional)
        for name in method.parameter_codes
    }
    variant = _choose_variant(method, resolved, where)
    formula = variant.emission
    parameters: list[ParameterLineage] = []
    values: dict[str, Decimal] = {}
    with decimal.localcontext() as context:
        context.prec = PRECISION
        for name in sorted(resolved):
            r = resolved[name]
            declared = formula.input_units[name]
            factor = _factor(r.unit, declared)
            assert factor is not None  # _choose_variant picked a variant whose units convert  # noqa: S101
            values[name] = r.value * factor
            parameters.append(
                ParameterLineage(
                    r.name, r.code, r.value, r.unit, values[name], declared, r.origin, r.overridden, r.edition,
                    r.version, r.source, r.confidence, r.default_value, r.complete, r.estimated,
                )
            )  # fmt: skip
    found = _Parameters(edition, grid_factors, method, variant, tuple(parameters), MappingProxyType(values))
    if len(_PARAMETERS) >= _PARAMETERS_MAX:
        _PARAMETERS.clear()
    _PARAMETERS[key] = found
    return found


def _account_source(
    edition: Edition, year: int, activity: SourceActivity, grid_factors: Sequence[GridFactor], provisional: bool
) -> SourceResult:
    where = f"Source {activity.source_id!r} ({activity.category.value} {activity.item or ''})".replace(" )", ")")
    resolved = _parameters(edition, year, activity, grid_factors, provisional, where)
    method, variant, parameters = resolved.method, resolved.variant, resolved.lineage
    formula = variant.emission

    expected = method.activity_inputs(variant)
    missing, extra = sorted(expected - set(activity.activity)), sorted(set(activity.activity) - expected)
    if missing or extra:
        raise ActivityDataError(
            f"{where}: activity data must be exactly {', '.join(sorted(expected))}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(extra)}" if extra else "")
            + "."
        )
    inputs: list[InputLineage] = []
    values: dict[str, Decimal] = {}
    for name in sorted(expected):
        quantity = activity.activity[name]
        declared = formula.input_units[name]
        factor = _factor(quantity.unit, declared)
        if factor is None:
            raise ActivityDataError(
                f"{where}: {name} is in {quantity.unit!r} but the method expects {declared!r} "
                f"(formula {formula.id} v{formula.version})."
            )
        values[name] = quantity.value * factor
        inputs.append(
            InputLineage(
                name, quantity.value, quantity.unit, quantity.origin, quantity.complete, quantity.estimated,
                values[name], declared,
            )
        )  # fmt: skip
    values.update(resolved.values)
    evaluation = formula.evaluate(values)
    energy = None
    if variant.energy is not None:
        energy = variant.energy.evaluate({name: values[name] for name in variant.energy.inputs}).value
    return SourceResult(
        source_id=activity.source_id,
        process=activity.process,
        category=activity.category,
        item=activity.item,
        emission=evaluation.value,
        unit=evaluation.unit,
        formula_id=formula.id,
        formula_version=formula.version,
        expression=formula.expression,
        edition=edition.code,
        edition_version=edition.version,
        inputs=tuple(inputs),
        parameters=parameters,
        energy_gj=energy,
        complete=all(i.complete for i in inputs) and all(p.complete for p in parameters),
        estimated=any(i.estimated for i in inputs) or any(p.estimated for p in parameters),
    )


def _resolve(
    edition: Edition,
    year: int,
    method: Method,
    activity: SourceActivity,
    name: str,
    grid_factors: Sequence[GridFactor],
    provisional: bool,
) -> _Resolved:
    template = method.parameter_codes[name]
    override = activity.overrides.get(name)
    if template == GRID:
        if override is not None:
            return _Resolved(
                name, "grid.override", override.value, override.unit, override.origin, True, None, None,
                "measured or contractual grid factor entered by the caller", None, None,
                override.complete, override.estimated,
            )  # fmt: skip
        factor = grid_factor(year, activity.grid_kind, activity.grid_region, grid_factors, provisional=provisional)
        stand_in = not factor.first_year <= year <= factor.last_year
        origin = f"grid:{factor.kind.value}" + (f" provisional for {year}: newest published" if stand_in else "")
        return _Resolved(
            name, factor.code, factor.value, factor.unit, origin, False, None, factor.version or None,
            factor.source, factor.confidence.value, None, True, stand_in,
        )  # fmt: skip
    code = method.parameter_code(name, activity.item)
    if override is not None:
        default: Parameter | None
        try:
            default = edition.parameter(code)
        except ParameterNotFoundError:
            default = None
        return _Resolved(
            name, code, override.value, override.unit, override.origin, True, None, None,
            "measured value replacing the default", None, default.value if default else None,
            override.complete, override.estimated,
        )  # fmt: skip
    parameter = edition.parameter(code)
    if parameter.edition != edition.code:  # defence in depth: Edition refuses foreign parameters on creation
        raise EditionMismatchError(f"Parameter {code} belongs to {parameter.edition}, not {edition.code}.")
    if not parameter.valid_in(year):
        raise ParameterNotFoundError(
            f"Default {code} of {edition.code} is valid {parameter.valid_from}–{parameter.valid_until}, not in {year}."
        )
    return _Resolved(
        name, code, parameter.value, parameter.unit, f"default:{edition.code} {parameter.version}", False,
        parameter.edition, parameter.version, parameter.source, parameter.confidence.value, None,
    )  # fmt: skip


def _choose_variant(method: Method, resolved: Mapping[str, _Resolved], where: str) -> MethodVariant:
    for variant in method.variants:
        units = variant.emission.input_units
        if all(_factor(r.unit, units[name]) is not None for name, r in resolved.items()):
            return variant
    given = ", ".join(f"{name} in {r.unit!r}" for name, r in sorted(resolved.items()))
    accepted = "; ".join(
        ", ".join(f"{name} in {v.emission.input_units[name]!r}" for name in sorted(resolved)) for v in method.variants
    )
    raise ActivityDataError(f"{where}: parameters given as {given}; the method accepts {accepted}.")
