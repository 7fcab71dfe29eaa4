"""Reporting scopes beside the full GB/T 32151.5 figure, as methodology data: which terms of E_total count, with
which sign. A scope is data with its source and version; a result names the scope version it was shown under.

The national carbon market's steel scope (全国碳排放权交易市场 钢铁行业) covers CO2 only and direct emissions
only: fuel combustion plus industrial process minus the carbon fixed in products; purchased electricity and heat
are excluded. Allocation rules per compliance year belong to the carbon-asset service, not here.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from cem_platform.accounting.formulas import PRECISION

__all__ = ["CN_ETS_STEEL", "FULL", "SCOPES", "Scope", "scope_total"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Which terms of the totals (combustion, process, electricity, heat, fixed_carbon) count, with their sign."""

    code: str
    version: int
    name_zh: str
    name_en: str
    terms: Mapping[str, int]
    source: str
    certainty: str  # checked | reported | assumed: how sure the data is


FULL = Scope(
    code="gbt32151_5",
    version=1,
    name_zh="GB/T 32151.5 全口径",
    name_en="GB/T 32151.5 total",
    terms=MappingProxyType({"combustion": 1, "process": 1, "electricity": 1, "heat": 1, "fixed_carbon": -1}),
    source="GB/T 32151.5-2015 §6.1: E = E_combustion + E_process + E_electricity + E_heat − R_fixed carbon",
    certainty="checked",
)

CN_ETS_STEEL = Scope(
    code="cn_ets_steel",
    version=1,
    name_zh="全国碳市场覆盖排放(直接排放)",
    name_en="National ETS covered emissions (direct)",
    terms=MappingProxyType({"combustion": 1, "process": 1, "fixed_carbon": -1}),
    source=(
        "MEE work plan bringing steel, cement and aluminium into the national carbon market (2025): CO2 only, "
        "direct emissions = fuel combustion + industrial process − carbon fixed in products; purchased "
        "electricity and heat excluded"
    ),
    certainty="reported",
)

SCOPES: Mapping[str, Scope] = MappingProxyType({s.code: s for s in (FULL, CN_ETS_STEEL)})


def scope_total(scope: Scope, totals: Mapping[str, Decimal | str]) -> Decimal:
    """The scope's figure from a result's totals (exact)."""
    with decimal.localcontext() as context:
        context.prec = PRECISION
        total = Decimal(0)
        for term, sign in scope.terms.items():
            value = totals[term]
            total += (value if isinstance(value, Decimal) else Decimal(value)) * sign
        return total
