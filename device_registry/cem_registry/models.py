"""Tortoise models of the device registry: the CA, devices, their certificates and enrolment tokens."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from cem_platform.org.models import Enterprise, Facility, Process, Site

__all__ = [
    "CertificateAuthority",
    "CertificateState",
    "Device",
    "DeviceCertificate",
    "DeviceState",
    "DeviceType",
    "EnrolmentToken",
    "ServiceCertificate",
]


class DeviceType(StrEnum):
    """What kind of terminal a device is."""

    GATEWAY = "gateway"  # an industrial PC polling PLCs and meters (cem gateway)
    METER = "meter"  # a smart meter talking MQTT itself


class DeviceState(StrEnum):
    """Life cycle of a device.

    registered -> enrolled (has a certificate) -> active (has been seen by the platform)
    enrolled/active <-> suspended (certificate on hold in the CRL, broker denies it)
    any -> revoked (certificate revoked for good; re-enrol with a new token to come back)
    any -> retired (taken out of service for good; the serial stays reserved)
    """

    REGISTERED = "registered"
    ENROLLED = "enrolled"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    RETIRED = "retired"


ADMITTED_STATES = frozenset({DeviceState.ENROLLED, DeviceState.ACTIVE})


class CertificateState(StrEnum):
    """State of one issued certificate."""

    VALID = "valid"
    ON_HOLD = "on_hold"  # device suspended: listed in the CRL as certificateHold
    SUPERSEDED = "superseded"  # replaced by a renewal; listed in the CRL as superseded
    REVOKED = "revoked"


class CertificateAuthority(Model):
    """A CA certificate of the platform. The key of the issuing CA is kept here, encrypted with CEM_PKI_PASSPHRASE.

    The root CA's row has no key: ``cem pki init`` writes the root key to a file that can be taken offline.
    """

    id = fields.IntField(primary_key=True)
    role = fields.CharField(max_length=16, unique=True)  # root, issuing
    subject = fields.CharField(max_length=300)
    certificate_pem = fields.TextField()
    key_encrypted: bytes | None = fields.BinaryField(null=True)  # PKCS#8, encrypted; never in clear
    serial = fields.CharField(max_length=64)
    fingerprint = fields.CharField(max_length=64)
    not_after = fields.DatetimeField()
    crl_number = fields.BigIntField(default=0)
    crl_pem = fields.TextField(default="")
    crl_published_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reg_certificate_authority"


class Device(Model):
    """A terminal (gateway or smart meter). Its id is the CN of its certificate and its MQTT identity."""

    id = fields.CharField(max_length=32, primary_key=True)  # dev-xxxxxxxxxxxx
    serial = fields.CharField(max_length=100, unique=True)  # hardware serial number
    type = fields.CharEnumField(DeviceType, max_length=16)
    name = fields.CharField(max_length=200, default="")
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="devices", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    site: fields.ForeignKeyNullableRelation[Site] = fields.ForeignKeyField(
        "cem.Site", related_name="devices", on_delete=fields.RESTRICT, null=True
    )
    site_id: int | None
    process: fields.ForeignKeyNullableRelation[Process] = fields.ForeignKeyField(
        "cem.Process", related_name="devices", on_delete=fields.RESTRICT, null=True
    )
    process_id: int | None
    facility: fields.ForeignKeyNullableRelation[Facility] = fields.ForeignKeyField(
        "cem.Facility", related_name="devices", on_delete=fields.RESTRICT, null=True
    )
    facility_id: int | None
    model = fields.CharField(max_length=100, default="")
    firmware = fields.CharField(max_length=64, default="")
    state = fields.CharEnumField(DeviceState, max_length=16, default=DeviceState.REGISTERED)
    state_reason = fields.CharField(max_length=300, default="")
    last_seen_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    certificates: fields.ReverseRelation[DeviceCertificate]

    class Meta:
        table = "reg_device"


class DeviceCertificate(Model):
    """One certificate issued to a device (its history: enrolment, renewals, re-enrolments)."""

    id = fields.IntField(primary_key=True)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "cem.Device", related_name="certificates", on_delete=fields.RESTRICT
    )
    device_id: str
    serial = fields.CharField(max_length=64, unique=True)  # hex
    fingerprint = fields.CharField(max_length=64, unique=True)  # SHA-256 of the DER
    public_key_sha256 = fields.CharField(max_length=64, db_index=True)
    certificate_pem = fields.TextField()
    not_before = fields.DatetimeField()
    not_after = fields.DatetimeField(db_index=True)
    state = fields.CharEnumField(CertificateState, max_length=16, default=CertificateState.VALID)
    issued_via = fields.CharField(max_length=16)  # enrolment, renewal
    revoked_at = fields.DatetimeField(null=True)
    revocation_reason = fields.CharField(max_length=32, default="")
    expiry_warned_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reg_device_certificate"


class EnrolmentToken(Model):
    """A one-time enrolment token: only its hash is stored, it expires and is used at most once."""

    id = fields.IntField(primary_key=True)
    device: fields.ForeignKeyRelation[Device] = fields.ForeignKeyField(
        "cem.Device", related_name="enrolment_tokens", on_delete=fields.RESTRICT
    )
    device_id: str
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)  # a newer token replaces every unused older one
    created_by = fields.CharField(max_length=100)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reg_enrolment_token"


class ServiceCertificate(Model):
    """A certificate the platform issued to one of its own services (broker server, ingest client)."""

    id = fields.IntField(primary_key=True)
    purpose = fields.CharField(max_length=16)  # broker-server, service-client
    identity = fields.CharField(max_length=200)  # CN
    serial = fields.CharField(max_length=64, unique=True)
    fingerprint = fields.CharField(max_length=64)
    not_after = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reg_service_certificate"
