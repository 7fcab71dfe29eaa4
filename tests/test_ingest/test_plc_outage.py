"""A PLC outage on real parts (simulated plant -> `cem gateway run` -> Mosquitto -> `cem ingest` -> PostgreSQL, the
alarm rules evaluated as the periodic job does): one alarm for the lost PLC, listing its meters by name, and no data
alarm of its own for any of them; when the PLC is back, the alarm clears and keeps the list."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from cem_gateway.simulator import run_plant
from cem_platform.alarms.rules import evaluate
from cem_platform.identity.principal import Principal
from cem_platform.settings import Settings
from cem_platform.sysconfig.services import set_value
from tests.test_gateway.harness import GATEWAY_SECTION, gateway_identity, start
from tests.test_ingest.mqtt_rig import ingest_rig
from tests.test_ingest.test_end_to_end import _eventually, plant_points
from tests.test_platform.world import World


@pytest.mark.slow
async def test_a_lost_plc_is_one_alarm_with_its_meters_listed(
    app: object, world: World, settings: Settings, tmp_path: Path
) -> None:
    points = await plant_points(world)  # read every second
    await set_value(settings, Principal.system(), "alarm.gap_intervals", 3)  # a gap after 3 s without readings
    crew = await world.login("a-crew")

    async def open_alarms(kind: str) -> list[dict[str, Any]]:
        response = await world.client.get("/api/v1/alarms", params={"kind": kind, "state": "open"}, headers=crew)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    async with ingest_rig(settings, tmp_path) as rig, run_plant(host="127.0.0.1", update_s=0.5) as plant:
        device = await gateway_identity(world, tmp_path / "identity", rig.broker.port)
        ingest = await rig.ingest()
        text = plant.point_map()
        behind = set(re.findall(r'id = "([^"]+)"\nconnection = "rolling-plc"', text))
        assert behind and behind < {p.code for p in points}
        config = tmp_path / "gateway.toml"
        config.write_text(GATEWAY_SECTION + text)
        gateway = start(["gateway", "run", "--config", str(config)], tmp_path / "gateway.log", tmp_path)
        rig.processes.append(gateway)
        logs = [gateway, ingest]
        await gateway.wait_for_line(f"gateway running as {device}", timeout=60)
        ids = ",".join(str(p.id) for p in points)

        async def all_values() -> bool:
            response = await world.client.get("/api/v1/points/latest", params={"ids": ids}, headers=crew)
            return all(p["value"] is not None for p in response.json()["points"])

        await _eventually(all_values, 60, "a value of every point", logs)
        await evaluate(settings)  # all delivering: nothing to say
        assert await open_alarms("data_gap") == []

        await plant.inject("comm_loss", "rolling-plc", seconds=25)

        async def outage_with_its_meters() -> dict[str, Any] | None:
            await evaluate(settings)  # the periodic job, run here every quarter second
            found = [a for a in await open_alarms("meter_comm") if a["cause"].endswith(":rolling-plc")]
            if found and {c["point_code"] for c in found[0]["consequences"]} == behind:
                return found[0]
            return None

        outage = await _eventually(outage_with_its_meters, 30, "the PLC's alarm listing its meters", logs)
        await asyncio.sleep(3)  # three more gap windows: still no meter raises its own
        await evaluate(settings)
        names = {p.code: p.name for p in points}
        assert sorted(c["point_name"] for c in outage["consequences"]) == sorted(names[code] for code in behind)
        assert outage["names"]["connection"] == "rolling-plc" and outage["names"]["process"]
        gaps = await open_alarms("data_gap")
        assert all(g["root_id"] == outage["id"] for g in gaps), gaps  # none on its own
        everything = (await world.client.get("/api/v1/alarms", params={"state": "open"}, headers=crew)).json()
        # (the test terminal's short-lived certificate has an alarm of its own: not about data)
        data = {"data_gap", "data_completeness", "meter_stuck", "meter_comm"}
        alone = [(a["kind"], a["subject_id"]) for a in everything if a["root_id"] is None and a["kind"] in data]
        assert alone == [("meter_comm", device)], everything  # one alarm for the outage

        # the PLC is back: the alarm clears and keeps its list; the meters deliver again, no gap is left
        async def over() -> bool:
            await evaluate(settings)
            response = await world.client.get(f"/api/v1/alarms/{outage['id']}", headers=crew)
            cleared = response.json()
            return cleared["state"] == "cleared" and not await open_alarms("data_gap")

        await _eventually(over, 60, "the PLC's alarm cleared and no meter without data", logs)
        kept = (await world.client.get(f"/api/v1/alarms/{outage['id']}", headers=crew)).json()
        assert {c["point_code"] for c in kept["consequences"]} == behind
