"""Benchmarking (standard 5.4.5): versions of the reference libraries (national and each enterprise's), the correction
inputs entered per process and period, and the alarm kind of a limit breach."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from cem_platform.alarms.models import AlarmKind


class Migration(migrations.Migration):
    dependencies = [("cem", "0013_source_figures_and_output_value")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ReferenceVersion",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("library", fields.CharField(max_length=64)),
                (
                    "enterprise",
                    fields.ForeignKeyField(
                        "cem.Enterprise",
                        source_field="enterprise_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="reference_versions",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("number", fields.IntField()),
                ("author", fields.CharField(max_length=150)),
                ("reason", fields.TextField(unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "diff",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                (
                    "entries",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
            ],
            options={
                "table": "bm_reference_version",
                "app": "cem",
                "unique_together": (("library", "number"),),
                "pk_attr": "id",
                "table_description": "One version of one reference library, national or an enterprise's own.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CorrectionInput",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "enterprise",
                    fields.ForeignKeyField(
                        "cem.Enterprise",
                        source_field="enterprise_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="correction_inputs",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "process",
                    fields.ForeignKeyField(
                        "cem.Process",
                        source_field="process_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="correction_inputs",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("name", fields.CharField(max_length=32)),
                ("period_kind", fields.CharField(max_length=8)),
                ("period", fields.CharField(max_length=7)),
                ("value", fields.DecimalField(max_digits=28, decimal_places=10)),
                ("unit", fields.CharField(max_length=16)),
                ("source", fields.CharField(max_length=300)),
                ("entered_by", fields.CharField(max_length=150)),
                ("entered_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "bm_correction_input",
                "app": "cem",
                "unique_together": (("process", "name", "period"),),
                "pk_attr": "id",
                "table_description": "A correction input of one process for one month or year.",
            },
            bases=["Model"],
        ),
        ops.AlterField(
            model_name="Alarm",
            name="kind",
            field=fields.CharEnumField(
                description="DEVICE_OFFLINE: device_offline\nCERTIFICATE_EXPIRING: certificate_expiring\n"
                "GATEWAY_BUFFER: gateway_buffer\nMETER_STUCK: meter_stuck\nMETER_OUT_OF_RANGE: meter_out_of_range\n"
                "METER_COMM: meter_comm\nDATA_GAP: data_gap\nDATA_SPIKE: data_spike\n"
                "DATA_COMPLETENESS: data_completeness\nDEAD_LETTERS: dead_letters\nDATA_CONFLICT: data_conflict\n"
                "ENERGY_LIMIT: energy_limit",
                enum_type=AlarmKind,
                max_length=32,
            ),
        ),
    ]
