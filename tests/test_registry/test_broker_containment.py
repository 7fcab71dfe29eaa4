"""The broker bounds what an enrolled device can send: a message larger than the limit never reaches ingest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from cem_platform.settings import Settings
from cem_registry.broker import MAX_PACKET_BYTES
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
