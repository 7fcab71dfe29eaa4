"""The coordinator: wall-clock slots, no pile-up, reconnect with backoff, and it never crashes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import pytest

from cem_gateway.coordinator import Coordinator, CoordinatorStatus
from cem_gateway.drivers import Driver, DriverError, RawReading
from cem_gateway.pointmap import Connection, Point
from tests.test_gateway.test_drivers import FakePlc, mpoint


@dataclass
class Sink:
    """Collects what the coordinator hands over: one entry per slot."""

    calls: list[tuple[float, float, list[RawReading]]] = field(default_factory=list)
    fail_first: bool = False

    async def __call__(self, readings: list[RawReading]) -> None:
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("the buffer is on fire")
        self.calls.append((readings[0].ts, time.time(), readings))

    def slots(self) -> list[float]:
        return [ts for ts, _, _ in self.calls]


@contextlib.asynccontextmanager
async def running(coordinator: Coordinator) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(coordinator.run())
    try:
        yield task
    finally:
        await coordinator.stop()
        assert task.done()
        task.result()  # run() ended by itself, without an exception


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


def is_multiple(ts: float, period: float) -> bool:
    return abs(ts / period - round(ts / period)) < 1e-4  # float error at 1.7e9 s is ~1e-7 s


def missing_slots(slots: Sequence[float], period: float) -> int:
    return sum(round((b - a) / period) - 1 for a, b in zip(slots, slots[1:], strict=False))


@pytest.fixture
async def plc() -> AsyncIterator[FakePlc]:
    server = await FakePlc().start()
    yield server
    await server.stop()


# ------------------------------------------------------------------------------------------------ real server
async def test_slots_are_aligned_and_groups_due_together_share_one_call(plc: FakePlc) -> None:
    fast = [mpoint("FAST.1", 0, poll_s=0.25), mpoint("FAST.2", 2, "int16", poll_s=0.25)]
    slow = [mpoint("SLOW", 10, "uint32", poll_s=0.5)]
    for point, value in zip(fast + slow, [1.5, -7, 123456], strict=True):
        plc.set(point, value)
    sink = Sink()
    coordinator = Coordinator(plc.connection(), fast + slow, sink)
    async with running(coordinator):
        await wait_until(lambda: len(sink.calls) >= 6, 3.0, "six slots polled")
    status = coordinator.status()
    slots = sink.slots()
    assert all(is_multiple(ts, 0.25) for ts in slots)
    assert slots == sorted(set(slots))
    assert missing_slots(slots, 0.25) <= status.overruns <= missing_slots(slots, 0.25) + 1
    for ts, delivered_at, readings in sink.calls:
        ids = [r.point.id for r in readings]
        assert ids == (["FAST.1", "FAST.2", "SLOW"] if is_multiple(ts, 0.5) else ["FAST.1", "FAST.2"])
        assert [r.value for r in readings] == [1.5, -7, 123456][: len(readings)]
        assert {r.ts for r in readings} == {ts}
        assert ts <= delivered_at < ts + 0.25  # read at its slot, not before, not much after
    assert status.polls == len(slots)
    assert status.last_good_poll == slots[-1]
    assert (status.errors, status.reconnects, status.connected) == (0, 0, False)
    assert (status.name, status.protocol) == ("plc", "modbus")


async def test_a_slow_server_makes_overruns_not_a_pile_up(plc: FakePlc) -> None:
    plc.delay = 0.3  # each read takes longer than the 0.2 s period
    sink = Sink()
    coordinator = Coordinator(plc.connection(timeout_s=1.0), [mpoint("P", 0, poll_s=0.2)], sink)
    started = time.monotonic()
    async with running(coordinator):
        await wait_until(lambda: len(sink.calls) >= 4, 4.0, "four slots polled")
    elapsed = time.monotonic() - started
    status = coordinator.status()
    slots = sink.slots()
    assert plc.most_in_flight == 1
    assert status.errors == 0
    assert all(is_multiple(ts, 0.2) for ts in slots)
    assert all(b - a >= 0.4 - 1e-6 for a, b in zip(slots, slots[1:], strict=False))
    # every skipped slot is an overrun (the last read may have made one more after the last slot delivered)
    assert len(slots) - 1 <= missing_slots(slots, 0.2) <= status.overruns <= missing_slots(slots, 0.2) + 1
    assert plc.requests <= elapsed / 0.3 + 1


async def test_reconnects_after_the_server_restarts_on_the_same_port(plc: FakePlc) -> None:
    point = mpoint("P", 0, poll_s=0.2)
    plc.set(point, 1.0)
    sink = Sink()
    coordinator = Coordinator(plc.connection(timeout_s=0.5), [point], sink, min_backoff=0.1, max_backoff=0.4)
    async with running(coordinator):
        await wait_until(lambda: len(sink.calls) >= 2, 2.0, "first polls")
        assert coordinator.status().connected
        await plc.stop()
        await wait_until(lambda: coordinator.status().errors_by_reason.get("refused", 0) >= 2, 3.0, "refusals")
        assert not coordinator.status().connected
        before = len(sink.calls)
        plc.set(point, 2.0)
        await plc.start()
        await wait_until(lambda: any(r.value == 2.0 for _, _, rs in sink.calls for r in rs), 3.0, "new readings")
        status = coordinator.status()
    assert len(sink.calls) > before
    assert status.connected
    assert status.reconnects == 1
    assert set(status.errors_by_reason) <= {"disconnected", "timeout", "refused"}
    assert status.errors == sum(status.errors_by_reason.values())
    assert status.errors >= 3
    assert status.last_error is not None and "plc" in status.last_error
    assert status.last_good_poll == sink.slots()[-1]


# ------------------------------------------------------------------------------------------------ scripted driver
@dataclass
class Script:
    """Drives `ScriptedDriver`s: what fails and when, and what happened."""

    connect_error: DriverError | None = None
    read_error_on: dict[int, BaseException] = field(default_factory=dict)  # n-th read overall -> exception
    hang_reads: bool = False
    connects: list[float] = field(default_factory=list)
    reads: int = 0
    drivers: int = 0
    closed: int = 0


class ScriptedDriver:
    subscribes = False

    def __init__(self, script: Script, points: Sequence[Point]) -> None:
        self.script = script
        script.drivers += 1

    async def connect(self) -> None:
        self.script.connects.append(time.monotonic())
        if self.script.connect_error is not None:
            raise self.script.connect_error

    async def read(self, points: Sequence[Point], ts: float) -> list[RawReading]:
        self.script.reads += 1
        if self.script.hang_reads:
            await asyncio.Event().wait()
        error = self.script.read_error_on.get(self.script.reads)
        if error is not None:
            raise error
        return [RawReading(point, ts, 1.0) for point in points]

    async def close(self) -> None:
        self.script.closed += 1


def scripted(script: Script) -> Callable[[Connection, Sequence[Point]], Driver]:
    return lambda connection, points: ScriptedDriver(script, points)


CONNECTION = Connection(name="line", protocol="modbus", host="127.0.0.1", port=1, timeout_s=0.2)
POINTS = [mpoint("P", 0, poll_s=0.1, connection="line")]


async def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    script = Script(connect_error=DriverError("line", "refused", "nobody home"))
    coordinator = Coordinator(
        CONNECTION, POINTS, Sink(), driver_factory=scripted(script), min_backoff=0.05, max_backoff=0.2
    )
    async with running(coordinator):
        await wait_until(lambda: len(script.connects) >= 6, 3.0, "six attempts")
    gaps = [b - a for a, b in zip(script.connects, script.connects[1:], strict=False)]
    for n, gap in enumerate(gaps[:5]):
        nominal = min(0.05 * 2**n, 0.2)
        assert 0.8 * nominal - 0.01 <= gap <= 1.2 * nominal + 0.05, (n, gaps)
    status = coordinator.status()
    assert status.errors_by_reason == {"refused": len(script.connects)}
    assert status.last_error == "line: refused (nobody home)"
    assert (status.connected, status.polls, status.reconnects) == (False, 0, 0)
    assert script.closed == script.drivers == len(script.connects)


async def test_unexpected_exceptions_are_wrapped_and_handled_like_driver_errors() -> None:
    script = Script(read_error_on={2: RuntimeError("library bug"), 4: DriverError("line", "timeout")})
    sink = Sink()
    coordinator = Coordinator(CONNECTION, POINTS, sink, driver_factory=scripted(script), min_backoff=0.05)
    async with running(coordinator):
        await wait_until(lambda: script.reads >= 6, 3.0, "polling resumed twice")
    status = coordinator.status()
    assert status.errors_by_reason == {"unexpected": 1, "timeout": 1}
    assert status.reconnects == 2
    assert status.polls == len(sink.calls) == script.reads - 2
    assert script.closed == script.drivers == 3
    assert all(is_multiple(ts, 0.1) for ts in sink.slots())


async def test_a_failing_sink_is_counted_and_polling_goes_on() -> None:
    script = Script()
    sink = Sink(fail_first=True)
    coordinator = Coordinator(CONNECTION, POINTS, sink, driver_factory=scripted(script))
    async with running(coordinator):
        await wait_until(lambda: len(sink.calls) >= 2, 2.0, "polls after the failure")
        status = coordinator.status()
    assert status.errors_by_reason == {"sink": 1}
    assert status.connected and status.reconnects == 0
    assert script.drivers == 1


async def test_stop_is_prompt_and_closes_the_driver_even_when_a_read_hangs() -> None:
    script = Script()
    coordinator = Coordinator(CONNECTION, POINTS, Sink(), driver_factory=scripted(script))
    task = asyncio.create_task(coordinator.run())
    await wait_until(lambda: script.reads >= 1, 2.0, "a first read")
    started = time.monotonic()
    await coordinator.stop()
    assert time.monotonic() - started < 0.1
    assert task.done() and task.result() is None
    assert script.closed == 1
    assert not coordinator.status().connected

    hung = Script(hang_reads=True)
    coordinator = Coordinator(CONNECTION, POINTS, Sink(), driver_factory=scripted(hung))
    task = asyncio.create_task(coordinator.run())
    await wait_until(lambda: hung.reads >= 1, 2.0, "a hanging read")
    started = time.monotonic()
    await coordinator.stop()
    assert time.monotonic() - started < CONNECTION.timeout_s + 1.5
    assert task.cancelled()
    assert hung.closed == 1


async def test_slots_follow_the_injected_clock() -> None:
    offset = 1000.03  # a gateway whose clock is 1000.03 s ahead of this machine's
    script = Script()
    sink = Sink()
    coordinator = Coordinator(
        CONNECTION, POINTS, sink, driver_factory=scripted(script), clock=lambda: time.time() + offset
    )
    async with running(coordinator):
        await wait_until(lambda: len(sink.calls) >= 3, 2.0, "three slots")
    for ts, delivered_at, _ in sink.calls:
        assert is_multiple(ts, 0.1)
        assert ts <= delivered_at + offset < ts + 0.1


async def test_a_clock_set_back_does_not_stall_polling() -> None:
    offset = [0.0]
    script = Script()
    sink = Sink()
    coordinator = Coordinator(
        CONNECTION, POINTS, sink, driver_factory=scripted(script), clock=lambda: time.time() + offset[0]
    )
    async with running(coordinator):
        await wait_until(lambda: len(sink.calls) >= 2, 2.0, "polls before the jump")
        offset[0] = -3600.0
        before = len(sink.calls)
        await wait_until(lambda: len(sink.calls) >= before + 3, 1.0, "polls after the clock went back an hour")
    assert sink.slots()[-1] < sink.slots()[before - 1] - 3500


async def test_status_is_a_snapshot() -> None:
    coordinator = Coordinator(CONNECTION, POINTS, Sink())
    status = coordinator.status()
    assert status == CoordinatorStatus(
        name="line", protocol="modbus", connected=False, last_good_poll=None, polls=0, errors=0
    )
    status.errors_by_reason["x"] = 1
    assert coordinator.status().errors_by_reason == {}
