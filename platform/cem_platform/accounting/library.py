"""The methodology as versioned data: editions of formulas and default parameters, and grid factors.

An :class:`Edition` is one complete methodology — for every source category a :class:`Method` (the
formula(s) and which parameter code feeds each formula input) and the default :class:`Parameter` set. A
reporting year is accounted under ONE edition; an edition never borrows a parameter from another, and
asking one for a code it does not hold fails (:class:`ParameterNotFoundError`) rather than falling back.
Every parameter carries its exact value (``Decimal`` from text), unit, source document, a confidence mark
saying how far it was checked, and a validity period. Seeded editions:

* :data:`EDITION_2015` — GB/T 32151.5-2015 with the 2013 national steel guideline defaults;
* :data:`EDITION_NEWER` — the newer ministry guideline parameter set (fuel values seen in implementations,
  2024-guideline fixed-carbon figures) — kept separate and marked unverified, as the domain doc asks.

Grid electricity factors are not edition data but a dated public series with two kinds that must never be
confused: factors PRESCRIBED for national-ETS reporting, and the OFFICIAL national/regional AVERAGES
published by the ministry with the statistics bureau. :func:`grid_factor` returns a :class:`GridFactor`
that says which kind, region and data years it is.

Seeding checks (public-web search, 2026): see each value's ``source`` and ``confidence``. Confirmed:
official averages 2021/2022/2023 with regions, and 0.5703 as the factor the 2023 notice set for 2022 data.
Not found: the guideline's fuel table (coke NCV 28.447 ...), 0.6101, 0.5810, process and fixed factors.
Where the confirmations were read: 0.5703 in a tanpaifang.com report of 2023-02-15; the 2021 and 2022
averages in daydaynews.cc reports of 2024-12-27; the 2023 averages in a Guangming Daily report (163.com).
A value's ``source`` (Chinese) and ``source_en`` name the standard and its annex or table for people, and
start the part still to be checked with "待核实" / "Awaiting confirmation".

Errors (all :class:`~cem_platform.accounting.formulas.AccountingError`)::

    ParameterNotFoundError     the edition holds no such parameter (it may exist in another edition)
    EditionMismatchError       something from one edition was used with another
    GridFactorNotFoundError    no grid factor of that kind, year and region
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from cem_platform.accounting.formulas import AccountingError, Formula

__all__ = [
    "EDITIONS",
    "EDITION_2015",
    "EDITION_NEWER",
    "GRID",
    "GRID_FACTORS",
    "CategoryGroup",
    "Confidence",
    "Edition",
    "EditionMismatchError",
    "GridFactor",
    "GridFactorKind",
    "GridFactorNotFoundError",
    "Method",
    "MethodVariant",
    "METHOD_LAYOUT",
    "SEEDED_FORMULAS",
    "Parameter",
    "ParameterNotFoundError",
    "SourceCategory",
    "build_methods",
    "edition",
    "formula_category",
    "grid_factor",
]


class ParameterNotFoundError(AccountingError):
    """The chosen edition has no parameter with this code."""

    code = "parameter_not_found"
    default_hint = "Give a measured value for it, or account the whole year under an edition that defines it."


class EditionMismatchError(AccountingError):
    """A parameter or result of one edition was used with another edition."""

    code = "edition_mismatch"
    default_hint = "Use parameters of one edition only; switch the whole reporting year to the other edition."


class GridFactorNotFoundError(AccountingError):
    """No grid emission factor of the asked kind for that year and region."""

    code = "grid_factor_not_found"
    default_hint = "Pick a year and kind that exist, or enter the factor as a measured value with its origin."


class Confidence(StrEnum):
    """How far a seeded value was checked against a public source."""

    CONFIRMED = "confirmed"  # seen in a public source found while seeding (named in the source note)
    AS_PUBLISHED = "as_published"  # the commonly published default; the original table was not read here
    UNVERIFIED = "unverified"  # reported or assumed; must be checked before a report relies on it


class SourceCategory(StrEnum):
    """Emission source categories of GB/T 32151.5."""

    FUEL_COMBUSTION = "fuel_combustion"
    FLUX = "flux"
    ELECTRODE = "electrode"
    RAW_MATERIAL = "raw_material"
    ELECTRICITY = "electricity"
    HEAT = "heat"
    FIXED_CARBON = "fixed_carbon"

    @property
    def group(self) -> CategoryGroup:
        """The term of E_total this category adds to."""
        return _CATEGORY_GROUP[self]


class CategoryGroup(StrEnum):
    """The terms of E_total = combustion + process + electricity + heat − fixed carbon."""

    COMBUSTION = "combustion"
    PROCESS = "process"
    ELECTRICITY = "electricity"
    HEAT = "heat"
    FIXED_CARBON = "fixed_carbon"


_CATEGORY_GROUP = {
    SourceCategory.FUEL_COMBUSTION: CategoryGroup.COMBUSTION,
    SourceCategory.FLUX: CategoryGroup.PROCESS,
    SourceCategory.ELECTRODE: CategoryGroup.PROCESS,
    SourceCategory.RAW_MATERIAL: CategoryGroup.PROCESS,
    SourceCategory.ELECTRICITY: CategoryGroup.ELECTRICITY,
    SourceCategory.HEAT: CategoryGroup.HEAT,
    SourceCategory.FIXED_CARBON: CategoryGroup.FIXED_CARBON,
}


@dataclass(frozen=True)
class Parameter:
    """A default parameter of one edition: exact value, unit, where it comes from and how sure we are."""

    code: str
    value: Decimal
    unit: str
    edition: str
    version: str
    source: str
    confidence: Confidence
    valid_from: date | None = None
    valid_until: date | None = None
    source_en: str = ""  # the source in English ("" when given in one language only)

    def valid_in(self, year: int) -> bool:
        """Whether the parameter applies to data of ``year`` (open ends count as valid)."""
        starts = self.valid_from is None or self.valid_from <= date(year, 12, 31)
        ends = self.valid_until is None or self.valid_until >= date(year, 1, 1)
        return starts and ends


#: Parameter-code template meaning "the grid factor series", not an edition parameter.
GRID = "grid"


@dataclass(frozen=True)
class MethodVariant:
    """One way to compute a category: the emission formula and, for fuels, the energy (AD in GJ) formula."""

    emission: Formula
    energy: Formula | None = None


@dataclass(frozen=True)
class Method:
    """How an edition computes one source category.

    ``parameter_codes`` maps each formula input that is a parameter to a code template (``{item}`` is the
    fuel, material or product); every other formula input is activity data the caller supplies. When
    several variants exist (fuels in t or in 10^4 Nm3), the engine takes the one whose parameter units fit.
    """

    category: SourceCategory
    variants: tuple[MethodVariant, ...]
    parameter_codes: Mapping[str, str]

    def parameter_code(self, name: str, item: str) -> str:
        """The parameter code feeding formula input ``name`` for ``item``."""
        return self.parameter_codes[name].format(item=item)

    def activity_inputs(self, variant: MethodVariant) -> frozenset[str]:
        """Formula inputs of ``variant`` that are activity data, not parameters."""
        return variant.emission.inputs - set(self.parameter_codes)


@dataclass(frozen=True)
class Edition:
    """One methodology: methods per source category and default parameters, valid for a span of data years."""

    code: str
    version: str
    title: str
    first_year: int | None
    last_year: int | None
    methods: Mapping[SourceCategory, Method]
    parameters: Mapping[str, Parameter] = field(repr=False)
    note: str = ""

    def __post_init__(self) -> None:
        for code, parameter in self.parameters.items():
            if parameter.code != code:
                raise AccountingError(f"Edition {self.code}: parameter filed as {code} has code {parameter.code}.")
            if parameter.edition != self.code:
                raise EditionMismatchError(
                    f"Edition {self.code} cannot hold parameter {code} of edition {parameter.edition}."
                )

    def covers(self, year: int) -> bool:
        """Whether data of ``year`` may be accounted under this edition."""
        return (self.first_year is None or year >= self.first_year) and (
            self.last_year is None or year <= self.last_year
        )

    def method(self, category: SourceCategory) -> Method:
        """The method this edition uses for ``category``."""
        try:
            return self.methods[category]
        except KeyError as err:
            raise AccountingError(f"Edition {self.code} has no method for {category.value}.") from err

    def parameter(self, code: str) -> Parameter:
        """The default parameter ``code`` of this edition; never one of another edition."""
        try:
            return self.parameters[code]
        except KeyError:
            elsewhere = [other.code for other in EDITIONS.values() if other is not self and code in other.parameters]
            where = f" It exists in {', '.join(elsewhere)}, which cannot be mixed with this one." if elsewhere else ""
            raise ParameterNotFoundError(f"Edition {self.code} has no default parameter {code}.{where}") from None

    def items(self, prefix: str) -> list[str]:
        """Item names (fuels, materials, products) with parameters under ``prefix``, e.g. 'fuel'."""
        return sorted({code.split(".")[1] for code in self.parameters if code.startswith(prefix + ".")})


def edition(code: str) -> Edition:
    """The seeded edition with this code."""
    try:
        return EDITIONS[code]
    except KeyError as err:
        raise AccountingError(f"No methodology edition {code!r}; known: {', '.join(sorted(EDITIONS))}.") from err


# ---------------------------------------------------------------------------------------------------------
# Formulas (shared by the seeded editions: same structure; the editions differ in their parameters)

_FUEL_MASS = Formula(
    "combustion.fuel.mass",
    "1",
    "FC * NCV * CC * OF * 44 / 12",
    {"FC": "t", "NCV": "GJ/t", "CC": "tC/GJ", "OF": "1"},
    "tCO2",
    "E = AD × EF, AD = NCV × FC, EF = CC × OF × 44/12 (solid and liquid fuels, FC in t)",
)
_FUEL_GAS = Formula(
    "combustion.fuel.gas",
    "1",
    "FC * NCV * CC * OF * 44 / 12",
    {"FC": "10^4 Nm3", "NCV": "GJ/10^4 Nm3", "CC": "tC/GJ", "OF": "1"},
    "tCO2",
    "E = AD × EF, AD = NCV × FC, EF = CC × OF × 44/12 (gaseous fuels, FC in 10^4 Nm3)",
)
_ENERGY_MASS = Formula("energy.fuel.mass", "1", "FC * NCV", {"FC": "t", "NCV": "GJ/t"}, "GJ", "AD = NCV × FC")
_ENERGY_GAS = Formula(
    "energy.fuel.gas", "1", "FC * NCV", {"FC": "10^4 Nm3", "NCV": "GJ/10^4 Nm3"}, "GJ", "AD = NCV × FC"
)
_FLUX = Formula("process.flux", "1", "AD * EF", {"AD": "t", "EF": "tCO2/t"}, "tCO2", "E_flux = P × EF")
_ELECTRODE = Formula("process.electrode", "1", "AD * EF", {"AD": "t", "EF": "tCO2/t"}, "tCO2", "E = P × EF")
_RAW = Formula("process.raw_material", "1", "AD * EF", {"AD": "t", "EF": "tCO2/t"}, "tCO2", "E_raw = M × EF")
_ELECTRICITY = Formula(
    "indirect.electricity",
    "1",
    "(purchased - exported) * EF",
    {"purchased": "MWh", "exported": "MWh", "EF": "tCO2/MWh"},
    "tCO2",
    "E = (purchased − exported) × EF_grid",
)
_HEAT = Formula(
    "indirect.heat",
    "1",
    "(purchased - exported) * EF",
    {"purchased": "GJ", "exported": "GJ", "EF": "tCO2/GJ"},
    "tCO2",
    "E = (purchased − exported) × EF_heat",
)
_FIXED = Formula("fixed_carbon.product", "1", "AD * EF", {"AD": "t", "EF": "tCO2/t"}, "tCO2", "R = AD × EF")

#: The code-defined formulas, by id: version 1 of the stored formula library (``library_store``), where they are
#: versioned and changed online from then on. Their text is kept here so that a fresh library holds exactly these.
SEEDED_FORMULAS: Mapping[str, Formula] = MappingProxyType(
    {
        f.id: f
        for f in (
            _FUEL_MASS, _ENERGY_MASS, _FUEL_GAS, _ENERGY_GAS, _FLUX, _ELECTRODE, _RAW, _ELECTRICITY, _HEAT, _FIXED,
        )
    }
)  # fmt: skip

#: How each category is computed: its variants as (emission formula id, energy formula id or None) and which
#: formula inputs are parameters (code templates). The structure is code; the formulas themselves are data.
METHOD_LAYOUT: Mapping[SourceCategory, tuple[tuple[tuple[str, str | None], ...], Mapping[str, str]]] = MappingProxyType(
    {
        SourceCategory.FUEL_COMBUSTION: (
            (("combustion.fuel.mass", "energy.fuel.mass"), ("combustion.fuel.gas", "energy.fuel.gas")),
            {"NCV": "fuel.{item}.ncv", "CC": "fuel.{item}.cc", "OF": "fuel.{item}.of"},
        ),
        SourceCategory.FLUX: ((("process.flux", None),), {"EF": "flux.{item}.ef"}),
        SourceCategory.ELECTRODE: ((("process.electrode", None),), {"EF": "electrode.ef"}),
        SourceCategory.RAW_MATERIAL: ((("process.raw_material", None),), {"EF": "raw.{item}.ef"}),
        SourceCategory.ELECTRICITY: ((("indirect.electricity", None),), {"EF": GRID}),
        SourceCategory.HEAT: ((("indirect.heat", None),), {"EF": "heat.ef"}),
        SourceCategory.FIXED_CARBON: ((("fixed_carbon.product", None),), {"EF": "fixed.{item}.ef"}),
    }
)


def formula_category(formula_id: str) -> tuple[SourceCategory, str]:
    """The category a formula serves and its role there ('emission' or 'energy')."""
    for category, (variants, _) in METHOD_LAYOUT.items():
        for emission, energy in variants:
            if formula_id == emission:
                return category, "emission"
            if formula_id == energy:
                return category, "energy"
    raise AccountingError(f"No method uses a formula {formula_id!r}.")


def build_methods(formulas: Mapping[str, Formula]) -> Mapping[SourceCategory, Method]:
    """The methods of :data:`METHOD_LAYOUT` with these formulas (by id: the seeded ones, or a stored version)."""

    def get(formula_id: str) -> Formula:
        try:
            return formulas[formula_id]
        except KeyError as err:
            raise AccountingError(f"The formula library has no formula {formula_id}; the methods need it.") from err

    return MappingProxyType(
        {
            category: Method(
                category,
                tuple(MethodVariant(get(e), get(n) if n else None) for e, n in variants),
                dict(codes),
            )
            for category, (variants, codes) in METHOD_LAYOUT.items()
        }
    )


_METHODS: Mapping[SourceCategory, Method] = build_methods(SEEDED_FORMULAS)

# ---------------------------------------------------------------------------------------------------------
# Parameters

_CODE_2015 = "GB/T 32151.5-2015"
_CODE_NEWER = "MEE-steel-guideline-newer"

# Provenance of the seeded defaults, in Chinese (``source``) and English (``source_en``): the standard and its
# annex or table, and — plainly, "待核实" — what awaits confirmation against the original text. What the seeding
# search (2026) found is in the module docstring; table numbers beyond the fuel table were not read.
_STD = "GB/T 32151.5-2015"
_GUIDE_2013_ZH = "2013年钢铁企业核算指南"  # 《中国钢铁生产企业温室气体排放核算方法与报告指南（试行）》
_GUIDE_2013_EN = "the 2013 steel guideline"
_PENDING_ZH = "待核实：尚未对照标准原文核对。"
_PENDING_EN = "Awaiting confirmation against the standard's text."

_SRC_2013 = f"{_STD} 附录B 表B.1（常用化石燃料相关参数缺省值），与{_GUIDE_2013_ZH}附录二 表2.1 同值。{_PENDING_ZH}"
_SRC_2013_EN = f"{_STD} Annex B, Table B.1; the same values as {_GUIDE_2013_EN}, Annex 2, Table 2.1. {_PENDING_EN}"
_SRC_NEWER = (
    "生态环境部较新版钢铁行业核算指南的燃料参数，据其他系统实现转录，指南原文未读。待核实：未找到公开来源确认。"
)
_SRC_NEWER_EN = (
    "Fuel parameters of the ministry's newer steel guideline as seen in other implementations; the guideline's "
    "text was not read. Awaiting confirmation: no public source found."
)
_SRC_NEWER_OF = f"较新参数集未给出碳氧化率，沿用 {_STD} 附录B 表B.1 之值（参考算例 A 亦如此）。待核实：须对照指南原文。"
_SRC_NEWER_OF_EN = (
    f"The newer set gives no oxidation factor; the value of {_STD} Annex B, Table B.1 is used (as reference "
    "example A does). Awaiting confirmation against the guideline."
)
_SRC_PROCESS = (
    f"{_STD} 附录B（熔剂、电极和含碳原料排放因子缺省值，表号待核实），与{_GUIDE_2013_ZH}附录二 同值，"
    f"多个独立实现一致。{_PENDING_ZH}"
)
_SRC_PROCESS_EN = (
    f"{_STD} Annex B (defaults for flux, electrodes and carbon-bearing materials; table number to be confirmed), "
    f"the same values as {_GUIDE_2013_EN}, Annex 2; several independent implementations agree. {_PENDING_EN}"
)
_SRC_HEAT = f"{_STD} 附录B（热力排放因子缺省值 0.11 tCO2/GJ，表号待核实），与{_GUIDE_2013_ZH}附录二 同值。{_PENDING_ZH}"
_SRC_HEAT_EN = (
    f"{_STD} Annex B (heat emission factor 0.11 tCO2/GJ; table number to be confirmed), the same value as "
    f"{_GUIDE_2013_EN}, Annex 2. {_PENDING_EN}"
)
_SRC_FIXED_2015 = f"{_STD} 附录B（固碳产品排放因子缺省值，表号待核实），与{_GUIDE_2013_ZH}附录二 同值。{_PENDING_ZH}"
_SRC_FIXED_2015_EN = (
    f"{_STD} Annex B (carbon fixed in products; table number to be confirmed), the same values as "
    f"{_GUIDE_2013_EN}, Annex 2. {_PENDING_EN}"
)
_SRC_FIXED_2024 = "生态环境部2024年版钢铁行业核算指南的固碳产品参数（据领域资料转述）。待核实：未找到公开来源确认。"
_SRC_FIXED_2024_EN = (
    "Fixed-carbon figure of the ministry's 2024 steel guideline as reported in the domain notes. "
    "Awaiting confirmation: no public source found."
)
_SRC_FIXED_CARRIED = f"{_SRC_FIXED_2015.removesuffix(_PENDING_ZH)}较新参数集沿用（2024年数值未列变化）。待核实。"
_SRC_FIXED_CARRIED_EN = (
    f"{_SRC_FIXED_2015_EN.removesuffix(_PENDING_EN)}Carried into the newer set (the 2024 figures list no change). "
    "Awaiting confirmation."
)
_SRC_PROCESS_CARRIED = f"{_SRC_PROCESS.removesuffix(_PENDING_ZH)}较新参数集原样沿用。待核实。"
_SRC_PROCESS_CARRIED_EN = (
    f"{_SRC_PROCESS_EN.removesuffix(_PENDING_EN)}Carried into the newer set unchanged. Awaiting confirmation."
)
_SRC_SCRAP = (
    "生态环境部2024年版钢铁行业核算指南所列“废钢（投入）0.037”，此处按含碳原料计入排放。"
    "待核实：类别与正负号须对照指南原文。"
)
_SRC_SCRAP_EN = (
    "Listed with the 2024 guideline's fixed-carbon figures as 'scrap as input 0.037'; seeded as a carbon-bearing "
    "input (an emission). Awaiting confirmation: category and sign must be checked against the guideline."
)

# fuel, basis, NCV (GJ/unit), CC (tC/TJ), OF (%)
_FUELS_2013: tuple[tuple[str, str, str, str, str], ...] = (
    ("anthracite", "t", "20.304", "27.49", "94"),
    ("bituminous", "t", "19.570", "26.18", "93"),
    ("lignite", "t", "14.080", "28.00", "96"),
    ("washed_coal", "t", "26.344", "25.40", "90"),
    ("coke", "t", "28.447", "29.50", "93"),
    ("fuel_oil", "t", "41.816", "21.10", "98"),
    ("gasoline", "t", "43.070", "18.90", "98"),
    ("diesel", "t", "42.652", "20.20", "98"),
    ("lpg", "t", "50.179", "17.20", "98"),
    ("tar", "t", "33.453", "22.00", "98"),
    ("crude_benzene", "t", "41.816", "22.70", "98"),
    ("coke_oven_gas", "10^4 Nm3", "173.54", "12.10", "99"),
    ("blast_furnace_gas", "10^4 Nm3", "33.000", "70.80", "99"),
    ("converter_gas", "10^4 Nm3", "84.000", "49.60", "99"),
    ("natural_gas", "10^4 Nm3", "389.31", "15.30", "99"),
)
_FUELS_NEWER: tuple[tuple[str, str, str, str, str], ...] = (
    ("anthracite", "t", "22.867", "27.49", "94"),
    ("bituminous", "t", "23.076", "23.08", "93"),
    ("lignite", "t", "14.759", "27.97", "96"),
    ("coke", "t", "28.435", "29.42", "93"),
    ("natural_gas", "10^4 Nm3", "389.31", "15.32", "99"),
    ("coke_oven_gas", "10^4 Nm3", "173.854", "12.1", "99"),
)
_PROCESS: tuple[tuple[str, str], ...] = (
    ("flux.limestone.ef", "0.440"),
    ("flux.dolomite.ef", "0.471"),
    ("electrode.ef", "3.663"),
    ("raw.pig_iron.ef", "0.172"),
    ("raw.direct_reduced_iron.ef", "0.073"),
    ("raw.ferronickel.ef", "0.037"),
    ("raw.ferrochrome.ef", "0.275"),
    ("raw.ferromolybdenum.ef", "0.018"),
)


def _fuel_parameters(
    edition_code: str, version: str, rows: tuple[tuple[str, str, str, str, str], ...], newer: bool
) -> list[Parameter]:
    params: list[Parameter] = []
    source, source_en = (_SRC_NEWER, _SRC_NEWER_EN) if newer else (_SRC_2013, _SRC_2013_EN)
    of_source, of_source_en = (_SRC_NEWER_OF, _SRC_NEWER_OF_EN) if newer else (source, source_en)
    confidence = Confidence.UNVERIFIED if newer else Confidence.AS_PUBLISHED
    for fuel, basis, ncv, cc, oxidation in rows:
        params += [
            Parameter(
                f"fuel.{fuel}.ncv", Decimal(ncv), f"GJ/{basis}", edition_code, version, source, confidence,
                source_en=source_en,
            ),
            Parameter(
                f"fuel.{fuel}.cc", Decimal(cc), "tC/TJ", edition_code, version, source, confidence, source_en=source_en
            ),
            Parameter(
                f"fuel.{fuel}.of", Decimal(oxidation), "%", edition_code, version, of_source, confidence,
                source_en=of_source_en,
            ),
        ]  # fmt: skip
    return params


def _edition_parameters(edition_code: str, version: str, newer: bool) -> Mapping[str, Parameter]:
    params = _fuel_parameters(edition_code, version, _FUELS_NEWER if newer else _FUELS_2013, newer)
    process_confidence = Confidence.UNVERIFIED if newer else Confidence.AS_PUBLISHED
    process_source, process_source_en = (
        (_SRC_PROCESS_CARRIED, _SRC_PROCESS_CARRIED_EN) if newer else (_SRC_PROCESS, _SRC_PROCESS_EN)
    )
    params += [
        Parameter(
            code, Decimal(value), "tCO2/t", edition_code, version, process_source, process_confidence,
            source_en=process_source_en,
        )
        for code, value in _PROCESS
    ]  # fmt: skip
    params.append(
        Parameter(
            "heat.ef", Decimal("0.11"), "tCO2/GJ", edition_code, version, _SRC_HEAT, process_confidence,
            source_en=_SRC_HEAT_EN,
        )
    )  # fmt: skip
    if newer:
        fixed = [("crude_steel", "0.037"), ("tar", "2.699"), ("crude_benzene", "3.382")]
        params += [
            Parameter(
                f"fixed.{item}.ef", Decimal(v), "tCO2/t", edition_code, version, _SRC_FIXED_2024, Confidence.UNVERIFIED,
                source_en=_SRC_FIXED_2024_EN,
            )
            for item, v in fixed
        ]  # fmt: skip
        params += [
            Parameter(
                f"fixed.{item}.ef", Decimal(v), "tCO2/t", edition_code, version, _SRC_FIXED_CARRIED,
                Confidence.UNVERIFIED, source_en=_SRC_FIXED_CARRIED_EN,
            )
            for item, v in [("pig_iron", "0.172"), ("methanol", "1.375")]
        ]  # fmt: skip
        params.append(
            Parameter(
                "raw.scrap.ef", Decimal("0.037"), "tCO2/t", edition_code, version, _SRC_SCRAP, Confidence.UNVERIFIED,
                source_en=_SRC_SCRAP_EN,
            )
        )  # fmt: skip
    else:
        params += [
            Parameter(
                f"fixed.{item}.ef",
                Decimal(v),
                "tCO2/t",
                edition_code,
                version,
                _SRC_FIXED_2015,
                Confidence.AS_PUBLISHED,
                source_en=_SRC_FIXED_2015_EN,
            )
            for item, v in [("crude_steel", "0.0154"), ("pig_iron", "0.172"), ("methanol", "1.375")]
        ]
    return MappingProxyType({p.code: p for p in params})


EDITION_2015 = Edition(
    code=_CODE_2015,
    version="2013-guideline-defaults",
    title="GB/T 32151.5-2015 with the 2013 national steel guideline default parameters",
    first_year=2013,
    last_year=None,
    methods=_METHODS,
    parameters=_edition_parameters(_CODE_2015, "2013-guideline-defaults", newer=False),
    note="Steam heat by the 2013 convention AD = Ma × (En − 83.74) × 10^-3 GJ (computed by the caller for now).",
)

EDITION_NEWER = Edition(
    code=_CODE_NEWER,
    version="2024-unverified",
    title="Newer ministry steel guideline parameter set (incl. 2024-guideline fixed-carbon figures), unverified",
    first_year=2024,
    last_year=None,
    methods=_METHODS,
    parameters=_edition_parameters(_CODE_NEWER, "2024-unverified", newer=True),
    note="Only the fuels the newer set lists are defined; others need measured values. Unverified throughout.",
)

EDITIONS: Mapping[str, Edition] = MappingProxyType({e.code: e for e in (EDITION_2015, EDITION_NEWER)})


# ---------------------------------------------------------------------------------------------------------
# Grid emission factors


class GridFactorKind(StrEnum):
    """The two kinds of grid factor; a result always says which one it used."""

    ETS_PRESCRIBED = "ets_prescribed"  # prescribed by the ministry for national-ETS reporting
    OFFICIAL_AVERAGE = "official_average"  # national/regional averages published by the ministry with NBS


@dataclass(frozen=True)
class GridFactor:
    """A grid emission factor of one kind and region for data years first_year..last_year."""

    kind: GridFactorKind
    first_year: int
    last_year: int
    region: str
    value: Decimal
    source: str
    confidence: Confidence
    unit: str = "tCO2/MWh"
    source_en: str = ""  # the source in English ("" when given in one language only)
    version: str = ""  # the grid library version that last changed it ("" for the seeded series in code)

    @property
    def code(self) -> str:
        """A stable code for lineage, e.g. 'grid.official_average.national.2022'."""
        years = str(self.first_year) if self.first_year == self.last_year else f"{self.first_year}-{self.last_year}"
        return f"grid.{self.kind.value}.{self.region}.{years}"


_NOTICE_2023 = (
    "生态环境部《关于做好2023—2025年发电行业企业温室气体排放报告管理有关工作的通知》（2023年2月）："
    "2022年度全国电网平均排放因子 0.5703 tCO2/MWh。已核实：见公开报道（2023-02-15）。",
    "MEE notice on 2023–2025 power-sector GHG reporting (Feb 2023): 0.5703 tCO2/MWh for 2022 data. Confirmed in "
    "a public report of 2023-02-15.",
)
_AVG_2021 = (
    "生态环境部、国家统计局公告2024年第12号（2021年电力二氧化碳排放因子）：全国 0.5568。已核实：见公开报道。",
    "MEE & NBS announcement 2024 No. 12 (2021 power CO2 factors): national 0.5568. Confirmed in public reports.",
)
_AVG_2022 = (
    "生态环境部、国家统计局公告（2024-12-20，2022年电力二氧化碳排放因子）：全国 0.5366 及各区域值。"
    "已核实：见公开报道。",
    "MEE & NBS announcement of 2024-12-20 (2022 power CO2 factors): national 0.5366 and regions. Confirmed in "
    "public reports.",
)
_AVG_2023 = (
    "生态环境部、国家统计局公告（2026年1月，2023年电力二氧化碳排放因子）：全国 0.5306 及各区域值。已核实：见公开报道。",
    "MEE & NBS announcement on 2023 power CO2 factors (Jan 2026): national 0.5306 and regions. Confirmed in "
    "public reports.",
)
_ETS_2019 = (
    "生态环境部为全国碳市场2019–2020年度报告规定的全国电网排放因子（据领域资料）。待核实：未找到公开原文。",
    "Prescribed for national-ETS reporting of 2019–2020 data, as recorded in the domain notes. Awaiting "
    "confirmation: the notice was not found.",
)
_ETS_2021 = (
    "生态环境部为全国碳市场2021年度报告规定的全国电网排放因子（据领域资料）。待核实：未找到公开原文。",
    "Prescribed for national-ETS reporting of 2021 data, as recorded in the domain notes. Awaiting confirmation: "
    "the notice was not found.",
)
_ETS_2023 = (
    "按生态环境部2023年2月通知用于2023–2025年度报告；通知称因子如有变化于年底更新，未见更新。待核实：使用前须确认。",
    "Used for 2023–2025 reporting per the Feb 2023 notice, which updates the factor at year end if it changes; no "
    "update found. Awaiting confirmation before use.",
)


def _grid(
    kind: GridFactorKind,
    years: tuple[int, int],
    region: str,
    value: str,
    source: tuple[str, str],
    confidence: Confidence,
) -> GridFactor:
    return GridFactor(kind, years[0], years[1], region, Decimal(value), source[0], confidence, source_en=source[1])


_P = GridFactorKind.ETS_PRESCRIBED
_A = GridFactorKind.OFFICIAL_AVERAGE

GRID_FACTORS: tuple[GridFactor, ...] = (
    _grid(_P, (2019, 2020), "national", "0.6101", _ETS_2019, Confidence.UNVERIFIED),
    _grid(_P, (2021, 2021), "national", "0.5810", _ETS_2021, Confidence.UNVERIFIED),
    _grid(_P, (2022, 2022), "national", "0.5703", _NOTICE_2023, Confidence.CONFIRMED),
    _grid(_P, (2023, 2024), "national", "0.5703", _ETS_2023, Confidence.UNVERIFIED),
    _grid(_A, (2021, 2021), "national", "0.5568", _AVG_2021, Confidence.CONFIRMED),
    *(
        _grid(_A, (2022, 2022), region, value, _AVG_2022, Confidence.CONFIRMED)
        for region, value in (
            ("national", "0.5366"), ("north", "0.6776"), ("northwest", "0.5857"), ("east", "0.5617"),
            ("northeast", "0.5564"), ("central", "0.5395"), ("south", "0.3869"), ("southwest", "0.2268"),
        )
    ),
    *(
        _grid(_A, (2023, 2023), region, value, _AVG_2023, Confidence.CONFIRMED)
        for region, value in (
            ("national", "0.5306"), ("north", "0.6361"), ("northeast", "0.5122"), ("east", "0.5500"),
            ("central", "0.5271"), ("northwest", "0.5543"), ("south", "0.4042"), ("southwest", "0.2472"),
        )
    ),
)  # fmt: skip


def grid_factor(
    year: int,
    kind: GridFactorKind,
    region: str = "national",
    factors: Sequence[GridFactor] = GRID_FACTORS,
    *,
    provisional: bool = False,
) -> GridFactor:
    """The grid factor of ``kind`` for data of ``year`` in ``region``; it records kind, region and years.

    ``factors`` is the series to look in (a stored library version; the seeded series by default). With
    ``provisional``, a year after the newest published factor gets that newest one — the practice until the
    ministry publishes the year's factor; the caller must flag the figure as provisional.
    """
    for factor in factors:
        if factor.kind == kind and factor.region == region and factor.first_year <= year <= factor.last_year:
            return factor
    if provisional:
        earlier = [f for f in factors if f.kind == kind and f.region == region and f.last_year < year]
        if earlier:
            return max(earlier, key=lambda f: f.last_year)
    years = sorted({f.first_year for f in factors if f.kind == kind and f.region == region})
    raise GridFactorNotFoundError(
        f"No {kind.value} grid factor for {region} and data year {year}; "
        f"{kind.value} {region} factors start in years {', '.join(map(str, years)) or 'none'}."
    )
