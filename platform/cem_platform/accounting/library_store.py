"""The accounting standard library kept in the database, versioned (standard 5.4.9).

Each library — one per methodology edition, plus ``grid-factors`` — is a chain of :class:`LibraryVersion`
rows. Version 1 is the seeded set of :mod:`cem_platform.accounting.library`; every online change adds a
version with its author, reason, time, the diff against the previous version and the complete parameter
set. Versions are immutable, so a loaded version is cached for the life of the process and a result that
names a version can always be reproduced. What accountants change online are parameter values, units, sources,
confidence and validity — the measured values the standard prefers go in a source's overrides instead.

The formulas are a library too (``formulas``, standard 5.4.9.2): version 1 holds the code-defined formulas of
:data:`~cem_platform.accounting.library.SEEDED_FORMULAS` with the same text, so every figure and fingerprint stays
as it was. Each entry is a formula: its code (the formula id), the category and role it serves, the expression,
its inputs with their units, the result unit, a description and its source. A formula's version in every lineage is
the formula-library version that last changed it ("1" for the seeded text). :func:`change_formula` adds a version
with a new expression, checked by the safe parser (:func:`~cem_platform.accounting.formulas.check_formula`) and a
test case it must reproduce; which inputs a formula takes and their units stay those of the method. Every edition
is accounted with the newest formula version; a reported year keeps its kept results, and so the formula versions
they name (see :mod:`cem_platform.accounting.reporting`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from cem_platform.accounting import units
from cem_platform.accounting.energy import ENERGY_LIBRARY, SEEDED, EnergyCoefficients
from cem_platform.accounting.entry_changes import apply_changes
from cem_platform.accounting.formulas import PRECISION, AccountingError, Formula, FormulaError, check_formula
from cem_platform.accounting.library import (
    EDITIONS,
    GRID_FACTORS,
    SEEDED_FORMULAS,
    Confidence,
    Edition,
    GridFactor,
    GridFactorKind,
    Parameter,
    build_methods,
    formula_category,
)
from cem_platform.accounting.models import LibraryVersion
from cem_platform.accounting.pending import mark_enterprises_history
from cem_platform.audit.services import record
from cem_platform.errors import CemError, ConflictError, NotFoundError
from cem_platform.identity.principal import Principal

__all__ = [
    "ENERGY_LIBRARY",
    "FORMULA_LIBRARY",
    "GRID_LIBRARY",
    "FormulaTestCase",
    "ParameterChange",
    "change_formula",
    "change_parameters",
    "ensure_seeded",
    "libraries",
    "load_edition",
    "load_energy",
    "load_formulas",
    "load_grid",
    "newest_version",
    "version_of",
]

GRID_LIBRARY = "grid-factors"
FORMULA_LIBRARY = "formulas"
_SEED_AUTHOR = "system (seed)"
_ADDED_REASON = (
    "种子参数新增（此前存储的库中没有）：{codes}。"
    " / Seeded parameters added (the stored library predates them): {codes}."
)
_PROVENANCE_REASON = (
    "默认值来源改为引用标准及其附录、表号，并标明待核实项；数值不变。"
    " / Provenance of the defaults cites the standard, annex and table, and marks what awaits confirmation;"
    " values unchanged."
)
_provenance_checked = False  # once per process: the seeded provenance of stored libraries is up to date
_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){1,3}$")

# Versions never change once stored; the key includes the creation time so a restored or reset database
# can never be served a cached version that was a different row.
_editions: dict[tuple[str, int, str], Edition] = {}
_grids: dict[tuple[int, str], tuple[GridFactor, ...]] = {}
_energies: dict[tuple[int, str], EnergyCoefficients] = {}
_formulas: dict[tuple[int, str], dict[str, Formula]] = {}

# Where the seeded formulas come from, in Chinese and English (equation numbers were not read while seeding).
_STD = "GB/T 32151.5-2015"
_NUMBER_PENDING = "（公式编号待核实）"
_NUMBER_PENDING_EN = " (equation number to be confirmed)"
_FORMULA_SOURCE = {
    "fuel_combustion": (f"{_STD} 燃料燃烧排放{_NUMBER_PENDING}", f"{_STD}, fuel combustion{_NUMBER_PENDING_EN}"),
    "flux": (f"{_STD} 熔剂消耗过程排放{_NUMBER_PENDING}", f"{_STD}, flux consumption{_NUMBER_PENDING_EN}"),
    "electrode": (f"{_STD} 电极消耗过程排放{_NUMBER_PENDING}", f"{_STD}, electrode consumption{_NUMBER_PENDING_EN}"),
    "raw_material": (
        f"{_STD} 外购含碳原料过程排放{_NUMBER_PENDING}",
        f"{_STD}, carbon-bearing inputs{_NUMBER_PENDING_EN}",
    ),
    "electricity": (
        f"{_STD} 净购入电力隐含排放{_NUMBER_PENDING}",
        f"{_STD}, net purchased electricity{_NUMBER_PENDING_EN}",
    ),
    "heat": (f"{_STD} 净购入热力隐含排放{_NUMBER_PENDING}", f"{_STD}, net purchased heat{_NUMBER_PENDING_EN}"),
    "fixed_carbon": (
        f"{_STD} 固碳产品隐含排放{_NUMBER_PENDING}",
        f"{_STD}, carbon fixed in products{_NUMBER_PENDING_EN}",
    ),
}


def _parameter_json(p: Parameter) -> dict[str, Any]:
    return {
        "code": p.code,
        "value": str(p.value),
        "unit": p.unit,
        "source": p.source,
        "confidence": p.confidence.value,
        "valid_from": p.valid_from.isoformat() if p.valid_from else None,
        "valid_until": p.valid_until.isoformat() if p.valid_until else None,
        "source_en": p.source_en,
    }


def _grid_json(g: GridFactor) -> dict[str, Any]:
    return {
        "code": g.code,
        "kind": g.kind.value,
        "region": g.region,
        "first_year": g.first_year,
        "last_year": g.last_year,
        "value": str(g.value),
        "unit": g.unit,
        "source": g.source,
        "confidence": g.confidence.value,
        "source_en": g.source_en,
    }


def _formula_json(f: Formula) -> dict[str, Any]:
    category, role = formula_category(f.id)
    source, source_en = _FORMULA_SOURCE[category.value]
    return {
        "code": f.id,
        "category": category.value,
        "role": role,
        "expression": f.expression,
        "inputs": dict(f.input_units),
        "result_unit": f.result_unit,
        "description": f.description,
        "source": source,
        "source_en": source_en,
    }


def libraries() -> list[str]:
    """Every library: the seeded editions' codes, the grid factor series and the energy coefficients."""
    return [*sorted(EDITIONS), GRID_LIBRARY, ENERGY_LIBRARY]


async def ensure_seeded() -> None:
    """Store version 1 of every library that has none yet, and bring seeded provenance up to date (idempotent,
    safe when run concurrently)."""
    global _provenance_checked
    present = {str(v.library) for v in await LibraryVersion.filter(number=1).only("id", "library")}
    seeded: dict[str, list[dict[str, Any]]] = {
        code: [_parameter_json(p) for p in sorted(edition.parameters.values(), key=lambda p: p.code)]
        for code, edition in EDITIONS.items()
    }
    seeded[GRID_LIBRARY] = [_grid_json(g) for g in GRID_FACTORS]
    seeded[ENERGY_LIBRARY] = [_parameter_json(p) for p in SEEDED]
    for code, edition in EDITIONS.items():
        if code not in present:
            await _create_seed(code, seeded[code], f"Seeded defaults: {edition.title} ({edition.version}).")
    if GRID_LIBRARY not in present:
        await _create_seed(
            GRID_LIBRARY,
            seeded[GRID_LIBRARY],
            "Seeded grid factors: national-ETS prescribed values and the official national/regional averages.",
        )
    if FORMULA_LIBRARY not in present:
        await _create_seed(
            FORMULA_LIBRARY,
            [_formula_json(f) for f in sorted(SEEDED_FORMULAS.values(), key=lambda f: f.id)],
            "Seeded formulas: the code-defined formulas of GB/T 32151.5-2015 as version 1, text unchanged.",
        )
    if ENERGY_LIBRARY not in present:
        await _create_seed(
            ENERGY_LIBRARY,
            seeded[ENERGY_LIBRARY],
            "Seeded energy conversion coefficients (GB/T 2589-2020 Annex A): electricity and heat, equivalent values.",
        )
    if not _provenance_checked:
        if ENERGY_LIBRARY in present:
            await _add_seeded(ENERGY_LIBRARY, seeded[ENERGY_LIBRARY])
        for library, parameters in seeded.items():
            if library in present:
                await _revise_seeded_provenance(library, parameters)
        _provenance_checked = True


async def _add_seeded(library: str, seeded: list[dict[str, Any]]) -> None:
    """A new version, by the seed, adding the seeded parameters a stored library has never held (a library seeded
    before they were: the energy-carrying media's coefficients). A parameter that was in the library once and was
    removed by someone stays removed. Results are untouched: no source used a parameter the library did not hold."""
    current = await LibraryVersion.filter(library=library).order_by("-number").first()
    if current is None:
        return
    held = {str(p["code"]) for p in current.parameters}
    for diff in await LibraryVersion.filter(library=library).values_list("diff", flat=True):
        held.update(str(entry["code"]) for entry in diff)
    added = [p for p in seeded if p["code"] not in held]
    if not added:
        return
    codes = ", ".join(p["code"] for p in added)
    with contextlib.suppress(IntegrityError):  # another process added them first
        await LibraryVersion.create(
            library=library,
            number=current.number + 1,
            author=_SEED_AUTHOR,
            reason=_ADDED_REASON.format(codes=codes),
            diff=[{"code": p["code"], "change": "added", "before": None, "after": p} for p in added],
            parameters=sorted([*current.parameters, *added], key=lambda p: p["code"]),
        )


async def _revise_seeded_provenance(library: str, seeded: list[dict[str, Any]]) -> None:
    """A new version carrying the seed's current provenance for the defaults nobody changed since the seed.

    Libraries seeded before the provenance cited the standard hold development notes as sources. Stored versions
    stay as they were (results name them); the revision is a version of its own, by the seed, with its reason.
    """
    current = await LibraryVersion.filter(library=library).order_by("-number").first()
    if current is None:
        return
    seeded_by_code = {p["code"]: p for p in seeded}
    touched: set[str] = set()  # changed by a person at some point: their provenance is theirs
    for author, diff in await LibraryVersion.filter(library=library, number__gt=1).values_list("author", "diff"):
        if author != _SEED_AUTHOR:
            touched.update(entry["code"] for entry in diff)
    changes = []
    params = {p["code"]: p for p in current.parameters}
    for code, stored in params.items():
        fresh = seeded_by_code.get(code)
        if fresh is None or code in touched or stored.get("value") != fresh["value"]:
            continue
        if stored.get("source") == fresh["source"] and stored.get("source_en", "") == fresh["source_en"]:
            continue
        after = {**stored, "source": fresh["source"], "source_en": fresh["source_en"]}
        changes.append({"code": code, "change": "changed", "before": stored, "after": after})
        params[code] = after
    if not changes:
        return
    with contextlib.suppress(IntegrityError):  # another process revised it first
        await LibraryVersion.create(
            library=library,
            number=current.number + 1,
            author=_SEED_AUTHOR,
            reason=_PROVENANCE_REASON,
            diff=changes,
            parameters=sorted(params.values(), key=lambda p: p["code"]),
        )


async def _create_seed(library: str, parameters: list[dict[str, Any]], reason: str) -> None:
    diff = [{"code": p["code"], "change": "added", "before": None, "after": p} for p in parameters]
    with contextlib.suppress(IntegrityError):  # another process seeded it first
        await LibraryVersion.create(
            library=library, number=1, author=_SEED_AUTHOR, reason=reason, diff=diff, parameters=parameters
        )


async def newest_version(library: str) -> int:
    """The newest version number of ``library``."""
    await ensure_seeded()
    newest = await LibraryVersion.filter(library=library).order_by("-number").only("id", "number").first()
    if newest is None:
        raise NotFoundError(f"No accounting library {library!r}; known: {', '.join(libraries())}.")
    return int(newest.number)


async def version_of(library: str, number: int | None = None) -> LibraryVersion:
    """One version of ``library`` (the newest when ``number`` is None)."""
    if number is None:
        number = await newest_version(library)
    else:
        await ensure_seeded()
    found = await LibraryVersion.get_or_none(library=library, number=number)
    if found is None:
        raise NotFoundError(
            f"Accounting library {library!r} has no version {number}.",
            hint="List the versions: GET /api/v1/accounting/library/{library}/versions.",
        )
    return found


async def _changed_in(library: str, number: int) -> dict[str, int]:
    """The version of ``library`` (up to ``number``) that last changed each parameter."""
    changed_in: dict[str, int] = {}
    versions = LibraryVersion.filter(library=library, number__lte=number).order_by("number")
    for number_, diff in await versions.values_list("number", "diff"):
        for entry in diff:
            changed_in[entry["code"]] = int(number_)
    return changed_in


async def _parameters(library: str, stored: LibraryVersion) -> dict[str, Parameter]:
    """The parameters of a stored version of ``library``, each naming the version that last changed it."""
    changed_in = await _changed_in(library, stored.number)
    return {
        p["code"]: Parameter(
            p["code"],
            Decimal(p["value"]),
            p["unit"],
            library,
            f"library v{changed_in.get(p['code'], 1)}",
            p["source"],
            Confidence(p["confidence"]),
            _date(p.get("valid_from")),
            _date(p.get("valid_until")),
            p.get("source_en", ""),
        )
        for p in stored.parameters
    }


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


async def load_edition(code: str, number: int | None = None) -> tuple[Edition, int]:
    """The edition ``code`` with the parameters of library version ``number`` (newest if None) and the newest
    formulas."""
    if code not in EDITIONS:
        raise AccountingError(
            f"No methodology edition {code!r}; known: {', '.join(sorted(EDITIONS))}.",
            hint="Pick one of the known editions for the reporting year.",
        )
    stored = await version_of(code, number)
    number = stored.number
    formulas, formula_number, formula_created = await _newest_formulas()
    key = (code, number, f"{stored.created_at.isoformat()} formulas v{formula_number} {formula_created}")
    cached = _editions.get(key)
    if cached is not None:
        return cached, number
    seeded = EDITIONS[code]
    # Each parameter's version is the library version that last changed it: a change elsewhere in the library
    # leaves the lineage (and so the results) of sources that do not use it as they were.
    params = await _parameters(code, stored)
    edition = Edition(
        code=code,
        version=f"library v{number}",
        title=seeded.title,
        first_year=seeded.first_year,
        last_year=seeded.last_year,
        methods=build_methods(formulas),
        parameters=params,
        note=seeded.note,
    )
    _editions[key] = edition
    return edition, number


async def _newest_formulas() -> tuple[dict[str, Formula], int, str]:
    """The newest formulas with their version number and creation time, in one query once seeded (an edition is
    loaded for every run of periods)."""
    stored = await LibraryVersion.filter(library=FORMULA_LIBRARY).order_by("-number").first()
    if stored is None:
        stored = await version_of(FORMULA_LIBRARY)
    return await _formulas_of(stored), int(stored.number), stored.created_at.isoformat()


async def load_formulas(number: int | None = None) -> tuple[dict[str, Formula], int]:
    """The formulas of formula-library version ``number`` (newest if None), by id; each formula's version is the
    library version that last changed it."""
    stored = await version_of(FORMULA_LIBRARY, number)
    return await _formulas_of(stored), int(stored.number)


async def _formulas_of(stored: LibraryVersion) -> dict[str, Formula]:
    key = (stored.number, stored.created_at.isoformat())
    cached = _formulas.get(key)
    if cached is None:
        changed_in = await _changed_in(FORMULA_LIBRARY, stored.number)
        cached = {f["code"]: _formula_of(f, changed_in.get(f["code"], 1)) for f in stored.parameters}
        _formulas[key] = cached
    return cached


def _formula_of(entry: Mapping[str, Any], version: int) -> Formula:
    return Formula(
        entry["code"], str(version), entry["expression"], dict(entry["inputs"]), entry["result_unit"],
        entry.get("description", ""),
    )  # fmt: skip


async def load_grid(number: int | None = None) -> tuple[tuple[GridFactor, ...], int]:
    """The grid factor series of library version ``number`` (newest if None)."""
    stored = await version_of(GRID_LIBRARY, number)
    number = stored.number
    key = (number, stored.created_at.isoformat())
    cached = _grids.get(key)
    if cached is not None:
        return cached, number
    # Each factor names the grid library version that last changed it (as edition parameters do), in the lineage.
    changed_in = await _changed_in(GRID_LIBRARY, number)
    factors = tuple(
        GridFactor(
            GridFactorKind(g["kind"]),
            int(g["first_year"]),
            int(g["last_year"]),
            g["region"],
            Decimal(g["value"]),
            g["source"],
            Confidence(g["confidence"]),
            g.get("unit", "tCO2/MWh"),
            g.get("source_en", ""),
            f"{GRID_LIBRARY} v{changed_in.get(g['code'], 1)}",
        )
        for g in stored.parameters
    )
    _grids[key] = factors
    return factors, number


async def load_energy(number: int | None = None) -> EnergyCoefficients:
    """The energy conversion coefficients of library version ``number`` (newest if None)."""
    stored = await version_of(ENERGY_LIBRARY, number)
    key = (stored.number, stored.created_at.isoformat())
    cached = _energies.get(key)
    if cached is not None:
        return cached
    coefficients = EnergyCoefficients(await _parameters(ENERGY_LIBRARY, stored), int(stored.number))
    _energies[key] = coefficients
    return coefficients


@dataclass(frozen=True)
class ParameterChange:
    """One change to a library: set (add or replace) a parameter, or remove it.

    For an edition: ``code`` like ``fuel.coke.ncv``, ``value``, ``unit``, ``source``, ``confidence`` and
    optional ``valid_from``/``valid_until``. For ``grid-factors``: the factor's code
    ``grid.<kind>.<region>.<year or first-last>`` and ``value``, ``source``, ``confidence``.
    """

    code: str
    value: str | None = None
    unit: str | None = None
    source: str | None = None
    confidence: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    remove: bool = False


MAX_INTEGER_DIGITS = 18  # as ledger.MAX_INTEGER_DIGITS
MAX_DECIMAL_PLACES = 10  # as ledger.MAX_DECIMAL_PLACES


def _decimal(text: str | None, code: str) -> Decimal:
    value = units.parse_bounded(text, MAX_INTEGER_DIGITS, MAX_DECIMAL_PLACES)
    if value is None or value < 0:
        raise AccountingError(
            f"Parameter {code}: value {text!r} is not a non-negative decimal number that fits a stored value (at most "
            f"{MAX_INTEGER_DIGITS} digits before the decimal point and {MAX_DECIMAL_PLACES} after it).",
            hint="Check the value and its unit; write it as a plain decimal, e.g. 28.435.",
        )
    return value


def _confidence(text: str | None, before: Mapping[str, Any] | None, code: str) -> str:
    value = text or (before or {}).get("confidence") or Confidence.UNVERIFIED.value
    if value not in {c.value for c in Confidence}:
        raise AccountingError(
            f"Parameter {code}: confidence {value!r} is not one of {', '.join(c.value for c in Confidence)}."
        )
    return str(value)


def _source_en(source: str, before: Mapping[str, Any] | None) -> str:
    """The English source kept while the source stays as it was; a new source is the changer's own words."""
    if before is not None and before.get("source") == source:
        return str(before.get("source_en") or "")
    return ""


def _apply_edition_change(change: ParameterChange, before: Mapping[str, Any] | None) -> dict[str, Any]:
    code = change.code
    if not _CODE.match(code):
        raise AccountingError(
            f"Parameter code {code!r} is not well formed.", hint="Use dotted lower-case codes like fuel.coke.ncv."
        )
    unit = change.unit or (before or {}).get("unit")
    if not unit:
        raise AccountingError(f"Parameter {code}: a new parameter needs its unit.")
    try:
        dimension = "fraction" if unit in ("%", "1") else units.dimension(unit)
    except units.UnitError as err:
        raise AccountingError(f"Parameter {code}: {err}") from err
    if before is not None and unit != before["unit"]:
        old = before["unit"]
        if dimension != ("fraction" if old in ("%", "1") else units.dimension(old)):
            raise AccountingError(
                f"Parameter {code}: unit {unit!r} does not convert to its unit {old!r}.",
                hint="Keep the parameter's dimension; a different quantity needs a new code.",
            )
    source = (change.source or "").strip()
    if not source:
        raise AccountingError(
            f"Parameter {code}: say where the value comes from (source document, lab report, notice).",
            hint="Every library value carries its source; give 'source'.",
        )
    for name, text in (("valid_from", change.valid_from), ("valid_until", change.valid_until)):
        if text:
            try:
                dt.date.fromisoformat(text)
            except ValueError as err:
                raise AccountingError(f"Parameter {code}: {name} {text!r} is not a date YYYY-MM-DD.") from err
    return {
        "code": code,
        "value": str(_decimal(change.value, code)),
        "unit": unit,
        "source": source,
        "confidence": _confidence(change.confidence, before, code),
        "valid_from": change.valid_from or None,
        "valid_until": change.valid_until or None,
        "source_en": _source_en(source, before),
    }


def _apply_grid_change(change: ParameterChange, before: Mapping[str, Any] | None) -> dict[str, Any]:
    match = re.match(r"^grid\.([a-z_]+)\.([a-z_]+)\.(\d{4})(?:-(\d{4}))?$", change.code)
    if not match or match.group(1) not in {k.value for k in GridFactorKind}:
        raise AccountingError(
            f"Grid factor code {change.code!r} is not well formed.",
            hint="Use grid.<ets_prescribed|official_average>.<region>.<year> or ...<first>-<last>.",
        )
    first = int(match.group(3))
    last = int(match.group(4) or first)
    if last < first:
        raise AccountingError(f"Grid factor {change.code}: the last year comes before the first.")
    source = (change.source or "").strip()
    if not source:
        raise AccountingError(f"Grid factor {change.code}: say which notice or announcement gives the value.")
    return {
        "code": change.code,
        "kind": match.group(1),
        "region": match.group(2),
        "first_year": first,
        "last_year": last,
        "value": str(_decimal(change.value, change.code)),
        "unit": "tCO2/MWh",
        "source": source,
        "confidence": _confidence(change.confidence, before, change.code),
        "source_en": _source_en(source, before),
    }


async def change_parameters(
    principal: Principal, library: str, changes: Sequence[ParameterChange], reason: str
) -> LibraryVersion:
    """Make a new version of ``library`` with ``changes`` applied; audited. Results keep their versions."""
    if not reason.strip():
        raise AccountingError("Say why the library changes (reason).", hint="E.g. 'MEE notice 2026 No. 3'.")
    if not changes:
        raise AccountingError("No changes given.")
    if len({c.code for c in changes}) != len(changes):
        raise AccountingError("Each parameter may be changed once per version.")
    current = await version_of(library)
    params: dict[str, dict[str, Any]] = {p["code"]: p for p in current.parameters}
    grid = library == GRID_LIBRARY

    def build(change: ParameterChange, before: Mapping[str, Any] | None) -> dict[str, Any]:
        after = _apply_grid_change(change, before) if grid else _apply_edition_change(change, before)
        if not after["source_en"] and "source_en" not in (before or {}):
            del after["source_en"]  # a parameter stored before sources came in two languages stays as it was
        return after

    diff = apply_changes(params, changes, build, library=library, noun="parameter")
    if not diff:
        raise AccountingError("The changes leave every parameter as it is; nothing to version.")
    if grid:
        spans: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
        for p in params.values():
            spans.setdefault((p["kind"], p["region"]), []).append((p["first_year"], p["last_year"], p["code"]))
        for items in spans.values():
            items.sort()
            for (_, last, code), (first, _, other) in zip(items, items[1:], strict=False):
                if first <= last:
                    raise AccountingError(f"Grid factors {code} and {other} cover the same years; remove one.")
    number = current.number + 1
    try:
        async with in_transaction():
            version = await LibraryVersion.create(
                library=library,
                number=number,
                author=principal.name,
                reason=reason.strip(),
                diff=diff,
                parameters=sorted(params.values(), key=lambda p: p["code"]),
            )
            await record(
                principal,
                "accounting.library.change",
                entity_type="accounting_library",
                entity_id=f"{library} v{number}",
                before={"version": current.number},
                after={"version": number, "reason": reason.strip(), "diff": diff},
                summary=f"{library} v{number}: {len(diff)} change(s)",
            )
    except IntegrityError as err:
        raise ConflictError(
            f"Someone else changed {library} at the same time (version {number} exists now).",
            hint="Reload the library and apply your change again.",
        ) from err
    # Results under this library follow it (drafts get new versions where figures change; reported years record
    # what they would become): every enterprise accounting under it is marked for the refresh job.
    await mark_enterprises_history("library", detail=f"{library} v{number}", by=principal.name)
    return version


@dataclass(frozen=True)
class FormulaTestCase:
    """Inputs (name -> decimal text, in the formula's units) and the result the formula must give, to the decimals
    written in ``expected``."""

    inputs: Mapping[str, str]
    expected: str


_MAX_REASON = 500
_MAX_TEXT = 500


def _test_decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except ArithmeticError:
        value = Decimal("NaN")
    if not value.is_finite() or len(str(text)) > 60 or (value and abs(value.adjusted()) > 30):
        raise FormulaError(f"Test case: {what} {text!r} is not a decimal number of at most 30 digits.")
    return value


def _run_test_case(formula: Formula, case: FormulaTestCase) -> Decimal:
    """The formula's result on the test case; refused unless it rounds to the expected value."""
    expected = _test_decimal(case.expected, "expected result")
    values = {name: _test_decimal(value, f"input {name}") for name, value in case.inputs.items()}
    try:
        got = formula.evaluate(values).value  # names the missing or unknown inputs
    except ArithmeticError as err:  # an overflow of the test values
        raise FormulaError(f"Formula {formula.id}: the test case cannot be evaluated ({err!r}).") from err
    exponent = expected.as_tuple().exponent
    assert isinstance(exponent, int)  # noqa: S101 - finite, checked above
    with decimal.localcontext() as context:
        context.prec = 2 * PRECISION
        within = abs(got - expected) * 2 <= Decimal(1).scaleb(exponent)  # half a unit of the last digit written
    if not within:
        raise FormulaError(
            f"Formula {formula.id}: the test case gives {got.normalize():f}, not the expected {case.expected} "
            "(compared to the decimals written); the version is not accepted.",
            hint="Correct the expression or the test case; the test case is worked out independently of the text.",
        )
    return got


async def change_formula(
    principal: Principal,
    code: str,
    expression: str,
    reason: str,
    test_case: FormulaTestCase,
    *,
    description: str | None = None,
    source: str | None = None,
) -> LibraryVersion:
    """A new version of the formula library with formula ``code``'s new ``expression``; checked by the safe parser
    (allowed constructs, exactly the method's inputs, bounded size, no zero divisor, units where they tell) and by
    ``test_case``; audited, and refused changes too. Results under draft years follow (marked for the refresh job);
    reported years keep theirs."""
    try:
        return await _change_formula(principal, code, expression, reason, test_case, description, source)
    except CemError as err:
        await record(
            principal,
            "accounting.formula.change",
            entity_type="accounting_library",
            entity_id=f"{FORMULA_LIBRARY} {code}"[:100],
            outcome="denied",
            after={"code": code, "expression": expression[:_MAX_TEXT], "reason": reason[:_MAX_REASON]},
            summary=err.message[:300],
        )
        raise


async def _change_formula(
    principal: Principal,
    code: str,
    expression: str,
    reason: str,
    test_case: FormulaTestCase,
    description: str | None,
    source: str | None,
) -> LibraryVersion:
    reason = reason.strip()
    if not reason or len(reason) > _MAX_REASON:
        raise AccountingError(
            f"Say why the formula changes (reason, 1 to {_MAX_REASON} characters).",
            hint="E.g. 'MEE guideline 2026, equation 3'.",
        )
    current = await version_of(FORMULA_LIBRARY)
    entries: dict[str, dict[str, Any]] = {f["code"]: f for f in current.parameters}
    before = entries.get(code)
    if before is None:
        raise NotFoundError(
            f"The formula library has no formula {code!r}.", hint=f"Formulas: {', '.join(sorted(entries))}."
        )
    expression = expression.strip()
    formula = Formula(code, str(current.number + 1), expression, dict(before["inputs"]), before["result_unit"])
    check_formula(formula)
    if expression == before["expression"]:
        raise AccountingError(f"Formula {code} already reads {expression!r}; nothing to version.")
    got = _run_test_case(formula, test_case)
    after = {
        **before,
        "expression": expression,
        "description": (description.strip() if description is not None else before.get("description", ""))[:_MAX_TEXT],
        "test_case": {
            "inputs": dict(test_case.inputs),
            "expected": test_case.expected,
            "result": f"{got.normalize():f}",
        },
    }
    if source is not None and source.strip() and source.strip() != before.get("source"):
        after["source"] = source.strip()[:_MAX_TEXT]
        after["source_en"] = ""
    diff = [{"code": code, "change": "changed", "before": before, "after": after}]
    entries[code] = after
    number = current.number + 1
    try:
        async with in_transaction():
            version = await LibraryVersion.create(
                library=FORMULA_LIBRARY,
                number=number,
                author=principal.name,
                reason=reason,
                diff=diff,
                parameters=sorted(entries.values(), key=lambda f: f["code"]),
            )
            await record(
                principal,
                "accounting.formula.change",
                entity_type="accounting_library",
                entity_id=f"{FORMULA_LIBRARY} v{number}",
                before={"version": current.number, "code": code, "expression": before["expression"]},
                after={"version": number, "code": code, "expression": expression, "reason": reason, "diff": diff},
                summary=f"{FORMULA_LIBRARY} v{number}: {code} = {expression}"[:300],
            )
    except IntegrityError as err:
        raise ConflictError(
            f"Someone else changed the formulas at the same time (version {number} exists now).",
            hint="Reload the formulas and apply your change again.",
        ) from err
    await mark_enterprises_history("library", detail=f"{FORMULA_LIBRARY} v{number}: {code}", by=principal.name)
    return version
