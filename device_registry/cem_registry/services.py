"""The device registry's services: register, enrol, renew, suspend, resume, revoke, retire, list.

Every change is audited in the transaction that makes it; refusals of enrolment and renewal are audited
too (they are what an attack looks like). Devices outside the caller's scope answer 404.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import segno
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from cem_platform.audit import services as audit
from cem_platform.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from cem_platform.identity.principal import Principal, Scope
from cem_platform.org.models import Enterprise, Facility, Process, Site
from cem_platform.settings import Settings
from cem_registry import pki
from cem_registry.broker import DEVICE_ID_PATTERN, device_topics, is_allowed
from cem_registry.ca import REVOCATION_REASONS, Authority, CrlPublication
from cem_registry.models import (
    ADMITTED_STATES,
    CertificateState,
    Device,
    DeviceCertificate,
    DeviceState,
    DeviceType,
    EnrolmentToken,
)
from cem_registry.pki import utcnow

__all__ = [
    "DeviceRegistry",
    "Enrolled",
    "IssuedToken",
    "Registration",
    "RenewalRequest",
    "renewal_message",
]

log = logging.getLogger(__name__)

TOKEN_PREFIX = "cem_enr_"  # noqa: S105 - a prefix, not a secret
RENEWAL_SKEW = dt.timedelta(minutes=5)
_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: read aloud and typed on phones


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _public_key_sha256(public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _device_actor(device_id: str, ip: str) -> Principal:
    """A terminal speaking for itself (enrolment, renewal): no permissions, no scope."""
    return Principal(
        kind="device",
        name=f"device:{device_id}",
        user_id=None,
        role=None,
        permissions=frozenset(),
        scope=Scope(),
        ip=ip,
    )


def new_device_id() -> str:
    """A fresh device id, ``dev-`` and 12 characters; it becomes the certificate's CN and the MQTT identity."""
    return "dev-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def renewal_message(device_id: str, signed_at: str, csr_pem: str) -> bytes:
    """What a device signs with its *current* key to prove it holds it when asking for a renewal."""
    return f"cem-renew/v1\n{device_id}\n{signed_at}\n".encode() + csr_pem.strip().encode()


def parse_token(token: str) -> str:
    """The device id carried in an enrolment token (``cem_enr_<device id>.<secret>``)."""
    if not token.startswith(TOKEN_PREFIX) or "." not in token:
        raise AuthenticationError(
            "this is not an enrolment token", hint="Copy the whole token shown when the device was registered."
        )
    device_id = token[len(TOKEN_PREFIX) :].split(".", 1)[0]
    if not DEVICE_ID_PATTERN.match(device_id):
        raise AuthenticationError("this enrolment token is malformed", hint="Copy the whole token, or scan its QR.")
    return device_id


@dataclass(frozen=True, slots=True)
class Registration:
    """A registered device; ``created`` is False when the serial was already registered (same device back)."""

    device: Device
    created: bool


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An enrolment token, shown once."""

    token: str
    expires_at: dt.datetime
    qr_payload: str
    qr_svg: str


@dataclass(frozen=True, slots=True)
class Enrolled:
    """What a terminal receives when it enrols or renews."""

    device_id: str
    certificate_pem: str
    chain_pem: str
    ca_pem: str
    broker_url: str
    topics: dict[str, str]
    not_after: dt.datetime
    renew_after: dt.datetime


@dataclass(frozen=True, slots=True)
class RenewalRequest:
    """A renewal: the current certificate, a CSR for a new key, and a signature by the current key."""

    certificate_pem: str
    csr_pem: str
    signed_at: str
    signature: str  # base64 of the signature over renewal_message(...)


@dataclass(slots=True)
class DeviceFilter:
    """Filters of the device list."""

    site_id: int | None = None
    process_id: int | None = None
    state: DeviceState | None = None
    type: DeviceType | None = None
    search: str = ""


class DeviceRegistry:
    """The registry's operations, for the routes and the CLI."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.authority = Authority(settings)

    # --- scope ---------------------------------------------------------------------------------------------

    @staticmethod
    def visible(scope: Scope) -> Q:
        """The filter of devices within ``scope``: whole enterprises, and single sites."""
        if scope.everything:
            return Q()
        return Q(enterprise_id__in=list(scope.enterprises)) | Q(site_id__in=list(scope.sites))

    async def get(self, viewer: Principal, device_id: str) -> Device:
        """One device within the viewer's scope, or 404."""
        device = await Device.filter(self.visible(viewer.scope), id=device_id).first()
        if device is None:
            raise NotFoundError(f"no device {device_id} within your scope")
        return device

    @staticmethod
    def _check_writable(actor: Principal, enterprise_id: int, site_id: int | None) -> None:
        scope = actor.scope
        if scope.covers_enterprise(enterprise_id) or (site_id is not None and site_id in scope.sites):
            return
        raise NotFoundError(
            "no such enterprise or site within your scope", hint="Register devices only where your scope reaches."
        )

    async def list_devices(self, viewer: Principal, filters: DeviceFilter, *, limit: int, offset: int) -> list[Device]:
        """Devices the viewer may see, filtered."""
        query = Device.filter(self.visible(viewer.scope))
        if filters.site_id is not None:
            query = query.filter(site_id=filters.site_id)
        if filters.process_id is not None:
            query = query.filter(process_id=filters.process_id)
        if filters.state is not None:
            query = query.filter(state=filters.state)
        if filters.type is not None:
            query = query.filter(type=filters.type)
        if filters.search:
            query = query.filter(
                Q(id__icontains=filters.search)
                | Q(serial__icontains=filters.search)
                | Q(name__icontains=filters.search)
            )
        return await query.order_by("id").offset(offset).limit(limit)

    async def current_certificates(self, device_ids: list[str]) -> dict[str, DeviceCertificate]:
        """The newest valid (or on-hold) certificate of each device."""
        rows = await DeviceCertificate.filter(
            device_id__in=device_ids, state__in=[CertificateState.VALID, CertificateState.ON_HOLD]
        ).order_by("id")
        return {row.device_id: row for row in rows}

    def health(self, device: Device, certificate: DeviceCertificate | None) -> dict[str, Any]:
        """Online/offline and certificate expiry, for lists and dashboards."""
        now = utcnow()
        online = bool(
            device.state in ADMITTED_STATES
            and device.last_seen_at
            and now - device.last_seen_at <= dt.timedelta(minutes=self.settings.broker.online_minutes)
        )
        days_left = (certificate.not_after - now).days if certificate else None
        return {
            "online": online,
            "certificate_not_after": certificate.not_after if certificate else None,
            "certificate_days_left": days_left,
            "certificate_expiring": days_left is not None and days_left <= self.settings.pki.expiry_warning_days,
        }

    async def certificate_history(self, device_id: str) -> list[DeviceCertificate]:
        """Every certificate issued to the device, newest first."""
        return await DeviceCertificate.filter(device_id=device_id).order_by("-id")

    # --- register ------------------------------------------------------------------------------------------

    async def _placement(self, data: dict[str, Any], current: Device | None) -> dict[str, Any]:
        """Check enterprise/site/process/facility agree with each other; fill in what follows from the others."""
        facility_id = data.get("facility_id", current.facility_id if current else None)
        process_id = data.get("process_id", current.process_id if current else None)
        site_id = data.get("site_id", current.site_id if current else None)
        enterprise_id = data.get("enterprise_id", current.enterprise_id if current else None)
        if facility_id is not None:
            facility = await Facility.get_or_none(id=facility_id)
            if facility is None:
                raise InvalidInputError(f"no facility {facility_id}", details={"field": "facility_id"})
            if process_id not in (None, facility.process_id):
                raise InvalidInputError(f"facility {facility_id} is not in process {process_id}")
            process_id = facility.process_id
        if process_id is not None:
            process = await Process.get_or_none(id=process_id)
            if process is None:
                raise InvalidInputError(f"no process {process_id}", details={"field": "process_id"})
            if site_id not in (None, process.site_id):
                raise InvalidInputError(f"process {process_id} is not at site {site_id}")
            site_id = process.site_id
        if site_id is not None:
            site = await Site.get_or_none(id=site_id)
            if site is None:
                raise InvalidInputError(f"no site {site_id}", details={"field": "site_id"})
            if enterprise_id not in (None, site.enterprise_id):
                raise InvalidInputError(f"site {site_id} does not belong to enterprise {enterprise_id}")
            enterprise_id = site.enterprise_id
        if enterprise_id is None or not await Enterprise.exists(id=enterprise_id):
            raise InvalidInputError(
                "a device needs an enterprise", hint="Give enterprise_id, or a site, process or facility of it."
            )
        return {
            "enterprise_id": enterprise_id,
            "site_id": site_id,
            "process_id": process_id,
            "facility_id": facility_id,
        }

    async def register(self, actor: Principal, data: dict[str, Any]) -> Registration:
        """Register a device by its hardware serial. The same serial again returns the same device, never a second."""
        serial = str(data["serial"]).strip()
        if not serial:
            raise InvalidInputError("serial must not be empty", details={"field": "serial"})
        placement = await self._placement(data, None)
        self._check_writable(actor, placement["enterprise_id"], placement["site_id"])
        existing = await Device.get_or_none(serial=serial)
        if existing is not None:
            return self._same_device(actor, existing, placement)
        values = {
            "serial": serial,
            "type": DeviceType(data.get("type", DeviceType.GATEWAY)),
            "name": data.get("name", ""),
            "model": data.get("model", ""),
            "firmware": data.get("firmware", ""),
            **placement,
        }
        try:
            async with in_transaction():
                device = await Device.create(id=new_device_id(), **values)
                await audit.record(
                    actor,
                    "registry.device.register",
                    entity_type="device",
                    entity_id=device.id,
                    enterprise_id=device.enterprise_id,
                    after=audit.snapshot(device),
                )
        except IntegrityError:
            existing = await Device.get_or_none(serial=serial)  # registered concurrently
            if existing is None:
                raise
            return self._same_device(actor, existing, placement)
        return Registration(device, True)

    def _same_device(self, actor: Principal, existing: Device, placement: dict[str, Any]) -> Registration:
        if not actor.scope.covers_enterprise(existing.enterprise_id) and existing.site_id not in actor.scope.sites:
            raise ConflictError(
                "this serial number is registered to a device outside your scope",
                hint="Check the serial on the nameplate; if it is right, ask the group's device administrator.",
            )
        if existing.enterprise_id != placement["enterprise_id"]:
            raise ConflictError(
                f"serial {existing.serial} is already registered as device {existing.id} of another enterprise",
                hint="A device has one identity. Move it by editing the device, not by registering it again.",
                details={"device_id": existing.id},
            )
        if existing.state == DeviceState.RETIRED:
            raise ConflictError(
                f"serial {existing.serial} belongs to retired device {existing.id}",
                hint="A retired device stays retired; its serial cannot be registered again.",
                details={"device_id": existing.id},
            )
        return Registration(existing, False)

    async def update(self, actor: Principal, device_id: str, changes: dict[str, Any]) -> Device:
        """Edit name, model, firmware or placement."""
        device = await self.get(actor, device_id)
        self._check_writable(actor, device.enterprise_id, device.site_id)
        if any(key in changes for key in ("enterprise_id", "site_id", "process_id", "facility_id")):
            changes = {**changes, **await self._placement(changes, device)}
            self._check_writable(actor, changes["enterprise_id"], changes["site_id"])
        before = audit.snapshot(device)
        async with in_transaction():
            for key, value in changes.items():
                setattr(device, key, value)
            await device.save()
            await audit.record(
                actor,
                "registry.device.update",
                entity_type="device",
                entity_id=device.id,
                enterprise_id=device.enterprise_id,
                before=before,
                after=audit.snapshot(device),
            )
        return device

    # --- enrolment -----------------------------------------------------------------------------------------

    async def has_valid_certificate(self, device_id: str) -> bool:
        """Does the device hold a certificate that is in date and not revoked (re-enrolment replaces it)?"""
        return await DeviceCertificate.filter(
            device_id=device_id, state=CertificateState.VALID, not_after__gt=utcnow()
        ).exists()

    async def issue_token(
        self, actor: Principal, device_id: str, *, server: str, step_up: Callable[[], Awaitable[None]]
    ) -> IssuedToken:
        """A one-time enrolment token; replacing an enrolled device's identity needs a TOTP step-up.

        ``server`` is the platform's address as the terminal will reach it; it goes into the QR payload.
        """
        device = await self.get(actor, device_id)
        self._check_writable(actor, device.enterprise_id, device.site_id)
        if device.state in (DeviceState.RETIRED, DeviceState.SUSPENDED):
            raise ConflictError(
                f"device {device.id} is {device.state.value}",
                hint="Resume a suspended device first; a retired device cannot be enrolled again.",
            )
        if await self.has_valid_certificate(device.id):
            await step_up()  # the token will replace a working identity: a control operation
        token = f"{TOKEN_PREFIX}{device.id}.{secrets.token_urlsafe(24)}"
        expires_at = utcnow() + dt.timedelta(hours=self.settings.pki.token_hours)
        async with in_transaction():
            cancelled = await EnrolmentToken.filter(
                device_id=device.id, used_at__isnull=True, cancelled_at__isnull=True
            ).update(cancelled_at=utcnow())
            row = await EnrolmentToken.create(
                device_id=device.id, token_hash=_hash(token), expires_at=expires_at, created_by=actor.name
            )
            await audit.record(
                actor,
                "registry.token.issue",
                entity_type="device",
                entity_id=device.id,
                enterprise_id=device.enterprise_id,
                after={"token_id": row.id, "expires_at": expires_at, "cancelled_older_tokens": cancelled},
            )
        payload = json.dumps(
            {"v": 1, "kind": "cem-enrolment", "server": server, "device_id": device.id, "token": token},
            separators=(",", ":"),
        )
        buffer = io.BytesIO()
        segno.make(payload, error="m").save(buffer, kind="svg", scale=4)
        return IssuedToken(token, expires_at, payload, buffer.getvalue().decode())

    async def _refuse(self, action: str, device_id: str, reason: str, *, ip: str, enterprise_id: int | None) -> None:
        await audit.record(
            _device_actor(device_id or "unknown", ip),
            action,
            entity_type="device",
            entity_id=device_id,
            enterprise_id=enterprise_id,
            outcome="denied",
            summary=reason,
        )
        log.warning("registry refusal", extra={"action": action, "device_id": device_id, "reason": reason, "ip": ip})

    async def enrol(self, token: str, csr_pem: str, *, ip: str = "") -> Enrolled:
        """Check the token and the CSR, sign the device's certificate. Every refusal says why and is audited."""
        try:
            device_id = parse_token(token)
        except AuthenticationError as err:
            await self._refuse("registry.enrol", "", err.message, ip=ip, enterprise_id=None)
            raise
        row = await EnrolmentToken.get_or_none(token_hash=_hash(token)).select_related("device")
        device = row.device if row else None
        problem: CemRefusal | None = None
        if row is None or device is None or row.device_id != device_id:
            problem = CemRefusal("this enrolment token is not known", "Ask the device administrator for a new token.")
        elif row.used_at is not None:
            problem = CemRefusal(
                f"this enrolment token was already used at {row.used_at.isoformat(timespec='seconds')}",
                "A token enrols once. Ask the device administrator for a new token.",
            )
        elif row.cancelled_at is not None:
            problem = CemRefusal("this enrolment token was replaced by a newer one", "Use the newest token.")
        elif row.expires_at <= utcnow():
            problem = CemRefusal(
                f"this enrolment token expired at {row.expires_at.isoformat(timespec='seconds')}",
                "Ask the device administrator for a new token.",
            )
        elif device.state in (DeviceState.RETIRED, DeviceState.SUSPENDED):
            problem = CemRefusal(f"device {device.id} is {device.state.value}", "Ask the device administrator.")
        if problem is not None:
            await self._refuse(
                "registry.enrol",
                device_id,
                problem.message,
                ip=ip,
                enterprise_id=device.enterprise_id if device else None,
            )
            raise AuthenticationError(problem.message, hint=problem.hint)
        assert row is not None  # noqa: S101 - narrowed by the checks above
        assert device is not None  # noqa: S101
        try:
            csr, public_key = pki.check_csr(csr_pem, expected_cn=device.id, rsa_min_bits=self.settings.pki.rsa_min_bits)
        except InvalidInputError as err:
            await self._refuse("registry.enrol", device.id, err.message, ip=ip, enterprise_id=device.enterprise_id)
            raise
        cert = await self.authority.sign_device(public_key, device.id)
        async with in_transaction():
            claimed = await EnrolmentToken.filter(id=row.id, used_at__isnull=True).update(used_at=utcnow())
            if claimed != 1:  # a concurrent enrolment with the same token won the race
                raise AuthenticationError("this enrolment token was already used", hint="Ask for a new token.")
            replaced = await DeviceCertificate.filter(
                device_id=device.id, state__in=[CertificateState.VALID, CertificateState.ON_HOLD]
            ).update(state=CertificateState.SUPERSEDED, revoked_at=utcnow(), revocation_reason="superseded")
            stored = await self._store_certificate(device, cert, public_key, "enrolment")
            before = audit.snapshot(device)
            device.state = DeviceState.ENROLLED
            device.state_reason = ""
            await device.save(update_fields=["state", "state_reason", "updated_at"])
            await audit.record(
                _device_actor(device.id, ip),
                "registry.enrol",
                entity_type="device",
                entity_id=device.id,
                enterprise_id=device.enterprise_id,
                before=before,
                after={**audit.snapshot(device), "certificate_serial": stored.serial, "replaced": replaced},
            )
        if replaced:
            await self.authority.publish_crl()
        return await self._enrolled(device.id, cert)

    async def _store_certificate(
        self,
        device: Device,
        cert: x509.Certificate,
        public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
        via: str,
    ) -> DeviceCertificate:
        return await DeviceCertificate.create(
            device_id=device.id,
            serial=pki.serial_hex(cert),
            fingerprint=pki.fingerprint(cert),
            public_key_sha256=_public_key_sha256(public_key),
            certificate_pem=pki.pem(cert),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            issued_via=via,
        )

    async def _enrolled(self, device_id: str, cert: x509.Certificate) -> Enrolled:
        return Enrolled(
            device_id=device_id,
            certificate_pem=pki.pem(cert),
            chain_pem=await self.authority.chain_pem(),
            ca_pem=await self.authority.root_pem(),
            broker_url=self.settings.broker.url,
            topics=device_topics(device_id),
            not_after=cert.not_valid_after_utc,
            renew_after=cert.not_valid_after_utc - dt.timedelta(days=self.settings.pki.renew_before_days),
        )

    async def renew(self, request: RenewalRequest, *, ip: str = "") -> Enrolled:
        """Issue a new certificate to a device that proves it holds its current, valid certificate's key."""
        cert = pki.certificate_from_pem(request.certificate_pem)
        device_id = pki.common_name(cert.subject)
        stored = await DeviceCertificate.get_or_none(fingerprint=pki.fingerprint(cert)).select_related("device")
        issuing = await self.authority.issuing_certificate()
        problem: CemRefusal | None = None
        now = utcnow()
        if stored is None or not pki.verify_issued_by(cert, issuing):
            problem = CemRefusal(
                "this certificate was not issued by this registry, or is out of date",
                "Enrol again with a new enrolment token.",
            )
        elif stored.state != CertificateState.VALID or stored.device.state not in ADMITTED_STATES:
            problem = CemRefusal(
                f"this certificate is {stored.state.value} and device {device_id} is {stored.device.state.value}",
                "Ask the device administrator; a revoked device must enrol again with a new token.",
            )
        elif now < stored.not_after - dt.timedelta(days=self.settings.pki.renew_before_days):
            problem = CemRefusal(
                f"renewal opens {self.settings.pki.renew_before_days} days before expiry "
                f"({stored.not_after.isoformat(timespec='seconds')})",
                "Renew later; the current certificate is still good.",
            )
        else:
            problem = self._check_renewal_signature(cert, device_id, request, now)
        if problem is not None:
            device = stored.device if stored else None
            await self._refuse(
                "registry.renew",
                device_id,
                problem.message,
                ip=ip,
                enterprise_id=device.enterprise_id if device else None,
            )
            raise AuthenticationError(problem.message, hint=problem.hint)
        assert stored is not None  # noqa: S101 - narrowed by the checks above
        device = stored.device
        try:
            _, public_key = pki.check_csr(
                request.csr_pem, expected_cn=device.id, rsa_min_bits=self.settings.pki.rsa_min_bits
            )
        except InvalidInputError as err:
            await self._refuse("registry.renew", device.id, err.message, ip=ip, enterprise_id=device.enterprise_id)
            raise
        if _public_key_sha256(public_key) == stored.public_key_sha256:
            await self._refuse("registry.renew", device.id, "same key", ip=ip, enterprise_id=device.enterprise_id)
            raise InvalidInputError(
                "the renewal CSR carries the current key", hint="Make a new key pair for each renewal."
            )
        new_cert = await self.authority.sign_device(public_key, device.id)
        async with in_transaction():
            claimed = await DeviceCertificate.filter(id=stored.id, state=CertificateState.VALID).update(
                state=CertificateState.SUPERSEDED, revoked_at=utcnow(), revocation_reason="superseded"
            )
            if claimed != 1:
                raise ConflictError("this certificate was renewed concurrently", hint="Use the newer certificate.")
            row = await self._store_certificate(device, new_cert, public_key, "renewal")
            await audit.record(
                _device_actor(device.id, ip),
                "registry.renew",
                entity_type="device",
                entity_id=device.id,
                enterprise_id=device.enterprise_id,
                before={"certificate_serial": stored.serial},
                after={"certificate_serial": row.serial, "not_after": row.not_after},
            )
        await self.authority.publish_crl()
        return await self._enrolled(device.id, new_cert)

    @staticmethod
    def _check_renewal_signature(
        cert: x509.Certificate, device_id: str, request: RenewalRequest, now: dt.datetime
    ) -> CemRefusal | None:
        try:
            signed_at = dt.datetime.fromisoformat(request.signed_at)
        except ValueError:
            return CemRefusal("signed_at is not an ISO 8601 time", "Send the UTC time you signed at.")
        if signed_at.tzinfo is None or abs(now - signed_at) > RENEWAL_SKEW:
            return CemRefusal(
                "the renewal was signed too long ago or in the future",
                "Sign the request just before sending it, with the terminal's clock set right (NTP).",
            )
        try:
            signature = base64.b64decode(request.signature, validate=True)
        except (binascii.Error, ValueError):
            return CemRefusal("the signature is not base64", "Send the signature base64-encoded.")
        message = renewal_message(device_id, request.signed_at, request.csr_pem)
        key = cert.public_key()
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            else:
                return CemRefusal("unsupported certificate key", "Enrol again with an EC P-256 key.")
        except InvalidSignature:
            return CemRefusal(
                "the renewal signature does not verify with the certificate's key",
                "Sign the renewal message with the key of the current certificate.",
            )
        return None

    # --- control operations (step-up is checked by the route) ---------------------------------------------------

    async def _control(
        self,
        actor: Principal,
        device_id: str,
        *,
        action: str,
        allowed_from: frozenset[DeviceState],
        new_state: Callable[[Device], DeviceState],
        certificates_from: list[CertificateState],
        certificates_to: CertificateState,
        reason: str,
        revocation_reason: str = "",
    ) -> tuple[Device, CrlPublication]:
        device = await self.get(actor, device_id)
        self._check_writable(actor, device.enterprise_id, device.site_id)
        if device.state not in allowed_from:
            raise ConflictError(
                f"device {device.id} is {device.state.value}; {action} applies to "
                + ", ".join(sorted(s.value for s in allowed_from)),
            )
        before = audit.snapshot(device)
        async with in_transaction():
            changed = await DeviceCertificate.filter(device_id=device.id, state__in=certificates_from).update(
                state=certificates_to,
                revoked_at=None if certificates_to == CertificateState.VALID else utcnow(),
                revocation_reason=revocation_reason,
            )
            if certificates_to in (CertificateState.REVOKED,):
                await EnrolmentToken.filter(
                    device_id=device.id, used_at__isnull=True, cancelled_at__isnull=True
                ).update(cancelled_at=utcnow())
            device.state = new_state(device)
            device.state_reason = reason
            await device.save(update_fields=["state", "state_reason", "updated_at"])
            await audit.record(
                actor,
                f"registry.device.{action}",
                entity_type="device",
                entity_id=device.id,
                enterprise_id=device.enterprise_id,
                before=before,
                after={**audit.snapshot(device), "certificates_changed": changed},
                summary=reason,
            )
        publication = await self.authority.publish_crl()
        return device, publication

    async def suspend(self, actor: Principal, device_id: str, reason: str) -> tuple[Device, CrlPublication]:
        """Put the device's certificate on hold: the broker refuses it until it is resumed."""
        return await self._control(
            actor,
            device_id,
            action="suspend",
            allowed_from=frozenset({DeviceState.ENROLLED, DeviceState.ACTIVE}),
            new_state=lambda d: DeviceState.SUSPENDED,
            certificates_from=[CertificateState.VALID],
            certificates_to=CertificateState.ON_HOLD,
            reason=reason,
        )

    async def resume(self, actor: Principal, device_id: str, reason: str) -> tuple[Device, CrlPublication]:
        """Lift a suspension: the held certificate is valid again."""
        return await self._control(
            actor,
            device_id,
            action="resume",
            allowed_from=frozenset({DeviceState.SUSPENDED}),
            new_state=lambda d: DeviceState.ACTIVE if d.last_seen_at else DeviceState.ENROLLED,
            certificates_from=[CertificateState.ON_HOLD],
            certificates_to=CertificateState.VALID,
            reason=reason,
        )

    async def revoke(
        self, actor: Principal, device_id: str, reason: str, revocation_reason: str
    ) -> tuple[Device, CrlPublication]:
        """Revoke every certificate of the device for good; it can come back only by enrolling anew."""
        if revocation_reason not in REVOCATION_REASONS:
            raise InvalidInputError(
                f"unknown revocation reason {revocation_reason!r}", hint=f"Use one of {', '.join(REVOCATION_REASONS)}."
            )
        return await self._control(
            actor,
            device_id,
            action="revoke",
            allowed_from=frozenset(
                {DeviceState.REGISTERED, DeviceState.ENROLLED, DeviceState.ACTIVE, DeviceState.SUSPENDED}
            ),
            new_state=lambda d: DeviceState.REVOKED,
            certificates_from=[CertificateState.VALID, CertificateState.ON_HOLD],
            certificates_to=CertificateState.REVOKED,
            reason=reason,
            revocation_reason=revocation_reason,
        )

    async def retire(self, actor: Principal, device_id: str, reason: str) -> tuple[Device, CrlPublication]:
        """Take the device out of service for good; its certificates are revoked and its serial stays reserved."""
        return await self._control(
            actor,
            device_id,
            action="retire",
            allowed_from=frozenset(set(DeviceState) - {DeviceState.RETIRED}),
            new_state=lambda d: DeviceState.RETIRED,
            certificates_from=[CertificateState.VALID, CertificateState.ON_HOLD],
            certificates_to=CertificateState.REVOKED,
            reason=reason,
            revocation_reason="cessation_of_operation",
        )

    # --- for the ingest service and the broker ---------------------------------------------------------------

    async def mark_seen(self, device_id: str, *, firmware: str | None = None) -> None:
        """Record that the platform heard from the device (an enrolled device becomes active)."""
        now = utcnow()
        await Device.filter(id=device_id).update(last_seen_at=now)
        await Device.filter(id=device_id, state=DeviceState.ENROLLED).update(state=DeviceState.ACTIVE)
        if firmware is not None:
            await Device.filter(id=device_id).update(firmware=firmware)

    async def authorize(self, identity: str, action: str, topic: str) -> bool:
        """The broker's question (EMQX HTTP hook): may this certificate identity do this on this topic now?"""
        ingest = self.settings.broker.ingest_identities
        admitted = False
        if identity not in ingest and DEVICE_ID_PATTERN.match(identity):
            admitted = await Device.filter(id=identity, state__in=list(ADMITTED_STATES)).exists()
        return is_allowed(identity, action, topic, ingest_identities=ingest, device_admitted=admitted)

    async def expiring_certificates(self) -> list[DeviceCertificate]:
        """Warn once about each valid certificate expiring within CEM_PKI_EXPIRY_WARNING_DAYS (periodic job)."""
        now = utcnow()
        horizon = now + dt.timedelta(days=self.settings.pki.expiry_warning_days)
        due = await DeviceCertificate.filter(
            state=CertificateState.VALID, not_after__lte=horizon, not_after__gt=now, expiry_warned_at__isnull=True
        ).order_by("not_after")
        for cert in due:
            log.warning(
                "device certificate expires soon",
                extra={"device_id": cert.device_id, "serial": cert.serial, "not_after": cert.not_after.isoformat()},
            )
        if due:
            await DeviceCertificate.filter(id__in=[c.id for c in due]).update(expiry_warned_at=now)
        return due


@dataclass(frozen=True, slots=True)
class CemRefusal:
    """Why an enrolment or renewal is refused, and what the terminal's operator should do."""

    message: str
    hint: str
