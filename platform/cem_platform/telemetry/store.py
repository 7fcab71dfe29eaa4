"""Raw readings in and out: the one place that knows how each database stores a time series.

PostgreSQL: readings go in as arrays (``unnest``) in one statement per write, which inserts the new ones
(``ON CONFLICT DO NOTHING`` on the natural key (point, ts)), appends them to ``ts_pending`` for the rollups
and returns them; monthly partitions are created on first use. SQLite (demo): the same contract through
Tortoise's connection, times as integer milliseconds.

A write is one transaction: either every new reading of it is stored *and* queued for the rollups, or
nothing is. That is what lets ingest acknowledge a message only after it returns.

What is stored once, and what is refused (:meth:`TimeSeriesStore.write_checked`, ingest's write):

- a (point, ts) already stored with the same value is a duplicate (a resend, a redelivery): counted, not stored;
- with another value, or another ``delta`` where both carry one, it is refused as ``value_conflict``: the stored
  reading stays exactly as it was, and the refusal says both values (ingest keeps it as a dead letter and raises
  a data alarm). A missing ``delta`` on either side is no conflict: a gateway sends none after a restart;
- a new (point, ts) whose (device, seq) was already used is refused as ``seq_reused``: ``seq`` never repeats
  (see :mod:`cem_gateway.wire`), so the reading is not what that number stood for. "Already used" means the seq
  lies in the [first, last] range of a message of that device recorded in ``ts_batch`` (a message is a run of
  the gateway's buffer), or was taken by another reading of the same write.

A (point, ts) already stored is judged by its value and not by its seq: ``ts_reading`` keeps no device, so a
stored seq could be another terminal's number for the same meter (a point moved to a new gateway).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

__all__ = [
    "Batch",
    "Refused",
    "Row",
    "TimeSeriesStore",
    "Written",
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


@dataclass(frozen=True, slots=True)
class Refused:
    """A reading the store refused: its place in ``Batch.rows``, why, and what is stored at its (point, ts)."""

    row: int
    reason: str  # value_conflict or seq_reused
    stored_value: float | None = None  # value_conflict: what stays stored
    stored_delta: float | None = None


@dataclass(slots=True)
class Written:
    """What became of one batch's readings: the new ones, those refused; the rest were duplicates."""

    new: list[Row] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    duplicates: int = 0


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
        redelivery, a gateway's catch-up) is skipped; within one call the first batch holding it gets it; one with
        another value is not stored either (see :meth:`write_checked`). Sequence numbers are not checked: this is
        the write of loaders and tests, whose rows need not carry a gateway's numbers.
        """
        return [written.new for written in await self.write_checked(batches, check_seq=False)]

    async def write_checked(self, batches: Sequence[Batch], *, check_seq: bool = True) -> list[Written]:
        """Store every reading once; return, per batch, the new readings and the refused ones (module docstring).

        One ``ts_batch`` row per batch records its seq range and how many readings were new, duplicates, or
        refused (``rejected`` counts those refused before storage too). The cost for live data, where nothing
        was seen before, is one indexed look-up of the devices' stored ranges per call (it finds none); the
        stored values are read only for readings that turn out not to be new.
        """
        rows = [row for batch in batches for row in batch.rows]
        if self.dialect == "postgres":
            await self.ensure_partitions_for(row.ts for row in rows)
        results = [Written() for _ in batches]
        async with in_transaction(self.client.connection_name) as tx:
            used = await self._stored_ranges(tx, batches) if check_seq and rows else {}
            plan = _Plan(batches, results, used, check_seq)
            suspects = plan.suspects() if self.dialect == "postgres" else plan.all_keys()
            plan.stored.update(await self._stored_values(tx, suspects))
            plan.sort()
            inserted = await self._insert(tx, plan.insert)
            missed = [key for key in plan.taken if key not in inserted]
            if missed:  # stored meanwhile by another ingest process, or (PostgreSQL) before: judge by value
                plan.stored.update(await self._stored_values(tx, missed))
            plan.finish(inserted)
            records = [
                [
                    batch.device_id,
                    min((r.seq for r in batch.rows), default=0),
                    max((r.seq for r in batch.rows), default=0),
                    len(batch.rows),
                    len(written.new),
                    written.duplicates,
                    batch.rejected + len(written.refused),
                    self._time(batch.sent_at),
                    self._time(batch.received_at),
                ]
                for batch, written in zip(batches, results, strict=True)
            ]
            if records:
                columns = "device_id, first_seq, last_seq, readings, stored, duplicates, rejected, sent_at, received_at"
                # Two messages of a device with the same first seq received in the same millisecond (a resend
                # beside its original) share a key: their counts add up, so that none goes uncounted.
                statement = (
                    f"INSERT INTO ts_batch ({columns}) VALUES ({self._placeholders(9)})"  # noqa: S608
                    " ON CONFLICT (device_id, first_seq, received_at) DO UPDATE SET"
                    " last_seq = CASE WHEN excluded.last_seq > ts_batch.last_seq"
                    " THEN excluded.last_seq ELSE ts_batch.last_seq END,"
                    " readings = ts_batch.readings + excluded.readings, stored = ts_batch.stored + excluded.stored,"
                    " duplicates = ts_batch.duplicates + excluded.duplicates,"
                    " rejected = ts_batch.rejected + excluded.rejected"
                )
                await tx.execute_many(statement, records)
        return results

    async def _stored_ranges(self, tx: BaseDBAsyncClient, batches: Sequence[Batch]) -> dict[str, list[tuple[int, int]]]:
        """The seq ranges of stored messages, per device, that overlap the seqs of ``batches`` (one statement on
        PostgreSQL; SQLite in chunks). A message all of whose readings were refused before storage has no range."""
        spans: dict[str, list[int]] = {}
        for batch in batches:
            if batch.rows:
                low, high = min(r.seq for r in batch.rows), max(r.seq for r in batch.rows)
                span = spans.setdefault(batch.device_id, [low, high])
                span[0], span[1] = min(span[0], low), max(span[1], high)
        found: set[tuple[str, int, int]] = set()
        if self.dialect == "postgres":
            devices = list(spans)
            _, records = await tx.execute_query(
                _PG_RANGES, [devices, [spans[d][0] for d in devices], [spans[d][1] for d in devices]]
            )
            found.update((r[0], r[1], r[2]) for r in records)
        else:
            for chunk in _chunks(list(spans.items()), 300):
                where = " OR ".join("(device_id = ? AND last_seq >= ? AND first_seq <= ?)" for _ in chunk)
                records = await tx.execute_query_dict(
                    f"SELECT device_id, first_seq, last_seq FROM ts_batch WHERE readings > 0 AND ({where})",  # noqa: S608 - placeholders only
                    [value for device, (low, high) in chunk for value in (device, low, high)],
                )
                found.update((r["device_id"], r["first_seq"], r["last_seq"]) for r in records)
        ranges: dict[str, list[tuple[int, int]]] = {}
        for device, first, last in sorted(found):  # merged into disjoint ranges, in order, for a bisection
            merged = ranges.setdefault(device, [])
            if merged and first <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], last))
            else:
                merged.append((first, last))
        return ranges

    async def _stored_values(
        self, tx: BaseDBAsyncClient, keys: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[float, float | None]]:
        """Value and delta of the stored readings among ``keys`` (point, ts ms)."""
        if not keys:
            return {}
        if self.dialect == "postgres":
            _, records = await tx.execute_query(_PG_STORED, [[k[0] for k in keys], [k[1] for k in keys]])
            return {(r[0], r[1]): (r[2], r[3]) for r in records}
        stored: dict[tuple[int, int], tuple[float, float | None]] = {}
        for chunk in _chunks(sorted(set(keys)), 400):  # SQLite limits bound parameters per statement
            where = " OR ".join("(point_id = ? AND ts = ?)" for _ in chunk)
            found = await tx.execute_query_dict(
                f"SELECT point_id, ts, value, delta FROM ts_reading WHERE {where}",  # noqa: S608 - placeholders only
                [value for key in chunk for value in key],
            )
            stored.update({(r["point_id"], r["ts"]): (r["value"], r["delta"]) for r in found})
        return stored

    async def _insert(self, tx: BaseDBAsyncClient, rows: Sequence[Row]) -> set[tuple[int, int]]:
        """Insert rows of distinct (point, ts) and return the keys that were new."""
        if not rows:
            return set()
        if self.dialect == "postgres":
            return await self._insert_postgres(tx, rows)
        return await self._insert_sqlite(tx, rows)

    def _time(self, ms: int) -> Any:
        return ms_to_dt(ms) if self.dialect == "postgres" else ms

    def _placeholders(self, count: int) -> str:
        if self.dialect == "postgres":
            return ", ".join(f"${i}" for i in range(1, count + 1))
        return ", ".join("?" for _ in range(count))

    async def _insert_postgres(self, tx: BaseDBAsyncClient, rows: Sequence[Row]) -> set[tuple[int, int]]:
        """Insert, and return the (point, ts) keys that were new. Times travel as integer ms (converted by
        PostgreSQL), and only the keys come back: the caller already holds the rows."""
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
        # The plan looked every key up in this transaction (SQLite has one writer at a time): all of them are new.
        await tx.execute_many(
            "INSERT INTO ts_reading (point_id, ts, value, delta, since, quality, estimated, flags, seq)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[r.point_id, r.ts, r.value, r.delta, r.since, r.quality, r.estimated, r.flags, r.seq] for r in rows],
        )
        await tx.execute_many(
            "INSERT INTO ts_pending (point_id, ts, value, delta, quality, estimated) VALUES (?, ?, ?, ?, ?, ?)",
            [[r.point_id, r.ts, r.value, r.delta, r.quality, r.estimated] for r in rows],
        )
        return {(r.point_id, r.ts) for r in rows}

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


# The stored message ranges of each device that overlap the seqs being written: ``ts_batch_device_seq``
# (device_id, last_seq) finds them from the lowest seq up; for live data there are none.
_PG_RANGES = """
SELECT b.device_id, b.first_seq, b.last_seq
FROM unnest($1::text[], $2::int8[], $3::int8[]) AS s(device_id, low, high)
JOIN ts_batch b ON b.device_id = s.device_id AND b.last_seq >= s.low AND b.first_seq <= s.high
WHERE b.readings > 0
"""

_PG_STORED = """
SELECT r.point_id, (extract(epoch FROM r.ts) * 1000)::int8 AS ts_ms, r.value, r.delta
FROM unnest($1::int4[], $2::int8[]) AS k(point_id, ts_ms)
JOIN ts_reading r ON r.point_id = k.point_id AND r.ts = to_timestamp(k.ts_ms / 1000.0)
"""


class _Plan:
    """Which readings of one write go in, which are duplicates and which are refused (see the module docstring).

    In order: a (point, ts) taken earlier in this write or already stored is judged by value against it; else a
    seq already used (a stored range of the device, or an earlier reading of this write) is ``seq_reused``; else
    the reading goes in. What the insert does not take (PostgreSQL: stored before, or meanwhile by another
    process) is judged by value once its stored value is read.
    """

    def __init__(
        self,
        batches: Sequence[Batch],
        results: list[Written],
        used: dict[str, list[tuple[int, int]]],
        check_seq: bool,
    ) -> None:
        self.batches = batches
        self.results = results
        self.used = {
            device: ([first for first, _ in ranges], [last for _, last in ranges]) for device, ranges in used.items()
        }
        self.check_seq = check_seq
        self.stored: dict[tuple[int, int], tuple[float, float | None]] = {}
        self.taken: dict[tuple[int, int], Row] = {}  # the first reading of each (point, ts) sent to the insert
        self.insert: list[Row] = []
        self._placed: list[tuple[Written, int]] = []  # where each reading of ``insert`` came from
        self._later: list[tuple[Written, int, Row]] = []  # a (point, ts) taken earlier in this write
        self._in_range: set[tuple[int, int]] = set()  # (batch, row) whose seq lies in a stored range

    def suspects(self) -> list[tuple[int, int]]:
        """The keys of readings whose seq lies in a stored range of their device: looked up before the insert,
        since a new (point, ts) among them must not go in."""
        keys = []
        for b, batch in enumerate(self.batches):
            ranges = self.used.get(batch.device_id)
            if ranges is None:
                continue
            firsts, lasts = ranges
            for r, row in enumerate(batch.rows):
                at = bisect.bisect_right(firsts, row.seq) - 1  # the last range starting at or before seq
                if at >= 0 and row.seq <= lasts[at]:
                    self._in_range.add((b, r))
                    keys.append((row.point_id, row.ts))
        return keys

    def all_keys(self) -> list[tuple[int, int]]:
        """Every key (SQLite: one writer at a time, so this look-up replaces the insert's conflict check)."""
        self.suspects()
        return [(row.point_id, row.ts) for batch in self.batches for row in batch.rows]

    def sort(self) -> None:
        """Decide, in order, what goes to the insert; judge what is already settled."""
        taken, stored, insert, placed = self.taken, self.stored, self.insert, self._placed
        in_range = self._in_range
        track = self.check_seq and _seqs_may_repeat(self.batches)
        seqs: dict[tuple[str, int], tuple[int, int]] = {}
        for b, batch in enumerate(self.batches):
            result = self.results[b]
            for r, row in enumerate(batch.rows):
                key = (row.point_id, row.ts)
                if key in taken:
                    self._later.append((result, r, row))
                elif key in stored:
                    _judge(result, r, row, stored[key])
                elif (in_range and (b, r) in in_range) or (
                    track and seqs.setdefault((batch.device_id, row.seq), key) != key
                ):
                    result.refused.append(Refused(r, "seq_reused"))
                else:
                    taken[key] = row
                    insert.append(row)
                    placed.append((result, r))

    def finish(self, inserted: set[tuple[int, int]]) -> None:
        """File the inserted readings as new and judge the rest by the values now known."""
        for row, (result, r) in zip(self.insert, self._placed, strict=True):
            key = (row.point_id, row.ts)
            if key in inserted:
                result.new.append(row)
            else:
                _judge(result, r, row, self.stored.get(key))
        for result, r, row in self._later:
            key = (row.point_id, row.ts)
            first = self.taken[key]
            _judge(result, r, row, (first.value, first.delta) if key in inserted else self.stored.get(key))
        if self._later or self._in_range:  # refusals were filed out of order
            for result in self.results:
                result.refused.sort(key=lambda x: x.row)


def _judge(result: Written, index: int, row: Row, stored: tuple[float, float | None] | None) -> None:
    """A duplicate of what is stored, or a ``value_conflict``. Floats compare exactly: what PostgreSQL and SQLite
    store is the same float8 that was sent. A missing delta on either side is no conflict."""
    if stored is None:  # gone since the insert skipped it (retention): nothing to disagree with
        result.duplicates += 1
        return
    value, delta = stored
    if row.value == value and (row.delta is None or delta is None or row.delta == delta):
        result.duplicates += 1
    else:
        result.refused.append(Refused(index, "value_conflict", value, delta))


def _seqs_may_repeat(batches: Sequence[Batch]) -> bool:
    """Could two readings of one write carry the same (device, seq)? Only if a batch repeats a seq or two batches
    of a device overlap: a gateway's message is a run of increasing numbers, so live data skips the bookkeeping."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for batch in batches:
        if not batch.rows:
            continue
        previous = -1
        for row in batch.rows:
            if row.seq <= previous:
                return True
            previous = row.seq
        spans.setdefault(batch.device_id, []).append((batch.rows[0].seq, previous))
    for ranges in spans.values():
        ranges.sort()
        if any(ranges[i][0] <= ranges[i - 1][1] for i in range(1, len(ranges))):
            return True
    return False


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def store_for(client: BaseDBAsyncClient | None = None) -> TimeSeriesStore:
    """The store on ``client`` (Tortoise's ``default`` connection when None)."""
    return TimeSeriesStore(client or connections.get("default"))
