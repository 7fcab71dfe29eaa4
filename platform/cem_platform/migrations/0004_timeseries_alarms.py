from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from cem_platform.alarms.models import AlarmKind, AlarmState, Severity
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from typing import Any
from cem_platform.telemetry.ddl import create_sql, drop_sql


async def create_timeseries(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    for statement in create_sql(client.capabilities.dialect):
        await client.execute_script(statement)


async def drop_timeseries(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    for statement in drop_sql():
        await client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [('cem', '0003_device_registry')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Alarm',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('enterprise', fields.ForeignKeyField('cem.Enterprise', source_field='enterprise_id', db_constraint=True, to_field='id', related_name='alarms', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(description='DEVICE_OFFLINE: device_offline\nCERTIFICATE_EXPIRING: certificate_expiring\nGATEWAY_BUFFER: gateway_buffer\nMETER_STUCK: meter_stuck\nMETER_OUT_OF_RANGE: meter_out_of_range\nMETER_COMM: meter_comm\nDATA_GAP: data_gap\nDATA_SPIKE: data_spike\nDATA_COMPLETENESS: data_completeness\nDEAD_LETTERS: dead_letters', enum_type=AlarmKind, max_length=32)),
                ('severity', fields.CharEnumField(description='INFO: info\nWARNING: warning\nMAJOR: major\nCRITICAL: critical', enum_type=Severity, max_length=16)),
                ('subject_type', fields.CharField(max_length=16)),
                ('subject_id', fields.CharField(max_length=100)),
                ('cause', fields.CharField(db_index=True, max_length=200)),
                ('open_key', fields.CharField(null=True, unique=True, max_length=200)),
                ('state', fields.CharEnumField(default=AlarmState.ACTIVE, description='ACTIVE: active\nACKNOWLEDGED: acknowledged\nCLEARED: cleared', enum_type=AlarmState, max_length=16)),
                ('message', fields.TextField(unique=False)),
                ('detail', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('raised_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('last_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('occurrences', fields.IntField(default=1)),
                ('acknowledged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('acknowledged_by', fields.CharField(default='', max_length=100)),
                ('ack_note', fields.TextField(default='', unique=False)),
                ('cleared_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cleared_by', fields.CharField(default='', max_length=100)),
                ('clear_note', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'alarm', 'app': 'cem', 'pk_attr': 'id', 'table_description': 'One alarm: raised once per cause, repeated occurrences counted, acknowledged and cleared by people or rules.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AlarmEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alarm', fields.ForeignKeyField('cem.Alarm', source_field='alarm_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.RESTRICT)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('action', fields.CharField(max_length=16)),
                ('actor', fields.CharField(max_length=100)),
                ('note', fields.TextField(default='', unique=False)),
                ('detail', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'alarm_event', 'app': 'cem', 'pk_attr': 'id', 'table_description': "One step in an alarm's history: raised, repeated, escalated, acknowledged, cleared."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeadLetter',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('received_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('topic', fields.CharField(max_length=200)),
                ('device_id', fields.CharField(null=True, db_index=True, max_length=64)),
                ('enterprise_id', fields.IntField(null=True, db_index=True)),
                ('reason', fields.CharField(max_length=64)),
                ('message', fields.TextField(unique=False)),
                ('rejected', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('payload', fields.BinaryField()),
                ('payload_sha256', fields.CharField(max_length=64)),
                ('size', fields.IntField()),
                ('occurrences', fields.IntField(default=1)),
            ],
            options={'table': 'ingest_dead_letter', 'app': 'cem', 'unique_together': (('payload_sha256', 'reason'),), 'pk_attr': 'id', 'table_description': 'A telemetry or status message (or part of one) that ingest refused, with its reason and raw bytes.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeviceStatus',
            fields=[
                ('device_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('enterprise_id', fields.IntField(db_index=True)),
                ('state', fields.CharField(max_length=16)),
                ('reason', fields.CharField(default='', max_length=100)),
                ('reported_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('heartbeat_s', fields.FloatField(null=True)),
                ('firmware', fields.CharField(default='', max_length=64)),
                ('buffer_depth', fields.IntField(null=True)),
                ('buffer_evicted', fields.BigIntField(null=True)),
                ('last_seq', fields.BigIntField(null=True)),
                ('status', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'ingest_device_status', 'app': 'cem', 'pk_attr': 'device_id', 'table_description': 'The last status (heartbeat or last will) of a terminal, as ingest received it.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='MeasurementPoint',
            name='sample_seconds',
            field=fields.IntField(default=60),
        ),
        ops.RunPython(create_timeseries, drop_timeseries),
    ]
