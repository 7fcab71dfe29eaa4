"""A tab that closes while its app's main function still runs ends the session quietly (no Flet traceback)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import flet as ft
import pytest
from playwright.sync_api import sync_playwright

from cem_clients.ui.serve import serve_app
from tests.test_clients.browser import CHROMIUM_FLAGS, find_chromium


def test_a_tab_closed_while_main_runs_leaves_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """flet-web 1.0.5 called None.after_event when main returned after its tab had gone: the demo logged that
    traceback every few minutes (tabs reloading, wallboards switched off)."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium")
    caplog.set_level(logging.INFO, logger="flet_web")
    caplog.set_level(logging.INFO, logger="flet")
    started, finished, closed = threading.Event(), threading.Event(), threading.Event()

    async def main(page: ft.Page) -> None:
        page.add(ft.Text("starting"))
        page.update()
        started.set()
        try:
            await asyncio.to_thread(closed.wait, 60)  # an app still loading its first figures when the tab goes
        finally:
            finished.set()

    app = serve_app(main, name="closing")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=list(CHROMIUM_FLAGS))
            page = browser.new_page()
            page.goto(app.url)
            assert started.wait(60), "the app's main never ran"
            page.close()
            browser.close()

        def ended() -> bool:
            return any("Session handler terminated" in r.getMessage() for r in caplog.records) or any(
                r.levelno >= logging.ERROR for r in caplog.records
            )

        # main goes on until its tab has gone from the server's side (the session disconnected), then returns
        deadline = time.monotonic() + 30
        while not any("isconnect" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
        closed.set()
        assert finished.wait(10)
        deadline = time.monotonic() + 10
        while not ended() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        app.stop()
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert ended()
