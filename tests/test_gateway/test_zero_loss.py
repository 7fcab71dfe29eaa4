"""Nothing is lost: the simulator runs, the broker goes away and comes back, the gateway is killed -9.

Real processes throughout: the plant simulator (Modbus TCP + OPC UA servers), `cem gateway run` with an
enrolled certificate, Mosquitto with the generated mTLS configuration, and an ingest-side subscriber
with a persistent session. Every reading the gateway took must arrive, none twice under two numbers,
none altered, and the totaliser deltas must chain without a hole.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from cem_gateway.pointmap import PointMap, load_point_map
from cem_platform.settings import Settings
from tests.test_gateway.harness import (
    Collector,
    Process,
    by_seq,
    gateway_identity,
    ingest_files,
    start,
    stopping,
    wait_until,
)
from tests.test_platform.world import World
from tests.test_registry.broker import Broker, running_broker

GATEWAY = """\
[gateway]
identity_dir = "identity"
buffer_path = "buffer.sqlite3"
batch_max = 40
inflight = 2
confirm_timeout_s = 3
heartbeat_s = 1

"""


def _stored_seqs(buffer: Path) -> tuple[int, set[int]]:
    """(last sequence number given out, numbers still waiting in the buffer), read beside the running gateway."""
    with sqlite3.connect(f"file:{buffer}?mode=ro", uri=True) as db:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'reading'").fetchone()
        waiting = {seq for (seq,) in db.execute("SELECT seq FROM reading")}
    return (row[0] if row else 0), waiting


async def start_simulator(directory: Path) -> tuple[Process, Path]:
    """`cem simulate plant` on free ports; returns the process and the point map it wrote."""
    point_map = directory / "plant-map.toml"
    simulator = start(
        ["simulate", "plant", "--host", "127.0.0.1", "--port-base", "0", "--seed", "7", "--point-map", str(point_map)],
        directory / "simulator.log",
        directory,
    )
    await simulator.wait_for_line("simulator ready", timeout=60)
    return simulator, point_map


@dataclass
class Launched:
    """The ingest-side collector, the simulator and the gateway running against a broker, and the gateway's files."""

    device: str
    collector: Collector
    simulator: Process
    gateway: Process
    work: Path
    config: Path
    points: PointMap
    buffer: Path
    log: Path


async def launch(world: World, settings: Settings, tmp_path: Path, broker: Broker) -> Launched:
    """An enrolled gateway, a collector with a fresh session, the simulator, then `cem gateway run`."""
    work = tmp_path / "gateway"
    work.mkdir()
    device = await gateway_identity(world, work / "identity", broker.port)
    collector = Collector(broker.port, await ingest_files(settings, tmp_path / "ingest"))
    collector.start()
    simulator, plant_map = await start_simulator(tmp_path)
    config = work / "gateway.toml"
    config.write_text(GATEWAY + plant_map.read_text())
    log = work / "gateway.log"
    gateway = start(["gateway", "run", "--config", str(config)], log, work)
    return Launched(
        device, collector, simulator, gateway, work, config, load_point_map(config), work / "buffer.sqlite3", log
    )


@pytest.mark.slow
async def test_every_reading_arrives_once_across_a_broker_outage_and_a_killed_gateway(
    app: object, world: World, settings: Settings, tmp_path: Path
) -> None:
    async with running_broker(settings) as broker:
        run = await launch(world, settings, tmp_path, broker)
        device, collector, simulator, gateway = run.device, run.collector, run.simulator, run.gateway
        config, points, buffer, log, work = run.config, run.points, run.buffer, run.log, run.work
        with stopping(started := [simulator, gateway]):
            await gateway.wait_for_line(f"gateway running as {device}")
            await wait_until(lambda: len(collector.seqs(device)) >= 3 * len(points.points), 30, "first readings")

            # the broker goes away for a while: the gateway keeps polling into its buffer
            broker.stop()
            before = _stored_seqs(buffer)[0]
            await wait_until(lambda: _stored_seqs(buffer)[0] >= before + 3 * len(points.points), 30, "polling on")
            await broker.start()
            await wait_until(lambda: max(collector.seqs(device)) > _stored_seqs(buffer)[0] - 5, 60, "catch-up")

            # the gateway dies without a chance to clean up, and starts again on the same buffer
            await asyncio.sleep(1.5)
            gateway.stop(signal.SIGKILL)

            def last_will() -> bool:
                return any(s.state == "offline" and s.reason == "connection lost" for s in collector.statuses(device))

            await wait_until(last_will, 30, "the broker to publish the gateway's last will")
            gateway = start(["gateway", "run", "--config", str(config)], log, work)
            started.append(gateway)
            await gateway.wait_for_line("readings waiting in the buffer", timeout=30)
            await asyncio.sleep(2)

            # both at once: killed while the broker is away, so unsent readings are in the buffer at the kill
            broker.stop()
            before = _stored_seqs(buffer)[0]
            await wait_until(lambda: _stored_seqs(buffer)[0] >= before + 2 * len(points.points), 30, "polling on")
            gateway.stop(signal.SIGKILL)
            killed_at = _stored_seqs(buffer)
            assert len(killed_at[1]) >= 2 * len(points.points), "unsent readings should wait in the buffer"
            await broker.start()
            gateway = start(["gateway", "run", "--config", str(config)], log, work)
            started.append(gateway)
            await gateway.wait_for_line(f"{len(killed_at[1])} readings waiting in the buffer", timeout=30)

            def drained() -> bool:
                last, waiting = _stored_seqs(buffer)
                return last > killed_at[0] + len(points.points) and set(range(1, last + 1)) - waiting <= collector.seqs(
                    device
                )

            await wait_until(drained, 60, "everything stored to arrive")
            # the plant stops: the gateway reads nothing new, and its buffer empties as confirmations come
            simulator.stop()
            await wait_until(lambda: not _stored_seqs(buffer)[1], 60, "every reading to be confirmed")
            assert gateway.stop() == 0
        last, waiting = _stored_seqs(buffer)
        await asyncio.sleep(1)
        collector.stop()

    received = collector.telemetry(device)
    grouped = by_seq(received)
    # every number given out arrived, and the gateway let go of each only once it was confirmed: nothing waits
    # and nothing is lost (a reading in flight at a stop stays in the buffer until confirmed, so the end is exact)
    assert waiting == set()
    assert set(grouped) == set(range(1, last + 1)), "sequence numbers missing"
    # a reading sent twice (lost acknowledgement) is the same reading: the receiver keeps one
    for seq, copies in grouped.items():
        assert all(copy == copies[0] for copy in copies), f"seq {seq} arrived with different contents"
    unique = [copies[0] for copies in grouped.values()]
    slots = [(reading.point, reading.ts) for reading in unique]
    assert len(slots) == len(set(slots)), "a reading arrived under two sequence numbers"
    # totalisers: each delta starts where the previous reading of the point ended, across both outages
    totalisers = {point.id for point in points.points if point.kind == "totaliser"}
    chained = 0
    for point in totalisers:
        series = sorted((r for r in unique if r.point == point), key=lambda r: r.ts)
        for previous, reading in zip(series, series[1:], strict=False):
            if "reset" in reading.flags:
                continue
            assert reading.since == previous.ts, f"{point}: a hole before {reading.ts}"
            assert reading.delta is not None
            if "rollover" not in reading.flags:
                assert reading.delta == pytest.approx(reading.value - previous.value, rel=1e-9, abs=1e-9)
            chained += 1
    assert chained > 10 * len(totalisers)
    # the gateway said it went offline when stopped; it reported its buffer while online
    statuses = collector.statuses(device)
    assert statuses[-1].state == "offline" and statuses[-1].reason == "stopped"
    assert any(s.buffer is not None and s.buffer.depth > 0 for s in statuses), "the backlog never showed"
    assert collector.connects >= 2  # the collector itself lived through the broker restart


@pytest.mark.slow
async def test_readings_the_broker_gives_to_nobody_stay_in_the_buffer_until_the_ingest_subscribes(
    app: object, world: World, settings: Settings, tmp_path: Path
) -> None:
    """A broker restarted while the platform's ingest is away: Mosquitto 2.0.11 does not restore an MQTT 5
    session from its persistence file, so the readings sent meanwhile match no subscriber (PUBACK 0x10).
    The gateway keeps them and sends them again once the ingest has subscribed; none may be lost."""
    async with running_broker(settings) as broker:
        run = await launch(world, settings, tmp_path, broker)
        device, collector, simulator, gateway = run.device, run.collector, run.simulator, run.gateway
        points, buffer = run.points, run.buffer
        with stopping([simulator, gateway]):
            await gateway.wait_for_line(f"gateway running as {device}")
            await wait_until(lambda: len(collector.seqs(device)) >= len(points.points), 30, "first readings")

            # the broker restarts, and the ingest is not there when it is back
            broker.stop()
            collector.stop()
            await broker.start()
            await gateway.wait_for_line("no subscriber for the telemetry", timeout=60)
            kept = _stored_seqs(buffer)
            assert len(kept[1]) > 0, "the readings nobody received should wait in the buffer"
            await asyncio.sleep(3)  # the gateway polls on and keeps trying; nothing leaves the buffer unheard
            last, waiting = _stored_seqs(buffer)
            assert last > kept[0] and set(range(min(kept[1]), last + 1)) <= waiting

            # the ingest is back and subscribes (its old session is gone): everything arrives
            resumed = Collector(broker.port, collector.files)
            resumed.start(resume=True)

            def delivered() -> bool:
                return set(range(1, last + 1)) <= collector.seqs(device) | resumed.seqs(device)

            await wait_until(delivered, 60, "the kept readings to arrive")
            assert gateway.stop() == 0
        resumed.stop()
    statuses = resumed.statuses(device)
    assert statuses and statuses[-1].state == "offline" and statuses[-1].reason == "stopped"


@pytest.mark.slow
async def test_readings_stay_until_the_platform_confirms_them_and_go_again_when_it_does_not(
    app: object, world: World, settings: Settings, tmp_path: Path
) -> None:
    """The broker's PUBACK frees only the in-flight window: a reading leaves the buffer once ingest confirms it
    (on the device's cmd topic), and what stays unconfirmed for ``confirm_timeout_s`` is sent again."""
    async with running_broker(settings) as broker:
        run = await launch(world, settings, tmp_path, broker)
        device, silent, simulator, gateway = run.device, run.collector, run.simulator, run.gateway
        silent.confirm = False  # it receives every message (the broker acknowledges them) and confirms none
        with stopping([simulator, gateway]):
            await gateway.wait_for_line(f"gateway running as {device}")
            await wait_until(lambda: len(silent.seqs(device)) >= len(run.points.points), 30, "first readings")
            received = silent.seqs(device)
            _, waiting = _stored_seqs(run.buffer)
            assert received <= waiting, "readings left the buffer on the broker's acknowledgement"
            # after the timeout the first message goes again: the collector sees its numbers twice
            await gateway.wait_for_line("no confirmation for readings 1..", timeout=30)
            await wait_until(lambda: len(by_seq(silent.telemetry(device))[min(received)]) >= 2, 15, "a resend")
            _, waiting = _stored_seqs(run.buffer)
            assert min(received) in waiting

            # ingest confirms from now on (it takes the same session): the backlog goes, live readings follow
            silent.stop()
            confirming = Collector(broker.port, silent.files)
            confirming.start(resume=True)
            try:
                simulator.stop()  # no new readings: the buffer must empty
                await wait_until(lambda: not _stored_seqs(run.buffer)[1], 60, "the buffer to empty once confirmed")
                last, _ = _stored_seqs(run.buffer)
                assert set(range(1, last + 1)) <= silent.seqs(device) | confirming.seqs(device)
                assert gateway.stop() == 0
            finally:
                confirming.stop()
