"""`cem gateway enroll` and `cem gateway renew` as a crew runs them, against `cem serve` on loopback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cem_registry import pki
from cem_registry.models import DeviceCertificate
from tests.test_platform.test_cli_and_demo import CEM, _running, _wait_ready, server_env
from tests.test_platform.world import World
from tests.test_registry.broker import free_port
from tests.test_registry.fleet import issue_token, register


@pytest.mark.slow
async def test_enroll_and_renew_from_the_command_line(world: World, tmp_path: Path) -> None:
    headers = await world.login("a-device-admin")
    device = await register(world, headers)
    token = await issue_token(world, headers, device["id"])
    s = world.settings
    env = server_env(s)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    identity_dir = tmp_path / "gateway"
    with _running([*CEM, "serve", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path) as server:
        _wait_ready(base, server)
        enroll = subprocess.run(
            [*CEM, "gateway", "enroll", "--server", base, "--token", token, "--dir", str(identity_dir)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert enroll.returncode == 0, enroll.stderr
        assert f"enrolled as {device['id']}" in enroll.stdout
        again = subprocess.run(  # the token on standard input, off the command line (ps shows argv)
            [*CEM, "gateway", "enroll", "--server", base, "--token-file", "-", "--dir", str(tmp_path / "copy")],
            env=env,
            input=token + "\n",
            capture_output=True,
            text=True,
            check=False,
        )
        assert again.returncode == 1
        assert "already used" in again.stderr
        (tmp_path / "token").write_text(token)
        from_file = subprocess.run(
            [*CEM, "gateway", "enroll", "--server", base, "--token-file", str(tmp_path / "token"), "--dir",
             str(tmp_path / "copy2")],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert from_file.returncode == 1 and "already used" in from_file.stderr
        empty = subprocess.run(
            [*CEM, "gateway", "enroll", "--token-file", "-", "--dir", str(tmp_path / "copy3")],
            env=env, input="", capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert empty.returncode == 1 and "no enrolment token" in empty.stderr
        first_key = (identity_dir / "device.key").read_bytes()
        renew = subprocess.run(
            [*CEM, "gateway", "renew", "--dir", str(identity_dir)], env=env, capture_output=True, text=True, check=False
        )
        assert renew.returncode == 0, renew.stderr

    assert (identity_dir / "device.key").stat().st_mode & 0o077 == 0
    assert (identity_dir / "device.key").read_bytes() != first_key  # renewal rotates the key
    key = serialization.load_pem_private_key((identity_dir / "device.key").read_bytes(), None)
    leaf = x509.load_pem_x509_certificate((identity_dir / "device.crt").read_bytes())
    assert pki.common_name(leaf.subject) == device["id"]
    assert leaf.public_key() == key.public_key()
    meta = json.loads((identity_dir / "identity.json").read_text())
    assert meta["device_id"] == device["id"]
    assert meta["broker_url"] == s.broker.url
    assert meta["topics"]["cmd"] == f"cem/v1/{device['id']}/cmd"
    assert await DeviceCertificate.filter(device_id=device["id"]).count() == 2
    # the key never travelled: the registry holds only certificates
    assert first_key.decode() not in (tmp_path / "server.log").read_text()
