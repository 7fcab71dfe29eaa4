"""The Celery jobs: the beat schedule, the overlap lock, and a real worker with beat running scheduled jobs."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from celery.schedules import crontab
from redis import Redis
from tortoise import connections

from cem_platform.jobs import LOCK_PREFIX, run_exclusive
from cem_platform.jobs import app as celery_app
from cem_platform.scheduler import periodic_jobs
from cem_platform.settings import Settings, get_settings
from cem_platform.telemetry.store import Batch, Row, store_for
from cem_registry.models import CertificateAuthority
from tests.test_platform.world import World

ROOT = Path(__file__).resolve().parents[2]


def _period_s(schedule: Any) -> float:
    if isinstance(schedule, dt.timedelta):
        return schedule.total_seconds()
    assert isinstance(schedule, crontab) and len(schedule.minute) == 1 and len(schedule.day_of_week) == 7
    return 24 * 3600 / len(schedule.hour)


def test_beat_runs_every_periodic_job_on_the_in_process_runners_periods() -> None:
    entries = {entry["task"]: entry for entry in celery_app.conf.beat_schedule.values()}
    jobs = {job.name: job for job in periodic_jobs(get_settings())}  # the settings jobs.py was imported with
    assert (
        set(entries)
        == set(jobs)
        == {
            "cem.timeseries.fold",
            "cem.accounting.refresh",
            "cem.timeseries.maintain",
            "cem.alarms.evaluate",
            "cem.benchmarking.limits",
            "cem.carbon_assets.warnings",
            "cem.registry.publish_crl",
            "cem.registry.check_expiry",
        }
    )
    assert set(jobs) <= set(celery_app.tasks)
    for name, entry in entries.items():
        assert _period_s(entry["schedule"]) == jobs[name].every_s, name
        assert 0 < entry["options"]["expires"] <= jobs[name].every_s, name  # a late message never piles up
        assert celery_app.tasks[name].time_limit, name


def test_a_run_is_skipped_while_another_run_of_the_job_holds_it(settings: Settings) -> None:
    name = f"test-{uuid.uuid4().hex}"
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(10)
        return "first"

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(run_exclusive, name, slow, hold_s=30, redis_url=settings.redis.url)
        assert started.wait(10)
        assert run_exclusive(name, lambda: "second", hold_s=30, redis_url=settings.redis.url) is None
        release.set()
        assert first.result(10) == "first"
    assert run_exclusive(name, lambda: "third", hold_s=30, redis_url=settings.redis.url) == "third"
    redis = Redis.from_url(settings.redis.url)
    try:
        assert not redis.exists(f"{LOCK_PREFIX}{name}")  # released after each run
    finally:
        redis.close()


def test_a_failed_run_releases_the_job(settings: Settings) -> None:
    name = f"test-{uuid.uuid4().hex}"

    def broken() -> None:
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        run_exclusive(name, broken, hold_s=30, redis_url=settings.redis.url)
    assert run_exclusive(name, lambda: "next", hold_s=30, redis_url=settings.redis.url) == "next"


# ---- a real worker with beat -------------------------------------------------------------------------------------


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a worker on the test database and Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEM_")}
    env.update(
        CEM_DATABASE_URL=settings.database.url,
        CEM_REDIS_URL=settings.redis.url,
        CEM_SECURITY_SECRET_KEY=settings.security.secret_key,
        CEM_PKI_PASSPHRASE=settings.pki.passphrase,
        CEM_PKI_DIR=settings.pki.dir,
        CEM_PKI_DEVICE_DAYS=str(settings.pki.device_days),
        CEM_BROKER_CONFIG_DIR=settings.broker.config_dir,
        CEM_BROKER_PID_FILE=settings.broker.pid_file,
        CEM_LOG_LEVEL="INFO",
        CEM_LOG_JSON="false",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        **extra,
    )
    return env


@contextmanager
def celery_worker(app_module: str, env: dict[str, str], directory: Path) -> Iterator[Path]:
    """``celery -A <app_module> worker --beat --pool solo``, its output in a log; stopped (its whole process group)
    at the end whatever happens."""
    log = directory / "celery.log"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app_module,
        "worker",
        "--beat",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--schedule",
        str(directory / "beat-schedule"),
        "--hostname",
        f"cem-test-{uuid.uuid4().hex[:8]}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with log.open("w") as output:
        process = subprocess.Popen(
            command, env=env, cwd=directory, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield log
        finally:
            with_signal(process, signal.SIGTERM)  # warm shutdown: the running task finishes
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with_signal(process, signal.SIGKILL)
                process.wait(timeout=10)


def with_signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the worker and what it started (beat), which share its own process group."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


async def wait_until(condition: Callable[[], Awaitable[bool]], log: Path, timeout: float = 60.0) -> None:
    """Poll ``condition`` until true; on timeout fail with the worker's log."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout} s; worker log:\n{log.read_text()[-6000:]}")
        await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_worker_with_beat_publishes_the_crl_on_schedule(settings: Settings, tmp_path: Path) -> None:
    before = (await CertificateAuthority.get(role="issuing")).crl_number

    async def published() -> bool:
        return (await CertificateAuthority.get(role="issuing")).crl_number > before

    with celery_worker("tests.test_live.beat_app", worker_env(settings), tmp_path) as log:
        await wait_until(published, log)
    assert "cem.registry.publish_crl" in log.read_text()
    issuing = await CertificateAuthority.get(role="issuing")
    assert issuing.crl_published_at is not None
    assert dt.datetime.now(dt.UTC) - issuing.crl_published_at < dt.timedelta(minutes=2)


async def _count(sql: str, *args: Any) -> int:
    _, rows = await connections.get("default").execute_query(sql, list(args))
    return int(rows[0][0])


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("cem_platform.telemetry.rollup") is None, reason="fold_all is not written yet"
)
async def test_worker_with_beat_folds_new_readings_into_rollups(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    point = world.a.point.id
    now_ms = int(time.time() * 1000)
    rows = [Row(point_id=point, ts=now_ms - 120_000 + i * 1000, value=10.0 + i, seq=i + 1) for i in range(3)]
    await store_for().write([Batch(device_id="dev-beat-test", sent_at=now_ms, received_at=now_ms, rows=rows)])
    assert await _count("SELECT count(*) FROM ts_pending WHERE point_id = $1", point) == 3

    async def folded() -> bool:
        return await _count("SELECT count(*) FROM ts_pending WHERE point_id = $1", point) == 0

    # The real application and schedule: the fold is due every CEM_TIMESERIES_ROLLUP_INTERVAL_S.
    env = worker_env(settings, CEM_TIMESERIES_ROLLUP_INTERVAL_S="1")
    with celery_worker("cem_platform.jobs", env, tmp_path) as log:
        await wait_until(folded, log)
    _, hours = await connections.get("default").execute_query(
        "SELECT sum(readings), sum(value_sum) FROM ts_rollup_hour WHERE point_id = $1", [point]
    )
    assert (int(hours[0][0]), float(hours[0][1])) == (3, 33.0)
