"""Kept results carry the period's energy (tce per carrier and process); results kept before are accounted again.
Sources may be transfers between processes (``from_process_id``)."""

import functools
from json import dumps, loads
from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

# Every enterprise's kept history is marked for the refresh job, which accounts it again with its energy: drafts get
# a new version (their figures unchanged, the energy added), submitted and locked years stay exactly as reported.
# The same statement on PostgreSQL and SQLite.
_MARK = (
    "INSERT INTO acc_pending (enterprise_id, range_start, range_end, cause, detail, created_by, created_at, error) "
    "SELECT enterprise_id, MIN(period_start), MAX(period_end), 'library', "
    "'energy accounting added (GB/T 2589-2020)', 'system (migration)', CURRENT_TIMESTAMP, '' "
    'FROM acc_result WHERE "current" GROUP BY enterprise_id'
)


async def mark_history(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(_MARK)


async def nothing(apps: Any, schema_editor: Any) -> None:
    return None


class Migration(migrations.Migration):
    dependencies = [("cem", "0010_reporting_and_kept_results")]

    initial = False

    operations = [
        ops.AddField(
            model_name="EmissionResult",
            name="energy",
            field=fields.JSONField(
                null=True, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
            ),
        ),
        ops.AddField(model_name="EmissionSource", name="from_process_id", field=fields.IntField(null=True)),
        ops.RunPython(mark_history, nothing),
    ]
