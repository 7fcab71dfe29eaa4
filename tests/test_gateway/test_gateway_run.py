"""`cem gateway run` against the simulator's Modbus and OPC UA servers and a real mTLS Mosquitto.

The plant runs in the test process on a fixed clock, so every value it serves is known exactly: the
readings that arrive must carry those values, in the point map's units, from both protocols.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from cem_gateway.pointmap import load_point_map
from cem_gateway.simulator import run_plant
from cem_platform.settings import Settings
from tests.test_gateway.harness import (
    CEM,
    GATEWAY_SECTION,
    Collector,
    gateway_identity,
    ingest_files,
    start,
    stopping,
    wait_until,
)
from tests.test_platform.world import World
from tests.test_registry.broker import running_broker

T0 = 1_764_043_200.0  # a Tuesday morning shift, 2025-11-25 04:00 UTC


@pytest.mark.slow
async def test_modbus_and_opcua_readings_arrive_with_their_values_and_units(
    app: object, world: World, settings: Settings, tmp_path: Path
) -> None:
    async with running_broker(settings) as broker, run_plant(host="127.0.0.1", clock=lambda: T0) as plant:
        device = await gateway_identity(world, tmp_path / "identity", broker.port)
        collector = Collector(broker.port, await ingest_files(settings, tmp_path / "ingest"))
        collector.start()
        config = tmp_path / "gateway.toml"
        config.write_text(GATEWAY_SECTION + plant.point_map())
        point_map = load_point_map(config)
        protocols = {point.id: point_map.connections[point.connection].protocol for point in point_map.points}
        assert set(protocols.values()) == {"modbus", "opcua"}
        gateway = start(["gateway", "run", "--config", str(config)], tmp_path / "gateway.log", tmp_path)
        with stopping([gateway]):
            await gateway.wait_for_line(f"gateway running as {device}")

            def everything_arrived() -> bool:
                return {reading.point for _, reading in collector.telemetry(device)} >= set(protocols)

            await wait_until(everything_arrived, 30, "a reading of every point")

            def polled_everywhere() -> bool:  # a heartbeat sent after every connection's first good poll
                online = [s for s in collector.statuses(device) if s.state == "online"]
                return len(online) >= 2 and all(c.last_good_poll and c.polls > 0 for c in online[-1].connections)

            # the last heartbeat before the readings arrived may predate a connection's first good poll
            await wait_until(polled_everywhere, 10, "a heartbeat with every connection polled")
            assert gateway.stop(signal.SIGTERM) == 0
        await wait_until(lambda: collector.statuses(device)[-1].state == "offline", 10, "the offline status")
        collector.stop()

    expected = plant.values()
    units = {point.id: point.unit for point in point_map.points}
    for _, reading in collector.telemetry(device):
        assert reading.unit == units[reading.point]
        assert isinstance(reading.value, float)
        float32 = next(p for p in point_map.points if p.id == reading.point).type == "float32"
        tolerance = 1e-6 if float32 or protocols[reading.point] == "opcua" else 1e-12
        assert reading.value == pytest.approx(expected[reading.point], rel=tolerance), reading.point
        assert not reading.estimated

    heartbeat = next(s for s in reversed(collector.statuses(device)) if s.state == "online")
    assert heartbeat.firmware and heartbeat.heartbeat_s == 1
    assert {c.name: c.connected for c in heartbeat.connections} == dict.fromkeys(point_map.connections, True)
    assert all(c.last_good_poll and c.polls > 0 and c.errors == 0 for c in heartbeat.connections)
    assert heartbeat.buffer is not None and heartbeat.buffer.capacity == 2_000_000
    final = collector.statuses(device)[-1]
    assert (final.state, final.reason) == ("offline", "stopped")


def test_a_bad_point_map_is_refused_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[[connections]]\nname = "plc"\nprotocol = "modbus"\nhost = "10.0.0.5"\n\n'
        '[[points]]\nid = "IR.BF1.COKE"\nconnection = "plc"\nunit = "t"\nkind = "totaliser"\n'
        'address = 100\ntype = "real"\n'
    )
    check = subprocess.run(
        [*CEM, "gateway", "check", "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 1
    assert f"{config}:12: point 'IR.BF1.COKE': type = 'real' is not allowed; use one of int16" in check.stderr
    run = subprocess.run([*CEM, "gateway", "run", "--config", str(config)], capture_output=True, text=True, check=False)
    assert run.returncode == 1 and ":12:" in run.stderr
    config.write_text(config.read_text().replace('"real"', '"float64"'))
    check = subprocess.run(
        [*CEM, "gateway", "check", "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0 and "1 points on 1 connections (modbus)" in check.stdout
    run = subprocess.run([*CEM, "gateway", "run", "--config", str(config)], capture_output=True, text=True, check=False)
    assert run.returncode == 1 and "no [gateway] section" in run.stderr
