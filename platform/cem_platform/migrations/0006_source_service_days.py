"""Emission sources get the local days they are in service: a retired source still counts where it did."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("cem", "0005_accounting")]

    initial = False

    operations = [
        ops.AddField(
            model_name="EmissionSource",
            name="in_service_from",
            field=fields.DateField(null=True),
        ),
        ops.AddField(
            model_name="EmissionSource",
            name="in_service_until",
            field=fields.DateField(null=True),
        ),
    ]
