"""Periodic jobs: the Celery application (Redis broker) and its beat schedule.

Run a worker and the scheduler beside the API::

    celery -A cem_platform.jobs worker --loglevel INFO
    celery -A cem_platform.jobs beat --loglevel INFO

Each task opens the database for its own run, so it works in any worker process. What each job does lives in
:mod:`cem_platform.scheduler`, shared with the demo's in-process runner.

Runs of one job never pile up, in two ways:

- every beat entry has ``expires``: a message still queued when the next one is due (workers down or busy)
  is dropped by the worker instead of running late, so an outage does not end in a burst of stale runs;
- every task holds a Redis lock named after the job while it runs (``cem:jobs:lock:<task>``, taken without
  waiting): a run that finds it held is skipped (logged, returns None), so several workers never run one
  job at once. The lock expires on its own a minute after the task's hard time limit, so a worker killed
  mid-run (OOM, SIGKILL) holds the job back for that long at most, and a run cannot outlive its lock: the
  time limit ends it first (the prefork pool enforces time limits; ``--pool solo`` does not).

Run exactly one beat: two would send every job twice (the lock would then skip the second run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from celery import Celery
from celery.schedules import crontab
from redis import Redis
from redis.exceptions import LockError

from cem_platform import scheduler
from cem_platform.db import run_with_db
from cem_platform.settings import Settings, get_settings

if TYPE_CHECKING:
    from cem_platform.accounting.refresh import RefreshReport
    from cem_platform.alarms.rules import EvaluationReport
    from cem_platform.benchmarking.services import LimitReport
    from cem_platform.carbon_assets.services import WarningReport
    from cem_platform.telemetry.retention import MaintenanceReport

__all__ = [
    "LOCK_PREFIX",
    "app",
    "check_certificate_expiry",
    "evaluate_alarms",
    "evaluate_carbon_warnings",
    "evaluate_limits",
    "fold_timeseries",
    "maintain_timeseries",
    "publish_crl",
    "refresh_emissions",
    "run_exclusive",
]

T = TypeVar("T")
log = logging.getLogger("cem.jobs")
LOCK_PREFIX = "cem:jobs:lock:"

# Hard time limit of each task (seconds); its lock lives a minute longer.
TIME_LIMITS = {
    "cem.timeseries.fold": 900,
    "cem.accounting.refresh": 1800,
    "cem.timeseries.maintain": 3000,
    "cem.alarms.evaluate": 600,
    "cem.benchmarking.limits": 900,
    "cem.carbon_assets.warnings": 1800,
    "cem.registry.publish_crl": 600,
    "cem.registry.check_expiry": 600,
}


def _broker_url() -> str:
    return get_settings().redis.url or "redis://127.0.0.1:6379/0"


def _every(seconds: float) -> dict[str, object]:
    """Schedule fields of an entry due every ``seconds``, whose message expires when the next one is due."""
    return {"schedule": dt.timedelta(seconds=seconds), "options": {"expires": seconds}}


app = Celery("cem", broker=_broker_url(), include=[])
app.conf.update(
    task_acks_late=True,  # a job interrupted by a crash runs again; every job here is idempotent
    task_ignore_result=True,  # beat fires and forgets: what a run did is in the worker's log
    worker_prefetch_multiplier=1,
    timezone="UTC",
    task_annotations={name: {"time_limit": limit} for name, limit in TIME_LIMITS.items()},
    beat_schedule={
        "timeseries-fold": {"task": "cem.timeseries.fold", **_every(get_settings().timeseries.rollup_interval_s)},
        "timeseries-maintain": {
            "task": "cem.timeseries.maintain",
            "schedule": crontab(minute=43),  # hourly (scheduler.TIMESERIES_MAINTENANCE_S), off the other jobs' minutes
            "options": {"expires": 1800},
        },
        "alarms-evaluate": {"task": "cem.alarms.evaluate", **_every(scheduler.ALARM_EVALUATION_S)},
        "benchmarking-limits": {"task": "cem.benchmarking.limits", **_every(scheduler.BENCHMARK_LIMITS_S)},
        "carbon-assets-warnings": {"task": "cem.carbon_assets.warnings", **_every(scheduler.CARBON_WARNINGS_S)},
        "accounting-refresh": {"task": "cem.accounting.refresh", **_every(scheduler.ACCOUNTING_REFRESH_S)},
        "registry-publish-crl": {
            "task": "cem.registry.publish_crl",
            "schedule": crontab(minute=7, hour="*/6"),  # scheduler.CRL_PUBLICATION_S
            "options": {"expires": 3600},
        },
        "registry-certificate-expiry": {
            "task": "cem.registry.check_expiry",
            "schedule": crontab(minute=17),  # scheduler.CERTIFICATE_EXPIRY_S
            "options": {"expires": 1800},
        },
    },
)


def run_exclusive(name: str, work: Callable[[], T], *, hold_s: int, redis_url: str | None = None) -> T | None:
    """Run ``work`` unless another run of job ``name`` holds its lock (in the broker's Redis); None when skipped."""
    client = Redis.from_url(redis_url or _broker_url())
    try:
        lock = client.lock(f"{LOCK_PREFIX}{name}", timeout=hold_s, blocking=False)
        if not lock.acquire():
            log.info("job skipped: its previous run is still going", extra={"job": name})
            return None
        try:
            return work()
        finally:
            with contextlib.suppress(LockError):  # expired meanwhile (hold_s passed): nothing left to release
                lock.release()
    finally:
        client.close()


def _run_job(name: str, job: Callable[[Settings], Awaitable[T]]) -> T | None:
    return run_exclusive(name, lambda: run_with_db(job), hold_s=TIME_LIMITS[name] + 60)


@app.task(name="cem.timeseries.fold")  # type: ignore[untyped-decorator]
def fold_timeseries() -> int | None:
    """Fold new readings into the hour, day and month rollups (every CEM_TIMESERIES_ROLLUP_INTERVAL_S)."""
    return _run_job("cem.timeseries.fold", scheduler.fold_timeseries)


@app.task(name="cem.accounting.refresh")  # type: ignore[untyped-decorator]
def refresh_emissions() -> RefreshReport | None:
    """Account again the periods whose inputs changed (every 15 s; one run at a time)."""
    return _run_job("cem.accounting.refresh", scheduler.refresh_emissions)


@app.task(name="cem.timeseries.maintain")  # type: ignore[untyped-decorator]
def maintain_timeseries() -> MaintenanceReport | None:
    """Create time-series partitions ahead and drop those past retention (hourly)."""
    return _run_job("cem.timeseries.maintain", scheduler.maintain_timeseries)


@app.task(name="cem.alarms.evaluate")  # type: ignore[untyped-decorator]
def evaluate_alarms() -> EvaluationReport | None:
    """Raise and clear alarms (every 30 s)."""
    return _run_job("cem.alarms.evaluate", scheduler.evaluate_alarms)


@app.task(name="cem.benchmarking.limits")  # type: ignore[untyped-decorator]
def evaluate_limits() -> LimitReport | None:
    """Raise and clear the alarms of processes above their energy limits (every 5 minutes)."""
    return _run_job("cem.benchmarking.limits", scheduler.evaluate_limits)


@app.task(name="cem.carbon_assets.warnings")  # type: ignore[untyped-decorator]
def evaluate_carbon_warnings() -> WarningReport | None:
    """Raise and clear the carbon-asset warnings (hourly)."""
    return _run_job("cem.carbon_assets.warnings", scheduler.evaluate_carbon_warnings)


@app.task(name="cem.registry.publish_crl")  # type: ignore[untyped-decorator]
def publish_crl() -> int | None:
    """Sign a fresh CRL well before the current one expires, and hand it to the broker."""
    return _run_job("cem.registry.publish_crl", scheduler.publish_crl)


@app.task(name="cem.registry.check_expiry")  # type: ignore[untyped-decorator]
def check_certificate_expiry() -> list[str] | None:
    """Warn (log, once per certificate) of device certificates expiring within CEM_PKI_EXPIRY_WARNING_DAYS."""
    return _run_job("cem.registry.check_expiry", scheduler.check_certificate_expiry)
