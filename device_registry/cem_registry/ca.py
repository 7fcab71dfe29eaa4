"""The platform's certificate authority, kept in the database: a root CA and an online issuing CA.

``cem pki init`` makes both. The root's key is written, encrypted, to a file in ``CEM_PKI_DIR`` and never
to the database: after init it can be taken offline (it is needed again only to make a new issuing CA).
The issuing CA's key is stored encrypted with ``CEM_PKI_PASSPHRASE``; it is decrypted in memory only, and
never appears in a response, a log or the database in clear.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from cem_platform.errors import ConfigurationError, ConflictError
from cem_platform.identity.credentials import read_or_create_secret_file
from cem_platform.settings import Settings
from cem_registry import pki
from cem_registry.broker import BrokerFiles, PublishOutcome, mosquitto_conf, write_atomic
from cem_registry.models import (
    CertificateAuthority,
    CertificateState,
    Device,
    DeviceCertificate,
    DeviceState,
    ServiceCertificate,
)

__all__ = ["Authority", "CrlPublication", "InitResult"]

log = logging.getLogger(__name__)

ROOT, ISSUING = "root", "issuing"
_CRL_REASONS = {
    CertificateState.ON_HOLD: x509.ReasonFlags.certificate_hold,
    CertificateState.SUPERSEDED: x509.ReasonFlags.superseded,
}
_REVOCATION_REASONS = {
    "key_compromise": x509.ReasonFlags.key_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "superseded": x509.ReasonFlags.superseded,
    "unspecified": x509.ReasonFlags.unspecified,
}
REVOCATION_REASONS = tuple(_REVOCATION_REASONS)
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True, slots=True)
class InitResult:
    """What ``cem pki init`` made."""

    root_fingerprint: str
    issuing_fingerprint: str
    root_key_path: str
    root_certificate_path: str


@dataclass(frozen=True, slots=True)
class CrlPublication:
    """A freshly signed CRL and what happened at the broker."""

    number: int
    entries: int
    crl_pem: str
    broker: PublishOutcome


class Authority:
    """Issues and revokes certificates with the issuing CA held in the database."""

    _cache: dict[str, tuple[x509.Certificate, pki.PrivateKey]] = {}  # fingerprint -> decrypted issuing CA

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.broker_files = BrokerFiles(settings.broker)

    @property
    def passphrase(self) -> str:
        """The passphrase that encrypts the CA keys (from the settings, or the demo's passphrase file)."""
        value = self.settings.pki.passphrase or read_or_create_secret_file(Path(self.settings.pki.passphrase_file))
        if len(value) < 16:
            raise ConfigurationError("CEM_PKI_PASSPHRASE must be at least 16 characters of random text")
        return value

    # --- set-up -----------------------------------------------------------------------------------------

    async def is_initialised(self) -> bool:
        """Has ``cem pki init`` run against this database?"""
        return await CertificateAuthority.filter(role=ISSUING).exists()

    async def initialise(self) -> InitResult:
        """Make the root and issuing CAs. Refuses when they exist: replacing a CA orphans every device."""
        if await self.is_initialised():
            raise ConflictError(
                "the certificate authority already exists",
                hint="Nothing to do. Replacing it would invalidate every device certificate.",
            )
        pki_settings = self.settings.pki
        passphrase = self.passphrase
        organisation = pki_settings.organisation
        root_key = pki.new_key(pki_settings.curve)
        root = pki.issue_root_ca(root_key, name=f"{organisation} Root CA", organisation=organisation, days=7305)
        issuing_key = pki.new_key(pki_settings.curve)
        issuing = pki.issue_issuing_ca(
            issuing_key, root, root_key, name=f"{organisation} Device Issuing CA", organisation=organisation, days=3652
        )
        directory = Path(pki_settings.dir)
        key_path, cert_path = directory / "root-ca.key", directory / "root-ca.crt"
        if await asyncio.to_thread(key_path.exists):
            raise ConflictError(
                f"{key_path} already exists",
                hint="Move the old root key away (it belongs to another CA) or set CEM_PKI_DIR elsewhere.",
            )
        write_atomic(key_path, pki.encrypt_key(root_key, passphrase), mode=0o600)
        write_atomic(cert_path, pki.pem(root))
        async with in_transaction():
            for role, cert, key in ((ROOT, root, None), (ISSUING, issuing, issuing_key)):
                await CertificateAuthority.create(
                    role=role,
                    subject=cert.subject.rfc4514_string(),
                    certificate_pem=pki.pem(cert),
                    key_encrypted=pki.encrypt_key(key, passphrase) if key is not None else None,
                    serial=pki.serial_hex(cert),
                    fingerprint=pki.fingerprint(cert),
                    not_after=cert.not_valid_after_utc,
                )
        await self.publish_crl()
        return InitResult(pki.fingerprint(root), pki.fingerprint(issuing), str(key_path), str(cert_path))

    async def _row(self, role: str) -> CertificateAuthority:
        row = await CertificateAuthority.get_or_none(role=role)
        if row is None:
            raise ConfigurationError(
                "the certificate authority has not been created",
                hint="Run 'cem pki init' once (after 'cem db upgrade').",
            )
        return row

    async def issuing(self) -> tuple[x509.Certificate, pki.PrivateKey]:
        """The issuing CA's certificate and decrypted key (kept in memory for this process)."""
        row = await self._row(ISSUING)
        cached = self._cache.get(row.fingerprint)
        if cached is not None:
            return cached
        if row.key_encrypted is None:
            raise ConfigurationError("the issuing CA has no key in the database")
        key = await asyncio.to_thread(pki.decrypt_key, bytes(row.key_encrypted), self.passphrase)
        pair = (pki.certificate_from_pem(row.certificate_pem), key)
        self._cache[row.fingerprint] = pair
        return pair

    async def issuing_certificate(self) -> x509.Certificate:
        """The issuing CA's certificate (no key)."""
        return pki.certificate_from_pem((await self._row(ISSUING)).certificate_pem)

    async def issuing_pem(self) -> str:
        """The issuing CA certificate, PEM: sent after a leaf certificate so that peers can build the chain."""
        return (await self._row(ISSUING)).certificate_pem

    async def root_pem(self) -> str:
        """The root CA certificate: the trust anchor devices and services use to check the broker."""
        return (await self._row(ROOT)).certificate_pem

    async def chain_pem(self) -> str:
        """Issuing CA then root CA, PEM: what a device sends along with its own certificate."""
        return (await self._row(ISSUING)).certificate_pem + await self.root_pem()

    # --- issuing -----------------------------------------------------------------------------------------

    async def sign_device(
        self, public_key: PublicKey, device_id: str, *, not_before: dt.datetime | None = None, days: int | None = None
    ) -> x509.Certificate:
        """A client certificate whose CN is the device id."""
        ca_cert, ca_key = await self.issuing()
        return pki.issue_client_certificate(
            public_key,
            ca_cert,
            ca_key,
            identity=device_id,
            organisation=self.settings.pki.organisation,
            unit="device",
            days=days or self.settings.pki.device_days,
            not_before=not_before,
            crl_url=self.settings.pki.crl_url,
        )

    async def issue_service_certificate(self, identity: str) -> tuple[pki.PrivateKey, x509.Certificate]:
        """Key and client certificate for one of the platform's own services (the ingest service)."""
        ca_cert, ca_key = await self.issuing()
        key = pki.new_key(self.settings.pki.curve)
        cert = pki.issue_client_certificate(
            key.public_key(),
            ca_cert,
            ca_key,
            identity=identity,
            organisation=self.settings.pki.organisation,
            unit="service",
            days=self.settings.pki.service_days,
            crl_url=self.settings.pki.crl_url,
        )
        await self._record_service(cert, "service-client", identity)
        return key, cert

    async def write_service_identity(self, identity: str, directory: Path) -> None:
        """Issue a service client certificate and write ``client.key`` (0600), ``client.crt`` (+ issuing CA)
        and ``ca.pem`` (the root, to check the broker) into ``directory``."""
        key, cert = await self.issue_service_certificate(identity)
        write_atomic(directory / "client.crt", pki.pem(cert) + await self.issuing_pem())
        write_atomic(directory / "ca.pem", await self.root_pem())
        write_atomic(directory / "client.key", pki.plain_key_pem(key), mode=0o600)

    async def issue_server_certificate(self, hostnames: list[str]) -> tuple[pki.PrivateKey, x509.Certificate]:
        """Key and server certificate for the broker's TLS listener."""
        ca_cert, ca_key = await self.issuing()
        key = pki.new_key(self.settings.pki.curve)
        cert = pki.issue_server_certificate(
            key.public_key(),
            ca_cert,
            ca_key,
            hostnames=hostnames,
            organisation=self.settings.pki.organisation,
            days=self.settings.pki.service_days,
        )
        await self._record_service(cert, "broker-server", ",".join(hostnames))
        return key, cert

    async def _record_service(self, cert: x509.Certificate, purpose: str, identity: str) -> None:
        await ServiceCertificate.create(
            purpose=purpose,
            identity=identity,
            serial=pki.serial_hex(cert),
            fingerprint=pki.fingerprint(cert),
            not_after=cert.not_valid_after_utc,
        )

    # --- revocation ----------------------------------------------------------------------------------------

    async def _crl_entries(self) -> list[pki.RevokedEntry]:
        now = pki.utcnow()
        entries = []
        listed = [CertificateState.ON_HOLD, CertificateState.SUPERSEDED, CertificateState.REVOKED]
        for cert in await DeviceCertificate.filter(state__in=listed, not_after__gt=now).order_by("id"):
            reason = _CRL_REASONS.get(cert.state) or _REVOCATION_REASONS.get(
                cert.revocation_reason, x509.ReasonFlags.unspecified
            )
            entries.append(pki.RevokedEntry(int(cert.serial, 16), cert.revoked_at or cert.created_at, reason))
        for service in await ServiceCertificate.filter(revoked_at__not_isnull=True, not_after__gt=now):
            assert service.revoked_at is not None  # noqa: S101 - filtered above
            entries.append(
                pki.RevokedEntry(int(service.serial, 16), service.revoked_at, x509.ReasonFlags.cessation_of_operation)
            )
        return entries

    async def publish_crl(self) -> CrlPublication:
        """Sign a new CRL, keep it for the HTTP endpoint, write it and the ACL for the broker, reload the broker."""
        ca_cert, ca_key = await self.issuing()
        async with in_transaction():
            await CertificateAuthority.filter(role=ISSUING).update(crl_number=F("crl_number") + 1)
            row = await self._row(ISSUING)
            entries = await self._crl_entries()
            crl = pki.build_crl(
                ca_cert, ca_key, entries, number=row.crl_number, valid_hours=self.settings.pki.crl_hours
            )
            crl_pem = pki.pem(crl)
            row.crl_pem = crl_pem
            row.crl_published_at = pki.utcnow()
            await row.save(update_fields=["crl_pem", "crl_published_at"])
        denied = await self.denied_devices()
        outcome = await asyncio.to_thread(self.broker_files.publish, crl_pem=crl_pem, denied_devices=denied)
        log.info(
            "CRL published",
            extra={"crl_number": row.crl_number, "entries": len(entries), "broker_reloaded": outcome.reloaded},
        )
        return CrlPublication(row.crl_number, len(entries), crl_pem, outcome)

    async def denied_devices(self) -> list[str]:
        """Ids of devices the broker must refuse even while their certificate is still in date."""
        rows = await Device.filter(
            state__in=[DeviceState.SUSPENDED, DeviceState.REVOKED, DeviceState.RETIRED]
        ).values_list("id", flat=True)
        return [str(row) for row in rows]

    async def current_crl(self) -> x509.CertificateRevocationList:
        """The newest CRL; a fresh one is signed when the stored one is past half its validity."""
        row = await self._row(ISSUING)
        half = dt.timedelta(hours=self.settings.pki.crl_hours / 2)
        if not row.crl_pem or row.crl_published_at is None or pki.utcnow() - row.crl_published_at > half:
            return x509.load_pem_x509_crl((await self.publish_crl()).crl_pem.encode())
        return x509.load_pem_x509_crl(row.crl_pem.encode())

    # --- the broker -----------------------------------------------------------------------------------------

    async def write_mosquitto_config(self, directory: Path, *, bind: str, port: int, pid_file: str = "") -> list[Path]:
        """Write a complete Mosquitto configuration into ``directory``: server key and certificate, CA, CRL, ACL."""
        key, cert = await self.issue_server_certificate(list(self.settings.broker.hostnames))
        await asyncio.to_thread(_open_folder, directory)
        write_atomic(directory / "server.key", pki.plain_key_pem(key), mode=0o600)
        _give_to_broker_user(directory / "server.key")
        write_atomic(directory / "server.crt", pki.pem(cert) + await self.issuing_pem())
        write_atomic(directory / "ca.pem", await self.chain_pem())
        (directory / "data").mkdir(mode=0o700, exist_ok=True)
        _give_to_broker_user(directory / "data")
        conf = mosquitto_conf(directory, bind=bind, port=port, pid_file=pid_file)
        write_atomic(directory / "mosquitto.conf", conf)
        files = BrokerFiles(msgspec.structs.replace(self.settings.broker, config_dir=str(directory), pid_file=""))
        crl_pem = pki.pem(await self.current_crl())
        await asyncio.to_thread(files.publish, crl_pem=crl_pem, denied_devices=await self.denied_devices())
        return [directory / name for name in ("mosquitto.conf", "acl", "crl.pem", "ca.pem", "server.crt", "server.key")]


def _open_folder(directory: Path) -> None:
    """Create the folder, traversable by the broker's user (the key inside stays 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)


def _give_to_broker_user(path: Path, user: str = "mosquitto") -> None:
    """Mosquitto started as root drops to its own user, which must be able to read its key (mode stays 0600)."""
    import os
    import pwd

    if os.geteuid() != 0:
        return  # the broker runs as the user writing the file
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return
    os.chown(path, entry.pw_uid, entry.pw_gid)
