"""Kept results carry each source's own figures (``by_source``: emissions, and energy per line in the lineage) and the
enterprise's output value (产值, 10^4 CNY) where it is entered; results kept before are accounted again."""

import functools
from json import dumps, loads
from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

# As in 0011: every enterprise's kept history is marked for the refresh job, which accounts it again with its
# per-source figures (drafts get a new version, their figures unchanged; reported years stay exactly as reported).
# The same statement on PostgreSQL and SQLite.
_MARK = (
    "INSERT INTO acc_pending (enterprise_id, range_start, range_end, cause, detail, created_by, created_at, error) "
    "SELECT enterprise_id, MIN(period_start), MAX(period_end), 'library', "
    "'per-source figures added to the kept results', 'system (migration)', CURRENT_TIMESTAMP, '' "
    'FROM acc_result WHERE "current" GROUP BY enterprise_id'
)


async def mark_history(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(_MARK)


async def nothing(apps: Any, schema_editor: Any) -> None:
    return None


class Migration(migrations.Migration):
    dependencies = [("cem", "0011_energy_and_transfers")]

    initial = False

    operations = [
        ops.AddField(
            model_name="EmissionResult",
            name="by_source",
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads),
        ),
        ops.AddField(
            model_name="EmissionResult",
            name="output_value",
            field=fields.DecimalField(max_digits=28, decimal_places=10, null=True),
        ),
        ops.RunPython(mark_history, nothing),
    ]
