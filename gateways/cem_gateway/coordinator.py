"""One coordinator per connection: connects, polls on wall-clock slots, reconnects, keeps the score.

Slots: the points are grouped by ``poll_s``; a group with period ``p`` is read at ``ts = k * p`` (epoch
seconds, whole ``k``), so the readings of different gateways line up and a missed slot shows as a gap. Groups due
at the same instant are read together and handed to the sink in one call. Every wait is computed afresh from the
clock, so polling never drifts. A slot that could not start within a quarter of its period after its time (the
previous read or the sink was too slow) is skipped and counted as an overrun: slots never pile up. ``ts`` is
rounded to the microsecond, so groups and gateways agree on it exactly. If the clock is set back, polling goes on
from the new time (no wait longer than one period).

Failures: any `DriverError` (and any other exception a driver library lets through, wrapped into one) is counted
by reason, the driver is closed and the coordinator reconnects after an exponential backoff with jitter (0.5 s
doubling to 30 s, back to 0.5 s after a good poll). `run` never raises except `asyncio.CancelledError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from cem_gateway.drivers import make_driver
from cem_gateway.drivers.base import Driver, DriverError, RawReading
from cem_gateway.pointmap import Connection, Point

__all__ = ["Coordinator", "CoordinatorStatus", "DriverFactory", "Sink"]

_log = logging.getLogger(__name__)

Sink = Callable[[list[RawReading]], Awaitable[None]]
DriverFactory = Callable[[Connection, Sequence[Point]], Driver]
_T = TypeVar("_T")

#: A slot may start this fraction of its period late; later than that it is skipped (an overrun).
LATE_FRACTION = 0.25
#: A driver call that has not returned after this long is abandoned as a ``timeout`` (a hung library).
READ_GUARD_S = 60.0


@dataclass(slots=True)
class CoordinatorStatus:
    """A snapshot of one connection's health, for the gateway's status message.

    ``polls``: slots read successfully; ``last_good_poll``: the slot (``ts``) of the last one. ``errors``: failed
    connects, failed reads and sink failures, also counted per reason in ``errors_by_reason`` (the `DriverError`
    reasons, ``unexpected`` for other exceptions of a driver, ``sink``); ``last_error`` is the latest message.
    ``reconnects``: connections re-established after the first one. ``overruns``: slots skipped because the
    previous read (or the sink) took too long.
    """

    name: str
    protocol: str
    connected: bool
    last_good_poll: float | None
    polls: int
    errors: int
    errors_by_reason: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    reconnects: int = 0
    overruns: int = 0


class Coordinator:
    """Polls the points of one connection on aligned slots and hands the readings to ``sink``."""

    def __init__(
        self,
        connection: Connection,
        points: Sequence[Point],
        sink: Sink,
        *,
        clock: Callable[[], float] = time.time,
        driver_factory: DriverFactory | None = None,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        self.connection = connection
        self.points = tuple(points)
        self._sink = sink
        self._clock = clock
        self._factory: DriverFactory = driver_factory or make_driver
        self._min_backoff, self._max_backoff = min_backoff, max_backoff
        self._backoff = min_backoff
        self._groups: dict[float, list[Point]] = {}
        for point in self.points:
            self._groups.setdefault(point.poll_s, []).append(point)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        self._driver: Driver | None = None
        self._connects = 0
        self._status = CoordinatorStatus(
            name=connection.name,
            protocol=connection.protocol,
            connected=False,
            last_good_poll=None,
            polls=0,
            errors=0,
        )

    # -------------------------------------------------------------------------------------------- status
    def status(self) -> CoordinatorStatus:
        """A copy of the current counters."""
        return replace(self._status, errors_by_reason=dict(self._status.errors_by_reason))

    def _count_error(self, reason: str, message: str) -> None:
        s = self._status
        s.errors += 1
        s.errors_by_reason[reason] = s.errors_by_reason.get(reason, 0) + 1
        s.last_error = message

    # -------------------------------------------------------------------------------------------- run / stop
    async def run(self) -> None:
        """Connect, poll and reconnect until `stop` is called or the task is cancelled (a coordinator runs once)."""
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"coordinator {self.connection.name!r} is already running")
        self._task = asyncio.current_task()
        if not self.points:
            await self._stopping.wait()
            return
        try:
            while not self._stopping.is_set():
                await self._session()
                if self._stopping.is_set():
                    break
                delay = self._backoff * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
                self._backoff = min(self._backoff * 2, self._max_backoff)
                if await self._sleep(delay):
                    break
        finally:
            self._status.connected = False
            driver, self._driver = self._driver, None
            if driver is not None:
                await self._close(driver)

    async def stop(self) -> None:
        """Ask `run` to finish, wait for it (cancelling a read that hangs) and the driver to close."""
        self._stopping.set()
        task = self._task
        if task is None or task.done() or task is asyncio.current_task():
            return
        done, _ = await asyncio.wait({task}, timeout=self.connection.timeout_s + 1.0)
        if not done:
            task.cancel()
            await asyncio.wait({task})

    async def _sleep(self, delay: float) -> bool:
        """Wait ``delay`` seconds; True if `stop` was called meanwhile."""
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
        return self._stopping.is_set()

    # -------------------------------------------------------------------------------------------- one session
    async def _session(self) -> None:
        """One connection's life: connect, then poll until a driver error or `stop`."""
        driver = self._factory(self.connection, self.points)
        self._driver = driver
        try:
            await self._call(driver.connect(), 4 * self.connection.timeout_s + 5.0)
            self._status.connected = True
            if self._connects:
                self._status.reconnects += 1
            self._connects += 1
            _log.info("%s: connected", self.connection.name)
            await self._poll(driver)
        except DriverError as err:
            self._count_error(err.reason, str(err))
            _log.warning("%s", err)
        finally:
            self._status.connected = False
            self._driver = None
            await self._close(driver)

    async def _call(self, call: Coroutine[Any, Any, _T], guard: float) -> _T:
        """Await a driver call; anything but `DriverError` is wrapped into one."""
        scope = asyncio.timeout(guard)
        try:
            async with scope:
                return await call
        except DriverError:
            raise
        except TimeoutError as err:
            detail = f"the driver hung for {guard:g} s" if scope.expired() else repr(err)
            raise DriverError(self.connection.name, "timeout", detail) from err
        except Exception as err:
            raise DriverError(self.connection.name, "unexpected", repr(err)) from err

    async def _close(self, driver: Driver) -> None:
        try:
            async with asyncio.timeout(self.connection.timeout_s + 1.0):
                await driver.close()
        except Exception as err:
            _log.warning("%s: closing the driver failed: %r", self.connection.name, err)

    async def _poll(self, driver: Driver) -> None:
        """Read every group on its slots until `stop`; raises `DriverError`."""
        now = self._clock()
        next_slot = {period: math.floor(now / period) + 1 for period in self._groups}
        while not self._stopping.is_set():
            now = self._clock()
            for period, slot in next_slot.items():
                if slot * period - now > period:  # the clock was set back: start again from now
                    next_slot[period] = math.floor(now / period) + 1
            due = min(slot * period for period, slot in next_slot.items())
            if await self._sleep(due - self._clock()):
                return
            periods = [period for period, slot in next_slot.items() if abs(slot * period - due) < 1e-4]
            ts = round(due, 6)
            points = [point for period in periods for point in self._groups[period]]
            readings = await self._call(driver.read(points, ts), READ_GUARD_S)
            self._status.polls += 1
            self._status.last_good_poll = ts
            self._backoff = self._min_backoff
            await self._deliver(readings)
            for period in periods:
                next_slot[period] += 1
            now = self._clock()
            for period, slot in next_slot.items():
                if now - slot * period > LATE_FRACTION * period:
                    upcoming = math.floor(now / period) + 1
                    self._status.overruns += upcoming - slot
                    next_slot[period] = upcoming

    async def _deliver(self, readings: list[RawReading]) -> None:
        try:
            await self._sink(readings)
        except Exception as err:
            self._count_error("sink", f"{self.connection.name}: the sink failed: {err!r}")
            _log.exception("%s: the sink failed", self.connection.name)
