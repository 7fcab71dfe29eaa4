"""The stamp of each enterprise's kept results: reads cache what they read against it (accounting/reads.py). Every
enterprise that already has kept results gets its first token here, so that its reads cache from the start."""

import datetime as dt
import secrets
from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


async def first_tokens(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    _, rows = await client.execute_query("SELECT DISTINCT enterprise_id FROM acc_result")
    if client.capabilities.dialect == "postgres":
        sql = "INSERT INTO acc_result_stamp (enterprise_id, token, changed_at) VALUES ($1, $2, $3)"
    else:
        sql = "INSERT INTO acc_result_stamp (enterprise_id, token, changed_at) VALUES (?, ?, ?)"
    now = dt.datetime.now(dt.UTC)
    for row in rows:
        await client.execute_query(sql, [int(row["enterprise_id"]), secrets.token_hex(16), now])


async def nothing(apps: Any, schema_editor: Any) -> None:
    return None


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
        ops.RunPython(first_tokens, nothing),
    ]
