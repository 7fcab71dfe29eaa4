"""The statistics' arithmetic on its own: shares that add up to 100.00 %, parts that add up to the total."""

from __future__ import annotations

from decimal import Decimal

from cem_platform.statistics.services import UNALLOCATED, _settled, shares


def test_shares_add_up_to_exactly_100_also_with_a_deduction() -> None:
    thirds = shares({"a": Decimal(1), "b": Decimal(1), "c": Decimal(1)})
    assert sorted(thirds.values()) == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    signed = shares({"combustion": Decimal("900.004"), "process": Decimal("100.003"), "fixed_carbon": Decimal(-7)})
    assert sum(v for v in signed.values() if v is not None) == Decimal("100.00")
    assert signed["fixed_carbon"] == Decimal("-0.70")
    assert shares({"a": Decimal(1), "b": Decimal(-1)}) == {"a": None, "b": None}  # a zero total has no shares


def test_a_rounding_residue_is_not_called_unallocated() -> None:
    # the enterprise's net is kept to 10 places, its processes' figures to 28 significant digits
    parts = _settled({"IR": Decimal("4149.357649249999999999999996")}, Decimal("4149.3576492500"))
    assert parts == {"IR": Decimal("4149.3576492500")}
    parts = _settled({"IR": Decimal(100), UNALLOCATED: Decimal(5)}, Decimal(120))
    assert parts == {"IR": Decimal(100), UNALLOCATED: Decimal(20)}  # a real gap stays in sight
