"""A real Mosquitto started with the registry's generated configuration, and small MQTT clients for it."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import gmqtt

from cem_platform.settings import Settings
from cem_registry.ca import Authority


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Broker:
    """A running Mosquitto: its port, folder and process; it can be stopped and started again."""

    port: int
    directory: Path
    pid_file: Path
    process: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        """What the broker printed so far (for assertion messages)."""
        return (self.directory / "mosquitto.log").read_text(errors="replace")[-3000:]

    async def start(self) -> None:
        """Start Mosquitto with the generated configuration and wait for its port."""
        binary = shutil.which("mosquitto")
        assert binary, "mosquitto is not installed (the CI script installs it)"
        command = [binary, "-c", str(self.directory / "mosquitto.conf")]
        with (self.directory / "mosquitto.log").open("ab") as log:
            process = self.process = subprocess.Popen(command, stdout=log, stderr=log)
        self.pid_file.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, f"mosquitto exited: {self.log()}"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            assert time.monotonic() < deadline, "mosquitto did not open its port"
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        """Stop Mosquitto (SIGTERM, so it saves its persistent sessions)."""
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.asynccontextmanager
async def running_broker(settings: Settings) -> AsyncIterator[Broker]:
    """Write the configuration with `cem broker mosquitto-config`'s code, start Mosquitto, stop it at the end."""
    directory = Path(settings.broker.config_dir)
    port = free_port()
    await Authority(settings).write_mosquitto_config(directory, bind="127.0.0.1", port=port)
    (directory / "mosquitto.log").write_bytes(b"")
    # a fresh broker for every test: no sessions, queued or retained messages of an earlier test's devices
    for stale in (directory / "data").glob("mosquitto.db*"):
        stale.unlink()
    broker = Broker(port, directory, Path(settings.broker.pid_file))
    try:
        await broker.start()
        yield broker
    finally:
        broker.stop()
        broker.pid_file.unlink(missing_ok=True)


def tls_context(ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None) -> ssl.SSLContext:
    """A client TLS context trusting ``ca_file`` and presenting the certificate, if any."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    return context


def _connect_packet(client_id: str) -> bytes:
    cid = client_id.encode()
    variable = b"\x00\x04MQTT\x04\x02\x00\x3c"
    payload = len(cid).to_bytes(2, "big") + cid
    remaining = len(variable) + len(payload)
    return bytes([0x10, remaining]) + variable + payload


def probe(port: int, context: ssl.SSLContext | None, client_id: str = "probe") -> str:
    """Try an MQTT 3.1.1 CONNECT; 'accepted', or why it failed (TLS alert, closed, CONNACK code)."""
    try:
        with contextlib.ExitStack() as stack:
            stream = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            if context is not None:
                stream = stack.enter_context(context.wrap_socket(stream, server_hostname="127.0.0.1"))
            stream.sendall(_connect_packet(client_id))
            answer = stream.recv(4)
    except (ssl.SSLError, OSError) as err:
        return f"refused: {err}"
    if len(answer) < 4:
        return "refused: connection closed"
    return "accepted" if answer[0] == 0x20 and answer[3] == 0 else f"refused: CONNACK {answer[3]}"


@dataclass
class Listener:
    """An MQTT 5 client that records what it receives."""

    client: gmqtt.Client
    received: list[tuple[str, bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, payload: bytes, timeout: float = 5.0) -> None:
        """Until a message with ``payload`` has arrived."""
        async with asyncio.timeout(timeout):
            while not any(p == payload for _, p in self.received):
                self.arrived.clear()
                await self.arrived.wait()

    def payloads(self) -> list[bytes]:
        """Payloads received so far, in order."""
        return [p for _, p in self.received]


async def mqtt_client(port: int, context: ssl.SSLContext, client_id: str) -> Listener:
    """A connected gmqtt client (MQTT 5) that records every message it gets."""
    client = gmqtt.Client(client_id)
    listener = Listener(client)

    def on_message(_client: gmqtt.Client, topic: str, payload: bytes, qos: int, properties: object) -> int:
        listener.received.append((topic, payload))
        listener.arrived.set()
        return 0

    client.on_message = on_message
    await asyncio.wait_for(client.connect("127.0.0.1", port, ssl=context, keepalive=30), 10)
    return listener
