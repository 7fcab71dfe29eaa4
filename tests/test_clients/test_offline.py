"""Everything works without the internet, as on a plant's control network: the API docs at /schema and the three
apps load, render and are used in headless Chromium that refuses and notes every request for anything beyond this
machine (see ``Browser(offline=True)``), and that list stays empty.

Screenshots are saved under ``build/screenshots/offline/``.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from cem_clients.console.app import console_main
from cem_clients.mobile.app import mobile_main
from cem_clients.ui import serve as ui_serve
from cem_clients.ui.i18n import Translator
from cem_clients.wallboard.app import wallboard_main
from cem_platform.identity.services import IdentityService
from tests.test_clients.browser import VIEWPORTS, Browser, Snapshot
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_console_app import session_of
from tests.test_clients.test_mobile_app import log_in
from tests.test_platform.world import World

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots" / "offline"
ZH, EN = Translator("zh-CN"), Translator("en")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(offline=True) as chromium:
        yield chromium


def _painted(shot: Snapshot) -> bool:
    """Whether the screenshot shows something: many colours, no single one covering (almost) all of it."""
    with Image.open(shot.screenshot) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(rgb.width * rgb.height) or []
    return len(colours) > 50 and max(colours)[0] < 0.99 * rgb.width * rgb.height


def _load(browser: Browser, url: str, **options: Any) -> Snapshot:
    """``browser.load``, up to three times while the picture is blank: now and then a page whose texts are all in
    its accessibility tree settles on Flet's start-up overlay ("Working..." on an empty page), with the internet or
    without, the Rive runtime loaded or not; what every load asked of the outside is checked all the same."""
    for _ in range(3):
        shot = browser.load(url, **options)
        if _painted(shot):
            break
    return shot


def _new(browser: Browser, before: int) -> list[str]:
    return browser.outside_requests[before:]


# ---- the guard itself ---------------------------------------------------------------------------------------------

_LEAKY_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>leaky</title></head><body><p>leaky page</p>
<img src="https://cdn.jsdelivr.net/npm/nothing@1.0.0/x.png" onerror="say('image refused')">
<script>
function say(text) { const p = document.createElement('p'); p.textContent = text; document.body.append(p); }
fetch('http://203.0.113.7/data.json').then(() => say('fetch ANSWERED'), () => say('fetch refused'));
const ws = new WebSocket('wss://example.com/live');
ws.onerror = () => say('websocket refused');
ws.onopen = () => say('websocket ANSWERED');
const worker = new Worker(URL.createObjectURL(new Blob([
  "fetch('https://fonts.gstatic.com/s/x.woff2')",
  ".then(() => postMessage('worker ANSWERED'), () => postMessage('worker refused'))"
], {type: 'text/javascript'})));
worker.onmessage = (event) => say(event.data);
</script></body></html>"""


@pytest.mark.slow
def test_the_offline_browser_refuses_and_notes_every_way_out() -> None:
    """The control: a page on this machine that asks four hosts beyond it, by image, fetch, WebSocket and worker."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = _LEAKY_PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Browser(offline=True) as leaky:
            shot = leaky.visit(
                f"http://127.0.0.1:{server.server_port}/",
                screenshot=SCREENSHOTS / "control-leaky-page.png",
                expect=["image refused", "fetch refused", "websocket refused", "worker refused"],
            )
            outside, own = leaky.outside_requests, leaky.own_requests
    finally:
        server.shutdown()
        server.server_close()
    assert "ANSWERED" not in shot.text
    for host in ("cdn.jsdelivr.net", "203.0.113.7", "example.com", "fonts.gstatic.com"):
        assert any(host in request for request in outside), (host, outside)
        assert not any(host in request for request in own), (host, own)  # the page's, not Chromium's own
    assert "CONNECT example.com:443 HTTP/1.1" in outside  # the WebSocket reached the pages' proxy, and no further


# ---- the API docs -------------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_the_api_docs_render_offline(base_url: str, browser: Browser) -> None:  # noqa: F811
    before = len(browser.outside_requests)
    shot = await asyncio.to_thread(
        browser.visit,
        f"{base_url}/schema",
        screenshot=SCREENSHOTS / "schema-1440x900.png",
        expect=["CEM — carbon emission management platform", "/api/v1/auth/login", "Authorize"],
    )
    assert _new(browser, before) == []
    assert shot.failed_requests == [] and shot.console_errors == []
    assert shot.settled
    assert _painted(shot), f"blank: {shot.screenshot}"


# ---- the apps -----------------------------------------------------------------------------------------------------


async def _wallboard_token(world: World) -> str:
    identity = IdentityService(world.settings)
    admin = await identity.principal_for_user(world.users["a-admin"])
    _, secret = await identity.create_api_token(
        admin, name="wallboard", permissions=["org.read", "data.read", "alarms.read", "emissions.read"],
        enterprise_ids=[world.a.enterprise.id], expires_at=None,
    )  # fmt: skip
    return secret


def _check(browser: Browser, before: int, shot: Snapshot) -> None:
    assert _new(browser, before) == [], f"asked beyond the machine: {_new(browser, before)}"
    assert shot.failed_requests == [], shot.failed_requests  # nothing missing on the app's own server either
    assert not shot.fallback_font_requests
    assert _painted(shot), f"blank: {shot.screenshot}"


@pytest.mark.slow
async def test_the_wallboard_runs_offline(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    token = await _wallboard_token(world)
    app = ui_serve.serve_app(wallboard_main(base_url, token, world.a.enterprise.id, rotate_s=0), name="wallboard")
    try:
        for lang, tr in (("zh", ZH), ("en", EN)):
            before = len(browser.outside_requests)
            shot = await asyncio.to_thread(
                _load,
                browser,
                f"{app.url}?lang={lang}",
                viewport=VIEWPORTS["wallboard"],
                screenshot=SCREENSHOTS / f"wallboard-{lang}.png",
                expect=[tr.t("app.wallboard.title"), "甲钢铁" if lang == "zh" else "tCO2"],
            )
            _check(browser, before, shot)
        for page in ("processes", "trend", "alarms"):  # the pages it rotates through, with their charts
            before = len(browser.outside_requests)
            shot = await asyncio.to_thread(
                _load,
                browser,
                f"{app.url}?page={page}",
                viewport=VIEWPORTS["wallboard"],
                screenshot=SCREENSHOTS / f"wallboard-{page}-zh.png",
            )
            _check(browser, before, shot)
    finally:
        app.stop()


@pytest.mark.slow
async def test_the_mobile_app_runs_offline(world: World, base_url: str, browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    for locale, tr in (("zh-CN", ZH), ("en", EN)):
        app = ui_serve.serve_app(mobile_main(base_url, data_dir=tmp_path / locale, locale=locale), name="mobile")
        try:
            before = len(browser.outside_requests)
            shot = await asyncio.to_thread(
                _load,
                browser,
                app.url,
                viewport=VIEWPORTS["mobile"],
                screenshot=SCREENSHOTS / f"mobile-login-{locale}.png",
                expect=[tr.t("app.mobile.title"), tr.t("login.username"), tr.t("login.password")],
            )
            _check(browser, before, shot)
            if locale != "zh-CN":
                continue

            def use(url: str) -> list[str]:  # signed in: the alarm inbox
                with browser.session(url, viewport=VIEWPORTS["mobile"]) as s:
                    log_in(s, "a-crew")
                    s.wait_for(["告警", "设备"])
                    s.screenshot(SCREENSHOTS / "mobile-inbox-zh-CN.png")
                    return s.failed_requests

            before = len(browser.outside_requests)
            failed = await asyncio.to_thread(use, app.url)
            assert _new(browser, before) == [] and failed == []
        finally:
            app.stop()


@pytest.mark.slow
async def test_the_console_runs_offline(world: World, base_url: str, browser: Browser) -> None:  # noqa: F811
    for locale, tr in (("zh-CN", ZH), ("en", EN)):
        app = ui_serve.serve_app(console_main(base_url, locale=locale), name="console")
        try:
            before = len(browser.outside_requests)
            shot = await asyncio.to_thread(
                _load,
                browser,
                app.url,
                viewport=VIEWPORTS["console"],
                screenshot=SCREENSHOTS / f"console-login-{locale}.png",
                expect=[tr.t("app.console.title"), tr.t("login.username"), tr.t("login.totp")],
            )
            _check(browser, before, shot)
        finally:
            app.stop()
    session = await session_of(base_url, world, "a-device-admin")
    app = ui_serve.serve_app(console_main(base_url, session=session, start_section="fleet"), name="console-fleet")
    try:
        before = len(browser.outside_requests)
        shot = await asyncio.to_thread(
            browser.load,
            app.url,
            viewport=VIEWPORTS["console"],
            screenshot=SCREENSHOTS / "console-fleet-zh-CN.png",
            expect=["设备总览"],
        )
        # Loaded once (the app rotates the session's token) and not _check: the picture may be Flet's start-up
        # overlay (see _load); the requests are what counts here.
        assert _new(browser, before) == [] and shot.failed_requests == []
    finally:
        app.stop()


# ---- what the apps' servers answer --------------------------------------------------------------------------------


def test_the_web_client_asks_the_app_for_the_rive_runtime() -> None:
    app = ui_serve.serve_app(lambda page: None, name="plain")
    try:
        with httpx.Client(base_url=app.url, timeout=30) as http:
            for name in ("main.dart.js", "main.dart.wasm"):
                code = http.get(f"/{name}")
                assert code.status_code == 200
                assert b"cdn.jsdelivr.net" not in code.content and b"/rive-native-" in code.content
                again = http.get(f"/{name}", headers={"if-none-match": code.headers["etag"]})
                assert again.status_code == 304 and again.content == b""
            assert http.get("/main.dart.wasm").headers["content-type"] == "application/wasm"  # compileStreaming
            local = re.search(rb"(?:\./)+(assets/cem/rive-native-[0-9.]+/)", http.get("/main.dart.js").content)
            assert local is not None
            runtime = http.get(f"/{local[1].decode()}wasm/rive_native.wasm")
            assert runtime.status_code == 200 and runtime.headers["content-type"] == "application/wasm"
            assert runtime.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert runtime.content[:4] == b"\0asm"
    finally:
        app.stop()


def test_the_vendored_rive_runtime_is_the_one_the_readme_names() -> None:
    readme = (ui_serve.RIVE_DIR / "README.md").read_text()
    assert f"`@rive-app/flutter-native-wasm` {ui_serve.RIVE_VERSION} " in readme
    listed = dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", readme, re.MULTILINE))
    present = {str(p.relative_to(ui_serve.RIVE_DIR)) for p in ui_serve.RIVE_DIR.rglob("*") if p.is_file()}
    assert set(listed) == present - {"README.md", "LICENSE"}
    for name, digest in listed.items():
        assert hashlib.sha256((ui_serve.RIVE_DIR / name).read_bytes()).hexdigest() == digest, name
