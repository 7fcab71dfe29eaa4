"""The demo's in-process job runner: periods, failures, stopping, and the real jobs on the test database."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import pytest
from tortoise import connections

from cem_platform.scheduler import Job, JobRunner, embedded_jobs, periodic_jobs
from cem_platform.settings import Settings
from cem_platform.telemetry.store import Batch, Row, store_for
from cem_registry.models import CertificateAuthority
from tests.test_platform.world import World


async def eventually(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until ``condition`` holds (polled), at most ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            result = condition()
            if await result if isinstance(result, Awaitable) else result:
                return
            await asyncio.sleep(0.02)


async def test_each_job_runs_on_its_period_and_a_failing_one_keeps_going(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[float] = []

    async def count(_: Settings) -> None:
        runs.append(time.monotonic())

    async def broken(_: Settings) -> None:
        raise RuntimeError("the database went away")

    runner = JobRunner(settings, [Job("count", 0.05, count), Job("broken", 0.05, broken)], first_run_after_s=0)
    with caplog.at_level(logging.ERROR, logger="cem.jobs"):
        await runner.start()
        try:
            await eventually(lambda: runner.runs["count"] >= 4 and runner.failures["broken"] >= 3)
        finally:
            await runner.stop()
    assert not runner.running
    assert all(later - earlier >= 0.04 for earlier, later in zip(runs, runs[1:], strict=False))  # its period
    assert runner.runs["broken"] == 0
    assert any(getattr(r, "job", "") == "broken" and r.exc_info for r in caplog.records)  # logged, with traceback
    stopped_at = runner.runs["count"]
    await asyncio.sleep(0.2)  # nothing runs after stop() returned (a period is 0.05 s)
    assert runner.runs["count"] == stopped_at


async def test_a_slow_run_delays_the_next_one_instead_of_overlapping_it(settings: Settings) -> None:
    active, overlaps, done = 0, 0, 0

    async def slow(_: Settings) -> None:
        nonlocal active, overlaps, done
        active += 1
        overlaps += active > 1
        await asyncio.sleep(0.1)  # twice the period
        active -= 1
        done += 1

    runner = JobRunner(settings, [Job("slow", 0.05, slow)], first_run_after_s=0)
    await runner.start()
    try:
        await eventually(lambda: done >= 3)
    finally:
        await runner.stop()
    assert overlaps == 0


async def test_stop_lets_a_running_job_finish_and_cancels_one_that_does_not(settings: Settings) -> None:
    began, finished = asyncio.Event(), asyncio.Event()

    async def short(_: Settings) -> None:
        began.set()
        await asyncio.sleep(0.2)
        finished.set()

    runner = JobRunner(settings, [Job("short", 60, short)], first_run_after_s=0)
    await runner.start()
    await asyncio.wait_for(began.wait(), 5)
    await runner.stop(grace_s=5)
    assert finished.is_set()  # not cut off at shutdown
    assert runner.runs["short"] == 1

    stuck_began = asyncio.Event()

    async def stuck(_: Settings) -> None:
        stuck_began.set()
        await asyncio.Event().wait()

    runner = JobRunner(settings, [Job("stuck", 60, stuck)], first_run_after_s=0)
    await runner.start()
    await asyncio.wait_for(stuck_began.wait(), 5)
    await asyncio.wait_for(runner.stop(grace_s=0.1), 5)  # returns: the stuck run is cancelled
    assert not runner.running


async def test_start_twice_is_refused(settings: Settings) -> None:
    async def nothing(_: Settings) -> None:
        return None

    runner = JobRunner(settings, [Job("nothing", 60, nothing)])
    await runner.start()
    try:
        with pytest.raises(RuntimeError):
            await runner.start()
    finally:
        await runner.stop()


def test_the_runner_has_every_platform_job(settings: Settings) -> None:
    jobs = {job.name: job.every_s for job in periodic_jobs(settings)}
    assert jobs == {
        "cem.timeseries.fold": settings.timeseries.rollup_interval_s,
        "cem.accounting.refresh": 15,
        "cem.timeseries.maintain": 3600,
        "cem.alarms.evaluate": 30,
        "cem.benchmarking.limits": 300,
        "cem.carbon_assets.warnings": 3600,
        "cem.registry.publish_crl": 6 * 3600,
        "cem.registry.check_expiry": 3600,
    }


async def test_the_embedded_lifespan_runs_the_real_jobs_in_this_process(world: World, settings: Settings) -> None:
    """What the API does with CEM_INGEST_EMBEDDED: the real jobs, in the process's Tortoise context."""
    crl_before = (await CertificateAuthority.get(role="issuing")).crl_number
    point = world.a.point.id
    now_ms = int(time.time() * 1000)
    await store_for().write(
        [Batch("dev-runner-test", now_ms, now_ms, [Row(point_id=point, ts=now_ms - 60_000, value=4.0, seq=1)])]
    )

    async def crl_published() -> bool:
        return (await CertificateAuthority.get(role="issuing")).crl_number > crl_before

    async def folded() -> bool:
        _, rows = await connections.get("default").execute_query(
            "SELECT count(*) FROM ts_rollup_hour WHERE point_id = $1", [point]
        )
        return int(rows[0][0]) == 1

    async with embedded_jobs(settings)(None):  # every job runs once, a few seconds after start
        await eventually(crl_published, timeout=30)
        await eventually(folded, timeout=30)
