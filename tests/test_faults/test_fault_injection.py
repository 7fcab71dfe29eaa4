"""Fault injection on the whole telemetry path (issue 17): nothing a gateway issued is lost, nothing stored twice.

Real processes throughout: the plant simulator, two enrolled `cem gateway run` processes (each owns half of the
plant's points), Mosquitto with the generated mTLS configuration, two `cem ingest` processes in one shared
group, and a PostgreSQL cluster of this test alone, migrated with `cem db upgrade`. While data flows the test
kills -9 a gateway and an ingest, restarts the broker cleanly and kills it -9 (the longest outage), stops
PostgreSQL fast and immediately (a crash recovery follows), lets an enrolled device join the ingest's shared
group and another take the ingest's client id, and sends poison messages. Then the plant stops, the gateways
drain, and for each gateway the sequence numbers it issued must be exactly those stored for its points.

A gateway keeps each reading until the platform confirms it committed (`cem_gateway.wire.Confirm` on the
gateway's cmd topic) and sends again what stays unconfirmed for ``confirm_timeout_s`` (3 s here): so every fault
above may delay readings and cause resends (counted as duplicates), never lose one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest

from cem_gateway.identity import _store
from cem_gateway.wire import MAX_READINGS
from cem_platform.settings import Settings
from tests.test_faults.rig import (
    BufferState,
    Cluster,
    Ingests,
    copy_rows,
    device_client,
    ingest_client_ids,
    migrate,
    private_cluster,
    query,
    read_buffer,
    rogue,
    split_point_map,
)
from tests.test_gateway.harness import Process, start, stopping
from tests.test_gateway.test_zero_loss import start_simulator
from tests.test_ingest.test_end_to_end import plant_points
from tests.test_platform.world import World
from tests.test_registry.broker import Broker, running_broker
from tests.test_registry.fleet import Terminal, enrolled_terminal

GATEWAY = """\
[gateway]
identity_dir = "identity"
buffer_path = "buffer.sqlite3"
batch_max = 100
inflight = 2
confirm_timeout_s = 3
heartbeat_s = 1

"""
FAULT_S = 3.0  # how long most faults last
LONGEST_S = 20.0  # the broker killed -9 stays away this long: the drain rate is measured after it
RECOVERY_TIMEOUT_S = 60.0
GROUP = "cem-ingest"  # the ingest's default shared-subscription group (documented, so a rogue knows it too)


@dataclass
class Gateway:
    """One gateway process, its files and the platform's ids of its points."""

    device: str
    work: Path
    config: Path
    point_ids: list[int]
    process: Process | None = None

    @property
    def buffer(self) -> Path:
        """Its SQLite buffer."""
        return self.work / "buffer.sqlite3"

    def start(self) -> Process:
        """`cem gateway run` on its map (a restart opens the same buffer)."""
        self.process = start(["gateway", "run", "--config", str(self.config)], self.work / "gateway.log", self.work)
        return self.process


@dataclass
class Phase:
    """One fault: when it ran, the sequence numbers issued meanwhile, its deepest buffer and the time to recover."""

    name: str
    began: dt.datetime
    issued_from: dict[str, int]
    issued_to: dict[str, int] = field(default_factory=dict)
    ended: dt.datetime | None = None
    max_depth: int = 0
    recover_s: float = 0.0
    outage_s: float = 0.0
    at_fault_end: dict[str, int] = field(default_factory=dict)
    fault_end_wall: float = 0.0  # time.time() when the fault ended
    recovered_wall: float = 0.0  # time.time() when everything issued up to the fault's end was stored


@dataclass
class Rig:
    """Everything running, and the figures being collected."""

    settings: Settings
    cluster: Cluster
    broker: Broker
    ingests: Ingests
    gateways: list[Gateway]
    simulator: Process
    phases: list[Phase] = field(default_factory=list)

    def buffers(self) -> dict[str, BufferState]:
        """Each gateway's buffer now."""
        return {g.device: read_buffer(g.buffer) for g in self.gateways}

    def logs(self) -> str:
        """The tails of every log, for a failure's message."""
        processes = [p for g in self.gateways if g.process for p in [g.process]] + self.ingests.started[-2:]
        tails = [f"--- {p.log.name}\n{p.output()[-2000:]}" for p in processes]
        return "\n".join(tails) + f"\n--- broker\n{self.broker.log()}\n--- postgres\n{self.cluster.log()}"

    async def stored_up_to(self, gateway: Gateway, last: int) -> int | None:
        """How many of the gateway's numbers 1..last are stored (None while the database is away)."""
        rows = await query(
            self.cluster.url,
            "SELECT count(DISTINCT seq) AS n FROM ts_reading WHERE point_id = ANY($1::int[]) AND seq <= $2",
            gateway.point_ids,
            last,
        )
        return None if rows is None else int(rows[0]["n"])

    async def recovered(self, since: float) -> float:
        """Wait until every reading issued up to now is stored; seconds from ``since`` (monotonic) until then."""
        targets = {g.device: state.last for g, state in zip(self.gateways, self.buffers().values(), strict=True)}
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while True:
            counts = [await self.stored_up_to(g, targets[g.device]) for g in self.gateways]
            if all(count == targets[g.device] for count, g in zip(counts, self.gateways, strict=True)):
                return time.monotonic() - since
            assert time.monotonic() < deadline, f"not recovered: stored {counts} of {targets}\n{self.logs()}"
            await asyncio.sleep(0.2)

    async def phase(self, name: str, fault: Callable[[Phase], Awaitable[float]]) -> Phase:
        """Run ``fault`` (it returns the monotonic time it ended the fault), wait for the recovery, let data flow."""
        phase = Phase(name, dt.datetime.now(dt.UTC), {d: s.last for d, s in self.buffers().items()})
        self.phases.append(phase)
        began = time.monotonic()
        ended = await fault(phase)
        phase.outage_s = ended - began
        phase.at_fault_end = {d: s.last for d, s in self.buffers().items()}
        phase.fault_end_wall = time.time() - (time.monotonic() - ended)
        phase.recover_s = await self.recovered(ended)
        phase.recovered_wall = time.time()
        await asyncio.sleep(2)  # normal flow between faults
        phase.issued_to = {d: s.last for d, s in self.buffers().items()}
        phase.ended = dt.datetime.now(dt.UTC)
        return phase

    def reconnected_at(self, after: float) -> float:
        """When the last gateway connected to the broker again after ``after`` (time.time(); from their logs)."""
        times = []
        for gateway in self.gateways:
            assert gateway.process
            for line in gateway.process.output().splitlines():
                if "cem.gateway.uplink: connected to" in line:
                    # logging's asctime: local time, milliseconds after a comma
                    when = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").astimezone().timestamp()
                    if when >= after:
                        times.append(when)
                        break
        assert len(times) == len(self.gateways), f"a gateway did not reconnect\n{self.logs()}"
        return max(times)

    async def sample_depths(self, stop: asyncio.Event) -> None:
        """Record the deepest gateway buffer of the current phase, five times a second."""
        while not stop.is_set():
            states = await asyncio.to_thread(self.buffers)
            if self.phases and self.phases[-1].ended is None:
                self.phases[-1].max_depth = max(self.phases[-1].max_depth, *(s.depth for s in states.values()))
            await asyncio.sleep(0.2)


def _poison(device: str, now: int) -> dict[str, bytes]:
    """Messages no decoder may let through, by the field that must be named: each from an enrolled device."""
    good = {"seq": 1, "point": "POISON.NONE", "ts": now, "value": 1.0, "unit": "t"}

    def batch(*readings: dict[str, object]) -> bytes:
        return msgspec.json.encode({"v": 1, "device": device, "sent": now, "readings": list(readings)})

    many = [good | {"seq": i + 1, "ts": now - i * 1000} for i in range(MAX_READINGS + 1)]
    return {
        "seq": batch(good | {"seq": 2**64}),
        "since": batch(good | {"since": 2**64}),
        "negative seq": batch(good | {"seq": -1}),
        "malformed JSON": b'{"v": 1, "device": "' + device.encode() + b'", "readings": [',
        "NUL in a string": batch(good | {"point": "POISON\x00NONE"}),
        "10,001 readings": batch(*many),
    }


# the field each poison message's dead letter must name ('' for malformed JSON: nothing to name but the syntax)
POISON_FIELDS = {
    "seq": "seq",
    "since": "since",
    "negative seq": "seq",
    "malformed JSON": "",
    "NUL in a string": "point",
    "10,001 readings": "readings",
}
HUGE = 20 * 1024 * 1024  # over the broker's 2 MiB limit


def _table(phases: list[Phase], stored: dict[str, int], duplicates: dict[str, int]) -> Iterator[str]:
    """The figures per fault, as printed and as in the README."""
    yield "| fault | fault s | issued | stored | lost | duplicates | max buffer depth | recovered after s |"
    yield "|---|---:|---:|---:|---:|---:|---:|---:|"
    for p in phases:
        issued = sum(p.issued_to[d] - p.issued_from[d] for d in p.issued_to)
        yield (
            f"| {p.name} | {p.outage_s:.1f} | {issued:,} | {stored[p.name]:,} | {issued - stored[p.name]:,} "
            f"| {duplicates[p.name]:,} | {p.max_depth:,} | {p.recover_s:.1f} |"
        )


async def _faults(rig: Rig, terminals: list[Terminal], work: Path, started: list[Process]) -> dict[str, object]:
    """Inject the faults in turn; returns what the misbehaving devices saw."""
    seen: dict[str, object] = {}
    broker, cluster, ingests = rig.broker, rig.cluster, rig.ingests
    first_ingest = next(iter(ingests.running))

    async def kill_gateway(phase: Phase) -> float:
        gateway = rig.gateways[0]
        assert gateway.process
        gateway.process.stop(signal.SIGKILL)
        await asyncio.sleep(FAULT_S)
        started.append(gateway.start())
        return time.monotonic()

    async def kill_ingest(phase: Phase) -> float:
        ingests.running[first_ingest].stop(signal.SIGKILL)
        await asyncio.sleep(FAULT_S)
        back = time.monotonic()
        await ingests.start(first_ingest)  # the same client id: its broker session is resumed
        return back

    async def restart_broker(phase: Phase) -> float:
        broker.stop()
        await asyncio.sleep(FAULT_S)
        back = time.monotonic()
        await broker.start()
        return back

    async def kill_broker(phase: Phase) -> float:
        assert broker.process
        broker.process.kill()
        broker.process.wait()
        await asyncio.sleep(LONGEST_S)
        back = time.monotonic()
        await broker.start()
        return back

    def stop_postgres(mode: str) -> Callable[[Phase], Awaitable[float]]:
        async def fault(phase: Phase) -> float:
            await asyncio.to_thread(cluster.stop, mode)
            await asyncio.sleep(FAULT_S)
            back = time.monotonic()
            await asyncio.to_thread(cluster.start)
            return back

        return fault

    async def shared_group_rogue(phase: Phase) -> float:
        client = device_client(terminals[2], work / "rogue-share", broker.port)
        intruder = rogue(client, broker.port, subscribe=f"$share/{GROUP}/cem/v1/+/telemetry")
        await asyncio.sleep(FAULT_S + 2)
        intruder.close()
        seen["shared group"] = (intruder.connects, intruder.refused_subscriptions, intruder.received)
        return time.monotonic()

    async def stolen_client_id(phase: Phase) -> float:
        client = device_client(terminals[2], work / "rogue-id", broker.port, client_id=first_ingest)
        thief = rogue(client, broker.port)
        await asyncio.sleep(FAULT_S + 2)
        thief.close()
        seen["client id"] = (thief.connects, thief.received)
        return time.monotonic()

    async def poison(phase: Phase) -> float:
        client = device_client(terminals[3], work / "poisoner", broker.port)
        sender = rogue(client, broker.port)
        try:
            deadline = time.monotonic() + 10
            while sender.connects == 0:
                assert time.monotonic() < deadline, f"the poisoner could not connect: {broker.log()}"
                await asyncio.sleep(0.1)
            topic = f"cem/v1/{terminals[3].device_id}/telemetry"
            bodies = _poison(terminals[3].device_id, int(time.time()) * 1000)
            seen["poison"] = bodies
            for name, body in bodies.items():
                info = client.publish(topic, body, qos=1)
                await asyncio.to_thread(info.wait_for_publish, 10)
                assert info.is_published(), f"the broker did not take the poison {name!r}"
            # over the broker's limit: refused at the broker (the connection is closed), never delivered
            info = client.publish(topic, b"x" * HUGE, qos=1)
            with contextlib.suppress(RuntimeError, ValueError):
                await asyncio.to_thread(info.wait_for_publish, 5)
            seen["huge acknowledged"] = info.is_published()
        finally:
            sender.close()
        return time.monotonic()

    await rig.phase("gateway killed -9, restarted", kill_gateway)
    await rig.phase("ingest killed -9, restarted", kill_ingest)
    await rig.phase("broker restarted cleanly", restart_broker)
    await rig.phase("PostgreSQL stopped fast", stop_postgres("fast"))
    await rig.phase("PostgreSQL stopped immediately", stop_postgres("immediate"))
    await rig.phase("rogue device in the shared group", shared_group_rogue)
    await rig.phase("rogue device with the ingest's client id", stolen_client_id)
    await rig.phase("poison messages", poison)
    await rig.phase(f"broker killed -9 for {LONGEST_S:.0f} s", kill_broker)
    return seen


@pytest.mark.slow
async def test_every_issued_reading_is_stored_exactly_once_through_every_fault(
    app: object, world: World, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    points = {p.code: p.id for p in await plant_points(world)}
    admin = await world.login("a-device-admin")
    # two gateways, a rogue and a poisoner: all enrolled devices of enterprise A, with their own certificates
    terminals: list[Terminal] = [await enrolled_terminal(world, admin) for _ in range(4)]
    poisoner = terminals[3].device_id
    started: list[Process] = []
    async with private_cluster() as cluster, running_broker(settings) as broker:
        await asyncio.to_thread(migrate, cluster.url, tmp_path)
        seeded = await copy_rows(settings.database.url, cluster.url)
        assert (seeded["org_point"], seeded["reg_device"]) == (len(points) + 2, 4)  # + the world's two meters
        ingests = Ingests(settings, broker, cluster.url, tmp_path)
        ingest_ids = ingest_client_ids(settings, 2)
        stop_sampling = asyncio.Event()
        with stopping(started):
            try:
                for client_id in ingest_ids:
                    await ingests.start(client_id)
                simulator, plant_map = await start_simulator(tmp_path)
                started.append(simulator)
                gateways: list[Gateway] = []
                maps = split_point_map(plant_map.read_text(), 2)
                for k, (terminal, text) in enumerate(zip(terminals[:2], maps, strict=True)):
                    work = tmp_path / f"gateway-{k + 1}"
                    answer = terminal.answer | {"broker_url": f"mqtts://127.0.0.1:{broker.port}"}
                    _store(work / "identity", terminal.key, answer, "http://testserver")
                    (config := work / "gateway.toml").write_text(GATEWAY + text)
                    codes = [line.split('"')[1] for line in text.splitlines() if line.startswith("id = ")]
                    gateways.append(Gateway(terminal.device_id, work, config, [points[c] for c in codes]))
                assert sorted(i for g in gateways for i in g.point_ids) == sorted(points.values())
                for gateway in gateways:
                    started.append(gateway.start())
                for gateway in gateways:
                    assert gateway.process
                    await gateway.process.wait_for_line(f"gateway running as {gateway.device}", timeout=60)
                rig = Rig(settings, cluster, broker, ingests, gateways, simulator)
                deadline = time.monotonic() + 30
                while min(s.last for s in rig.buffers().values()) < 2 * len(points):
                    assert time.monotonic() < deadline, f"no readings taken\n{rig.logs()}"
                    await asyncio.sleep(0.2)
                await rig.recovered(time.monotonic())  # data flows end to end
                sampling = asyncio.create_task(rig.sample_depths(stop_sampling))
                seen = await _faults(rig, terminals, tmp_path, started)

                # the plant stops: the gateways only drain now, until their buffers are empty
                simulator.stop()
                deadline = time.monotonic() + RECOVERY_TIMEOUT_S
                while any(s.depth for s in rig.buffers().values()):
                    assert time.monotonic() < deadline, f"buffers not drained: {rig.buffers()}\n{rig.logs()}"
                    await asyncio.sleep(0.2)
                stop_sampling.set()
                await sampling
                for gateway in gateways:
                    assert gateway.process and gateway.process.stop() == 0
                # ingest lived through every fault (the one killed on purpose was restarted)
                alive = {client_id: p.process.poll() for client_id, p in ingests.running.items()}
                assert alive == dict.fromkeys(ingest_ids), f"an ingest process ended\n{rig.logs()}"
            finally:
                stop_sampling.set()
                ingests.stop_all()

        # --- the figures, read from the private database ------------------------------------------------
        finals = rig.buffers()
        stored_per_phase: dict[str, int] = {}
        duplicates_per_phase: dict[str, int] = {}
        for phase in rig.phases:
            count = 0
            for gateway in gateways:
                rows = await query(
                    cluster.url,
                    "SELECT count(DISTINCT seq) AS n FROM ts_reading WHERE point_id = ANY($1::int[]) "
                    "AND seq > $2 AND seq <= $3",
                    gateway.point_ids,
                    phase.issued_from[gateway.device],
                    phase.issued_to[gateway.device],
                )
                assert rows is not None
                count += int(rows[0]["n"])
            stored_per_phase[phase.name] = count
            rows = await query(
                cluster.url,
                "SELECT coalesce(sum(duplicates), 0) AS n FROM ts_batch WHERE received_at >= $1 AND received_at < $2",
                phase.began,
                phase.ended,
            )
            assert rows is not None
            duplicates_per_phase[phase.name] = int(rows[0]["n"])
        table = list(_table(rig.phases, stored_per_phase, duplicates_per_phase))
        longest = rig.phases[-1]
        backlog = sum(longest.at_fault_end[d] - longest.issued_from[d] for d in longest.at_fault_end)
        # the gateways come back on their reconnect backoff (at most 10 s): the drain is timed from then too
        drain_s = max(longest.recovered_wall - rig.reconnected_at(longest.fault_end_wall), 1e-3)
        drain = (
            f"Drain after the {longest.outage_s:.0f} s broker outage, live data flowing: {backlog:,} readings stored"
            f" {longest.recover_s:.1f} s after the broker was back ({longest.outage_s / longest.recover_s:.1f}x real"
            f" time), {drain_s:.1f} s after the gateways reconnected ({backlog / drain_s:,.0f} readings/s,"
            f" {longest.outage_s / drain_s:.0f}x real time)"
        )
        misbehaving = {k: v for k, v in seen.items() if k != "poison"}
        with capsys.disabled():
            print("\n" + "\n".join(table) + f"\n{drain}\nmisbehaving devices: {misbehaving}\n", flush=True)

        # --- exactly once, per gateway ------------------------------------------------------------------
        for gateway in gateways:
            state = finals[gateway.device]
            assert (state.depth, state.evicted) == (0, 0)
            rows = await query(
                cluster.url, "SELECT seq FROM ts_reading WHERE point_id = ANY($1::int[])", gateway.point_ids
            )
            assert rows is not None
            stored = Counter(int(r["seq"]) for r in rows)
            assert set(stored) == set(range(1, state.last + 1)), (
                f"{gateway.device}: missing {sorted(set(range(1, state.last + 1)) - set(stored))[:20]}, "
                f"unexpected {sorted(set(stored) - set(range(1, state.last + 1)))[:20]}"
            )
            assert max(stored.values()) == 1, "a sequence number stored twice"
            totals = await query(
                cluster.url,
                "SELECT coalesce(sum(readings), 0) AS readings, coalesce(sum(stored), 0) AS stored, "
                "coalesce(sum(duplicates), 0) AS duplicates, coalesce(sum(rejected), 0) AS rejected "
                "FROM ts_batch WHERE device_id = $1",
                gateway.device,
            )
            assert totals is not None
            batches = totals[0]
            # each stored reading counted once as stored; every resend counted as a duplicate, none refused
            assert (batches["stored"], batches["rejected"]) == (state.last, 0)
            assert batches["readings"] == batches["stored"] + batches["duplicates"]
        for phase in rig.phases:
            issued = sum(phase.issued_to[d] - phase.issued_from[d] for d in phase.issued_to)
            assert issued > 0 and stored_per_phase[phase.name] == issued, phase.name

        # --- every poison message a dead letter with its reason; nothing else refused -------------------
        letters = await query(
            cluster.url, "SELECT device_id, reason, message, payload_sha256, size FROM ingest_dead_letter"
        )
        assert letters is not None
        bodies = seen["poison"]
        assert isinstance(bodies, dict)
        expected = {hashlib.sha256(body).hexdigest(): name for name, body in bodies.items()}
        assert {r["device_id"] for r in letters} == {poisoner}, [dict(r) for r in letters]
        found = {expected.get(r["payload_sha256"], "?"): (r["reason"], r["message"]) for r in letters}
        assert set(found) == set(POISON_FIELDS), found
        for name, (reason, message) in found.items():
            assert reason == "schema" and POISON_FIELDS[name] in message, (name, reason, message)
        assert all(r["size"] <= 2 * 1024 * 1024 for r in letters)  # the 20 MB message never got through
        assert seen["huge acknowledged"] is False
        # the rogue in the shared group read nothing (refused, or dropped by the broker's read check)
        assert isinstance(seen["shared group"], tuple) and seen["shared group"][2] == 0
