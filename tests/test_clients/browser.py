"""Headless Chromium for the UI tests: open a Flet web app, read the text it shows, save a screenshot.

    with Browser() as browser:
        shot = browser.load(url, viewport=VIEWPORTS["mobile"], screenshot=path, expect=["碳排放"])
        assert "碳排放" in shot.text

Flutter draws on a canvas; the text is read from its accessibility tree, which it mirrors in the DOM as
``flt-semantics`` elements once accessibility is switched on (by clicking the hidden
``flt-semantics-placeholder`` button, as a screen reader would). :meth:`Browser.load` waits, each wait bounded,
for the first frame, then for the texts (``expect``, or any text that stops changing), then for the picture to
settle (no request in flight, two screenshots alike), and saves the last screenshot.

For apps that are used, not just looked at, :meth:`Browser.session` opens an interactive session::

    with browser.session(url, viewport=VIEWPORTS["mobile"]) as s:
        s.fill("用户名", "a-crew")         # the text field whose label is 用户名 (its semantics <input>)
        s.click("登录")                    # the button (or tab, menu item, tappable card) showing 登录
        s.wait_for(["告警"])
        s.screenshot(path)

Flutter's text fields are ``<input>``/``<textarea>`` elements of the semantics tree, labelled (``aria-label``) with
the field's label. :meth:`Session.fill` taps one and types, as a user does (setting the element's value directly
races Flutter taking the field over after the tap, and the text may be lost); the element holds the text only
while the field has the focus. Buttons, tabs, menu items and tappable cards are ``flt-semantics`` elements with
their text (a card's texts joined by newlines); a click on one is a tap. The session's calls block: run them in a
thread when the test's event loop serves the platform (``await asyncio.to_thread(steps)``).

``Browser(offline=True)`` is a plant network without internet: every page's requests for anything but loopback are
noted and aborted; what gets past that (a worker's, a WebSocket) goes to a proxy of the test's own
(:class:`OutsideSink`, the contexts' proxy) that notes and refuses it; :attr:`Browser.outside_requests` lists both.
Chromium's own traffic (component updates, account checks: no page's doing) goes to another such proxy, and no
name but ``localhost`` resolves.

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
import io
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from PIL import Image
from playwright.sync_api import Browser as PlaywrightBrowser
from playwright.sync_api import ConsoleMessage, Playwright, Request, Route, WebSocket, sync_playwright
from playwright.sync_api import Error as PlaywrightError

__all__ = [
    "CHROMIUM_FLAGS",
    "VIEWPORTS",
    "Browser",
    "BrowserError",
    "OutsideSink",
    "Session",
    "Snapshot",
    "TextNode",
    "find_chromium",
]

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


# Marks the element a click should go to: the tappable element (button, tab, menu item, tappable card) showing the
# text, else an element showing it, else the tappable element around it; among several, an exact match, then the
# smallest. Returns what it found, or null.
_MARK_TARGET_JS = """([want, exact]) => {
  for (const old of document.querySelectorAll('[data-cem-target]')) old.removeAttribute('data-cem-target');
  const tappable = el => el.hasAttribute('flt-tappable') ||
    ['button', 'tab', 'menuitem', 'link', 'checkbox', 'radio', 'switch'].includes(el.getAttribute('role'));
  const found = [];
  for (const el of document.querySelectorAll('flt-semantics, flt-semantics *')) {
    const own = Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.data).join('').trim();
    const texts = [(el.getAttribute('aria-label') || '').trim(), own].filter(Boolean);
    const hit = texts.some(t => exact ? t === want : t.includes(want));
    if (!hit) continue;
    const target = tappable(el) ? el : (el.closest('[flt-tappable]') || el);
    const r = target.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;
    found.push({target, tap: tappable(target), exact: texts.some(t => t === want), area: r.width * r.height,
                text: texts.join(' / ')});
  }
  if (!found.length) return null;
  found.sort((a, b) => (b.tap - a.tap) || (b.exact - a.exact) || (a.area - b.area));
  found[0].target.setAttribute('data-cem-target', '1');
  const r = found[0].target.getBoundingClientRect();
  return {text: found[0].text, x: r.x, y: r.y, width: r.width, height: r.height};
}"""

_FIELD_SELECTOR = "flt-semantics input[aria-label={label}], flt-semantics textarea[aria-label={label}]"


class BrowserError(RuntimeError):
    """Chromium or the app did not get where a wait expected within its time."""


def is_loopback(url: str) -> bool:
    """Whether ``url`` is for this machine (or needs no network: ``data:``, ``blob:``, ``about:``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return True
    host = parts.hostname or ""
    return host == "localhost" or host == "::1" or host.startswith("127.")


class OutsideSink:
    """A proxy on 127.0.0.1 for Chromium's ``--proxy-server``: notes the first line of whatever reaches it (``CONNECT
    host:443 ...`` or ``GET http://host/...``) and answers 403. Chromium bypasses a proxy for loopback by itself, so
    only what would leave the machine gets here, from pages, workers or the browser itself alike."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port: int = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="outside-sink", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(5)
                line = conn.recv(8192).split(b"\r\n", 1)[0].decode("latin-1")
                if line:
                    self.requests.append(line)
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        self._thread.join(5)
        self._socket.close()


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

    def __init__(self, executable: str | None = None, *, launch_timeout: float = 30.0, offline: bool = False) -> None:
        chromium = executable or find_chromium()
        if chromium is None:
            raise BrowserError("no Chromium: apt-get install chromium, or set CEM_CHROMIUM")
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self._manager: Any = None
        self._playwright: Playwright | None = None
        self._browser: PlaywrightBrowser | None = None
        self._sink = OutsideSink() if offline else None  # the pages' proxy
        self._own_sink = OutsideSink() if offline else None  # Chromium's own
        self._refused: list[str] = []  # offline: what pages asked of anything but loopback (aborted)
        args = list(CHROMIUM_FLAGS)
        if self._own_sink is not None:
            args += [
                f"--proxy-server=http://127.0.0.1:{self._own_sink.port}",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
                # Chromium asks Google what a form's fields are (autofill) through the page's own network context, where
                # the pages' proxy would count it as the app's; it is the browser's, so it goes to the browser's proxy.
                # (Not --disable-features: a second one replaces Playwright's list instead of adding to it.)
                f"--autofill-server-url=http://127.0.0.1:{self._own_sink.port}/",
            ]
        try:
            self._call(lambda: self._launch(chromium, launch_timeout, args), launch_timeout + 10)
        except BaseException:
            self.close()
            raise

    def _call(self, fn: Callable[[], T], timeout: float) -> T:
        return self._worker.submit(fn).result(timeout)

    def _launch(self, chromium: str, timeout: float, args: list[str]) -> None:
        self._manager = sync_playwright()
        self._playwright = self._manager.start()
        self._browser = self._playwright.chromium.launch(
            executable_path=chromium, headless=True, args=args, timeout=timeout * 1000
        )

    @property
    def outside_requests(self) -> list[str]:
        """Offline: every request for anything but this machine so far, refused (pages' URLs, then the proxy's
        lines); empty otherwise."""
        return [*self._refused, *(self._sink.requests if self._sink is not None else [])]

    @property
    def own_requests(self) -> list[str]:
        """Offline: what Chromium itself tried to reach (refused); no page's doing."""
        return list(self._own_sink.requests) if self._own_sink is not None else []

    def _context_options(self, viewport: tuple[int, int]) -> dict[str, Any]:
        options: dict[str, Any] = {
            "viewport": {"width": viewport[0], "height": viewport[1]},
            "device_scale_factor": 1,
            "locale": "zh-CN",
            "timezone_id": "Asia/Shanghai",
            "service_workers": "block",
        }
        if self._sink is not None:  # naming loopback keeps it direct (Playwright would proxy it otherwise)
            options["proxy"] = {"server": f"http://127.0.0.1:{self._sink.port}", "bypass": "localhost,127.0.0.1,[::1]"}
        return options

    def _guard(self, context: Any, page: Any) -> None:
        """Offline: note and abort a page's requests for anything but loopback, and note its outside WebSockets."""
        if self._sink is None:
            return

        def route(route: Route) -> None:
            if is_loopback(route.request.url):
                route.fallback()
            else:
                self._refused.append(route.request.url)
                route.abort("internetdisconnected")

        def websocket(ws: WebSocket) -> None:
            if not is_loopback(ws.url):
                self._refused.append(ws.url)

        context.route("**/*", route)
        page.on("websocket", websocket)

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
        context = self._browser.new_context(**self._context_options(viewport))
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
        self._guard(context, page)
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
                if again == shot and not inflight and not _flat(again):  # a flat picture: the canvas is not painted
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

    def visit(
        self,
        url: str,
        *,
        screenshot: Path,
        viewport: tuple[int, int] = VIEWPORTS["console"],
        expect: Sequence[str],
        timeout: float = 60.0,
        settle_timeout: float = 10.0,
    ) -> Snapshot:
        """Open an HTML page (not a Flet app: its text is the DOM's) and wait until it shows every text of ``expect``
        and settles; the snapshot's nodes are its lines of text, without boxes."""
        return self._call(
            lambda: self._visit(url, screenshot, viewport, list(expect), timeout, settle_timeout),
            timeout + settle_timeout + 30,
        )

    def _visit(
        self, url: str, screenshot: Path, viewport: tuple[int, int], expect: list[str], timeout: float, settle: float
    ) -> Snapshot:
        if self._browser is None:
            raise BrowserError("the browser is closed")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        context = self._browser.new_context(**self._context_options(viewport))
        page = context.new_page()
        self._guard(context, page)
        inflight: set[Request] = set()
        failed: list[str] = []
        errors: list[str] = []
        page.on("request", lambda r: inflight.add(r))
        page.on("requestfinished", lambda r: inflight.discard(r))
        page.on("requestfailed", lambda r: (inflight.discard(r), failed.append(f"{r.failure} {r.url}")))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        start = time.monotonic()
        settled = False
        try:
            page.goto(url, wait_until="load", timeout=timeout * 1000)
            while True:
                shown = str(page.evaluate("() => document.body ? document.body.innerText : ''"))
                if all(text in shown for text in expect):
                    break
                if time.monotonic() - start > timeout:
                    missing = [text for text in expect if text not in shown]
                    raise BrowserError(f"{url}: texts {missing} not shown within {timeout:.0f} s: {shown[:2000]!r}")
                page.wait_for_timeout(200)
            shot = page.screenshot()
            settle_deadline = time.monotonic() + settle
            while time.monotonic() < settle_deadline:
                page.wait_for_timeout(200)
                again = page.screenshot()
                if again == shot and not inflight:
                    settled = True
                    break
                shot = again
            shown = str(page.evaluate("() => document.body.innerText"))
            screenshot.write_bytes(shot)
        except BaseException:
            _save_quietly(page, screenshot)
            raise
        finally:
            context.close()
        lines = [line.strip() for line in shown.splitlines() if line.strip()]
        return Snapshot(
            url=url,
            viewport=viewport,
            nodes=[TextNode(line, 0, 0, 0, 0) for line in lines],
            screenshot=screenshot,
            timings={"settled": time.monotonic() - start},
            settled=settled,
            failed_requests=failed,
            console_errors=errors,
        )

    @contextlib.contextmanager
    def session(
        self, url: str, *, viewport: tuple[int, int] = VIEWPORTS["console"], timeout: float = 60.0
    ) -> Iterator[Session]:
        """Open ``url`` at ``viewport`` in a fresh context, with the accessibility tree on, for a test to use it
        (see :class:`Session`); the context is closed at the end of the ``with`` block."""
        opened = self._call(lambda: self._open(url, viewport, timeout), timeout + 30)
        try:
            yield opened
        finally:
            with contextlib.suppress(Exception):
                self._call(opened._close, 30)

    def _open(self, url: str, viewport: tuple[int, int], timeout: float) -> Session:
        if self._browser is None:
            raise BrowserError("the browser is closed")
        context = self._browser.new_context(**self._context_options(viewport))
        context.set_default_timeout(timeout * 1000)
        page = context.new_page()
        self._guard(context, page)
        opened = Session(self, url, viewport, context, page)
        try:
            deadline = time.monotonic() + timeout
            page.goto(url, wait_until="load", timeout=timeout * 1000)
            page.wait_for_function("() => !document.getElementById('loading')", timeout=timeout * 1000)
            while page.evaluate(_ENABLE_SEMANTICS_JS) == 0:
                if time.monotonic() > deadline:
                    raise BrowserError(f"{url}: no accessibility tree within {timeout:.0f} s")
                page.wait_for_timeout(100)
        except BaseException:
            context.close()
            raise
        return opened

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
        for sink in (self._sink, self._own_sink):
            if sink is not None:
                sink.close()
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


class Session:
    """An open page of a Flet app that a test uses: fill fields, tap, wait for texts, take screenshots.

    Every method blocks until done (or raises :class:`BrowserError` after its ``timeout``); the work itself runs in
    the browser's thread. ``console_errors`` and ``failed_requests`` collect what went wrong on the page.
    """

    def __init__(self, browser: Browser, url: str, viewport: tuple[int, int], context: Any, page: Any) -> None:
        self.url = url
        self.viewport = viewport
        self._browser = browser
        self._context = context
        self._page = page
        self.console_errors: list[str] = []
        self.failed_requests: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("requestfailed", lambda r: self.failed_requests.append(f"{r.failure} {r.url}"))

    def _run(self, fn: Callable[[], T], timeout: float) -> T:
        return self._browser._call(fn, timeout + 15)

    def _close(self) -> None:
        self._context.close()

    # ---- reading ---------------------------------------------------------------------------------------------

    def nodes(self) -> list[TextNode]:
        """The texts of the accessibility tree with where they are."""
        return self._run(lambda: [TextNode(**node) for node in self._page.evaluate(_TEXTS_JS)], 15)

    def texts(self) -> list[str]:
        """The distinct texts shown, in document order (a tappable card's texts come as one, joined by newlines)."""
        return list(dict.fromkeys(node.text for node in self.nodes()))

    @property
    def text(self) -> str:
        """All texts, one per line."""
        return "\n".join(self.texts())

    def wait_for(self, expect: Sequence[str], *, timeout: float = 30.0) -> list[str]:
        """Wait until every text of ``expect`` is part of some text shown; the texts then."""

        def wait() -> list[str]:
            deadline = time.monotonic() + timeout
            while True:
                texts = list(dict.fromkeys(node["text"] for node in self._page.evaluate(_TEXTS_JS)))
                missing = [e for e in expect if not any(e in t for t in texts)]
                if not missing:
                    return texts
                if time.monotonic() > deadline:
                    raise BrowserError(f"texts {missing} not shown within {timeout:.0f} s; shown: {texts!r}")
                self._page.wait_for_timeout(150)

        return self._run(wait, timeout)

    def wait_gone(self, text: str, *, timeout: float = 30.0) -> list[str]:
        """Wait until no text shown contains ``text``; the texts then."""

        def wait() -> list[str]:
            deadline = time.monotonic() + timeout
            while True:
                texts = list(dict.fromkeys(node["text"] for node in self._page.evaluate(_TEXTS_JS)))
                if not any(text in t for t in texts):
                    return texts
                if time.monotonic() > deadline:
                    raise BrowserError(f"text {text!r} still shown after {timeout:.0f} s: {texts!r}")
                self._page.wait_for_timeout(150)

        return self._run(wait, timeout)

    # ---- doing -----------------------------------------------------------------------------------------------

    def fill(self, label: str, value: str, *, timeout: float = 15.0) -> None:
        """Type ``value`` into the text field labelled ``label`` (what was there is replaced), as a user does: tap
        the field, select what it holds, type; until the field holds ``value``."""
        selector = _FIELD_SELECTOR.format(label=_css_string(label))

        def fill() -> None:
            deadline = time.monotonic() + timeout
            while True:
                field = self._page.locator(selector).first
                try:
                    field.wait_for(state="attached", timeout=max(100, (deadline - time.monotonic()) * 1000))
                    field.click(timeout=2000)
                    self._page.wait_for_timeout(100)  # Flutter takes the field's editing over after the tap
                    self._page.keyboard.press("ControlOrMeta+a")
                    if value:
                        self._page.keyboard.type(value)
                    else:
                        self._page.keyboard.press("Delete")
                    self._page.wait_for_timeout(100)
                    if field.input_value(timeout=2000) == value:
                        return
                except PlaywrightError:  # the tree was rebuilt meanwhile: again
                    pass
                if time.monotonic() > deadline:
                    raise BrowserError(f"could not type into the field {label!r} within {timeout:.0f} s")

        self._run(fill, timeout)

    def field_value(self, label: str, *, timeout: float = 10.0) -> str:
        """What the text field labelled ``label`` holds. The field is tapped first: Flutter puts a field's text in
        the page only while it has the focus."""
        selector = _FIELD_SELECTOR.format(label=_css_string(label))

        def read() -> str:
            field = self._page.locator(selector).first
            field.click(timeout=timeout * 1000)
            deadline = time.monotonic() + timeout
            value = ""
            while time.monotonic() < deadline:
                value = str(field.input_value(timeout=timeout * 1000))
                if value:
                    break
                self._page.wait_for_timeout(100)
            return value

        return self._run(read, timeout)

    def click(self, text: str, *, exact: bool = False, timeout: float = 15.0) -> None:
        """Tap the button, tab, menu item or card showing ``text`` (``exact``: the whole text, not a part)."""

        def click() -> None:
            deadline = time.monotonic() + timeout
            while True:
                target = self._page.evaluate(_MARK_TARGET_JS, [text, exact])
                if target is not None:
                    try:
                        self._page.locator("[data-cem-target]").first.click(timeout=2000)
                        return
                    except PlaywrightError:  # the tree was rebuilt between finding and clicking: again
                        pass
                if time.monotonic() > deadline:
                    shown = [node["text"] for node in self._page.evaluate(_TEXTS_JS)]
                    raise BrowserError(f"nothing to tap showing {text!r} within {timeout:.0f} s; shown: {shown!r}")
                self._page.wait_for_timeout(150)

        self._run(click, timeout)

    def press(self, key: str) -> None:
        """Press a key (``Enter``, ``Tab`` ...) in whatever has the focus."""
        self._run(lambda: self._page.keyboard.press(key), 10)

    def scroll(self, dy: int, *, at: tuple[int, int] | None = None) -> None:
        """Scroll what is under ``at`` (default: the middle of the page) by ``dy`` pixels, as a mouse wheel does."""
        x, y = at or (self.viewport[0] // 2, self.viewport[1] // 2)

        def scroll() -> None:
            self._page.mouse.move(x, y)
            self._page.mouse.wheel(0, dy)
            self._page.wait_for_timeout(400)

        self._run(scroll, 10)

    def pause(self, seconds: float) -> None:
        """Let the page run for ``seconds``."""
        self._run(lambda: self._page.wait_for_timeout(seconds * 1000), seconds)

    def screenshot(self, path: Path, *, settle: float = 3.0) -> Path:
        """Save a PNG at ``path`` once two screenshots in a row are alike (or ``settle`` seconds passed)."""
        path.parent.mkdir(parents=True, exist_ok=True)

        def shoot() -> None:
            self._page.mouse.move(self.viewport[0] - 1, self.viewport[1] // 3)  # no hover tooltip in the picture
            shot = self._page.screenshot()
            deadline = time.monotonic() + settle
            while time.monotonic() < deadline:
                self._page.wait_for_timeout(250)
                again = self._page.screenshot()
                if again == shot and not _flat(again):
                    break
                shot = again
            path.write_bytes(shot)

        self._run(shoot, settle + 15)
        return path


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _save_quietly(page: Any, path: Path) -> None:
    with contextlib.suppress(Exception):  # best effort, for the report of a failure already raised
        page.screenshot(path=str(path), timeout=5000)


def _flat(png: bytes) -> bool:
    """Whether a screenshot is one colour: the page's semantics can be there before the canvas is painted."""
    with Image.open(io.BytesIO(png)) as image:
        return image.convert("RGB").getcolors(2) is not None  # None: more than two colours
