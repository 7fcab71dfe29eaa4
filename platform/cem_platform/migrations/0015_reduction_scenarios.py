"""Reduction scenarios (standard 5.4.7): measures applied to an enterprise's processes against a base year, with the
measures libraries' versions they are computed with. The measures libraries themselves are versions in
``bm_reference_version`` (libraries ``measures`` and ``measures-enterprise-<id>``) and need no new table."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("cem", "0014_benchmarking")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Scenario",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "enterprise",
                    fields.ForeignKeyField(
                        "cem.Enterprise",
                        source_field="enterprise_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="scenarios",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("name", fields.CharField(max_length=100)),
                ("base_year", fields.IntField()),
                ("discount_rate", fields.DecimalField(max_digits=8, decimal_places=6)),
                ("energy_price", fields.DecimalField(max_digits=18, decimal_places=6)),
                (
                    "applications",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                (
                    "versions",
                    fields.JSONField(
                        default=dict, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("note", fields.TextField(default="", unique=False)),
                ("created_by", fields.CharField(max_length=150)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("changed_by", fields.CharField(max_length=150)),
                ("changed_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "bm_scenario",
                "app": "cem",
                "unique_together": (("enterprise", "name"),),
                "pk_attr": "id",
                "table_description": "A reduction scenario of one enterprise: measures applied to its processes "
                "against a base year.",
            },
            bases=["Model"],
        ),
    ]
