"""Helpers for registry tests: register, issue a token, enrol like a terminal does, keep the files."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cem_registry import pki
from tests.test_platform.world import World

_serials = itertools.count(1)


def next_serial() -> str:
    """A fresh hardware serial."""
    return f"HX-GW-{next(_serials):05d}"


@dataclass
class Terminal:
    """An enrolled terminal: its key and what the registry answered."""

    device_id: str
    key: ec.EllipticCurvePrivateKey
    answer: dict[str, Any]

    def write(self, directory: Path) -> tuple[Path, Path, Path]:
        """Key, certificate (+ issuing CA) and root CA files, readable for the TLS client."""
        directory.mkdir(parents=True, exist_ok=True)
        key_file, cert_file, ca_file = directory / "device.key", directory / "device.crt", directory / "ca.pem"
        key_file.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        issuing = self.answer["chain"].split("-----END CERTIFICATE-----", 1)[0] + "-----END CERTIFICATE-----\n"
        cert_file.write_text(self.answer["certificate"] + issuing)
        ca_file.write_text(self.answer["ca"])
        return key_file, cert_file, ca_file


async def register(world: World, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    """Register a device in enterprise A (201 expected)."""
    body = {"serial": next_serial(), "site_id": world.a.site.id} | fields
    response = await world.client.post("/api/v1/registry/devices", headers=headers, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def issue_token(world: World, headers: dict[str, str], device_id: str) -> str:
    """A fresh enrolment token for the device."""
    response = await world.client.post(f"/api/v1/registry/devices/{device_id}/enrolment-tokens", headers=headers)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def enrol(world: World, token: str, device_id: str, *, cn: str | None = None) -> Any:
    """Make a key and CSR like a terminal and post them; returns (key, response)."""
    key = pki.new_key()
    csr = pki.pem(pki.make_csr(key, cn or device_id))
    response = await world.client.post("/api/v1/registry/enrol", json={"token": token, "csr": csr})
    return key, response


async def enrolled_terminal(world: World, headers: dict[str, str], **fields: Any) -> Terminal:
    """Register, issue a token and enrol: a terminal ready to connect."""
    device = await register(world, headers, **fields)
    token = await issue_token(world, headers, device["id"])
    key, response = await enrol(world, token, device["id"])
    assert response.status_code == 200, response.text
    return Terminal(device["id"], key, response.json())
