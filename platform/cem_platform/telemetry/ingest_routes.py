"""Routes of ingest: dead letters (what was refused and why) and each terminal's last status."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.params import PathParameter, QueryParameter
from tortoise.expressions import Q, RawSQL

from cem_platform.audit.services import record
from cem_platform.errors import NotFoundError
from cem_platform.identity.http import principal_of, requires
from cem_platform.identity.principal import Scope
from cem_platform.identity.roles import Permission
from cem_platform.telemetry.models import DeadLetter, DeviceStatus
from cem_registry.models import Device
from cem_registry.services import DeviceRegistry

__all__ = ["IngestController"]

AnyRequest = Request[Any, Any, Any]
LetterId = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]  # ingest_dead_letter.id is a bigint


# A dead letter's body can be as large as the broker lets a message be. Responses carry its digest, its size and a
# short prefix to recognise it (a 20 MB body once made a 5 MB list); the body itself is downloaded on purpose from
# its own route, and that download is audited.
LIST_PREFIX_BYTES = 256
DETAIL_PREFIX_BYTES = 4096
MAX_MESSAGE_CHARS = 2000  # the refusal's explanation
MAX_REJECTED_SHOWN = 100  # refused readings listed per dead letter; rejected_total says how many there were
_LIST_FIELDS = (
    "id",
    "received_at",
    "topic",
    "device_id",
    "enterprise_id",
    "reason",
    "message",
    "rejected",
    "size",
    "occurrences",
    "payload_sha256",
)


class DeadLetterOut(msgspec.Struct):
    """A refused message (or the refused readings of one): what, why, and how to recognise its body."""

    id: int
    received_at: dt.datetime
    topic: str
    device_id: str | None
    enterprise_id: int | None
    reason: str
    message: str
    rejected: list[dict[str, Any]] | None
    rejected_total: int
    size: int
    stored_size: int
    occurrences: int
    payload_sha256: str
    payload_prefix: str
    payload_truncated: bool


class DeadLetterDetail(DeadLetterOut):
    """With a longer prefix of the body, in base64 too, and where to download the whole stored body."""

    payload_prefix_base64: str
    payload_url: str


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


def _text(prefix: bytes) -> str:
    """A prefix shown as text; bytes that are not UTF-8 (or a character cut at the end) show as U+FFFD."""
    return prefix.decode("utf-8", errors="replace")


def _out(row: dict[str, Any], prefix: bytes, stored_size: int) -> dict[str, Any]:
    rejected = row["rejected"]
    return {
        **{name: row[name] for name in _LIST_FIELDS if name != "rejected"},
        "message": row["message"][:MAX_MESSAGE_CHARS],
        "rejected": rejected[:MAX_REJECTED_SHOWN] if isinstance(rejected, list) else None,
        "rejected_total": len(rejected) if isinstance(rejected, list) else 0,
        "stored_size": stored_size,
        "payload_prefix": _text(prefix),
        "payload_truncated": stored_size < row["size"],
    }


def _letters(scope: Scope, prefix_bytes: int) -> Any:
    """Dead letters in scope as plain rows with only a prefix of the body: the body itself is never loaded."""
    return DeadLetter.filter(_visible(scope)).annotate(
        prefix=RawSQL(f"substr(payload, 1, {int(prefix_bytes)})"),
        stored_size=RawSQL("length(payload)"),
    )


class IngestController(Controller):
    """What ingest refused, and what the terminals last reported."""

    path = "/ingest"
    tags = ["ingest"]

    @get("/dead-letters", guards=[requires(Permission.INGEST_READ)], summary="Refused telemetry, newest first")
    async def dead_letters(
        self,
        request: AnyRequest,
        device_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
        reason: Annotated[str | None, QueryParameter(max_length=64)] = None,
        since: Annotated[dt.datetime | None, QueryParameter(name="from")] = None,
        until: Annotated[dt.datetime | None, QueryParameter(name="to")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> DeadLetterPage:
        """Dead letters within the caller's enterprises, filtered by device, reason and time."""
        query = _letters(principal_of(request).scope, LIST_PREFIX_BYTES)
        if device_id:
            query = query.filter(device_id=device_id)
        if reason:
            query = query.filter(reason=reason)
        if since:
            query = query.filter(received_at__gte=since)
        if until:
            query = query.filter(received_at__lt=until)
        total = await query.count()
        rows = (
            await query.order_by("-received_at", "-id")
            .offset(offset)
            .limit(limit)
            .values(*_LIST_FIELDS, "prefix", "stored_size")
        )
        items = [DeadLetterOut(**_out(row, bytes(row["prefix"]), int(row["stored_size"]))) for row in rows]
        return DeadLetterPage(total=total, items=items)

    @get("/dead-letters/{letter_id:int}", guards=[requires(Permission.INGEST_READ)], summary="One dead letter")
    async def dead_letter(self, request: AnyRequest, letter_id: LetterId) -> DeadLetterDetail:
        """One dead letter with a longer prefix of its body; the body itself is at ``.../payload``."""
        rows = (
            await _letters(principal_of(request).scope, DETAIL_PREFIX_BYTES)
            .filter(id=letter_id)
            .values(*_LIST_FIELDS, "prefix", "stored_size")
        )
        if not rows:
            raise NotFoundError(f"no dead letter {letter_id} within your scope")
        row = rows[0]
        prefix = bytes(row["prefix"])
        return DeadLetterDetail(
            **_out(row, prefix, int(row["stored_size"])),
            payload_prefix_base64=base64.b64encode(prefix).decode("ascii"),
            payload_url=f"{request.url.path.rstrip('/')}/payload",
        )

    @get(
        "/dead-letters/{letter_id:int}/payload",
        guards=[requires(Permission.INGEST_READ)],
        summary="The stored body of one dead letter (audited)",
        media_type="application/octet-stream",
    )
    async def dead_letter_payload(self, request: AnyRequest, letter_id: LetterId) -> Response[bytes]:
        """The whole stored body of a dead letter, as bytes; each download leaves an audit record."""
        principal = principal_of(request)
        row = await DeadLetter.filter(_visible(principal.scope), id=letter_id).first()
        if row is None:
            raise NotFoundError(f"no dead letter {letter_id} within your scope")
        payload = bytes(row.payload)
        await record(
            principal,
            "ingest.dead_letter.download",
            entity_type="dead_letter",
            entity_id=row.id,
            enterprise_id=row.enterprise_id,
            summary=f"{len(payload)} of {row.size} bytes, sha256 {row.payload_sha256}",
        )
        return Response(
            payload,
            media_type="application/octet-stream",
            headers={
                "Content-Disposition": f'attachment; filename="dead-letter-{row.id}.bin"',
                "X-Content-SHA256": row.payload_sha256,
            },
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
