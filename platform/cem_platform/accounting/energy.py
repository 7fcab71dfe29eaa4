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
* **energy-carrying media** (耗能工质: oxygen, nitrogen, compressed air, fresh, softened and deaerated water...):
  sources of category ``energy_medium`` (:data:`MEDIUM`), never given to the emission engine, so they are in no
  emission term. Their quantity (Nm3 or t) times the library's ``medium.<item>`` coefficient (kgce per Nm3 or per t,
  GB/T 2589's energy equivalent of the medium), or the source's measured ``coefficient`` where it has one. Media
  made in the works (an oxygen plant) are transfers: counted at the process that uses them and, with a minus sign,
  at the one that makes them, so the enterprise counts the energy that made them once (GB/T 2589: the energy of
  media made in-house is already in the energy used to make them); purchased media count at the enterprise;
* a **sold or recovered** line (``direction: "sold"``: by-product gas, exported electricity or heat) counts with a
  minus sign at its process, so a converter that recovers more gas than it consumes shows negative process energy,
  as GB 21256 expects.

GB/T 2589's reference coefficients for fuels (raw coal 0.7143 kgce/kg, coke 0.9714, natural gas 1.1000–1.3300
kgce/m3 ...) apply only to a fuel without a measured calorific value. Every fuel the engine accounts has one (the
source's measured NCV, or the edition's default, or the source is refused), so they feed no figure and are not
library data here; the README compares the editions' default NCVs with them (a cross-check, not a rule).

Processes: a carrier counts at the process of its source, the rest (a source of no process, e.g. the grid tie
without sub-meters) as unallocated. Per line of the lineage (``by_source``, by the line's ``source_id``): its
carrier, its tce and, for electricity, its MWh; the carriers and processes are sums of these same values, so a
facility's or a source's energy (statistics) adds up with them. Per process: its carriers, its electricity in MWh,
its output and its energy per tonne of product (kgce/t, 工序能耗). The coefficients are versioned library data
(:data:`ENERGY_LIBRARY`), each with its source and how far it was checked; the period's energy names the version it
used.
"""

from __future__ import annotations

import dataclasses
import decimal
from collections.abc import Mapping, Sequence
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
    "MEDIUM",
    "SEEDED",
    "EnergyCoefficients",
    "MediumLine",
    "energy_of",
    "medium_code",
    "medium_units",
]

ENERGY_LIBRARY = "GB/T 2589-2020"
ELECTRICITY_EQUIVALENT = "electricity.equivalent"
ELECTRICITY_EQUAL_VALUE = "electricity.equal_value"
HEAT_EQUIVALENT = "heat.equivalent"
ELECTRICITY = "electricity"
HEAT = "heat"
#: The source category of energy-carrying media (耗能工质): energy only, no emission.
MEDIUM = "energy_medium"
_MEDIUM_PREFIX = "medium."
_TCE_PER_MWH = "tce/MWh"
_TCE_PER_GJ = "tce/GJ"

_CHECKED = (
    "核对：GB/T 2589-2008 附录A 同值（nimonik.com.cn FAQ B7013 引用）；2020 版附录A 原表此处未读；"
    "算术核对 3.6 MJ/(kW·h) ÷ 29.3076 MJ/kgce = 0.12284。"
)
# Energy-carrying media (耗能工质): GB/T 2589's energy equivalents, per Nm3 (gases at normal conditions) or per t.
_MEDIUM_ZH = (
    "GB/T 2589《综合能耗计算通则》附录（耗能工质能源等价值）：{name} {value} {unit}（2008 版附录B 所列之值；"
    "2020 版原表此处未读）。"
)
_MEDIUM_EN = (
    "GB/T 2589, annex of the energy equivalents of energy-carrying media: {name} {value} {unit} (the value listed in "
    "Annex B of the 2008 edition; the 2020 table was not read here). "
)
_WATER_CHECKED = (
    "核对：新水 0.0857、软化水 0.4857、除氧水 0.9714 kgce/t 与一份公开的能耗月报录入表（某市计量测试研究所网页源码）"
    "所列一致；另一公开折标表（huatuo6.cn）此行排版错乱，未能据以核对。",
    "Checked: fresh water 0.0857, softened water 0.4857 and deaerated water 0.9714 kgce/t are listed alike in a public "
    "monthly energy-data entry form (the web page source of a municipal metrology institute); another public table "
    "(huatuo6.cn) prints this row garbled and could not be used.",
)
_GAS_CHECKED = (
    "核对：公开折标参考系数表（huatuo6.cn，“各种能源与标准煤的参考折标系数”）列压缩空气 0.04、氧气 0.4 kgce/m3"
    "（该表排版错乱，名称与数值按次序对应）。",
    "Checked: a public table of reference conversion coefficients (huatuo6.cn) lists compressed air 0.04 and oxygen "
    "0.4 kgce/m3 (its layout is garbled: names and values matched by their order).",
)
_NITROGEN_PENDING = (
    "待核实：未找到第二来源。氮气作副产品（与氧气同时制取）时之值；作主产品时标准列 0.6714 kgce/m3，"
    "须另设系数或按实测值填报。",
    "Awaiting confirmation: no second source found. The value for nitrogen made as a by-product (with oxygen); made "
    "as the main product the standard lists 0.6714 kgce/m3: give that as a measured coefficient.",
)
_PENDING = ("待核实：未找到第二来源。", "Awaiting confirmation: no second source found.")
# item, value, unit, name (zh), name (en), confidence, check (zh), check (en)
_MEDIA: tuple[tuple[str, str, str, str, str, Confidence, str, str], ...] = (
    ("oxygen", "0.4000", "kgce/Nm3", "氧气", "oxygen", Confidence.AS_PUBLISHED, *_GAS_CHECKED),
    ("nitrogen", "0.4000", "kgce/Nm3", "氮气（作副产品时）", "nitrogen (by-product)", Confidence.UNVERIFIED,
     *_NITROGEN_PENDING),
    ("compressed_air", "0.0400", "kgce/Nm3", "压缩空气", "compressed air", Confidence.AS_PUBLISHED, *_GAS_CHECKED),
    ("carbon_dioxide", "0.2143", "kgce/Nm3", "二氧化碳气", "carbon dioxide gas", Confidence.UNVERIFIED, *_PENDING),
    ("fresh_water", "0.0857", "kgce/t", "新水", "fresh water", Confidence.AS_PUBLISHED, *_WATER_CHECKED),
    ("softened_water", "0.4857", "kgce/t", "软化水", "softened water", Confidence.AS_PUBLISHED, *_WATER_CHECKED),
    ("deaerated_water", "0.9714", "kgce/t", "除氧水", "deaerated water", Confidence.AS_PUBLISHED, *_WATER_CHECKED),
)  # fmt: skip

#: The seeded coefficients every energy figure uses by default: version 1 of a new energy library; a library stored
#: before a coefficient was seeded gets it in a version by the seed (``library_store.ensure_seeded``).
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
    *(
        Parameter(
            f"{_MEDIUM_PREFIX}{item}",
            Decimal(value),
            unit,
            ENERGY_LIBRARY,
            "seed",
            _MEDIUM_ZH.format(name=zh, value=value, unit=unit) + checked_zh,
            confidence,
            source_en=_MEDIUM_EN.format(name=en, value=value, unit=unit) + checked_en,
        )
        for item, value, unit, zh, en, confidence, checked_zh, checked_en in _MEDIA
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


def medium_code(item: str) -> str:
    """The library code of a medium's coefficient (``medium.oxygen``)."""
    return f"{_MEDIUM_PREFIX}{item}"


def medium_units(coefficients: EnergyCoefficients) -> dict[str, str]:
    """Each medium the library has a coefficient for, with the unit its quantity is counted in (Nm3, t)."""
    return {
        code.removeprefix(_MEDIUM_PREFIX): parameter.unit.partition("/")[2]
        for code, parameter in sorted(coefficients.parameters.items())
        if code.startswith(_MEDIUM_PREFIX) and "/" in parameter.unit
    }


@dataclasses.dataclass(frozen=True, slots=True)
class MediumLine:
    """An energy-carrying medium used at a process (the maker's side of a transfer: negative). ``coefficient`` is
    the source's measured value (kgce per Nm3 or t), None for the library's."""

    source_id: str
    process: str
    item: str
    quantity: Quantity
    coefficient: Quantity | None = None


def _medium_tce(line: MediumLine, coefficients: EnergyCoefficients) -> tuple[Decimal, dict[str, Any]]:
    """The tce of one medium line and its lineage (quantity, coefficient as used, its origin)."""
    code = medium_code(line.item)
    measured = line.coefficient
    if measured is not None:
        value, unit, origin = measured.value, measured.unit, f"measured: {measured.origin}"
    else:
        parameter = coefficients.parameters.get(code)
        if parameter is None:
            raise AccountingError(
                f"Source {line.source_id}: the energy library ({ENERGY_LIBRARY} v{coefficients.version}) holds no "
                f"{code}.",
                hint=f"Add {code} with its source to the library {ENERGY_LIBRARY}, or give the source a measured "
                "coefficient.",
            )
        value, unit, origin = parameter.value, parameter.unit, f"library:{ENERGY_LIBRARY} {parameter.version}"
    per = unit.partition("/")[2]
    try:
        amount = units.convert(line.quantity.value, line.quantity.unit, per)
        factor = units.convert(value, unit, f"tce/{per}")
    except units.UnitError as err:
        raise AccountingError(
            f"Source {line.source_id}: {line.item} in {line.quantity.unit} does not fit its coefficient in {unit}.",
            hint="Give the medium's quantity in the unit its coefficient is per (Nm3 for gases, t for water).",
        ) from err
    tce = amount * factor
    lineage = {
        "source_id": line.source_id,
        "process": line.process,
        "item": line.item,
        "value": units.exact_text(line.quantity.value),
        "unit": line.quantity.unit,
        "origin": line.quantity.origin,
        "complete": line.quantity.complete,
        "estimated": line.quantity.estimated,
        "coefficient": {"code": code, "value": units.exact_text(value), "unit": unit, "origin": origin},
        "tce": units.exact_text(tce),
    }
    return tce, lineage


def _net_input(inputs: Mapping[str, tuple[Decimal, str]], unit: str) -> Decimal:
    """Purchased minus exported, in ``unit``."""
    total = Decimal(0)
    for name, sign in (("purchased", 1), ("exported", -1)):
        if name in inputs:
            value, given = inputs[name]
            total += sign * units.convert(value, given, unit)
    return total


def energy_of(
    result: AccountingResult,
    process_outputs: Mapping[str, Quantity],
    coefficients: EnergyCoefficients,
    media: Sequence[MediumLine] = (),
) -> dict[str, Any]:
    """The energy of one accounted period, as stored with its lineage (decimals as exact text). ``media`` are the
    period's energy-carrying media, which the emission engine never sees; a period without them keeps the shape it
    had before media were counted (so its kept result is unchanged)."""
    with decimal.localcontext() as context:
        context.prec = PRECISION
        electricity = coefficients.factor(ELECTRICITY_EQUIVALENT, _TCE_PER_MWH)
        heat = coefficients.factor(HEAT_EQUIVALENT, _TCE_PER_GJ)
        carriers: dict[str, dict[str, Decimal]] = {}  # process -> carrier -> tce
        mwh: dict[str, Decimal] = {}
        lines: dict[str, dict[str, str]] = {}  # line (source_id) -> carrier, tce and electricity's MWh
        for source in result.sources:
            process = source.process
            amount: Decimal | None = None  # electricity's MWh
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
            line = lines[source.source_id] = {"carrier": carrier, "tce": units.exact_text(tce)}
            if amount is not None:
                line["mwh"] = units.exact_text(amount)
            into = carriers.setdefault(process, {})
            into[carrier] = into.get(carrier, Decimal(0)) + tce
        media_lineage: list[dict[str, Any]] = []
        for medium in media:
            tce, used = _medium_tce(medium, coefficients)
            media_lineage.append(used)
            lines[medium.source_id] = {"carrier": medium.item, "tce": units.exact_text(tce)}
            into = carriers.setdefault(medium.process, {})
            into[medium.item] = into.get(medium.item, Decimal(0)) + tce
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
        energy: dict[str, Any] = {
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
            "by_source": lines,
            "intensity": units.exact_text(total * 1000 / crude_t) if crude_t else None,  # kgce per t of crude steel
        }
        if media_lineage:
            # the media's data quality is the energy's, not the emissions' (no emission figure uses them)
            energy["media"] = media_lineage
            energy["complete"] = all(m["complete"] for m in media_lineage)
            energy["estimated"] = any(m["estimated"] for m in media_lineage)
            for entry in media_lineage:
                code = entry["coefficient"]["code"]
                if entry["coefficient"]["origin"].startswith("library:") and code not in energy["coefficients"]:
                    energy["coefficients"][code] = coefficients.used(code)
        return energy
