from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from cem_platform.accounting.models import ReportState
from cem_platform.identity.roles import Role
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('cem', '0009_seq_ranges_and_data_conflict')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PendingRecalculation',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('enterprise', fields.ForeignKeyField('cem.Enterprise', source_field='enterprise_id', db_constraint=True, to_field='id', related_name='pending_recalculations', on_delete=OnDelete.CASCADE)),
                ('range_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('range_end', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('cause', fields.CharField(max_length=32)),
                ('detail', fields.CharField(default='', max_length=300)),
                ('created_by', fields.CharField(max_length=150)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('error', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'acc_pending', 'app': 'cem', 'indexes': [Index(fields=['enterprise_id', 'range_start'])], 'pk_attr': 'id', 'table_description': '[range_start, range_end) of an enterprise must be accounted again: its inputs changed (``cause``).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReportingYear',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('enterprise', fields.ForeignKeyField('cem.Enterprise', source_field='enterprise_id', db_constraint=True, to_field='id', related_name='reporting_years', on_delete=OnDelete.RESTRICT)),
                ('year', fields.IntField()),
                ('state', fields.CharEnumField(default=ReportState.DRAFT, description='DRAFT: draft\nSUBMITTED: submitted\nVERIFIED: verified\nLOCKED: locked', enum_type=ReportState, max_length=16)),
                ('draft', fields.IntField(default=1)),
                ('result_id', fields.BigIntField(null=True)),
                ('reported', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('verifier', fields.CharField(default='', max_length=150)),
                ('verified', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('findings', fields.TextField(default='', unique=False)),
                ('drift', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('history', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('changed_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'acc_reporting_year', 'app': 'cem', 'unique_together': (('enterprise', 'year'),), 'pk_attr': 'id', 'table_description': "The reporting state of one enterprise's year, the figures as submitted and as verified, and its history."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='EmissionSource',
            name='direction',
            field=fields.CharField(default='consumed', max_length=8),
        ),
        ops.AlterField(
            model_name='User',
            name='role',
            field=fields.CharEnumField(description='ADMIN: admin\nDEVICE_ADMIN: device_admin\nACCOUNTANT: accountant\nEXECUTIVE: executive\nCREW: crew\nAUDITOR: auditor\nVERIFIER: verifier', enum_type=Role, max_length=16),
        ),
    ]
