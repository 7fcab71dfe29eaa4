"""Ingest benchmark: sustained points/s stored, ingest lag and CPU of `cem ingest` behind Mosquitto.

Everything real, on loopback: a throwaway PostgreSQL database migrated with the real migrations, one
enterprise with ``--gateways`` x ``--points-per-gateway`` points (sample period 1 s), the registry's CA,
Mosquitto with the registry's generated mTLS configuration, gateways registered and enrolled through
``DeviceRegistry`` with their own keys, a private Redis for the live fan-out, ``--ingest-processes``
``cem ingest`` processes (one shared-subscription group) and the rollup fold every 10 s in its own process,
as production runs it beside ingest. The simulated gateways run in a separate process (this script with the
hidden ``--publish`` option): one paho MQTT 5 client per gateway with its certificate, QoS 1, at most
``--inflight`` messages unacknowledged, publishing on every second one reading per active point for that
second's slot, in messages of ``--batch`` readings.

Runs, in order:

1. baselines: (a) the store alone, ``TimeSeriesStore.write`` of the same batches in groups like ingest's,
   one writer, no MQTT and no checks; (b) the broker alone, the publishers at the top rate and then flat out
   with one counting subscriber and no ingest;
2. each rate of ``--rates`` (readings/s across the gateways): ``--warmup`` s, then a ``--seconds`` window;
   the publishers stop and the backlog drains before the next rate.

Run it from the repository root (PostgreSQL as in the tests, CEM_TEST_POSTGRES_URL; Mosquitto installed)::

    .venv/bin/python bench/ingest_bench.py                    # 10 gateways x 3,000 points, about 5 minutes
    .venv/bin/python bench/ingest_bench.py --gateways 2 --points-per-gateway 200 --rates 400 --seconds 3 --warmup 1

Progress goes to stderr, the figures to stdout. Every process started is stopped, the database dropped and
the temporary folder removed, also on Ctrl-C and SIGTERM. CEM_BENCH_PROFILE=DIR runs each ingest process
under cProfile (thread CPU clock) and leaves DIR/ingest-N.prof; with CEM_BENCH_PROFILE_MODE=sample it samples
the event loop's stack every 2 ms into DIR/ingest-N.samples instead. See bench/README.md for what each figure
means.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from benchkit import HOST, cpu_seconds, fmt, free_port, percentile, port_open, stop_process, table, workspace

ADMIN_URL = os.environ.get("CEM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
PROFILE_ENV = "CEM_BENCH_PROFILE"  # a folder: each ingest process is profiled into it
PROFILE_MODE_ENV = "CEM_BENCH_PROFILE_MODE"  # "cprofile" (default) or "sample"
READY_LINE = "ingest running as"
SEQ_EPOCH = 1_700_000_000  # seq = (slot - SEQ_EPOCH) * points + n: grows across publisher processes
FLOW_UNIT, TOTAL_UNIT = "m3/h", "m3"
GOAL_RATE, GOAL_P95_MS = 20_000, 2_000


def log(message: str) -> None:
    """A progress line on stderr (the figures go to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(record: dict[str, Any]) -> None:
    """One JSON line on stdout (the helper processes' way of reporting to the bench)."""
    print(json.dumps(record), flush=True)


# ================================================================================================ the points
@dataclass(frozen=True, slots=True)
class SimPoint:
    """One simulated meter: a flow (a slow sine) or a totaliser (a steady count with its delta)."""

    code: str
    kind: str  # "flow" | "totaliser"
    unit: str
    base: float
    amplitude: float  # flow only
    period: float  # flow: seconds per sine cycle
    phase: float  # flow only
    rate: float  # totaliser: units per second


def gateway_points(gateway: int, count: int, seed: int) -> list[SimPoint]:
    """The points of one gateway (seeded: the same in the database and in the publishers)."""
    rng = random.Random(seed * 100_003 + gateway)  # noqa: S311 - test data, not cryptography
    points: list[SimPoint] = []
    for index in range(count):
        if index % 2 == 0:
            base = rng.uniform(100.0, 1000.0)
            points.append(
                SimPoint(
                    f"BENCH.G{gateway + 1:02d}.F{index:05d}",
                    "flow",
                    FLOW_UNIT,
                    base,
                    base * rng.uniform(0.05, 0.2),
                    rng.uniform(30.0, 300.0),
                    rng.uniform(0.0, 2 * math.pi),
                    0.0,
                )
            )
        else:
            points.append(
                SimPoint(
                    f"BENCH.G{gateway + 1:02d}.T{index:05d}",
                    "totaliser",
                    TOTAL_UNIT,
                    rng.uniform(1e5, 1e7),
                    0.0,
                    1.0,
                    0.0,
                    rng.uniform(0.05, 20.0),
                )
            )
    return points


def point_value(point: SimPoint, slot: int) -> tuple[float, float | None]:
    """(value, delta since the previous 1 s slot) of a point at ``slot`` (epoch seconds)."""
    if point.kind == "flow":
        return round(point.base + point.amplitude * math.sin(2 * math.pi * slot / point.period + point.phase), 3), None
    return round(point.base + point.rate * (slot % 10_000_000), 2), round(point.rate, 4)


def split_rate(rate: int, gateways: int, points: int) -> list[int]:
    """Active points per gateway for ``rate`` readings/s (1 reading per point per second), capped at ``points``."""
    share = [rate // gateways + (1 if g < rate % gateways else 0) for g in range(gateways)]
    return [min(points, s) for s in share]


# ================================================================================================ publishers
class SimGateway:
    """One simulated gateway: its own certificate, QoS 1, at most ``inflight`` messages unacknowledged."""

    def __init__(
        self, device: str, directory: Path, points: list[SimPoint], *, total_points: int, port: int, batch: int
    ) -> None:
        self.device, self.directory, self.points = device, directory, points
        self.total_points, self.port, self.batch = total_points, port, batch
        self.window = threading.Semaphore(1)
        self.sizes: collections.deque[int] = collections.deque()  # readings of each unacknowledged message
        self.sent = 0  # readings handed to paho
        self.acked = 0  # readings the broker acknowledged (PUBACK)
        self.late = 0.0  # how late the current slot started, s
        self.error: str | None = None
        self.connected = threading.Event()
        self.client: Any = None

    def connect(self, inflight: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

        from cem_gateway.uplink import tls_context

        self.window = threading.Semaphore(inflight)
        d = self.directory
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.device, protocol=MQTTProtocolVersion.MQTTv5)
        client.tls_set_context(tls_context(str(d / "ca.pem"), str(d / "device.crt"), str(d / "device.key")))
        client.max_inflight_messages_set(inflight + 1)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.connect(HOST, self.port, keepalive=30)
        sock = client.socket()
        if isinstance(sock, socket.socket):  # like the gateway's uplink: no Nagle delay before a PUBACK
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.loop_start()
        self.client = client

    def _on_connect(self, client: Any, userdata: object, flags: object, reason: object, props: object) -> None:
        if getattr(reason, "is_failure", False):
            self.error = f"broker refused {self.device}: {reason}"
        else:
            self.connected.set()

    def _on_publish(self, client: Any, userdata: object, mid: int, reason: object, props: object) -> None:
        size = self.sizes.popleft() if self.sizes else 0  # QoS 1 on one connection: PUBACKs come in order
        if getattr(reason, "is_failure", False):
            self.error = f"{self.device}: PUBACK {reason}"
        else:
            self.acked += size
        self.window.release()

    def send(self, topic: str, payload: bytes, size: int, stop: threading.Event, *, retain: bool = False) -> bool:
        """Publish once a slot of the in-flight window is free; False when stopping or failed."""
        while not self.window.acquire(timeout=0.5):
            if stop.is_set() or self.error is not None:
                return False
        self.sizes.append(size)
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != 0:
            with contextlib.suppress(IndexError):
                self.sizes.pop()
            self.window.release()
            self.error = f"{self.device}: publish failed with rc {info.rc}"
            return False
        self.sent += size
        return True

    def send_status(self, slot: int, stop: threading.Event) -> None:
        """The retained online status a gateway sends on every connect."""
        from cem_gateway.wire import BufferState, Status, encode, status_topic

        now = int(time.time() * 1000)
        status = Status(
            device=self.device,
            state="online",
            ts=now,
            firmware="ingest-bench",
            started=now,
            uptime_s=0,
            heartbeat_s=30.0,
            buffer=BufferState(depth=0, capacity=2_000_000, last_seq=(slot - SEQ_EPOCH) * self.total_points),
        )
        self.send(status_topic(self.device), encode(status), 0, stop, retain=True)

    def run(self, first_slot: int, deadline: float, flood: bool, stop: threading.Event) -> None:
        """Paced: every second on the second, the readings of that slot. Flood: slot after slot, no waiting."""
        from cem_gateway.wire import Reading, TelemetryBatch, encode, telemetry_topic

        topic = telemetry_topic(self.device)
        slot = first_slot
        try:
            while not stop.is_set() and self.error is None and time.time() < deadline:
                if not flood:
                    wait = slot - time.time()
                    if wait > 0 and stop.wait(wait):
                        break
                    self.late = max(0.0, time.time() - slot)
                ts = slot * 1000
                seq = (slot - SEQ_EPOCH) * self.total_points
                readings: list[Reading] = []
                for point in self.points:
                    seq += 1
                    value, delta = point_value(point, slot)
                    if delta is None:
                        readings.append(Reading(seq, point.code, ts, value, point.unit))
                    else:
                        readings.append(Reading(seq, point.code, ts, value, point.unit, delta=delta, since=ts - 1000))
                sent = int(time.time() * 1000)
                for start in range(0, len(readings), self.batch):
                    chunk = tuple(readings[start : start + self.batch])
                    payload = encode(TelemetryBatch(device=self.device, sent=sent, readings=chunk))
                    if not self.send(topic, payload, len(chunk), stop):
                        return
                slot += 1
        except Exception as err:  # reported to the bench, which fails the run
            self.error = f"{self.device}: {err!r}"

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()


def publish_main(spec_file: Path) -> int:
    """The publishers' process: the gateways of the spec, until SIGTERM, the deadline or the bench's end."""
    spec = json.loads(spec_file.read_text())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    gateways = [
        SimGateway(
            g["device"],
            Path(g["dir"]),
            gateway_points(g["index"], spec["points"], spec["seed"])[: g["active"]],
            total_points=spec["points"],
            port=spec["port"],
            batch=spec["batch"],
        )
        for g in spec["gateways"]
    ]
    for gateway in gateways:
        gateway.connect(spec["inflight"])
    deadline = time.monotonic() + 30
    for gateway in gateways:
        if not gateway.connected.wait(max(0.1, deadline - time.monotonic())) or gateway.error:
            emit({"t": time.time(), "error": gateway.error or f"{gateway.device} did not connect within 30 s"})
            for item in gateways:
                item.close()
            return 1
    flood = spec["mode"] == "flood"
    first_slot = math.floor(time.time()) + 1
    if flood:
        first_slot -= 1_000_000  # ts well in the past: nobody stores the flood
    for gateway in gateways:
        gateway.send_status(first_slot, stop)
    end = time.time() + spec["seconds"]
    threads = [
        threading.Thread(target=gateway.run, args=(first_slot, end, flood, stop), daemon=True) for gateway in gateways
    ]
    for thread in threads:
        thread.start()
    emit({"t": time.time(), "started": True, "gateways": len(gateways)})
    parent = os.getppid()

    def report(final: bool = False) -> None:
        emit(
            {
                "t": time.time(),
                "sent": sum(g.sent for g in gateways),
                "acked": sum(g.acked for g in gateways),
                "late_s": max((g.late for g in gateways), default=0.0),
                "errors": [g.error for g in gateways if g.error],
                "final": final,
            }
        )

    while not stop.is_set() and time.time() < end + 1 and any(t.is_alive() for t in threads):
        report()
        if os.getppid() != parent:  # the bench is gone
            break
        # Report at x.25 and x.75 s: lines a whole number of seconds apart see the same phase of the
        # once-a-second bursts, so the bench can take rates over whole seconds.
        now = time.time()
        stop.wait(max(0.0, (math.floor((now - 0.25) * 2) + 1) / 2 + 0.25 - now))
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    settle = time.monotonic() + 5
    while any(g.sizes for g in gateways) and time.monotonic() < settle:  # the last PUBACKs
        time.sleep(0.05)
    report(final=True)
    for gateway in gateways:
        gateway.close()
    return 1 if any(g.error for g in gateways) else 0


# ================================================================================================ the fold
def fold_main(every: float) -> int:
    """The rollup fold (its own process and database connection): fold_all every ``every`` s, until SIGTERM."""
    from cem_platform.db import close_db, init_db
    from cem_platform.settings import load_settings

    settings = load_settings()
    try:
        from cem_platform.telemetry.rollup import fold_all
    except ImportError as err:
        emit({"t": time.time(), "unavailable": repr(err)})
        return 0

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        parent = os.getppid()
        await init_db(settings.database)
        try:
            while not stop.is_set() and os.getppid() == parent:
                started = time.time()
                try:
                    folded = await fold_all(settings)
                    emit({"t": time.time(), "folded": folded, "seconds": time.time() - started})
                except Exception as err:  # a failing fold is a finding; the bench reports it
                    emit({"t": time.time(), "error": repr(err), "seconds": time.time() - started})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.1, started + every - time.time()))
        finally:
            await close_db()

    asyncio.run(run())
    return 0


# ================================================================================================ processes
def wait_for_port(process: subprocess.Popen[bytes], port: int, what: str, log_file: Path) -> None:
    deadline = time.monotonic() + 15
    while not port_open(port):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log_file.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not open its port within 15 s")
        time.sleep(0.05)


class Daemon:
    """Mosquitto or Redis on a free loopback port, its output in a log file."""

    def __init__(self, name: str, command: list[str], port: int, log_file: Path) -> None:
        self.name, self.command, self.port, self.log = name, command, port, log_file
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=out)  # noqa: S603 - our own daemon
        wait_for_port(self.process, self.port, self.name, self.log)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


def mosquitto(directory: Path, port: int) -> Daemon:
    binary = shutil.which("mosquitto")
    if binary is None:
        raise SystemExit("mosquitto is not installed: install the mosquitto package and run again")
    return Daemon("mosquitto", [binary, "-c", str(directory / "mosquitto.conf")], port, directory / "mosquitto.log")


def redis_server(directory: Path, port: int) -> Daemon | None:
    """A private Redis (no persistence): ingest's live events go nowhere near the shared one on 6379."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    directory.mkdir()
    command = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    command += ["--dir", str(directory), "--loglevel", "warning"]
    return Daemon("redis", command, port, directory / "redis.log")


@dataclass(frozen=True, slots=True)
class Stat:
    """One "ingest stats" line: counters since the process started, lags of the window since the last line."""

    t: float
    messages: int
    stored: int
    duplicates: int
    rejected: int
    dead_letters: int
    window_stored: int
    p50: float | None
    p95: float | None
    lag_max: float | None

    @property
    def handled(self) -> int:
        """Readings taken off the broker and settled: stored, duplicate or refused."""
        return self.stored + self.duplicates + self.rejected


def parse_time(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


class Ingest:
    """One `cem ingest` process; a thread reads its JSON log lines and keeps the stats."""

    def __init__(self, number: int, root: Path, env: dict[str, str], profile: Path | None) -> None:
        self.number, self.root, self.env, self.profile = number, root, env, profile
        # the broker makes the certificate's CN the client id: each process has its own (ingest_identities[number])
        self.client_id = f"cem-ingest-{number}"
        self.log_file = root / f"ingest-{number}.log"
        self.lock = threading.Lock()
        self.stats: list[Stat] = []
        self.final: Stat | None = None
        self.problems: list[str] = []
        self.tail: collections.deque[str] = collections.deque(maxlen=60)
        self.ready = threading.Event()
        self.process: subprocess.Popen[str] | None = None
        self.reader: threading.Thread | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "cem_platform.cli"]
        if self.profile is not None:  # this script runs the same command under cProfile
            out = self.profile / f"ingest-{self.number}.prof"
            command = [sys.executable, str(Path(__file__).resolve()), "--profiled", str(out)]
        command += ["ingest", "--identity-dir", str(self.root / self.client_id)]
        self.process = subprocess.Popen(  # noqa: S603 - the platform's own command
            command, cwd=self.root, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream: Iterator[str]) -> None:
        with self.log_file.open("a") as out:
            for line in stream:
                out.write(line)
                self.tail.append(line.rstrip())
                self._parse(line)

    def _parse(self, line: str) -> None:
        if not line.startswith("{"):
            if "Traceback" in line:
                self.problems.append(line.strip())
            return
        try:
            record = json.loads(line)
        except ValueError:
            return
        message = str(record.get("msg", ""))
        if READY_LINE in message:
            self.ready.set()
        if record.get("level") in ("error", "critical") or "write failed" in message or "refused" in message:
            with self.lock:
                self.problems.append(f"{record.get('level')}: {message} {record.get('reason', '')}".strip())
        if message not in ("ingest stats", "ingest final stats"):
            return
        stat = Stat(
            t=parse_time(record["ts"]),
            messages=int(record.get("messages", 0)),
            stored=int(record.get("stored", 0)),
            duplicates=int(record.get("duplicates", 0)),
            rejected=int(record.get("rejected", 0)),
            dead_letters=int(record.get("dead_letters", 0)),
            window_stored=int(record.get("window_stored", 0) or 0),
            p50=record.get("lag_p50_ms"),
            p95=record.get("lag_p95_ms"),
            lag_max=record.get("lag_max_ms"),
        )
        with self.lock:
            if message == "ingest final stats":
                self.final = stat
            else:
                self.stats.append(stat)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.2):
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"ingest {self.number} exited with {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ingest {self.number} was not running within {timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        return "\n".join(self.tail)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def latest(self) -> Stat | None:
        with self.lock:
            return self.stats[-1] if self.stats else None

    def stat_after(self, t: float, timeout: float) -> Stat | None:
        """The first stats line made at or after ``t`` (waits for it, at most ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = next((s for s in self.stats if s.t >= t), None)
            if found is not None or time.monotonic() > deadline:
                return found
            if self.process is not None and self.process.poll() is not None:
                return None
            time.sleep(0.1)

    def between(self, t0: float, t1: float) -> list[Stat]:
        """Stats lines made in (t0, t1]."""
        with self.lock:
            return [s for s in self.stats if t0 < s.t <= t1]

    def stop(self) -> int | None:
        code = stop_process(self.process, timeout=30)
        if self.reader is not None:
            self.reader.join(timeout=10)
        return code


class JsonLines:
    """A helper process of this script (publishers, fold) that reports JSON lines on stdout."""

    def __init__(self, name: str, command: list[str], log_file: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.command, self.log_file, self.env = name, command, log_file, env
        self.lines: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.process: subprocess.Popen[str] | None = None
        self.reader: threading.Thread | None = None

    def start(self) -> None:
        with self.log_file.open("ab") as err:
            self.process = subprocess.Popen(  # noqa: S603 - this script
                self.command, stdout=subprocess.PIPE, stderr=err, text=True, env=self.env
            )
        self.reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream: Iterator[str]) -> None:
        for line in stream:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                with self.lock:
                    self.lines.append(record)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.lines)

    def wait_for(self, check: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in self.snapshot() if check(line)), None)
            if found is not None:
                return found
            if self.process is not None and self.process.poll() is not None:
                time.sleep(0.2)  # the reader may still hold the last lines
                return next((line for line in self.snapshot() if check(line)), None)
            time.sleep(0.05)
        return None

    def stop(self) -> int | None:
        code = stop_process(self.process)
        if self.reader is not None:
            self.reader.join(timeout=10)
        return code

    def errors(self) -> str:
        return self.log_file.read_text(errors="replace")[-3000:] if self.log_file.exists() else ""


class Publishers:
    """The publisher processes of one run (the gateways split over ``processes``)."""

    def __init__(self, ctx: Context, name: str, active: list[int], *, mode: str, seconds: float) -> None:
        self.parts: list[JsonLines] = []
        count = max(1, min(ctx.args.publisher_processes, len(ctx.gateways)))
        for number in range(count):
            spec = {
                "port": ctx.broker_port,
                "points": ctx.args.points_per_gateway,
                "seed": ctx.args.seed,
                "batch": ctx.args.batch,
                "inflight": ctx.args.inflight,
                "mode": mode,
                "seconds": seconds,
                "gateways": [
                    {"device": device, "dir": str(directory), "index": index, "active": active[index]}
                    for index, (device, directory) in enumerate(ctx.gateways)
                    if index % count == number and active[index] > 0
                ],
            }
            spec_file = ctx.root / f"{name}-{number + 1}.json"
            spec_file.write_text(json.dumps(spec))
            command = [sys.executable, str(Path(__file__).resolve()), "--publish", str(spec_file)]
            self.parts.append(JsonLines(f"{name}-{number + 1}", command, ctx.root / f"{name}-{number + 1}.log"))

    def start(self) -> None:
        for part in self.parts:
            part.start()
        for part in self.parts:
            started = part.wait_for(lambda line: bool(line.get("started") or line.get("error")), 60)
            if started is None or "error" in started:
                detail = started.get("error") if started else "no answer within 60 s"
                raise RuntimeError(f"publishers {part.name} did not start: {detail}\n{part.errors()}")

    @property
    def pids(self) -> list[int | None]:
        return [part.pid for part in self.parts]

    def acked_rate(self, a: float, b: float) -> float | None:
        """PUBACKed readings/s between a and b: from the first report line in the window to the last one a whole
        number of seconds after it (the publishers send a burst each second; see publish_main)."""
        total = 0.0
        for part in self.parts:
            lines = [line for line in part.snapshot() if "acked" in line and a <= line["t"] <= b]
            if len(lines) < 2:
                return None
            first = lines[0]
            whole = [
                line
                for line in lines[1:]
                if line["t"] - first["t"] > 0.9 and abs((line["t"] - first["t"]) % 1.0 - 0.5) > 0.4
            ]
            last = whole[-1] if whole else lines[-1]
            if last["t"] <= first["t"]:
                return None
            total += (last["acked"] - first["acked"]) / (last["t"] - first["t"])
        return total

    def acked_at(self, t: float) -> int:
        """Readings PUBACKed by time ``t`` (the last report line at or before it)."""
        total = 0
        for part in self.parts:
            lines = [line for line in part.snapshot() if "acked" in line and line["t"] <= t]
            total += int(lines[-1]["acked"]) if lines else 0
        return total

    def late_max(self, a: float, b: float) -> float:
        return max(
            (
                float(line["late_s"])
                for part in self.parts
                for line in part.snapshot()
                if "late_s" in line and a <= line["t"] <= b
            ),
            default=0.0,
        )

    def stop(self) -> tuple[int, list[str]]:
        """Stop them; (readings PUBACKed in all, errors)."""
        acked, errors = 0, []
        for part in self.parts:
            part.stop()
        for part in self.parts:
            final = next((line for line in reversed(part.snapshot()) if "acked" in line), None)
            if final is None:
                errors.append(f"{part.name}: no report\n{part.errors()}")
                continue
            acked += int(final["acked"])
            errors += [str(e) for e in final.get("errors", [])]
        return acked, errors


class Counter:
    """One MQTT subscriber (the ingest identity, clean session) that counts telemetry readings; the broker baseline."""

    def __init__(self, port: int, files: Path) -> None:
        self.port, self.files = port, files
        self.readings = 0
        self.messages = 0
        self.subscribed = threading.Event()
        self.client: Any = None

    def start(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

        from cem_gateway.uplink import tls_context

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="cem-ingest-bench-counter", protocol=MQTTProtocolVersion.MQTTv5
        )
        f = self.files
        client.tls_set_context(tls_context(str(f / "ca.pem"), str(f / "client.crt"), str(f / "client.key")))

        def on_connect(c: Any, userdata: object, flags: object, reason: object, props: object) -> None:
            c.subscribe([("cem/v1/+/telemetry", 1)])

        def on_subscribe(c: Any, userdata: object, mid: int, reasons: object, props: object) -> None:
            self.subscribed.set()

        def on_message(c: Any, userdata: object, message: Any) -> None:
            self.messages += 1
            self.readings += bytes(message.payload).count(b'"seq":')

        client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
        client.connect(HOST, self.port, keepalive=30, clean_start=True)
        sock = client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.loop_start()
        self.client = client
        if not self.subscribed.wait(15):
            raise RuntimeError("the counting subscriber did not get its subscription within 15 s")

    def stop(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None


# ================================================================================================ CPU
_BACKEND = re.compile(r"^\S+ \S+ (\S+\(\d+\)|\[local\])")
_CLIENT_PORT = re.compile(r"\((\d+)\)")


def tcp_ports(pids: Sequence[int | None]) -> dict[int, int]:
    """Local TCP port -> pid, for the sockets these processes hold (how a backend is tied to its client)."""
    inodes: dict[str, int] = {}
    for pid in pids:
        if pid is None:
            continue
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(fd.path)
                    if target.startswith("socket:["):
                        inodes[target[8:-1]] = pid
    ports: dict[int, int] = {}
    for table_file in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table_file).read_text().splitlines()[1:]:
                parts = line.split()
                if len(parts) > 9 and parts[9] in inodes:
                    ports[int(parts[1].rsplit(":", 1)[1], 16)] = inodes[parts[9]]
    return ports


def postgres_cpu(database: str) -> tuple[dict[int, float], dict[int, float]]:
    """CPU so far of (this database's backends and workers, the server's shared processes), per pid.

    Backends of other databases (tests, other benchmarks on the same server) are left out; the shared ones
    (WAL writer, checkpointer, background writer, launchers, postmaster) serve every database.
    """
    return postgres_processes(database)[:2]


def postgres_processes(database: str) -> tuple[dict[int, float], dict[int, float], dict[int, int]]:
    """As postgres_cpu, and the client port of each of this database's backends (a worker gets its leader's)."""
    own: dict[int, float] = {}
    shared: dict[int, float] = {}
    clients: dict[int, int] = {}
    parallel: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
                continue
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        title = title.split(": ", 2)[-1] if title.startswith("postgres: ") else ""
        words = title.split()
        if database in words:
            own[pid] = cpu_seconds(pid)
            port = _CLIENT_PORT.search(title)
            if port:
                clients[pid] = int(port.group(1))
        elif title.startswith("parallel worker for PID") and words[-1].isdigit():
            parallel[pid] = int(words[-1])
        elif not _BACKEND.match(title):
            shared[pid] = cpu_seconds(pid)
    for pid, leader in parallel.items():
        if leader in own:
            own[pid] = cpu_seconds(pid)
            if leader in clients:
                clients[pid] = clients[leader]
    return own, shared, clients


def machine_busy() -> float:
    """CPU seconds the whole machine was busy so far (all CPUs; idle and iowait left out)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


@dataclass
class Snapshot:
    """CPU of every process of the bench at one instant, per group and pid."""

    t: float
    cpu: dict[str, dict[int, float]]
    busy: float


def snapshot(groups: dict[str, Sequence[int | None]], database: str) -> Snapshot:
    """Every group's CPU; this database's backends also split by the group of their client process
    ("postgres for ingest", "postgres for fold", ...)."""
    cpu = {name: {pid: cpu_seconds(pid) for pid in pids if pid is not None} for name, pids in groups.items()}
    # the event loop is ingest's main thread (its thread id is the pid); the other threads are paho's loop
    cpu["ingest loop"] = {pid: cpu_seconds(pid, pid) for pid in groups.get("ingest", []) if pid is not None}
    own, cpu["postgres shared"], clients = postgres_processes(database)
    cpu["postgres"] = own
    owner = {pid: name for name, pids in groups.items() for pid in pids if pid is not None}
    by_port = tcp_ports([pid for pids in groups.values() for pid in pids])
    for backend, value in own.items():
        client = by_port.get(clients.get(backend, -1))
        cpu.setdefault(f"postgres for {owner[client] if client is not None else 'others'}", {})[backend] = value
    return Snapshot(time.time(), cpu, machine_busy())


def cpu_used(a: Snapshot, b: Snapshot, name: str) -> float:
    """CPU seconds a group used between two snapshots (a process that ended meanwhile is lost)."""
    after = b.cpu.get(name, {})
    before = a.cpu.get(name, {})
    return sum(max(0.0, value - before.get(pid, 0.0)) for pid, value in after.items())


def cpu_percent(a: Snapshot, b: Snapshot, name: str) -> float:
    """CPU use of a group between two snapshots, % of one core."""
    return 100 * cpu_used(a, b, name) / max(b.t - a.t, 1e-9)


# ================================================================================================ set-up
@dataclass
class Context:
    """What every run needs: the arguments, the workspace, the broker, the gateways and the processes."""

    args: argparse.Namespace
    root: Path
    database: str
    broker_port: int
    ingest_files: Path
    gateways: list[tuple[str, Path]]  # (device id, identity folder)
    env: dict[str, str]  # CEM_ settings of the platform processes
    broker: Daemon | None = None
    redis: Daemon | None = None
    folder: JsonLines | None = None
    ingests: list[Ingest] = field(default_factory=list)

    def groups(self, publishers: Sequence[int | None] = ()) -> dict[str, Sequence[int | None]]:
        return {
            "ingest": [i.pid for i in self.ingests],
            "broker": [self.broker.pid if self.broker else None],
            "publisher": list(publishers),
            "fold": [self.folder.pid if self.folder else None],
            "redis": [self.redis.pid if self.redis else None],
            "bench": [os.getpid()],
        }


def database_url(name: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


async def admin_execute(statement: str) -> None:
    """One statement on the server's admin database (CREATE / DROP DATABASE)."""
    import asyncpg  # type: ignore[import-untyped]

    admin = await asyncpg.connect(ADMIN_URL.replace("postgres://", "postgresql://", 1))
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


def platform_env(db_url: str, root: Path, redis_url: str) -> dict[str, str]:
    """The CEM_ settings shared by the bench, ingest and the fold."""
    return {
        "CEM_DATABASE_URL": db_url,
        "CEM_PKI_PASSPHRASE": "ingest-bench-pki-passphrase-0123456789",
        "CEM_PKI_DIR": str(root / "pki"),
        "CEM_BROKER_CONFIG_DIR": str(root / "broker"),
        "CEM_SECURITY_SECRET_KEY": "ingest-bench-secret-key-" + "x" * 32,
        "CEM_REDIS_URL": redis_url,
        "CEM_LOG_LEVEL": "INFO",
        "CEM_LOG_JSON": "true",
    }


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without its CEM_ variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEM_")}
    env.update(extra)
    return env


async def prepare(
    env: dict[str, str], args: argparse.Namespace, root: Path, broker_port: int
) -> list[tuple[str, Path]]:
    """Migrate; enterprise, site, process, facility and points; CA, broker files, ingest identity, gateways."""
    from cem_platform.db import close_db, init_db, upgrade_db
    from cem_platform.identity.principal import Principal
    from cem_platform.org.models import Enterprise, Facility, FacilityType, MeasurementPoint, Process, ProcessType, Site
    from cem_platform.settings import load_settings
    from cem_registry import pki
    from cem_registry.broker import write_atomic
    from cem_registry.ca import Authority
    from cem_registry.models import DeviceType
    from cem_registry.services import DeviceRegistry

    settings = load_settings(env)
    started = time.perf_counter()
    await upgrade_db(settings.database)
    log(f"database migrated in {time.perf_counter() - started:.1f} s")
    await init_db(settings.database)
    try:
        enterprise = await Enterprise.create(code="BENCH", name="Ingest bench steel")
        site = await Site.create(enterprise=enterprise, code="S1", name="works")
        process = await Process.create(
            site=site, process_type=await ProcessType.get(code="ironmaking"), code="IR", name="ironmaking"
        )
        facility = await Facility.create(
            process=process, facility_type=await FacilityType.get(code="blast_furnace"), code="BF1", name="BF 1"
        )
        started = time.perf_counter()
        objects = [
            MeasurementPoint(
                facility=facility,
                enterprise=enterprise,
                code=point.code,
                name=point.code,
                medium="natural_gas",
                quantity="volume_flow" if point.kind == "flow" else "volume",
                unit=point.unit,
                kind=point.kind,
                sample_seconds=1,
            )
            for gateway in range(args.gateways)
            for point in gateway_points(gateway, args.points_per_gateway, args.seed)
        ]
        await MeasurementPoint.bulk_create(objects, batch_size=2000)
        log(f"{len(objects):,} points created in {time.perf_counter() - started:.1f} s")

        authority = Authority(settings)
        await authority.initialise()
        await authority.write_mosquitto_config(root / "broker", bind=HOST, port=broker_port)
        await authority.write_service_identity(settings.broker.ingest_identity, root / "ingest")  # the counter's
        names = settings.broker.ingest_identities[1 : args.ingest_processes + 1]  # one per ingest process
        if len(names) < args.ingest_processes:
            raise RuntimeError(f"the broker knows {len(names)} ingest identities: raise CEM_BROKER_INGEST_PROCESSES")
        for name in names:
            await authority.write_service_identity(name, root / name)

        registry = DeviceRegistry(settings)
        operator = Principal.system(name="ingest-bench", kind="cli")

        async def no_step_up() -> None:
            return None  # the operator at the command line

        gateways: list[tuple[str, Path]] = []
        for number in range(args.gateways):
            registration = await registry.register(
                operator,
                {
                    "serial": f"BENCH-GW-{number + 1:03d}",
                    "type": DeviceType.GATEWAY,
                    "name": f"bench gateway {number + 1}",
                    "model": "ingest-bench",
                    "site_id": site.id,
                },
            )
            device_id = registration.device.id
            issued = await registry.issue_token(operator, device_id, server="http://127.0.0.1:9", step_up=no_step_up)
            key = pki.new_key()
            enrolled = await registry.enrol(issued.token, pki.pem(pki.make_csr(key, device_id)), ip=HOST)
            directory = root / "gateways" / device_id
            directory.mkdir(parents=True)
            issuing = enrolled.chain_pem.split("-----END CERTIFICATE-----", 1)[0] + "-----END CERTIFICATE-----\n"
            write_atomic(directory / "device.crt", enrolled.certificate_pem + issuing)
            write_atomic(directory / "ca.pem", enrolled.ca_pem)
            write_atomic(directory / "device.key", pki.plain_key_pem(key), mode=0o600)
            gateways.append((device_id, directory))
        log(f"CA, broker configuration, ingest identity and {len(gateways)} enrolled gateways ready")
        return gateways
    finally:
        await close_db()


# ================================================================================================ baselines
@dataclass
class Baseline:
    """What each side can do alone, measured in this process."""

    store_rate: float = 0.0  # readings/s, TimeSeriesStore.write calls only
    store_groups: int = 0
    store_readings: int = 0
    store_group_ms_p50: float | None = None
    store_group_ms_p95: float | None = None
    store_python_per_10k: float | None = None  # bench CPU s in the write calls per 10k readings
    store_pg_per_10k: float | None = None  # PostgreSQL (this database) CPU s per 10k readings
    paced_offered: int = 0
    paced_published: float | None = None
    paced_received: float | None = None
    paced_broker_cpu: float = 0.0
    paced_publisher_cpu: float = 0.0
    flood_published: float | None = None
    flood_received: float | None = None
    flood_broker_cpu: float = 0.0
    flood_publisher_cpu: float = 0.0
    flood_counter_cpu: float = 0.0


async def store_baseline(ctx: Context, seconds: float, result: Baseline) -> None:
    """TimeSeriesStore.write of the bench's batches, grouped like ingest's group commit, one writer; then emptied."""
    from tortoise import connections

    from cem_platform.db import close_db, init_db
    from cem_platform.org.models import MeasurementPoint
    from cem_platform.settings import load_settings
    from cem_platform.telemetry.store import Batch, Row, store_for

    settings = load_settings(ctx.env)
    group_readings = settings.ingest.batch_readings
    for item in ctx.args.ingest_env:
        key, _, value = item.partition("=")
        if key == "CEM_INGEST_BATCH_READINGS":
            group_readings = int(value)
    await init_db(settings.database)
    try:
        ids = dict(await MeasurementPoint.all().values_list("code", "id"))
        layout = [gateway_points(g, ctx.args.points_per_gateway, ctx.args.seed) for g in range(ctx.args.gateways)]
        store = store_for()
        slot = int(time.time()) - 3 * 86400  # well before the live slots; emptied afterwards anyway

        def groups_of(slot: int) -> list[list[Batch]]:
            ts = slot * 1000
            batches: list[Batch] = []
            for number, points in enumerate(layout):
                seq = (slot - SEQ_EPOCH) * len(points)
                rows: list[Row] = []
                for point in points:
                    seq += 1
                    value, delta = point_value(point, slot)
                    since = None if delta is None else ts - 1000
                    rows.append(Row(point_id=ids[point.code], ts=ts, value=value, delta=delta, since=since, seq=seq))
                for start in range(0, len(rows), ctx.args.batch):
                    batches.append(Batch(ctx.gateways[number][0], ts, ts + 5, rows[start : start + ctx.args.batch]))
            grouped: list[list[Batch]] = [[]]
            size = 0
            for batch in batches:
                if size >= group_readings:
                    grouped.append([])
                    size = 0
                grouped[-1].append(batch)
                size += len(batch.rows)
            return grouped

        await store.write(groups_of(slot - 1)[0])  # partitions, connection, prepared statements
        durations: list[float] = []
        written = 0
        python_cpu = 0.0
        pg_before = postgres_cpu(ctx.database)[0]
        end = time.perf_counter() + seconds
        while time.perf_counter() < end and len(durations) < 100_000:
            for group in groups_of(slot):
                cpu0, t0 = time.process_time(), time.perf_counter()
                new = await store.write(group)
                durations.append(time.perf_counter() - t0)
                python_cpu += time.process_time() - cpu0
                written += sum(len(rows) for rows in new)
            slot += 1
        pg_after = postgres_cpu(ctx.database)[0]
        pg_cpu = sum(max(0.0, v - pg_before.get(pid, 0.0)) for pid, v in pg_after.items())
        spent = sum(durations)
        result.store_rate = written / spent if spent else 0.0
        result.store_groups, result.store_readings = len(durations), written
        ordered = sorted(d * 1000 for d in durations)
        result.store_group_ms_p50, result.store_group_ms_p95 = percentile(ordered, 50), percentile(ordered, 95)
        if written:
            result.store_python_per_10k = python_cpu / written * 10_000
            result.store_pg_per_10k = pg_cpu / written * 10_000
        await connections.get("default").execute_script("TRUNCATE ts_reading, ts_pending, ts_batch")
    finally:
        await close_db()


def broker_baseline(ctx: Context, top_rate: int, result: Baseline) -> None:
    """Publishers -> Mosquitto -> one counting subscriber, no ingest: at the top rate, then flat out."""
    counter = Counter(ctx.broker_port, ctx.ingest_files)
    counter.start()
    seconds, warmup = ctx.args.baseline_seconds, ctx.args.warmup
    try:
        for mode in ("paced", "flood"):
            active = split_rate(top_rate, len(ctx.gateways), ctx.args.points_per_gateway)
            if mode == "flood":
                active = [ctx.args.points_per_gateway] * len(ctx.gateways)
            publishers = Publishers(ctx, f"broker-{mode}", active, mode=mode, seconds=warmup + seconds + 10)
            try:
                publishers.start()
                time.sleep(warmup if mode == "paced" else 1.0)
                pids = publishers.pids
                a, count_a = snapshot(ctx.groups(pids), ctx.database), counter.readings
                time.sleep(seconds)
                b, count_b = snapshot(ctx.groups(pids), ctx.database), counter.readings
                published = publishers.acked_rate(a.t, b.t)
                received = (count_b - count_a) / (b.t - a.t)
            finally:
                _, errors = publishers.stop()
            if errors:
                raise RuntimeError(f"broker baseline ({mode}): publisher errors {errors[:3]}")
            if mode == "paced":
                result.paced_offered = sum(active)
                result.paced_published, result.paced_received = published, received
                result.paced_broker_cpu = cpu_percent(a, b, "broker")
                result.paced_publisher_cpu = cpu_percent(a, b, "publisher")
            else:
                result.flood_published, result.flood_received = published, received
                result.flood_broker_cpu = cpu_percent(a, b, "broker")
                result.flood_publisher_cpu = cpu_percent(a, b, "publisher")
                result.flood_counter_cpu = cpu_percent(a, b, "bench")
            settle = time.monotonic() + 10
            last = -1
            while counter.readings != last and time.monotonic() < settle:  # what the broker still had queued
                last = counter.readings
                time.sleep(0.5)
    finally:
        counter.stop()


# ================================================================================================ measuring
@dataclass
class RateResult:
    """The figures of one offered rate."""

    offered: int
    published: float | None = None
    stored: float = 0.0
    span: float = 0.0
    windows: int = 0
    p50_median: float | None = None
    p95_worst: float | None = None
    p95_median: float | None = None
    lag_max: float | None = None
    ingest_cpu: float = 0.0
    ingest_loop_cpu: float = 0.0
    broker_cpu: float = 0.0
    pg_cpu: float = 0.0
    pg_ingest_cpu: float = 0.0
    pg_fold_cpu: float = 0.0
    pg_shared_cpu: float = 0.0
    publisher_cpu: float = 0.0
    fold_cpu: float = 0.0
    redis_cpu: float = 0.0
    bench_cpu: float = 0.0
    machine_cpu: float = 0.0
    others_cpu: float = 0.0
    ingest_per_10k: float | None = None
    ingest_pg_per_10k: float | None = None
    queued_end: int | None = None
    late_max: float = 0.0
    folds: int = 0
    folded: int = 0
    fold_seconds: float = 0.0
    drain_s: float | None = None
    published_total: int = 0
    stored_total: int = 0
    handled_total: int = 0
    duplicates: int = 0
    rejected: int = 0
    load: str = ""

    @property
    def backlog(self) -> bool:
        """Stored fell behind what was published by more than 2 %."""
        return self.published is not None and self.stored < 0.98 * self.published

    @property
    def sustained(self) -> bool:
        return not self.backlog and self.p95_worst is not None and self.p95_worst < GOAL_P95_MS


def ingested(ingests: list[Ingest]) -> tuple[int, int, int, int]:
    """(handled, stored, duplicates, rejected) over every ingest process's latest stats line."""
    latest = [i.latest() for i in ingests]
    stats = [s for s in latest if s is not None]
    return (
        sum(s.handled for s in stats),
        sum(s.stored for s in stats),
        sum(s.duplicates for s in stats),
        sum(s.rejected for s in stats),
    )


def run_rate(ctx: Context, rate: int, published_before: int, failures: list[str]) -> RateResult:
    """Publish ``rate`` readings/s: warm-up, a measured window, stop, drain."""
    args = ctx.args
    active = split_rate(rate, len(ctx.gateways), args.points_per_gateway)
    result = RateResult(offered=sum(active))
    stats_s = float(args.stats_s)
    handled0, stored0, duplicates0, rejected0 = ingested(ctx.ingests)
    publishers = Publishers(
        ctx, f"rate-{rate}", active, mode="paced", seconds=args.warmup + args.seconds + 4 * stats_s + 30
    )
    try:
        publishers.start()
        time.sleep(args.warmup)
        pids = publishers.pids
        a = snapshot(ctx.groups(pids), ctx.database)
        time.sleep(args.seconds)
        b = snapshot(ctx.groups(pids), ctx.database)
        log(f"rate {rate:,}: window {a.t:.0f}-{b.t:.0f} (epoch s)")
        result.load = "/".join(f"{v:.1f}" for v in os.getloadavg())
        ends: list[tuple[Ingest, Stat | None, Stat | None]] = []
        for ingest in ctx.ingests:  # the first stats line at or after each end of the window
            ends.append((ingest, ingest.stat_after(a.t, 3 * stats_s + 10), ingest.stat_after(b.t, 3 * stats_s + 10)))
        result.published = publishers.acked_rate(a.t, b.t)
        result.late_max = publishers.late_max(a.t, b.t)
        t_end = max((end.t for _, _, end in ends if end is not None), default=b.t)
        queued_at = publishers.acked_at(t_end)
    finally:
        acked, errors = publishers.stop()
    if errors:
        failures.append(f"rate {rate:,}: publisher errors {errors[:3]}")
    stopped = time.time()

    windows: list[Stat] = []
    handled_end = 0
    for ingest, first, last in ends:
        if first is None or last is None:
            failures.append(f"rate {rate:,}: ingest {ingest.number} wrote no stats line in the window")
            continue
        if last.t <= first.t:  # a window shorter than the stats period: take the line before it
            earlier = [s for s in ingest.between(0, first.t) if s.t < first.t]
            if earlier:
                first = earlier[-1]
        if last.t > first.t:
            result.stored += (last.stored - first.stored) / (last.t - first.t)
            result.span = max(result.span, last.t - first.t)
        windows += [s for s in ingest.between(first.t, last.t) if s.window_stored > 0]
        handled_end += last.handled
    result.windows = len(windows)
    p50s = sorted(float(s.p50) for s in windows if s.p50 is not None)
    p95s = sorted(float(s.p95) for s in windows if s.p95 is not None)
    result.p50_median = statistics.median(p50s) if p50s else None
    result.p95_median = statistics.median(p95s) if p95s else None
    result.p95_worst = p95s[-1] if p95s else None
    maxima = [float(s.lag_max) for s in windows if s.lag_max is not None]
    result.lag_max = max(maxima) if maxima else None
    result.queued_end = max(0, published_before + queued_at - handled_end) if ends else None

    span = b.t - a.t
    result.ingest_cpu = cpu_percent(a, b, "ingest")
    result.ingest_loop_cpu = cpu_percent(a, b, "ingest loop")
    result.broker_cpu = cpu_percent(a, b, "broker")
    result.pg_cpu = cpu_percent(a, b, "postgres")
    result.pg_ingest_cpu = cpu_percent(a, b, "postgres for ingest")
    result.pg_fold_cpu = cpu_percent(a, b, "postgres for fold")
    result.pg_shared_cpu = cpu_percent(a, b, "postgres shared")
    result.publisher_cpu = cpu_percent(a, b, "publisher")
    result.fold_cpu = cpu_percent(a, b, "fold")
    result.redis_cpu = cpu_percent(a, b, "redis")
    result.bench_cpu = cpu_percent(a, b, "bench")
    result.machine_cpu = 100 * (b.busy - a.busy) / span
    ours = sum(cpu_used(a, b, name) for name in b.cpu if not name.startswith("postgres for ") and name != "ingest loop")
    result.others_cpu = max(0.0, 100 * (b.busy - a.busy - ours) / span)
    stored_in_window = result.stored * span
    if stored_in_window > 0:
        result.ingest_per_10k = cpu_used(a, b, "ingest") / stored_in_window * 10_000
        both = cpu_used(a, b, "ingest") + cpu_used(a, b, "postgres for ingest")
        result.ingest_pg_per_10k = both / stored_in_window * 10_000
    if ctx.folder is not None:
        folds = [line for line in ctx.folder.snapshot() if a.t <= line.get("t", 0) <= b.t]
        result.folds = len(folds)
        result.folded = sum(int(line.get("folded", 0)) for line in folds)
        result.fold_seconds = sum(float(line.get("seconds", 0.0)) for line in folds)
        failures += [f"rate {rate:,}: rollup fold failed: {line['error']}" for line in folds if "error" in line]

    target = published_before + acked
    log(f"rate {rate:,}: publishers stopped; waiting for ingest to store the last of {acked:,} readings")
    deadline = stopped + args.drain_timeout
    while ingested(ctx.ingests)[0] < target and time.time() < deadline:
        time.sleep(0.2)
    handled, stored, duplicates, rejected = ingested(ctx.ingests)
    if handled >= target:
        result.drain_s = time.time() - stopped
    else:
        failures.append(
            f"rate {rate:,}: {target - handled:,} readings not stored {args.drain_timeout:g} s after the stop"
        )
    result.published_total = acked
    result.handled_total = handled - handled0
    result.stored_total = stored - stored0
    result.duplicates = duplicates - duplicates0
    result.rejected = rejected - rejected0
    if result.rejected:
        failures.append(f"rate {rate:,}: ingest refused {result.rejected:,} readings (see its dead letters)")
    return result


# ================================================================================================ report
def ratio(part: float | None, whole: float | None, digits: int = 2) -> str:
    if part is None or not whole:
        return "n/a"
    return f"{part / whole:.{digits}f}"


def report(ctx: Context, baseline: Baseline, runs: list[RateResult], notes: list[str], failures: list[str]) -> str:
    args, b = ctx.args, baseline
    mode = os.environ.get(PROFILE_MODE_ENV, "cprofile")
    profiled = f" (PROFILED with {mode}: ingest's figures are inflated)" if os.environ.get(PROFILE_ENV) else ""
    out = [
        "",
        f"CEM ingest benchmark: {args.gateways} gateways x {args.points_per_gateway:,} points, messages of"
        f" {args.batch} readings, inflight {args.inflight}, {args.ingest_processes} ingest process(es),"
        f" rollup fold {'every 10 s' if ctx.folder is not None else 'off'}, {os.cpu_count()} CPUs{profiled}",
        "",
        "baselines (each side alone, before ingest started):",
        f"  store alone: TimeSeriesStore.write, groups of ~{b.store_readings // max(b.store_groups, 1):,} readings,"
        " one writer, no MQTT, no checks",
        f"    readings/s (write calls only)      {fmt(b.store_rate)}",
        f"    one group commit p50 / p95         {fmt(b.store_group_ms_p50, 1, ' ms')} / "
        f"{fmt(b.store_group_ms_p95, 1, ' ms')}",
        f"    bench CPU-s per 10k (Python side)  {fmt(b.store_python_per_10k, 3)}",
        f"    PostgreSQL CPU-s per 10k           {fmt(b.store_pg_per_10k, 3)}",
        "  broker alone: publishers -> Mosquitto -> one counting subscriber, no ingest",
        f"    at {b.paced_offered:,}/s offered: published/s   {fmt(b.paced_published)}, received/s"
        f" {fmt(b.paced_received)} (Mosquitto {fmt(b.paced_broker_cpu, 0, ' %')},"
        f" publishers {fmt(b.paced_publisher_cpu, 0, ' %')})",
        f"    publishers flat out: published/s {fmt(b.flood_published)}, received/s {fmt(b.flood_received)}"
        f" (Mosquitto {fmt(b.flood_broker_cpu, 0, ' %')}, publishers {fmt(b.flood_publisher_cpu, 0, ' %')},"
        f" subscriber {fmt(b.flood_counter_cpu, 0, ' %')})",
        "",
        f"rates ({args.seconds:g} s window after {args.warmup:g} s warm-up; CPU in % of one core; lag = commit time"
        " minus the reading's ts):",
    ]
    ceiling = b.flood_received
    rows: list[tuple[str, list[str]]] = [
        ("offered points/s", [fmt(r.offered) for r in runs]),
        ("published points/s (PUBACKed)", [fmt(r.published) for r in runs]),
        ("stored points/s", [fmt(r.stored) for r in runs]),
        ("stored / published", [ratio(r.stored, r.published, 3) for r in runs]),
        ("stored / store-alone baseline", [ratio(r.stored, b.store_rate) for r in runs]),
        ("stored / broker-alone ceiling", [ratio(r.stored, ceiling) for r in runs]),
        ("backlog (stored < 98 % published)", ["yes" if r.backlog else "no" for r in runs]),
        ("not yet stored at window end", [fmt(r.queued_end) for r in runs]),
        ("lag p50 (median window)", [fmt(r.p50_median, 0, " ms") for r in runs]),
        ("lag p95 (median window)", [fmt(r.p95_median, 0, " ms") for r in runs]),
        ("lag p95 (worst window)", [fmt(r.p95_worst, 0, " ms") for r in runs]),
        ("lag max", [fmt(r.lag_max, 0, " ms") for r in runs]),
        ("stats windows measured", [fmt(r.windows) for r in runs]),
        ("ingest CPU", [fmt(r.ingest_cpu, 0, " %") for r in runs]),
        ("  event loop thread", [fmt(r.ingest_loop_cpu, 0, " %") for r in runs]),
        ("  other threads (paho)", [fmt(r.ingest_cpu - r.ingest_loop_cpu, 0, " %") for r in runs]),
        ("PostgreSQL CPU (this database)", [fmt(r.pg_cpu, 0, " %") for r in runs]),
        ("  of which for ingest", [fmt(r.pg_ingest_cpu, 0, " %") for r in runs]),
        ("  of which for the rollup fold", [fmt(r.pg_fold_cpu, 0, " %") for r in runs]),
        ("PostgreSQL CPU (shared processes)", [fmt(r.pg_shared_cpu, 0, " %") for r in runs]),
        ("Mosquitto CPU", [fmt(r.broker_cpu, 0, " %") for r in runs]),
        ("publishers CPU", [fmt(r.publisher_cpu, 0, " %") for r in runs]),
        ("rollup fold CPU", [fmt(r.fold_cpu, 0, " %") for r in runs]),
        ("Redis CPU", [fmt(r.redis_cpu, 0, " %") for r in runs]),
        ("bench CPU", [fmt(r.bench_cpu, 0, " %") for r in runs]),
        ("machine CPU busy (all processes)", [fmt(r.machine_cpu, 0, " %") for r in runs]),
        ("other processes (not this bench)", [fmt(r.others_cpu, 0, " %") for r in runs]),
        ("load average 1/5/15 min", [r.load for r in runs]),
        ("ingest CPU-s per 10k stored", [fmt(r.ingest_per_10k, 3) for r in runs]),
        ("ingest+its PostgreSQL CPU-s per 10k", [fmt(r.ingest_pg_per_10k, 3) for r in runs]),
        ("folds / readings folded in window", [f"{r.folds}/{r.folded:,}" for r in runs]),
        ("fold time in window", [fmt(r.fold_seconds, 1, " s") for r in runs]),
        ("publishers: latest slot start", [fmt(r.late_max * 1000, 0, " ms") for r in runs]),
        ("drain after the stop", [fmt(r.drain_s, 1, " s") for r in runs]),
        ("readings published / stored", [f"{r.published_total:,}/{r.stored_total:,}" for r in runs]),
        ("duplicates / refused", [f"{r.duplicates:,}/{r.rejected:,}" for r in runs]),
        (f"sustained (no backlog, p95 < {GOAL_P95_MS / 1000:g} s)", ["yes" if r.sustained else "no" for r in runs]),
    ]
    out.append(table(rows, [f"{r.offered:,}/s" for r in runs]))
    sustained = [r.offered for r in runs if r.sustained]
    best = max(sustained, default=None)
    met = best is not None and best >= GOAL_RATE
    out += [
        "",
        f"highest offered rate sustained: {fmt(best, 0, '/s')}"
        f" (goal {GOAL_RATE:,}/s with lag p95 < {GOAL_P95_MS / 1000:g} s: {'met' if met else 'not met'})",
    ]
    published = sum(r.published_total for r in runs)
    stored = sum(r.stored_total for r in runs)
    all_stored = bool(runs) and all(r.stored_total == r.published_total for r in runs)
    out.append(f"every published reading stored once: {'yes' if all_stored else 'no'} ({stored:,} of {published:,})")
    out += [f"note: {note}" for note in notes]
    out += [f"FAILED: {failure}" for failure in failures]
    return "\n".join(out)


# ================================================================================================ main
def fold_available() -> bool:
    try:
        from cem_platform.telemetry import rollup
    except ImportError:
        return False
    return hasattr(rollup, "fold_all")


def start_ingests(ctx: Context, profile: Path | None) -> None:
    extra = dict(ctx.env)
    extra.update(
        {
            "CEM_INGEST_BROKER_URL": f"mqtts://{HOST}:{ctx.broker_port}",
            "CEM_INGEST_IDENTITY_DIR": str(ctx.ingest_files),
            "CEM_INGEST_STATS_S": f"{ctx.args.stats_s:g}",
        }
    )
    for item in ctx.args.ingest_env:
        key, _, value = item.partition("=")
        extra[key] = value
    if profile is not None:
        extra[PROFILE_MODE_ENV] = os.environ.get(PROFILE_MODE_ENV, "cprofile")
    env = child_env(extra)
    for number in range(1, ctx.args.ingest_processes + 1):
        ingest = Ingest(number, ctx.root, env, profile)
        ingest.start()
        ctx.ingests.append(ingest)
    for ingest in ctx.ingests:
        ingest.wait_ready()


def bench(args: argparse.Namespace) -> int:
    failures: list[str] = []
    notes: list[str] = []
    runs: list[RateResult] = []
    baseline = Baseline()
    name = f"cem_ingest_bench_{uuid.uuid4().hex[:8]}"
    profile_dir = os.environ.get(PROFILE_ENV)
    profile = Path(profile_dir).resolve() if profile_dir else None
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    top = args.gateways * args.points_per_gateway
    rates = sorted({min(int(rate), top) for rate in args.rates})
    if any(int(rate) > top for rate in args.rates):
        notes.append(f"rates above {top:,}/s (gateways x points) were capped")
    ctx: Context | None = None
    with workspace("cem-ingest-bench-") as root:
        redis: Daemon | None = None
        created = False
        try:
            redis_port = free_port()
            redis = redis_server(root / "redis", redis_port)
            if redis is None:
                notes.append("redis-server not installed: live events went to ingest's in-process hub")
            else:
                redis.start()
            env = platform_env(database_url(name), root, f"redis://{HOST}:{redis_port}/0" if redis else "")
            log(f"creating database {name}")
            asyncio.run(admin_execute(f'CREATE DATABASE "{name}"'))
            created = True
            broker_port = free_port()
            gateways = asyncio.run(prepare(env, args, root, broker_port))
            ctx = Context(args, root, name, broker_port, root / "ingest", gateways, env, redis=redis)
            ctx.broker = mosquitto(root / "broker", broker_port)
            ctx.broker.start()
            log(f"Mosquitto (mTLS) on {HOST}:{broker_port}")

            log(f"baseline (a): the store alone for {args.baseline_seconds:g} s")
            asyncio.run(store_baseline(ctx, args.baseline_seconds, baseline))
            log(f"baseline (a): {baseline.store_rate:,.0f} readings/s")
            log(f"baseline (b): the broker alone at {rates[-1]:,}/s, then flat out, {args.baseline_seconds:g} s each")
            broker_baseline(ctx, rates[-1], baseline)
            log(f"baseline (b): flat out {fmt(baseline.flood_received)} readings/s received")

            if args.no_fold:
                notes.append("rollup fold off (--no-fold)")
            elif not fold_available():
                notes.append("cem_platform.telemetry.rollup.fold_all not found: no rollup fold during the run")
            else:
                command = [sys.executable, str(Path(__file__).resolve()), "--fold", "10"]
                ctx.folder = JsonLines("fold", command, root / "fold.log", env=child_env(env))
                ctx.folder.start()
                log("rollup fold running every 10 s in its own process")

            log(f"starting {args.ingest_processes} ingest process(es)")
            start_ingests(ctx, profile)
            published = 0
            for rate in rates:
                log(f"rate {rate:,}/s: warm-up {args.warmup:g} s, then {args.seconds:g} s measured")
                result = run_rate(ctx, rate, published, failures)
                published += result.published_total
                runs.append(result)
                log(
                    f"rate {rate:,}/s: published {fmt(result.published)}/s, stored {fmt(result.stored)}/s,"
                    f" lag p95 worst {fmt(result.p95_worst, 0, ' ms')}, ingest CPU {result.ingest_cpu:.0f} %"
                )
            if ctx.folder is not None:
                unavailable = [line for line in ctx.folder.snapshot() if "unavailable" in line]
                if unavailable:
                    notes.append(f"rollup fold unavailable: {unavailable[0]['unavailable']}")
        except Exception as err:  # reported with the figures measured so far; the exit code says it failed
            failures.append(f"{type(err).__name__}: {err}")
        finally:
            if ctx is not None:
                for ingest in ctx.ingests:
                    code = ingest.stop()
                    if code != 0:
                        failures.append(f"ingest {ingest.number} exited with {code}:\n{ingest.output()[-3000:]}")
                    if ingest.problems:
                        failures.append(f"ingest {ingest.number} logged problems: {ingest.problems[:3]}")
                if ctx.folder is not None:
                    ctx.folder.stop()
                if ctx.broker is not None:
                    ctx.broker.stop()
            if redis is not None:
                redis.stop()
            if created:
                asyncio.run(admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                log(f"database {name} dropped")
    if profile is not None:
        notes.append(f"profile of each ingest process in {profile}/ingest-N.prof (.samples when sampling)")
    if ctx is None:
        print("\n".join(["", "CEM ingest benchmark: the set-up failed", *(f"FAILED: {f}" for f in failures)]))
    else:
        print(report(ctx, baseline, runs, notes, failures), flush=True)
    return 1 if failures else 0


def _terminate(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the clean-up short
    raise KeyboardInterrupt  # unwinds through every `finally`: processes stopped, database dropped


def rate_list(text: str) -> list[int]:
    values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not values or any(value <= 0 for value in values):
        raise argparse.ArgumentTypeError("rates must be positive integers, comma separated")
    return values


def profiled(out: Path, argv: list[str]) -> int:
    """``cem ARGV`` with its main thread (the event loop) profiled into ``out``.

    cprofile: every call, timed in the thread's CPU time (pstats file; small calls look dearer than they are).
    sample: the thread's stack every 2 ms, per epoch second (lines "second<TAB>outer;...;inner<TAB>samples"),
    cheap enough to leave the figures nearly as they are; samples in the selector are the loop waiting.
    """
    from cem_platform.cli import main as cem

    if os.environ.get(PROFILE_MODE_ENV, "cprofile") == "sample":
        main_thread = threading.get_ident()
        counts: collections.Counter[tuple[int, str]] = collections.Counter()
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.002):
                frame = sys._current_frames().get(main_thread)
                names: list[str] = []
                while frame is not None and len(names) < 100:
                    names.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}")
                    frame = frame.f_back
                counts[(int(time.time()), ";".join(reversed(names)))] += 1

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            return cem(argv)
        finally:
            done.set()
            sampler.join(timeout=5)
            out.with_suffix(".samples").write_text(
                "".join(f"{second}\t{stack}\t{n}\n" for (second, stack), n in sorted(counts.items()))
            )
    import cProfile

    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        return cem(argv)
    finally:
        profiler.disable()
        profiler.dump_stats(str(out))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["--profiled"] and len(arguments) > 2:
        return profiled(Path(arguments[1]), arguments[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--gateways", type=int, default=10, help="simulated gateways (default 10)")
    parser.add_argument("--points-per-gateway", type=int, default=3000, help="points of each gateway (default 3000)")
    parser.add_argument(
        "--rates", type=rate_list, default=[10_000, 20_000, 30_000], help="offered readings/s, comma separated"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window of each rate (default 30)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before each window (default 5)")
    parser.add_argument("--batch", type=int, default=500, help="readings per MQTT message (default 500)")
    parser.add_argument("--inflight", type=int, default=4, help="unacknowledged messages per gateway (default 4)")
    parser.add_argument("--ingest-processes", type=int, default=1, help="`cem ingest` processes (default 1)")
    parser.add_argument("--publisher-processes", type=int, default=1, help="processes the gateways run in (default 1)")
    parser.add_argument("--baseline-seconds", type=float, default=5.0, help="length of each baseline (default 5)")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="longest wait for the drain (default 120)")
    parser.add_argument("--stats-s", type=float, default=2.0, help="CEM_INGEST_STATS_S of ingest (default 2)")
    parser.add_argument(
        "--ingest-env", action="append", default=[], metavar="CEM_X=V", help="extra setting for ingest (repeatable)"
    )
    parser.add_argument("--no-fold", action="store_true", help="do not run the rollup fold beside ingest")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--publish", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--fold", type=float, metavar="EVERY_S", help=argparse.SUPPRESS)
    args = parser.parse_args(arguments)
    if args.publish:
        return publish_main(Path(args.publish))
    if args.fold:
        return fold_main(args.fold)
    if args.gateways < 1 or args.points_per_gateway < 1 or args.batch < 1 or args.inflight < 1:
        parser.error("--gateways, --points-per-gateway, --batch and --inflight must be at least 1")
    if args.ingest_processes < 1 or args.publisher_processes < 1:
        parser.error("--ingest-processes and --publisher-processes must be at least 1")
    if any(not item.startswith("CEM_") or "=" not in item for item in args.ingest_env):
        parser.error("--ingest-env takes CEM_NAME=VALUE")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return bench(args)
    except KeyboardInterrupt:
        log("interrupted: every process stopped, the database dropped, the temporary folder removed")
        return 130


if __name__ == "__main__":
    sys.exit(main())
