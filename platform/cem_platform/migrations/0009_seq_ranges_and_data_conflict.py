"""Ingest finds the stored seq ranges of a terminal by index (a reused seq is refused); the data_conflict alarm kind."""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from cem_platform.alarms.models import AlarmKind

# The same statement on PostgreSQL and SQLite. ts_batch is not partitioned, so one index covers it; ingest looks
# up, per write, the ranges of a device whose last_seq reaches the lowest seq written (none for live data).
_CREATE = "CREATE INDEX IF NOT EXISTS ts_batch_device_seq ON ts_batch (device_id, last_seq)"
_DROP = "DROP INDEX IF EXISTS ts_batch_device_seq"


async def create_index(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(_CREATE)


async def drop_index(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(_DROP)


class Migration(migrations.Migration):
    dependencies = [("cem", "0008_auth_sources_and_token_family")]

    initial = False

    operations = [
        ops.AlterField(
            model_name="Alarm",
            name="kind",
            field=fields.CharEnumField(
                description="DEVICE_OFFLINE: device_offline\nCERTIFICATE_EXPIRING: certificate_expiring\n"
                "GATEWAY_BUFFER: gateway_buffer\nMETER_STUCK: meter_stuck\nMETER_OUT_OF_RANGE: meter_out_of_range\n"
                "METER_COMM: meter_comm\nDATA_GAP: data_gap\nDATA_SPIKE: data_spike\n"
                "DATA_COMPLETENESS: data_completeness\nDEAD_LETTERS: dead_letters\nDATA_CONFLICT: data_conflict",
                enum_type=AlarmKind,
                max_length=32,
            ),
        ),
        ops.RunPython(create_index, drop_index),
    ]
