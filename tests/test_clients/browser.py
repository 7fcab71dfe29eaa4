"""Headless Chromium for the UI tests: open a Flet web app, read the text it shows, save a screenshot.

    with Browser() as browser:
        shot = browser.load(url, viewport=VIEWPORTS["mobile"], screenshot=path, expect=["碳排放"])
        assert "碳排放" in shot.text

Flutter draws on a canvas; the text is read from its accessibility tree, which it mirrors in the DOM as
``flt-semantics`` elements once accessibility is switched on (by clicking the hidden
``flt-semantics-placeholder`` button, as a screen reader would). :meth:`Browser.load` waits, each wait bounded,
for the first frame, then for the texts (``expect``, or any text that stops changing), then for the picture to
settle (no request in flight, two screenshots alike), and saves the last screenshot.

Chromium is the system's (``apt-get install chromium``, or ``CEM_CHROMIUM``) driven by Playwright, whose Python
package brings its driver and needs no browser download. Playwright's synchronous API marks its event loop as the
thread's running loop between calls, which would break the async fixtures of the same test; so every call runs in
a thread of its own (:class:`Browser` hands them over). Each load gets a fresh browser context (no cache, no
storage); Playwright gives Chromium a fresh temporary profile and removes it; ``close()`` (or the end of the
``with`` block) ends Chromium and the driver.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from playwright.sync_api import Browser as PlaywrightBrowser
from playwright.sync_api import ConsoleMessage, Playwright, Request, sync_playwright

__all__ = ["CHROMIUM_FLAGS", "VIEWPORTS", "Browser", "BrowserError", "Snapshot", "TextNode", "find_chromium"]

T = TypeVar("T")

VIEWPORTS: dict[str, tuple[int, int]] = {"wallboard": (1920, 1080), "mobile": (390, 844), "console": (1440, 900)}
"""The apps' viewports: a 1080p TV, a phone, a laptop."""

CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
)
"""Headless Chromium that contacts nothing by itself (``--headless`` and a fresh profile come from Playwright)."""

_TEXTS_JS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('flt-semantics, flt-semantics *')) {
    const own = Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.data).join('').trim();
    const label = (el.getAttribute('aria-label') || '').trim();
    const r = el.getBoundingClientRect();
    for (const text of new Set([label, own])) {
      if (text) out.push({text, x: r.x, y: r.y, width: r.width, height: r.height});
    }
  }
  return out;
}"""

_ENABLE_SEMANTICS_JS = """() => {
  const placeholder = document.querySelector('flt-semantics-placeholder');
  if (placeholder) placeholder.click();
  return document.querySelectorAll('flt-semantics').length;
}"""


class BrowserError(RuntimeError):
    """Chromium or the app did not get where a wait expected within its time."""


def find_chromium() -> str | None:
    """The Chromium to use: ``CEM_CHROMIUM``, else ``chromium``/``chromium-browser``/``google-chrome`` on PATH."""
    configured = os.environ.get("CEM_CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True, slots=True)
class TextNode:
    """A text of the accessibility tree and where it is on the page (CSS pixels = screenshot pixels)."""

    text: str
    x: float
    y: float
    width: float
    height: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` rounded outwards, for cropping the screenshot."""
        return (int(self.x), int(self.y), int(self.x + self.width + 0.999), int(self.y + self.height + 0.999))


@dataclass(slots=True)
class Snapshot:
    """What a page showed once it had settled."""

    url: str
    viewport: tuple[int, int]
    nodes: list[TextNode]
    screenshot: Path
    timings: dict[str, float]  # seconds from navigation: first_frame, semantics, texts, settled
    settled: bool  # two screenshots in a row were alike before the settle time ran out
    fallback_font_requests: list[str] = field(default_factory=list)  # Flutter's Noto fallbacks: glyphs missing
    external_requests: list[str] = field(default_factory=list)  # to any host but the app's
    failed_requests: list[str] = field(default_factory=list)  # 4xx/5xx answers and requests that failed
    console_errors: list[str] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        """The distinct texts, in document order."""
        return list(dict.fromkeys(node.text for node in self.nodes))

    @property
    def text(self) -> str:
        """All texts, one per line (for ``in`` checks and messages)."""
        return "\n".join(self.texts)

    def node(self, text: str) -> TextNode:
        """The first node whose text is ``text`` exactly."""
        for node in self.nodes:
            if node.text == text:
                return node
        raise KeyError(f"no text {text!r} among {self.texts}")


class Browser:
    """Headless Chromium under Playwright, driven from a thread of its own; a context manager."""

    def __init__(self, executable: str | None = None, *, launch_timeout: float = 30.0) -> None:
        chromium = executable or find_chromium()
        if chromium is None:
            raise BrowserError("no Chromium: apt-get install chromium, or set CEM_CHROMIUM")
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self._manager: Any = None
        self._playwright: Playwright | None = None
        self._browser: PlaywrightBrowser | None = None
        try:
            self._call(lambda: self._launch(chromium, launch_timeout), launch_timeout + 10)
        except BaseException:
            self.close()
            raise

    def _call(self, fn: Callable[[], T], timeout: float) -> T:
        return self._worker.submit(fn).result(timeout)

    def _launch(self, chromium: str, timeout: float) -> None:
        self._manager = sync_playwright()
        self._playwright = self._manager.start()
        self._browser = self._playwright.chromium.launch(
            executable_path=chromium, headless=True, args=list(CHROMIUM_FLAGS), timeout=timeout * 1000
        )

    @property
    def version(self) -> str:
        """Chromium's version."""
        browser = self._browser
        if browser is None:
            raise BrowserError("the browser is closed")
        return self._call(lambda: browser.version, 10)

    def load(
        self,
        url: str,
        *,
        screenshot: Path,
        viewport: tuple[int, int] = VIEWPORTS["console"],
        expect: Sequence[str] = (),
        timeout: float = 60.0,
        settle_timeout: float = 10.0,
    ) -> Snapshot:
        """Open ``url`` at ``viewport``, wait for its texts (all of ``expect`` if given), save a PNG at ``screenshot``.

        Raises :class:`BrowserError` when the first frame, the accessibility tree or an expected text does not
        come within ``timeout`` seconds (the screenshot is saved all the same, for the failure's report).
        """
        return self._call(
            lambda: self._load(url, screenshot, viewport, list(expect), timeout, settle_timeout),
            timeout + settle_timeout + 30,
        )

    def _load(
        self, url: str, screenshot: Path, viewport: tuple[int, int], expect: list[str], timeout: float, settle: float
    ) -> Snapshot:
        if self._browser is None:
            raise BrowserError("the browser is closed")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        context = self._browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            device_scale_factor=1,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            service_workers="block",
        )
        context.set_default_timeout(timeout * 1000)
        inflight: set[Request] = set()
        failed: list[str] = []
        fallbacks: list[str] = []
        external: list[str] = []
        errors: list[str] = []
        origin = urlsplit(url).netloc

        def on_request(request: Request) -> None:
            inflight.add(request)
            if "/fonts/noto" in request.url.lower():
                fallbacks.append(request.url)
            parts = urlsplit(request.url)
            if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != origin:
                external.append(request.url)

        def on_finished(request: Request) -> None:
            inflight.discard(request)
            response = request.response()
            if response is not None and response.status >= 400:
                failed.append(f"{response.status} {request.url}")

        def on_failed(request: Request) -> None:
            inflight.discard(request)
            failed.append(f"{request.failure} {request.url}")

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                errors.append(message.text)

        page = context.new_page()
        page.on("request", on_request)
        page.on("requestfinished", on_finished)
        page.on("requestfailed", on_failed)
        page.on("console", on_console)
        timings: dict[str, float] = {}
        start = time.monotonic()
        deadline = start + timeout
        nodes: list[TextNode] = []
        settled = False

        def remaining() -> float:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{url}: gave up after {timeout:.0f} s")
            return left * 1000

        try:
            page.goto(url, wait_until="load", timeout=remaining())
            page.wait_for_function("() => !document.getElementById('loading')", timeout=remaining())
            timings["first_frame"] = time.monotonic() - start
            while page.evaluate(_ENABLE_SEMANTICS_JS) == 0:
                remaining()
                page.wait_for_timeout(100)
            timings["semantics"] = time.monotonic() - start
            previous: list[TextNode] | None = None
            while True:
                nodes = [TextNode(**node) for node in page.evaluate(_TEXTS_JS)]
                shown = "\n".join(node.text for node in nodes)
                if expect and all(text in shown for text in expect):
                    break
                if not expect and nodes and nodes == previous:
                    break
                previous = nodes
                if time.monotonic() > deadline:
                    missing = [text for text in expect if text not in shown]
                    raise BrowserError(f"{url}: texts {missing or '(any)'} not shown within {timeout:.0f} s: {shown!r}")
                page.wait_for_timeout(250)
            timings["texts"] = time.monotonic() - start
            shot = page.screenshot()
            settle_deadline = time.monotonic() + settle
            while time.monotonic() < settle_deadline:
                page.wait_for_timeout(200)
                again = page.screenshot()
                if again == shot and not inflight:
                    settled = True
                    break
                shot = again
            nodes = [TextNode(**node) for node in page.evaluate(_TEXTS_JS)]
            screenshot.write_bytes(shot)
            timings["settled"] = time.monotonic() - start
        except BaseException:
            _save_quietly(page, screenshot)
            raise
        finally:
            context.close()
        return Snapshot(
            url=url,
            viewport=viewport,
            nodes=nodes,
            screenshot=screenshot,
            timings=timings,
            settled=settled,
            fallback_font_requests=fallbacks,
            external_requests=external,
            failed_requests=failed,
            console_errors=errors,
        )

    def close(self) -> None:
        """End Chromium and the Playwright driver (idempotent)."""

        def stop() -> None:
            try:
                if self._browser is not None:
                    self._browser.close()
            finally:
                self._browser = None
                if self._playwright is not None:
                    self._playwright.stop()
                    self._playwright = None

        driver = self._driver_pid()
        try:
            if self._browser is not None or self._playwright is not None:
                self._call(stop, 30)
        except BaseException:
            # Stuck: end the driver; Chromium, attached to it by a pipe, ends with it.
            if driver is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(driver, signal.SIGKILL)
            self._worker.shutdown(wait=False, cancel_futures=True)
            raise
        self._worker.shutdown(wait=True)

    def _driver_pid(self) -> int | None:
        """The Playwright driver's process id (private attributes, for a last resort only)."""
        try:
            pid = self._manager._client._transport._proc.pid
        except AttributeError:
            return None
        return pid if isinstance(pid, int) else None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _save_quietly(page: Any, path: Path) -> None:
    with contextlib.suppress(Exception):  # best effort, for the report of a failure already raised
        page.screenshot(path=str(path), timeout=5000)
