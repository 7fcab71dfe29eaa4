"""The broker admits only certified devices, lets each publish only as itself, and follows revocations.

A real Mosquitto runs with the configuration `cem broker mosquitto-config` writes, on a free loopback port.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from cem_platform.settings import Settings
from cem_registry import pki
from cem_registry.ca import Authority
from tests.test_platform.world import World
from tests.test_registry.broker import Broker, mqtt_client, probe, running_broker, tls_context
from tests.test_registry.fleet import Terminal, enrolled_terminal


@pytest.fixture
async def broker(app: object, settings: Settings) -> AsyncIterator[Broker]:
    """Mosquitto with the generated configuration (needs the app: the CA lives in its database)."""
    async with running_broker(settings) as running:
        yield running


def _write_key(path: Path, key: pki.PrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


async def _ingest_files(settings: Settings, directory: Path) -> tuple[Path, Path, Path]:
    authority = Authority(settings)
    key, cert = await authority.issue_service_certificate(settings.broker.ingest_identity)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "client.crt").write_text(pki.pem(cert) + await authority.issuing_pem())
    (directory / "ca.pem").write_text(await authority.root_pem())
    return directory / "client.crt", _write_key(directory / "client.key", key), directory / "ca.pem"


def _context(terminal: Terminal, directory: Path):  # type: ignore[no-untyped-def]
    key_file, cert_file, ca_file = terminal.write(directory)
    return tls_context(ca_file, cert_file, key_file)


async def test_devices_publish_only_as_themselves_and_ingest_reads_all(
    world: World, broker: Broker, tmp_path: Path
) -> None:
    headers = await world.login("a-device-admin")
    one, two = await enrolled_terminal(world, headers), await enrolled_terminal(world, headers)
    cert, key, ca = await _ingest_files(world.settings, tmp_path / "ingest")
    ingest = await mqtt_client(broker.port, tls_context(ca, cert, key), "cem-ingest-1")
    ingest.client.subscribe("$share/ingest/cem/v1/+/telemetry", qos=1)
    ingest.client.subscribe("cem/v1/+/status", qos=1)
    first = await mqtt_client(broker.port, _context(one, tmp_path / "one"), one.device_id)
    second = await mqtt_client(broker.port, _context(two, tmp_path / "two"), two.device_id)
    first.client.subscribe(f"cem/v1/{one.device_id}/cmd", qos=1)
    first.client.subscribe(f"cem/v1/{two.device_id}/cmd", qos=1)  # not its own: refused by the ACL
    await asyncio.sleep(0.2)
    try:
        first.client.publish(f"cem/v1/{two.device_id}/telemetry", b"forged", qos=1)
        first.client.publish(f"cem/v1/{one.device_id}/status", b"one-online", qos=1)
        first.client.publish(f"cem/v1/{one.device_id}/telemetry", b"one-reading", qos=1)
        await ingest.wait_for(b"one-reading")
        assert b"one-online" in ingest.payloads()
        assert b"forged" not in ingest.payloads(), broker.log()

        ingest.client.publish(f"cem/v1/{two.device_id}/cmd", b"for-two", qos=1)
        ingest.client.publish(f"cem/v1/{one.device_id}/cmd", b"for-one", qos=1)
        await first.wait_for(b"for-one")
        assert b"for-two" not in first.payloads()

        second.client.publish(f"cem/v1/{two.device_id}/telemetry", b"two-reading", qos=1)
        await ingest.wait_for(b"two-reading")
        assert ("cem/v1/" + two.device_id + "/telemetry", b"two-reading") in ingest.received
    finally:
        for client in (first, second, ingest):
            await client.client.disconnect()


async def test_strangers_are_refused_at_the_handshake(world: World, broker: Broker, tmp_path: Path) -> None:
    headers = await world.login("a-device-admin")
    terminal = await enrolled_terminal(world, headers)
    key_file, cert_file, ca_file = terminal.write(tmp_path / "good")
    assert probe(broker.port, tls_context(ca_file, cert_file, key_file), terminal.device_id) == "accepted"

    # plain TCP to the TLS listener, and TLS without a client certificate
    assert probe(broker.port, None).startswith("refused")
    assert probe(broker.port, tls_context(ca_file)).startswith("refused")

    # a certificate with the right CN from another CA
    other_root_key, other_key = pki.new_key(), pki.new_key()
    other_root = pki.issue_root_ca(other_root_key, name="Other Root", organisation="Other", days=30)
    other_issuing = pki.issue_issuing_ca(
        other_key, other_root, other_root_key, name="Other CA", organisation="O", days=30
    )
    foreign = pki.issue_client_certificate(
        terminal.key.public_key(),
        other_issuing,
        other_key,
        identity=terminal.device_id,
        organisation="O",
        unit="d",
        days=5,
    )
    (tmp_path / "foreign.crt").write_text(pki.pem(foreign) + pki.pem(other_issuing))
    assert probe(broker.port, tls_context(ca_file, tmp_path / "foreign.crt", key_file)).startswith("refused")

    # a self-signed certificate with the right CN
    own = pki.issue_root_ca(terminal.key, name=terminal.device_id, organisation="self", days=5)
    (tmp_path / "self.crt").write_text(pki.pem(own))
    assert probe(broker.port, tls_context(ca_file, tmp_path / "self.crt", key_file)).startswith("refused")

    # an expired certificate from our own CA
    expired = await Authority(world.settings).sign_device(
        terminal.key.public_key(), terminal.device_id, not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=3), days=1
    )
    issuing = await Authority(world.settings).issuing_pem()
    (tmp_path / "expired.crt").write_text(pki.pem(expired) + issuing)
    result = probe(broker.port, tls_context(ca_file, tmp_path / "expired.crt", key_file))
    assert result.startswith("refused"), result


async def test_revocation_denies_a_connected_device_at_once_and_refuses_it_afterwards(
    world: World, broker: Broker, tmp_path: Path
) -> None:
    headers = await world.login("a-device-admin")
    victim, witness = await enrolled_terminal(world, headers), await enrolled_terminal(world, headers)
    cert, key, ca = await _ingest_files(world.settings, tmp_path / "ingest")
    ingest = await mqtt_client(broker.port, tls_context(ca, cert, key), "cem-ingest-2")
    ingest.client.subscribe("cem/v1/+/telemetry", qos=1)
    victim_context = _context(victim, tmp_path / "victim")
    connected = await mqtt_client(broker.port, victim_context, victim.device_id)
    other = await mqtt_client(broker.port, _context(witness, tmp_path / "witness"), witness.device_id)
    await asyncio.sleep(0.2)
    try:
        connected.client.publish(f"cem/v1/{victim.device_id}/telemetry", b"before", qos=1)
        await ingest.wait_for(b"before")

        body = {"reason": "gateway stolen", "revocation_reason": "key_compromise"}
        response = await world.client.post(
            f"/api/v1/registry/devices/{victim.device_id}/revoke", headers=headers, json=body
        )
        assert response.status_code == 200, response.text
        assert response.json()["broker_reloaded"] is True
        await asyncio.sleep(0.5)  # Mosquitto reloads CRL and ACL on SIGHUP

        connected.client.publish(f"cem/v1/{victim.device_id}/telemetry", b"after", qos=1)
        await asyncio.sleep(0.3)
        other.client.publish(f"cem/v1/{witness.device_id}/telemetry", b"witness", qos=1)
        await ingest.wait_for(b"witness")
        await asyncio.sleep(0.3)
        assert b"after" not in ingest.payloads(), broker.log()
        assert probe(broker.port, victim_context, victim.device_id).startswith("refused")
        assert probe(broker.port, _context(witness, tmp_path / "witness2"), witness.device_id) == "accepted"
    finally:
        for client in (connected, other, ingest):
            await client.client.disconnect()
