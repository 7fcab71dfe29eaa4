"""The accounting core: safe formulas, the versioned methodology library and the engine (reference example A)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cem_platform.accounting.engine import (
    AccountingResult,
    ActivityDataError,
    Quantity,
    SourceActivity,
    account,
    round_for_display,
)
from cem_platform.accounting.formulas import Formula, FormulaError, parse_expression
from cem_platform.accounting.library import (
    EDITION_2015,
    EDITION_NEWER,
    Confidence,
    EditionMismatchError,
    GridFactorKind,
    GridFactorNotFoundError,
    ParameterNotFoundError,
    SourceCategory,
    grid_factor,
)

D = Decimal
C = SourceCategory
TOLERANCE = D("0.01")


def q(value: str, unit: str, origin: str = "manual:test", **flags: bool) -> Quantity:
    return Quantity(D(value), unit, origin, **flags)


def fuel(source_id: str, fuel_name: str, amount: str, unit: str, process: str = "ironmaking", **over: Quantity):
    return SourceActivity(source_id, process, C.FUEL_COMBUSTION, {"FC": q(amount, unit)}, fuel_name, overrides=over)


def one(category: SourceCategory, item: str, amount: str, process: str = "steelmaking") -> SourceActivity:
    return SourceActivity(f"{category.value}.{item}", process, category, {"AD": q(amount, "t")}, item)


def example_a_sources() -> list[SourceActivity]:
    """Reference example A as a user would enter it; coke and natural gas parameters given explicitly."""
    given = "manual:example A"
    return [
        fuel(
            "coke",
            "coke",
            "500000",
            "t",
            NCV=q("28.435", "GJ/t", given),
            CC=q("29.42", "tC/TJ", given),
            OF=q("93", "%", given),
        ),
        fuel(
            "natural_gas",
            "natural_gas",
            "2000",
            "10^4 Nm3",
            process="rolling",
            NCV=q("389.31", "GJ/10^4 Nm3", given),
            CC=q("15.32", "tC/TJ", given),
            OF=q("99", "%", given),
        ),
        one(C.FLUX, "limestone", "150000", process="sintering"),
        one(C.FLUX, "dolomite", "40000", process="sintering"),
        SourceActivity("electrodes", "steelmaking", C.ELECTRODE, {"AD": q("3000", "t")}),
        one(C.RAW_MATERIAL, "pig_iron", "30000"),
        SourceActivity(
            "grid",
            "auxiliary",
            C.ELECTRICITY,
            {"purchased": q("800000", "MWh", "meter:GRID.IN"), "exported": q("50000", "MWh", "meter:GRID.OUT")},
        ),
        SourceActivity("heat", "auxiliary", C.HEAT, {"purchased": q("200000", "GJ"), "exported": q("0", "GJ")}),
        one(C.FIXED_CARBON, "crude_steel", "2500000"),
    ]


@pytest.fixture(scope="module")
def example_a() -> AccountingResult:
    return account(EDITION_2015, 2023, example_a_sources(), crude_steel=q("2500000", "t", "erp:output"))


def close(value: Decimal, expected: str) -> bool:
    return abs(value - D(expected)) <= TOLERANCE


# --- reference example A ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_id", "expected"),
    [
        ("coke", "1426330.8785"),
        ("natural_gas", "43300.3040"),
        ("flux.limestone", "66000.0000"),
        ("flux.dolomite", "18840.0000"),
        ("electrodes", "10989.0000"),
        ("raw_material.pig_iron", "5160.0000"),
        ("grid", "427725.0000"),
        ("heat", "22000.0000"),
        ("fixed_carbon.crude_steel", "38500.0000"),
    ],
)
def test_example_a_per_line(example_a: AccountingResult, source_id: str, expected: str) -> None:
    assert close(example_a.source(source_id).emission, expected)


def test_example_a_totals(example_a: AccountingResult) -> None:
    totals = example_a.totals
    assert close(totals.combustion, "1469631.1825")
    assert close(totals.process, "100989.0000")
    assert close(totals.electricity, "427725.0000")
    assert close(totals.heat, "22000.0000")
    assert close(totals.fixed_carbon, "38500.0000")
    assert close(totals.net, "1981845.1825")
    assert example_a.intensity is not None
    assert round_for_display(example_a.intensity) == D("0.7927")
    # Exact, unrounded arithmetic: the net is the exact sum of the exact lines.
    assert round_for_display(totals.net) == D("1981845.1825")
    assert example_a.edition == "GB/T 32151.5-2015"
    assert example_a.complete and not example_a.estimated


def test_example_a_per_category_and_process(example_a: AccountingResult) -> None:
    assert close(example_a.by_category[C.FLUX], "84840")
    assert close(example_a.by_category[C.ELECTRODE], "10989")
    assert close(example_a.by_category[C.RAW_MATERIAL], "5160")
    assert close(example_a.by_process["sintering"].process, "84840")
    assert close(example_a.by_process["steelmaking"].net, str(10989 + 5160 - 38500))
    assert sum(p.net for p in example_a.by_process.values()) == example_a.totals.net


def test_energy_in_tce(example_a: AccountingResult) -> None:
    gj = D("500000") * D("28.435") + D("2000") * D("389.31")
    assert example_a.fuel_energy_gj == gj
    assert round_for_display(example_a.fuel_energy_tce, 2) == round_for_display(gj / D("29.3076"), 2)
    assert example_a.process_fuel_energy_gj["rolling"] == D("778620.00")


# --- lineage ------------------------------------------------------------------------------------------------


def test_lineage_of_an_overridden_fuel(example_a: AccountingResult) -> None:
    coke = example_a.source("coke")
    assert (coke.formula_id, coke.formula_version) == ("combustion.fuel.mass", "1")
    assert coke.edition == "GB/T 32151.5-2015"
    (fc,) = coke.inputs
    assert (fc.name, fc.value, fc.unit, fc.origin) == ("FC", D("500000"), "t", "manual:test")
    cc = coke.parameter("CC")
    assert (cc.code, cc.value, cc.unit, cc.used_value, cc.used_unit) == (
        "fuel.coke.cc",
        D("29.42"),
        "tC/TJ",
        D("0.02942"),
        "tC/GJ",
    )
    assert cc.overridden and cc.origin == "manual:example A"
    assert cc.default_value == D("29.50")  # the 2013 default it replaced
    assert coke.parameter("OF").used_value == D("0.93")
    assert set(coke.overridden) == {"NCV", "CC", "OF"}


def test_lineage_of_a_default_and_the_grid(example_a: AccountingResult) -> None:
    limestone = example_a.source("flux.limestone").parameter("EF")
    assert (limestone.code, limestone.value, limestone.overridden) == ("flux.limestone.ef", D("0.440"), False)
    assert (limestone.edition, limestone.version) == ("GB/T 32151.5-2015", "2013-guideline-defaults")
    assert limestone.origin == "default:GB/T 32151.5-2015 2013-guideline-defaults"
    assert limestone.source
    grid = example_a.source("grid")
    ef = grid.parameter("EF")
    assert ef.value == D("0.5703") and ef.origin == "grid:ets_prescribed"
    assert ef.code == "grid.ets_prescribed.national.2023-2024"
    assert {i.origin for i in grid.inputs} == {"meter:GRID.IN", "meter:GRID.OUT"}


# --- the 2013 parameter set ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fuel_name", "unit", "expected"),
    [("coke", "t", "2.8616"), ("blast_furnace_gas", "10^4 Nm3", "8.4811"), ("converter_gas", "10^4 Nm3", "15.1240")],
)
def test_per_unit_emission_of_the_2013_set(fuel_name: str, unit: str, expected: str) -> None:
    result = account(EDITION_2015, 2020, [fuel("f", fuel_name, "1", unit)])
    assert round_for_display(result.totals.combustion) == D(expected)
    assert all(not p.overridden for p in result.source("f").parameters)


def test_every_2013_fuel_matches_its_published_tco2_per_unit() -> None:
    table = {
        "anthracite": "1.9238", "bituminous": "1.7471", "lignite": "1.3877", "washed_coal": "2.2082",
        "fuel_oil": "3.1705", "gasoline": "2.9251", "diesel": "3.0959", "lpg": "3.1013", "tar": "2.6446",
        "crude_benzene": "3.4109", "coke_oven_gas": "7.6224", "natural_gas": "21.6219",
    }  # fmt: skip
    for fuel_name, expected in table.items():
        unit = EDITION_2015.parameter(f"fuel.{fuel_name}.ncv").unit.removeprefix("GJ/")
        result = account(EDITION_2015, 2020, [fuel("f", fuel_name, "1", unit)])
        assert round_for_display(result.totals.combustion) == D(expected), fuel_name


def test_fuel_in_the_wrong_unit_is_refused() -> None:
    with pytest.raises(ActivityDataError, match=r"FC is in '10\^4 Nm3' but the method expects 't'"):
        account(EDITION_2015, 2020, [fuel("f", "coke", "1", "10^4 Nm3")])


def test_fuel_given_in_kt_is_converted() -> None:
    result = account(EDITION_2015, 2020, [fuel("f", "coke", "1", "kt")])
    assert result.totals.combustion == D("1000") * D("28.447") * D("29.50") / 1000 * D("0.93") * 44 / 12
    assert result.source("f").inputs[0].used_value == D("1000")


# --- each category alone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activity", "category", "expected"),
    [
        (one(C.FLUX, "limestone", "100"), C.FLUX, "44.0"),
        (SourceActivity("e", "eaf", C.ELECTRODE, {"AD": q("10", "t")}), C.ELECTRODE, "36.63"),
        (one(C.RAW_MATERIAL, "ferrochrome", "100"), C.RAW_MATERIAL, "27.5"),
        (one(C.FIXED_CARBON, "methanol", "100"), C.FIXED_CARBON, "137.5"),
        (
            SourceActivity("h", "aux", C.HEAT, {"purchased": q("1000", "GJ"), "exported": q("200", "GJ")}),
            C.HEAT,
            "88",
        ),
        (
            SourceActivity("p", "aux", C.ELECTRICITY, {"purchased": q("1000", "kWh"), "exported": q("0", "kWh")}),
            C.ELECTRICITY,
            "0.5703",
        ),
    ],
)
def test_each_category_alone(activity: SourceActivity, category: SourceCategory, expected: str) -> None:
    result = account(EDITION_2015, 2023, [activity])
    assert result.by_category[category] == D(expected)
    assert all(v == 0 for c, v in result.by_category.items() if c != category)
    sign = -1 if category == C.FIXED_CARBON else 1
    assert result.totals.net == sign * D(expected)


# --- overrides, flags ---------------------------------------------------------------------------------------


def test_an_override_changes_that_source_only() -> None:
    measured = {"NCV": q("29.000", "GJ/t", "lab:report 2023-117")}
    base = account(EDITION_2015, 2020, [fuel("bf1", "coke", "100", "t"), fuel("bf2", "coke", "100", "t")])
    over = account(EDITION_2015, 2020, [fuel("bf1", "coke", "100", "t", **measured), fuel("bf2", "coke", "100", "t")])
    assert over.source("bf2").emission == base.source("bf2").emission
    assert over.source("bf1").emission != base.source("bf1").emission
    ncv = over.source("bf1").parameter("NCV")
    assert ncv.overridden and ncv.origin == "lab:report 2023-117" and ncv.default_value == D("28.447")
    assert over.source("bf1").parameter("CC").overridden is False
    assert over.source("bf1").emission == base.source("bf1").emission / D("28.447") * D("29.000")


def test_incomplete_and_estimated_data_propagate() -> None:
    sources = [
        SourceActivity("c", "bf", C.FUEL_COMBUSTION, {"FC": q("1", "t", complete=False)}, "coke"),
        fuel("d", "diesel", "1", "t", process="yard", OF=q("98", "%", "manual:guess", estimated=True)),
        one(C.FLUX, "limestone", "1", process="sinter"),
    ]
    result = account(EDITION_2015, 2020, sources)
    assert not result.source("c").complete and not result.source("c").estimated
    assert result.source("d").estimated and result.source("d").complete
    assert result.source("flux.limestone").complete and not result.source("flux.limestone").estimated
    assert not result.complete and result.estimated


def test_unknown_override_and_missing_activity_are_refused() -> None:
    with pytest.raises(ActivityDataError, match="cannot be overridden"):
        account(EDITION_2015, 2020, [fuel("f", "coke", "1", "t", EF=q("3", "tCO2/t"))])
    with pytest.raises(ActivityDataError, match="missing exported"):
        account(EDITION_2015, 2023, [SourceActivity("p", "aux", C.ELECTRICITY, {"purchased": q("1", "MWh")})])
    with pytest.raises(ActivityDataError, match="float|finite Decimal"):
        Quantity(1.5, "t", "manual:x")  # type: ignore[arg-type]


# --- editions -----------------------------------------------------------------------------------------------


def test_editions_are_never_mixed() -> None:
    newer = account(EDITION_NEWER, 2024, [fuel("f", "coke", "1", "t"), one(C.FIXED_CARBON, "tar", "1")])
    assert newer.edition == EDITION_NEWER.code
    for result in newer.sources:
        assert result.edition == EDITION_NEWER.code
        assert {p.edition for p in result.parameters} == {EDITION_NEWER.code}
    assert newer.source("f").parameter("NCV").value == D("28.435")
    # A code the 2015 edition does not hold is refused, naming where it lives — never borrowed.
    with pytest.raises(ParameterNotFoundError, match="MEE-steel-guideline-newer"):
        EDITION_2015.parameter("fixed.tar.ef")
    with pytest.raises(ParameterNotFoundError):
        account(EDITION_2015, 2024, [one(C.FIXED_CARBON, "tar", "1")])
    # The newer set defines only its own fuels: diesel is not silently taken from the 2013 table.
    with pytest.raises(ParameterNotFoundError, match=r"fuel\.diesel\.ncv"):
        account(EDITION_NEWER, 2024, [fuel("d", "diesel", "1", "t")])
    with pytest.raises(EditionMismatchError, match="does not cover data year 2023"):
        account(EDITION_NEWER, 2023, [fuel("f", "coke", "1", "t")])


def test_the_two_fixed_carbon_versions_differ() -> None:
    assert EDITION_2015.parameter("fixed.crude_steel.ef").value == D("0.0154")
    newer = EDITION_NEWER.parameter("fixed.crude_steel.ef")
    assert newer.value == D("0.037") and newer.confidence == Confidence.UNVERIFIED


# --- grid factors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "kind", "region", "value"),
    [
        (2020, GridFactorKind.ETS_PRESCRIBED, "national", "0.6101"),
        (2021, GridFactorKind.ETS_PRESCRIBED, "national", "0.5810"),
        (2022, GridFactorKind.ETS_PRESCRIBED, "national", "0.5703"),
        (2024, GridFactorKind.ETS_PRESCRIBED, "national", "0.5703"),
        (2021, GridFactorKind.OFFICIAL_AVERAGE, "national", "0.5568"),
        (2022, GridFactorKind.OFFICIAL_AVERAGE, "national", "0.5366"),
        (2022, GridFactorKind.OFFICIAL_AVERAGE, "north", "0.6776"),
        (2022, GridFactorKind.OFFICIAL_AVERAGE, "southwest", "0.2268"),
        (2023, GridFactorKind.OFFICIAL_AVERAGE, "national", "0.5306"),
    ],
)
def test_grid_factor_lookup(year: int, kind: GridFactorKind, region: str, value: str) -> None:
    factor = grid_factor(year, kind, region)
    assert (factor.value, factor.kind, factor.region) == (D(value), kind, region)
    assert factor.first_year <= year <= factor.last_year


def test_grid_factor_missing_and_kind_in_result() -> None:
    with pytest.raises(GridFactorNotFoundError, match="official_average"):
        grid_factor(2019, GridFactorKind.OFFICIAL_AVERAGE)
    power = {"purchased": q("100", "MWh"), "exported": q("0", "MWh")}
    result = account(
        EDITION_2015,
        2022,
        [
            SourceActivity(
                "p", "aux", C.ELECTRICITY, power, grid_kind=GridFactorKind.OFFICIAL_AVERAGE, grid_region="east"
            )
        ],
    )
    ef = result.source("p").parameter("EF")
    assert ef.code == "grid.official_average.east.2022" and ef.value == D("0.5617")
    assert result.totals.electricity == D("56.1700")


# --- the safe formula parser --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "refused"),
    [
        ("__import__('os')", "function calls"),
        ("a.b", "attribute access"),
        ("a ** 2", "power"),
        ("f(x)", "function calls"),
        ("a[0]", "subscripts"),
        ("a < b", "comparisons"),
        ("lambda: 1", "lambda"),
        ("a // b", "floor division"),
        ("'text'", "only numbers"),
        ("a if b else c", "conditional"),
        ("0x10 * a", "decimal"),
        ("(x := 3)", "assignment"),
    ],
)
def test_parser_refuses(expression: str, refused: str) -> None:
    with pytest.raises(FormulaError, match=refused):
        parse_expression(expression)


def test_formula_evaluates_exactly_with_trace() -> None:
    formula = Formula(
        "t.net",
        "1",
        "(purchased - exported) * EF + -0.1",
        {"purchased": "MWh", "exported": "MWh", "EF": "tCO2/MWh"},
        "tCO2",
    )
    evaluation = formula.evaluate({"purchased": D("0.3"), "exported": D("0.1"), "EF": D("0.5")})
    assert evaluation.value == D("0.0")  # 0.2 × 0.5 − 0.1, exactly: no binary float anywhere
    assert [(t.name, t.value, t.unit) for t in evaluation.inputs] == [
        ("EF", D("0.5"), "tCO2/MWh"),
        ("exported", D("0.1"), "MWh"),
        ("purchased", D("0.3"), "MWh"),
    ]


def test_formula_names_must_match_inputs() -> None:
    with pytest.raises(FormulaError, match="b used in"):
        Formula("t", "1", "a * b", {"a": "t"}, "t")
    with pytest.raises(FormulaError, match="not used"):
        Formula("t", "1", "a", {"a": "t", "b": "t"}, "t")
    formula = Formula("t", "1", "a / b", {"a": "t", "b": "t"}, "1")
    with pytest.raises(FormulaError, match="needs b"):
        formula.evaluate({"a": D(1)})
    with pytest.raises(FormulaError, match="no input named c"):
        formula.evaluate({"a": D(1), "b": D(1), "c": D(1)})
    with pytest.raises(FormulaError, match="division by zero"):
        formula.evaluate({"a": D(1), "b": D(0)})
