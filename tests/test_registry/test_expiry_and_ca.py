"""Certificates near expiry are reported once; the CA's key stays encrypted; the beat schedule names real tasks."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from cryptography import x509

from cem_platform.errors import ConfigurationError, ConflictError
from cem_platform.jobs import app as celery_app
from cem_registry import pki
from cem_registry.ca import Authority
from cem_registry.models import CertificateAuthority, DeviceCertificate
from cem_registry.services import DeviceRegistry
from tests.test_platform.world import World
from tests.test_registry.fleet import enrolled_terminal


async def test_expiring_certificates_are_reported_once(world: World, caplog: pytest.LogCaptureFixture) -> None:
    headers = await world.login("a-device-admin")
    soon = await enrolled_terminal(world, headers)
    later = await enrolled_terminal(world, headers)
    await DeviceCertificate.filter(device_id=later.device_id).update(
        not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=200)
    )
    registry = DeviceRegistry(world.settings)
    with caplog.at_level(logging.WARNING, logger="cem_registry.services"):
        first = await registry.expiring_certificates()
    assert [c.device_id for c in first] == [soon.device_id]  # 20-day certificates, 30-day warning window
    assert any(getattr(r, "device_id", "") == soon.device_id for r in caplog.records)
    assert await registry.expiring_certificates() == []  # warned once, not every hour


async def test_issuing_key_is_encrypted_and_needs_the_passphrase(world: World) -> None:
    row = await CertificateAuthority.get(role="issuing")
    assert row.key_encrypted is not None
    assert b"ENCRYPTED PRIVATE KEY" in bytes(row.key_encrypted)
    with pytest.raises(ConfigurationError, match="passphrase"):
        pki.decrypt_key(bytes(row.key_encrypted), "not-the-passphrase-at-all")
    assert (await CertificateAuthority.get(role="root")).key_encrypted is None  # the root key is not online
    root_key = Path(world.settings.pki.dir) / "root-ca.key"
    assert b"ENCRYPTED PRIVATE KEY" in root_key.read_bytes()
    assert root_key.stat().st_mode & 0o077 == 0
    with pytest.raises(ConflictError):
        await Authority(world.settings).initialise()  # never replaced by accident
    issuing = await Authority(world.settings).issuing_certificate()
    root = pki.certificate_from_pem(await Authority(world.settings).root_pem())
    assert pki.verify_issued_by(issuing, root)
    basic = issuing.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca and basic.path_length == 0


def test_beat_schedule_names_registered_tasks() -> None:
    scheduled = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    assert {"cem.registry.publish_crl", "cem.registry.check_expiry"} <= scheduled
    assert scheduled <= set(celery_app.tasks)
