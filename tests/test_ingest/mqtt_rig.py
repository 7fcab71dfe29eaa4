"""A real broker, enrolled devices publishing over mTLS, and `cem ingest` processes, for ingest tests."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from tortoise import connections

from cem_gateway.uplink import release_sockets, tls_context
from cem_platform.settings import Settings
from tests.test_gateway.harness import Process, ingest_files, start
from tests.test_platform.test_cli_and_demo import server_env
from tests.test_platform.world import World
from tests.test_registry.broker import Broker, running_broker
from tests.test_registry.fleet import enrolled_terminal

_ids = itertools.count(1)


@dataclass
class Publisher:
    """A device publishing QoS 1 with its own certificate; ``publish`` waits for the broker's PUBACK."""

    device_id: str
    client: mqtt.Client
    acked: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def publish(self, topic_channel: str, payload: bytes, timeout: float = 10.0) -> None:
        """Publish on the device's own topic and wait until the broker has it."""
        info = self.client.publish(f"cem/v1/{self.device_id}/{topic_channel}", payload, qos=1)
        info.wait_for_publish(timeout)
        assert info.is_published(), "the broker did not acknowledge the publish"

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()
        release_sockets(self.client)


async def publisher(world: World, broker: Broker, directory: Path) -> Publisher:
    """Enrol a gateway in enterprise A through the API and connect it to the broker."""
    terminal = await enrolled_terminal(world, await world.login("a-device-admin"))
    key, cert, ca = terminal.write(directory)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=terminal.device_id, protocol=MQTTProtocolVersion.MQTTv5)
    client.tls_set_context(tls_context(str(ca), str(cert), str(key)))
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect("127.0.0.1", broker.port, keepalive=30)
    client.loop_start()
    assert await asyncio.to_thread(connected.wait, 10), f"device could not connect: {broker.log()}"
    return Publisher(terminal.device_id, client)


def ingest_env(settings: Settings, broker_port: int, identity_dir: Path) -> dict[str, str]:
    """Environment of one `cem ingest` process on the test's database and CA, reading from ``broker_port`` with the
    certificate in ``identity_dir`` (its CN is the client id)."""
    return server_env(
        settings,
        CEM_INGEST_BROKER_URL=f"mqtts://127.0.0.1:{broker_port}",
        CEM_INGEST_IDENTITY_DIR=str(identity_dir),
        CEM_INGEST_BATCH_WAIT_MS="20",
        CEM_REDIS_URL=settings.redis.url,
        CEM_LOG_LEVEL="INFO",
    )


@dataclass
class IngestRig:
    """Broker and a way to start `cem ingest` processes on the test database, each with its own identity."""

    settings: Settings
    broker: Broker
    work: Path
    processes: list[Process] = field(default_factory=list)
    identities: dict[str, Path] = field(default_factory=dict)

    def env(self, identity_dir: Path) -> dict[str, str]:
        """Environment of one ingest process (its client id is the CN of the certificate in ``identity_dir``)."""
        return ingest_env(self.settings, self.broker.port, identity_dir)

    async def identity(self, number: int) -> Path:
        """The certificate of ingest identity ``number`` (0: cem-ingest, n: cem-ingest-n), issued once: a process
        started again with the same number resumes the same broker session."""
        name = self.settings.broker.ingest_identities[number]
        if name not in self.identities:
            self.identities[name] = await ingest_files(self.settings, self.work / f"identity-{name}", name)
        return self.identities[name]

    async def ingest(self, number: int = 0) -> Process:
        """Start `cem ingest` as ingest identity ``number`` and wait until it is subscribed."""
        identity = await self.identity(number)
        log = self.work / f"{identity.name}-{next(_ids)}.log"
        process = start(["ingest"], log, self.work, env=self.env(identity))
        self.processes.append(process)
        await process.wait_for_line("ingest running as", timeout=60)
        return process


@contextlib.asynccontextmanager
async def ingest_rig(settings: Settings, work: Path) -> AsyncIterator[IngestRig]:
    """A running broker; every ingest process started is stopped at the end."""
    async with running_broker(settings) as broker:
        rig = IngestRig(settings, broker, work)
        try:
            yield rig
        finally:
            for process in rig.processes:
                process.stop()


async def stored_count() -> int:
    """Readings in the raw table."""
    rows = await connections.get("default").execute_query_dict("SELECT count(*) AS n FROM ts_reading")
    return int(rows[0]["n"])


async def wait_for_count(expected: int, timeout: float, processes: list[Process]) -> int:
    """Until ``expected`` readings are stored (or the time is up); returns the count."""
    deadline = time.monotonic() + timeout
    count = await stored_count()
    while count < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        count = await stored_count()
    if count < expected:
        logs = "\n".join(p.output()[-2000:] for p in processes)
        raise AssertionError(f"only {count} of {expected} readings stored:\n{logs}")
    return count


@contextlib.contextmanager
def closing(publishers: list[Publisher]) -> Iterator[None]:
    """Disconnect the publishers at the end."""
    try:
        yield
    finally:
        for item in publishers:
            item.close()
