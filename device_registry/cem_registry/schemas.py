"""Request and response bodies of the device registry's routes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from cem_registry.models import CertificateState, DeviceState, DeviceType

__all__ = [
    "AuthorizeIn",
    "AuthorizeOut",
    "CertificateOut",
    "ControlIn",
    "DeviceDetail",
    "DeviceIn",
    "DeviceOut",
    "DevicePatch",
    "EnrolIn",
    "EnrolOut",
    "EnrolmentTokenOut",
    "RenewIn",
    "RevokeIn",
]

Serial = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]
Id = Annotated[int, msgspec.Meta(ge=1)]
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=300)]
Pem = Annotated[str, msgspec.Meta(min_length=1, max_length=20000)]
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class DeviceIn(msgspec.Struct, forbid_unknown_fields=True):
    """Register a terminal by its hardware serial; give its enterprise, or a site/process/facility of it."""

    serial: Serial
    type: DeviceType = DeviceType.GATEWAY
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    model: Annotated[str, msgspec.Meta(max_length=100)] = ""
    firmware: Annotated[str, msgspec.Meta(max_length=64)] = ""
    enterprise_id: Id | None = None
    site_id: Id | None = None
    process_id: Id | None = None
    facility_id: Id | None = None


class DevicePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Edit a device (its identity — id and serial — never changes)."""

    name: Annotated[str, msgspec.Meta(max_length=200)] | Unset = UNSET
    model: Annotated[str, msgspec.Meta(max_length=100)] | Unset = UNSET
    firmware: Annotated[str, msgspec.Meta(max_length=64)] | Unset = UNSET
    site_id: Id | None | Unset = UNSET
    process_id: Id | None | Unset = UNSET
    facility_id: Id | None | Unset = UNSET


class Health(msgspec.Struct):
    """Online state and certificate expiry."""

    online: bool
    certificate_not_after: dt.datetime | None
    certificate_days_left: int | None
    certificate_expiring: bool


class DeviceOut(msgspec.Struct):
    """A device with its state and health."""

    id: str
    serial: str
    type: DeviceType
    name: str
    model: str
    firmware: str
    enterprise_id: int
    site_id: int | None
    process_id: int | None
    facility_id: int | None
    state: DeviceState
    state_reason: str
    last_seen_at: dt.datetime | None
    created_at: dt.datetime
    health: Health
    topics: dict[str, str]


class CertificateOut(msgspec.Struct):
    """One certificate in a device's history."""

    serial: str
    fingerprint: str
    not_before: dt.datetime
    not_after: dt.datetime
    state: CertificateState
    issued_via: str
    revoked_at: dt.datetime | None
    revocation_reason: str
    created_at: dt.datetime


class DeviceDetail(DeviceOut):
    """A device with its certificate history, newest first."""

    certificates: list[CertificateOut] = []


class EnrolmentTokenOut(msgspec.Struct):
    """A one-time enrolment token, shown once: hand it (or its QR code) to the crew installing the terminal."""

    device_id: str
    token: str
    expires_at: dt.datetime
    qr_payload: str
    qr_svg: str
    command: str


class EnrolIn(msgspec.Struct, forbid_unknown_fields=True):
    """A terminal's enrolment: the token and a CSR made from its own new key, subject CN=<device id>."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    csr: Pem


class EnrolOut(msgspec.Struct):
    """The terminal's certificate, the chain to send with it, the trust anchor and where to connect."""

    device_id: str
    certificate: str
    chain: str
    ca: str
    broker_url: str
    topics: dict[str, str]
    not_after: dt.datetime
    renew_after: dt.datetime


class RenewIn(msgspec.Struct, forbid_unknown_fields=True):
    """Renewal: current certificate, CSR for a new key, and a signature by the current key (see the docs)."""

    certificate: Pem
    csr: Pem
    signed_at: str
    signature: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class ControlIn(msgspec.Struct, forbid_unknown_fields=True):
    """Why: kept in the audit log and shown on the device."""

    reason: Reason


class RevokeIn(msgspec.Struct, forbid_unknown_fields=True):
    """Why, and the X.509 revocation reason."""

    reason: Reason
    revocation_reason: str = "unspecified"


class ControlOut(msgspec.Struct):
    """The device after a control operation, and what the broker was told."""

    device: DeviceOut
    crl_number: int
    broker_reloaded: bool
    broker_detail: str


class AuthorizeIn(msgspec.Struct):
    """What EMQX's HTTP authoriser sends (see deploy/emqx)."""

    username: str
    topic: str
    action: str
    clientid: str = ""


class AuthorizeOut(msgspec.Struct):
    """EMQX 5's expected answer."""

    result: str  # allow, deny
