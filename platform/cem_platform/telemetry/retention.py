"""Partition maintenance and retention of the time series (standard 5.2.3.2: data kept five years or more).

``maintain`` runs hourly (Celery beat, or the demo's in-process scheduler). On PostgreSQL it creates the raw
partitions of this month and the ``partitions_ahead_months`` after it, and the hourly-rollup partitions of this
year and the next, so that ingest never waits on DDL at a month's turn. It drops a raw partition once its whole
month lies more than ``raw_retention_days`` in the past, and an hourly-rollup partition once its whole year lies
more than ``rollup_retention_years`` in the past; day and month rollups and batch records are deleted by row.
SQLite (demo) deletes the same rows by ``DELETE``.

Rollups are never removed before five years, whatever the settings say. A drop waits at most a few seconds for
its lock: when queries keep the table busy it is left for the next run (and reported as skipped).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from tortoise.transactions import in_transaction

from cem_platform.settings import Settings
from cem_platform.telemetry.store import TimeSeriesStore, dt_to_ms, store_for

__all__ = ["MIN_ROLLUP_YEARS", "MaintenanceReport", "maintain", "raw_cutoff", "rollup_cutoff"]

log = logging.getLogger("cem.timeseries")
MIN_ROLLUP_YEARS = 5  # standard 5.2.3.2
LOCK_TIMEOUT = "5s"


@dataclass(slots=True)
class MaintenanceReport:
    """What one maintenance run changed."""

    created: list[str] = field(default_factory=list)  # partitions created
    dropped: list[str] = field(default_factory=list)  # partitions dropped
    skipped: list[str] = field(default_factory=list)  # partitions due to be dropped, left for the next run (busy)
    deleted: dict[str, int] = field(default_factory=dict)  # rows deleted, per table


def _month_start(day: dt.date) -> dt.date:
    return dt.date(day.year, day.month, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _years_before(moment: dt.datetime, years: int) -> dt.datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def raw_cutoff(settings: Settings, now: dt.datetime) -> dt.datetime:
    """Raw readings (and batch records) older than this are past retention."""
    return now - dt.timedelta(days=settings.timeseries.raw_retention_days)


def rollup_cutoff(settings: Settings, now: dt.datetime) -> dt.datetime:
    """Rollups older than this are past retention (never less than five years before ``now``)."""
    return _years_before(now, max(MIN_ROLLUP_YEARS, settings.timeseries.rollup_retention_years))


async def maintain(settings: Settings, now: dt.datetime | None = None) -> MaintenanceReport:
    """Create partitions ahead and remove what is past retention; returns what was done."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    store = store_for()
    report = MaintenanceReport()
    raw_before = raw_cutoff(settings, now)
    rollup_before = rollup_cutoff(settings, now)
    if store.dialect == "postgres":
        await _create_ahead(store, settings, now, report)
        await _drop_partitions(store, raw_before, rollup_before, report)
        await _delete_rows_postgres(store, raw_before, rollup_before, report)
    else:
        await _delete_rows_sqlite(store, raw_before, rollup_before, report)
    if report.created or report.dropped or report.skipped or any(report.deleted.values()):
        log.info(
            "time-series maintenance",
            extra={
                "created": report.created,
                "dropped": report.dropped,
                "skipped": report.skipped,
                "deleted": report.deleted,
            },
        )
    return report


async def _create_ahead(
    store: TimeSeriesStore, settings: Settings, now: dt.datetime, report: MaintenanceReport
) -> None:
    this_month = _month_start(now.date())
    for ahead in range(settings.timeseries.partitions_ahead_months + 1):
        month = _add_months(this_month, ahead)
        if await store.ensure_partition("ts_reading", month):
            report.created.append(f"ts_reading_{month:%Y%m}")
    for year in (now.year, now.year + 1):
        if await store.ensure_partition("ts_rollup_hour", dt.date(year, 1, 1)):
            report.created.append(f"ts_rollup_hour_{year}")


def _partition_end(table: str, name: str) -> dt.datetime | None:
    """When the range of partition ``name`` ends (None for a name this module did not make)."""
    suffix = name.removeprefix(f"{table}_")
    try:
        if table == "ts_reading" and len(suffix) == 6:
            end = _add_months(dt.date(int(suffix[:4]), int(suffix[4:]), 1), 1)
        elif table == "ts_rollup_hour" and len(suffix) == 4:
            end = dt.date(int(suffix) + 1, 1, 1)
        else:
            return None
    except ValueError:
        return None
    return dt.datetime.combine(end, dt.time(), tzinfo=dt.UTC)


async def _drop_partitions(
    store: TimeSeriesStore, raw_before: dt.datetime, rollup_before: dt.datetime, report: MaintenanceReport
) -> None:
    for table, before in (("ts_reading", raw_before), ("ts_rollup_hour", rollup_before)):
        for name in await store.partitions(table):
            end = _partition_end(table, name)
            if end is None or end > before:
                continue
            try:
                async with in_transaction(store.client.connection_name) as tx:
                    # Dropping a partition locks its parent: wait a little for running queries, never queue
                    # every reader behind us for long.
                    await tx.execute_script(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                    await tx.execute_script(f'DROP TABLE IF EXISTS "{name}"')
            except Exception as err:
                if "lock timeout" not in str(err) and "canceling statement" not in str(err):
                    raise
                log.warning("partition %s is busy: it will be dropped next run", name)
                report.skipped.append(name)
                continue
            store.forget_partition(name)
            report.dropped.append(name)


async def _delete_rows_postgres(
    store: TimeSeriesStore, raw_before: dt.datetime, rollup_before: dt.datetime, report: MaintenanceReport
) -> None:
    # A day or month bucket goes only when it ended before the cut-off, in any time zone: one day of margin.
    last_day = rollup_before.date() - dt.timedelta(days=1)
    statements = {
        "ts_rollup_day": ("DELETE FROM ts_rollup_day WHERE bucket < $1", last_day),
        "ts_rollup_month": ("DELETE FROM ts_rollup_month WHERE bucket < $1", _month_start(last_day)),
        "ts_batch": ("DELETE FROM ts_batch WHERE received_at < $1", raw_before),
    }
    for table, (sql, cutoff) in statements.items():
        count, _ = await store.client.execute_query(sql, [cutoff])
        report.deleted[table] = count


async def _delete_rows_sqlite(
    store: TimeSeriesStore, raw_before: dt.datetime, rollup_before: dt.datetime, report: MaintenanceReport
) -> None:
    # The same cut-offs as the partitions on PostgreSQL: whole raw months, whole years of hourly rollups.
    raw_from = dt.datetime.combine(_month_start(raw_before.date()), dt.time(), tzinfo=dt.UTC)
    hours_from = dt.datetime(rollup_before.year, 1, 1, tzinfo=dt.UTC)
    last_day = rollup_before.date() - dt.timedelta(days=1)
    statements: dict[str, tuple[str, object]] = {
        "ts_reading": ("DELETE FROM ts_reading WHERE ts < ?", dt_to_ms(raw_from)),
        "ts_rollup_hour": ("DELETE FROM ts_rollup_hour WHERE bucket < ?", dt_to_ms(hours_from)),
        "ts_rollup_day": ("DELETE FROM ts_rollup_day WHERE bucket < ?", last_day.isoformat()),
        "ts_rollup_month": ("DELETE FROM ts_rollup_month WHERE bucket < ?", _month_start(last_day).isoformat()),
        "ts_batch": ("DELETE FROM ts_batch WHERE received_at < ?", dt_to_ms(raw_before)),
    }
    async with in_transaction(store.client.connection_name) as tx:
        for table, (sql, cutoff) in statements.items():
            count, _ = await tx.execute_query(sql, [cutoff])
            report.deleted[table] = count
