"""The whole chain on real parts: simulated plant -> `cem gateway run` -> Mosquitto (mTLS) -> `cem ingest` ->
PostgreSQL -> REST API, with the plant's faults showing up as the platform's alarms and clearing again."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cem_gateway.simulator import run_plant
from cem_platform.identity.principal import Principal
from cem_platform.org.models import MeasurementPoint
from cem_platform.seed import PLANT
from cem_platform.settings import Settings
from cem_platform.sysconfig.services import set_value
from cem_platform.telemetry.models import DeadLetter
from tests.test_gateway.harness import GATEWAY_SECTION, Process, gateway_identity, start
from tests.test_ingest.mqtt_rig import ingest_rig
from tests.test_platform.world import World


async def plant_points(world: World) -> list[MeasurementPoint]:
    """The simulated works' 60 meters as points of enterprise A (codes, units and kinds of the demo seed)."""
    return [
        await MeasurementPoint.create(
            facility=world.a.facility,
            enterprise=world.a.enterprise,
            code=code,
            name=name,
            medium=medium,
            quantity=quantity,
            unit=unit,
            kind=kind,
            sample_seconds=1,
        )
        for _, _, _, facilities in PLANT
        for _, _, _, points in facilities
        for code, name, medium, quantity, unit, kind in points
    ]


async def _eventually(check: Callable[[], Awaitable[Any]], timeout: float, what: str, logs: list[Process]) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.log.name}\n{p.output()[-2500:]}" for p in logs)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        await asyncio.sleep(0.25)


@pytest.mark.slow
async def test_plant_to_api_with_faults_raised_and_cleared_as_alarms(
    app: object, world: World, settings: Settings, tmp_path: Path
) -> None:
    points = await plant_points(world)
    await set_value(settings, Principal.system(), "alarm.out_of_range_drops_per_hour", 1)
    crew = await world.login("a-crew")

    async def alarms(kind: str, state: str = "open") -> list[dict[str, Any]]:
        response = await world.client.get("/api/v1/alarms", params={"kind": kind, "state": state}, headers=crew)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    async def about(kind: str, subject: str, state: str = "open") -> list[dict[str, Any]]:
        """Alarms of ``kind`` whose cause names ``subject`` (a connection or a meter)."""
        return [a for a in await alarms(kind, state) if a["cause"].endswith(f":{subject}")]

    async with ingest_rig(settings, tmp_path) as rig, run_plant(host="127.0.0.1", update_s=0.5) as plant:
        device = await gateway_identity(world, tmp_path / "identity", rig.broker.port)
        admin = await world.login("a-device-admin", steps_ahead=1)  # the current code was used just now
        ingest = await rig.ingest()
        config = tmp_path / "gateway.toml"
        # the coke flow meter counts as stuck after 3 s here (the plant's map says 120 s)
        text = plant.point_map()
        block = re.search(r'id = "IR.BF1.COKE.FLOW"\n(?:[^\[]*\n)', text)
        assert block
        config.write_text(
            GATEWAY_SECTION + text.replace(block.group(0), re.sub(r"stuck_s = \S+", "stuck_s = 3", block.group(0)))
        )
        gateway = start(["gateway", "run", "--config", str(config)], tmp_path / "gateway.log", tmp_path)
        rig.processes.append(gateway)
        logs = [gateway, ingest]
        await gateway.wait_for_line(f"gateway running as {device}", timeout=60)

        # every meter of the plant reaches the API, with the map's unit; the terminal is active and online
        ids = ",".join(str(p.id) for p in points)

        async def all_values() -> dict[str, Any] | None:
            response = await world.client.get("/api/v1/points/latest", params={"ids": ids}, headers=crew)
            assert response.status_code == 200, response.text
            latest = response.json()["points"]
            return {p["code"]: p for p in latest} if all(p["value"] is not None for p in latest) else None

        latest = await _eventually(all_values, 60, "a value of every point", logs)
        assert {code: p["unit"] for code, p in latest.items()} == {p.code: p.unit for p in points}
        statuses = (await world.client.get("/api/v1/ingest/status", headers=admin)).json()
        assert [(s["device_id"], s["state"]) for s in statuses] == [(device, "online")]
        device_out = (await world.client.get(f"/api/v1/registry/devices/{device}", headers=admin)).json()
        assert device_out["state"] == "active"

        # a stuck meter, a spike and a lost PLC: each becomes the platform's alarm...
        await plant.inject("stuck", "IR.BF1.COKE.FLOW", seconds=8)
        await plant.inject("spike", "IR.BF1.PCI.FLOW", factor=10, seconds=1.0)  # one poll at least sees it
        await plant.inject("comm_loss", "rolling-plc", seconds=6)
        stuck = await _eventually(lambda: alarms("meter_stuck"), 30, "a meter_stuck alarm", logs)
        assert stuck[0]["subject_id"].endswith("IR.BF1.COKE.FLOW") or "IR.BF1.COKE.FLOW" in stuck[0]["cause"]
        await _eventually(lambda: about("meter_comm", "rolling-plc"), 30, "a meter_comm alarm for the lost PLC", logs)
        # the tenfold spike is beyond the meter's range: the gateway drops it, the platform raises it
        await _eventually(lambda: alarms("meter_out_of_range"), 30, "an out-of-range alarm", logs)
        # ...and clears once the gateway reports the meter moving and the PLC back
        await _eventually(
            lambda: about("meter_stuck", "IR.BF1.COKE.FLOW", "cleared"), 40, "the stuck alarm cleared", logs
        )
        await _eventually(lambda: about("meter_comm", "rolling-plc", "cleared"), 40, "the comm alarm cleared", logs)
        assert await about("meter_stuck", "IR.BF1.COKE.FLOW") == [] and await about("meter_comm", "rolling-plc") == []

        # the gateway dies: the broker publishes its last will, the platform raises 'offline'; back: cleared
        gateway.stop(signal.SIGKILL)
        offline = await _eventually(lambda: alarms("device_offline"), 60, "an offline alarm from the last will", logs)
        assert offline[0]["severity"] == "major" and offline[0]["subject_id"] == device
        gateway = start(["gateway", "run", "--config", str(config)], tmp_path / "gateway.log", tmp_path)
        rig.processes.append(gateway)
        await _eventually(lambda: alarms("device_offline", "cleared"), 60, "the offline alarm cleared", logs)

        # an alarm is acknowledged and its history kept
        spike = (await alarms("meter_out_of_range"))[0]
        ack = await world.client.post(
            f"/api/v1/alarms/{spike['id']}/acknowledge", json={"note": "checked the PCI flow meter"}, headers=crew
        )
        assert ack.status_code == 200, ack.text
        detail = (await world.client.get(f"/api/v1/alarms/{spike['id']}", headers=crew)).json()
        assert [e["action"] for e in detail["events"]][:1] == ["raised"] and detail["state"] == "acknowledged"
    assert await DeadLetter.all().count() == 0
