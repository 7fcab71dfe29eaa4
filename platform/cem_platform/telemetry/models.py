"""Tortoise models of ingest: dead letters and the last status each terminal reported.

The time-series tables themselves (raw readings, rollups, pending queue, batches) are written by raw SQL on the
hot path and are created by ``cem_platform.telemetry.ddl`` (monthly partitions on PostgreSQL).
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

__all__ = ["DeadLetter", "DeviceStatus"]


class DeadLetter(Model):
    """A telemetry or status message (or part of one) that ingest refused, with its reason and raw bytes.

    A batch refused as a whole has no ``rejected`` list. A batch whose good readings were stored lists the
    refused readings (index, point, reason) in ``rejected``.
    """

    id = fields.BigIntField(primary_key=True)
    received_at = fields.DatetimeField(db_index=True)
    topic = fields.CharField(max_length=200)
    device_id = fields.CharField(max_length=64, null=True, db_index=True)  # as claimed by the topic
    enterprise_id = fields.IntField(null=True, db_index=True)  # of the device, when it is known
    reason = fields.CharField(max_length=64)  # machine-readable: schema, unknown_device, identity_mismatch...
    message = fields.TextField()  # what went wrong and what to do, for the device admin
    rejected: Any = fields.JSONField(null=True)  # [{"index": 3, "seq": 1044, "point": "X", "reason": "..."}]
    payload = fields.BinaryField()
    payload_sha256 = fields.CharField(max_length=64)
    size = fields.IntField()
    occurrences = fields.IntField(default=1)  # the same bytes refused again (broker redelivery, resend)

    class Meta:
        table = "ingest_dead_letter"
        unique_together = (("payload_sha256", "reason"),)


class DeviceStatus(Model):
    """The last status (heartbeat or last will) of a terminal, as ingest received it."""

    device_id = fields.CharField(max_length=64, primary_key=True)
    enterprise_id = fields.IntField(db_index=True)
    state = fields.CharField(max_length=16)  # online, offline
    reason = fields.CharField(max_length=100, default="")
    reported_at = fields.DatetimeField()  # the status's own ts
    received_at = fields.DatetimeField()
    heartbeat_s = fields.FloatField(null=True)
    firmware = fields.CharField(max_length=64, default="")
    buffer_depth = fields.IntField(null=True)
    buffer_evicted = fields.BigIntField(null=True)
    last_seq = fields.BigIntField(null=True)
    status: Any = fields.JSONField()  # the whole decoded status

    class Meta:
        table = "ingest_device_status"
