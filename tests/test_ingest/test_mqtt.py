"""Ingest through a real Mosquitto with mTLS: redelivery, a killed ingest process, two processes sharing.

`cem ingest` runs as a subprocess on the test database; devices publish with their own certificates.
Every test ends with the exact number of distinct readings stored: nothing lost, nothing twice.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import asyncpg
import pytest
from tortoise import connections

from cem_platform.settings import Settings
from cem_platform.telemetry.models import DeadLetter
from tests.test_ingest.helpers import now_slot, payload, points, readings
from tests.test_ingest.mqtt_rig import closing, ingest_rig, publisher, stored_count, wait_for_count
from tests.test_platform.world import World


@pytest.mark.slow
async def test_redelivered_and_resent_batches_are_stored_once_and_garbage_is_dead_lettered(
    app: object, world: World, settings: Settings, tmp_path: Path
) -> None:
    meters = await points(world.a, 20)
    codes = [m.code for m in meters]
    async with ingest_rig(settings, tmp_path) as rig:
        device = await publisher(world, rig.broker, tmp_path / "device")
        with closing([device]):
            await rig.ingest()
            start = now_slot() - 120_000
            items = readings(codes, start, 30)  # 600 readings
            chunks = [items[i : i + 50] for i in range(0, len(items), 50)]
            for index, chunk in enumerate(chunks):
                device.publish("telemetry", payload(device.device_id, chunk))
                if index % 3 == 0:  # a resend after a lost acknowledgement
                    device.publish("telemetry", payload(device.device_id, chunk))
                if index == 5:
                    device.publish("telemetry", b"\x00\x01 not json")
            device.publish("telemetry", payload(device.device_id, items))  # the whole lot again (catch-up)
            assert await wait_for_count(600, 30, rig.processes) == 600
            await asyncio.sleep(1.0)  # anything still in flight would show up as a difference now
            assert await stored_count() == 600
            letters = await DeadLetter.all()
            assert [(d.reason, d.device_id, bytes(d.payload)) for d in letters] == [
                ("schema", device.device_id, b"\x00\x01 not json")
            ]
            pending = await connections.get("default").execute_query_dict("SELECT count(*) AS n FROM ts_pending")
            assert pending[0]["n"] == 600


@pytest.mark.slow
async def test_a_killed_ingest_process_loses_nothing_it_acknowledged(
    app: object, world: World, settings: Settings, tmp_path: Path
) -> None:
    meters = await points(world.a, 50)
    codes = [m.code for m in meters]
    async with ingest_rig(settings, tmp_path) as rig:
        device = await publisher(world, rig.broker, tmp_path / "device")
        with closing([device]):
            ingest = await rig.ingest()
            start = now_slot() - 3_600_000
            items = readings(codes, start, 120)  # 6,000 readings in 120 messages
            chunks = [items[i : i + 50] for i in range(0, len(items), 50)]
            sent = 0

            async def publish_until(end: int) -> None:
                nonlocal sent
                for chunk in chunks[sent:end]:
                    await asyncio.to_thread(device.publish, "telemetry", payload(device.device_id, chunk))
                sent = end

            kills = 0
            for burst_at in (30, 80):
                await publish_until(burst_at)
                # Hold ingest's write (a lock on the pending queue), send a burst, kill -9 ingest while the
                # burst is delivered to it and its write waits, then let go: had ingest acknowledged before its
                # write committed, the broker would count the burst as delivered and it would be lost.
                blocker = await asyncpg.connect(settings.database.url.replace("postgres://", "postgresql://", 1))
                hold = blocker.transaction()
                await hold.start()
                await blocker.execute("LOCK TABLE ts_pending IN ACCESS EXCLUSIVE MODE")
                await publish_until(burst_at + 10)
                await asyncio.sleep(1.0)
                waiting = await blocker.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                ingest.stop(signal.SIGKILL)
                await hold.rollback()
                await blocker.close()
                assert waiting == 1, "ingest's write was not waiting on the lock"
                kills += 1
                await publish_until(burst_at + 13)  # published while no ingest runs
                ingest = await rig.ingest()
            await publish_until(len(chunks))
            assert kills == 2
            assert await wait_for_count(6000, 60, rig.processes) == 6000
            await asyncio.sleep(1.0)
            assert await stored_count() == 6000
            seqs = await connections.get("default").execute_query_dict(
                "SELECT min(seq) AS lo, max(seq) AS hi, count(DISTINCT seq) AS n FROM ts_reading"
            )
            assert (seqs[0]["lo"], seqs[0]["hi"], seqs[0]["n"]) == (1, 6000, 6000)


@pytest.mark.slow
async def test_two_ingest_processes_share_the_subscription(
    app: object, world: World, settings: Settings, tmp_path: Path
) -> None:
    meters = await points(world.a, 40)
    codes = [m.code for m in meters]
    async with ingest_rig(settings, tmp_path) as rig:
        device = await publisher(world, rig.broker, tmp_path / "device")
        with closing([device]):
            first = await rig.ingest(1)  # each process has its own certificate, so its own client id and session
            second = await rig.ingest(2)
            items = readings(codes, now_slot() - 600_000, 100)  # 4,000 readings in 200 messages
            for i in range(0, len(items), 20):
                await asyncio.to_thread(device.publish, "telemetry", payload(device.device_id, items[i : i + 20]))
            assert await wait_for_count(4000, 60, rig.processes) == 4000
            first.stop()
            second.stop()
            shares = []
            for process in (first, second):  # each took a share of the messages
                final = next(line for line in process.output().splitlines() if "ingest final stats" in line)
                shares.append(json.loads(final)["messages"])
            assert sum(shares) == 200 and min(shares) > 0, shares
            batches = await connections.get("default").execute_query_dict("SELECT count(*) AS n FROM ts_batch")
            assert batches[0]["n"] == 200
