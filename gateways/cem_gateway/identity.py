"""The terminal's identity: enrolment with a one-time token, renewal, and the files that hold it.

The gateway makes its own key pair; the private key is written only into its own folder (mode 0600) and
never sent anywhere. What the folder holds after enrolment:

==============  =================================================================
device.key      the private key (EC P-256), 0600
device.crt      the device's certificate followed by the issuing CA (sent at TLS)
ca.pem          the root CA: the trust anchor used to check the broker
chain.pem       issuing CA + root CA
identity.json   device id, broker URL, topics, validity, the registry's address
==============  =================================================================

This module depends on nothing of the platform: only HTTP and the registry's JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["EnrolmentError", "Identity", "enrol", "load_identity", "parse_enrolment_code", "renew"]

TOKEN_PREFIX = "cem_enr_"  # noqa: S105 - a prefix, not a secret
FILES = ("device.key", "device.crt", "ca.pem", "chain.pem", "identity.json")


class EnrolmentError(Exception):
    """Enrolment or renewal failed; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Identity:
    """What a terminal knows about itself after enrolment."""

    directory: Path
    device_id: str
    broker_url: str
    topics: dict[str, str]
    not_after: dt.datetime
    renew_after: dt.datetime
    server: str

    @property
    def key_file(self) -> Path:
        """The private key."""
        return self.directory / "device.key"

    @property
    def cert_file(self) -> Path:
        """The certificate with the issuing CA after it."""
        return self.directory / "device.crt"

    @property
    def ca_file(self) -> Path:
        """The root CA (checks the broker's certificate)."""
        return self.directory / "ca.pem"


def parse_enrolment_code(code: str, server: str | None) -> tuple[str, str, str]:
    """(server, token, device id) from a token, or from the QR payload shown with it."""
    code = code.strip()
    if code.startswith("{"):
        try:
            payload = json.loads(code)
            token, server = payload["token"], server or payload["server"]
        except (ValueError, KeyError, TypeError) as err:
            raise EnrolmentError("the QR payload is not a CEM enrolment code") from err
    else:
        token = code
    if not server:
        raise EnrolmentError("no registry address: give --server URL (the platform's address)")
    if not token.startswith(TOKEN_PREFIX) or "." not in token:
        raise EnrolmentError("this is not an enrolment token: copy the whole 'cem_enr_...' text, or scan its QR code")
    device_id = token[len(TOKEN_PREFIX) :].split(".", 1)[0]
    return server.rstrip("/"), token, device_id


def _write(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _new_key_and_csr(device_id: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]))
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


def _post(server: str, path: str, body: dict[str, Any], verify: bool | str, timeout: float) -> dict[str, Any]:
    url = f"{server}/api/v1/registry/{path}"
    try:
        response = httpx.post(url, json=body, verify=verify, timeout=timeout)
    except httpx.HTTPError as err:
        raise EnrolmentError(
            f"cannot reach the registry at {server}: {err}; check the address and the network"
        ) from err
    if response.status_code != 200:
        try:
            error = response.json()["error"]
            detail = f"{error['message']} — {error['hint']}"
        except (ValueError, KeyError, TypeError):
            detail = response.text[:300]
        raise EnrolmentError(f"the registry refused ({response.status_code}): {detail}")
    result: dict[str, Any] = response.json()
    return result


def _store(directory: Path, key: ec.EllipticCurvePrivateKey, answer: dict[str, Any], server: str) -> Identity:
    directory.mkdir(parents=True, exist_ok=True)
    issuing = answer["chain"].split("-----END CERTIFICATE-----", 1)[0] + "-----END CERTIFICATE-----\n"
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    meta = {
        "device_id": answer["device_id"],
        "broker_url": answer["broker_url"],
        "topics": answer["topics"],
        "not_after": answer["not_after"],
        "renew_after": answer["renew_after"],
        "server": server,
    }
    # Key and certificate are replaced together as far as a file system allows: the key last, so that a
    # crash in between leaves the new certificate with the old key at worst (renewal can be repeated).
    _write(directory / "ca.pem", answer["ca"].encode(), 0o644)
    _write(directory / "chain.pem", answer["chain"].encode(), 0o644)
    _write(directory / "device.crt", (answer["certificate"] + issuing).encode(), 0o644)
    _write(directory / "identity.json", json.dumps(meta, indent=2).encode(), 0o644)
    _write(directory / "device.key", key_pem, 0o600)
    return load_identity(directory)


def enrol(
    code: str, directory: Path, *, server: str | None = None, verify: bool | str = True, timeout: float = 30.0
) -> Identity:
    """Enrol with a one-time token (or its QR payload): make a key, send a CSR, store what comes back."""
    server_url, token, device_id = parse_enrolment_code(code, server)
    key, csr = _new_key_and_csr(device_id)
    answer = _post(server_url, "enrol", {"token": token, "csr": csr}, verify, timeout)
    return _store(directory, key, answer, server_url)


def load_identity(directory: Path) -> Identity:
    """The identity stored in ``directory`` by :func:`enrol`."""
    missing = [name for name in FILES if not (directory / name).exists()]
    if missing:
        raise EnrolmentError(f"{directory} holds no complete identity (missing {', '.join(missing)}); enrol first")
    meta = json.loads((directory / "identity.json").read_text())
    return Identity(
        directory=directory,
        device_id=meta["device_id"],
        broker_url=meta["broker_url"],
        topics=meta["topics"],
        not_after=dt.datetime.fromisoformat(meta["not_after"]),
        renew_after=dt.datetime.fromisoformat(meta["renew_after"]),
        server=meta["server"],
    )


def renewal_message(device_id: str, signed_at: str, csr_pem: str) -> bytes:
    """What the current key signs (the registry checks the same bytes)."""
    return f"cem-renew/v1\n{device_id}\n{signed_at}\n".encode() + csr_pem.strip().encode()


def renew(directory: Path, *, server: str | None = None, verify: bool | str = True, timeout: float = 30.0) -> Identity:
    """Replace the certificate and key before expiry, proving possession of the current key."""
    identity = load_identity(directory)
    current_key = serialization.load_pem_private_key(identity.key_file.read_bytes(), None)
    if not isinstance(current_key, ec.EllipticCurvePrivateKey):
        raise EnrolmentError("the stored key is not an EC key; enrol again")
    certificate = identity.cert_file.read_text()
    leaf = certificate.split("-----END CERTIFICATE-----", 1)[0] + "-----END CERTIFICATE-----\n"
    key, csr = _new_key_and_csr(identity.device_id)
    signed_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    signature = current_key.sign(renewal_message(identity.device_id, signed_at, csr), ec.ECDSA(hashes.SHA256()))
    body = {
        "certificate": leaf,
        "csr": csr,
        "signed_at": signed_at,
        "signature": base64.b64encode(signature).decode(),
    }
    server_url = (server or identity.server).rstrip("/")
    answer = _post(server_url, "renew", body, verify, timeout)
    return _store(directory, key, answer, server_url)
