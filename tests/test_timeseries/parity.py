"""One scenario of writes, folds and queries, run on PostgreSQL (in the test) and on SQLite (in a subprocess).

Run on SQLite: ``python -m tests.test_timeseries.parity <sqlite-file> <base-iso>`` from the repository root;
prints the scenario's figures as JSON. Tortoise has one global context, and the test session keeps PostgreSQL
open in it, hence a process of its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import sys
from typing import Any

import msgspec

from cem_platform.telemetry.retention import maintain
from cem_platform.telemetry.rollup import fold_pending
from cem_platform.telemetry.series import Interval, latest, series
from cem_platform.telemetry.store import Batch, Row, TimeSeriesStore, dt_to_ms, store_for
from tests.test_platform.world import Org, make_org
from tests.test_timeseries.helpers import add_point, random_rows, write


async def scenario(base: dt.datetime) -> dict[str, Any]:
    """Readings of two points over 30 hours from ``base``, written and folded in rounds with resends and late
    data; the series of every interval and the latest values."""
    org = await make_org("ENTA", "甲钢铁")
    flow = await add_point(org.facility, org.enterprise.id, "ENTA.BF1.BLAST", sample_seconds=30, kind="flow")
    rows = random_rows(random.Random(99), [org.point.id, flow.id], base, 30, every_s=30)
    store = store_for()
    late_from = dt_to_ms(base + dt.timedelta(hours=20))
    on_time = [r for r in rows if r.ts < late_from]
    late = [r for r in rows if r.ts >= late_from]
    new = 0
    for i in range(0, len(on_time), 1000):
        new += await write(store, on_time[i : i + 1000])
        await fold_pending(store, limit=1500)
    new += await write(store, late[::2] + on_time[:200])  # late data, and a resend
    await fold_pending(store)
    new += await write(store, late[1::2] + late[:100])
    folds = [(await fold_pending(store, limit=2000)).readings for _ in range(3)]
    figures: dict[str, Any] = {"stored": new, "folds": folds}
    end = base + dt.timedelta(hours=31)
    now = base + dt.timedelta(days=3)
    for interval in Interval:
        start = base if interval is not Interval.MONTH else base - dt.timedelta(days=40)
        result = await series(org.point if interval is not Interval.RAW else flow, start, end, interval, now=now)
        figures[interval.value] = msgspec.to_builtins(result)
    figures["latest"] = {str(k): msgspec.to_builtins(v) for k, v in (await latest([org.point, flow])).items()}
    figures["checked"] = await _checked(store, org, base)
    return figures


async def _checked(store: TimeSeriesStore, org: Org, base: dt.datetime) -> list[list[Any]]:
    """Ingest's write on a point of its own: a first message, then one with a duplicate, another value for a
    stored time, a seq of the first message used again and a seq repeated inside the message. Per message:
    new readings, duplicates, and the refusals (row, reason, stored value)."""
    point = await add_point(org.facility, org.enterprise.id, "ENTA.BF1.CHECKED", sample_seconds=60, kind="flow")
    start, sent = dt_to_ms(base), dt_to_ms(base + dt.timedelta(days=1))

    def row(seq: int, minute: int, value: float) -> Row:
        return Row(point_id=point.id, ts=start + minute * 60_000, value=value, seq=seq)

    first = Batch("dev-checked", sent, sent, [row(1, 0, 1.0), row(2, 1, 2.0), row(3, 2, 3.0)])
    again = [row(1, 0, 1.0), row(2, 1, 2.5), row(2, 3, 4.0), row(4, 4, 5.0), row(4, 5, 6.0)]
    found = []
    for batch in (first, Batch("dev-checked", sent, sent + 1, again)):
        [written] = await store.write_checked([batch])
        refused = [[r.row, r.reason, r.stored_value] for r in written.refused]
        found.append([len(written.new), written.duplicates, refused])
    return found


async def _main(path: str, base: dt.datetime) -> None:
    from cem_platform.db import close_db, init_db, upgrade_db
    from cem_platform.settings import DatabaseSettings, Settings

    settings = Settings(database=DatabaseSettings(url=f"sqlite://{path}"))
    await upgrade_db(settings.database)
    await init_db(settings.database)
    try:
        figures = await scenario(base)
        # A reading (and its batch) past raw retention: deleted; its rollups, under five years old, stay.
        old = dt_to_ms(base - dt.timedelta(days=500))
        store = store_for()
        await store.write([Batch("dev-old", old, old, [Row(point_id=1, ts=old, value=1.0)])])
        await fold_pending(store)
        report = await maintain(settings, now=base + dt.timedelta(days=3))
        figures["maintenance"] = {"created": report.created, "dropped": report.dropped, "deleted": report.deleted}
    finally:
        await close_db()
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], dt.datetime.fromisoformat(sys.argv[2])))
