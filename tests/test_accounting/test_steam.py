"""Steam in t -> heat in GJ from pressure and temperature (IAPWS-IF97 via iapws; GB/T 32151's 83.74 kJ/kg).

Expected values are written out by hand from outside the code: the verification tables of the IAPWS-IF97 release
itself, and printed steam tables (Çengel & Boles, Thermodynamics, tables A-5/A-6; within 0.5 kJ/kg, as those
tables are computed from IAPWS-95, which differs from IF97 by a few tenths at most; each table value here was
also checked against IAPWS-95 as computed by iapws).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from cem_platform.accounting.formulas import AccountingError
from cem_platform.accounting.steam import (
    SteamHeat,
    SteamPropertyError,
    steam_enthalpy_kj_per_kg,
    steam_heat_gj,
)


@pytest.fixture(autouse=True)
def clean_database() -> None:
    """Steam properties touch no database: this replaces the suite's per-test table cleaning (and its app)."""


def near(value: Decimal, expected: str, tolerance: str = "0.5") -> bool:
    return abs(value - Decimal(expected)) <= Decimal(tolerance)


# ------------------------------------------------------------------------------------------------ enthalpy


@pytest.mark.parametrize(
    ("pressure", "temperature", "table"),
    [
        ("1.0", "300", "3051.6"),  # superheated (Çengel A-6); IF97 gives 3051.70
        ("1.0", None, "2777.1"),  # saturated vapour by pressure (Çengel A-5, hg at 1 MPa)
        ("4.0", "450", "3331.2"),  # superheated (Çengel A-6); IF97 gives 3330.99
        ("0.1", "100", "2675.8"),  # just above saturation (99.61 °C) at 0.1 MPa (Çengel A-6)
        (None, "100", "2675.6"),  # saturated vapour by temperature (Çengel A-4, hg at 100 °C)
    ],
)
def test_enthalpy_matches_the_steam_tables(pressure: str | None, temperature: str | None, table: str) -> None:
    enthalpy = steam_enthalpy_kj_per_kg(
        None if pressure is None else Decimal(pressure), None if temperature is None else Decimal(temperature)
    )
    assert near(enthalpy, table), enthalpy


@pytest.mark.parametrize(
    ("pressure", "temperature", "enthalpy"),
    [
        # IAPWS-IF97 (2007 revision), Table 15, region 2: T = 300 K, 700 K; h = 0.254991145e4, 0.333568375e4,
        # 0.263149474e4 kJ/kg -> the formulation itself, to the 0.01 kJ/kg kept here.
        ("0.0035", "26.85", "2549.91"),
        ("0.0035", "426.85", "3335.68"),
        ("30", "426.85", "2631.49"),
    ],
)
def test_enthalpy_is_iapws_if97_to_the_hundredth(pressure: str, temperature: str, enthalpy: str) -> None:
    assert steam_enthalpy_kj_per_kg(Decimal(pressure), Decimal(temperature)) == Decimal(enthalpy)


def test_enthalpy_is_rounded_to_the_hundredth() -> None:
    enthalpy = steam_enthalpy_kj_per_kg(Decimal("1.0"), Decimal(300))
    assert enthalpy == Decimal("3051.70") and enthalpy.as_tuple().exponent == -2


def test_saturated_vapour_by_pressure_equals_saturated_vapour_by_temperature() -> None:
    # IF97 Table 35: T_s(1 MPa) = 453.035632 K; p_s(453.035632 K) is 1 MPa again.
    by_pressure = steam_enthalpy_kj_per_kg(Decimal(1), None)
    by_temperature = steam_enthalpy_kj_per_kg(None, Decimal("453.035632") - Decimal("273.15"))
    assert by_pressure == by_temperature == Decimal("2777.12")


def test_a_temperature_copied_from_the_table_reads_as_saturated() -> None:
    # 1 MPa boils at 179.8856 °C; a table prints 179.88 or 179.9: neither is water.
    saturated = steam_enthalpy_kj_per_kg(Decimal(1), None)
    assert steam_enthalpy_kj_per_kg(Decimal(1), Decimal("179.88")) == saturated
    assert steam_enthalpy_kj_per_kg(Decimal(1), Decimal("179.79")) == saturated
    assert steam_enthalpy_kj_per_kg(Decimal(1), Decimal("179.9")) > saturated  # a hair superheated


def test_supercritical_steam() -> None:
    # IAPWS-IF97 Table 33, region 3: T = 650 K, p = 25.5837018 MPa, h = 0.186343019e4 kJ/kg.
    assert steam_enthalpy_kj_per_kg(Decimal("25.5837018"), Decimal("376.85")) == Decimal("1863.43")
    # 25 MPa, 550 °C (a supercritical unit's main steam); IAPWS-95 gives h = 3339.20 there.
    assert near(steam_enthalpy_kj_per_kg(Decimal(25), Decimal(550)), "3339.2")
    assert steam_heat_gj(Decimal(1), Decimal(25), Decimal(550)).state == "supercritical"


# ------------------------------------------------------------------------------------------------ heat


def test_worked_example() -> None:
    # 100 t at 1.0 MPa (absolute), 300 °C: 100 × (3051.70 − 83.74) × 10^-3 = 296.796 GJ.
    heat = steam_heat_gj(Decimal(100), Decimal("1.0"), Decimal(300))
    assert isinstance(heat, SteamHeat)
    assert heat.enthalpy_kj_per_kg == Decimal("3051.70")
    assert heat.gj == Decimal("296.796")
    assert near(heat.gj, "296.80", "0.01")
    assert heat.gj == heat.tonnes * (heat.enthalpy_kj_per_kg - Decimal("83.74")) / 1000  # exact, checkable by hand
    assert (heat.tonnes, heat.pressure_mpa, heat.temperature_c) == (Decimal(100), Decimal("1.0"), Decimal(300))
    assert heat.gauge is False and heat.absolute_pressure_mpa == Decimal("1.0") and heat.state == "superheated"
    assert heat.formula == "AD = Ma × (Enta − 83.74) × 10⁻³"
    assert heat.reference.startswith("IAPWS-IF97 via iapws 1.")
    assert heat.reference.endswith("GB/T 32151: AD = Ma × (Enta − 83.74) × 10⁻³")
    with pytest.raises(dataclasses.FrozenInstanceError):
        heat.gj = Decimal(0)  # type: ignore[misc]


def test_saturated_steam_heat() -> None:
    by_pressure = steam_heat_gj(Decimal("12.5"), Decimal(1), None)
    assert by_pressure.state == "saturated vapour" and by_pressure.temperature_c is None
    assert by_pressure.gj == Decimal("12.5") * (Decimal("2777.12") - Decimal("83.74")) / 1000 == Decimal("33.66725")
    by_temperature = steam_heat_gj(Decimal(1), None, Decimal(100))
    assert by_temperature.state == "saturated vapour" and by_temperature.absolute_pressure_mpa is None
    assert by_temperature.gj == (by_temperature.enthalpy_kj_per_kg - Decimal("83.74")) / 1000


def test_zero_tonnes_is_zero_heat() -> None:
    assert steam_heat_gj(Decimal(0), Decimal(1), Decimal(300)).gj == 0


def test_gauge_pressure_adds_one_atmosphere() -> None:
    # 0.898675 MPa gauge + 0.101325 MPa = 1.000000 MPa absolute: the worked example again.
    heat = steam_heat_gj(Decimal(100), Decimal("0.898675"), Decimal(300), gauge=True)
    assert heat.gauge is True and heat.pressure_mpa == Decimal("0.898675")
    assert heat.absolute_pressure_mpa == Decimal("1.000000")
    assert heat.enthalpy_kj_per_kg == Decimal("3051.70") and heat.gj == Decimal("296.796")
    # Saturated steam at 1.0 MPa gauge is hotter than at 1.0 MPa absolute (184.1 °C against 179.9 °C).
    gauge = steam_enthalpy_kj_per_kg(Decimal(1), None, gauge=True)
    assert gauge != steam_enthalpy_kj_per_kg(Decimal(1), None)
    assert gauge == steam_enthalpy_kj_per_kg(Decimal("1.101325"), None)


# ------------------------------------------------------------------------------------------------ refusals


def test_refusals_are_accounting_errors_with_a_hint() -> None:
    assert issubclass(SteamPropertyError, AccountingError)
    with pytest.raises(AccountingError) as caught:
        steam_heat_gj(Decimal(-1), Decimal(1), Decimal(300))
    assert caught.value.status_code == 400 and caught.value.hint


def test_negative_tonnes_are_refused() -> None:
    with pytest.raises(SteamPropertyError, match=r"Steam mass -0\.5 t is negative"):
        steam_heat_gj(Decimal("-0.5"), Decimal(1), Decimal(300))


@pytest.mark.parametrize("pressure", ["0.0009", "0", "-1", "100.01", "1000"])
def test_pressure_outside_the_range_is_refused(pressure: str) -> None:
    with pytest.raises(SteamPropertyError, match=r"outside 0\.001–100 MPa absolute") as caught:
        steam_heat_gj(Decimal(1), Decimal(pressure), None)
    assert "MPa (not kPa or bar)" in caught.value.hint


def test_gauge_pressure_is_checked_as_absolute() -> None:
    with pytest.raises(SteamPropertyError, match=r"-0\.1005 MPa gauge, 0\.000825 MPa absolute"):
        steam_enthalpy_kj_per_kg(Decimal("-0.1005"), None, gauge=True)
    assert steam_enthalpy_kj_per_kg(Decimal("99.898675"), Decimal(800), gauge=True)  # 100 MPa absolute: accepted
    with pytest.raises(SteamPropertyError, match="outside"):
        steam_enthalpy_kj_per_kg(Decimal(100), Decimal(800), gauge=True)


def test_range_limits_are_accepted() -> None:
    assert steam_enthalpy_kj_per_kg(Decimal("0.001"), None)
    assert steam_enthalpy_kj_per_kg(Decimal("0.001"), Decimal(800))
    assert steam_enthalpy_kj_per_kg(Decimal(100), Decimal(800))


@pytest.mark.parametrize("temperature", ["-0.01", "-20", "800.01", "1073.15"])
def test_temperature_outside_the_range_is_refused(temperature: str) -> None:
    with pytest.raises(SteamPropertyError, match="outside 0–800 °C"):
        steam_heat_gj(Decimal(1), Decimal(1), Decimal(temperature))


def test_water_below_saturation_is_refused_naming_the_saturation_temperature() -> None:
    with pytest.raises(SteamPropertyError, match=r"water boils at 179\.89 °C: at 150 °C it is water, not steam") as e:
        steam_heat_gj(Decimal(10), Decimal(1), Decimal(150))
    assert "at least 179.89 °C" in e.value.hint
    with pytest.raises(SteamPropertyError, match=r"179\.89 °C"):  # more than 0.1 °C below: water
        steam_enthalpy_kj_per_kg(Decimal(1), Decimal("179.7"))
    # The classic mistake: a gauge reading taken as absolute. 0.5 MPa gauge boils at 158.9 °C; 155 °C is water.
    with pytest.raises(SteamPropertyError, match=r"0\.601325 MPa absolute \(0\.5 MPa gauge\) water boils at 158\.9"):
        steam_enthalpy_kj_per_kg(Decimal("0.5"), Decimal(155), gauge=True)


def test_no_saturated_steam_beyond_the_critical_point() -> None:
    with pytest.raises(SteamPropertyError, match="critical pressure .* needs a temperature"):
        steam_enthalpy_kj_per_kg(Decimal(25), None)
    with pytest.raises(SteamPropertyError, match="compressed water, not steam"):
        steam_enthalpy_kj_per_kg(Decimal(25), Decimal(300))
    with pytest.raises(SteamPropertyError, match="critical temperature .* needs a pressure"):
        steam_enthalpy_kj_per_kg(None, Decimal(380))


def test_saturated_steam_too_cold_is_refused() -> None:
    with pytest.raises(SteamPropertyError, match=r"5 °C is at 0\.000873 MPa absolute, below 0\.001 MPa"):
        steam_enthalpy_kj_per_kg(None, Decimal(5))


def test_neither_pressure_nor_temperature_is_refused() -> None:
    with pytest.raises(SteamPropertyError, match="Neither the pressure nor the temperature"):
        steam_heat_gj(Decimal(1), None, None)


def test_non_numbers_are_refused() -> None:
    with pytest.raises(SteamPropertyError, match="pressure_mpa is NaN"):
        steam_enthalpy_kj_per_kg(Decimal("NaN"), None)
    with pytest.raises(SteamPropertyError, match="temperature_c is Infinity"):
        steam_enthalpy_kj_per_kg(Decimal(1), Decimal("Infinity"))
    with pytest.raises(TypeError, match="tonnes must be a Decimal, not float"):
        steam_heat_gj(100.0, Decimal(1), Decimal(300))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pressure_mpa must be a Decimal, not str"):
        steam_enthalpy_kj_per_kg("1.0", None)  # type: ignore[arg-type]
