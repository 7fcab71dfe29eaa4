"""The refresh job: keeps emission results current as their inputs change, so that reads only read.

Each run takes the marks of :mod:`cem_platform.accounting.pending` (and the provisional results of periods that
have ended since), accounts every year, month, week, day and hour meeting them (hours only within
:data:`HOUR_WINDOW` of now: older hours are accounted for a read on request, not kept), and keeps what changed as
new versions (a result whose fingerprint did not change stays as it is). Years past draft are not accounted
into their kept results: their year is accounted aside and the difference it would make is recorded on the
reporting year ("would change by"). Celery runs it every :data:`REFRESH_S` seconds in production (one at a
time, under the job lock); the demo runs it in-process.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from cem_platform.accounting import calculation, reporting
from cem_platform.accounting.formulas import AccountingError
from cem_platform.accounting.models import EmissionResult, PendingRecalculation, PeriodKind
from cem_platform.accounting.pending import mark
from cem_platform.accounting.periods import period_of, year_of
from cem_platform.identity.principal import Principal
from cem_platform.org.models import Enterprise

__all__ = ["HOUR_WINDOW", "REFRESH_S", "RefreshReport", "refresh"]

log = logging.getLogger("cem.accounting.refresh")

#: How often the job runs (seconds).
REFRESH_S = 15
#: Hourly results are kept for this long back from now; older hours are accounted when read, not kept.
HOUR_WINDOW = dt.timedelta(days=35)
_KINDS = (PeriodKind.YEAR, PeriodKind.MONTH, PeriodKind.WEEK, PeriodKind.DAY, PeriodKind.HOUR)
#: Periods accounted in one batch (bounded memory whatever the marked range).
_BATCH = 300


@dataclass
class RefreshReport:
    """What one run did."""

    enterprises: int = 0
    periods: int = 0
    new_versions: int = 0
    frozen_years: list[str] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0


def _merge(ranges: Sequence[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _periods(
    kind: PeriodKind, ranges: Sequence[tuple[dt.datetime, dt.datetime]], zone: zoneinfo.ZoneInfo, now: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Every period of ``kind`` meeting one of the ranges and begun by ``now``, each once, in order."""
    seen: dict[dt.datetime, dt.datetime] = {}
    for lo, hi in ranges:
        if kind is PeriodKind.HOUR:
            lo = max(lo, now - HOUR_WINDOW)
        start, end = period_of(kind, lo, zone)
        while start < min(hi, now):
            seen[start] = end
            start, end = period_of(kind, end, zone)
    return sorted(seen.items())


def _batches(periods: list[tuple[dt.datetime, dt.datetime]]) -> Iterator[list[tuple[dt.datetime, dt.datetime]]]:
    for at in range(0, len(periods), _BATCH):
        yield periods[at : at + _BATCH]


async def refresh(*, now: dt.datetime | None = None, enterprise_id: int | None = None) -> RefreshReport:
    """Account what the marks (and ended provisional periods) ask for; with ``enterprise_id``, that one only."""
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    report = RefreshReport()
    ended = EmissionResult.filter(current=True, final=False, period_end__lte=now)
    if enterprise_id is not None:
        ended = ended.filter(enterprise_id=enterprise_id)
    for e_id, lo, hi in await ended.values_list("enterprise_id", "period_start", "period_end"):
        if not await PendingRecalculation.filter(enterprise_id=e_id, range_start__lt=hi, range_end__gt=lo).exists():
            await mark(int(e_id), lo, hi, "period_end", detail="the period has ended")
    waiting = PendingRecalculation.filter(error="")
    if enterprise_id is not None:
        waiting = waiting.filter(enterprise_id=enterprise_id)
    ids: list[Any] = list(await waiting.values_list("enterprise_id", flat=True))
    for e_id in sorted({int(e) for e in ids}):
        await _refresh_enterprise(e_id, now, report)
    report.seconds = time.perf_counter() - started
    if report.enterprises:
        log.info(
            "emission results refreshed",
            extra={
                "enterprises": report.enterprises,
                "periods": report.periods,
                "new_versions": report.new_versions,
                "errors": len(report.errors),
                "seconds": round(report.seconds, 3),
            },
        )
    return report


async def _retire_old_hours(
    enterprise_id: int,
    ranges: Sequence[tuple[dt.datetime, dt.datetime]],
    frozen: set[int],
    zone: zoneinfo.ZoneInfo,
    now: dt.datetime,
) -> int:
    """Kept hours older than :data:`HOUR_WINDOW` whose inputs changed would be served stale (the job accounts
    hours within the window only): they stop being current — kept for audit, superseded now — and reads account
    those hours on request. Hours of a reported year stay as they are. Returns how many were retired."""
    window, _ = period_of(PeriodKind.HOUR, now - HOUR_WINDOW, zone)
    retired = 0
    for lo, hi in ranges:
        if lo >= window:
            continue
        rows: list[Any] = list(
            await EmissionResult.filter(
                enterprise_id=enterprise_id,
                period=PeriodKind.HOUR,
                current=True,
                period_end__gt=lo,
                period_start__lt=min(hi, window),
            ).values_list("id", "period_start")
        )
        ids = [result_id for result_id, start in rows if year_of(start, zone) not in frozen]
        for at in range(0, len(ids), 1000):
            async with in_transaction() as connection:
                retired += await EmissionResult.filter(id__in=ids[at : at + 1000], current=True).update(
                    current=False, superseded_at=now
                )
                await calculation.stamp_results(enterprise_id, now, connection)
    return retired


async def _refresh_enterprise(enterprise_id: int, now: dt.datetime, report: RefreshReport) -> None:
    marks = await PendingRecalculation.filter(enterprise_id=enterprise_id, error="").order_by("id")
    if not marks:
        return
    top = marks[-1].id
    taken = PendingRecalculation.filter(enterprise_id=enterprise_id, error="", id__lte=top)
    report.enterprises += 1
    enterprise = await Enterprise.get(id=enterprise_id)
    zone = zoneinfo.ZoneInfo(enterprise.timezone)
    ranges = _merge([(m.range_start, m.range_end) for m in marks])
    causes = sorted({m.cause for m in marks})
    reason = f"inputs changed ({', '.join(causes)})"
    principal = Principal.system("accounting-refresh")
    frozen = await calculation.frozen_years(enterprise_id)
    await _retire_old_hours(enterprise_id, ranges, frozen, zone, now)
    try:
        for kind in _KINDS:
            periods = _periods(kind, ranges, zone, now)
            kept = [p for p in periods if year_of(p[0], zone) not in frozen]
            for batch in _batches(kept):
                results = await calculation.account_and_store(
                    principal, enterprise, kind, batch, reason=reason, now=now
                )
                report.periods += len(batch)
                report.new_versions += sum(1 for r in results if r.created_at >= now)
            if kind is PeriodKind.YEAR:
                for lo, hi in periods:
                    if (year := year_of(lo, zone)) in frozen:
                        await reporting.record_drift(enterprise, year, (lo, hi), causes, now)
                        report.frozen_years.append(f"{enterprise.code}/{year}")
    except calculation.NoSourceInventoryError:
        pass  # nothing to account until the enterprise has sources (creating one marks its history)
    except AccountingError as err:
        # The inputs cannot be accounted as they are (e.g. a unit that does not convert): the marks keep the
        # reason, reads show it, and the range waits for the next change of inputs.
        report.errors[enterprise_id] = err.message
        await taken.update(error=err.message[:2000])
        log.warning(
            "emission results could not be refreshed", extra={"enterprise": enterprise.code, "error": err.message}
        )
        return
    # What lies ahead of now is not accounted yet: such a mark keeps its part from this hour on.
    hour, _ = period_of(PeriodKind.HOUR, now, zone)
    await taken.filter(range_end__gt=now).update(range_start=hour)
    await taken.filter(range_end__lte=now).delete()
