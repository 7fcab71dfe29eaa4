"""Writing and searching the audit log. Every change calls :func:`record` inside the change's transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from cem_platform.audit.models import AuditRecord
from cem_platform.identity.principal import Principal

__all__ = ["GROUP_WIDE_ENTITIES", "SECRET_FIELDS", "record", "search", "snapshot"]

# Changes made at the group level that apply to every enterprise (no enterprise of their own): an enterprise's
# auditor sees them beside the enterprise's own records, since its figures and controls follow them.
GROUP_WIDE_ENTITIES = ("system_parameter", "accounting_library")

# Never written to the audit log, whatever model they appear in.
SECRET_FIELDS = frozenset(
    {
        "password",
        "password_hash",
        "totp",
        "totp_secret",
        "totp_secret_encrypted",
        "token",
        "token_hash",
        "access_hash",
        "refresh_hash",
        "secret",
        "secret_key",
        "passphrase",
    }
)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "value") and not isinstance(value, str | int | float | bool):
        return value.value
    return value


def snapshot(obj: Any, fields: Sequence[str] | None = None) -> dict[str, Any]:
    """The state of a model instance (or mapping) for the log, with secrets left out."""
    if isinstance(obj, Mapping):
        items = dict(obj)
    else:
        names = fields or list(obj._meta.db_fields)
        items = {name: getattr(obj, name) for name in names}
    return {k: _plain(v) for k, v in items.items() if k not in SECRET_FIELDS}


async def record(
    actor: Principal,
    action: str,
    *,
    entity_type: str = "",
    entity_id: object = "",
    enterprise_id: int | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    outcome: str = "success",
    summary: str = "",
) -> AuditRecord:
    """Append one record. Call it in the same transaction as the change it describes."""
    return await AuditRecord.create(
        actor_id=actor.user_id,
        actor=actor.name,
        actor_kind=actor.kind,
        ip=actor.ip,
        request_id=actor.request_id,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id != "" else "",
        enterprise_id=enterprise_id,
        outcome=outcome,
        summary=summary[:300],
        before=snapshot(before) if before is not None else None,
        after=snapshot(after) if after is not None else None,
    )


def search(
    viewer: Principal,
    *,
    actor: str | None = None,
    action: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    enterprise_id: int | None = None,
    outcome: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[AuditRecord]:
    """Records the viewer may see, newest first. Outside the group level, only records of their enterprises and
    the group-wide changes that apply to them (system parameters, methodology library versions)."""
    query = AuditRecord.all().order_by("-id")
    group_wide = Q(enterprise_id=None, entity_type__in=GROUP_WIDE_ENTITIES)
    if not viewer.scope.everything:
        query = query.filter(Q(enterprise_id__in=list(viewer.scope.visible_enterprises())) | group_wide)
    if actor:
        query = query.filter(actor=actor)
    if action:
        query = query.filter(action__startswith=action)
    if entity_type:
        query = query.filter(entity_type=entity_type)
    if entity_id:
        query = query.filter(entity_id=entity_id)
    if enterprise_id is not None:
        query = query.filter(Q(enterprise_id=enterprise_id) | group_wide)
    if outcome:
        query = query.filter(outcome=outcome)
    if since:
        query = query.filter(at__gte=since)
    if until:
        query = query.filter(at__lt=until)
    return query
