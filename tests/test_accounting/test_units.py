"""Unit conversion for emission accounting: exact Decimal factors, aliases, compound units, refusals.

The expected factors are written out here by hand, independent of the table in the code.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal, Inexact, localcontext

import pytest

from cem_platform.accounting.units import (
    PRECISION,
    Quantity,
    UnitError,
    canonical,
    convert,
    dimension,
    known_units,
    steam_heat_gj,
)


@pytest.fixture(autouse=True)
def clean_database() -> None:
    """Unit conversion touches no database: this replaces the suite's per-test table cleaning (and its app)."""


# unit, its base unit, how many base units one unit is, dimension
TABLE = [
    ("t", "t", "1", "mass"),
    ("kg", "t", "0.001", "mass"),
    ("kt", "t", "1000", "mass"),
    ("10^4 t", "t", "10000", "mass"),
    ("Nm3", "Nm3", "1", "gas_volume"),
    ("10^3 Nm3", "Nm3", "1000", "gas_volume"),
    ("10^4 Nm3", "Nm3", "10000", "gas_volume"),
    ("GJ", "GJ", "1", "energy"),
    ("MJ", "GJ", "0.001", "energy"),
    ("TJ", "GJ", "1000", "energy"),
    ("kWh", "GJ", "0.0036", "energy"),
    ("MWh", "GJ", "3.6", "energy"),
    ("GWh", "GJ", "3600", "energy"),
    ("10^4 kWh", "GJ", "36", "energy"),
    ("tce", "GJ", "29.3076", "energy"),
    ("kgce", "GJ", "0.0293076", "energy"),
    ("10^4 tce", "GJ", "293076", "energy"),
    ("tCO2", "tCO2", "1", "emission"),
    ("kgCO2", "tCO2", "0.001", "emission"),
    ("10^4 tCO2", "tCO2", "10000", "emission"),
    ("tC", "tC", "1", "carbon"),
    ("t_steam", "t_steam", "1", "steam_mass"),
    ("10^4 CNY", "10^4 CNY", "1", "money"),
    ("CNY", "10^4 CNY", "0.0001", "money"),
]


def test_the_table_here_covers_every_unit() -> None:
    assert sorted(row[0] for row in TABLE) == sorted(known_units())


# ------------------------------------------------------------------------------------------------ simple units


@pytest.mark.parametrize(("unit", "base", "factor", "dim"), TABLE)
def test_every_unit_to_its_base_and_back(unit: str, base: str, factor: str, dim: str) -> None:
    assert convert(Decimal(1), unit, base) == Decimal(factor)
    assert convert(Decimal(factor), base, unit) == 1
    value = Decimal("123.456789")
    there = convert(value, unit, base)
    assert there == value * Decimal(factor)
    assert convert(there, base, unit) == value
    assert dimension(unit) == dim
    assert canonical(unit) == unit
    assert isinstance(there, Decimal)


@pytest.mark.parametrize(
    ("value", "from_unit", "to_unit", "expected"),
    [
        ("1", "tce", "GJ", "29.3076"),
        ("1", "kgce", "MJ", "29.3076"),
        ("1", "MWh", "MJ", "3600"),
        ("1", "kWh", "MJ", "3.6"),
        ("1", "GWh", "TJ", "3.6"),
        ("1", "10^4 kWh", "MWh", "10"),
        ("2000", "10^4 Nm3", "Nm3", "20000000"),
        ("2000", "10^4 Nm3", "10^3 Nm3", "20000"),
        ("1500", "kg", "t", "1.5"),
        ("3.2", "10^4 t", "kg", "32000000"),
        ("12.5", "10^4 tCO2", "tCO2", "125000"),
        ("250", "kgCO2", "tCO2", "0.25"),
        ("29.3076", "GJ", "tce", "1"),
        ("-5", "t", "kg", "-5000"),
        ("0", "tce", "GJ", "0"),
    ],
)
def test_exact_results(value: str, from_unit: str, to_unit: str, expected: str) -> None:
    result = convert(Decimal(value), from_unit, to_unit)
    assert result == Decimal(expected)
    assert str(result) == expected  # no exponent notation, no rounding


def test_int_and_str_values_are_accepted() -> None:
    assert convert(2, "tce", "GJ") == Decimal("58.6152")
    assert convert("0.5", "MWh", "kWh") == Decimal("500")
    assert convert(" 1_000 ", "kg", "t") == 1


def test_no_rounding_beyond_28_digits() -> None:
    value = Decimal("123456789012345678901234567890.123456789")
    assert str(convert(value, "t", "kg")) == "123456789012345678901234567890123.456789"
    assert convert(convert(value, "tce", "GJ"), "GJ", "tce") == value
    assert convert(Decimal("1E-40"), "kWh", "GJ") == Decimal("3.6E-43")


def test_the_callers_decimal_context_does_not_matter() -> None:
    with localcontext() as ctx:
        ctx.prec = 3
        ctx.traps[Inexact] = True  # any rounding inside convert would now raise
        assert str(convert(Decimal("12345.6789"), "tce", "GJ")) == "361822.21892964"  # exact, not 3.62E+5
        assert convert(1, "GJ", "tce") == Decimal("0.03412084237535656280282247608")  # its own precision


def test_a_non_terminating_quotient_has_28_significant_digits() -> None:
    result = convert(1, "GJ", "tce")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        assert result == Decimal(1) / Decimal("29.3076")
    assert len(result.as_tuple().digits) == PRECISION == 28
    assert str(convert(1, "GJ", "kWh")) == "277.7777777777777777777777778"


def test_same_unit_returns_the_value_unchanged() -> None:
    assert str(convert(Decimal("1.500"), "吨", "t")) == "1.500"


# ------------------------------------------------------------------------------------------------ spellings


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("吨", "t"),
        ("tonne", "t"),
        (" t ", "t"),
        ("T", "t"),
        ("公斤", "kg"),
        ("万t", "10^4 t"),
        ("万吨", "10^4 t"),
        ("10^4t", "10^4 t"),
        ("Nm³", "Nm3"),
        ("Nm^3", "Nm3"),
        ("nm3", "Nm3"),
        ("标立方米", "Nm3"),
        ("万Nm3", "10^4 Nm3"),
        ("10^4 Nm3", "10^4 Nm3"),
        ("10^4Nm3", "10^4 Nm3"),
        ("10⁴Nm³", "10^4 Nm3"),
        ("万Nm³", "10^4 Nm3"),
        ("kNm3", "10^3 Nm3"),
        ("10^3Nm3", "10^3 Nm3"),
        ("kWh", "kWh"),
        ("kW·h", "kWh"),
        ("kW.h", "kWh"),
        ("KWH", "kWh"),
        ("度", "kWh"),
        ("万kWh", "10^4 kWh"),
        ("万度", "10^4 kWh"),
        ("MWh", "MWh"),
        ("mwh", "MWh"),
        ("MW·h", "MWh"),
        ("gj", "GJ"),
        ("ＧＪ", "GJ"),
        ("吨标准煤", "tce"),
        ("吨标煤", "tce"),
        ("万tce", "10^4 tce"),
        ("kgce", "kgce"),
        ("tCO₂", "tCO2"),
        ("t CO2", "tCO2"),
        ("万tCO2", "10^4 tCO2"),
        ("万吨二氧化碳", "10^4 tCO2"),
        ("吨碳", "tC"),
        ("t steam", "t_steam"),
        ("t(steam)", "t_steam"),
        ("吨蒸汽", "t_steam"),
    ],
)
def test_aliases_map_to_canonical_names(alias: str, expected: str) -> None:
    assert canonical(alias) == expected


def test_aliases_convert_like_their_canonical_unit() -> None:
    assert convert(2000, "万Nm3", "Nm³") == 20_000_000
    assert convert(1, "万吨标准煤", "TJ") == Decimal("293.076")
    assert convert(100, "度", "MJ") == 360


@pytest.mark.parametrize(
    "unit", ["ton", "tons", "m3", "tCO2e", "Mt", "kcal", "", "   ", "104Nm3", "GJ/t/t", "/t", "GJ/"]
)
def test_unknown_or_ambiguous_spellings_are_refused(unit: str) -> None:
    with pytest.raises(UnitError):
        canonical(unit)


def test_an_unknown_unit_says_what_is_accepted_and_what_to_do() -> None:
    with pytest.raises(UnitError) as caught:
        convert(1, "ton", "t")
    message = str(caught.value)
    assert "'ton'" in message
    assert "Accepted units:" in message
    for unit in ("t", "kg", "10^4 Nm3", "tce", "MWh", "tCO2", "tC", "t_steam"):
        assert unit in message
    assert "GJ/t" in message  # how to write a compound unit
    assert "add it" in message  # what to do if it is genuinely missing
    assert isinstance(caught.value, ValueError)


def test_a_malformed_compound_unit_is_explained() -> None:
    with pytest.raises(UnitError, match="exactly one '/'"):
        dimension("GJ/t/t")


# ------------------------------------------------------------------------------------------------ compound units


@pytest.mark.parametrize(
    ("unit", "expected_canonical", "expected_dimension"),
    [
        ("GJ/t", "GJ/t", "energy/mass"),
        ("GJ/万Nm3", "GJ/10^4 Nm3", "energy/gas_volume"),
        ("gj/(10^4 Nm³)", "GJ/10^4 Nm3", "energy/gas_volume"),
        ("tC/TJ", "tC/TJ", "carbon/energy"),
        ("tC/GJ", "tC/GJ", "carbon/energy"),
        ("tCO2/t", "tCO2/t", "emission/mass"),
        ("tCO2/MWh", "tCO2/MWh", "emission/energy"),
        ("tCO2/GJ", "tCO2/GJ", "emission/energy"),
        ("tCO2/10^4Nm3", "tCO2/10^4 Nm3", "emission/gas_volume"),
        ("tCO₂ / 万Nm³", "tCO2/10^4 Nm3", "emission/gas_volume"),
        ("kgCO2/kWh", "kgCO2/kWh", "emission/energy"),
    ],
)
def test_compound_units_parse(unit: str, expected_canonical: str, expected_dimension: str) -> None:
    assert canonical(unit) == expected_canonical
    assert dimension(unit) == expected_dimension


@pytest.mark.parametrize(
    ("value", "from_unit", "to_unit", "expected"),
    [
        ("29.42", "tC/TJ", "tC/GJ", "0.02942"),
        ("0.02942", "tC/GJ", "tC/TJ", "29.42"),
        ("0.5703", "tCO2/MWh", "kgCO2/kWh", "0.5703"),
        ("179.81", "GJ/10^4 Nm3", "MJ/Nm3", "17.981"),
        ("179.81", "GJ/万Nm3", "GJ/10^3 Nm3", "17.981"),
        ("26.7", "GJ/t", "MJ/kg", "26.7"),
        ("1.5", "tCO2/t", "kgCO2/t", "1500"),
        ("2.0", "tCO2/10^4 Nm3", "kgCO2/Nm3", "0.2"),
        ("0.1", "tCO2/GJ", "tCO2/tce", "2.93076"),
    ],
)
def test_compound_conversions(value: str, from_unit: str, to_unit: str, expected: str) -> None:
    result = convert(Decimal(value), from_unit, to_unit)
    assert result == Decimal(expected)
    assert str(result) == expected
    assert convert(result, to_unit, from_unit) == Decimal(value)  # and back, exactly


def test_a_non_terminating_compound_conversion_has_28_significant_digits() -> None:
    result = convert(Decimal("0.5703"), "tCO2/MWh", "tCO2/GJ")  # 0.5703 / 3.6
    assert str(result) == "0.1584166666666666666666666667"
    assert len(result.as_tuple().digits) == PRECISION


def test_a_compound_factor_multiplies_out_exactly() -> None:
    ncv = Quantity(Decimal("179.81"), "GJ/万Nm3")
    gas = Quantity(Decimal("2000"), "万Nm3")
    assert gas.value * ncv.value == Decimal("359620")  # GJ
    assert convert(ncv.value, ncv.unit, "GJ/Nm3") * convert(gas.value, gas.unit, "Nm3") == Decimal("359620")


def test_compound_units_of_different_dimensions_are_refused() -> None:
    with pytest.raises(UnitError, match=r"energy/mass.*energy/gas_volume"):
        convert(1, "GJ/t", "GJ/Nm3")
    with pytest.raises(UnitError, match="different dimensions"):
        convert(1, "GJ/t", "GJ")


# ------------------------------------------------------------------------------------------------ cross dimension


@pytest.mark.parametrize(
    ("from_unit", "to_unit", "hint"),
    [
        ("t", "GJ", "net calorific value"),
        ("GJ", "kg", "net calorific value"),
        ("10^4 Nm3", "GJ", "net calorific value"),
        ("t_steam", "GJ", "steam_heat_gj"),
        ("吨蒸汽", "MWh", "steam_heat_gj"),
        ("t_steam", "t", "t_steam"),
        ("tC", "tCO2", "44/12"),
        ("t", "tCO2", "emission factor"),
        ("MWh", "tCO2", "emission factor"),
        ("Nm3", "t", "density"),
    ],
)
def test_converting_across_dimensions_says_what_is_needed(from_unit: str, to_unit: str, hint: str) -> None:
    with pytest.raises(UnitError, match="different dimensions") as caught:
        convert(1, from_unit, to_unit)
    assert hint in str(caught.value)


# ------------------------------------------------------------------------------------------------ values


@pytest.mark.parametrize("value", [1.0, 0.1, float("nan")])
def test_floats_are_refused(value: float) -> None:
    with pytest.raises(TypeError, match="float"):
        convert(value, "t", "kg")  # type: ignore[arg-type]


def test_the_float_message_says_what_to_do() -> None:
    with pytest.raises(TypeError, match=r"Decimal or a decimal string"):
        convert(29.3076, "GJ", "tce")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, None, [1], b"1"])
def test_other_types_are_refused(value: object) -> None:
    with pytest.raises(TypeError):
        convert(value, "t", "kg")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["abc", "1,000", "", Decimal("NaN"), Decimal("Infinity"), "-inf", "sNaN"])
def test_non_numbers_and_non_finite_values_are_refused(value: Decimal | str) -> None:
    with pytest.raises(ValueError, match="finite|not a decimal number"):
        convert(value, "t", "kg")


# ------------------------------------------------------------------------------------------------ Quantity


def test_quantity_converts_and_prints() -> None:
    q = Quantity(Decimal(1), "吨标准煤")
    assert q.unit == "tce"
    assert q.to("GJ") == Quantity(Decimal("29.3076"), "GJ")
    assert str(q.to("GJ")) == "29.3076 GJ"
    assert str(Quantity(Decimal("2000"), "万Nm3").to("Nm3")) == "20000000 Nm3"
    assert str(Quantity(Decimal("1E+3"), "t")) == "1000 t"  # no exponent notation
    assert str(Quantity(Decimal("29.42"), "tC/TJ").to("tC/GJ")) == "0.02942 tC/GJ"


def test_quantity_equality_is_value_and_unit() -> None:
    assert Quantity(Decimal("1.0"), "t") == Quantity(Decimal(1), "吨")
    assert Quantity(Decimal(1000), "kg") != Quantity(Decimal(1), "t")
    assert Quantity(Decimal(1000), "kg").to("t").value == Quantity(Decimal(1), "t").value


def test_quantity_is_frozen() -> None:
    q = Quantity(Decimal(1), "t")
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.value = Decimal(2)  # type: ignore[misc]


def test_quantity_refuses_floats_unknown_units_and_non_finite_values() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        Quantity(1.5, "t")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Decimal"):
        Quantity(2, "t")  # type: ignore[arg-type]
    with pytest.raises(UnitError, match="Accepted units"):
        Quantity(Decimal(1), "ton")
    with pytest.raises(ValueError, match="finite"):
        Quantity(Decimal("NaN"), "t")
    with pytest.raises(UnitError, match="net calorific value"):
        Quantity(Decimal(1), "t").to("GJ")


# ------------------------------------------------------------------------------------------------ steam


def test_steam_heat_with_the_classic_reference() -> None:
    # 10 t at 2800 kJ/kg: 10 × (2800 − 83.74) × 10^-3 GJ
    assert steam_heat_gj(Decimal(10), Decimal(2800)) == Decimal("27.1626")
    assert str(steam_heat_gj("125.5", "3230.5")) == "394.91838"


def test_steam_heat_with_the_newer_convention() -> None:
    assert steam_heat_gj(Decimal(10), Decimal(2800), reference_kj_per_kg=Decimal(0)) == Decimal(28)
    assert steam_heat_gj("125.5", "3230.5", reference_kj_per_kg=0) == Decimal("405.42775")


def test_steam_heat_reference_is_configurable() -> None:
    assert steam_heat_gj(1000, "2776.2", reference_kj_per_kg="104.92") == Decimal("2671.28")
    assert steam_heat_gj(0, 2800) == 0


def test_steam_heat_refuses_floats_and_impossible_data() -> None:
    with pytest.raises(TypeError, match="mass_t is a float"):
        steam_heat_gj(10.0, Decimal(2800))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="enthalpy_kj_per_kg is a float"):
        steam_heat_gj(Decimal(10), 2800.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reference_kj_per_kg is a float"):
        steam_heat_gj(Decimal(10), Decimal(2800), reference_kj_per_kg=83.74)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        steam_heat_gj(Decimal(-1), Decimal(2800))
    with pytest.raises(ValueError, match="below the reference"):
        steam_heat_gj(Decimal(10), Decimal("2.8"))  # MJ/kg by mistake
