"""Explicit, exact unit conversion for emission accounting (GB/T 32151.5).

Design
------
* **Decimal only.** Values are :class:`~decimal.Decimal` (``int`` and ``str`` are accepted and converted exactly);
  ``float`` is refused with a :class:`TypeError`: activity data and emissions must never pass through binary
  floating point. Every conversion factor is written as a Decimal literal.
* **Dimensions.** Each unit belongs to one dimension with one base unit:

  ===============  ==========  ==============================================================
  dimension        base unit   units
  ===============  ==========  ==============================================================
  ``mass``         ``t``       ``t``, ``kg``, ``kt``, ``10^4 t``
  ``gas_volume``   ``Nm3``     ``Nm3``, ``10^3 Nm3``, ``10^4 Nm3``
  ``energy``       ``GJ``      ``GJ``, ``MJ``, ``TJ``, ``kWh``, ``MWh``, ``GWh``, ``10^4 kWh``,
                               ``tce`` (29.3076 GJ), ``kgce``, ``10^4 tce``
  ``emission``     ``tCO2``    ``tCO2``, ``kgCO2``, ``10^4 tCO2``
  ``carbon``       ``tC``      ``tC``
  ``steam_mass``   ``t_steam`` ``t_steam``
  ``money``        10^4 CNY    ``10^4 CNY`` (万元), ``CNY`` (元): output value (产值), never a mass
  ===============  ==========  ==============================================================

  Electricity is energy (1 MWh = 3.6 GJ). Steam mass is a dimension of its own: it is never converted to energy
  silently, because that needs the steam's enthalpy — use :func:`steam_heat_gj`, explicitly.
* **No implicit cross-dimension conversion.** ``t -> GJ`` needs a net calorific value, ``tC -> tCO2`` needs 44/12,
  ``t -> tCO2`` an emission factor: all raise :class:`UnitError` saying so. The caller multiplies explicitly.
* **Compound units** for factors are ``A/B`` over the simple units (``GJ/t``, ``GJ/10^4 Nm3``, ``tC/TJ``,
  ``tCO2/MWh``...); numerator and denominator convert within their own dimensions
  (``29.42 tC/TJ == 0.02942 tC/GJ``). Their dimension is written ``"energy/mass"`` and so on.
* **Spellings.** Units are looked up after Unicode NFKC normalisation (``Nm³`` -> ``Nm3``, ``CO₂`` -> ``CO2``,
  full-width characters), removal of white space and of the product dot (``kW·h``), and case folding. Common
  Chinese names (``吨``, ``万Nm3``, ``万吨``, ``吨标准煤``, ``度``...) are aliases. Ambiguous spellings are not
  accepted on purpose: ``ton`` (short ton?), ``m3`` (not normalised), ``tCO2e`` (not CO2 only). An unknown unit
  raises :class:`UnitError` listing the accepted units. :func:`canonical` gives the one canonical spelling.

Exactness and precision
-----------------------
Conversions are computed in exact rational arithmetic (:class:`fractions.Fraction`) and turned back into a Decimal
once, at the end. Nothing is rounded whenever the exact result is a finite decimal — always the case for powers of
ten, and for multiplications by any factor (e.g. ``1 tce == 29.3076 GJ``, ``1 MWh == 3600 MJ``), whatever the number
of digits and whatever the caller's Decimal context. Only a *division* by a factor with prime factors other than 2
and 5 (``GJ -> tce``, ``GJ -> kWh``, ``tCO2/tce -> tCO2/GJ``...) has no finite decimal result; that single final
division is rounded to :data:`PRECISION` (28, the Decimal default) significant digits, half-even, in a private
context — a relative error below 1e-27, far below any measurement. Rounding for reports is for display only and
is not done here. Converted results carry no exponent notation (``3600``, not ``3.6E+3``) and no trailing zeros
(``1500 kg -> 1.5 t``, not ``1.500``); a conversion to the same unit returns the value unchanged.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from fractions import Fraction
from typing import Final

__all__ = [
    "PRECISION",
    "STEAM_REFERENCE_KJ_PER_KG",
    "DecimalLike",
    "Quantity",
    "UnitError",
    "canonical",
    "convert",
    "from_fraction",
    "dimension",
    "exact_text",
    "known_units",
    "parse_bounded",
    "steam_heat_gj",
    "table",
]

DecimalLike = Decimal | int | str
"""What numeric arguments accept: a Decimal, an int or a decimal string. Never a float."""

PRECISION: Final = 28
"""Significant digits of a result that has no finite decimal expansion (the only case that is rounded)."""

_CONTEXT: Final = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN)


class UnitError(ValueError):
    """A unit is unknown, malformed, or cannot be converted to the requested one."""


# ------------------------------------------------------------------------------------------------ the unit table


@dataclass(frozen=True, slots=True)
class _Unit:
    name: str
    dimension: str
    factor: Decimal  # how many base units of the dimension one of this unit is
    aliases: tuple[str, ...] = ()


_UNITS: Final[tuple[_Unit, ...]] = (
    # mass (base t)
    _Unit("t", "mass", Decimal("1"), ("tonne", "tonnes", "吨")),
    _Unit("kg", "mass", Decimal("0.001"), ("千克", "公斤")),
    _Unit("kt", "mass", Decimal("1000"), ("千吨",)),
    _Unit("10^4 t", "mass", Decimal("10000"), ("万t", "万吨")),
    # gas volume at normal conditions (base Nm3)
    _Unit("Nm3", "gas_volume", Decimal("1"), ("标立方米", "标准立方米", "标方")),
    _Unit("10^3 Nm3", "gas_volume", Decimal("1000"), ("kNm3", "千Nm3", "千标立方米")),
    _Unit("10^4 Nm3", "gas_volume", Decimal("10000"), ("万Nm3", "万标立方米", "万标方")),
    # energy, electricity included (base GJ)
    _Unit("GJ", "energy", Decimal("1"), ("吉焦",)),
    _Unit("MJ", "energy", Decimal("0.001"), ("兆焦",)),
    _Unit("TJ", "energy", Decimal("1000"), ("太焦",)),
    _Unit("kWh", "energy", Decimal("0.0036"), ("千瓦时", "度")),
    _Unit("MWh", "energy", Decimal("3.6"), ("兆瓦时",)),
    _Unit("GWh", "energy", Decimal("3600"), ("吉瓦时",)),
    _Unit("10^4 kWh", "energy", Decimal("36"), ("万kWh", "万千瓦时", "万度")),
    _Unit("tce", "energy", Decimal("29.3076"), ("吨标准煤", "吨标煤")),
    _Unit("kgce", "energy", Decimal("0.0293076"), ("千克标准煤", "千克标煤", "公斤标准煤", "公斤标煤")),
    _Unit("10^4 tce", "energy", Decimal("293076"), ("万tce", "万吨标准煤", "万吨标煤")),
    # CO2 emission (base tCO2)
    _Unit("tCO2", "emission", Decimal("1"), ("吨二氧化碳",)),
    _Unit("kgCO2", "emission", Decimal("0.001"), ("千克二氧化碳",)),
    _Unit("10^4 tCO2", "emission", Decimal("10000"), ("万tCO2", "万吨二氧化碳")),
    # carbon (base tC)
    _Unit("tC", "carbon", Decimal("1"), ("吨碳",)),
    # steam mass: its own dimension, never energy (base t_steam)
    _Unit("t_steam", "steam_mass", Decimal("1"), ("t(steam)", "t steam", "吨蒸汽", "t蒸汽")),
    # money: output value (产值), the denominator of intensities per 10^4 CNY (base 10^4 CNY, 万元)
    _Unit("10^4 CNY", "money", Decimal("1"), ("万元", "万元人民币")),
    _Unit("CNY", "money", Decimal("0.0001"), ("元", "人民币元")),
)

_SUPERSCRIPTS: Final = str.maketrans({c: f"^{d}" for d, c in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")})
_DROPPED: Final = re.compile(r"[\s·⋅∙*.]")


def _normalise(text: str) -> str:
    """Superscript digits as ``^n`` (before NFKC would make ``10⁴`` into ``104``), then Unicode NFKC."""
    return unicodedata.normalize("NFKC", text.translate(_SUPERSCRIPTS))


def _key(text: str) -> str:
    """The lookup key of a spelling: normalised, no blanks or product dots, ``m^3`` as ``m3``, case folded."""
    return _DROPPED.sub("", _normalise(text)).replace("m^3", "m3").casefold()


def _build_index() -> dict[str, _Unit]:
    index: dict[str, _Unit] = {}
    for unit in _UNITS:
        for spelling in (unit.name, *unit.aliases):
            key = _key(spelling)
            other = index.setdefault(key, unit)
            if other is not unit:
                raise RuntimeError(f"unit spelling {spelling!r} is ambiguous: {other.name} and {unit.name}")
    return index


_INDEX: Final = _build_index()


def table() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """The simple units: canonical name, dimension (mass, gas_volume, energy ...) and aliases, in table order.
    Two units convert into each other when their dimensions are the same."""
    return tuple((unit.name, unit.dimension, unit.aliases) for unit in _UNITS)


def known_units() -> tuple[str, ...]:
    """The canonical names of the simple units, in table order (compound units are ``A/B`` of these)."""
    return tuple(unit.name for unit in _UNITS)


def _unknown(text: str, why: str = "unknown unit") -> UnitError:
    return UnitError(
        f"{why} {text!r}. Accepted units: {', '.join(known_units())}; compound factor units as 'A/B' of these "
        "(e.g. GJ/t, GJ/10^4 Nm3, tC/TJ, tCO2/MWh). Common spellings are accepted too (万Nm3, 10^4Nm3, Nm³, 吨, "
        "吨标准煤, 度...). Write the unit in one of these forms; if it is a genuine unit that is missing, add it "
        "to cem_platform.accounting.units with its exact factor."
    )


# ------------------------------------------------------------------------------------------------ parsing


@dataclass(frozen=True, slots=True)
class _Parsed:
    name: str
    dimension: str
    factor: Fraction  # in base units of the dimension (of the numerator's over the denominator's, if compound)


def _simple(text: str, part: str) -> _Unit:
    """The simple unit spelt ``part`` (optionally in parentheses) of the unit string ``text``."""
    key = _key(part)
    if key.startswith("(") and key.endswith(")"):
        key = key[1:-1]
    if not key:
        raise _unknown(text, "malformed unit")
    unit = _INDEX.get(key)
    if unit is None:
        raise _unknown(text)
    return unit


@functools.lru_cache(maxsize=1024)
def _parse(unit: str) -> _Parsed:
    """The parsed unit (cached: results are immutable; errors are raised again each time)."""
    text = _normalise(unit)
    if "/" not in text:
        simple = _simple(unit, text)
        return _Parsed(simple.name, simple.dimension, Fraction(simple.factor))
    parts = text.split("/")
    if len(parts) != 2:
        raise _unknown(unit, "malformed unit (a compound unit has exactly one '/')")
    top, bottom = (_simple(unit, part) for part in parts)
    return _Parsed(
        f"{top.name}/{bottom.name}",
        f"{top.dimension}/{bottom.dimension}",
        Fraction(top.factor) / Fraction(bottom.factor),
    )


def canonical(unit: str) -> str:
    """The canonical spelling of ``unit`` (``'万Nm3'`` -> ``'10^4 Nm3'``, ``'gj/万nm³'`` -> ``'GJ/10^4 Nm3'``)."""
    return _parse(unit).name


def dimension(unit: str) -> str:
    """The dimension of ``unit``: ``'mass'``, ``'energy'``...; ``'energy/mass'`` for ``'GJ/t'``."""
    return _parse(unit).dimension


# ------------------------------------------------------------------------------------------------ numbers


def _decimal(value: object, what: str = "value") -> Decimal:
    """``value`` as a finite Decimal; floats (and bools) refused."""
    if isinstance(value, float):
        raise TypeError(
            f"{what} is a float ({value!r}); emission accounting does not go through binary floating point. "
            f"Pass a Decimal or a decimal string instead, e.g. Decimal('{value!r}') from the original text."
        )
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{what} must be a Decimal, an int or a decimal string, not {type(value).__name__}")
    if isinstance(value, Decimal):
        number = value
    else:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{what} {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{what} must be a finite number, not {number}")
    return number


def from_fraction(number: Fraction, context: Context = _CONTEXT) -> Decimal:
    """``number`` as a Decimal: exact if it has a finite decimal expansion, else rounded by ``context``
    (:data:`PRECISION` digits, half-even, by default)."""
    rest, twos, fives = number.denominator, 0, 0
    while rest % 2 == 0:
        rest, twos = rest // 2, twos + 1
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest != 1:
        return context.divide(Decimal(number.numerator), Decimal(number.denominator))
    places = max(twos, fives)
    digits = number.numerator * (10**places // number.denominator)
    return Decimal((int(digits < 0), tuple(int(d) for d in str(abs(digits))), -places))


# ------------------------------------------------------------------------------------------------ conversion

_HINTS: Final[dict[frozenset[str], str]] = {
    frozenset({"mass", "energy"}): "that needs a net calorific value (e.g. in GJ/t): multiply by it explicitly",
    frozenset({"gas_volume", "energy"}): (
        "that needs a net calorific value (e.g. in GJ/10^4 Nm3): multiply by it explicitly"
    ),
    frozenset({"steam_mass", "energy"}): (
        "steam heat depends on the steam's enthalpy: use steam_heat_gj(mass_t, enthalpy_kj_per_kg)"
    ),
    frozenset({"steam_mass", "mass"}): (
        "steam mass is kept apart from material and fuel mass on purpose: write steam quantities in t_steam"
    ),
    frozenset({"carbon", "emission"}): "that needs the CO2/C ratio 44/12: multiply by it explicitly",
    frozenset({"mass", "gas_volume"}): "that needs a density: convert explicitly",
    frozenset({"mass", "emission"}): "that needs an emission factor (e.g. in tCO2/t): multiply by it explicitly",
    frozenset({"gas_volume", "emission"}): (
        "that needs an emission factor (e.g. in tCO2/10^4 Nm3): multiply by it explicitly"
    ),
    frozenset({"energy", "emission"}): (
        "that needs an emission factor (e.g. in tCO2/GJ or tCO2/MWh): multiply by it explicitly"
    ),
}


def _ratio(from_unit: str, to_unit: str) -> tuple[_Parsed, _Parsed, Fraction]:
    source, target = _parse(from_unit), _parse(to_unit)
    if source.dimension != target.dimension:
        hint = _HINTS.get(frozenset({source.dimension, target.dimension}), "convert explicitly with the right factor")
        raise UnitError(
            f"cannot convert {source.name} ({source.dimension}) to {target.name} ({target.dimension}): "
            f"different dimensions; {hint}."
        )
    return source, target, source.factor / target.factor


def convert(value: DecimalLike, from_unit: str, to_unit: str) -> Decimal:
    """``value`` in ``from_unit`` expressed in ``to_unit``, exactly (see the module's notes on precision).

    Raises :class:`TypeError` for a float, :class:`UnitError` for an unknown unit or different dimensions.
    """
    number = _decimal(value)
    source, target, ratio = _ratio(from_unit, to_unit)
    if source.name == target.name:
        return number
    return from_fraction(Fraction(number) * ratio)


@dataclass(frozen=True, slots=True)
class Quantity:
    """A Decimal value with its unit (stored in canonical spelling). Equality compares value and unit as written:
    ``Quantity(Decimal(1000), 'kg') != Quantity(Decimal(1), 't')``; compare ``a.to(b.unit).value`` instead.
    """

    value: Decimal
    unit: str

    def __post_init__(self) -> None:
        given: object = self.value
        if not isinstance(given, Decimal):
            raise TypeError(
                f"Quantity value must be a Decimal, not {type(given).__name__}: "
                "pass Decimal('...') built from the original text (never from a float)"
            )
        object.__setattr__(self, "value", _decimal(self.value))
        object.__setattr__(self, "unit", canonical(self.unit))

    def to(self, unit: str) -> Quantity:
        """This quantity expressed in ``unit`` (same dimension), exactly."""
        return Quantity(convert(self.value, self.unit, unit), unit)

    def __str__(self) -> str:
        """``'29.3076 GJ'``: the full value, never rounded, without exponent notation."""
        return f"{self.value:f} {self.unit}"


def exact_text(value: Decimal) -> str:
    """A decimal as the API and the lineage write it: exact, without exponent or trailing zeros ('1981845.1825',
    '0')."""
    return format(value.normalize(), "f") if value else "0"


def parse_bounded(text: object, integer_digits: int, decimal_places: int) -> Decimal | None:
    """``text`` (its ``str``: a decimal string or a number) as a finite Decimal that fits a stored value of at most
    ``integer_digits`` digits before the point and ``decimal_places`` after it; None when it is no such number (a
    value like 1e999999 would otherwise be kept and make every calculation that uses it fail)."""
    if text is None or isinstance(text, bool):
        return None
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite():
        return None
    exponent = value.normalize().as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    if value and (value.adjusted() + 1 > integer_digits or places > decimal_places):
        return None
    return value


# ------------------------------------------------------------------------------------------------ steam

STEAM_REFERENCE_KJ_PER_KG: Final = Decimal("83.74")
"""Enthalpy of the reference feed water (20 °C) subtracted by the classic convention; pass 0 for the newer one."""


def steam_heat_gj(
    mass_t: DecimalLike,
    enthalpy_kj_per_kg: DecimalLike,
    *,
    reference_kj_per_kg: DecimalLike = STEAM_REFERENCE_KJ_PER_KG,
) -> Decimal:
    """Heat of ``mass_t`` tonnes of steam, in GJ: ``mass × (enthalpy − reference) × 10^-3``.

    ``reference_kj_per_kg`` defaults to 83.74 kJ/kg (feed water at 20 °C); pass ``0`` for the convention that
    counts the steam's full enthalpy. Exact (products of decimals). A negative mass, or an enthalpy below the
    reference, raises :class:`ValueError`: both are data errors.
    """
    mass = _decimal(mass_t, "mass_t")
    enthalpy = _decimal(enthalpy_kj_per_kg, "enthalpy_kj_per_kg")
    reference = _decimal(reference_kj_per_kg, "reference_kj_per_kg")
    if mass < 0:
        raise ValueError(f"steam mass must not be negative, got {mass} t")
    if enthalpy < reference:
        raise ValueError(
            f"steam enthalpy {enthalpy} kJ/kg is below the reference {reference} kJ/kg: check the enthalpy "
            "(kJ/kg, not MJ/kg or kcal/kg) and the reference convention"
        )
    return from_fraction(Fraction(mass) * (Fraction(enthalpy) - Fraction(reference)) / 1000)
