"""Reduction scenarios (standard 5.4.7): measures of the measures library applied to an enterprise's processes, the
projected emissions and intensity, and the marginal abatement cost (MAC) curve.

A scenario names a base year and a list of applications ``{measure, process_id, adoption}``; adoption is the share of
the process's output the measure covers, in (0, 1] (1: the whole process). The measures come from the versions the
scenario pins (``versions``, set when it is created or changed; the enterprise's own library first, then the shared
one), so editing a measure later never changes a scenario's result.

**Base figures.** Per process, the base year's CO2 per tonne (tCO2/t), process energy per tonne (kgce/t) and output
(t) exactly as the gap analysis has them (:func:`cem_platform.benchmarking.services.analyse`, i.e. the statistics
service's kept figures): base tCO2 = intensity × output, base tce = kgce/t × output / 1000, as the reduction potential
multiplies them. The enterprise's base is its own CO2 per tonne of crude steel × its crude steel. A process without
output or figures in the base year is listed with nulls and its applications count nothing (said in ``notes``).

**Combination rule** (for CO2 and for energy alike, per process). The measures applied to one process act one after
another on what is left, never below zero:

1. absolute (``per_tonne``) measures first, in the order listed: each removes value × adoption × output (kgce
   / 1000 for energy), at most what is left (so the intensity never goes below zero; nothing when nothing is left);
2. then fractional measures, in the order listed: each removes fraction × adoption of what is left, so together
   remaining = (base − absolute) × Π(1 − f_i × a_i).

Each measure's abatement is what it removed at its step; they add up exactly to base − projected. Absolute savings
come first because a per-tonne saving is independent of what else is done, while a fraction reduces what remains.

**MAC.** Per application: annualised cost (CNY/year) = capex × output × adoption × CRF(r, n) + opex × output ×
adoption − saving tce × energy price, where CRF(r, n) = r(1 + r)^n / ((1 + r)^n − 1) (1/n when r = 0), r the scenario's
discount rate (a fraction a year), n the measure's lifetime, capex in CNY per t/a and opex in CNY per t of the
process's output (the base year's output taken as a year's), the energy price in CNY per tce. Cost per tCO2 = annualised
cost / annual abatement. The curve is sorted by cost per tCO2 ascending (the order listed among equals); applications
without a cost (the library has none) or without CO2 abatement come last, in the order listed; the cumulative
abatement runs over the whole list.

**Rounding.** Decimal throughout. Base figures and every abatement and saving are rounded once to 0.000001 t (a gram),
half to even; projected figures and every sum add those exactly. Annualised costs and costs per tCO2 are rounded to
0.01 CNY, half to even; a projected intensity to 0.000001 tCO2/t.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import msgspec
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from cem_platform.accounting import units
from cem_platform.accounting.inventory import enterprise_for
from cem_platform.accounting.models import PeriodKind
from cem_platform.audit.services import record
from cem_platform.benchmarking.measures import SHARED, enterprise_measures, measures_version
from cem_platform.benchmarking.models import Scenario
from cem_platform.benchmarking.references import MAX_TEXT, BenchmarkError, decimal_of
from cem_platform.benchmarking.services import IndicatorSeries, analyse
from cem_platform.errors import ConflictError, NotFoundError
from cem_platform.identity.principal import Principal
from cem_platform.org.models import Process

__all__ = [
    "Application",
    "ScenarioIn",
    "ScenarioOut",
    "ScenarioResult",
    "capital_recovery_factor",
    "combine",
    "create_scenario",
    "delete_scenario",
    "scenario_of",
    "scenario_out",
    "scenario_result",
    "update_scenario",
]

MAX_APPLICATIONS = 100
_GRAM = Decimal("0.000001")
_FEN = Decimal("0.01")
_THOUSAND = Decimal(1000)
_ZERO = Decimal(0)
_ONE = Decimal(1)


def _gram(value: Decimal) -> Decimal:
    return value.quantize(_GRAM, ROUND_HALF_EVEN)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else units.exact_text(value)


# ---- the wire -----------------------------------------------------------------------------------------------------


class Application(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One measure applied to one process: the share of the process's output it covers."""

    measure: str
    process_id: int
    adoption: str = "1"


class ScenarioIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A scenario as written: base year, discount rate (a fraction a year), energy price (CNY per tce) and the
    applications."""

    enterprise_id: int
    name: str
    base_year: int
    discount_rate: str = "0.08"
    energy_price: str = "0"
    applications: list[Application] = msgspec.field(default_factory=list)
    note: str = ""


class ScenarioOut(msgspec.Struct, kw_only=True):
    """A stored scenario."""

    id: int
    enterprise_id: int
    name: str
    base_year: int
    discount_rate: str
    discount_rate_unit: str
    energy_price: str
    energy_price_unit: str
    applications: list[dict[str, Any]]
    versions: dict[str, int]
    note: str
    created_by: str
    created_at: dt.datetime
    changed_by: str
    changed_at: dt.datetime


class ProcessResult(msgspec.Struct, kw_only=True):
    """One process of the scenario: base, abatement and projection."""

    process_id: int
    process_code: str
    process_name: str
    process_type: str
    output_t: str | None
    base_tco2: str | None
    base_tce: str | None
    base_intensity_tco2_t: str | None
    abatement_tco2: str
    saving_tce: str
    projected_tco2: str | None
    projected_tce: str | None
    projected_intensity_tco2_t: str | None
    measures: list[dict[str, Any]]  # each application: measure_code, rule, abatement_tco2, saving_tce


class EnterpriseResult(msgspec.Struct, kw_only=True):
    """The enterprise: its own base (CO2 per tonne of crude steel × crude steel) less the processes' abatement."""

    base_tco2: str | None
    abatement_tco2: str
    projected_tco2: str | None
    saving_tce: str
    output_t: str | None  # crude steel
    base_intensity_tco2_t: str | None
    projected_intensity_tco2_t: str | None


class MacPoint(msgspec.Struct, kw_only=True):
    """One application on the MAC curve."""

    measure_code: str
    measure_name: str
    measure_name_en: str
    library: str
    process_id: int
    process_code: str
    adoption: str
    abatement_tco2: str
    saving_tce: str
    capex_cny: str | None  # capex × output × adoption
    annualised_cost_cny: str | None  # null: the library has no cost for the measure
    cost_per_tco2_cny: str | None  # null: no cost, or no CO2 abatement
    cumulative_abatement_tco2: str


class ScenarioResult(msgspec.Struct, kw_only=True):
    """The result of a scenario (see the module for the rules)."""

    scenario: ScenarioOut
    base_year: int
    period: str
    processes: list[ProcessResult]
    enterprise: EnterpriseResult
    mac: list[MacPoint]
    versions: dict[str, int]  # measures libraries pinned; the base figures are the statistics as kept
    notes: list[str]


def scenario_out(s: Scenario) -> ScenarioOut:
    """A stored scenario for the wire."""
    return ScenarioOut(
        id=s.id,
        enterprise_id=s.enterprise_id,
        name=s.name,
        base_year=s.base_year,
        discount_rate=units.exact_text(Decimal(s.discount_rate)),
        discount_rate_unit="1/a",
        energy_price=units.exact_text(Decimal(s.energy_price)),
        energy_price_unit="CNY/tce",
        applications=list(s.applications),
        versions=dict(s.versions),
        note=s.note,
        created_by=s.created_by,
        created_at=s.created_at,
        changed_by=s.changed_by,
        changed_at=s.changed_at,
    )


# ---- the rules ----------------------------------------------------------------------------------------------------


def capital_recovery_factor(rate: Decimal, years: int) -> Decimal:
    """CRF(r, n) = r(1 + r)^n / ((1 + r)^n − 1); 1/n when r = 0."""
    if rate == 0:
        return _ONE / years
    grown = (_ONE + rate) ** years
    return rate * grown / (grown - _ONE)


def combine(base: Decimal, absolute: Sequence[Decimal], fractions: Sequence[Decimal]) -> tuple[list[Decimal], Decimal]:
    """What each measure removes from ``base`` and what is left, by the module's combination rule: the ``absolute``
    amounts first (each at most what is left), then the ``fractions`` (each of what is left); every amount rounded to
    the gram, the remainder exactly base − their sum."""
    left = _gram(base)
    taken: list[Decimal] = []
    for amount in absolute:
        take = max(_ZERO, min(_gram(amount), left))
        taken.append(take)
        left -= take
    for fraction in fractions:
        take = _gram(left * fraction) if left > 0 else _ZERO
        taken.append(take)
        left -= take
    return taken, left


# ---- validation and storage ---------------------------------------------------------------------------------------


async def _pins(enterprise_id: int) -> dict[str, int]:
    shared = await measures_version(SHARED)
    own_library = enterprise_measures(enterprise_id)
    own = await measures_version(own_library)
    return {SHARED: shared.number if shared else 0, own_library: own.number if own else 0}


async def _measures(versions: Mapping[str, int], enterprise_id: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """code -> (library, measure) from the pinned versions; the enterprise's own measure wins over a shared one."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for library in (SHARED, enterprise_measures(enterprise_id)):
        number = versions.get(library, 0)
        stored = await measures_version(library, number) if number else None
        for m in stored.entries if stored is not None else []:
            found[m["code"]] = (library, m)
    return found


async def _checked(data: ScenarioIn, enterprise_id: int, versions: Mapping[str, int]) -> dict[str, Any]:
    name = data.name.strip()
    if not name or len(name) > 100:
        raise BenchmarkError("Give the scenario a name (at most 100 characters).")
    if not 2000 <= data.base_year <= 2100:
        raise BenchmarkError(f"base_year {data.base_year} is not a year from 2000 to 2100.")
    rate = decimal_of(data.discount_rate, "discount_rate", signed=False)
    if rate > 1:
        raise BenchmarkError(
            f"discount_rate {data.discount_rate!r} is above 1.", hint="A fraction a year: write 0.08 for 8 %."
        )
    price = decimal_of(data.energy_price, "energy_price (CNY/tce)", signed=False)
    if len(data.note) > MAX_TEXT:
        raise BenchmarkError(f"The note is longer than {MAX_TEXT} characters.")
    if len(data.applications) > MAX_APPLICATIONS:
        raise BenchmarkError(f"A scenario applies at most {MAX_APPLICATIONS} measures.")
    measures = await _measures(versions, enterprise_id)
    processes = {
        p.id: p
        for p in await Process.filter(
            site__enterprise_id=enterprise_id, id__in=[a.process_id for a in data.applications]
        ).prefetch_related("process_type")
    }
    applications: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for a in data.applications:
        process = processes.get(a.process_id)
        if process is None:
            raise BenchmarkError(f"No process {a.process_id} in enterprise {enterprise_id}.")
        if a.measure not in measures:
            raise BenchmarkError(
                f"No measure {a.measure!r} in the measures libraries "
                f"({', '.join(f'{k} v{v}' for k, v in versions.items())}).",
                hint="See GET /api/v1/benchmarking/measures for the measures.",
            )
        measure = measures[a.measure][1]
        if process.process_type.code not in measure["process_types"]:
            raise BenchmarkError(
                f"Measure {a.measure} applies to {', '.join(measure['process_types'])}, not to process "
                f"{process.code} ({process.process_type.code}).",
            )
        if (a.measure, a.process_id) in seen:
            raise BenchmarkError(f"Measure {a.measure} is applied to process {process.code} twice.")
        seen.add((a.measure, a.process_id))
        adoption = decimal_of(a.adoption, f"adoption of {a.measure} on {process.code}")
        if not 0 < adoption <= 1:
            raise BenchmarkError(
                f"adoption {a.adoption!r} of {a.measure} on {process.code} is outside (0, 1].",
                hint="The share of the process's output the measure covers: 1 for all of it, 0.5 for half.",
            )
        applications.append({"measure": a.measure, "process_id": a.process_id, "adoption": format(adoption, "f")})
    return {
        "name": name,
        "base_year": data.base_year,
        "discount_rate": rate,
        "energy_price": price,
        "applications": applications,
        "note": data.note.strip(),
    }


def _audit_json(s: Scenario) -> dict[str, Any]:
    return {
        "name": s.name,
        "base_year": s.base_year,
        "discount_rate": units.exact_text(Decimal(s.discount_rate)),
        "energy_price": units.exact_text(Decimal(s.energy_price)),
        "applications": s.applications,
        "versions": s.versions,
    }


def _duplicate(name: str) -> ConflictError:
    return ConflictError(f"The enterprise has a scenario named {name!r} already.", hint="Choose another name.")


async def create_scenario(principal: Principal, data: ScenarioIn) -> Scenario:
    """Store a new scenario, its measures versions pinned to the newest; audited."""
    enterprise = await enterprise_for(principal, data.enterprise_id, write=True)
    versions = await _pins(enterprise.id)
    fields = await _checked(data, enterprise.id, versions)
    try:
        async with in_transaction():
            scenario = await Scenario.create(
                enterprise_id=enterprise.id,
                versions=versions,
                created_by=principal.name,
                changed_by=principal.name,
                **fields,
            )
            await record(
                principal,
                "benchmarking.scenario.create",
                entity_type="scenario",
                entity_id=scenario.id,
                enterprise_id=enterprise.id,
                after=_audit_json(scenario),
                summary=f"scenario {scenario.name}: {len(scenario.applications)} measure(s)",
            )
    except IntegrityError as err:
        raise _duplicate(fields["name"]) from err
    return scenario


async def scenario_of(principal: Principal, scenario_id: int, *, write: bool = False) -> Scenario:
    """A scenario within the caller's scope, or NotFoundError."""
    scenario = await Scenario.get_or_none(id=scenario_id)
    if scenario is None or not principal.scope.sees_enterprise(scenario.enterprise_id):
        raise NotFoundError(f"No scenario {scenario_id} within your scope.")
    await enterprise_for(principal, scenario.enterprise_id, write=write)
    return scenario


async def update_scenario(principal: Principal, scenario_id: int, data: ScenarioIn) -> Scenario:
    """Replace a scenario's fields and re-pin its measures versions to the newest; audited."""
    scenario = await scenario_of(principal, scenario_id, write=True)
    if data.enterprise_id != scenario.enterprise_id:
        raise BenchmarkError("A scenario stays with its enterprise; create a new one for another.")
    versions = await _pins(scenario.enterprise_id)
    fields = await _checked(data, scenario.enterprise_id, versions)
    before = _audit_json(scenario)
    scenario.update_from_dict({**fields, "versions": versions, "changed_by": principal.name})
    try:
        async with in_transaction():
            await scenario.save()
            await record(
                principal,
                "benchmarking.scenario.change",
                entity_type="scenario",
                entity_id=scenario.id,
                enterprise_id=scenario.enterprise_id,
                before=before,
                after=_audit_json(scenario),
                summary=f"scenario {scenario.name}: {len(scenario.applications)} measure(s)",
            )
    except IntegrityError as err:
        raise _duplicate(fields["name"]) from err
    return scenario


async def delete_scenario(principal: Principal, scenario_id: int) -> None:
    """Delete a scenario; audited (with what it was)."""
    scenario = await scenario_of(principal, scenario_id, write=True)
    async with in_transaction():
        await record(
            principal,
            "benchmarking.scenario.delete",
            entity_type="scenario",
            entity_id=scenario.id,
            enterprise_id=scenario.enterprise_id,
            before=_audit_json(scenario),
            summary=f"scenario {scenario.name} deleted",
        )
        await scenario.delete()


# ---- the result ---------------------------------------------------------------------------------------------------


def _figure(series: Sequence[IndicatorSeries], indicator: str) -> tuple[Decimal | None, Decimal | None]:
    """The base year's (intensity, output) of one indicator, None when there is no figure."""
    for s in series:
        if s.indicator == indicator and s.periods:
            row = s.periods[0]
            if row.actual is not None and row.output is not None and Decimal(row.output) > 0:
                return Decimal(row.actual), Decimal(row.output)
    return None, None


def _effect(measure: Mapping[str, Any], key: str) -> Decimal | None:
    text = measure.get(key)
    return None if text is None else Decimal(text)


@dataclasses.dataclass(frozen=True, slots=True)
class _Applied:
    """One application of a scenario with its measure (from the pinned versions)."""

    application: Mapping[str, Any]
    library: str
    measure: Mapping[str, Any]

    @property
    def adoption(self) -> Decimal:
        return Decimal(self.application["adoption"])

    @property
    def absolute(self) -> bool:
        return bool(self.measure["effect"] == "per_tonne")

    def effect(self, key: str) -> Decimal:
        """The measure's ``co2`` or ``energy`` effect; 0 when it has none."""
        return _effect(self.measure, key) or _ZERO


async def scenario_result(principal: Principal, scenario: Scenario) -> ScenarioResult:
    """The scenario's projection and MAC curve (see the module), from the pinned measures versions."""
    year = str(scenario.base_year)
    analysis = await analyse(principal, scenario.enterprise_id, PeriodKind.YEAR, year, year)
    subjects = {s.process_id: s for s in analysis.subjects}
    measures = await _measures(scenario.versions, scenario.enterprise_id)
    rate, price = Decimal(scenario.discount_rate), Decimal(scenario.energy_price)
    notes: list[str] = []
    by_process: dict[int, list[dict[str, Any]]] = {}
    for a in scenario.applications:
        by_process.setdefault(a["process_id"], []).append(a)
    processes: list[ProcessResult] = []
    points: list[tuple[int, MacPoint, Decimal | None]] = []
    total_co2 = total_tce = _ZERO
    costless: set[str] = set()
    for process_id, applied in by_process.items():
        subject = subjects.get(process_id)
        if subject is None:
            notes.append(f"Process {process_id} is no longer active: its measures count nothing.")
            continue
        co2, output = _figure(subject.indicators, "co2_intensity")
        energy, energy_output = _figure(subject.indicators, "process_energy")
        base_co2 = _gram(co2 * output) if co2 is not None and output is not None else None
        base_tce = _gram(energy * energy_output / _THOUSAND) if energy is not None and energy_output else None
        output = output or energy_output
        # absolute (per-tonne) measures first, each group in the order listed (the sort is stable)
        ordered = sorted((_Applied(a, *measures[a["measure"]]) for a in applied), key=lambda m: not m.absolute)
        co2_taken = [_ZERO] * len(ordered)
        tce_taken = [_ZERO] * len(ordered)
        left_co2: Decimal | None = None
        left_tce: Decimal | None = None
        if output is None or (base_co2 is None and base_tce is None):
            notes.append(
                f"Process {subject.code} has no output or figures in {year}: its measures count nothing (account the "
                "year first)."
            )
        for key, base, divisor, taken in (
            ("co2", base_co2, _ONE, co2_taken),
            ("energy", base_tce, _THOUSAND, tce_taken),
        ):
            if base is None or output is None:
                continue
            absolute = [m.effect(key) * m.adoption * output / divisor for m in ordered if m.absolute]
            fractions = [m.effect(key) * m.adoption for m in ordered if not m.absolute]
            amounts, left = combine(base, absolute, fractions)
            taken[:] = amounts
            if key == "co2":
                left_co2 = left
            else:
                left_tce = left
            if base <= 0 and any(a > 0 for a in absolute + fractions):
                notes.append(f"Process {subject.code}: its base {key} is not above zero, so nothing is removed.")
        details: list[dict[str, Any]] = []
        for i, applied_measure in enumerate(ordered):
            measure, library, adoption = applied_measure.measure, applied_measure.library, applied_measure.adoption
            details.append(
                {
                    "measure_code": measure["code"],
                    "library": library,
                    "rule": "absolute" if applied_measure.absolute else "fraction",
                    "adoption": applied_measure.application["adoption"],
                    "abatement_tco2": units.exact_text(co2_taken[i]),
                    "saving_tce": units.exact_text(tce_taken[i]),
                }
            )
            if output is None:
                continue
            capex, opex = _effect(measure, "capex"), _effect(measure, "opex")
            capex_total = annualised = per_tco2 = None
            if capex is not None and opex is not None:
                capex_total = capex * output * adoption
                annualised = (
                    capex_total * capital_recovery_factor(rate, int(measure["lifetime_years"]))
                    + opex * output * adoption
                    - tce_taken[i] * price
                ).quantize(_FEN, ROUND_HALF_EVEN)
                if co2_taken[i] > 0:
                    per_tco2 = (annualised / co2_taken[i]).quantize(_FEN, ROUND_HALF_EVEN)
            elif measure["code"] not in costless:
                costless.add(measure["code"])
                notes.append(f"Measure {measure['code']} has no cost in {library}: it stands last on the MAC curve.")
            points.append(
                (
                    len(points),
                    MacPoint(
                        measure_code=measure["code"],
                        measure_name=measure["name"],
                        measure_name_en=measure.get("name_en", ""),
                        library=library,
                        process_id=process_id,
                        process_code=subject.code,
                        adoption=applied_measure.application["adoption"],
                        abatement_tco2=units.exact_text(co2_taken[i]),
                        saving_tce=units.exact_text(tce_taken[i]),
                        capex_cny=_text(capex_total.quantize(_FEN, ROUND_HALF_EVEN))
                        if capex_total is not None
                        else None,
                        annualised_cost_cny=_text(annualised),
                        cost_per_tco2_cny=_text(per_tco2),
                        cumulative_abatement_tco2="0",
                    ),
                    per_tco2,
                )
            )
        abatement, saving = sum(co2_taken, _ZERO), sum(tce_taken, _ZERO)
        total_co2 += abatement
        total_tce += saving
        processes.append(
            ProcessResult(
                process_id=process_id,
                process_code=subject.code,
                process_name=subject.name,
                process_type=subject.process_type or "",
                output_t=_text(output),
                base_tco2=_text(base_co2),
                base_tce=_text(base_tce),
                base_intensity_tco2_t=_text(co2),
                abatement_tco2=units.exact_text(abatement),
                saving_tce=units.exact_text(saving),
                projected_tco2=_text(left_co2),
                projected_tce=_text(left_tce),
                projected_intensity_tco2_t=_text(_gram(left_co2 / output)) if left_co2 is not None and output else None,
                measures=details,
            )
        )
    points.sort(key=lambda p: (p[2] is None, p[2] if p[2] is not None else _ZERO, p[0]))
    cumulative = _ZERO
    mac: list[MacPoint] = []
    for _, point, _ in points:
        cumulative += Decimal(point.abatement_tco2)
        point.cumulative_abatement_tco2 = units.exact_text(cumulative)
        mac.append(point)
    whole = subjects.get(None)
    e_co2, e_output = _figure(whole.indicators, "co2_intensity") if whole is not None else (None, None)
    e_base = _gram(e_co2 * e_output) if e_co2 is not None and e_output is not None else None
    if e_base is None:
        notes.append(f"The enterprise has no CO2 per tonne of crude steel in {year}: its base and projection are null.")
    e_projected = e_base - total_co2 if e_base is not None else None
    enterprise = EnterpriseResult(
        base_tco2=_text(e_base),
        abatement_tco2=units.exact_text(total_co2),
        projected_tco2=_text(e_projected),
        saving_tce=units.exact_text(total_tce),
        output_t=_text(e_output),
        base_intensity_tco2_t=_text(e_co2),
        projected_intensity_tco2_t=_text(_gram(e_projected / e_output))
        if e_projected is not None and e_output
        else None,
    )
    return ScenarioResult(
        scenario=scenario_out(scenario),
        base_year=scenario.base_year,
        period=year,
        processes=processes,
        enterprise=enterprise,
        mac=mac,
        versions=dict(scenario.versions),
        notes=notes,
    )
