"""The broker contains an enrolled device: a message larger than the limit never reaches ingest, the device's client
id is its certificate's CN whatever it asks for (so it cannot take the ingest's session), and the rules refuse a
device's shared subscription."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from cem_platform.errors import ConfigurationError
from cem_platform.settings import BrokerSettings, Settings
from cem_platform.telemetry.consumer import client_identity
from cem_registry.broker import MAX_PACKET_BYTES, TOPIC_ROOT, is_allowed, mosquitto_acl
from tests.test_gateway.harness import ingest_files
from tests.test_platform.world import World
from tests.test_registry.broker import Broker, mqtt_client, running_broker, tls_context
from tests.test_registry.fleet import enrolled_terminal
from tests.test_registry.test_broker import _context, _ingest_files


def _publish_once(port: int, context: object, client_id: str, topic: str, payload: bytes) -> str:
    """Connect (MQTT 5, no reconnects), publish once with QoS 1, wait a little; what became of it."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        reconnect_on_failure=False,
    )
    client.tls_set_context(context)  # type: ignore[arg-type]
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return f"refused by the client: {mqtt.error_string(info.rc)}"
        try:
            info.wait_for_publish(timeout=3)
        except (RuntimeError, ValueError) as err:
            return f"not delivered: {err}"
        return "acknowledged" if info.is_published() else "not acknowledged"
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
async def broker(app: object, settings: Settings) -> AsyncIterator[Broker]:
    async with running_broker(settings) as running:
        yield running


async def test_a_message_over_the_size_limit_is_refused(world: World, broker: Broker, tmp_path: Path) -> None:
    headers = await world.login("a-device-admin")
    terminal = await enrolled_terminal(world, headers)
    cert, key, ca = await _ingest_files(world.settings, tmp_path / "ingest")
    ingest = await mqtt_client(broker.port, tls_context(ca, cert, key), "cem-ingest-1")
    ingest.client.subscribe("$share/ingest/cem/v1/+/telemetry", qos=1)
    topic = f"cem/v1/{terminal.device_id}/telemetry"
    context = _context(terminal, tmp_path / "device")
    await asyncio.sleep(0.2)
    try:
        small = await asyncio.to_thread(_publish_once, broker.port, context, terminal.device_id, topic, b"small")
        assert small == "acknowledged"
        await ingest.wait_for(b"small")
        big = b"x" * (MAX_PACKET_BYTES + 1)
        outcome = await asyncio.to_thread(_publish_once, broker.port, context, terminal.device_id, topic, big)
        assert outcome != "acknowledged", broker.log()
        after = await asyncio.to_thread(_publish_once, broker.port, context, terminal.device_id, topic, b"after")
        assert after == "acknowledged"
        await ingest.wait_for(b"after")
        assert ingest.payloads() == [b"small", b"after"]  # the large one never reached ingest
    finally:
        await ingest.client.disconnect()


async def test_a_device_cannot_take_an_ingest_client_id(world: World, broker: Broker, tmp_path: Path) -> None:
    """The reproduced defect: a device connecting as ``cem-ingest-1`` kicked that ingest process off every time."""
    headers = await world.login("a-device-admin")
    terminal = await enrolled_terminal(world, headers)
    files = await ingest_files(world.settings, tmp_path / "ingest", "cem-ingest-1")
    context = tls_context(files / "ca.pem", files / "client.crt", files / "client.key")
    ingest = await mqtt_client(broker.port, context, "cem-ingest-1")
    drops: list[object] = []
    ingest.client.on_disconnect = lambda client, packet, exc=None: drops.append(exc)
    ingest.client.subscribe("$share/cem-ingest/cem/v1/+/telemetry", qos=1)
    topic = f"cem/v1/{terminal.device_id}/telemetry"
    device = _context(terminal, tmp_path / "device")
    await asyncio.sleep(0.2)
    claimed = ["cem-ingest-1", "cem-ingest", "cem-ingest-1", "anything", "cem-ingest-1"]
    try:
        for n, client_id in enumerate(claimed):
            payload = f"reading-{n}".encode()
            outcome = await asyncio.to_thread(_publish_once, broker.port, device, client_id, topic, payload)
            assert outcome == "acknowledged", broker.log()
            await ingest.wait_for(payload)
        await asyncio.sleep(0.3)
        assert drops == [], broker.log()  # the ingest's session was never taken over
        assert ingest.client.is_connected
        assert ingest.payloads() == [f"reading-{n}".encode() for n in range(len(claimed))]
    finally:
        await ingest.client.disconnect()
    log = broker.log()
    # the broker gave the device its CN as client id every time, and the ingest its own
    assert log.count(f" as {terminal.device_id} (p5") == len(claimed), log
    assert log.count(" as cem-ingest-1 (p5") == 1, log
    assert "already connected, closing old connection" not in log, log


def test_devices_may_not_subscribe_to_shared_topics_and_every_ingest_identity_may() -> None:
    """is_allowed (the EMQX hook) refuses any $share/... filter from a device, even on its own cmd topic."""
    broker = BrokerSettings()
    ingest = broker.ingest_identities
    assert ingest == ("cem-ingest", *(f"cem-ingest-{n}" for n in range(1, 9)))
    device = "dev-aaaaaaaaaaaa"

    def allowed(identity: str, topic: str, action: str = "subscribe") -> bool:
        return is_allowed(identity, action, topic, ingest_identities=ingest, device_admitted=True)

    shared = f"$share/cem-ingest/{TOPIC_ROOT}/+/telemetry"
    assert [allowed(identity, shared) for identity in ingest] == [True] * 9
    assert not allowed("cem-ingest-9", shared)  # beyond CEM_BROKER_INGEST_PROCESSES
    assert not allowed(device, shared)
    assert not allowed(device, f"$share/cem-ingest/{TOPIC_ROOT}/{device}/telemetry")
    assert not allowed(device, f"$share/g/{TOPIC_ROOT}/{device}/cmd")
    assert allowed(device, f"{TOPIC_ROOT}/{device}/cmd")
    assert not allowed(device, f"{TOPIC_ROOT}/+/telemetry")
    assert allowed("cem-ingest-8", f"{TOPIC_ROOT}/{device}/cmd", "publish")
    assert not allowed(device, f"{TOPIC_ROOT}/dev-bbbbbbbbbbbb/cmd", "publish")


def test_the_acl_gives_each_ingest_identity_the_ingest_rules() -> None:
    broker = BrokerSettings(ingest_processes=3)
    acl = mosquitto_acl(ingest_identities=broker.ingest_identities, denied_devices=["dev-cccccccccccc"])
    rules = f"topic read {TOPIC_ROOT}/+/telemetry\ntopic read {TOPIC_ROOT}/+/status\ntopic write {TOPIC_ROOT}/+/cmd\n"
    for identity in ("cem-ingest", "cem-ingest-1", "cem-ingest-2", "cem-ingest-3"):
        assert f"user {identity}\n{rules}" in acl
    assert acl.count("\nuser ") == 5  # four ingest identities and the denied device
    assert acl.count(rules) == 4
    assert "user dev-cccccccccccc\ntopic deny cem/v1/#\n" in acl


async def test_a_numbered_ingest_identity_reads_through_the_real_broker(
    world: World, broker: Broker, tmp_path: Path
) -> None:
    headers = await world.login("a-device-admin")
    terminal = await enrolled_terminal(world, headers)
    last = world.settings.broker.ingest_identities[-1]
    files = await ingest_files(world.settings, tmp_path / "ingest", last)
    ingest = await mqtt_client(
        broker.port, tls_context(files / "ca.pem", files / "client.crt", files / "client.key"), "x"
    )
    ingest.client.subscribe("$share/cem-ingest/cem/v1/+/telemetry", qos=1)
    await asyncio.sleep(0.2)
    try:
        topic = f"cem/v1/{terminal.device_id}/telemetry"
        device = _context(terminal, tmp_path / "device")
        outcome = await asyncio.to_thread(_publish_once, broker.port, device, terminal.device_id, topic, b"for-last")
        assert outcome == "acknowledged"
        await ingest.wait_for(b"for-last")
        assert ingest.payloads() == [b"for-last"]
    finally:
        await ingest.client.disconnect()
    assert f" as {last} (p5" in broker.log()


async def test_ingest_takes_its_client_id_from_its_certificate(app: object, settings: Settings, tmp_path: Path) -> None:
    """Ingest asks for the session the broker will give it (its CN); a client id that says otherwise is refused."""
    files = await ingest_files(settings, tmp_path / "ingest", "cem-ingest-3")

    def identity(**ingest: str) -> str:
        changed = msgspec.structs.replace(settings.ingest, **({"identity_dir": str(files)} | ingest))
        return client_identity(msgspec.structs.replace(settings, ingest=changed))

    assert identity() == "cem-ingest-3"
    assert identity(client_id="cem-ingest-3") == "cem-ingest-3"
    with pytest.raises(ConfigurationError, match="CEM_INGEST_CLIENT_ID is 'cem-ingest-1' but the certificate"):
        identity(client_id="cem-ingest-1")
    stranger = await ingest_files(settings, tmp_path / "stranger", "cem-ingest-9")  # the CA issues it; ingest won't
    with pytest.raises(ConfigurationError, match="is for 'cem-ingest-9', which the broker does not treat as ingest"):
        identity(identity_dir=str(stranger))
    with pytest.raises(ConfigurationError, match="lacks|cannot read the ingest certificate"):
        identity(identity_dir=str(tmp_path / "nowhere"))
