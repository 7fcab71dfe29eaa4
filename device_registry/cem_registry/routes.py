"""Routes of the device registry (/registry) and the broker's authorisation hook (/broker)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import msgspec
from cryptography.hazmat.primitives import serialization
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from cem_platform.errors import NotFoundError, PermissionDeniedError
from cem_platform.identity.http import identity_of, principal_of, requires, requires_step_up
from cem_platform.identity.roles import Permission
from cem_registry import pki
from cem_registry.broker import device_topics
from cem_registry.ca import CrlPublication
from cem_registry.models import Device, DeviceCertificate, DeviceState, DeviceType
from cem_registry.schemas import (
    AuthorizeIn,
    AuthorizeOut,
    CertificateOut,
    ControlIn,
    ControlOut,
    DeviceDetail,
    DeviceIn,
    DeviceOut,
    DevicePatch,
    EnrolIn,
    EnrolmentTokenOut,
    EnrolOut,
    Health,
    RenewIn,
    RevokeIn,
)
from cem_registry.services import DeviceFilter, DeviceRegistry, Enrolled, RenewalRequest

__all__ = ["BrokerController", "RegistryController"]

AnyRequest = Request[Any, Any, Any]
BROKER_KEY_HEADER = "x-cem-broker-key"


def registry_of(request: AnyRequest) -> DeviceRegistry:
    """The registry service of this application."""
    registry: DeviceRegistry = request.app.state.registry
    return registry


def _client_ip(request: AnyRequest) -> str:
    return str(request.scope.get("state", {}).get("client_ip", ""))


def _device_out(registry: DeviceRegistry, device: Device, cert: DeviceCertificate | None) -> dict[str, Any]:
    values = {name: getattr(device, name) for name in DeviceOut.__struct_fields__ if name not in ("health", "topics")}
    values["health"] = Health(**registry.health(device, cert))
    values["topics"] = device_topics(device.id)
    return values


def _certificate_out(cert: DeviceCertificate) -> CertificateOut:
    return CertificateOut(**{name: getattr(cert, name) for name in CertificateOut.__struct_fields__})


def _enrol_out(result: Enrolled) -> EnrolOut:
    return EnrolOut(
        device_id=result.device_id,
        certificate=result.certificate_pem,
        chain=result.chain_pem,
        ca=result.ca_pem,
        broker_url=result.broker_url,
        topics=result.topics,
        not_after=result.not_after,
        renew_after=result.renew_after,
    )


class RegistryController(Controller):
    """Devices, enrolment, renewal, suspension and revocation; the CA certificates and the CRL."""

    path = "/registry"
    tags = ["device registry"]

    async def _detail(self, registry: DeviceRegistry, device: Device) -> DeviceDetail:
        history = await registry.certificate_history(device.id)
        current = next((c for c in history if c.state.value in ("valid", "on_hold")), None)
        return DeviceDetail(
            **_device_out(registry, device, current), certificates=[_certificate_out(c) for c in history]
        )

    @get("/devices", guards=[requires(Permission.DEVICES_READ)], summary="List devices")
    async def list_devices(
        self,
        request: AnyRequest,
        site_id: FromQuery[int | None] = None,
        process_id: FromQuery[int | None] = None,
        device_state: Annotated[DeviceState | None, QueryParameter(name="state")] = None,
        device_type: Annotated[DeviceType | None, QueryParameter(name="type")] = None,
        q: Annotated[str, QueryParameter(description="part of the id, serial or name", max_length=100)] = "",
        limit: Annotated[int, QueryParameter(ge=1, le=5000)] = 500,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> list[DeviceOut]:
        """Devices within the caller's scope, with state, health (online, certificate expiry) and topics."""
        registry = registry_of(request)
        devices = await registry.list_devices(
            principal_of(request),
            DeviceFilter(site_id=site_id, process_id=process_id, state=device_state, type=device_type, search=q),
            limit=limit,
            offset=offset,
        )
        certs = await registry.current_certificates([d.id for d in devices])
        return [DeviceOut(**_device_out(registry, d, certs.get(d.id))) for d in devices]

    @post("/devices", guards=[requires(Permission.DEVICES_WRITE)], summary="Register a device")
    async def register(self, request: AnyRequest, data: JSONBody[DeviceIn]) -> Response[DeviceDetail]:
        """Register by hardware serial: 201 with a new device, or 200 with the device that has this serial."""
        registry = registry_of(request)
        result = await registry.register(principal_of(request), {k: getattr(data, k) for k in data.__struct_fields__})
        detail = await self._detail(registry, result.device)
        return Response(detail, status_code=HTTP_201_CREATED if result.created else HTTP_200_OK)

    @get("/devices/{device_id:str}", guards=[requires(Permission.DEVICES_READ)], summary="Device detail")
    async def detail(self, request: AnyRequest, device_id: FromPath[str]) -> DeviceDetail:
        """A device with its certificate history."""
        registry = registry_of(request)
        return await self._detail(registry, await registry.get(principal_of(request), device_id))

    @patch("/devices/{device_id:str}", guards=[requires(Permission.DEVICES_WRITE)], summary="Edit a device")
    async def update(self, request: AnyRequest, device_id: FromPath[str], data: JSONBody[DevicePatch]) -> DeviceDetail:
        """Name, model, firmware and placement; id and serial never change."""
        registry = registry_of(request)
        changes = {k: v for k in data.__struct_fields__ if (v := getattr(data, k)) is not msgspec.UNSET}
        device = await registry.update(principal_of(request), device_id, changes)
        return await self._detail(registry, device)

    @post(
        "/devices/{device_id:str}/enrolment-tokens",
        guards=[requires(Permission.DEVICES_WRITE)],
        status_code=HTTP_201_CREATED,
        summary="Issue an enrolment token",
    )
    async def issue_token(self, request: AnyRequest, device_id: FromPath[str]) -> EnrolmentTokenOut:
        """A one-time token (shown once) and its QR code; older unused tokens stop working.

        For a device that still holds a valid certificate the new token replaces its identity: that needs a
        TOTP step-up (header ``X-CEM-TOTP`` or a recent ``POST /auth/step-up``).
        """
        principal = principal_of(request)

        async def step_up() -> None:
            await identity_of(request).require_step_up(
                principal, request.headers.get("x-cem-totp"), f"{request.method} {request.url.path}"
            )

        server = str(request.base_url).rstrip("/")
        issued = await registry_of(request).issue_token(principal, device_id, server=server, step_up=step_up)
        return EnrolmentTokenOut(
            device_id=device_id,
            token=issued.token,
            expires_at=issued.expires_at,
            qr_payload=issued.qr_payload,
            qr_svg=issued.qr_svg,
            command=f"cem gateway enroll --server {server} --token {issued.token} --dir /etc/cem-gateway",
        )

    async def _control_out(self, request: AnyRequest, device: Device, publication: CrlPublication) -> ControlOut:
        registry = registry_of(request)
        certs = await registry.current_certificates([device.id])
        return ControlOut(
            device=DeviceOut(**_device_out(registry, device, certs.get(device.id))),
            crl_number=publication.number,
            broker_reloaded=publication.broker.reloaded,
            broker_detail=publication.broker.detail,
        )

    _control_guards = [requires(Permission.DEVICES_CONTROL), requires_step_up]

    @post("/devices/{device_id:str}/suspend", guards=_control_guards, status_code=HTTP_200_OK, summary="Suspend")
    async def suspend(self, request: AnyRequest, device_id: FromPath[str], data: JSONBody[ControlIn]) -> ControlOut:
        """Put the certificate on hold (CRL) and deny the device at the broker until resumed. Step-up required."""
        device, publication = await registry_of(request).suspend(principal_of(request), device_id, data.reason)
        return await self._control_out(request, device, publication)

    @post("/devices/{device_id:str}/resume", guards=_control_guards, status_code=HTTP_200_OK, summary="Resume")
    async def resume(self, request: AnyRequest, device_id: FromPath[str], data: JSONBody[ControlIn]) -> ControlOut:
        """Lift a suspension. Step-up required."""
        device, publication = await registry_of(request).resume(principal_of(request), device_id, data.reason)
        return await self._control_out(request, device, publication)

    @post("/devices/{device_id:str}/revoke", guards=_control_guards, status_code=HTTP_200_OK, summary="Revoke")
    async def revoke(self, request: AnyRequest, device_id: FromPath[str], data: JSONBody[RevokeIn]) -> ControlOut:
        """Revoke the device's certificates for good (CRL, broker denies at once). Step-up required."""
        device, publication = await registry_of(request).revoke(
            principal_of(request), device_id, data.reason, data.revocation_reason
        )
        return await self._control_out(request, device, publication)

    @post("/devices/{device_id:str}/retire", guards=_control_guards, status_code=HTTP_200_OK, summary="Retire")
    async def retire(self, request: AnyRequest, device_id: FromPath[str], data: JSONBody[ControlIn]) -> ControlOut:
        """Take the device out of service for good; its serial stays reserved. Step-up required."""
        device, publication = await registry_of(request).retire(principal_of(request), device_id, data.reason)
        return await self._control_out(request, device, publication)

    @post("/enrol", exclude_from_auth=True, status_code=HTTP_200_OK, summary="Enrol a terminal (token + CSR)")
    async def enrol(self, request: AnyRequest, data: JSONBody[EnrolIn]) -> EnrolOut:
        """Called by the terminal itself with its one-time token; answers its certificate and the broker address."""
        result = await registry_of(request).enrol(data.token, data.csr, ip=_client_ip(request))
        return _enrol_out(result)

    @post("/renew", exclude_from_auth=True, status_code=HTTP_200_OK, summary="Renew a device certificate")
    async def renew(self, request: AnyRequest, data: JSONBody[RenewIn]) -> EnrolOut:
        """Called by a terminal within the renewal window; proves possession of its current key by a signature.

        The signature is ECDSA-SHA256 (or RSA PKCS#1 v1.5 SHA-256) by the current key over
        ``"cem-renew/v1\\n" + device_id + "\\n" + signed_at + "\\n" + csr`` (csr PEM without surrounding
        whitespace), base64-encoded; ``signed_at`` is ISO 8601 with a UTC offset, within 5 minutes of now.
        """
        result = await registry_of(request).renew(
            RenewalRequest(
                certificate_pem=data.certificate, csr_pem=data.csr, signed_at=data.signed_at, signature=data.signature
            ),
            ip=_client_ip(request),
        )
        return _enrol_out(result)

    @get("/ca", exclude_from_auth=True, summary="CA certificates (PEM)", media_type="application/x-pem-file")
    async def ca(self, request: AnyRequest) -> str:
        """The issuing CA then the root CA, PEM."""
        return await registry_of(request).authority.chain_pem()

    @get("/crl", exclude_from_auth=True, summary="Certificate revocation list")
    async def crl(
        self,
        request: AnyRequest,
        format: Annotated[str, QueryParameter(pattern="^(der|pem)$")] = "der",  # noqa: A002
    ) -> Response[bytes]:
        """The issuing CA's current CRL, DER (``application/pkix-crl``) or ``?format=pem``."""
        crl = await registry_of(request).authority.current_crl()
        if format == "pem":
            return Response(pki.pem(crl).encode(), media_type="application/x-pem-file")
        return Response(crl.public_bytes(serialization.Encoding.DER), media_type="application/pkix-crl")


class BrokerController(Controller):
    """The broker asks the platform whether a client may publish or subscribe (EMQX HTTP authorisation)."""

    path = "/broker"
    tags = ["broker"]

    @post("/authorize", exclude_from_auth=True, status_code=HTTP_200_OK, summary="Broker authorisation hook")
    async def authorize(self, request: AnyRequest, data: JSONBody[AuthorizeIn]) -> AuthorizeOut:
        """Answers ``{"result": "allow"|"deny"}``; the broker must send the shared key in ``X-CEM-Broker-Key``."""
        key = request.app.state.settings.broker.authz_key
        if not key:
            raise NotFoundError("the broker authorisation hook is off", hint="Set CEM_BROKER_AUTHZ_KEY to enable it.")
        if not hmac.compare_digest(request.headers.get(BROKER_KEY_HEADER, "").encode(), key.encode()):
            raise PermissionDeniedError("wrong broker key", hint="Send CEM_BROKER_AUTHZ_KEY in X-CEM-Broker-Key.")
        action = {"publish": "publish", "subscribe": "subscribe"}.get(data.action.lower(), "")
        allowed = bool(action) and await registry_of(request).authorize(data.username, action, data.topic)
        return AuthorizeOut(result="allow" if allowed else "deny")
