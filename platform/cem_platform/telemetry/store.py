"""Raw readings in and out: the one place that knows how each database stores a time series.

PostgreSQL: readings go in as arrays (``unnest``) in one statement per write, which inserts the new ones
(``ON CONFLICT DO NOTHING`` on the natural key (point, ts)), appends them to ``ts_pending`` for the rollups
and returns them; monthly partitions are created on first use. SQLite (demo): the same contract through
Tortoise's connection, times as integer milliseconds.

A write is one transaction: either every new reading of it is stored *and* queued for the rollups, or
nothing is. That is what lets ingest acknowledge a message only after it returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

__all__ = [
    "Batch",
    "Row",
    "TimeSeriesStore",
    "dt_to_ms",
    "month_start",
    "ms_to_dt",
    "partition_name",
    "store_for",
]

UTC = dt.UTC


def ms_to_dt(ms: int) -> dt.datetime:
    """Milliseconds since 1970 UTC as an aware datetime."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=UTC)


def dt_to_ms(value: dt.datetime) -> int:
    """An aware datetime as milliseconds since 1970 UTC."""
    return int(round(value.timestamp() * 1000))


def month_start(value: dt.datetime | dt.date) -> dt.date:
    """The first day of the (UTC) month of ``value``."""
    return dt.date(value.year, value.month, 1)


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def partition_name(table: str, start: dt.date) -> str:
    """``ts_reading_202611`` (monthly) or ``ts_rollup_hour_2026`` (yearly)."""
    return f"{table}_{start:%Y%m}" if table == "ts_reading" else f"{table}_{start:%Y}"


@dataclass(slots=True)  # not frozen: ingest builds one per reading and frozen ones cost 2.5x as much to make
class Row:
    """One reading as stored: point id, times in ms UTC, quality code (0 good, 1 uncertain), flag bits."""

    point_id: int
    ts: int
    value: float
    delta: float | None = None
    since: int | None = None
    quality: int = 0
    estimated: bool = False
    flags: int = 0
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Batch:
    """The readings of one telemetry message, and where and when it came from."""

    device_id: str
    sent_at: int  # ms, the gateway's clock
    received_at: int  # ms
    rows: Sequence[Row]
    rejected: int = 0  # readings of the message refused before storage (see the dead letters)


class TimeSeriesStore:
    """Raw readings of one database connection (Tortoise's ``default`` unless given)."""

    def __init__(self, client: BaseDBAsyncClient) -> None:
        self.client = client
        self.dialect: str = client.capabilities.dialect
        self._partitions: set[str] = set()

    # --- writing -----------------------------------------------------------------------------------------

    async def write(self, batches: Sequence[Batch]) -> list[list[Row]]:
        """Store every reading once and return, per batch, the readings that were new.

        A reading already stored (same point and ts: a resend after a lost acknowledgement, a broker
        redelivery, a gateway's catch-up) is skipped; within one call the first batch holding it gets it.
        One ``ts_batch`` row per batch records how many readings were new and how many were duplicates.
        """
        rows = [row for batch in batches for row in batch.rows]
        if self.dialect == "postgres":
            await self.ensure_partitions_for(row.ts for row in rows)
        async with in_transaction(self.client.connection_name) as tx:
            if self.dialect == "postgres":
                fresh = await self._insert_postgres(tx, rows)
            else:
                fresh = await self._insert_sqlite(tx, rows)
            per_batch: list[list[Row]] = []
            for batch in batches:
                mine = []
                for row in batch.rows:
                    key = (row.point_id, row.ts)
                    if key in fresh:
                        fresh.discard(key)
                        mine.append(row)
                per_batch.append(mine)
            records = [
                [
                    batch.device_id,
                    min((r.seq for r in batch.rows), default=0),
                    max((r.seq for r in batch.rows), default=0),
                    len(batch.rows),
                    len(mine),
                    len(batch.rows) - len(mine),
                    batch.rejected,
                    self._time(batch.sent_at),
                    self._time(batch.received_at),
                ]
                for batch, mine in zip(batches, per_batch, strict=True)
            ]
            if records:
                columns = "device_id, first_seq, last_seq, readings, stored, duplicates, rejected, sent_at, received_at"
                statement = f"INSERT INTO ts_batch ({columns}) VALUES ({self._placeholders(9)}) ON CONFLICT DO NOTHING"  # noqa: S608
                await tx.execute_many(statement, records)
        return per_batch

    def _time(self, ms: int) -> Any:
        return ms_to_dt(ms) if self.dialect == "postgres" else ms

    def _placeholders(self, count: int) -> str:
        if self.dialect == "postgres":
            return ", ".join(f"${i}" for i in range(1, count + 1))
        return ", ".join("?" for _ in range(count))

    async def _insert_postgres(self, tx: BaseDBAsyncClient, rows: Sequence[Row]) -> set[tuple[int, int]]:
        """Insert, and return the (point, ts) keys that were new. Times travel as integer ms (converted by
        PostgreSQL), and only the keys come back: the caller already holds the rows."""
        if not rows:
            return set()
        columns: list[list[Any]] = [[] for _ in range(9)]
        for row in rows:
            columns[0].append(row.point_id)
            columns[1].append(row.ts)
            columns[2].append(row.value)
            columns[3].append(row.delta)
            columns[4].append(row.since)
            columns[5].append(row.quality)
            columns[6].append(row.estimated)
            columns[7].append(row.flags)
            columns[8].append(row.seq)
        _, records = await tx.execute_query(_PG_WRITE, columns)
        return {(r[0], r[1]) for r in records}

    async def _insert_sqlite(self, tx: BaseDBAsyncClient, rows: Sequence[Row]) -> set[tuple[int, int]]:
        existing: set[tuple[int, int]] = set()
        keys = sorted({(row.point_id, row.ts) for row in rows})
        for chunk in _chunks(keys, 400):  # SQLite limits bound parameters per statement
            where = " OR ".join("(point_id = ? AND ts = ?)" for _ in chunk)
            found = await tx.execute_query_dict(
                f"SELECT point_id, ts FROM ts_reading WHERE {where}",  # noqa: S608 - placeholders only
                [value for key in chunk for value in key],
            )
            existing.update((r["point_id"], r["ts"]) for r in found)
        new: list[Row] = []
        for row in rows:
            key = (row.point_id, row.ts)
            if key not in existing:
                existing.add(key)
                new.append(row)
        if new:
            await tx.execute_many(
                "INSERT INTO ts_reading (point_id, ts, value, delta, since, quality, estimated, flags, seq)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[r.point_id, r.ts, r.value, r.delta, r.since, r.quality, r.estimated, r.flags, r.seq] for r in new],
            )
            await tx.execute_many(
                "INSERT INTO ts_pending (point_id, ts, value, delta, quality, estimated) VALUES (?, ?, ?, ?, ?, ?)",
                [[r.point_id, r.ts, r.value, r.delta, r.quality, r.estimated] for r in new],
            )
        return {(r.point_id, r.ts) for r in new}

    # --- partitions (PostgreSQL) ---------------------------------------------------------------------------

    async def ensure_partitions_for(self, timestamps_ms: Iterable[int]) -> None:
        """Create the monthly (raw) and yearly (hourly rollup) partitions these readings fall in, if missing."""
        stamps = list(timestamps_ms)
        if not stamps:
            return
        month, last = month_start(ms_to_dt(min(stamps))), month_start(ms_to_dt(max(stamps)))
        months = [month]
        while month < last:  # every month from the oldest reading's to the newest's (usually just one)
            month = _next_month(month)
            months.append(month)
        for month in months:
            await self.ensure_partition("ts_reading", month)
            await self.ensure_partition("ts_rollup_hour", dt.date(month.year, 1, 1))

    async def ensure_partition(self, table: str, start: dt.date) -> bool:
        """Create one partition (``ts_reading``: the month of ``start``; ``ts_rollup_hour``: its year).

        Returns True when it was created now. Safe when several processes race for the same partition.
        """
        if self.dialect != "postgres":
            return False
        name = partition_name(table, start)
        if name in self._partitions:
            return False
        end = _next_month(start) if table == "ts_reading" else dt.date(start.year + 1, 1, 1)
        exists = await self.client.execute_query_dict("SELECT to_regclass($1) IS NOT NULL AS present", [name])
        created = False
        if not exists[0]["present"]:
            try:
                await self.client.execute_script(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                    f"FOR VALUES FROM ('{start.isoformat()} 00:00:00+00') TO ('{end.isoformat()} 00:00:00+00')"
                )
                created = True
            except Exception as err:  # another process created it between our check and our statement
                if "already exists" not in str(err):
                    raise
        self._partitions.add(name)
        return created

    async def partitions(self, table: str) -> list[str]:
        """The partitions of ``table`` that exist now, oldest first (PostgreSQL; empty on SQLite)."""
        if self.dialect != "postgres":
            return []
        rows = await self.client.execute_query_dict(
            "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = $1 ORDER BY c.relname",
            [table],
        )
        return [row["name"] for row in rows]

    def forget_partition(self, name: str) -> None:
        """Drop ``name`` from this process's cache (after the retention job dropped the table)."""
        self._partitions.discard(name)


_PG_WRITE = """
WITH incoming AS (
    SELECT * FROM unnest($1::int4[], $2::int8[], $3::float8[], $4::float8[], $5::int8[],
                         $6::int2[], $7::bool[], $8::int2[], $9::int8[])
        AS t(point_id, ts_ms, value, delta, since_ms, quality, estimated, flags, seq)
), inserted AS (
    INSERT INTO ts_reading (point_id, ts, value, delta, since, quality, estimated, flags, seq)
    SELECT point_id, to_timestamp(ts_ms / 1000.0), value, delta, to_timestamp(since_ms / 1000.0), quality,
           estimated, flags, seq
    FROM incoming
    ON CONFLICT (point_id, ts) DO NOTHING
    RETURNING point_id, ts, value, delta, quality, estimated
), pending AS (
    INSERT INTO ts_pending (point_id, ts, value, delta, quality, estimated)
    SELECT point_id, ts, value, delta, quality, estimated FROM inserted
)
SELECT point_id, (extract(epoch FROM ts) * 1000)::int8 AS ts_ms FROM inserted
"""


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def store_for(client: BaseDBAsyncClient | None = None) -> TimeSeriesStore:
    """The store on ``client`` (Tortoise's ``default`` connection when None)."""
    return TimeSeriesStore(client or connections.get("default"))
