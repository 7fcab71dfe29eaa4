"""Alarms carry the plant names of what they concern, an outage's consequences, and a data alarm's root cause."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("cem", "0006_source_service_days")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Alarm",
            name="names",
            field=fields.JSONField(
                default=dict, null=True, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
            ),
        ),
        ops.AddField(
            model_name="Alarm",
            name="consequences",
            field=fields.JSONField(
                default=list, null=True, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
            ),
        ),
        ops.AddField(
            model_name="Alarm",
            name="root_id",
            field=fields.BigIntField(null=True, db_index=True),
        ),
    ]
