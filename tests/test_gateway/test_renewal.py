"""A running gateway renews its certificate by itself once it is due, and carries on with the new one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from cem_gateway.simulator import run_plant
from cem_registry import pki
from cem_registry.models import CertificateState, DeviceCertificate
from tests.test_gateway.harness import CEM, GATEWAY_SECTION, Collector, ingest_files, start, stopping, wait_until
from tests.test_platform.test_cli_and_demo import _running, _wait_ready, server_env
from tests.test_platform.world import World
from tests.test_registry.broker import free_port, running_broker
from tests.test_registry.fleet import issue_token, register


def _serial(identity: Path) -> str:
    return pki.serial_hex(x509.load_pem_x509_certificate((identity / "device.crt").read_bytes()))


@pytest.mark.slow
async def test_the_gateway_renews_when_due_and_reconnects_with_the_new_certificate(
    world: World, tmp_path: Path
) -> None:
    s = world.settings
    headers = await world.login("a-device-admin")
    device = (await register(world, headers))["id"]
    token = await issue_token(world, headers, device)
    async with running_broker(s) as broker, run_plant(host="127.0.0.1") as plant:
        env = server_env(
            s,  # device certificates live 20 days here: shorter than the 30-day window, so renewal is due at once
            CEM_BROKER_PID_FILE=s.broker.pid_file,
            CEM_BROKER_URL=f"mqtts://127.0.0.1:{broker.port}",
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        identity = tmp_path / "identity"
        with _running([*CEM, "serve", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path) as server:
            _wait_ready(base, server)
            enroll = subprocess.run(
                [*CEM, "gateway", "enroll", "--server", base, "--token", token, "--dir", str(identity)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert enroll.returncode == 0, enroll.stderr
            first = _serial(identity)
            collector = Collector(broker.port, await ingest_files(s, tmp_path / "ingest"))
            collector.start()
            config = tmp_path / "gateway.toml"
            config.write_text(GATEWAY_SECTION + plant.point_map())
            gateway = start(["gateway", "run", "--config", str(config)], tmp_path / "gateway.log", tmp_path)
            with stopping([gateway]):
                await gateway.wait_for_line("certificate renewed", timeout=30)
                renewed = len(collector.telemetry(device))
                await wait_until(lambda: len(collector.telemetry(device)) > renewed + 60, 30, "readings after renewal")
                assert gateway.stop() == 0
            collector.stop()

    assert _serial(identity) != first
    assert json.loads((identity / "identity.json").read_text())["device_id"] == device
    certificates = {c.serial: c.state for c in await DeviceCertificate.filter(device_id=device)}
    assert certificates == {first: CertificateState.SUPERSEDED, _serial(identity): CertificateState.VALID}
    assert gateway.output().count("certificate renewed") == 1  # once, not in a loop
