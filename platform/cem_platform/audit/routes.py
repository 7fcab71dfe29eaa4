"""Route of the audit log: searchable by administrators and auditors."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromQuery, QueryParameter

from cem_platform.audit import services
from cem_platform.identity.http import principal_of, requires
from cem_platform.identity.roles import Permission

__all__ = ["AuditController", "AuditRecordOut"]


class AuditRecordOut(msgspec.Struct):
    """One change."""

    id: int
    at: dt.datetime
    actor_id: int | None
    actor: str
    actor_kind: str
    ip: str
    request_id: str
    action: str
    entity_type: str
    entity_id: str
    enterprise_id: int | None
    outcome: str
    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(msgspec.Struct):
    """A page of records, newest first."""

    total: int
    items: list[AuditRecordOut]


class AuditController(Controller):
    """The audit log (append-only)."""

    path = "/audit"
    tags = ["audit"]

    @get("/", guards=[requires(Permission.AUDIT_READ)], summary="Search the audit log")
    async def search(
        self,
        request: Request[Any, Any, Any],
        actor: FromQuery[str | None] = None,
        action: Annotated[str | None, QueryParameter(description="prefix, e.g. 'users.' or 'org.site.create'")] = None,
        entity_type: FromQuery[str | None] = None,
        entity_id: FromQuery[str | None] = None,
        enterprise_id: FromQuery[int | None] = None,
        outcome: FromQuery[str | None] = None,
        since: Annotated[dt.datetime | None, QueryParameter(name="from")] = None,
        until: Annotated[dt.datetime | None, QueryParameter(name="to")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> AuditPage:
        """Records within the caller's enterprises, filtered, newest first."""
        query = services.search(
            principal_of(request),
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            enterprise_id=enterprise_id,
            outcome=outcome,
            since=since,
            until=until,
        )
        total = await query.count()
        rows = await query.offset(offset).limit(limit)
        return AuditPage(
            total=total,
            items=[
                msgspec.convert(services.snapshot(r) | {"before": r.before, "after": r.after}, AuditRecordOut)
                for r in rows
            ],
        )
