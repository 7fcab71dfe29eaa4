"""Periodic jobs: the Celery application (Redis broker) and its beat schedule.

Run a worker and the scheduler beside the API::

    celery -A cem_platform.jobs worker --loglevel INFO
    celery -A cem_platform.jobs beat --loglevel INFO

Each task opens the database for its own run, so it works in any worker process.
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from cem_platform.db import run_with_db
from cem_platform.settings import get_settings

__all__ = ["app", "check_certificate_expiry", "publish_crl"]


def _broker_url() -> str:
    return get_settings().redis.url or "redis://127.0.0.1:6379/0"


app = Celery("cem", broker=_broker_url(), include=[])
app.conf.update(
    task_acks_late=True,  # a job interrupted by a crash runs again; every job here is idempotent
    worker_prefetch_multiplier=1,
    timezone="UTC",
    beat_schedule={
        "registry-publish-crl": {"task": "cem.registry.publish_crl", "schedule": crontab(minute=7, hour="*/6")},
        "registry-certificate-expiry": {"task": "cem.registry.check_expiry", "schedule": crontab(minute=17)},
    },
)


@app.task(name="cem.registry.publish_crl")  # type: ignore[untyped-decorator]
def publish_crl() -> int:
    """Sign a fresh CRL well before the current one expires, and hand it to the broker."""
    from cem_registry.ca import Authority

    publication = run_with_db(lambda s: Authority(s).publish_crl())
    return publication.number


@app.task(name="cem.registry.check_expiry")  # type: ignore[untyped-decorator]
def check_certificate_expiry() -> list[str]:
    """Warn (log, once per certificate) of device certificates expiring within CEM_PKI_EXPIRY_WARNING_DAYS."""
    from cem_registry.services import DeviceRegistry

    due = run_with_db(lambda s: DeviceRegistry(s).expiring_certificates())
    return [cert.device_id for cert in due]
