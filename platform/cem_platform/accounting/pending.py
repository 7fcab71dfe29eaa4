"""Marks of ranges whose emission results must be accounted again, written where inputs change.

Whatever changes an input of the accounting — a fold of new meter readings, an entered or corrected activity
record, a confirmed ledger import, a source created or changed, a library version, a year's methodology — calls
one of the functions here in the same transaction as the change. The refresh job
(:mod:`cem_platform.accounting.refresh`) accounts the periods meeting the marked ranges and deletes the marks;
until then reads show those periods as pending. Nothing here accounts or reads results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Max, Min

from cem_platform.accounting.models import ActivityRecord, EmissionResult, PendingRecalculation

__all__ = [
    "CAUSES",
    "mark",
    "mark_enterprises_history",
    "mark_history",
    "mark_points",
    "pending_ranges",
]

#: What can make results stale.
CAUSES = frozenset({"meter", "activity", "import", "source", "library", "year_method", "draft", "period_end"})


async def mark(
    enterprise_id: int,
    start: dt.datetime,
    end: dt.datetime,
    cause: str,
    *,
    detail: str = "",
    by: str = "system",
    connection: BaseDBAsyncClient | None = None,
) -> None:
    """Results of ``enterprise_id`` meeting [start, end) must be accounted again because of ``cause``."""
    if cause not in CAUSES:
        raise ValueError(f"unknown cause {cause!r}")
    if end <= start:
        return
    await PendingRecalculation.create(
        enterprise_id=enterprise_id,
        range_start=start,
        range_end=end,
        cause=cause,
        detail=detail[:300],
        created_by=by[:150],
        using_db=connection,
    )


async def _history_span(enterprise_id: int, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """From the first period with a result or an activity record (or the start of this year) to now."""
    firsts = [now.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)]
    row = (
        await EmissionResult.filter(enterprise_id=enterprise_id)
        .annotate(first=Min("period_start"))
        .first()
        .values_list("first", flat=True)
    )
    if row:
        firsts.append(row)  # type: ignore[arg-type]
    record = (
        await ActivityRecord.filter(enterprise_id=enterprise_id, superseded_by=None)
        .annotate(first=Min("period_start"))
        .first()
        .values_list("first", flat=True)
    )
    if record:
        firsts.append(record)  # type: ignore[arg-type]
    last: Any = (
        await ActivityRecord.filter(enterprise_id=enterprise_id, superseded_by=None)
        .annotate(last=Max("period_end"))
        .first()
        .values_list("last", flat=True)
    )
    end: dt.datetime = max(now, last) if isinstance(last, dt.datetime) else now
    return min(firsts), end


async def mark_history(
    enterprise_id: int,
    cause: str,
    *,
    detail: str = "",
    by: str = "system",
    since: dt.datetime | None = None,
    connection: BaseDBAsyncClient | None = None,
) -> None:
    """Everything the enterprise has accounted (or ``since`` a day) must be accounted again: a source or a
    method changed. Unchanged periods keep their result (same fingerprint), so marking wide costs time only."""
    now = dt.datetime.now(dt.UTC)
    first, last = await _history_span(enterprise_id, now)
    if since is not None:
        first = max(first, since)
    await mark(enterprise_id, first, last, cause, detail=detail, by=by, connection=connection)


async def mark_enterprises_history(cause: str, *, detail: str = "", by: str = "system") -> list[int]:
    """Mark the history of every enterprise with results (a library changed). Results the change does not
    touch keep their fingerprint, so marking every enterprise costs the refresh time only."""
    ids: list[Any] = list(await EmissionResult.all().distinct().values_list("enterprise_id", flat=True))
    enterprises = sorted({int(e) for e in ids})
    for enterprise_id in enterprises:
        await mark_history(enterprise_id, cause, detail=detail, by=by)
    return enterprises


async def mark_points(hours: Mapping[int, tuple[dt.datetime, dt.datetime]]) -> int:
    """New rollups of these points over [first hour, last hour]: mark their enterprises (one mark each)."""
    if not hours:
        return 0
    from cem_platform.org.models import MeasurementPoint

    spans: dict[int, tuple[dt.datetime, dt.datetime]] = {}
    ids = sorted(hours)
    for at in range(0, len(ids), 1000):
        rows: list[Any] = list(
            await MeasurementPoint.filter(id__in=ids[at : at + 1000]).values_list("id", "enterprise_id")
        )
        for point_id, enterprise_id in rows:
            lo, hi = hours[int(point_id)]
            hi = hi + dt.timedelta(hours=1)
            if enterprise_id in spans:
                lo, hi = min(lo, spans[enterprise_id][0]), max(hi, spans[enterprise_id][1])
            spans[int(enterprise_id)] = (lo, hi)
    for enterprise_id, (lo, hi) in spans.items():
        await mark(enterprise_id, lo, hi, "meter", detail="new meter rollups")
    return len(spans)


async def pending_ranges(enterprise_id: int) -> Sequence[PendingRecalculation]:
    """The enterprise's marks not yet accounted, oldest first."""
    return await PendingRecalculation.filter(enterprise_id=enterprise_id).order_by("id")
