"""Serve Flet app functions as web apps: one port each, in a background thread of the calling process.

``serve_app(main, port=8551)`` starts a web server for ``main`` and returns once it accepts connections; the
returned :class:`ServedApp` has the URL and ``stop()``. ``serve_apps([...], out=sys.stdout)`` does that for the
three apps of ``cem demo`` and prints their URLs.

How. The web client (Flutter, CanvasKit/skwasm, all bundled in the ``flet-web`` wheel) is served without any
CDN (``no_cdn``), and nothing an app's page asks for leaves the server (plants' control networks have no internet;
``tests/test_clients/test_offline.py`` loads every app with the internet refused). Every app's server adds to
Flet's ASGI app: the web client's font manifest, which registers the bundled CJK font
(:mod:`cem_clients.ui.theme`) so that it is loaded before the first frame, and the font files themselves (cached
by browsers for a day); and the Rive animation runtime. flet-web 1.0.5's code loads that from jsDelivr at start-up,
at an address written into ``main.dart.js`` and ``main.dart.wasm`` that no setting changes; the server answers
for both files with the address replaced by one of the same length on the app's own server, where it serves the
package's copy in ``assets/rive-native/`` (see its README).

Every server runs on one event loop in one daemon thread (``cem-ui``), shared by all apps of the process: Flet
keeps its sessions in a process-wide manager bound to one loop, so apps on several loops would step on each
other. Stopping an app closes its port and its browsers' connections (Flet keeps a session an hour after its tab
went, to resume it); :func:`stop_all` (also run at exit) stops every app, closes the sessions, ends the thread.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import gc
import hashlib
import inspect
import json
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import flet as ft
import uvicorn
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cem_clients.ui.theme import ASSETS_DIR, FONT_FAMILY, FONT_FILES, FONTS_DIR

__all__ = ["AppMain", "ServedApp", "WebApp", "font_manifest", "serve_app", "serve_apps", "stop_all", "web_app"]

log = logging.getLogger(__name__)

AppMain = Callable[[ft.Page], Awaitable[None] | None]
"""A Flet app function: called with the page of every new session."""

_FONT_URL_PREFIX = "/assets/cem/fonts/"  # the manifest's assets are fetched from /assets/<asset>
_START_TIMEOUT = 15.0

RIVE_VERSION = "44.0.0"
"""The version of ``@rive-app/flutter-native-wasm`` that flet-web's code asks for, bundled in ``RIVE_DIR``."""
RIVE_DIR = ASSETS_DIR / "rive-native"
_RIVE_CDN = f"https://cdn.jsdelivr.net/npm/@rive-app/flutter-native-wasm@{RIVE_VERSION}/".encode()
_RIVE_URL_PREFIX = f"/assets/cem/rive-native-{RIVE_VERSION}/"
# Relative, so that it resolves against the page's <base href>; led by "./" up to the CDN address's length, since
# in main.dart.wasm the address is a string constant whose length is written before it. Both lengths change alike
# with the version.
_RIVE_LOCAL = ("./" * ((len(_RIVE_CDN) - len(_RIVE_URL_PREFIX) + 1) // 2) + _RIVE_URL_PREFIX[1:]).encode()
_RIVE_FILES = ("wasm/rive_native.js", "wasm/rive_native.wasm", "wasm_compatibility/rive_native.js",
               "wasm_compatibility/rive_native.wasm")  # fmt: skip
_CLIENT_CODE = {"/main.dart.js": "text/javascript", "/main.dart.wasm": "application/wasm"}
_YEAR = "public, max-age=31536000, immutable"  # for files whose address changes with their version


@dataclass(frozen=True, slots=True)
class WebApp:
    """One app for :func:`serve_apps`: a name for the printed list, its function, the port it would like."""

    name: str
    main: AppMain
    port: int = 0  # 0: any free port; a taken port falls back to a free one in serve_apps
    title: str | None = None  # the browser tab's title


def font_manifest() -> bytes:
    """The web client's ``assets/FontManifest.json``: Flet's own fonts, and the bundled font as ``Roboto``.

    Flutter's default family is replaced rather than a family added, so that the font is downloaded once and
    every piece of text has it (see :mod:`cem_clients.ui.theme`).
    """
    from flet_web import get_package_web_dir  # type: ignore[import-untyped]

    stock = Path(str(get_package_web_dir())) / "assets" / "FontManifest.json"
    families: list[dict[str, Any]] = [f for f in json.loads(stock.read_text()) if f.get("family") != FONT_FAMILY]
    fonts: list[dict[str, Any]] = []
    for weight, name in sorted(FONT_FILES.items()):
        entry: dict[str, Any] = {"asset": f"{_FONT_URL_PREFIX.removeprefix('/assets/')}{name}"}
        if weight != 400:
            entry["weight"] = weight
        fonts.append(entry)
    families.append({"family": FONT_FAMILY, "fonts": fonts})
    return json.dumps(families, separators=(",", ":")).encode()


@functools.cache
def _client_code(path: str) -> tuple[bytes, str]:
    """The web client's ``main.dart.js`` or ``main.dart.wasm`` (``path`` from the root) with the Rive runtime's
    address on the app's own server, and its ETag; read once per process."""
    from flet_web import get_package_web_dir

    code = (Path(str(get_package_web_dir())) / path.lstrip("/")).read_bytes()
    if code.count(_RIVE_CDN) != 1:
        log.warning(
            "flet-web's %s does not load the Rive runtime from %s as expected: pages may ask the internet for it "
            "(see %s/README.md)", path, _RIVE_CDN.decode(), RIVE_DIR,
        )  # fmt: skip
    code = code.replace(_RIVE_CDN, _RIVE_LOCAL)
    return code, f'"{hashlib.sha256(code).hexdigest()[:32]}"'


def _outlived(main: AppMain) -> Callable[[ft.Page], Awaitable[None]]:
    """``main``, ending as a disconnected page when its tab closed or reconnected while it ran.

    flet-web 1.0.5 runs ``main`` for the connection that made the session; when that tab closes or reconnects
    before ``main`` returns, the connection is disposed (its session set to None) and Flet's own code then calls
    ``None.after_event``: a logged traceback ("'NoneType' object has no attribute 'after_event'"), six in eleven
    minutes of the demo. Its handler of ``FletPageDisconnectedException`` reads ``None.id`` too; the one of
    ``BrokenPipeError`` (the pipe to the tab is gone, which is the case) copes and logs one INFO line, so that is
    what ``main`` ends with then. The check and Flet's call run with no await between them.
    """

    async def run(page: ft.Page) -> None:
        started_on = page.session.connection
        result = main(page)
        if inspect.isawaitable(result):
            await result
        try:
            same = page.session.connection is started_on
        except RuntimeError:  # the session itself is gone
            same = False
        if not same:
            raise BrokenPipeError("the page's tab closed or reconnected while the app started")

    return run


def web_app(
    main: AppMain,
    *,
    title: str | None = None,
    bundled_font: bool = True,
    web_renderer: ft.WebRenderer = ft.WebRenderer.AUTO,
) -> ASGIApp:
    """The ASGI app serving ``main`` at the root of its host (to run under any ASGI server).

    ``bundled_font=False`` serves Flet's stock font manifest: Chinese shows as empty boxes (the tests show the
    difference). Sessions are kept by Flet's process-wide manager; run the app on one event loop per process.
    """
    import flet_web.fastapi as flet_fastapi  # type: ignore[import-untyped]

    flet_asgi: ASGIApp = flet_fastapi.app(
        _outlived(main),
        assets_dir=str(ASSETS_DIR),
        app_name=title,
        app_short_name=title,
        web_renderer=web_renderer,
        no_cdn=True,
    )
    # path -> (file, media type, cache-control) of the files served beside Flet's
    files = {f"{_RIVE_URL_PREFIX}{name}": (RIVE_DIR / name, _media_type(name), _YEAR) for name in _RIVE_FILES}
    manifest: bytes | None = None
    if bundled_font:
        manifest = font_manifest()
        files |= {
            f"{_FONT_URL_PREFIX}{name}": (FONTS_DIR / name, "font/otf", "public, max-age=86400")
            for name in FONT_FILES.values()
        }
    missing = [str(file) for file, _, _ in files.values() if not file.is_file()]
    if missing:
        raise FileNotFoundError(f"files the web apps serve are missing: {', '.join(missing)}")
    for code in _CLIENT_CODE:
        _client_code(code)  # now, not at the first page load: reading 18 MB would hold up the event loop

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path = scope["path"]
            response: Response | None = None
            if path == "/assets/FontManifest.json" and manifest is not None:
                response = Response(manifest, media_type="application/json", headers={"cache-control": "no-cache"})
            elif path in files:
                file, media_type, cache = files[path]
                response = FileResponse(file, media_type=media_type, headers={"cache-control": cache})
            elif path in _CLIENT_CODE:
                code, etag = _client_code(path)
                headers = {"cache-control": "no-cache", "etag": etag}  # revalidated: it changes with flet-web
                if etag in Headers(scope=scope).get("if-none-match", ""):
                    response = Response(status_code=304, headers=headers)
                else:
                    response = Response(code, media_type=_CLIENT_CODE[path], headers=headers)
            if response is not None:
                await response(scope, receive, send)
                return
        await flet_asgi(scope, receive, send)

    return app


def _media_type(name: str) -> str:
    return "application/wasm" if name.endswith(".wasm") else "text/javascript"


@dataclass(eq=False)
class ServedApp:
    """A running web app: its URL; ``stop()`` (or leaving a ``with`` block) ends it."""

    name: str
    url: str
    host: str
    port: int
    _server: uvicorn.Server = field(repr=False)
    _done: concurrent.futures.Future[None] = field(repr=False)

    @property
    def running(self) -> bool:
        """Whether the server still serves."""
        return not self._done.done()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the port and the sessions' connections; waits up to ``timeout`` s, then forces it."""
        if self._done.done():
            _LOOP.forget(self)
            return
        self._server.should_exit = True
        try:
            self._done.result(timeout)
        except concurrent.futures.TimeoutError:
            log.warning("web app %s did not stop within %.0f s; forcing it", self.name, timeout)
            self._server.force_exit = True
            self._done.result(5.0)
        finally:
            _LOOP.forget(self)

    def __enter__(self) -> ServedApp:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class _UiLoop:
    """The event loop all web apps of the process run on, in its daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._apps: list[ServedApp] = []
        self._atexit = False

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is not None and self._thread is not None and self._thread.is_alive():
                return self._loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(target=self._run, args=(loop, ready), name="cem-ui", daemon=True)
            thread.start()
            if not ready.wait(_START_TIMEOUT):
                raise RuntimeError("the web apps' event loop did not start")
            self._loop, self._thread = loop, thread
            if not self._atexit:
                atexit.register(stop_all)
                self._atexit = True
            return loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        import flet_web.fastapi as flet_fastapi

        asyncio.set_event_loop(loop)

        async def start() -> None:
            manager = flet_fastapi.app_manager
            for name in ("_FletAppManager__evict_sessions_task", "_FletAppManager__evict_oauth_states_task"):
                task = getattr(manager, name, None)
                if isinstance(task, asyncio.Task) and task.done():  # ended with an earlier loop: start anew
                    setattr(manager, name, None)
            await manager.start()  # evicts sessions an hour after their tab closed
            ready.set()

        loop.create_task(start())
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def add(self, app: ServedApp) -> None:
        with self._lock:
            self._apps.append(app)

    def forget(self, app: ServedApp) -> None:
        with self._lock:
            if app in self._apps:
                self._apps.remove(app)

    def stop(self, timeout: float) -> None:
        with self._lock:
            apps, loop, thread = list(self._apps), self._loop, self._thread
        for app in apps:
            app.stop(timeout)
        if loop is None or thread is None or not thread.is_alive():
            return
        import flet_web.fastapi as flet_fastapi

        async def shutdown() -> None:
            manager = flet_fastapi.app_manager
            # Close the sessions (Flet keeps them an hour after their tab closed, to resume them): they belong to
            # this loop. The manager has no public list of them.
            sessions = getattr(manager, "_FletAppManager__sessions", None)
            before = asyncio.all_tasks()
            for session_id in list(sessions) if isinstance(sessions, dict) else []:
                await manager.delete_session(session_id)
            # A closed session dispatches the page's close event in a task of its own: let the apps' handlers
            # (they close their API clients and live feeds) finish before the loop stops and cancels them.
            closing = asyncio.all_tasks() - before
            if closing:
                await asyncio.wait(closing, timeout=min(5.0, timeout / 2))
            await manager.shutdown()  # deletes Flet's patched copies of index.html

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("Flet's session manager did not shut down cleanly")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        gc.collect()  # the closed sessions' cycles, while logging still works
        with self._lock:
            if self._thread is thread:
                self._loop, self._thread = None, None


_LOOP = _UiLoop()


def _bind(host: str, port: int, fallback: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        try:
            sock.bind((host, port))
        except OSError:
            if not (fallback and port):
                raise
            sock.bind((host, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 - only the shown address
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def serve_app(
    main: AppMain,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str = "app",
    title: str | None = None,
    bundled_font: bool = True,
    web_renderer: ft.WebRenderer = ft.WebRenderer.AUTO,
    fallback_port: bool = False,
    start_timeout: float = _START_TIMEOUT,
) -> ServedApp:
    """Serve ``main`` on ``host:port`` (0: a free port) and return once the port accepts connections.

    ``fallback_port`` takes a free port when ``port`` is taken (otherwise that is an ``OSError``). The app runs
    until ``stop()``, :func:`stop_all` or the end of the process.
    """
    asgi = web_app(main, title=title, bundled_font=bundled_font, web_renderer=web_renderer)
    sock = _bind(host, port, fallback_port)
    bound_port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        asgi,
        ws="websockets-sansio",  # what Flet's own web server uses
        lifespan="off",  # Flet's session manager is started once for the shared loop, not per app
        log_config=None,  # the process's logging stays as it is
        log_level=None,
        access_log=False,
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as err:  # uvicorn exits on startup errors; that must not end the shared loop
            raise RuntimeError(f"web app {name} failed to start (exit {err.code})") from None
        finally:
            sock.close()

    done = asyncio.run_coroutine_threadsafe(run(), _LOOP.get())
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if done.done():
            done.result()  # raises what stopped it
            raise RuntimeError(f"web app {name} stopped while starting")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"web app {name} did not start within {start_timeout:.0f} s")
        time.sleep(0.02)
    served = ServedApp(
        name=name, url=f"http://{_url_host(host)}:{bound_port}/", host=host, port=bound_port, _server=server, _done=done
    )
    _LOOP.add(served)
    log.info("web app %s at %s", name, served.url)
    return served


def serve_apps(
    apps: Sequence[WebApp], *, host: str = "127.0.0.1", out: TextIO | None = None, label_width: int = 16
) -> list[ServedApp]:
    """Serve every app on its port (a free one when it is taken) and print ``name  URL`` lines to ``out``.

    All or nothing: when one app cannot start, the ones started are stopped and the error raised.
    """
    served: list[ServedApp] = []
    try:
        for app in apps:
            served.append(
                serve_app(app.main, host=host, port=app.port, name=app.name, title=app.title, fallback_port=True)
            )
    except BaseException:
        for running in served:
            running.stop()
        raise
    if out is not None:
        for running in served:
            print(f"  {running.name:<{label_width}}{running.url}", file=out, flush=True)
    return served


def stop_all(timeout: float = 10.0) -> None:
    """Stop every web app of the process and the thread they run in (also done at exit)."""
    _LOOP.stop(timeout)
