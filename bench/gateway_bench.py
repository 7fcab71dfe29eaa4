"""Field gateway benchmark: sustained points/s, latency, CPU and peak memory of `cem gateway run`.

Everything real, on loopback: a Modbus TCP plant in its own process (pymodbus servers, one per
connection, values that move every second), Mosquitto with the registry's generated mTLS configuration
and a throwaway PKI, `cem gateway run` as a subprocess, and an ingest-side MQTT 5 subscriber in this
process that decodes every telemetry batch and confirms it (as ingest does once it committed).

Runs, in order:

1. baseline: the Modbus driver alone reads every point, all connections at once, for a few seconds
   (raw reads/s: what the field side can give at most on this machine);
2. the gateway polling every ``--poll`` seconds (offered = points / poll), measured over ``--seconds``
   after ``--warmup``; then each ``--fast-poll`` period in turn, to see where it saturates;
3. catch-up: the broker stops for ``--outage`` seconds while the gateway polls on, starts again, and the
   backlog drains beside the live readings.

Run it from the repository root::

    .venv/bin/python bench/gateway_bench.py                       # 5,000 points, 30 s per run
    .venv/bin/python bench/gateway_bench.py --points 200 --seconds 3 --outage 2 --fast-poll 0.5

Progress goes to stderr, the figures to stdout. Every process started is stopped and the temporary
folder removed, also on Ctrl-C. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import datetime as dt
import json
import logging
import math
import os
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from benchkit import HOST, cpu_seconds, fmt, free_port, percentile, port_open, stop_process, table, workspace

DEVICE = "dev-bench0000001"
INGEST = "cem-ingest"
FLOW_UNIT, TOTAL_UNIT, TOTAL_SCALE = "m3/h", "m3", 0.01
READY_LINE = "gateway running as"


def log(message: str) -> None:
    """A progress line on stderr (the figures go to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ================================================================================================ the plant
@dataclass(frozen=True, slots=True)
class PlantPoint:
    """One simulated meter: a float32 flow (a slow sine) or a uint32 totaliser (a steady count)."""

    id: str
    kind: str  # "flow" | "totaliser"
    address: int  # first of its two holding registers
    base: float  # flow: mean value; totaliser: the raw count at t = 0
    amplitude: float  # flow only
    period: float  # flow: seconds per sine cycle
    phase: float  # flow only
    rate: float  # totaliser: raw counts per second

    def registers(self, now: float) -> tuple[int, int]:
        """The two registers (big-endian words) the device holds at ``now``."""
        if self.kind == "flow":
            value = self.base + self.amplitude * math.sin(2 * math.pi * now / self.period + self.phase)
            high, low = struct.unpack(">HH", struct.pack(">f", value))
            return high, low
        count = int(self.base + self.rate * now) & 0xFFFFFFFF  # wraps like a real counter
        return count >> 16, count & 0xFFFF


def plant_layout(points: int, connections: int, seed: int) -> list[list[PlantPoint]]:
    """The points of each connection, the same in the server and in the point map (seeded)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not cryptography
    layout: list[list[PlantPoint]] = [[] for _ in range(connections)]
    for index in range(points):
        unit = index % connections
        slot = len(layout[unit])
        if slot % 2 == 0:
            base = rng.uniform(100.0, 1000.0)
            point = PlantPoint(
                id=f"BENCH.PLC{unit + 1}.F{slot:04d}",
                kind="flow",
                address=2 * slot,
                base=base,
                amplitude=base * rng.uniform(0.05, 0.2),
                period=rng.uniform(30.0, 300.0),
                phase=rng.uniform(0.0, 2 * math.pi),
                rate=0.0,
            )
        else:
            point = PlantPoint(
                id=f"BENCH.PLC{unit + 1}.T{slot:04d}",
                kind="totaliser",
                address=2 * slot,
                base=rng.uniform(1e5, 1e7),
                amplitude=0.0,
                period=1.0,
                phase=0.0,
                rate=rng.uniform(50.0, 2000.0),
            )
        layout[unit].append(point)
    return layout


async def serve_plant(ready_file: Path, points: int, connections: int, seed: int) -> None:
    """The Modbus TCP plant (run in its own process): one pymodbus server per connection on a free port."""
    from pymodbus.constants import ExcCodes
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    layout = plant_layout(points, connections, seed)

    def device(meters: list[PlantPoint]) -> SimDevice:
        async def action(
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            current: list[int],
            set_values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            if set_values is not None:
                return ExcCodes.ILLEGAL_FUNCTION
            if function_code != 3:
                return None
            now = time.time()
            first = address // 2
            words: list[int] = []
            for meter in meters[first : (address + count + 1) // 2]:
                words.extend(meter.registers(now))
            skip = address - 2 * first
            offset = address - start_address
            current[offset : offset + count] = words[skip : skip + count]
            return None

        bits = [SimData(0, values=False, datatype=DataType.BITS, readonly=True)]
        holding = [SimData(0, count=2 * len(meters), values=0, datatype=DataType.REGISTERS, readonly=True)]
        inputs = [SimData(0, datatype=DataType.INVALID)]
        return SimDevice(id=1, simdata=(list(bits), list(bits), holding, inputs), action=action)

    servers = []
    ports = []
    for meters in layout:
        server = ModbusTcpServer(device(meters), address=(HOST, 0))
        await server.serve_forever(background=True)
        servers.append(server)
        listener = server.transport
        assert isinstance(listener, asyncio.Server)  # noqa: S101 - what serve_forever made
        ports.append(int(listener.sockets[0].getsockname()[1]))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    tmp = ready_file.with_suffix(".tmp")
    tmp.write_text(",".join(map(str, ports)))
    tmp.replace(ready_file)
    parent = os.getppid()
    while not stopping.is_set() and os.getppid() == parent:  # ends with the bench, whatever happens to it
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), 1.0)
    for server in servers:
        await server.shutdown()  # type: ignore[no-untyped-call]


# ================================================================================================ files
def point_map_toml(
    layout: list[list[PlantPoint]],
    ports: Sequence[int],
    *,
    identity: Path,
    poll_s: float,
    batch_max: int,
    inflight: int,
    max_block: int,
    capacity: int = 2_000_000,
) -> str:
    """A point map with a [gateway] section for the whole plant, polled every ``poll_s``; the buffer holds
    ``capacity`` readings (the catch-up run sizes it for its outage, so that nothing is evicted)."""

    def q(text: str) -> str:
        return json.dumps(text)  # a JSON string is a valid TOML basic string

    lines = [
        "[gateway]",
        f"identity_dir = {q(str(identity))}",
        'buffer_path = "buffer.sqlite3"',
        f"batch_max = {batch_max}",
        f"inflight = {inflight}",
        f"buffer_max_readings = {capacity}",
        "heartbeat_s = 5",
        "",
    ]
    for unit, port in enumerate(ports):
        lines += [
            "[[connections]]",
            f'name = "plc-{unit + 1}"',
            'protocol = "modbus"',
            f'host = "{HOST}"',
            f"port = {port}",
            "unit_id = 1",
            "timeout_s = 2.0",
            f"poll_s = {poll_s!r}",
            f"max_block = {max_block}",
            "",
        ]
    for unit, meters in enumerate(layout):
        for meter in meters:
            lines += [
                "[[points]]",
                f'id = "{meter.id}"',
                f'connection = "plc-{unit + 1}"',
                f"address = {meter.address}",
            ]
            if meter.kind == "flow":
                slope = meter.amplitude * 2 * math.pi / meter.period
                lines += [
                    f'unit = "{FLOW_UNIT}"',
                    'kind = "flow"',
                    'type = "float32"',
                    "min = 0.0",
                    f"max = {round(2 * meter.base, 3)!r}",
                    f"max_rate = {round(5 * slope + 1, 3)!r}",
                ]
            else:
                lines += [
                    f'unit = "{TOTAL_UNIT}"',
                    'kind = "totaliser"',
                    'type = "uint32"',
                    f"scale = {TOTAL_SCALE!r}",
                    "min = 0.0",
                    f"max_rate = {round(5 * meter.rate * TOTAL_SCALE + 1, 3)!r}",
                ]
            lines += ["stuck_s = 300", 'fill = "linear"', "max_gap_s = 5", ""]
    return "\n".join(lines)


def _give_to_broker_user(path: Path, user: str = "mosquitto") -> None:
    """Mosquitto started as root drops to its own user, which must read its key and write its data folder."""
    import pwd

    if os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return
    os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass(frozen=True, slots=True)
class Pki:
    """Where the throwaway PKI put each party's files."""

    broker: Path
    identity: Path
    ingest: Path


def write_pki(root: Path, broker_port: int) -> Pki:
    """Root + issuing CA, broker server certificate, device and ingest client certificates; no database."""
    from cem_registry import pki
    from cem_registry.broker import device_topics, mosquitto_acl, mosquitto_conf, write_atomic

    org = "CEM bench"
    root_key = pki.new_key()
    root_cert = pki.issue_root_ca(root_key, name="CEM bench root CA", organisation=org, days=2)
    ca_key = pki.new_key()
    ca_cert = pki.issue_issuing_ca(ca_key, root_cert, root_key, name="CEM bench issuing CA", organisation=org, days=2)
    root_pem, issuing_pem = pki.pem(root_cert), pki.pem(ca_cert)

    broker = root / "broker"
    broker.mkdir()
    broker.chmod(0o755)
    server_key = pki.new_key()
    server_cert = pki.issue_server_certificate(
        server_key.public_key(), ca_cert, ca_key, hostnames=[HOST], organisation=org, days=2
    )
    write_atomic(broker / "server.key", pki.plain_key_pem(server_key), mode=0o600)
    _give_to_broker_user(broker / "server.key")
    write_atomic(broker / "server.crt", pki.pem(server_cert) + issuing_pem)
    write_atomic(broker / "ca.pem", issuing_pem + root_pem)
    write_atomic(broker / "crl.pem", pki.pem(pki.build_crl(ca_cert, ca_key, [], number=1, valid_hours=48)))
    write_atomic(broker / "acl", mosquitto_acl(ingest_identities=(INGEST,), denied_devices=[]))
    (broker / "data").mkdir(mode=0o700)
    _give_to_broker_user(broker / "data")
    write_atomic(broker / "mosquitto.conf", mosquitto_conf(broker, bind=HOST, port=broker_port))

    identity = root / "identity"
    identity.mkdir()
    device_key = pki.new_key()
    device_cert = pki.issue_client_certificate(
        device_key.public_key(), ca_cert, ca_key, identity=DEVICE, organisation=org, unit="device", days=2
    )
    not_after = device_cert.not_valid_after_utc
    meta = {
        "device_id": DEVICE,
        "broker_url": f"mqtts://{HOST}:{broker_port}",
        "topics": device_topics(DEVICE),
        "not_after": not_after.isoformat(),
        "renew_after": (not_after - dt.timedelta(days=1)).isoformat(),  # no renewal during the bench
        "server": f"http://{HOST}:9",
    }
    write_atomic(identity / "device.crt", pki.pem(device_cert) + issuing_pem)
    write_atomic(identity / "ca.pem", root_pem)
    write_atomic(identity / "chain.pem", issuing_pem + root_pem)
    write_atomic(identity / "identity.json", json.dumps(meta, indent=2))
    write_atomic(identity / "device.key", pki.plain_key_pem(device_key), mode=0o600)

    ingest = root / "ingest"
    ingest.mkdir()
    ingest_key = pki.new_key()
    ingest_cert = pki.issue_client_certificate(
        ingest_key.public_key(), ca_cert, ca_key, identity=INGEST, organisation=org, unit="service", days=2
    )
    write_atomic(ingest / "client.crt", pki.pem(ingest_cert) + issuing_pem)
    write_atomic(ingest / "ca.pem", root_pem)
    write_atomic(ingest / "client.key", pki.plain_key_pem(ingest_key), mode=0o600)
    return Pki(broker, identity, ingest)


# ================================================================================================ processes
class Broker:
    """Mosquitto with the generated configuration; can be stopped and started again on the same port."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "mosquitto.log"

    def start(self) -> None:
        binary = shutil.which("mosquitto")
        if binary is None:
            raise SystemExit("mosquitto is not installed: install the mosquitto package and run again")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own broker with our own file
                [binary, "-c", str(self.directory / "mosquitto.conf")], stdout=out, stderr=out
            )
        deadline = time.monotonic() + 15
        while not port_open(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not open its port within 15 s")
            time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


@dataclass
class Gateway:
    """`cem gateway run` in the background, its output in a log file."""

    process: subprocess.Popen[bytes]
    log: Path
    buffer: Path

    @classmethod
    def start(cls, config: Path) -> Gateway:
        log_file = config.parent / "gateway.log"
        # -X faulthandler: a gateway that does not stop is sent SIGABRT and writes every thread's stack to its log
        command = [sys.executable, "-X", "faulthandler", "-m", "cem_platform.cli", "gateway", "run"]
        command += ["--config", str(config)]
        with log_file.open("ab") as out:
            process = subprocess.Popen(command, cwd=config.parent, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        gateway = cls(process, log_file, config.parent / "buffer.sqlite3")
        deadline = time.monotonic() + 90
        while READY_LINE not in gateway.output():
            if process.poll() is not None:
                raise RuntimeError(f"the gateway exited with {process.returncode}:\n{gateway.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start within 90 s:\n{gateway.output()[-3000:]}")
            time.sleep(0.1)
        return gateway

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; a gateway still running after ``timeout`` is made to dump its stacks, then killed."""
        process = self.process
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"the gateway did not stop within {timeout:g} s of SIGTERM; its stacks go to {self.log.name}")
                process.send_signal(signal.SIGABRT)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        return process.returncode


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of a process, in kB."""
    result: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                result[key] = int(value.split()[0])
    return result


def buffer_state(path: Path) -> tuple[int, int]:
    """(readings waiting, last sequence number given out), read beside the running gateway."""
    if not path.exists():
        return 0, 0
    for _ in range(20):  # the gateway may hold the write lock for a moment
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
                depth = db.execute("SELECT count(*) FROM reading").fetchone()[0]
                row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'reading'").fetchone()
                return int(depth), int(row[0]) if row else 0
        except sqlite3.OperationalError:
            time.sleep(0.1)
    raise RuntimeError(f"cannot read the buffer {path}")


# ================================================================================================ the ingest side
class Collector:
    """An ingest-side MQTT 5 subscriber (persistent session) that decodes and timestamps every reading and, as
    ingest does after its commit, confirms each message to the gateway (which keeps readings until then)."""

    def __init__(self, port: int, files: Path) -> None:
        self.port, self.files = port, files
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.errors: list[str] = []
        self.reset()

    def reset(self) -> None:
        """Forget what arrived (a new gateway run starts its sequence numbers again)."""
        with self.lock:
            self.recv = array("d")  # receive time of each reading (epoch s)
            self.ts = array("q")  # its poll slot (epoch ms)
            self.seq = array("q")
            self.estimated = array("b")
            self.seen = bytearray(1 << 16)  # seq -> received at least once
            self.distinct = 0
            self.statuses: list[tuple[float, Any]] = []

    def start(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        from cem_gateway.uplink import tls_context
        from cem_gateway.wire import Confirm, command_topic, decode_status, decode_telemetry, encode

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="cem-ingest-bench", protocol=MQTTProtocolVersion.MQTTv5
        )
        client.tls_set_context(
            tls_context(str(self.files / "ca.pem"), str(self.files / "client.crt"), str(self.files / "client.key"))
        )
        client.reconnect_delay_set(1, 1)
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600

        def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
            c.subscribe([(f"cem/v1/{DEVICE}/telemetry", 1), (f"cem/v1/{DEVICE}/status", 1)])

        def on_subscribe(c: mqtt.Client, userdata: object, mid: int, reasons: object, props: object) -> None:
            self.subscribed.set()

        def on_message(c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            now = time.time()
            try:
                if message.topic.endswith("/telemetry"):
                    batch = decode_telemetry(bytes(message.payload))
                    if batch.device != DEVICE:
                        return  # the uplink baseline's messages
                    readings = batch.readings
                    with self.lock:
                        seen = self.seen
                        for reading in readings:
                            seq = reading.seq
                            while seq >= len(seen):
                                seen.extend(bytes(len(seen)))
                            if not seen[seq]:
                                seen[seq] = 1
                                self.distinct += 1
                        self.recv.extend([now] * len(readings))
                        self.ts.extend([reading.ts for reading in readings])
                        self.seq.extend([reading.seq for reading in readings])
                        self.estimated.extend([reading.estimated for reading in readings])
                    if readings:  # as ingest does once it committed: the gateway lets these readings go
                        seqs = [reading.seq for reading in readings]
                        confirm = Confirm(
                            kind="confirm", device=DEVICE, ts=int(now * 1000), ranges=((min(seqs), max(seqs)),)
                        )
                        c.publish(command_topic(DEVICE), encode(confirm), qos=1)
                else:
                    status = decode_status(bytes(message.payload))
                    with self.lock:
                        self.statuses.append((now, status))
            except Exception as err:  # a bad payload is a finding, not a reason to stop counting
                self.errors.append(repr(err))

        client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
        client.connect(
            HOST, self.port, keepalive=10, clean_start=mqtt.MQTT_CLEAN_START_FIRST_ONLY, properties=properties
        )
        client.loop_start()
        self.client = client
        if not self.subscribed.wait(15):
            raise RuntimeError("the ingest subscriber did not get its subscription within 15 s")

    def stop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.disconnect()
            client.loop_stop()

    # ------------------------------------------------------------------------------------ figures
    def window(self, t0: float, t1: float, *, seq_min: int = 0, seq_max: int = 2**62) -> tuple[int, int, list[float]]:
        """Readings received in [t0, t1) with seq_min < seq <= seq_max: (count, estimated, sorted latencies ms)."""
        with self.lock:
            lo, hi = bisect.bisect_left(self.recv, t0), bisect.bisect_left(self.recv, t1)
            recv, ts, seq, est = self.recv[lo:hi], self.ts[lo:hi], self.seq[lo:hi], self.estimated[lo:hi]
        latencies = [r * 1000 - t for r, t, s in zip(recv, ts, seq, strict=True) if seq_min < s <= seq_max]
        estimated = sum(e for e, s in zip(est, seq, strict=True) if seq_min < s <= seq_max)
        latencies.sort()
        return len(latencies), estimated, latencies

    def received_upto(self, mark: int) -> int:
        """How many distinct sequence numbers 1..mark arrived."""
        with self.lock:
            return self.seen.count(1, 1, mark + 1)

    def status_after(self, t: float) -> tuple[float, Any] | None:
        """The first online status the gateway made at or after ``t`` (by its own ``ts``: a retained status
        sent again on re-subscription is older), with that time in epoch seconds."""
        with self.lock:
            for _, status in self.statuses:
                made = status.ts / 1000
                if made >= t and status.state == "online":
                    return made, status
        return None

    def last_status(self, before: float = math.inf) -> Any | None:
        """The newest status received before ``before``."""
        with self.lock:
            found = [status for received, status in self.statuses if received < before]
        return found[-1] if found else None

    @property
    def total(self) -> int:
        with self.lock:
            return len(self.seq)


# ================================================================================================ measuring
@dataclass
class Snapshot:
    """CPU of each process, the gateway's memory and buffer at one instant."""

    t: float
    cpu: dict[str, float]
    rss_kb: int
    hwm_kb: int
    depth: int
    last_seq: int


def snapshot(pids: dict[str, int | None], gateway: Gateway) -> Snapshot:
    memory = memory_kb(gateway.pid)
    depth, last_seq = buffer_state(gateway.buffer)
    return Snapshot(
        time.time(),
        {name: cpu_seconds(pid) for name, pid in pids.items()},
        memory.get("VmRSS", 0),
        memory.get("VmHWM", 0),
        depth,
        last_seq,
    )


def cpu_percent(a: Snapshot, b: Snapshot, name: str) -> float:
    """CPU use between two snapshots, % of one core."""
    return 100 * (b.cpu[name] - a.cpu[name]) / max(b.t - a.t, 1e-9)


def overruns(status: Any | None) -> int:
    return sum(connection.overruns for connection in status.connections) if status is not None else 0


@dataclass
class RunResult:
    """The figures of one steady run."""

    label: str
    offered: float
    stored: float = 0.0
    delivered: float = 0.0
    ratio: float | None = None
    p50: float | None = None
    p95: float | None = None
    gateway_cpu: float = 0.0
    plant_cpu: float = 0.0
    broker_cpu: float = 0.0
    bench_cpu: float = 0.0
    hwm_mb: float = 0.0
    rss_growth_mb: float = 0.0
    depth_start: int = 0
    depth_end: int = 0
    overruns: int = 0
    dropped: int = 0
    filled: float = 0.0  # gap-filled (estimated) readings delivered per second
    duplicates: int = 0


@dataclass
class CatchUp:
    """The figures of the broker outage and the drain after it."""

    outage_s: float
    stored_during_outage: int = 0
    polling_rate: float = 0.0
    reconnect_s: float | None = None
    backlog: int = 0
    drain_s: float | None = None
    drain_rate: float | None = None
    total_rate: float | None = None
    live_rate: float | None = None
    live_p50: float | None = None
    live_p95: float | None = None
    empty_s: float | None = None
    gateway_cpu: float = 0.0
    hwm_mb: float = 0.0
    depth_peak: int = 0
    depth_end: int = 0
    overruns: int = 0
    notes: list[str] = field(default_factory=list)


def measure_live(
    label: str,
    gateway: Gateway,
    collector: Collector,
    pids: dict[str, int | None],
    *,
    points: int,
    poll_s: float,
    warmup: float,
    seconds: float,
    baseline: float,
) -> RunResult:
    """Wait out the warm-up, then measure a steady window of ``seconds``."""
    result = RunResult(label, offered=points / poll_s)
    time.sleep(warmup)
    a = snapshot(pids, gateway)
    status_a = collector.last_status()
    time.sleep(seconds)
    b = snapshot(pids, gateway)
    status_b = collector.last_status()
    count, estimated, latencies = collector.window(a.t, b.t)
    span = b.t - a.t
    result.stored = (b.last_seq - a.last_seq) / span
    result.delivered = (count - estimated) / span  # measured values only; gap-filled ones are counted apart
    result.filled = estimated / span
    result.ratio = result.delivered / baseline if baseline else None
    result.p50, result.p95 = percentile(latencies, 50), percentile(latencies, 95)
    result.gateway_cpu = cpu_percent(a, b, "gateway")
    result.plant_cpu = cpu_percent(a, b, "plant")
    result.broker_cpu = cpu_percent(a, b, "broker")
    result.bench_cpu = cpu_percent(a, b, "bench")
    result.hwm_mb = b.hwm_kb / 1024
    result.rss_growth_mb = (b.rss_kb - a.rss_kb) / 1024
    result.depth_start, result.depth_end = a.depth, b.depth
    result.overruns = overruns(status_b) - overruns(status_a)
    result.dropped = sum(status_b.dropped.values()) if status_b is not None else 0
    with collector.lock:
        result.duplicates = len(collector.seq) - collector.distinct
    return result


def measure_catch_up(
    gateway: Gateway,
    broker: Broker,
    collector: Collector,
    pids: dict[str, int | None],
    *,
    points: int,
    outage: float,
    timeout: float,
) -> CatchUp:
    """Stop the broker for ``outage`` s while the gateway polls, start it, follow the drain."""
    result = CatchUp(outage)
    live_level = 2 * points  # what a healthy buffer holds at most: about one slot of each connection in flight
    depth0, seq0 = buffer_state(gateway.buffer)
    log(f"catch-up: stopping the broker for {outage:g} s (buffer {depth0} waiting)")
    broker.stop()
    time.sleep(outage)
    depth1, seq1 = buffer_state(gateway.buffer)
    result.stored_during_outage = seq1 - seq0
    result.polling_rate = (seq1 - seq0) / outage
    pids["broker"] = None
    starting = time.time()
    broker.start()
    pids["broker"] = broker.process.pid if broker.process else None
    restarted = time.time()
    log(f"catch-up: broker back, {depth1} readings waiting; following the drain (at most {timeout:g} s)")
    a = snapshot(pids, gateway)
    deadline = restarted + timeout
    reconnect: tuple[float, Any] | None = None
    depth_peak, empty_at = depth1, None
    while time.time() < deadline:
        reconnect = collector.status_after(starting)
        depth, _ = buffer_state(gateway.buffer)
        depth_peak = max(depth_peak, depth)
        if reconnect is not None:
            if empty_at is None and depth <= live_level:
                empty_at = time.time()
            mark = int(reconnect[1].buffer.last_seq)
            if collector.received_upto(mark) >= mark and empty_at is not None:
                break
        time.sleep(0.1)
    b = snapshot(pids, gateway)
    result.gateway_cpu = cpu_percent(a, b, "gateway")
    result.hwm_mb = b.hwm_kb / 1024
    result.depth_peak, result.depth_end = depth_peak, b.depth
    result.overruns = overruns(collector.last_status())
    if reconnect is None:
        result.notes.append(f"the gateway did not reconnect within {timeout:g} s")
        return result
    connected_at, status = reconnect
    mark = int(status.buffer.last_seq)
    result.reconnect_s = max(connected_at - restarted, 0.0)
    before = collector.window(0, connected_at, seq_max=mark)[0]
    result.backlog = mark - min(before, mark)
    if collector.received_upto(mark) < mark:
        result.notes.append(
            f"{mark - collector.received_upto(mark)} backlog readings still missing after {timeout:g} s"
        )
        return result
    # the drain ended when the last backlog reading arrived
    with collector.lock:
        arrivals = [r for r, s in zip(collector.recv, collector.seq, strict=True) if s <= mark and r >= connected_at]
    finished = max(arrivals, default=connected_at)
    result.drain_s = max(finished - connected_at, 1e-3)
    result.drain_rate = result.backlog / result.drain_s
    everything = collector.window(connected_at, finished + 1e-6)[0]
    result.total_rate = everything / result.drain_s
    live, _, latencies = collector.window(connected_at, finished + 1e-6, seq_min=mark)
    result.live_rate = live / result.drain_s
    result.live_p50, result.live_p95 = percentile(latencies, 50), percentile(latencies, 95)
    result.empty_s = empty_at - connected_at if empty_at is not None else None
    return result


# ================================================================================================ baselines
@dataclass
class Baseline:
    """What each side can do alone, measured in this process: the field side and the uplink."""

    reads: float = 0.0  # readings/s, Modbus driver alone, all connections at once
    requests: float = 0.0  # Modbus requests/s during that
    one_pass_ms: float = 0.0  # one read of every point
    uplink_one: float = 0.0  # readings/s, one message of batch_max readings in flight at a time
    uplink_one_p50_ms: float | None = None  # publish -> PUBACK of one such message
    uplink_many: float = 0.0  # readings/s with `inflight` messages in flight at once
    message_bytes: int = 0


async def baseline_reads(config: Path, seconds: float, result: Baseline) -> None:
    """The Modbus driver alone, all connections at once, as fast as it can."""
    from cem_gateway.drivers import make_driver
    from cem_gateway.pointmap import load_point_map

    point_map = load_point_map(config)
    work = [(make_driver(c, point_map.points_of(n)), point_map.points_of(n)) for n, c in point_map.connections.items()]
    for driver, _ in work:
        await driver.connect()
    try:
        started = time.perf_counter()
        await asyncio.gather(*(driver.read(points, time.time()) for driver, points in work))
        result.one_pass_ms = (time.perf_counter() - started) * 1000
        requests0 = sum(getattr(driver, "requests", 0) for driver, _ in work)
        end = time.perf_counter() + seconds
        counts = [0] * len(work)

        async def loop(index: int) -> None:
            driver, points = work[index]
            while time.perf_counter() < end:
                readings = await driver.read(points, time.time())
                counts[index] += sum(1 for reading in readings if reading.value is not None)

        started = time.perf_counter()
        await asyncio.gather(*(loop(index) for index in range(len(work))))
        elapsed = time.perf_counter() - started
        result.reads = sum(counts) / elapsed
        result.requests = (sum(getattr(driver, "requests", 0) for driver, _ in work) - requests0) / elapsed
    finally:
        for driver, _ in work:
            await driver.close()


async def baseline_uplink(
    identity: Path, port: int, batch: int, inflight: int, seconds: float, result: Baseline
) -> None:
    """The gateway's `Uplink` alone (same TLS, same broker): messages of ``batch`` readings, PUBACK awaited.

    The batches name a device other than the gateway's, so the subscriber leaves them out of every figure.
    """
    from cem_gateway.uplink import Uplink, tls_context
    from cem_gateway.wire import Reading, TelemetryBatch, encode, telemetry_topic

    now = int(time.time()) * 1000
    readings = tuple(
        Reading(seq + 1, f"BENCH.PLC1.F{seq:04d}", now, 123.456 + seq, FLOW_UNIT, delta=0.25, since=now - 1000)
        for seq in range(batch)
    )
    payload = encode(TelemetryBatch(device="baseline", sent=now, readings=readings))
    result.message_bytes = len(payload)
    uplink = Uplink(
        client_id=f"{DEVICE}-baseline",
        host=HOST,
        port=port,
        context=lambda: tls_context(
            str(identity / "ca.pem"), str(identity / "device.crt"), str(identity / "device.key")
        ),
        max_inflight=max(20, 2 * inflight + 2),
    )
    topic = telemetry_topic(DEVICE)
    await uplink.connect()
    try:
        times: list[float] = []
        end = time.perf_counter() + seconds / 2
        started = time.perf_counter()
        while time.perf_counter() < end and len(times) < 400:
            sent = time.perf_counter()
            await uplink.publish(topic, payload)
            times.append((time.perf_counter() - sent) * 1000)
        result.uplink_one = len(times) * batch / (time.perf_counter() - started)
        result.uplink_one_p50_ms = percentile(sorted(times), 50)
        rounds = 0
        end = time.perf_counter() + seconds / 2
        started = time.perf_counter()
        while time.perf_counter() < end and rounds < 400:
            await asyncio.gather(*(uplink.publish(topic, payload) for _ in range(inflight)))
            rounds += 1
        result.uplink_many = rounds * inflight * batch / (time.perf_counter() - started)
    finally:
        await uplink.close()


# ================================================================================================ report
def report(
    args: argparse.Namespace,
    baseline: Baseline,
    runs: list[RunResult],
    catch_up: CatchUp | None,
    failures: list[str],
) -> str:
    b = baseline
    out = [
        "",
        f"CEM field gateway benchmark: {args.points:,} points on {args.connections} Modbus TCP connections,"
        f" batch_max {args.batch_max}, inflight {args.inflight}, max_block {args.max_block}, {os.cpu_count()} CPUs",
        "",
        "baselines (in the bench process, each side alone):",
        "  Modbus driver, all connections at once",
        f"    raw reads/s                  {fmt(b.reads)}",
        f"    requests/s                   {fmt(b.requests)}",
        f"    one read of all points       {fmt(b.one_pass_ms, 1, ' ms')}",
        f"  uplink ({args.batch_max}-reading messages of {fmt(b.message_bytes)} B, QoS 1, PUBACK awaited)",
        f"    1 in flight: readings/s      {fmt(b.uplink_one)}"
        f" (publish->PUBACK p50 {fmt(b.uplink_one_p50_ms, 1, ' ms')})",
        f"    {args.inflight} in flight: readings/s      {fmt(b.uplink_many)}",
        "",
        f"steady runs ({args.seconds:g} s window after {args.warmup:g} s warm-up):",
    ]
    rows: list[tuple[str, list[str]]] = [
        ("offered points/s", [fmt(r.offered) for r in runs]),
        ("stored readings/s (with filled)", [fmt(r.stored) for r in runs]),
        ("delivered points/s (measured)", [fmt(r.delivered) for r in runs]),
        ("delivered gap-filled/s", [fmt(r.filled) for r in runs]),
        ("delivered / raw reads", [fmt(r.ratio, 3) for r in runs]),
        (
            "delivered / uplink 1 in flight",
            [fmt(r.delivered / b.uplink_one if b.uplink_one else None, 2) for r in runs],
        ),
        ("latency p50", [fmt(r.p50, 0, " ms") for r in runs]),
        ("latency p95", [fmt(r.p95, 0, " ms") for r in runs]),
        ("gateway CPU", [fmt(r.gateway_cpu, 0, " %") for r in runs]),
        ("Modbus plant CPU", [fmt(r.plant_cpu, 0, " %") for r in runs]),
        ("Mosquitto CPU", [fmt(r.broker_cpu, 0, " %") for r in runs]),
        ("bench (subscriber) CPU", [fmt(r.bench_cpu, 0, " %") for r in runs]),
        ("gateway peak RSS", [fmt(r.hwm_mb, 1, " MB") for r in runs]),
        ("gateway RSS growth", [fmt(r.rss_growth_mb, 1, " MB") for r in runs]),
        ("buffer depth start/end", [f"{r.depth_start:,}/{r.depth_end:,}" for r in runs]),
        ("poll overruns", [fmt(r.overruns) for r in runs]),
        ("dropped by quality", [fmt(r.dropped) for r in runs]),
        ("duplicates received", [fmt(r.duplicates) for r in runs]),
    ]
    out.append(table(rows, [r.label for r in runs]))
    if catch_up is not None:
        c = catch_up
        out += [
            "",
            f"catch-up (poll {args.poll:g} s, broker stopped for {c.outage_s:g} s):",
            f"  stored during the outage     {fmt(c.stored_during_outage)} readings ({fmt(c.polling_rate)} /s)",
            f"  reconnect after broker back  {fmt(c.reconnect_s, 1, ' s')}",
            f"  backlog at reconnect         {fmt(c.backlog)} readings",
            f"  drain time                   {fmt(c.drain_s, 1, ' s')}",
            f"  backlog drain rate           {fmt(c.drain_rate)} readings/s",
            f"  delivered during the drain   {fmt(c.total_rate)} readings/s (live + backlog)",
            f"  live during the drain        {fmt(c.live_rate)} readings/s,"
            f" latency p50 {fmt(c.live_p50, 0, ' ms')}, p95 {fmt(c.live_p95, 0, ' ms')}",
            f"  buffer back to live level    {fmt(c.empty_s, 1, ' s')} after reconnect",
            f"  buffer depth peak/end        {c.depth_peak:,}/{c.depth_end:,}",
            f"  gateway CPU during the drain {fmt(c.gateway_cpu, 0, ' %')}",
            f"  gateway peak RSS             {fmt(c.hwm_mb, 1, ' MB')}",
            f"  poll overruns (total)        {fmt(c.overruns)}",
        ]
        out += [f"  note: {note}" for note in c.notes]
    out += [f"FAILED: {failure}" for failure in failures]
    return "\n".join(out)


# ================================================================================================ main
def start_plant(root: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], list[int]]:
    ready = root / "plant.ready"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve-modbus",
        str(ready),
        "--points",
        str(args.points),
        "--connections",
        str(args.connections),
        "--seed",
        str(args.seed),
    ]
    with (root / "plant.log").open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 - this script
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None:
            raise RuntimeError(f"the Modbus plant exited: {(root / 'plant.log').read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError("the Modbus plant did not start within 60 s")
        time.sleep(0.05)
    return process, [int(port) for port in ready.read_text().split(",")]


def bench(args: argparse.Namespace) -> int:
    failures: list[str] = []
    runs: list[RunResult] = []
    catch_up: CatchUp | None = None
    plant: subprocess.Popen[bytes] | None = None
    broker: Broker | None = None
    collector: Collector | None = None
    gateway: Gateway | None = None
    baseline = Baseline()
    with workspace("cem-gateway-bench-") as root:
        try:
            layout = plant_layout(args.points, args.connections, args.seed)
            log(f"starting the Modbus plant: {args.points} points on {args.connections} connections")
            plant, ports = start_plant(root, args)
            broker_port = free_port()
            files = write_pki(root, broker_port)
            broker = Broker(files.broker, broker_port)
            broker.start()
            collector = Collector(broker_port, files.ingest)
            collector.start()
            log(f"Mosquitto (mTLS) on {HOST}:{broker_port}, subscriber connected")

            def config(poll_s: float, name: str) -> Path:
                folder = root / name
                folder.mkdir()
                path = folder / "gateway.toml"
                path.write_text(
                    point_map_toml(
                        layout,
                        ports,
                        identity=files.identity,
                        poll_s=poll_s,
                        batch_max=args.batch_max,
                        inflight=args.inflight,
                        max_block=args.max_block,
                        # the outage's readings and two minutes more fit: the drain is measured, not eviction
                        capacity=max(2_000_000, math.ceil(args.points / poll_s * (args.outage + 120) * 1.25)),
                    )
                )
                return path

            first = config(args.poll, "run-1")
            log(f"baselines: the Modbus driver alone, then the uplink alone, {args.baseline_seconds:g} s each")
            asyncio.run(baseline_reads(first, args.baseline_seconds, baseline))
            asyncio.run(
                baseline_uplink(
                    files.identity, broker_port, args.batch_max, args.inflight, args.baseline_seconds, baseline
                )
            )
            log(f"baselines: {baseline.reads:,.0f} reads/s; uplink {baseline.uplink_one:,.0f} readings/s (1 in flight)")

            pids: dict[str, int | None] = {
                "plant": plant.pid,
                "broker": broker.process.pid if broker.process else None,
                "bench": os.getpid(),
            }
            polls = [args.poll, *args.fast_poll]
            for number, poll_s in enumerate(polls, start=1):
                path = first if number == 1 else config(poll_s, f"run-{number}")
                collector.reset()
                gateway = Gateway.start(path)
                pids["gateway"] = gateway.pid
                log(f"run {number}: gateway pid {gateway.pid}, poll {poll_s:g} s; warm-up {args.warmup:g} s")
                result = measure_live(
                    f"poll {poll_s:g} s",
                    gateway,
                    collector,
                    pids,
                    points=args.points,
                    poll_s=poll_s,
                    warmup=args.warmup,
                    seconds=args.seconds,
                    baseline=baseline.reads,
                )
                runs.append(result)
                log(f"run {number}: delivered {result.delivered:,.0f} points/s of {result.offered:,.0f} offered")
                if result.delivered <= 0:
                    failures.append(f"run {number} (poll {poll_s:g} s): no telemetry arrived")
                if number == 1 and args.outage > 0:
                    catch_up = measure_catch_up(
                        gateway,
                        broker,
                        collector,
                        pids,
                        points=args.points,
                        outage=args.outage,
                        timeout=args.drain_timeout,
                    )
                    if catch_up.reconnect_s is None:
                        failures.append("catch-up: the gateway did not reconnect")
                code = gateway.stop()
                if code != 0:
                    failures.append(f"run {number}: the gateway exited with {code}:\n{gateway.output()[-6000:]}")
                problems = [line for line in gateway.output().splitlines() if "Traceback" in line or " ERROR " in line]
                if problems:
                    failures.append(f"run {number}: the gateway logged errors: {problems[:3]}")
                gateway = None
            if collector.errors:
                failures.append(f"undecodable payloads: {collector.errors[:3]}")
        finally:
            if gateway is not None:
                gateway.stop()
            if collector is not None:
                collector.stop()
            if broker is not None:
                broker.stop()
            stop_process(plant)
    print(report(args, baseline, runs, catch_up, failures), flush=True)
    return 1 if failures else 0


def _terminate(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the clean-up short
    raise KeyboardInterrupt  # unwinds through every `finally`: processes stopped, folder removed


def positive_list(text: str) -> list[float]:
    values = [float(part) for part in text.split(",") if part.strip()]
    if any(value <= 0 for value in values):
        raise argparse.ArgumentTypeError("poll periods must be greater than 0")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--points", type=int, default=5000, help="points in the map (default 5000)")
    parser.add_argument("--connections", type=int, default=5, help="Modbus TCP connections (default 5)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window of each run (default 30)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before each window (default 5)")
    parser.add_argument("--poll", type=float, default=1.0, help="poll period of the first run (default 1.0)")
    parser.add_argument(
        "--fast-poll", type=positive_list, default=[0.25, 0.1, 0.05], help="faster poll periods, comma separated"
    )
    parser.add_argument("--outage", type=float, default=20.0, help="broker outage in seconds, 0 = none (default 20)")
    parser.add_argument("--drain-timeout", type=float, default=180.0, help="longest wait for the drain (default 180)")
    parser.add_argument("--baseline-seconds", type=float, default=5.0, help="driver-only read time (default 5)")
    parser.add_argument("--batch-max", type=int, default=500, help="readings per MQTT message (default 500)")
    parser.add_argument("--inflight", type=int, default=4, help="unacknowledged messages at once (default 4)")
    parser.add_argument("--max-block", type=int, default=100, help="registers per Modbus request (default 100)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--serve-modbus", metavar="READY_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_modbus:
        asyncio.run(serve_plant(Path(args.serve_modbus), args.points, args.connections, args.seed))
        return 0
    if args.points < args.connections or args.connections < 1:
        parser.error("--points must be at least --connections, which must be at least 1")
    if args.points // args.connections * 2 > 65536:
        parser.error("too many points per connection for the Modbus address space")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return bench(args)
    except KeyboardInterrupt:
        log("interrupted: every process stopped, the temporary folder removed")
        return 130


if __name__ == "__main__":
    sys.exit(main())
