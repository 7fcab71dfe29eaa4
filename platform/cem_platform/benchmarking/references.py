"""The indicator catalogue and the reference libraries (benchmarks and limits), versioned like the factor library.

Two kinds of library, each a chain of :class:`ReferenceVersion` rows:

* ``national``: shared by every enterprise. Version 1 is :data:`cem_platform.benchmarking.seed.NATIONAL_SEED`;
  changes are made at the group level (a caller whose scope is every enterprise).
* ``enterprise-<id>``: one enterprise's own entries (group best, peer plants, its own limits, yearly targets),
  changed by that enterprise's accountants.

An entry (values as exact decimal text)::

    {"code": "gb21256-2025.bof", "kind": "limit" | "benchmark" | "target",
     "process_type": "bof_steelmaking" | null (the enterprise as a whole), "process_code": null | "BOF" (one process),
     "indicator": "process_energy" | "co2_intensity", "unit": "kgce/t" | "tCO2/t",
     "levels": [{"name": "1", "value": "-30"}, ...] (best first: lower is better),
     "limit_level": "3" (limit: the level that must not be exceeded), "year": 2026 (target: the year it is for),
     "corrections": [{"input": "scrap_ratio", "coefficient": "0.23", "below"/"above": "62", "max_points": "5",
                      "when_missing": "required" | "zero"}],
     "condition": {"input": "eaf_capacity", "min": "50", "max": "70"} | null (min inclusive, max exclusive),
     "name", "name_en", "source", "source_en", "edition", "valid_from", "valid_until", "confidence", "checked", "note"}

Every change makes a new version with its author, reason, diff and the complete set, audited in the same transaction;
refusals are audited too. Versions never change, so an analysis naming its versions can always be repeated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from cem_platform.accounting import units
from cem_platform.accounting.entry_changes import apply_changes
from cem_platform.accounting.library import Confidence
from cem_platform.audit.services import record
from cem_platform.benchmarking.models import ReferenceVersion
from cem_platform.benchmarking.seed import NATIONAL_SEED
from cem_platform.errors import CemError, ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from cem_platform.identity.principal import Principal
from cem_platform.org.models import ProcessType

__all__ = [
    "INDICATORS",
    "INPUTS",
    "KINDS",
    "NATIONAL",
    "BenchmarkError",
    "EntryChange",
    "Indicator",
    "InputDefinition",
    "change_entries",
    "ensure_seeded",
    "enterprise_library",
    "known_process_types",
    "refused",
    "store_version",
    "version_of",
]

NATIONAL = "national"
KINDS = ("limit", "benchmark", "target")
_SEED_AUTHOR = "system (seed)"
_CODE = re.compile(r"^[a-z0-9][a-z0-9_\-]*(\.[a-z0-9_\-]+){0,3}$")
_LEVEL = re.compile(r"^[a-z0-9_]{1,24}$")
MAX_ENTRIES = 500
MAX_TEXT = 500
MAX_INTEGER_DIGITS = 12
MAX_DECIMAL_PLACES = 6


class BenchmarkError(InvalidInputError):
    """A benchmarking question or change that cannot be answered or made as given."""

    code = "benchmarking_error"
    default_hint = "See GET /api/v1/benchmarking/indicators for the indicators, units and inputs."


@dataclass(frozen=True, slots=True)
class Indicator:
    """An indicator of the indicator database: where the statistics service gives it, and its unit."""

    code: str
    metric: str  # the statistics metric whose intensity it is
    unit: str
    name: str
    name_en: str


INDICATORS: dict[str, Indicator] = {
    i.code: i
    for i in (
        Indicator("process_energy", "energy", "kgce/t", "工序单位产品能耗", "process energy per tonne of product"),
        Indicator("co2_intensity", "emissions", "tCO2/t", "单位产品二氧化碳排放", "CO2 per tonne of product"),
    )
}


@dataclass(frozen=True, slots=True)
class InputDefinition:
    """A value a correction or a condition needs, entered per process and period unless the platform derives it."""

    name: str
    unit: str
    lowest: Decimal
    highest: Decimal
    label: str
    label_en: str
    derived_from: str = ""  # what the platform reads it from, when it can


INPUTS: dict[str, InputDefinition] = {
    d.name: d
    for d in (
        InputDefinition("scrap_ratio", "%", Decimal(0), Decimal(100), "废钢比", "scrap ratio"),
        InputDefinition("feed_grade", "%", Decimal(0), Decimal(100), "入炉矿品位", "iron grade of the feed"),
        InputDefinition("hot_metal_ratio", "%", Decimal(0), Decimal(100), "铁水比", "hot metal ratio"),
        InputDefinition("rare_earth_ore", "%", Decimal(0), Decimal(100), "稀土矿配比", "rare-earth ore share"),
        InputDefinition("vti_magnetite", "%", Decimal(0), Decimal(100), "钒钛磁铁矿配比", "V-Ti magnetite share"),
        InputDefinition("laterite_nickel_ore", "%", Decimal(0), Decimal(100), "红土镍矿配比", "laterite nickel ore"),
        InputDefinition("stamp_charged", "1", Decimal(0), Decimal(1), "捣固焦炉 (1 是, 0 否)", "stamp-charged (1/0)"),
        InputDefinition(
            "eaf_capacity",
            "t",
            Decimal(0),
            Decimal(1000),
            "电炉公称容量",
            "EAF nominal capacity",
            derived_from="the capacity (t) of the process's EAF facilities, the largest",
        ),
    )
}


def enterprise_library(enterprise_id: int) -> str:
    """The name of an enterprise's own library."""
    return f"enterprise-{enterprise_id}"


# ---- reading ------------------------------------------------------------------------------------------------------


async def ensure_seeded() -> None:
    """Store version 1 of the national library unless it exists (idempotent, safe when run concurrently)."""
    if await ReferenceVersion.exists(library=NATIONAL):
        return
    diff = [{"code": e["code"], "change": "added", "before": None, "after": e} for e in NATIONAL_SEED]
    with contextlib.suppress(IntegrityError):  # another process seeded it first
        await ReferenceVersion.create(
            library=NATIONAL,
            enterprise_id=None,
            number=1,
            author=_SEED_AUTHOR,
            diff=diff,
            entries=NATIONAL_SEED,
            reason="Seeded: GB 21256-2025 and GB 21342-2025 grades, national efficiency benchmark and baseline levels, "
            "EU ETS 2021–25 product benchmarks and worldsteel references, each with its source and how far it was "
            "checked.",
        )


async def version_of(library: str, number: int | None = None) -> ReferenceVersion | None:
    """One version of ``library`` (the newest when ``number`` is None); None for an enterprise library never changed
    (it has no entries); NotFoundError for a version that does not exist."""
    await ensure_seeded()
    query = ReferenceVersion.filter(library=library)
    found = await (query.filter(number=number).first() if number is not None else query.order_by("-number").first())
    if found is None and (number is not None or library == NATIONAL):
        raise NotFoundError(
            f"Reference library {library!r} has no version {number}.",
            hint="List the versions: GET /api/v1/benchmarking/versions.",
        )
    return found


# ---- validation ---------------------------------------------------------------------------------------------------


def decimal_of(text: Any, what: str, *, signed: bool = True) -> Decimal:
    """A bounded exact decimal from text (or an int), or BenchmarkError saying what to write."""
    value = units.parse_bounded(text, MAX_INTEGER_DIGITS, MAX_DECIMAL_PLACES)
    if value is None or (not signed and value < 0):
        raise BenchmarkError(
            f"{what}: {text!r} is not a{'' if signed else ' non-negative'} decimal number, or is out of range (at most "
            f"{MAX_INTEGER_DIGITS} digits before the point and {MAX_DECIMAL_PLACES} after it).",
            hint="Write it as a plain decimal, e.g. 43 or -28.5, and check its unit.",
        )
    return value


def _text(entry: Mapping[str, Any], key: str, code: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    value = entry.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BenchmarkError(f"Entry {code}: {key} must be text.")
    value = value.strip()
    if required and not value:
        raise BenchmarkError(f"Entry {code}: give {key}.", hint=_HINTS.get(key, "Every entry needs it."))
    if len(value) > limit:
        raise BenchmarkError(f"Entry {code}: {key} is longer than {limit} characters.")
    return value


_HINTS = {
    "source": "Say where the values come from (standard and table, notice, the peer's report).",
    "name": "Name the entry as screens should show it.",
    "edition": "Name the edition or year of the source, e.g. GB 21256-2025.",
}


def _date_text(entry: Mapping[str, Any], key: str, code: str) -> str | None:
    value = entry.get(key)
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError as err:
        raise BenchmarkError(f"Entry {code}: {key} {value!r} is not a date YYYY-MM-DD.") from err


async def known_process_types() -> set[str]:
    """The process type codes of the org dictionary (built-in and added)."""
    return set(await ProcessType.all().values_list("code", flat=True))  # type: ignore[arg-type]


def _levels(entry: Mapping[str, Any], code: str) -> list[dict[str, str]]:
    levels = entry.get("levels")
    if not isinstance(levels, list) or not levels or len(levels) > 8:
        raise BenchmarkError(
            f"Entry {code}: give 1 to 8 levels, best first.",
            hint='E.g. [{"name": "1", "value": "43"}, {"name": "2", "value": "46"}].',
        )
    out: list[dict[str, str]] = []
    for level in levels:
        if not isinstance(level, Mapping) or set(level) - {"name", "value"}:
            raise BenchmarkError(f"Entry {code}: a level is {{'name': ..., 'value': ...}}.")
        name = str(level.get("name", ""))
        if not _LEVEL.match(name):
            raise BenchmarkError(f"Entry {code}: level name {name!r} is not a short lower-case name (1, 2, benchmark).")
        value = decimal_of(level.get("value"), f"Entry {code}, level {name}")
        out.append({"name": name, "value": format(value, "f")})
    if len({level["name"] for level in out}) != len(out):
        raise BenchmarkError(f"Entry {code}: level names repeat.")
    values = [Decimal(level["value"]) for level in out]
    if values != sorted(values):
        raise BenchmarkError(
            f"Entry {code}: levels go best first (lower is better), so their values never fall.",
            hint="List level 1 before level 2, the benchmark before the baseline.",
        )
    return out


def _corrections(entry: Mapping[str, Any], code: str) -> list[dict[str, Any]]:
    corrections = entry.get("corrections") or []
    if not isinstance(corrections, list) or len(corrections) > 10:
        raise BenchmarkError(f"Entry {code}: corrections is a list of at most 10.")
    out = []
    for c in corrections:
        if not isinstance(c, Mapping) or set(c) - {
            "input",
            "coefficient",
            "below",
            "above",
            "max_points",
            "when_missing",
        }:
            raise BenchmarkError(
                f"Entry {code}: a correction is {{input, coefficient, below|above, max_points, when_missing}}."
            )
        name = c.get("input")
        if name not in INPUTS:
            raise BenchmarkError(f"Entry {code}: no correction input {name!r}.", hint=f"Inputs: {', '.join(INPUTS)}.")
        if c.get("below") is not None and c.get("above") is not None:
            raise BenchmarkError(f"Entry {code}: a correction counts below or above a threshold, not both.")
        when = c.get("when_missing", "required")
        if when not in ("required", "zero"):
            raise BenchmarkError(f"Entry {code}: when_missing is required or zero.")
        item: dict[str, Any] = {"input": name, "coefficient": format(decimal_of(c.get("coefficient"), code), "f")}
        for key in ("below", "above"):
            if c.get(key) is not None:
                item[key] = format(decimal_of(c.get(key), f"Entry {code}, {key}"), "f")
        if c.get("max_points") is not None:
            item["max_points"] = format(decimal_of(c.get("max_points"), f"Entry {code}, max_points", signed=False), "f")
        item["when_missing"] = when
        out.append(item)
    return out


def _condition(entry: Mapping[str, Any], code: str) -> dict[str, str] | None:
    condition = entry.get("condition")
    if condition in (None, {}):
        return None
    if not isinstance(condition, Mapping) or set(condition) - {"input", "min", "max"} or "input" not in condition:
        raise BenchmarkError(f"Entry {code}: a condition is {{input, min, max}} (min inclusive, max exclusive).")
    if condition["input"] not in INPUTS:
        raise BenchmarkError(f"Entry {code}: no input {condition['input']!r}.", hint=f"Inputs: {', '.join(INPUTS)}.")
    out = {"input": str(condition["input"])}
    for key in ("min", "max"):
        if condition.get(key) is not None:
            out[key] = format(decimal_of(condition[key], f"Entry {code}, condition {key}"), "f")
    return out


def check_entry(raw: Mapping[str, Any], *, national: bool, process_types: set[str]) -> dict[str, Any]:
    """An entry as stored, or BenchmarkError naming what is wrong and what to write instead."""
    code = str(raw.get("code", ""))
    if not _CODE.match(code) or len(code) > 64:
        raise BenchmarkError(
            f"Entry code {code!r} is not well formed.", hint="Use dotted lower-case codes like group-best.sintering."
        )
    allowed = {
        "code",
        "kind",
        "process_type",
        "process_code",
        "indicator",
        "unit",
        "name",
        "name_en",
        "levels",
        "limit_level",
        "corrections",
        "condition",
        "year",
        "source",
        "source_en",
        "edition",
        "valid_from",
        "valid_until",
        "confidence",
        "checked",
        "note",
    }
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise BenchmarkError(f"Entry {code}: unknown field {unknown[0]!r}.")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise BenchmarkError(f"Entry {code}: kind {kind!r} is not one of {', '.join(KINDS)}.")
    if national and kind == "target":
        raise BenchmarkError(f"Entry {code}: targets are an enterprise's own; add them to its library.")
    process_type = raw.get("process_type")
    if process_type is not None and process_type not in process_types:
        raise BenchmarkError(
            f"Entry {code}: unknown process type {process_type!r}.",
            hint=f"Process types: {', '.join(sorted(process_types))}.",
        )
    process_code = raw.get("process_code")
    if process_code is not None and (national or not isinstance(process_code, str) or not 0 < len(process_code) <= 32):
        raise BenchmarkError(f"Entry {code}: process_code names one of the enterprise's processes (its own library).")
    indicator = INDICATORS.get(str(raw.get("indicator")))
    if indicator is None:
        raise BenchmarkError(
            f"Entry {code}: unknown indicator {raw.get('indicator')!r}.", hint=f"Indicators: {', '.join(INDICATORS)}."
        )
    unit = raw.get("unit")
    if unit != indicator.unit:
        raise BenchmarkError(
            f"Entry {code}: {indicator.code} is in {indicator.unit}, not {unit!r}.",
            hint=f"Convert the values to {indicator.unit} (e.g. tce/t x 1000 = kgce/t) and give unit {indicator.unit}.",
        )
    levels = _levels(raw, code)
    limit_level = raw.get("limit_level")
    if kind == "limit":
        if limit_level not in {level["name"] for level in levels}:
            raise BenchmarkError(f"Entry {code}: a limit names its binding level (limit_level) among its levels.")
    elif limit_level is not None:
        raise BenchmarkError(f"Entry {code}: only a limit has a limit_level.")
    year = raw.get("year")
    if kind == "target":
        if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
            raise BenchmarkError(f"Entry {code}: a target is for one year (year, e.g. 2026).")
    elif year is not None:
        raise BenchmarkError(f"Entry {code}: only a target has a year.")
    confidence = raw.get("confidence") or Confidence.UNVERIFIED.value
    if confidence not in {c.value for c in Confidence}:
        raise BenchmarkError(f"Entry {code}: confidence is one of {', '.join(c.value for c in Confidence)}.")
    valid_from, valid_until = _date_text(raw, "valid_from", code), _date_text(raw, "valid_until", code)
    if valid_from and valid_until and valid_until < valid_from:
        raise BenchmarkError(f"Entry {code}: valid_until comes before valid_from.")
    entry: dict[str, Any] = {
        "code": code,
        "kind": kind,
        "process_type": process_type,
        "process_code": process_code,
        "indicator": indicator.code,
        "unit": indicator.unit,
        "name": _text(raw, "name", code, required=True),
        "name_en": _text(raw, "name_en", code),
        "levels": levels,
        "limit_level": limit_level,
        "corrections": _corrections(raw, code),
        "condition": _condition(raw, code),
        "year": year,
        "source": _text(raw, "source", code, required=True),
        "source_en": _text(raw, "source_en", code),
        "edition": _text(raw, "edition", code, required=True, limit=100),
        "valid_from": valid_from,
        "valid_until": valid_until,
        "confidence": confidence,
        "checked": _text(raw, "checked", code) or "Not checked against a second source.",
    }
    note = _text(raw, "note", code)
    if note:
        entry["note"] = note
    return entry


# ---- changing -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryChange:
    """Set (add or replace) an entry, or remove the one with ``code``."""

    code: str
    entry: Mapping[str, Any] | None = None
    remove: bool = False


_ACTION = "benchmarking.library.change"
_ENTITY = "benchmark_library"


async def refused(
    principal: Principal,
    library: str,
    enterprise_id: int | None,
    err: CemError,
    *,
    action: str = _ACTION,
    entity_type: str = _ENTITY,
) -> CemError:
    """``err``, after auditing the refused change of ``library``."""
    await record(
        principal,
        action,
        entity_type=entity_type,
        entity_id=library,
        enterprise_id=enterprise_id,
        outcome="denied",
        summary=err.message[:300],
    )
    return err


async def store_version(
    principal: Principal,
    library: str,
    enterprise_id: int | None,
    current: ReferenceVersion | None,
    entries: Mapping[str, dict[str, Any]],
    diff: list[dict[str, Any]],
    reason: str,
    *,
    action: str = _ACTION,
    entity_type: str = _ENTITY,
) -> ReferenceVersion:
    """The next version of ``library`` (after ``current``) with the complete ``entries`` and ``diff``, audited in the
    same transaction; ConflictError when someone else stored that number first."""
    number = (current.number if current else 0) + 1
    try:
        async with in_transaction():
            version = await ReferenceVersion.create(
                library=library,
                enterprise_id=enterprise_id,
                number=number,
                author=principal.name,
                reason=reason,
                diff=diff,
                entries=sorted(entries.values(), key=lambda e: e["code"]),
            )
            await record(
                principal,
                action,
                entity_type=entity_type,
                entity_id=f"{library} v{number}",
                enterprise_id=enterprise_id,
                before={"version": current.number if current else 0},
                after={"version": number, "reason": reason, "diff": diff},
                summary=f"{library} v{number}: {len(diff)} change(s)",
            )
    except IntegrityError as err:
        raise ConflictError(
            f"Someone else changed {library} at the same time (version {number} exists now).",
            hint="Reload the library and apply your change again.",
        ) from err
    return version


async def change_entries(
    principal: Principal, library: str, enterprise_id: int | None, changes: Sequence[EntryChange], reason: str
) -> ReferenceVersion:
    """A new version of ``library`` with ``changes`` applied; audited (refusals too). Analyses keep their versions."""
    try:
        return await _change(principal, library, enterprise_id, changes, reason)
    except (InvalidInputError, PermissionDeniedError, NotFoundError, ConflictError) as err:
        raise await refused(principal, library, enterprise_id, err) from None


async def _change(
    principal: Principal, library: str, enterprise_id: int | None, changes: Sequence[EntryChange], reason: str
) -> ReferenceVersion:
    national = library == NATIONAL
    if national and not principal.scope.everything:
        raise PermissionDeniedError(
            "The national library is shared by every enterprise: it is changed at the group level.",
            hint="Add your own entries (group best, peers, limits, targets) to your enterprise's library instead.",
        )
    reason = reason.strip()
    if not reason or len(reason) > MAX_TEXT:
        raise BenchmarkError(
            "Say why the library changes (reason, at most 500 characters).",
            hint="E.g. 'group best 2025 from the annual energy report'.",
        )
    if not changes:
        raise BenchmarkError("No changes given.")
    if len({c.code for c in changes}) != len(changes):
        raise BenchmarkError("Each entry may be changed once per version.")
    current = await version_of(library)
    entries: dict[str, dict[str, Any]] = {e["code"]: e for e in (current.entries if current else [])}
    process_types = await known_process_types()

    def build(change: EntryChange, _before: Mapping[str, Any] | None) -> dict[str, Any]:
        if change.entry is None:
            raise BenchmarkError(f"Entry {change.code}: give the entry, or remove it.")
        return check_entry({**change.entry, "code": change.code}, national=national, process_types=process_types)

    diff = apply_changes(entries, changes, build, library=library)
    if not diff:
        raise BenchmarkError("The changes leave every entry as it is; nothing to version.")
    if len(entries) > MAX_ENTRIES:
        raise BenchmarkError(f"A library holds at most {MAX_ENTRIES} entries.")
    return await store_version(principal, library, enterprise_id, current, entries, diff, reason)
