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
    "Parameter",
    "ParameterNotFoundError",
    "SourceCategory",
    "edition",
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

_METHODS: Mapping[SourceCategory, Method] = MappingProxyType(
    {
        SourceCategory.FUEL_COMBUSTION: Method(
            SourceCategory.FUEL_COMBUSTION,
            (MethodVariant(_FUEL_MASS, _ENERGY_MASS), MethodVariant(_FUEL_GAS, _ENERGY_GAS)),
            {"NCV": "fuel.{item}.ncv", "CC": "fuel.{item}.cc", "OF": "fuel.{item}.of"},
        ),
        SourceCategory.FLUX: Method(SourceCategory.FLUX, (MethodVariant(_FLUX),), {"EF": "flux.{item}.ef"}),
        SourceCategory.ELECTRODE: Method(
            SourceCategory.ELECTRODE, (MethodVariant(_ELECTRODE),), {"EF": "electrode.ef"}
        ),
        SourceCategory.RAW_MATERIAL: Method(
            SourceCategory.RAW_MATERIAL, (MethodVariant(_RAW),), {"EF": "raw.{item}.ef"}
        ),
        SourceCategory.ELECTRICITY: Method(SourceCategory.ELECTRICITY, (MethodVariant(_ELECTRICITY),), {"EF": GRID}),
        SourceCategory.HEAT: Method(SourceCategory.HEAT, (MethodVariant(_HEAT),), {"EF": "heat.ef"}),
        SourceCategory.FIXED_CARBON: Method(
            SourceCategory.FIXED_CARBON, (MethodVariant(_FIXED),), {"EF": "fixed.{item}.ef"}
        ),
    }
)

# ---------------------------------------------------------------------------------------------------------
# Parameters

_CODE_2015 = "GB/T 32151.5-2015"
_CODE_NEWER = "MEE-steel-guideline-newer"

_SRC_2013 = (
    "2013 national steel guideline (中国钢铁生产企业温室气体排放核算方法与报告指南(试行)), annex default table; "
    "GB/T 32151.5-2015 annex believed identical. Transcribed from GHG-STEEL.md; public-web search (2026) found "
    "no copy of the table to confirm it (e.g. coke NCV 28.447 GJ/t not found) — unverified against the original."
)
_SRC_NEWER = (
    "Newer ministry guideline parameter set as seen in implementations (GHG-STEEL.md); the guideline text was "
    "not read and search found no confirmation — unverified."
)
_SRC_NEWER_OF = (
    "The newer set as recorded gives no oxidation factor; the 2013 value is assumed (reference example A uses "
    "it with the newer NCV/CC) — unverified."
)
_SRC_PROCESS = (
    "Process factor as commonly published (GB/T 32151.5 annex / 2013 guideline); matches several independent "
    "implementations per GHG-STEEL.md; the official table was not read and search found no copy."
)
_SRC_HEAT = "Heat factor 0.11 tCO2/GJ of the 2013 guideline / GB/T 32151.5 as commonly published; not re-checked."
_SRC_FIXED_2015 = "Fixed-carbon factor of the 2013 guideline / GB/T 32151.5-2015 as commonly published; not re-checked."
_SRC_FIXED_2024 = (
    "2024 ministry steel guideline figure as reported in GHG-STEEL.md; not confirmed by search — unverified."
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
    source = _SRC_NEWER if newer else _SRC_2013
    confidence = Confidence.UNVERIFIED if newer else Confidence.AS_PUBLISHED
    for fuel, basis, ncv, cc, oxidation in rows:
        params += [
            Parameter(f"fuel.{fuel}.ncv", Decimal(ncv), f"GJ/{basis}", edition_code, version, source, confidence),
            Parameter(f"fuel.{fuel}.cc", Decimal(cc), "tC/TJ", edition_code, version, source, confidence),
            Parameter(
                f"fuel.{fuel}.of",
                Decimal(oxidation),
                "%",
                edition_code,
                version,
                _SRC_NEWER_OF if newer else source,
                confidence,
            ),
        ]
    return params


def _edition_parameters(edition_code: str, version: str, newer: bool) -> Mapping[str, Parameter]:
    params = _fuel_parameters(edition_code, version, _FUELS_NEWER if newer else _FUELS_2013, newer)
    process_confidence = Confidence.UNVERIFIED if newer else Confidence.AS_PUBLISHED
    process_source = _SRC_PROCESS + (" Carried into the newer set unchanged — unverified there." if newer else "")
    params += [
        Parameter(code, Decimal(value), "tCO2/t", edition_code, version, process_source, process_confidence)
        for code, value in _PROCESS
    ]
    params.append(
        Parameter("heat.ef", Decimal("0.11"), "tCO2/GJ", edition_code, version, _SRC_HEAT, process_confidence)
    )
    if newer:
        fixed = [("crude_steel", "0.037"), ("tar", "2.699"), ("crude_benzene", "3.382")]
        params += [
            Parameter(
                f"fixed.{item}.ef", Decimal(v), "tCO2/t", edition_code, version, _SRC_FIXED_2024, Confidence.UNVERIFIED
            )
            for item, v in fixed
        ]
        carried = _SRC_FIXED_2015 + " Carried into the newer set (the 2024 figures list no change) — unverified."
        params += [
            Parameter(f"fixed.{item}.ef", Decimal(v), "tCO2/t", edition_code, version, carried, Confidence.UNVERIFIED)
            for item, v in [("pig_iron", "0.172"), ("methanol", "1.375")]
        ]
        params.append(
            Parameter(
                "raw.scrap.ef",
                Decimal("0.037"),
                "tCO2/t",
                edition_code,
                version,
                "Listed in GHG-STEEL.md with the 2024 guideline's fixed-carbon figures as 'scrap as input 0.037'; "
                "seeded as a carbon-bearing input (emission). Category and sign unverified — check the guideline.",
                Confidence.UNVERIFIED,
            )
        )
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

    @property
    def code(self) -> str:
        """A stable code for lineage, e.g. 'grid.official_average.national.2022'."""
        years = str(self.first_year) if self.first_year == self.last_year else f"{self.first_year}-{self.last_year}"
        return f"grid.{self.kind.value}.{self.region}.{years}"


_NOTICE_2023 = (
    "MEE notice on 2023–2025 power-sector GHG reporting "
    "(关于做好2023—2025年发电行业企业温室气体排放报告管理有关工作的通知, Feb 2023) "
    "set the 2022 national grid average factor at 0.5703 tCO2/MWh — confirmed via tanpaifang.com report of 2023-02-15."
)
_AVG_2021 = (
    "MEE & NBS announcement 2024 No. 12 (2021 power CO2 factors): national 0.5568 — confirmed in the reports of "
    "the 2022 announcement (daydaynews.cc, 2024-12-27: '比2021年的0.5568降低')."
)
_AVG_2022 = (
    "MEE & NBS announcement of 2024-12-20 (2022 power CO2 factors): national 0.5366 and regions — confirmed via "
    "daydaynews.cc report of 2024-12-27."
)
_AVG_2023 = (
    "MEE & NBS announcement on 2023 power CO2 factors (published Jan 2026): national 0.5306 and regions — "
    "confirmed via Guangming Daily report (163.com)."
)


def _grid(
    kind: GridFactorKind, years: tuple[int, int], region: str, value: str, source: str, confidence: Confidence
) -> GridFactor:
    return GridFactor(kind, years[0], years[1], region, Decimal(value), source, confidence)


_P = GridFactorKind.ETS_PRESCRIBED
_A = GridFactorKind.OFFICIAL_AVERAGE

GRID_FACTORS: tuple[GridFactor, ...] = (
    _grid(_P, (2019, 2020), "national", "0.6101", "Prescribed for national-ETS reporting of 2019–2020 data, as "
          "recorded in GHG-STEEL.md; not found by search — unverified.", Confidence.UNVERIFIED),
    _grid(_P, (2021, 2021), "national", "0.5810", "Prescribed for national-ETS reporting of 2021 data, as recorded in "
          "GHG-STEEL.md; not found by search — unverified.", Confidence.UNVERIFIED),
    _grid(_P, (2022, 2022), "national", "0.5703", _NOTICE_2023, Confidence.CONFIRMED),
    _grid(_P, (2023, 2024), "national", "0.5703", "Used for 2023–2025 reporting per GHG-STEEL.md; the 2023 notice "
          "says the factor is updated at year end if it changes — no update found, confirm before use.",
          Confidence.UNVERIFIED),
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
