"""The demo's seeded meters match the simulated plant, so the demo gateway's readings are all accepted."""

from __future__ import annotations

from cem_gateway.simulator.model import load_config
from cem_platform.seed import PLANT


def test_every_simulated_meter_is_a_seeded_point_with_its_unit_and_kind() -> None:
    seeded = {p[0]: p for _, _, _, facilities in PLANT for _, _, _, points in facilities for p in points}
    plant = load_config()
    assert {p.id for p in plant.points} == set(seeded)
    for point in plant.points:
        _, _, _, _, unit, kind = seeded[point.id]
        assert (unit, kind) == (point.unit, point.kind), point.id


def test_the_demo_ledgers_of_two_months_alike_in_weekdays_differ_in_every_figure() -> None:
    """2026-01 and 2026-10 both start on a Thursday and have 31 days: over a week-periodic plant their ledgers
    were equal to the cent; the production plan makes every month its own."""
    import datetime as dt
    import zoneinfo

    from cem_platform.accounting.demo import ledger_csv

    zone = zoneinfo.ZoneInfo("Asia/Shanghai")

    def figures(year: int, month: int) -> list[str]:
        start = dt.datetime(year, month, 1, tzinfo=zone)
        end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
        rows = ledger_csv(start, end, zone).decode("utf-8-sig").splitlines()[1:]
        return [row.split(",")[4] for row in rows]

    january, october = figures(2026, 1), figures(2026, 10)
    assert len(january) == len(october) > 10
    for a, b in zip(january, october, strict=True):
        assert a == b == "0" or a != b, (a, b)
