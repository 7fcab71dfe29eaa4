"""Routes of ingest: dead letters (what was refused and why) and each terminal's last status."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery, QueryParameter
from tortoise.expressions import Q

from cem_platform.errors import NotFoundError
from cem_platform.identity.http import principal_of, requires
from cem_platform.identity.principal import Scope
from cem_platform.identity.roles import Permission
from cem_platform.telemetry.models import DeadLetter, DeviceStatus
from cem_registry.models import Device
from cem_registry.services import DeviceRegistry

__all__ = ["IngestController"]

AnyRequest = Request[Any, Any, Any]


class DeadLetterOut(msgspec.Struct):
    """A refused message (or the refused readings of one)."""

    id: int
    received_at: dt.datetime
    topic: str
    device_id: str | None
    enterprise_id: int | None
    reason: str
    message: str
    rejected: list[dict[str, Any]] | None
    size: int
    occurrences: int


class DeadLetterDetail(DeadLetterOut):
    """With the raw bytes (base64) and, when they are text, a readable excerpt."""

    payload_base64: str = ""
    payload_text: str | None = None
    payload_truncated: bool = False


class DeadLetterPage(msgspec.Struct):
    """A page of dead letters, newest first."""

    total: int
    items: list[DeadLetterOut]


class DeviceStatusOut(msgspec.Struct):
    """A terminal's last status as ingest received it."""

    device_id: str
    enterprise_id: int
    state: str
    reason: str
    reported_at: dt.datetime
    received_at: dt.datetime
    heartbeat_s: float | None
    firmware: str
    buffer_depth: int | None
    buffer_evicted: int | None
    last_seq: int | None
    status: dict[str, Any]


def _visible(scope: Scope) -> Q:
    """Dead letters of the caller's enterprises; those of unknown devices only at group level."""
    if scope.everything:
        return Q()
    return Q(enterprise_id__in=list(scope.visible_enterprises()))


def _out(row: DeadLetter) -> dict[str, Any]:
    return {name: getattr(row, name) for name in DeadLetterOut.__struct_fields__}


class IngestController(Controller):
    """What ingest refused, and what the terminals last reported."""

    path = "/ingest"
    tags = ["ingest"]

    @get("/dead-letters", guards=[requires(Permission.INGEST_READ)], summary="Refused telemetry, newest first")
    async def dead_letters(
        self,
        request: AnyRequest,
        device_id: FromQuery[str | None] = None,
        reason: FromQuery[str | None] = None,
        since: Annotated[dt.datetime | None, QueryParameter(name="from")] = None,
        until: Annotated[dt.datetime | None, QueryParameter(name="to")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> DeadLetterPage:
        """Dead letters within the caller's enterprises, filtered by device, reason and time."""
        query = DeadLetter.filter(_visible(principal_of(request).scope))
        if device_id:
            query = query.filter(device_id=device_id)
        if reason:
            query = query.filter(reason=reason)
        if since:
            query = query.filter(received_at__gte=since)
        if until:
            query = query.filter(received_at__lt=until)
        total = await query.count()
        rows = await query.order_by("-received_at", "-id").offset(offset).limit(limit)
        return DeadLetterPage(total=total, items=[DeadLetterOut(**_out(row)) for row in rows])

    @get("/dead-letters/{letter_id:int}", guards=[requires(Permission.INGEST_READ)], summary="One dead letter")
    async def dead_letter(self, request: AnyRequest, letter_id: FromPath[int]) -> DeadLetterDetail:
        """One dead letter with its raw bytes."""
        row = await DeadLetter.filter(_visible(principal_of(request).scope), id=letter_id).first()
        if row is None:
            raise NotFoundError(f"no dead letter {letter_id} within your scope")
        payload = bytes(row.payload)
        try:
            text: str | None = payload[:20_000].decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return DeadLetterDetail(
            **_out(row),
            payload_base64=base64.b64encode(payload).decode("ascii"),
            payload_text=text,
            payload_truncated=len(payload) < row.size,
        )

    @get("/status", guards=[requires(Permission.DEVICES_READ)], summary="Last status of every terminal")
    async def statuses(self, request: AnyRequest) -> list[DeviceStatusOut]:
        """The last heartbeat (or last will) of each terminal in the caller's scope."""
        scope = principal_of(request).scope
        query = DeviceStatus.all()
        if not scope.everything:
            devices = Device.filter(DeviceRegistry.visible(scope))
            query = query.filter(device_id__in=await devices.values_list("id", flat=True))
        rows = await query.order_by("device_id")
        return [DeviceStatusOut(**{n: getattr(r, n) for n in DeviceStatusOut.__struct_fields__}) for r in rows]
