"""The national carbon market's steel compliance rules as versioned methodology data, not code.

One library, ``cn-ets-steel``, kept as a chain of :class:`~cem_platform.benchmarking.models.ReferenceVersion` rows
like the reference and measures libraries: each version is the complete set of rules plus the diff against the one
before, with author and reason, audited in the same transaction (refusals too); a change needs a TOTP step-up at
the route. One entry per compliance year (values as exact decimal text)::

    {"code": "2025", "year": 2025, "gases": ["CO2"], "scope": "cn_ets_steel",
     "scope_terms": {"combustion": 1, "process": 1, "fixed_carbon": -1},
     "threshold_tco2e": "26000",
     "allocation": "verified" | "pre_allocation_true_up",
     "pre_allocation_share": "0.70" (of the previous year's verified emissions),
     "intensity_factor": "1" (true-up: the year's output x the previous year's verified intensity x this factor),
     "offset_cap_share": "0.05" (of the obligation), "offset_types": ["CCER"],
     "offset_vintage_from": 2013, "offset_vintage_to": null,
     "deadline": "2026-12-31",
     "source", "confidence" (confirmed | as_published | unverified), "uncertain": [field names], "note"}

A trial calculation names the version it used; publishing keeps that number, so a later change never rewrites it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError

from cem_platform.accounting import units
from cem_platform.accounting.entry_changes import apply_changes
from cem_platform.accounting.library import Confidence
from cem_platform.accounting.scopes import CN_ETS_STEEL
from cem_platform.benchmarking.models import ReferenceVersion
from cem_platform.benchmarking.references import refused, store_version
from cem_platform.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from cem_platform.identity.principal import Principal

__all__ = ["LIBRARY", "RULES_SEED", "CarbonAssetError", "RuleChange", "change_rules", "ensure_seeded", "rule_for"]

LIBRARY = "cn-ets-steel"
_ACTION = "carbon_assets.rules.change"
_ENTITY = "compliance_rules"
_SEED_AUTHOR = "system (seed)"
ALLOCATIONS = ("verified", "pre_allocation_true_up")
TERMS = ("combustion", "process", "electricity", "heat", "fixed_carbon")


class CarbonAssetError(InvalidInputError):
    """A carbon-asset question or change that cannot be answered or made as given."""

    code = "carbon_asset_error"
    default_hint = "See GET /api/v1/carbon-assets/rules for the compliance rules of each year."


_PLAN = (
    "MEE, 2024、2025年度全国碳排放权交易市场钢铁、水泥、铝冶炼行业配额总量和分配方案 (2025); "
    "MEE work plan bringing steel, cement and aluminium into the national carbon market (March 2025)"
)
_OFFSETS = (
    "碳排放权交易管理办法(试行) (MEE Order No. 19, 2020) art. 29: offsets at most 5 % of the allowances due; "
    "温室气体自愿减排交易管理办法(试行) (2023) for CCER issued after the restart"
)
_COMMON: dict[str, Any] = {
    "gases": ["CO2"],
    "scope": CN_ETS_STEEL.code,
    "scope_terms": dict(CN_ETS_STEEL.terms),
    "threshold_tco2e": "26000",
    "offset_cap_share": "0.05",
    "offset_types": ["CCER"],
    "offset_vintage_from": 2013,
    "offset_vintage_to": None,
}

RULES_SEED: list[dict[str, Any]] = [
    {
        **_COMMON,
        "code": "2024",
        "year": 2024,
        "allocation": "verified",
        "pre_allocation_share": None,
        "intensity_factor": None,
        "deadline": "2025-12-31",
        "source": f"{_PLAN}; {_OFFSETS}",
        "confidence": Confidence.AS_PUBLISHED.value,
        "uncertain": ["offset_vintage_from", "deadline"],
        "note": (
            "2024: the allowance equals the verified emissions (no surplus, no deficit from allocation). Which offset "
            "vintages count (here 2013 on, as the pilots and the first compliance cycles allowed) and the surrender "
            "deadline were not read in the original notice: check before relying on them."
        ),
    },
    {
        **_COMMON,
        "code": "2025",
        "year": 2025,
        "allocation": "pre_allocation_true_up",
        "pre_allocation_share": "0.70",
        "intensity_factor": "1",
        "deadline": "2026-12-31",
        "source": f"{_PLAN}; {_OFFSETS}",
        "confidence": Confidence.AS_PUBLISHED.value,
        "uncertain": ["intensity_factor", "offset_vintage_from", "deadline"],
        "note": (
            "2025: pre-allocation of 70 % of the previous year's verified emissions; after verification trued up on "
            "an intensity basis (modelled as the year's crude steel x the previous year's verified tCO2 per tonne x "
            "intensity_factor, 1 until the ministry's factor is entered; lower intensity earns a surplus). The "
            "factor, the vintages and the deadline are assumed: check them."
        ),
    },
]


@dataclass(frozen=True, slots=True)
class RuleChange:
    """Set (add or replace) the rule of a year (``code``: the year), or remove it."""

    code: str
    entry: Mapping[str, Any] | None = None
    remove: bool = False


async def ensure_seeded() -> None:
    """Store version 1 of the rules unless it exists (idempotent, safe when run concurrently)."""
    if await ReferenceVersion.exists(library=LIBRARY):
        return
    diff = [{"code": e["code"], "change": "added", "before": None, "after": e} for e in RULES_SEED]
    with contextlib.suppress(IntegrityError):
        await ReferenceVersion.create(
            library=LIBRARY,
            enterprise_id=None,
            number=1,
            author=_SEED_AUTHOR,
            diff=diff,
            entries=RULES_SEED,
            reason="Seeded: the national carbon market's steel rules for 2024 and 2025, each with its source and "
            "what is uncertain.",
        )


async def version_of(number: int | None = None) -> ReferenceVersion:
    """One version of the rules (the newest when ``number`` is None); NotFoundError for one that does not exist."""
    await ensure_seeded()
    query = ReferenceVersion.filter(library=LIBRARY)
    found = await (query.filter(number=number).first() if number is not None else query.order_by("-number").first())
    if found is None:
        raise NotFoundError(
            f"The compliance rules have no version {number}.",
            hint="List the versions: GET /api/v1/carbon-assets/rules/versions.",
        )
    return found


async def rule_for(year: int, number: int | None = None) -> tuple[int, dict[str, Any]]:
    """The version number and the rule of compliance year ``year``; CarbonAssetError when no rule covers it."""
    version = await version_of(number)
    for entry in version.entries:
        if entry["year"] == year:
            return version.number, dict(entry)
    years = ", ".join(str(e["year"]) for e in version.entries)
    raise CarbonAssetError(
        f"No compliance rule for {year} in version {version.number} of the rules (years: {years}).",
        hint="Rules for later years are added as data when the ministry publishes them (POST /rules/versions).",
    )


def _decimal(value: Any, what: str, *, low: Decimal, high: Decimal) -> str:
    number = units.parse_bounded(value, 12, 6) if value is not None else None
    if number is None or not low <= number <= high:
        raise CarbonAssetError(f"{what}: {value!r} is not a decimal between {low} and {high}.")
    return format(number, "f")


def _year(value: Any, what: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 2000 <= value <= 2100:
        raise CarbonAssetError(f"{what}: {value!r} is not a year.")
    return value


def check_rule(raw: Mapping[str, Any], code: str) -> dict[str, Any]:
    """A rule as stored, or CarbonAssetError naming what is wrong."""
    allowed = {
        "code", "year", "gases", "scope", "scope_terms", "threshold_tco2e", "allocation", "pre_allocation_share",
        "intensity_factor", "offset_cap_share", "offset_types", "offset_vintage_from", "offset_vintage_to",
        "deadline", "source", "confidence", "uncertain", "note",
    }  # fmt: skip
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise CarbonAssetError(f"Rule {code}: unknown field {unknown[0]!r}.")
    year = _year(raw.get("year"), f"Rule {code}, year")
    if str(year) != code:
        raise CarbonAssetError(f"Rule {code}: its code is its year ({year}).")
    gases = raw.get("gases") or ["CO2"]
    if not isinstance(gases, list) or not all(isinstance(g, str) and 0 < len(g) <= 8 for g in gases):
        raise CarbonAssetError(f"Rule {code}: gases is a list of short names, e.g. ['CO2'].")
    terms = raw.get("scope_terms") or dict(CN_ETS_STEEL.terms)
    if not isinstance(terms, Mapping) or set(terms) - set(TERMS) or any(v not in (1, -1) for v in terms.values()):
        raise CarbonAssetError(f"Rule {code}: scope_terms maps terms of {', '.join(TERMS)} to 1 or -1.")
    allocation = raw.get("allocation")
    if allocation not in ALLOCATIONS:
        raise CarbonAssetError(f"Rule {code}: allocation is one of {', '.join(ALLOCATIONS)}.")
    share = factor = None
    if allocation == "pre_allocation_true_up":
        share = _decimal(raw.get("pre_allocation_share"), f"Rule {code}, pre_allocation_share", low=Decimal(0),
                         high=Decimal(1))  # fmt: skip
        factor = _decimal(raw.get("intensity_factor"), f"Rule {code}, intensity_factor", low=Decimal(0),
                          high=Decimal(2))  # fmt: skip
    offset_types = raw.get("offset_types") or []
    if not isinstance(offset_types, list) or not all(isinstance(t, str) and 0 < len(t) <= 16 for t in offset_types):
        raise CarbonAssetError(f"Rule {code}: offset_types is a list of offset types, e.g. ['CCER'].")
    vintage_from = _year(raw.get("offset_vintage_from"), f"Rule {code}, offset_vintage_from", optional=True)
    vintage_to = _year(raw.get("offset_vintage_to"), f"Rule {code}, offset_vintage_to", optional=True)
    if vintage_from and vintage_to and vintage_to < vintage_from:
        raise CarbonAssetError(f"Rule {code}: offset_vintage_to comes before offset_vintage_from.")
    try:
        deadline = dt.date.fromisoformat(str(raw.get("deadline"))).isoformat()
    except ValueError as err:
        raise CarbonAssetError(f"Rule {code}: deadline {raw.get('deadline')!r} is not a date YYYY-MM-DD.") from err
    source = str(raw.get("source") or "").strip()
    if not source or len(source) > 1000:
        raise CarbonAssetError(f"Rule {code}: give its source (at most 1000 characters).")
    confidence = raw.get("confidence") or Confidence.UNVERIFIED.value
    if confidence not in {c.value for c in Confidence}:
        raise CarbonAssetError(f"Rule {code}: confidence is one of {', '.join(c.value for c in Confidence)}.")
    uncertain = raw.get("uncertain") or []
    if not isinstance(uncertain, list) or set(uncertain) - allowed:
        raise CarbonAssetError(f"Rule {code}: uncertain lists the rule's fields that are not sure.")
    return {
        "code": code,
        "year": year,
        "gases": list(gases),
        "scope": str(raw.get("scope") or CN_ETS_STEEL.code)[:32],
        "scope_terms": dict(terms),
        "threshold_tco2e": _decimal(
            raw.get("threshold_tco2e", "26000"), f"Rule {code}, threshold_tco2e", low=Decimal(0), high=Decimal(10**9)
        ),  # fmt: skip
        "allocation": allocation,
        "pre_allocation_share": share,
        "intensity_factor": factor,
        "offset_cap_share": _decimal(
            raw.get("offset_cap_share"), f"Rule {code}, offset_cap_share", low=Decimal(0), high=Decimal(1)
        ),  # fmt: skip
        "offset_types": list(offset_types),
        "offset_vintage_from": vintage_from,
        "offset_vintage_to": vintage_to,
        "deadline": deadline,
        "source": source,
        "confidence": confidence,
        "uncertain": sorted(uncertain),
        "note": str(raw.get("note") or "").strip()[:1000],
    }


async def change_rules(principal: Principal, changes: Sequence[RuleChange], reason: str) -> ReferenceVersion:
    """A new version of the rules with ``changes`` applied, audited (refusals too). Changed at the group level."""
    try:
        if not principal.scope.everything:
            raise PermissionDeniedError(
                "The compliance rules are shared by every enterprise: they are changed at the group level."
            )
        reason = reason.strip()
        if not reason or len(reason) > 500:
            raise CarbonAssetError("Say why the rules change (reason, at most 500 characters).")
        if not changes or len({c.code for c in changes}) != len(changes):
            raise CarbonAssetError("Give the changes, each year once.")
        current = await version_of()
        entries: dict[str, dict[str, Any]] = {e["code"]: e for e in current.entries}

        def build(change: RuleChange, _before: Mapping[str, Any] | None) -> dict[str, Any]:
            if change.entry is None:
                raise CarbonAssetError(f"Rule {change.code}: give the rule, or remove it.")
            return check_rule({**change.entry}, change.code)

        diff = apply_changes(entries, changes, build, library=LIBRARY, noun="rule")
        if not diff:
            raise CarbonAssetError("The changes leave every rule as it is; nothing to version.")
        return await store_version(
            principal, LIBRARY, None, current, entries, diff, reason, action=_ACTION, entity_type=_ENTITY
        )
    except (InvalidInputError, PermissionDeniedError, NotFoundError, ConflictError) as err:
        raise await refused(principal, LIBRARY, None, err, action=_ACTION, entity_type=_ENTITY) from None
