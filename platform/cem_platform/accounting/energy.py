"""Energy accounting beside carbon accounting: every carrier in tonnes of standard coal equivalent (GB/T 2589-2020).

One period's energy is worked out from the same accounting as its emissions (the engine's per-source lineage), so
the two can never disagree about what was consumed:

* **fuels** (fuel combustion sources, including by-product gases): the energy the engine already accounts, the
  quantity times its net calorific value (the source's measured value where the enterprise has one, else the
  edition's default), divided by 29.3076 GJ/tce. GB/T 2589 asks for the measured low calorific value first; its
  reference coefficients are only for fuels without one, and every fuel the methodology accounts has one;
* **electricity**: net purchased MWh times the **equivalent** (当量值) coefficient of the energy library by default.
  The **equal-value** (等价值) method uses the library's ``electricity.equal_value`` (the grid's coal rate for
  supply, published per year): it is applied when read (``statistics``), from the MWh kept here;
* **heat** (and steam, entered in tonnes and turned into GJ by the accounting): net purchased GJ times the
  library's heat coefficient;
* a **sold or recovered** line (``direction: "sold"``: by-product gas, exported electricity or heat) counts with a
  minus sign at its process, so a converter that recovers more gas than it consumes shows negative process energy,
  as GB 21256 expects.

Processes: a carrier counts at the process of its source, the rest (a source of no process, e.g. the grid tie
without sub-meters) as unallocated. Per process: its carriers, its electricity in MWh, its output and its energy per
tonne of product (kgce/t, 工序能耗). The coefficients are versioned library data (:data:`ENERGY_LIBRARY`), each with
its source and how far it was checked; the period's energy names the version it used.
"""

from __future__ import annotations

import dataclasses
import decimal
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from cem_platform.accounting import units
from cem_platform.accounting.engine import GJ_PER_TCE, AccountingResult, Quantity
from cem_platform.accounting.formulas import PRECISION, AccountingError
from cem_platform.accounting.library import Confidence, Parameter, SourceCategory

__all__ = [
    "ELECTRICITY_EQUAL_VALUE",
    "ELECTRICITY_EQUIVALENT",
    "ENERGY_LIBRARY",
    "HEAT_EQUIVALENT",
    "SEEDED",
    "EnergyCoefficients",
    "energy_of",
]

ENERGY_LIBRARY = "GB/T 2589-2020"
ELECTRICITY_EQUIVALENT = "electricity.equivalent"
ELECTRICITY_EQUAL_VALUE = "electricity.equal_value"
HEAT_EQUIVALENT = "heat.equivalent"
ELECTRICITY = "electricity"
HEAT = "heat"
_TCE_PER_MWH = "tce/MWh"
_TCE_PER_GJ = "tce/GJ"

_CHECKED = (
    "核对：GB/T 2589-2008 附录A 同值（nimonik.com.cn FAQ B7013 引用）；2020 版附录A 原表此处未读；"
    "算术核对 3.6 MJ/(kW·h) ÷ 29.3076 MJ/kgce = 0.12284。"
)
#: Version 1 of the energy library: the conversion coefficients every energy figure uses by default.
SEEDED: tuple[Parameter, ...] = (
    Parameter(
        ELECTRICITY_EQUIVALENT,
        Decimal("0.1229"),
        "kgce/kWh",
        ENERGY_LIBRARY,
        "seed",
        "GB/T 2589-2020《综合能耗计算通则》附录A：电力（当量值）0.1229 kgce/(kW·h)。" + _CHECKED,
        Confidence.AS_PUBLISHED,
        source_en="GB/T 2589-2020, Annex A: electricity (equivalent value) 0.1229 kgce/kWh. The same value is "
        "cited for the 2008 edition's Annex A (nimonik.com.cn FAQ B7013); the 2020 table was not read here; "
        "3.6 MJ/kWh / 29.3076 MJ/kgce = 0.12284.",
    ),
    Parameter(
        HEAT_EQUIVALENT,
        Decimal("0.03412"),
        "kgce/MJ",
        ENERGY_LIBRARY,
        "seed",
        "GB/T 2589-2020《综合能耗计算通则》附录A：热力（当量值）0.03412 kgce/MJ；"
        "常用折标表列 0.0341 tce/GJ（百万千焦）；算术核对 1 ÷ 29.3076 = 0.034121。",
        Confidence.AS_PUBLISHED,
        source_en="GB/T 2589-2020, Annex A: heat (equivalent value) 0.03412 kgce/MJ; common conversion tables give "
        "0.0341 tce per GJ; 1 / 29.3076 = 0.034121.",
    ),
)


@dataclasses.dataclass(frozen=True, slots=True)
class EnergyCoefficients:
    """The energy library version a period is accounted with: coefficients by code, and the version number."""

    parameters: Mapping[str, Parameter]
    version: int

    def factor(self, code: str, unit: str) -> Decimal:
        """The coefficient ``code`` in ``unit`` (e.g. tce/MWh)."""
        parameter = self.parameters.get(code)
        if parameter is None:
            raise AccountingError(
                f"The energy library ({ENERGY_LIBRARY} v{self.version}) holds no {code}.",
                hint=f"Add {code} with its source to the library {ENERGY_LIBRARY} (POST /api/v1/accounting/library).",
            )
        return units.convert(parameter.value, parameter.unit, unit)

    def used(self, code: str) -> dict[str, str]:
        """What a period's energy names for a coefficient it used: value, unit, version, source."""
        parameter = self.parameters[code]
        return {
            "value": format(parameter.value, "f"),
            "unit": parameter.unit,
            "version": parameter.version,
            "source": parameter.source,
            "confidence": parameter.confidence.value,
        }


def _net_input(inputs: Mapping[str, tuple[Decimal, str]], unit: str) -> Decimal:
    """Purchased minus exported, in ``unit``."""
    total = Decimal(0)
    for name, sign in (("purchased", 1), ("exported", -1)):
        if name in inputs:
            value, given = inputs[name]
            total += sign * units.convert(value, given, unit)
    return total


def energy_of(
    result: AccountingResult, process_outputs: Mapping[str, Quantity], coefficients: EnergyCoefficients
) -> dict[str, Any]:
    """The energy of one accounted period, as stored with its lineage (decimals as exact text)."""
    with decimal.localcontext() as context:
        context.prec = PRECISION
        electricity = coefficients.factor(ELECTRICITY_EQUIVALENT, _TCE_PER_MWH)
        heat = coefficients.factor(HEAT_EQUIVALENT, _TCE_PER_GJ)
        carriers: dict[str, dict[str, Decimal]] = {}  # process -> carrier -> tce
        mwh: dict[str, Decimal] = {}
        for source in result.sources:
            process = source.process
            if source.category is SourceCategory.FUEL_COMBUSTION and source.energy_gj is not None:
                carrier, tce = source.item or "fuel", source.energy_gj / GJ_PER_TCE
            elif source.category in (SourceCategory.ELECTRICITY, SourceCategory.HEAT):
                inputs = {i.name: (i.used_value, i.used_unit) for i in source.inputs}
                if source.category is SourceCategory.ELECTRICITY:
                    amount = _net_input(inputs, "MWh")
                    mwh[process] = mwh.get(process, Decimal(0)) + amount
                    carrier, tce = ELECTRICITY, amount * electricity
                else:
                    carrier, tce = HEAT, _net_input(inputs, "GJ") * heat
            else:
                continue
            into = carriers.setdefault(process, {})
            into[carrier] = into.get(carrier, Decimal(0)) + tce
        by_carrier: dict[str, Decimal] = {}
        by_process: dict[str, dict[str, Any]] = {}
        for process in sorted(set(carriers) | set(process_outputs)):
            own = carriers.get(process, {})
            total = sum(own.values(), Decimal(0))
            for carrier, tce in own.items():
                by_carrier[carrier] = by_carrier.get(carrier, Decimal(0)) + tce
            output = process_outputs.get(process)
            tonnes = units.convert(output.value, output.unit, "t") if output is not None else None
            by_process[process] = {
                "total": units.exact_text(total),
                "by_carrier": {c: units.exact_text(v) for c, v in sorted(own.items())},
                "electricity_mwh": units.exact_text(mwh.get(process, Decimal(0))),
                "output": units.exact_text(tonnes) if tonnes is not None else None,
                "intensity": units.exact_text(total * 1000 / tonnes) if tonnes else None,  # kgce/t
            }
        total = sum(by_carrier.values(), Decimal(0))
        crude = result.crude_steel
        crude_t = units.convert(crude.value, crude.unit, "t") if crude is not None else None
        return {
            "unit": "tce",
            "library": ENERGY_LIBRARY,
            "library_version": coefficients.version,
            "electricity_method": "equivalent",
            "coefficients": {
                ELECTRICITY_EQUIVALENT: coefficients.used(ELECTRICITY_EQUIVALENT),
                HEAT_EQUIVALENT: coefficients.used(HEAT_EQUIVALENT),
            },
            "total": units.exact_text(total),
            "by_carrier": {c: units.exact_text(v) for c, v in sorted(by_carrier.items())},
            "electricity_mwh": units.exact_text(sum(mwh.values(), Decimal(0))),
            "by_process": by_process,
            "intensity": units.exact_text(total * 1000 / crude_t) if crude_t else None,  # kgce per t of crude steel
        }
