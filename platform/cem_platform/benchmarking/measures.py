"""The measures library (standard 5.4.7): reduction measures with their effect per unit, costs and lifetime.

Versioned exactly like the reference libraries (:mod:`cem_platform.benchmarking.references`), in the same
:class:`ReferenceVersion` table, two kinds of library:

* ``measures``: shared by every enterprise, version 1 is :data:`cem_platform.benchmarking.measures_seed.MEASURES_SEED`;
  changed at the group level (a caller whose scope is every enterprise);
* ``measures-enterprise-<id>``: one enterprise's own measures (or its own copy of a shared one, with its costs), changed
  by its accountants. A scenario finds a measure code in the enterprise's library first, then in the shared one.

A measure (values as exact decimal text)::

    {"code": "sintering.waste-heat", "name": "烧结余热回收", "name_en": "...",
     "process_types": ["sintering"],              # the org dictionary's process type codes it applies to
     "effect": "per_tonne" | "fraction",
     "co2": "0.0239" | null, "co2_unit": "tCO2/t" | "1",
     "energy": "8.564" | null, "energy_unit": "kgce/t" | "1",
     "capex": "120" | null, "capex_unit": "CNY/(t/a)",   # capital cost per tonne a year of the process's output
     "opex": "3.5" | null, "opex_unit": "CNY/t",         # operating cost per tonne of the process's output
     "lifetime_years": 15,
     "source", "source_en", "confidence", "checked", "note"}

Effect kinds: ``per_tonne`` saves ``co2`` tCO2 and ``energy`` kgce per tonne of the process's product (electricity at
its equivalent value, as process energy counts it), each > 0 when given; ``fraction`` removes the fraction ``co2`` of
the process's CO2 and ``energy`` of its energy, each in (0, 1] when given. At least one of the two is given. Costs are
in yuan (CNY), not 10^4 CNY; both are >= 0 (a measure's energy savings are valued separately, at the scenario's energy
price, so operating savings are not negative opex); null means not known (the MAC curve then shows the measure's
abatement without a cost). The lifetime is whole years, 1 to 100.

Every change makes a new version with author, reason, diff and the complete set, audited with its refusals, and needs
a TOTP step-up at the route; scenarios name the versions they were computed with, so editing a measure never changes a
stored scenario's result.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError

from cem_platform.accounting.entry_changes import apply_changes
from cem_platform.accounting.library import Confidence
from cem_platform.benchmarking.measures_seed import MEASURES_SEED
from cem_platform.benchmarking.models import ReferenceVersion
from cem_platform.benchmarking.references import (
    MAX_ENTRIES,
    MAX_TEXT,
    BenchmarkError,
    EntryChange,
    decimal_of,
    known_process_types,
    refused,
    store_version,
)
from cem_platform.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from cem_platform.identity.principal import Principal

__all__ = [
    "EFFECTS",
    "SHARED",
    "change_measures",
    "check_measure",
    "enterprise_measures",
    "ensure_measures_seeded",
    "measures_version",
]

SHARED = "measures"
EFFECTS = {"per_tonne": ("tCO2/t", "kgce/t"), "fraction": ("1", "1")}
CAPEX_UNIT = "CNY/(t/a)"
OPEX_UNIT = "CNY/t"
_SEED_AUTHOR = "system (seed)"
_CODE = re.compile(r"^[a-z0-9][a-z0-9_\-]*(\.[a-z0-9_\-]+){0,3}$")
_FIELDS = {
    "code",
    "name",
    "name_en",
    "process_types",
    "effect",
    "co2",
    "co2_unit",
    "energy",
    "energy_unit",
    "capex",
    "capex_unit",
    "opex",
    "opex_unit",
    "lifetime_years",
    "source",
    "source_en",
    "confidence",
    "checked",
    "note",
}


def enterprise_measures(enterprise_id: int) -> str:
    """The name of an enterprise's own measures library."""
    return f"measures-enterprise-{enterprise_id}"


async def ensure_measures_seeded() -> None:
    """Store version 1 of the shared measures library unless it exists (idempotent, safe when run concurrently)."""
    if await ReferenceVersion.exists(library=SHARED):
        return
    diff = [{"code": e["code"], "change": "added", "before": None, "after": e} for e in MEASURES_SEED]
    with contextlib.suppress(IntegrityError):
        await ReferenceVersion.create(
            library=SHARED,
            enterprise_id=None,
            number=1,
            author=_SEED_AUTHOR,
            diff=diff,
            entries=sorted(MEASURES_SEED, key=lambda e: e["code"]),
            reason="Seeded: typical reduction measures (sinter waste heat, TRT, CDQ, BOF scrap, top-gas recycling, "
            "hydrogen-rich injection, green power) with their effects, sources and how far they were checked; no "
            "costs (enter the enterprise's own).",
        )


async def measures_version(library: str, number: int | None = None) -> ReferenceVersion | None:
    """One version of a measures library (the newest when ``number`` is None); None for an enterprise library never
    changed; NotFoundError for a version that does not exist."""
    await ensure_measures_seeded()
    query = ReferenceVersion.filter(library=library)
    found = await (query.filter(number=number).first() if number is not None else query.order_by("-number").first())
    if found is None and (number is not None or library == SHARED):
        raise NotFoundError(
            f"Measures library {library!r} has no version {number}.",
            hint="List the versions: GET /api/v1/benchmarking/measures/versions.",
        )
    return found


# ---- validation ---------------------------------------------------------------------------------------------------


def _text(raw: Mapping[str, Any], key: str, code: str, *, required: bool = False) -> str:
    value = raw.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BenchmarkError(f"Measure {code}: {key} must be text.")
    value = value.strip()
    if required and not value:
        raise BenchmarkError(
            f"Measure {code}: give {key}.",
            hint="Say where the values come from (report, supplier's offer, the works' own project)."
            if key == "source"
            else "Every measure needs it.",
        )
    if len(value) > MAX_TEXT:
        raise BenchmarkError(f"Measure {code}: {key} is longer than {MAX_TEXT} characters.")
    return value


def _effect_value(raw: Mapping[str, Any], key: str, unit: str, code: str, fraction: bool) -> str | None:
    if raw.get(f"{key}_unit", unit) != unit:
        raise BenchmarkError(
            f"Measure {code}: a {raw.get('effect')} {key} effect is in {unit!r}, not {raw.get(f'{key}_unit')!r}.",
            hint="per_tonne: co2 in tCO2/t and energy in kgce/t of the process's product (tce/t x 1000 = kgce/t); "
            "fraction: both as a share 0-1 (unit 1), e.g. 0.15 for 15 %.",
        )
    text = raw.get(key)
    if text is None or text == "":
        return None
    value = decimal_of(text, f"Measure {code}, {key}")
    if value <= 0 or (fraction and value > 1):
        raise BenchmarkError(
            f"Measure {code}: {key} {text!r} is outside {'(0, 1]' if fraction else 'the positive numbers'}.",
            hint="A fraction of the process's emissions or energy is above 0 and at most 1 (write 0.15 for 15 %)."
            if fraction
            else "A saving per tonne is positive; leave it out (null) when the measure does not save it.",
        )
    return format(value, "f")


def _cost(raw: Mapping[str, Any], key: str, unit: str, code: str) -> str | None:
    if raw.get(f"{key}_unit", unit) != unit:
        raise BenchmarkError(
            f"Measure {code}: {key} is in {unit}, not {raw.get(f'{key}_unit')!r}.",
            hint="capex in CNY per tonne a year of the process's output (CNY/(t/a)), opex in CNY per tonne of output "
            "(CNY/t); yuan, not 10^4 CNY.",
        )
    text = raw.get(key)
    if text is None or text == "":
        return None
    value = decimal_of(text, f"Measure {code}, {key}")
    if value < 0:
        raise BenchmarkError(
            f"Measure {code}: {key} {text!r} is negative.",
            hint="Costs are >= 0; the energy a measure saves is valued at the scenario's energy price, not as negative "
            "opex.",
        )
    return format(value, "f")


def check_measure(raw: Mapping[str, Any], *, process_types: set[str]) -> dict[str, Any]:
    """A measure as stored, or BenchmarkError naming what is wrong and what to write instead."""
    code = str(raw.get("code", ""))
    if not _CODE.match(code) or len(code) > 64:
        raise BenchmarkError(
            f"Measure code {code!r} is not well formed.", hint="Use dotted lower-case codes like sintering.waste-heat."
        )
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise BenchmarkError(f"Measure {code}: unknown field {unknown[0]!r}.")
    types = raw.get("process_types")
    if not isinstance(types, list) or not types or len(types) > 20 or not all(isinstance(t, str) for t in types):
        raise BenchmarkError(f"Measure {code}: process_types lists the process types it applies to (1 to 20).")
    for t in types:
        if t not in process_types:
            raise BenchmarkError(
                f"Measure {code}: unknown process type {t!r}.",
                hint=f"Process types: {', '.join(sorted(process_types))}.",
            )
    effect = raw.get("effect")
    if effect not in EFFECTS:
        raise BenchmarkError(f"Measure {code}: effect {effect!r} is not one of {', '.join(EFFECTS)}.")
    co2_unit, energy_unit = EFFECTS[effect]
    fraction = effect == "fraction"
    co2 = _effect_value(raw, "co2", co2_unit, code, fraction)
    energy = _effect_value(raw, "energy", energy_unit, code, fraction)
    if co2 is None and energy is None:
        raise BenchmarkError(f"Measure {code}: give its CO2 or its energy effect (or both).")
    lifetime = raw.get("lifetime_years")
    if not isinstance(lifetime, int) or isinstance(lifetime, bool) or not 1 <= lifetime <= 100:
        raise BenchmarkError(
            f"Measure {code}: lifetime_years {lifetime!r} is not a whole number of years from 1 to 100.",
            hint="The years the investment serves, e.g. 15.",
        )
    confidence = raw.get("confidence") or Confidence.UNVERIFIED.value
    if confidence not in {c.value for c in Confidence}:
        raise BenchmarkError(f"Measure {code}: confidence is one of {', '.join(c.value for c in Confidence)}.")
    measure: dict[str, Any] = {
        "code": code,
        "name": _text(raw, "name", code, required=True),
        "name_en": _text(raw, "name_en", code),
        "process_types": sorted(set(types)),
        "effect": effect,
        "co2": co2,
        "co2_unit": co2_unit,
        "energy": energy,
        "energy_unit": energy_unit,
        "capex": _cost(raw, "capex", CAPEX_UNIT, code),
        "capex_unit": CAPEX_UNIT,
        "opex": _cost(raw, "opex", OPEX_UNIT, code),
        "opex_unit": OPEX_UNIT,
        "lifetime_years": lifetime,
        "source": _text(raw, "source", code, required=True),
        "source_en": _text(raw, "source_en", code),
        "confidence": confidence,
        "checked": _text(raw, "checked", code) or "Not checked against a second source.",
    }
    note = _text(raw, "note", code)
    if note:
        measure["note"] = note
    return measure


def decimal_or_none(text: str | None) -> Decimal | None:
    """A stored measure value as a Decimal (None stays None)."""
    return None if text is None else Decimal(text)


# ---- changing -----------------------------------------------------------------------------------------------------


_ACTION = "benchmarking.measures.change"
_ENTITY = "measures_library"


async def change_measures(
    principal: Principal, library: str, enterprise_id: int | None, changes: Sequence[EntryChange], reason: str
) -> ReferenceVersion:
    """A new version of the measures ``library`` with ``changes`` applied; audited (refusals too)."""
    try:
        return await _change(principal, library, enterprise_id, changes, reason)
    except (InvalidInputError, PermissionDeniedError, NotFoundError, ConflictError) as err:
        raise await refused(principal, library, enterprise_id, err, action=_ACTION, entity_type=_ENTITY) from None


async def _change(
    principal: Principal, library: str, enterprise_id: int | None, changes: Sequence[EntryChange], reason: str
) -> ReferenceVersion:
    if library == SHARED and not principal.scope.everything:
        raise PermissionDeniedError(
            "The shared measures library serves every enterprise: it is changed at the group level.",
            hint="Add your own measures (or your own copy of one, with your costs) to your enterprise's library.",
        )
    reason = reason.strip()
    if not reason or len(reason) > MAX_TEXT:
        raise BenchmarkError(
            "Say why the measures change (reason, at most 500 characters).",
            hint="E.g. 'CDQ offer of 2026-11 from the supplier'.",
        )
    if not changes:
        raise BenchmarkError("No changes given.")
    if len({c.code for c in changes}) != len(changes):
        raise BenchmarkError("Each measure may be changed once per version.")
    current = await measures_version(library)
    entries: dict[str, dict[str, Any]] = {e["code"]: e for e in (current.entries if current else [])}
    process_types = await known_process_types()

    def build(change: EntryChange, _before: Mapping[str, Any] | None) -> dict[str, Any]:
        if change.entry is None:
            raise BenchmarkError(f"Measure {change.code}: give the measure, or remove it.")
        return check_measure({**change.entry, "code": change.code}, process_types=process_types)

    diff = apply_changes(entries, changes, build, library=library, noun="measure")
    if not diff:
        raise BenchmarkError("The changes leave every measure as it is; nothing to version.")
    if len(entries) > MAX_ENTRIES:
        raise BenchmarkError(f"A library holds at most {MAX_ENTRIES} measures.")
    return await store_version(
        principal, library, enterprise_id, current, entries, diff, reason, action=_ACTION, entity_type=_ENTITY
    )
