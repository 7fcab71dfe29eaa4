"""The periodic jobs: what each one runs and how often, and an in-process runner for the demo.

In production Celery beat schedules them and workers run them (:mod:`cem_platform.jobs`); with
``CEM_INGEST_EMBEDDED`` (the demo: no Redis, no Celery) the API process runs them itself with
:class:`JobRunner`. Both call the same job functions below, on the same periods.

Each job function opens nothing: it runs inside whatever Tortoise context the caller prepared (Celery's
``run_with_db``, or the API's lifespan).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cem_platform.settings import Settings

if TYPE_CHECKING:
    from cem_platform.accounting.refresh import RefreshReport
    from cem_platform.alarms.rules import EvaluationReport
    from cem_platform.benchmarking.services import LimitReport
    from cem_platform.carbon_assets.services import WarningReport
    from cem_platform.telemetry.retention import MaintenanceReport

__all__ = [
    "ACCOUNTING_REFRESH_S",
    "ALARM_EVALUATION_S",
    "CERTIFICATE_EXPIRY_S",
    "BENCHMARK_LIMITS_S",
    "CARBON_WARNINGS_S",
    "CRL_PUBLICATION_S",
    "TIMESERIES_MAINTENANCE_S",
    "Job",
    "JobRunner",
    "check_certificate_expiry",
    "embedded_jobs",
    "evaluate_alarms",
    "evaluate_carbon_warnings",
    "evaluate_limits",
    "fold_timeseries",
    "maintain_timeseries",
    "periodic_jobs",
    "publish_crl",
    "refresh_emissions",
]

log = logging.getLogger("cem.jobs")

ALARM_EVALUATION_S = 30
ACCOUNTING_REFRESH_S = 15  # as cem_platform.accounting.refresh.REFRESH_S
TIMESERIES_MAINTENANCE_S = 3600
CRL_PUBLICATION_S = 6 * 3600  # a CRL is valid CEM_PKI_CRL_HOURS (a week by default): republished well before
CERTIFICATE_EXPIRY_S = 3600
BENCHMARK_LIMITS_S = 300
CARBON_WARNINGS_S = 3600  # forecasts move with monthly results: hourly is ample


# ---- the jobs (imported lazily: each domain owns its job, and the demo need not load them all up front) ----


async def fold_timeseries(settings: Settings) -> int:
    """Fold new readings (ts_pending) into the hour, day and month rollups, and mark the ranges they touched for
    the accounting refresh; returns how many readings were folded."""
    from cem_platform.accounting.pending import mark_points
    from cem_platform.telemetry.rollup import fold_all

    touched: dict[int, tuple[dt.datetime, dt.datetime]] = {}
    folded = await fold_all(settings, touched)
    await mark_points(touched)
    return folded


async def refresh_emissions(settings: Settings) -> RefreshReport:
    """Account again the periods whose inputs changed (kept results; reads never account)."""
    from cem_platform.accounting.refresh import refresh

    return await refresh()


async def maintain_timeseries(settings: Settings) -> MaintenanceReport:
    """Create partitions ahead, drop those past retention."""
    from cem_platform.telemetry.retention import maintain

    return await maintain(settings, now=None)


async def evaluate_alarms(settings: Settings) -> EvaluationReport:
    """Raise and clear alarms from the latest data (limits, stale meters, silent terminals)."""
    from cem_platform.alarms.rules import evaluate

    return await evaluate(settings, now=None)


async def evaluate_limits(settings: Settings) -> LimitReport:
    """Raise and clear the alarms of processes above their energy limits (GB 21256, GB 21342, their own)."""
    from cem_platform.benchmarking.services import evaluate_limits

    return await evaluate_limits(settings)


async def evaluate_carbon_warnings(settings: Settings) -> WarningReport:
    """Raise and clear the carbon-asset warnings (forecast deficit, deadline near with a deficit)."""
    from cem_platform.carbon_assets.services import evaluate_warnings

    return await evaluate_warnings(settings)


async def publish_crl(settings: Settings) -> int:
    """Sign a fresh CRL well before the current one expires, and hand it to the broker; returns its number."""
    from cem_registry.ca import Authority

    publication = await Authority(settings).publish_crl()
    return publication.number


async def check_certificate_expiry(settings: Settings) -> list[str]:
    """Warn (log, once per certificate) of device certificates expiring within CEM_PKI_EXPIRY_WARNING_DAYS."""
    from cem_registry.services import DeviceRegistry

    due = await DeviceRegistry(settings).expiring_certificates()
    return [cert.device_id for cert in due]


@dataclass(frozen=True, slots=True)
class Job:
    """One periodic job: its Celery task name, its period, and what it runs."""

    name: str
    every_s: float
    run: Callable[[Settings], Awaitable[object]]


def periodic_jobs(settings: Settings) -> list[Job]:
    """Every periodic job of the platform, on the periods Celery beat uses too."""
    return [
        Job("cem.timeseries.fold", settings.timeseries.rollup_interval_s, fold_timeseries),
        Job("cem.accounting.refresh", ACCOUNTING_REFRESH_S, refresh_emissions),
        Job("cem.timeseries.maintain", TIMESERIES_MAINTENANCE_S, maintain_timeseries),
        Job("cem.alarms.evaluate", ALARM_EVALUATION_S, evaluate_alarms),
        Job("cem.benchmarking.limits", BENCHMARK_LIMITS_S, evaluate_limits),
        Job("cem.carbon_assets.warnings", CARBON_WARNINGS_S, evaluate_carbon_warnings),
        Job("cem.registry.publish_crl", CRL_PUBLICATION_S, publish_crl),
        Job("cem.registry.check_expiry", CERTIFICATE_EXPIRY_S, check_certificate_expiry),
    ]


class JobRunner:
    """Runs jobs as asyncio tasks of this process, each on its period, inside the process's Tortoise context.

    A job never overlaps itself: its next run starts a period after the previous one started, or at once when
    that run took longer. A failing run is logged and the job runs again next period. Every job runs once
    ``first_run_after_s`` after start, so that a demo restarted often still folds, maintains and republishes.
    """

    def __init__(self, settings: Settings, jobs: Sequence[Job] | None = None, *, first_run_after_s: float = 5.0):
        self.settings = settings
        self.jobs = list(periodic_jobs(settings) if jobs is None else jobs)
        self.first_run_after_s = first_run_after_s
        self.runs: dict[str, int] = {job.name: 0 for job in self.jobs}
        self.failures: dict[str, int] = {job.name: 0 for job in self.jobs}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        """Are the jobs' tasks alive?"""
        return any(not task.done() for task in self._tasks)

    async def start(self) -> None:
        """Start one task per job (returns at once)."""
        if self._tasks:
            raise RuntimeError("the job runner is already started")
        self._stop.clear()
        self._tasks = [asyncio.create_task(self._loop(job), name=f"job:{job.name}") for job in self.jobs]
        log.info("periodic jobs started in this process", extra={"jobs": [job.name for job in self.jobs]})

    async def stop(self, grace_s: float = 10.0) -> None:
        """Let running jobs finish (up to ``grace_s``), cancel the rest, and wait for every task to end."""
        self._stop.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace_s)
        for task in late:
            log.warning("periodic job cancelled at shutdown", extra={"job": task.get_name()})
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _stopping_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=max(seconds, 0.0))
        except TimeoutError:
            return False
        return True

    async def _loop(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        delay = self.first_run_after_s
        while not await self._stopping_within(delay):
            started = loop.time()
            try:
                await job.run(self.settings)
            except Exception:  # noqa: BLE001 - one failed run must not end the job (it is logged)
                self.failures[job.name] += 1
                log.exception("periodic job failed; it runs again next period", extra={"job": job.name})
            else:
                self.runs[job.name] += 1
            delay = job.every_s - (loop.time() - started)


def embedded_jobs(settings: Settings) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan hook running the periodic jobs in the API process (the demo's CEM_INGEST_EMBEDDED)."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        runner = JobRunner(settings)
        await runner.start()
        try:
            yield
        finally:
            await runner.stop()

    return lifespan
