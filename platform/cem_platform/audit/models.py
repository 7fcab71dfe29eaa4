"""The audit record: who changed what, when, from where, with the state before and after."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

__all__ = ["AuditRecord"]


class AuditRecord(Model):
    """One change. Rows are only ever inserted (on PostgreSQL a trigger refuses UPDATE and DELETE)."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    actor_id = fields.IntField(null=True)  # no foreign key: the record outlives the user
    actor = fields.CharField(max_length=100)
    actor_kind = fields.CharField(max_length=16)  # user, api_token, cli, system
    ip = fields.CharField(max_length=45, default="")
    request_id = fields.CharField(max_length=64, default="")
    action = fields.CharField(max_length=64, db_index=True)  # e.g. org.site.create, auth.login.failed
    entity_type = fields.CharField(max_length=64, default="")
    entity_id = fields.CharField(max_length=64, default="")
    enterprise_id = fields.IntField(null=True, db_index=True)
    outcome = fields.CharField(max_length=16, default="success")  # success, denied, failed
    summary = fields.CharField(max_length=300, default="")
    before: Any = fields.JSONField(null=True)
    after: Any = fields.JSONField(null=True)

    class Meta:
        table = "audit_record"
