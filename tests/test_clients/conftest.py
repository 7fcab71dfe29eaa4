"""Fixtures of the client tests."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

from cem_clients.ui import serve as ui_serve


@pytest.fixture(scope="module", autouse=True)
def _stop_web_apps() -> Iterator[None]:
    """Stop the served Flet apps after each module: their sessions (Flet keeps a closed tab's session an hour)
    end, with their tickers, live feeds and connections, instead of retrying against platforms already gone
    while the rest of the suite runs. Also while pytest's output streams are still open (the loggers write
    there)."""
    yield
    ui_serve.stop_all()
    gc.collect()  # Flet logs its sessions' collection: let that happen now, not after the streams closed
    for name in ("flet", "flet_web"):
        logging.getLogger(name).setLevel(logging.WARNING)
