"""Store-and-forward (standard 5.1.5.3, 5.2.2.3): every reading is on disk before it is sent.

One SQLite file in WAL mode with ``synchronous=FULL``: a committed reading survives a killed process
and a power cut. A reading gets its sequence number when it is stored (``AUTOINCREMENT``, so numbers
never repeat, even after the buffer was emptied and the gateway restarted) and leaves the buffer only
when the platform has confirmed that it committed the message that carried it (not on the broker's PUBACK).

When the buffer is full (``buffer_max_readings``) or the disk is nearly full (``buffer_min_free_mb``)
the declared policy decides: ``drop_oldest`` evicts the oldest readings to make room, ``drop_newest``
refuses the new ones. Either way the count is kept and the status carries a ``buffer_full`` alarm;
nothing is lost silently.

All calls run on one worker thread, so the event loop never waits for a disk flush.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from cem_gateway.pointmap import Evict
from cem_gateway.quality import Sample
from cem_gateway.wire import BufferState, Reading

__all__ = ["Buffer", "BufferFullError", "Stored"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reading (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS point_state (point TEXT PRIMARY KEY, ts INTEGER NOT NULL, value REAL NOT NULL);
"""
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(tuple[str, int, float, str, str, bool, tuple[str, ...], float | None, int | None])


class BufferFullError(RuntimeError):
    """The buffer could not take readings even after applying its eviction policy."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What `Buffer.append` did."""

    first_seq: int | None
    last_seq: int | None
    stored: int
    evicted: int
    refused: int


class Buffer:
    """The durable local buffer of one gateway."""

    def __init__(
        self, path: Path, *, max_readings: int = 2_000_000, min_free_mb: int = 64, evict: Evict = "drop_oldest"
    ) -> None:
        self.path, self.max_readings, self.min_free_mb, self.policy = path, max_readings, min_free_mb, evict
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cem-buffer")
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.depth = 0
        self.evicted = 0  # readings evicted or refused since the buffer was opened, plus earlier (kept in meta)
        self.full_since: float | None = None
        self.last_seq = 0
        self.point_states: dict[str, tuple[int, float]] = {}
        self.appended = asyncio.Event()

    # ------------------------------------------------------------------------------------------- plumbing
    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            with self._lock:
                assert self._db is not None, "the buffer is not open"  # noqa: S101 - programming error
                return work(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        """Open (or create) the file and recover the depth and the counters."""
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def connect() -> None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            self._db = db
            self.depth = db.execute("SELECT count(*) FROM reading").fetchone()[0]
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'reading'").fetchone()
            self.last_seq = row[0] if row else 0
            evicted = db.execute("SELECT value FROM meta WHERE key = 'evicted'").fetchone()
            self.evicted = int(evicted[0]) if evicted else 0
            self.point_states = {p: (ts, v) for p, ts, v in db.execute("SELECT point, ts, value FROM point_state")}

        await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def close(self) -> None:
        """Close the file (everything committed is already on disk)."""

        def close() -> None:
            with self._lock:
                if self._db is not None:
                    self._db.close()
                    self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)

    # ------------------------------------------------------------------------------------------- writing
    def _disk_low(self) -> bool:
        if not self.min_free_mb:
            return False
        return shutil.disk_usage(self.path.parent).free < self.min_free_mb * 1024 * 1024

    def _evict_oldest(self, db: sqlite3.Connection, count: int) -> int:
        cursor = db.execute(
            "DELETE FROM reading WHERE seq IN (SELECT seq FROM reading ORDER BY seq LIMIT ?)", (max(count, 0),)
        )
        return cursor.rowcount

    def _count_evicted(self, db: sqlite3.Connection, count: int) -> None:
        if count:
            self.evicted += count
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('evicted', ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(self.evicted),),
            )

    async def append(self, samples: Sequence[Sample]) -> Stored:
        """Store readings in one transaction, applying the eviction policy if there is no room."""
        if not samples:
            return Stored(None, None, 0, 0, 0)
        rows = [
            (
                sample.ts,
                _encoder.encode(
                    (
                        sample.point,
                        sample.ts,
                        sample.value,
                        sample.unit,
                        sample.quality,
                        sample.estimated,
                        sample.flags,
                        sample.delta,
                        sample.since,
                    )
                ),
            )
            for sample in samples
        ]

        def write(db: sqlite3.Connection) -> Stored:
            evicted = refused = 0
            todo = rows
            overflow = self.depth + len(todo) - self.max_readings
            low = self._disk_low()
            if overflow > 0 or low:
                self.full_since = self.full_since or time.time()
                if self.policy == "drop_newest":
                    keep = 0 if low else max(len(todo) - overflow, 0)
                    refused, todo = len(todo) - keep, todo[:keep]
            elif self.full_since is not None:
                self.full_since = None
            db.execute("BEGIN IMMEDIATE")
            try:
                if self.policy == "drop_oldest" and (overflow > 0 or low):
                    evicted = self._evict_oldest(db, max(overflow, len(todo) if low else 0))
                first = last = None
                for ts, body in todo:
                    cursor = db.execute("INSERT INTO reading(ts, body) VALUES (?, ?)", (ts, body))
                    last = cursor.lastrowid
                    first = first or last
                self._count_evicted(db, evicted + refused)
                if todo:
                    # the last stored reading of each point: after a restart the first delta spans the downtime
                    latest = {sample.point: (sample.point, sample.ts, sample.value) for sample in samples[: len(todo)]}
                    db.executemany(
                        "INSERT INTO point_state(point, ts, value) VALUES (?, ?, ?) ON CONFLICT(point) DO UPDATE"
                        " SET ts = excluded.ts, value = excluded.value WHERE excluded.ts > point_state.ts",
                        latest.values(),
                    )
                db.execute("COMMIT")
            except sqlite3.OperationalError as err:
                db.execute("ROLLBACK")
                if "full" not in str(err).lower():
                    raise
                # the disk filled up under us: make room by the policy, or refuse, and say so
                self.full_since = self.full_since or time.time()
                if self.policy == "drop_oldest" and self.depth:
                    db.execute("BEGIN IMMEDIATE")
                    freed = self._evict_oldest(db, max(self.depth // 10, len(rows)))
                    self._count_evicted(db, freed)
                    db.execute("COMMIT")
                    self.depth -= freed
                    raise BufferFullError(f"disk full: evicted the {freed} oldest readings; retry") from err
                self._count_evicted(db, len(rows))
                return Stored(None, None, 0, 0, len(rows))
            self.depth += len(todo) - evicted
            if last is not None:
                self.last_seq = last
            return Stored(first, last, len(todo), evicted, refused)

        try:
            result = await self._run(write)
        except BufferFullError:
            result = await self._run(write)
        if result.stored:
            self.appended.set()
        return result

    # ------------------------------------------------------------------------------------------- reading
    async def fetch(self, after: int, limit: int, upto: int | None = None) -> list[Reading]:
        """Up to ``limit`` stored readings with seq > ``after`` (and <= ``upto``), oldest first."""

        def read(db: sqlite3.Connection) -> list[tuple[int, bytes]]:
            query = "SELECT seq, body FROM reading WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
            return db.execute(query, (after, upto if upto is not None else 2**63 - 1, limit)).fetchall()

        rows = await self._run(read)
        readings = []
        for seq, body in rows:
            point, ts, value, unit, quality, estimated, flags, delta, since = _decoder.decode(body)
            readings.append(Reading(seq, point, ts, value, unit, quality, estimated, flags, delta, since))  # type: ignore[arg-type]
        return readings

    async def acknowledge(self, first_seq: int, last_seq: int) -> int:
        """The platform has committed the readings first..last: remove them. Returns how many were removed."""
        return await self.acknowledge_ranges([(first_seq, last_seq)])

    async def acknowledge_ranges(self, ranges: Sequence[tuple[int, int]]) -> int:
        """Remove the readings of several inclusive seq ranges in one transaction (one disk flush)."""

        def delete(db: sqlite3.Connection) -> int:
            removed = 0
            db.execute("BEGIN IMMEDIATE")
            try:
                for first_seq, last_seq in ranges:
                    query = "DELETE FROM reading WHERE seq BETWEEN ? AND ?"
                    removed += db.execute(query, (first_seq, last_seq)).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self.depth -= removed
            return removed

        return await self._run(delete)

    async def state(self) -> BufferState:
        """Depth, capacity, oldest reading, counters and free disk, for the status message."""

        def oldest(db: sqlite3.Connection) -> Any:
            return db.execute("SELECT ts FROM reading ORDER BY seq LIMIT 1").fetchone()

        row = await self._run(oldest)
        free = shutil.disk_usage(self.path.parent).free // (1024 * 1024)
        return BufferState(
            depth=self.depth,
            capacity=self.max_readings,
            oldest_ts=row[0] if row else None,
            last_seq=self.last_seq,
            evicted=self.evicted,
            disk_free_mb=free,
        )
