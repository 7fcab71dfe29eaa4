"""The stamp of each enterprise's kept results: reads cache what they read against it (accounting/reads.py)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("cem", "0015_reduction_scenarios")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ResultStamp",
            fields=[
                ("enterprise_id", fields.IntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ("token", fields.CharField(max_length=32)),
                ("changed_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "acc_result_stamp",
                "app": "cem",
                "pk_attr": "enterprise_id",
                "table_description": "A token that changes whenever an enterprise's kept results do (a new version, "
                "a running period refreshed in",
            },
            bases=["Model"],
        ),
    ]
