"""End-to-end pieces for gateway tests: an enrolled identity, the simulator and the gateway as processes,
and an ingest-side collector with a persistent MQTT session."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cem_gateway.identity import _store
from cem_gateway.uplink import release_sockets, tls_context
from cem_gateway.wire import (
    Confirm,
    Reading,
    Status,
    WireError,
    command_topic,
    decode_status,
    decode_telemetry,
    encode,
)
from cem_platform.settings import Settings
from cem_registry.ca import Authority
from tests.test_platform.world import World
from tests.test_registry.fleet import enrolled_terminal

CEM = [sys.executable, "-m", "cem_platform.cli"]
# the [gateway] section of the tests' point maps: the identity beside the map, a heartbeat every second
GATEWAY_SECTION = '[gateway]\nidentity_dir = "identity"\nheartbeat_s = 1\n\n'


async def gateway_identity(world: World, directory: Path, broker_port: int) -> str:
    """Register and enrol a gateway like `cem gateway enroll` does; its broker is the test broker."""
    terminal = await enrolled_terminal(world, await world.login("a-device-admin"))
    answer = terminal.answer | {"broker_url": f"mqtts://127.0.0.1:{broker_port}"}
    _store(directory, terminal.key, answer, "http://testserver")
    return terminal.device_id


async def ingest_files(settings: Settings, directory: Path, identity: str = "") -> Path:
    """An ingest process's certificate files (client.key, client.crt, ca.pem), for ``identity`` (one of
    ``settings.broker.ingest_identities``; the first by default). The broker makes the CN the client id, so two
    clients that share these files share one session and take it from each other: give each process its own."""
    await Authority(settings).write_service_identity(identity or settings.broker.ingest_identity, directory)
    return directory


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@dataclass
class Collector:
    """The ingest side in miniature: a persistent MQTT 5 session that records telemetry and status.

    Like ingest, it confirms each telemetry message to its gateway (on the device's cmd topic) once it has
    recorded it, so the gateway lets those readings go; ``confirm=False`` makes a silent observer.
    """

    port: int
    files: Path
    client_id: str = "cem-ingest-test"
    confirm: bool = True
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    connects: int = 0

    def start(self, *, resume: bool = False) -> None:
        """Connect with a persistent session: a fresh one, or with ``resume`` the one this client id left."""
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=MQTTProtocolVersion.MQTTv5)
        client.tls_set_context(
            tls_context(str(self.files / "ca.pem"), str(self.files / "client.crt"), str(self.files / "client.key"))
        )
        client.reconnect_delay_set(1, 1)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600

        def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
            self.connects += 1
            c.subscribe([("cem/v1/+/telemetry", 1), ("cem/v1/+/status", 1)])

        def on_message(c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            with self.lock:
                self.messages.append((message.topic, message.payload))
            device, channel = message.topic.split("/")[2:4]
            if self.confirm and channel == "telemetry":
                try:
                    seqs = [reading.seq for reading in decode_telemetry(message.payload).readings]
                except WireError:
                    return
                if seqs:
                    confirm = Confirm(
                        kind="confirm", device=device, ts=int(time.time() * 1000), ranges=((min(seqs), max(seqs)),)
                    )
                    c.publish(command_topic(device), encode(confirm), qos=1)

        client.on_connect, client.on_message = on_connect, on_message
        # a fresh session at first, then the same one on every reconnect: what was queued meanwhile arrives
        clean_start = False if resume else mqtt.MQTT_CLEAN_START_FIRST_ONLY
        client.connect("127.0.0.1", self.port, keepalive=10, clean_start=clean_start, properties=properties)
        client.loop_start()
        self.client = client

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()
        release_sockets(self.client)

    def telemetry(self, device: str) -> list[tuple[bytes, Reading]]:
        """Every reading received from ``device`` with the payload it came in (duplicates included)."""
        with self.lock:
            payloads = [p for t, p in self.messages if t == f"cem/v1/{device}/telemetry"]
        return [(payload, reading) for payload in payloads for reading in decode_telemetry(payload).readings]

    def seqs(self, device: str) -> set[int]:
        """The distinct sequence numbers received from ``device``."""
        return {reading.seq for _, reading in self.telemetry(device)}

    def statuses(self, device: str) -> list[Status]:
        """Status messages received from ``device``, in order."""
        with self.lock:
            return [decode_status(p) for t, p in self.messages if t == f"cem/v1/{device}/status"]


def by_seq(readings: list[tuple[bytes, Reading]]) -> dict[int, list[Reading]]:
    """Readings grouped by sequence number."""
    grouped: dict[int, list[Reading]] = defaultdict(list)
    for _, reading in readings:
        grouped[reading.seq].append(reading)
    return grouped


@dataclass
class Process:
    """A CEM command running in the background, its output in a log file."""

    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        """What it printed so far."""
        return self.log.read_text(errors="replace")

    async def wait_for_line(self, text: str, timeout: float = 30.0) -> str:
        """Until a line containing ``text`` was printed; returns that line."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.output().splitlines():
                if text in line:
                    return line
            assert self.process.poll() is None, f"exited with {self.process.returncode}:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout} s:\n{self.output()[-3000:]}"
            await asyncio.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` and wait; kill if it does not end."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start(args: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None) -> Process:
    """Start ``cem ARGS`` with its output appended to ``log`` (in ``env``, or this process's environment)."""
    with log.open("a") as handle:
        process = subprocess.Popen([*CEM, *args], cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, text=True, env=env)
    return Process(process, log)


@contextlib.contextmanager
def stopping(processes: list[Process]) -> Iterator[None]:
    """Stop the processes at the end, whatever happens (the list may grow meanwhile, e.g. by restarts)."""
    try:
        yield
    finally:
        for process in processes:
            process.stop()
