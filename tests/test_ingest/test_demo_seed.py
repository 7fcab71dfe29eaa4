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
