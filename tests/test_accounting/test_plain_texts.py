"""What people read from the accounting API: one period asked for by its start, hints that name real points,
and default factors whose provenance cites the standard and says plainly what awaits confirmation."""

from __future__ import annotations

from tests.test_accounting.test_api import API, VALUES, YEAR, build_inventory, close
from tests.test_platform.world import World


async def test_one_period_needs_only_its_start(world: World) -> None:
    headers = await world.login("a-accountant")
    ids = await build_inventory(world, headers)
    for code, input_name, value, unit in VALUES:
        body = {"source_id": ids[code], "input": input_name, "value": value, "unit": unit, **YEAR}
        assert (await world.client.post(f"{API}/activity", headers=headers, json=body)).status_code == 201
    base = {"scope": "enterprise", "id": world.a.enterprise.id, "period": "month"}
    [alone] = (await world.client.get("/api/v1/emissions", headers=headers, params=base | {"from": "2024-03"})).json()[
        "results"
    ]
    both = {"from": "2024-03", "to": "2024-04"}
    [ranged] = (await world.client.get("/api/v1/emissions", headers=headers, params=base | both)).json()["results"]
    assert alone["result_id"] == ranged["result_id"] and alone["period_start"] == ranged["period_start"]
    assert alone["period_start"].startswith("2024-02-29T16:00:00") and alone["period_end"].startswith("2024-03-31T16")
    # A day inside the month means that month; a year asked by its start is the whole year.
    [inside] = (
        await world.client.get("/api/v1/emissions", headers=headers, params=base | {"from": "2024-03-15"})
    ).json()["results"]
    assert inside["result_id"] == alone["result_id"]
    year = base | {"period": "year", "from": "2024"}
    refused = await world.client.get("/api/v1/emissions", headers=headers, params=year)
    assert refused.status_code == 400 and "2024" in refused.json()["error"]["message"]  # a bare year is no date
    [whole] = (
        await world.client.get("/api/v1/emissions", headers=headers, params=year | {"from": "2024-01-01"})
    ).json()["results"]
    assert close(whole["net"], "1981845.1825")
    # Recalculation takes one period the same way.
    recalculated = await world.client.post(
        "/api/v1/emissions/recalculate",
        headers=headers,
        json={"enterprise_id": world.a.enterprise.id, "period": "month", "from": "2024-03", "reason": "check"},
    )
    assert recalculated.status_code == 200, recalculated.text
    assert [r["period_start"] for r in recalculated.json()] == [alone["period_start"]]


async def test_latest_values_hint_names_points_that_exist(world: World) -> None:
    headers = await world.login("a-crew")
    response = await world.client.get("/api/v1/points/latest", headers=headers)
    assert response.status_code == 400
    hint = response.json()["error"]["hint"]
    assert world.a.point.code in hint and f"ids={world.a.point.id}" in hint, hint
    assert "GET /api/v1/org/points" in hint
    assert world.b.point.code not in hint  # another enterprise's point is not named to this crew
