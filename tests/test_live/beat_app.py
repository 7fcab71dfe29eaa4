"""The real Celery application with the CRL publication due every second, for the worker-and-beat test.

``celery -A tests.test_live.beat_app worker --beat``: the production tasks, only the schedule is shortened
(the real one publishes at minute 7 of every sixth hour).
"""

from __future__ import annotations

from cem_platform.jobs import app

app.conf.beat_schedule = {
    "registry-publish-crl": {"task": "cem.registry.publish_crl", "schedule": 1.0, "options": {"expires": 1.0}},
}
