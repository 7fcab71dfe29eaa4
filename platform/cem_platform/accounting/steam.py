"""Steam in tonnes -> heat in GJ, from the steam's pressure and temperature (GB/T 32151, IAPWS-IF97).

Accountants enter purchased or exported steam as a mass with its pressure and temperature. GB/T 32151 (all parts)
and the national ETS guidelines count it as heat::

    AD = Ma × (Enta − 83.74) × 10⁻³

``AD`` heat in GJ, ``Ma`` steam mass in t, ``Enta`` the steam's specific enthalpy in kJ/kg at its pressure and
temperature, 83.74 kJ/kg the enthalpy of the feed water at 20 °C (:data:`~.units.STEAM_REFERENCE_KJ_PER_KG`; the
arithmetic is :func:`cem_platform.accounting.units.steam_heat_gj`, exact in Decimal).

``Enta`` comes from IAPWS-IF97, the industrial formulation that the printed steam tables are built from, as
implemented by the ``iapws`` package. It is rounded to 0.01 kJ/kg — the precision of the steam tables — half to
even (GB/T 8170), and everything after that is exact Decimal arithmetic, so the GJ can be checked by hand from the
enthalpy shown.

The state of the steam
----------------------
* **Pressure is ABSOLUTE, in MPa.** Plant gauges read gauge pressure: pass ``gauge=True`` and one standard
  atmosphere (0.101325 MPa) is added. 1.0 MPa gauge is 1.101325 MPa absolute, a difference of ~2 °C in the
  saturation temperature.
* **Superheated steam:** pressure and temperature. **Saturated (dry) vapour:** pressure alone, or temperature
  alone (``pressure_mpa=None``). **Supercritical steam** (above 22.064 MPa): pressure and a temperature at or above
  the critical temperature 373.946 °C.
* A temperature below the saturation temperature at the given pressure is water, not steam, and is refused with
  the saturation temperature named. A temperature no more than :data:`SATURATION_TOLERANCE_C` (0.1 °C) below it
  is read as saturated vapour: steam tables print the saturation temperature to 0.1 °C or 0.01 °C, and a value
  copied from them must not fall on the water side of the line.

Ranges (those of IAPWS-IF97 regions 1–3 and 2): absolute pressure 0.001–100 MPa, temperature 0–800 °C; mass not
negative (zero is allowed: no steam that month). Every refusal is a :class:`SteamPropertyError`, an
:class:`~cem_platform.accounting.formulas.AccountingError` (HTTP 400) with a hint saying what to correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from importlib.metadata import version
from typing import Any, Final

from iapws import IAPWS97

from cem_platform.accounting.formulas import AccountingError
from cem_platform.accounting.units import STEAM_REFERENCE_KJ_PER_KG
from cem_platform.accounting.units import steam_heat_gj as _heat_gj

__all__ = [
    "ATMOSPHERE_MPA",
    "CRITICAL_PRESSURE_MPA",
    "CRITICAL_TEMPERATURE_C",
    "FORMULA",
    "MAX_PRESSURE_MPA",
    "MAX_TEMPERATURE_C",
    "MIN_PRESSURE_MPA",
    "MIN_TEMPERATURE_C",
    "REFERENCE",
    "SATURATION_TOLERANCE_C",
    "SteamHeat",
    "SteamPropertyError",
    "steam_enthalpy_kj_per_kg",
    "steam_heat_gj",
]

#: One standard atmosphere, added to a gauge pressure to make it absolute.
ATMOSPHERE_MPA: Final = Decimal("0.101325")
#: Absolute pressure range accepted (IAPWS-IF97 goes down to the triple point and up to 100 MPa).
MIN_PRESSURE_MPA: Final = Decimal("0.001")
MAX_PRESSURE_MPA: Final = Decimal("100")
#: Temperature range accepted (IAPWS-IF97 regions 1-3: 0-800 °C).
MIN_TEMPERATURE_C: Final = Decimal("0")
MAX_TEMPERATURE_C: Final = Decimal("800")
#: The critical point of water (IAPWS-IF97): no saturated steam above it.
CRITICAL_PRESSURE_MPA: Final = Decimal("22.064")
CRITICAL_TEMPERATURE_C: Final = Decimal("373.946")
#: A temperature this little below saturation is read as saturated vapour (steam tables' printed precision).
SATURATION_TOLERANCE_C: Final = Decimal("0.1")

#: The heat formula as shown to accountants.
FORMULA: Final = f"AD = Ma × (Enta − {STEAM_REFERENCE_KJ_PER_KG}) × 10⁻³"
#: Where the enthalpy and the formula come from, with the iapws version that computed the enthalpy.
REFERENCE: Final = f"IAPWS-IF97 via iapws {version('iapws')}; GB/T 32151: {FORMULA}"

_ENTHALPY_STEP: Final = Decimal("0.01")
_KELVIN: Final = Decimal("273.15")


class SteamPropertyError(AccountingError):
    """The steam's mass, pressure or temperature cannot be turned into heat."""

    code = "steam_property_error"
    default_hint = (
        "Give the steam mass in t (not negative), its ABSOLUTE pressure in MPa (gauge=True for a gauge reading) "
        "and its temperature in °C, or only the pressure or only the temperature for saturated steam."
    )


@dataclass(frozen=True, slots=True)
class SteamHeat:
    """Heat of an amount of steam, with everything needed to check it by hand."""

    gj: Decimal
    """Heat in GJ: ``tonnes × (enthalpy_kj_per_kg − 83.74) / 1000``, exact."""
    enthalpy_kj_per_kg: Decimal
    """Specific enthalpy of the steam (IAPWS-IF97), rounded to 0.01 kJ/kg."""
    tonnes: Decimal
    """Steam mass as given, in t."""
    pressure_mpa: Decimal | None
    """Pressure as given, in MPa (absolute, or gauge when ``gauge``); None for saturated steam by temperature."""
    gauge: bool
    """Whether ``pressure_mpa`` was a gauge pressure (one standard atmosphere was added)."""
    absolute_pressure_mpa: Decimal | None
    """The absolute pressure the enthalpy was computed at; None for saturated steam given by temperature."""
    temperature_c: Decimal | None
    """Temperature as given, in °C; None for saturated steam given by pressure."""
    state: str
    """``"superheated"``, ``"saturated vapour"`` or ``"supercritical"``."""
    formula: str = FORMULA
    reference: str = REFERENCE


def steam_enthalpy_kj_per_kg(
    pressure_mpa: Decimal | None, temperature_c: Decimal | None, *, gauge: bool = False
) -> Decimal:
    """Specific enthalpy of steam in kJ/kg (IAPWS-IF97), rounded to 0.01 kJ/kg.

    ``pressure_mpa`` is ABSOLUTE unless ``gauge=True`` (then 0.101325 MPa is added). Superheated or supercritical
    steam: pressure and temperature. Saturated vapour: pressure with ``temperature_c=None``, or temperature with
    ``pressure_mpa=None``. Raises :class:`SteamPropertyError` for values out of range and for water (a temperature
    below saturation).
    """
    return _enthalpy(pressure_mpa, temperature_c, gauge=gauge)[0]


def steam_heat_gj(
    tonnes: Decimal, pressure_mpa: Decimal | None, temperature_c: Decimal | None, *, gauge: bool = False
) -> SteamHeat:
    """Heat in GJ of ``tonnes`` of steam at ``pressure_mpa`` (ABSOLUTE unless ``gauge=True``) and ``temperature_c``.

    ``AD = Ma × (Enta − 83.74) × 10⁻³`` with ``Enta`` from :func:`steam_enthalpy_kj_per_kg` (0.01 kJ/kg) and the
    rest exact. Zero tonnes give 0 GJ; negative tonnes, and everything :func:`steam_enthalpy_kj_per_kg` refuses,
    raise :class:`SteamPropertyError`.
    """
    mass = _number(tonnes, "tonnes")
    if mass < 0:
        raise SteamPropertyError(
            f"Steam mass {mass} t is negative.",
            hint="Enter purchased and exported steam as positive masses, each under its own activity.",
        )
    enthalpy, absolute, state = _enthalpy(pressure_mpa, temperature_c, gauge=gauge)
    return SteamHeat(
        gj=_heat_gj(mass, enthalpy),
        enthalpy_kj_per_kg=enthalpy,
        tonnes=mass,
        pressure_mpa=pressure_mpa,
        gauge=gauge,
        absolute_pressure_mpa=absolute,
        temperature_c=temperature_c,
        state=state,
    )


# ------------------------------------------------------------------------------------------------ internals


def _enthalpy(
    pressure_mpa: Decimal | None, temperature_c: Decimal | None, *, gauge: bool
) -> tuple[Decimal, Decimal | None, str]:
    """(enthalpy rounded to 0.01 kJ/kg, absolute pressure or None, state) after every check."""
    temperature = None if temperature_c is None else _temperature(temperature_c)
    if pressure_mpa is None:
        if temperature is None:
            raise SteamPropertyError("Neither the pressure nor the temperature of the steam is given.")
        return _saturated_by_temperature(temperature), None, "saturated vapour"
    absolute = _absolute_pressure(pressure_mpa, gauge=gauge)
    if absolute > CRITICAL_PRESSURE_MPA:
        if temperature is None:
            raise SteamPropertyError(
                f"Above the critical pressure ({CRITICAL_PRESSURE_MPA} MPa) there is no saturated steam: "
                f"{absolute} MPa absolute needs a temperature.",
                hint="Give the steam's temperature too.",
            )
        if temperature < CRITICAL_TEMPERATURE_C:
            raise SteamPropertyError(
                f"At {absolute} MPa absolute, above the critical pressure ({CRITICAL_PRESSURE_MPA} MPa), water at "
                f"{temperature} °C — below the critical temperature {CRITICAL_TEMPERATURE_C} °C — is compressed "
                "water, not steam.",
                hint="Check the temperature and the pressure (absolute, in MPa) of the steam.",
            )
        return _by_pressure_and_temperature(absolute, temperature), absolute, "supercritical"
    saturation = Decimal(_if97(P=float(absolute), x=1).T) - _KELVIN
    if temperature is None or saturation - SATURATION_TOLERANCE_C <= temperature <= saturation:
        return _rounded(_if97(P=float(absolute), x=1).h), absolute, "saturated vapour"
    if temperature < saturation:
        gauge_note = f" ({pressure_mpa} MPa gauge)" if gauge else ""
        raise SteamPropertyError(
            f"At {absolute} MPa absolute{gauge_note} water boils at {saturation:.2f} °C: at {temperature} °C it is "
            "water, not steam.",
            hint=(
                f"Give a temperature of at least {saturation:.2f} °C, or no temperature for saturated steam; check "
                "that the pressure is absolute (pass gauge=True for a gauge reading) and in MPa."
            ),
        )
    return _by_pressure_and_temperature(absolute, temperature), absolute, "superheated"


def _by_pressure_and_temperature(absolute: Decimal, temperature: Decimal) -> Decimal:
    steam = _if97(P=float(absolute), T=float(temperature + _KELVIN))
    if steam.x < 1:  # a hair above saturation in Decimal, on it in float: iapws picks the liquid side
        steam = _if97(P=float(absolute), x=1)
    return _rounded(steam.h)


def _saturated_by_temperature(temperature: Decimal) -> Decimal:
    if temperature > CRITICAL_TEMPERATURE_C:
        raise SteamPropertyError(
            f"Above the critical temperature ({CRITICAL_TEMPERATURE_C} °C) there is no saturated steam: "
            f"{temperature} °C needs a pressure.",
            hint="Give the steam's absolute pressure in MPa too.",
        )
    saturated = _if97(T=float(temperature + _KELVIN), x=1)
    if Decimal(saturated.P) < MIN_PRESSURE_MPA:
        raise SteamPropertyError(
            f"Saturated steam at {temperature} °C is at {Decimal(saturated.P):.6f} MPa absolute, below "
            f"{MIN_PRESSURE_MPA} MPa.",
            hint="Check the temperature: it is too low for process steam.",
        )
    return _rounded(saturated.h)


def _if97(**state: float) -> Any:
    """The iapws IAPWS-IF97 state, or a SteamPropertyError when iapws cannot compute it."""
    try:
        steam = IAPWS97(**state)
    except (NotImplementedError, ValueError, ArithmeticError) as err:
        raise SteamPropertyError(f"IAPWS-IF97 has no steam state for {state}: {err}.") from err
    if getattr(steam, "status", 0) != 1:
        raise SteamPropertyError(f"IAPWS-IF97 has no steam state for {state}: {getattr(steam, 'msg', '')}.")
    return steam


def _rounded(value: float) -> Decimal:
    """A float from iapws as Decimal, rounded to 0.01 (half to even); refused when it is not a number."""
    number = Decimal(value)
    if not number.is_finite():
        raise SteamPropertyError(f"IAPWS-IF97 gave {value} for the steam.")
    return number.quantize(_ENTHALPY_STEP, rounding=ROUND_HALF_EVEN)


def _absolute_pressure(pressure_mpa: Decimal, *, gauge: bool) -> Decimal:
    pressure = _number(pressure_mpa, "pressure_mpa")
    absolute = pressure + ATMOSPHERE_MPA if gauge else pressure
    if not MIN_PRESSURE_MPA <= absolute <= MAX_PRESSURE_MPA:
        given = f"{pressure} MPa gauge, {absolute} MPa absolute," if gauge else f"{absolute} MPa absolute"
        raise SteamPropertyError(
            f"Steam pressure {given} is outside {MIN_PRESSURE_MPA}–{MAX_PRESSURE_MPA} MPa absolute.",
            hint="Give the pressure in MPa (not kPa or bar), absolute, or pass gauge=True for a gauge reading.",
        )
    return absolute


def _temperature(temperature_c: Decimal) -> Decimal:
    temperature = _number(temperature_c, "temperature_c")
    if not MIN_TEMPERATURE_C <= temperature <= MAX_TEMPERATURE_C:
        raise SteamPropertyError(
            f"Steam temperature {temperature} °C is outside {MIN_TEMPERATURE_C}–{MAX_TEMPERATURE_C} °C.",
            hint="Give the temperature in °C (not K or °F).",
        )
    return temperature


def _number(value: object, name: str) -> Decimal:
    """A finite Decimal (an int is taken exactly); a float is a programming error, as in the units module."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}: steam data never passes through float")
    number = Decimal(value)
    if not number.is_finite():
        raise SteamPropertyError(f"{name} is {number}, not a number.", hint="Give a finite decimal value.")
    return number
