"""Fixtures of the client tests."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

from cem_clients.ui import serve as ui_serve


@pytest.fixture(scope="session", autouse=True)
def _stop_web_apps() -> Iterator[None]:
    """Stop the served Flet apps while pytest's output streams are still open (their loggers write there)."""
    yield
    ui_serve.stop_all()
    gc.collect()  # Flet logs its sessions' collection: let that happen now, not after the streams closed
    for name in ("flet", "flet_web"):
        logging.getLogger(name).setLevel(logging.WARNING)
