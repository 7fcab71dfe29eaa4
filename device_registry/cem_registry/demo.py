"""The demo's devices: CA, broker configuration, the ingest identity and the simulated gateway's enrolment.

The gateway enrols through the same path as in a plant: the registry issues a one-time token, and the
gateway's own code (``cem_gateway.identity.enrol``, i.e. ``cem gateway enroll``) makes a key, sends a CSR
over HTTP to the running API and stores what comes back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from cem_platform.identity.principal import Principal
from cem_platform.org.models import Enterprise, Site
from cem_platform.settings import Settings
from cem_registry.ca import Authority
from cem_registry.models import DeviceType
from cem_registry.services import DeviceRegistry

__all__ = ["DEMO_GATEWAY_SERIAL", "DemoDevices", "prepare_demo_devices"]

DEMO_GATEWAY_SERIAL = "HXSTEEL-NS-GW-001"


@dataclass(frozen=True, slots=True)
class DemoDevices:
    """What the demo prepared."""

    gateway_id: str
    token: str | None  # None when the gateway already holds a valid certificate
    broker_files: list[Path]


async def prepare_demo_devices(settings: Settings, *, demo_dir: Path, broker_port: int, server: str) -> DemoDevices:
    """CA (once), broker config, ingest certificate, the demo gateway and, if it needs one, an enrolment token."""
    authority = Authority(settings)
    if not await authority.is_initialised():
        await authority.initialise()
    broker_files = await authority.write_mosquitto_config(
        Path(settings.broker.config_dir), bind="127.0.0.1", port=broker_port
    )
    ingest_dir = demo_dir / "ingest"
    if not await asyncio.to_thread((ingest_dir / "client.key").exists):
        await authority.write_service_identity(settings.broker.ingest_identity, ingest_dir)

    enterprise = await Enterprise.get(code="HXSTEEL")
    site = await Site.get(enterprise=enterprise, code="NS")
    registry = DeviceRegistry(settings)
    operator = Principal.system(name="demo", kind="cli")
    registration = await registry.register(
        operator,
        {
            "serial": DEMO_GATEWAY_SERIAL,
            "type": DeviceType.GATEWAY,
            "name": "南山基地 1#数据采集网关",
            "model": "CEM-GW 100",
            "site_id": site.id,
        },
    )
    device = registration.device
    identity_ok = await asyncio.to_thread((demo_dir / "gateway" / "identity.json").exists)
    if identity_ok and await registry.has_valid_certificate(device.id):
        return DemoDevices(device.id, None, broker_files)

    async def no_step_up() -> None:
        return None  # the operator at the demo's command line

    issued = await registry.issue_token(operator, device.id, server=server, step_up=no_step_up)
    return DemoDevices(device.id, issued.token, broker_files)
