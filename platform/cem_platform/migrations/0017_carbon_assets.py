"""Carbon assets (standard 5.4.8): the ledger of allowance and offset transactions, price quotes, the production plan,
published trial calculations, and the alarm kind of a carbon deficit. The compliance rules are versions of the
library ``cn-ets-steel`` in bm_reference_version (seeded on first use). On PostgreSQL the ledger and the published
calculations refuse UPDATE and DELETE (a correction is a new row); TRUNCATE stays possible for test databases."""

import functools
from json import dumps, loads
from typing import Any

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from cem_platform.alarms.models import AlarmKind
from cem_platform.carbon_assets.models import Instrument, TransactionKind


def _enterprise(related_name: str) -> Any:
    return fields.ForeignKeyField(
        "cem.Enterprise",
        source_field="enterprise_id",
        db_constraint=True,
        to_field="id",
        related_name=related_name,
        on_delete=OnDelete.RESTRICT,
    )


APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION carbon_asset_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ca_transaction_no_change BEFORE UPDATE OR DELETE ON ca_transaction
    FOR EACH ROW EXECUTE FUNCTION carbon_asset_append_only();
CREATE TRIGGER ca_trial_no_change BEFORE UPDATE OR DELETE ON ca_trial
    FOR EACH ROW EXECUTE FUNCTION carbon_asset_append_only();
"""


async def guard(apps: Any, schema_editor: Any) -> None:
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script(APPEND_ONLY_SQL)


async def unguard(apps: Any, schema_editor: Any) -> None:
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script(
            "DROP TRIGGER IF EXISTS ca_transaction_no_change ON ca_transaction;"
            "DROP TRIGGER IF EXISTS ca_trial_no_change ON ca_trial;"
            "DROP FUNCTION IF EXISTS carbon_asset_append_only();"
        )


class Migration(migrations.Migration):
    dependencies = [("cem", "0016_result_stamp")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AssetTransaction",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("enterprise", _enterprise("asset_transactions")),
                ("year", fields.IntField()),
                (
                    "instrument",
                    fields.CharEnumField(
                        description="ALLOWANCE: allowance\nOFFSET: offset", enum_type=Instrument, max_length=16
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="PRE_ALLOCATION: pre_allocation\nTRUE_UP: true_up\nPURCHASED: purchased\n"
                        "ACQUIRED: acquired\nSOLD: sold\nSURRENDERED: surrendered\nCARRIED_OVER: carried_over",
                        enum_type=TransactionKind,
                        max_length=16,
                    ),
                ),
                ("offset_type", fields.CharField(default="", max_length=16)),
                ("project", fields.CharField(default="", max_length=200)),
                ("vintage", fields.IntField(null=True)),
                ("quantity", fields.DecimalField(max_digits=20, decimal_places=4)),
                ("price", fields.DecimalField(null=True, max_digits=14, decimal_places=4)),
                ("traded_on", fields.DateField()),
                (
                    "corrects",
                    fields.ForeignKeyField(
                        "cem.AssetTransaction",
                        source_field="corrects_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="corrections",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("void", fields.BooleanField(default=False)),
                ("note", fields.TextField(default="", unique=False)),
                ("entered_by", fields.CharField(max_length=150)),
                ("entered_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "ca_transaction",
                "app": "cem",
                "indexes": (("enterprise", "year"),),
                "pk_attr": "id",
                "table_description": "One ledger entry of an enterprise's compliance year. ``quantity`` is in tCO2 "
                "(an offset: tCO2e), positive",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PriceQuote",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("instrument", fields.CharField(max_length=16)),
                ("day", fields.DateField()),
                ("price", fields.DecimalField(max_digits=14, decimal_places=4)),
                ("source", fields.CharField(default="", max_length=200)),
                ("entered_by", fields.CharField(max_length=150)),
                ("entered_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "ca_price",
                "app": "cem",
                "unique_together": (("instrument", "day"),),
                "pk_attr": "id",
                "table_description": "A price of one instrument on one day, CNY per tonne (allowance: CEA, offset: "
                "CCER).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PlanMonth",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("enterprise", _enterprise("production_plan")),
                ("month", fields.CharField(max_length=7)),
                ("crude_steel", fields.DecimalField(max_digits=20, decimal_places=4)),
                ("entered_by", fields.CharField(max_length=150)),
                ("entered_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "ca_plan_month",
                "app": "cem",
                "unique_together": (("enterprise", "month"),),
                "pk_attr": "id",
                "table_description": "The production plan of one enterprise for one month: crude steel in tonnes.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TrialCalculation",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("enterprise", _enterprise("trial_calculations")),
                ("year", fields.IntField()),
                ("rule_version", fields.IntField()),
                (
                    "figures",
                    fields.JSONField(encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads),
                ),
                ("published_by", fields.CharField(max_length=150)),
                ("published_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "ca_trial",
                "app": "cem",
                "pk_attr": "id",
                "table_description": "A published trial calculation (试算): its figures as computed, the rule "
                "version, the kept results and the",
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
                "ENERGY_LIMIT: energy_limit\nCARBON_DEFICIT: carbon_deficit",
                enum_type=AlarmKind,
                max_length=32,
            ),
        ),
        ops.RunPython(guard, unguard),
    ]
