"""Meter and communication faults from the simulator, as the gateway's edge checks see them.

The plant runs in the test process on the wall clock; the gateway runs as `cem gateway run`. Faults are
injected through the simulator's API: a stuck meter, a spike, a totaliser preset near its wrap, and a
PLC that stops answering. What arrives at the subscriber must show each one.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from cem_gateway.simulator import run_plant
from cem_platform.settings import Settings
from tests.test_gateway.harness import (
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


@pytest.mark.slow
async def test_stuck_meter_spike_rollover_and_lost_plc_show_up_as_they_should(
    app: object, world: World, settings: Settings, tmp_path: Path
) -> None:
    async with running_broker(settings) as broker, run_plant(host="127.0.0.1", update_s=0.5) as plant:
        device = await gateway_identity(world, tmp_path / "identity", broker.port)
        collector = Collector(broker.port, await ingest_files(settings, tmp_path / "ingest"))
        collector.start()
        config = tmp_path / "gateway.toml"
        # the coke flow meter counts as stuck after 3 s here (the plant's map says 120 s)
        text = plant.point_map()
        block = re.search(r'id = "IR.BF1.COKE.FLOW"\n(?:[^\[]*\n)', text)
        assert block
        text = text.replace(block.group(0), re.sub(r"stuck_s = \S+", "stuck_s = 3", block.group(0)))
        config.write_text(GATEWAY_SECTION + text)
        gateway = start(["gateway", "run", "--config", str(config)], tmp_path / "gateway.log", tmp_path)
        with stopping([gateway]):
            await gateway.wait_for_line(f"gateway running as {device}")
            await wait_until(lambda: len(collector.telemetry(device)) > 100, 30, "first readings")
            await plant.inject("stuck", "IR.BF1.COKE.FLOW", seconds=8)
            await plant.inject("spike", "IR.BF1.PCI.FLOW", factor=10)
            await plant.inject("rollover", "EAF.EF1.POWER", seconds=4)
            await plant.inject("comm_loss", "rolling-plc", seconds=4)

            def lost_plc_seen() -> bool:
                states = [c for s in collector.statuses(device) for c in s.connections if c.name == "rolling-plc"]
                return any(not c.connected for c in states)

            await wait_until(lost_plc_seen, 15, "the lost PLC in the status")
            await asyncio.sleep(10)
        collector.stop()

    readings = [reading for _, reading in collector.telemetry(device)]
    statuses = collector.statuses(device)
    alarms = {(a.code, a.subject) for s in statuses for a in s.alarms}

    # stuck: kept, flagged uncertain, and an alarm names the meter
    coke = [r for r in readings if r.point == "IR.BF1.COKE.FLOW"]
    assert any(r.quality == "uncertain" and "stuck" in r.flags for r in coke)
    assert ("meter_stuck", "IR.BF1.COKE.FLOW") in alarms
    assert coke[-1].flags == ()  # it moves again after the fault

    # spike: never forwarded, counted
    pci = sorted(r.value for r in readings if r.point == "IR.BF1.PCI.FLOW")
    median = pci[len(pci) // 2]
    assert max(pci) < 3 * median
    last = statuses[-1] if statuses[-1].state == "online" else statuses[-2]
    assert last.dropped.get("out_of_range", 0) + last.dropped.get("rate_of_change", 0) >= 1, last.dropped

    # the counter preset near 2^32 is a jump without a delta; the wrap after it carries the true increase
    power = sorted((r for r in readings if r.point == "EAF.EF1.POWER"), key=lambda r: r.ts)
    jump = next(r for r in power if "step" in r.flags)
    assert jump.delta is None and jump.quality == "uncertain"
    wrap = next(r for r in power if "rollover" in r.flags)
    assert wrap.ts > jump.ts and wrap.delta is not None and 0 <= wrap.delta < 30 * (wrap.ts - (wrap.since or 0)) / 1000
    assert all(r.delta is None or r.delta < 1000 for r in power)

    # the lost PLC: an alarm while down, a reconnect after, and its readings resume
    assert ("connection_down", "rolling-plc") in alarms
    rolling = next(c for c in last.connections if c.name == "rolling-plc")
    assert rolling.connected and rolling.reconnects >= 1 and rolling.errors >= 1
    down = min(s.ts for s in statuses for c in s.connections if c.name == "rolling-plc" and not c.connected)
    assert any(r.point.startswith("HR.RF1.") and r.ts > down + 2000 for r in readings)


@pytest.mark.slow
async def test_a_full_buffer_evicts_the_oldest_says_so_and_counts_every_reading(
    app: object, world: World, settings: Settings, tmp_path: Path
) -> None:
    async with running_broker(settings) as broker, run_plant(host="127.0.0.1") as plant:
        device = await gateway_identity(world, tmp_path / "identity", broker.port)
        collector = Collector(broker.port, await ingest_files(settings, tmp_path / "ingest"))
        collector.start()
        broker.stop()  # the gateway starts during an outage
        config = tmp_path / "gateway.toml"
        small = GATEWAY_SECTION.replace("heartbeat_s = 1", "heartbeat_s = 1\nbuffer_max_readings = 150")
        config.write_text(small + plant.point_map())
        gateway = start(["gateway", "run", "--config", str(config)], tmp_path / "gateway.log", tmp_path)
        with stopping([gateway]):
            await gateway.wait_for_line("buffer full (policy drop_oldest)", timeout=30)
            await asyncio.sleep(2)
            await broker.start()
            await wait_until(
                lambda: any(s.buffer and s.buffer.evicted for s in collector.statuses(device)), 30, "status"
            )
            first = next(s for s in collector.statuses(device) if s.buffer and s.buffer.evicted)
            await asyncio.sleep(3)
        collector.stop()

    alarm = next(a for a in first.alarms if a.code == "buffer_full")
    assert alarm.severity == "critical" and "drop_oldest" in alarm.message
    assert first.buffer is not None and first.buffer.depth <= 150
    seqs = sorted({reading.seq for _, reading in collector.telemetry(device)})
    # the oldest were evicted, and exactly as many as the status says; the rest arrived without a hole
    final = collector.statuses(device)[-1]
    assert final.buffer is not None
    assert seqs[0] > 1 and seqs == list(range(seqs[0], seqs[-1] + 1))
    assert final.buffer.evicted >= seqs[0] - 1 >= first.buffer.evicted
