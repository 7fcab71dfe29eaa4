"""The apps' API client against a real platform served by uvicorn (real HTTP, real WebSocket, real Redis).

Failure modes the platform cannot produce on demand (503 from a proxy, nothing listening, a slow answer, a
server closing the live socket with a given code) come from tiny local stub servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import msgspec
import openpyxl
import pytest
from litestar import Litestar
from websockets.asyncio.server import ServerConnection, serve

from cem_clients.api import (
    ApiClient,
    AuthError,
    Conflict,
    ForbiddenError,
    InvalidInput,
    LiveEvent,
    LiveFeed,
    NotFound,
    Offline,
    ServerError,
    StepUpRequired,
    TotpRequired,
)
from cem_platform.alarms.models import AlarmKind, Severity
from cem_platform.alarms.services import AlarmService
from cem_platform.identity.models import LoginSession
from cem_platform.identity.services import IdentityService
from cem_platform.settings import Settings
from cem_platform.telemetry import live_routes
from tests.test_accounting.kept import read_after_refresh, refresh_now
from tests.test_live.conftest import serving
from tests.test_platform.world import PASSWORD, World, totp_code
from tests.test_registry.fleet import enrolled_terminal

# ---- servers ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def base_url(app: Litestar) -> AsyncIterator[str]:
    """http://127.0.0.1:<port> of the session's app, served by uvicorn in the tests' event loop."""
    async with serving(app) as ws_base:
        yield ws_base.replace("ws://", "http://", 1)


@pytest.fixture
async def api(base_url: str) -> AsyncIterator[ApiClient]:
    """A client of the real platform."""
    async with ApiClient(base_url) as client:
        yield client


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class StubHttp:
    """An ASGI app answering from a script: (status, body, delay) per request, then ``default``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.script: list[tuple[int, bytes, float]] = []
        self.default: tuple[int, bytes, float] = (200, b"{}", 0.0)

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        self.requests.append((scope["method"], scope["path"]))
        status, body, delay = self.script.pop(0) if self.script else self.default
        if delay:
            await asyncio.sleep(delay)
        content_type = b"application/json" if body.startswith(b"{") else b"text/html"
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def stub() -> AsyncIterator[tuple[StubHttp, str]]:
    """A stub HTTP server and its base URL."""
    app = StubHttp()
    async with serving(app) as ws_base:  # type: ignore[arg-type]
        yield app, ws_base.replace("ws://", "http://", 1)


def error_body(code: str, message: str) -> bytes:
    return msgspec.json.encode({"error": {"code": code, "message": message, "hint": "Wait.", "details": None}})


ME = msgspec.json.encode({"kind": "user", "name": "stub", "user_id": 1, "role": "crew", "permissions": []})


async def login(api: ApiClient, world: World, username: str, steps_ahead: int = 0) -> None:
    secret = world.secrets.get(username)
    await api.login(username, PASSWORD, totp_code(secret, steps_ahead) if secret else None)


async def raise_alarm(settings: Settings, world: World, message: str) -> int:
    """An alarm of enterprise A raised as the rules do (published to the live feed too); its id."""
    alarm = await AlarmService(settings).raise_alarm(
        world.a.enterprise.id,
        AlarmKind.DEVICE_OFFLINE,
        Severity.MAJOR,
        "device",
        f"dev-{uuid.uuid4().hex[:12]}",
        message,
    )
    return alarm.id


# ---- identity -----------------------------------------------------------------------------------------------------


async def test_login_with_totp_me_and_logout(world: World, api: ApiClient) -> None:
    with pytest.raises(TotpRequired) as missing:
        await api.login("a-accountant", PASSWORD)
    assert missing.value.status == 401 and missing.value.code == "totp_required"
    assert "authenticator" in str(missing.value)
    session = await api.login("a-accountant", PASSWORD, totp_code(world.secrets["a-accountant"], steps_ahead=1))
    assert session.access_expires_at > dt.datetime.now(dt.UTC) and not session.totp_enrolment_required
    me = await api.me()
    assert (me.kind, me.user, me.role) == ("user", "a-accountant", "accountant")
    assert me.enterprise_ids == (world.a.enterprise.id,) and me.can("accounting.write") and not me.can("users.read")

    old = api.access_token
    assert old is not None
    await api.logout()
    assert not api.authenticated and api.refresh_token is None
    with pytest.raises(AuthError):
        await api.me()
    api.use_token(old)
    with pytest.raises(AuthError) as ended:
        await api.me()
    assert "logged out" in ended.value.message


async def test_errors_carry_the_platforms_message_and_hint(settings: Settings, world: World, api: ApiClient) -> None:
    with pytest.raises(AuthError) as wrong:
        await api.login("a-crew", "not-the-password")
    assert wrong.value.message == "username or password is wrong"
    assert str(wrong.value).startswith("username or password is wrong. ") and wrong.value.hint in str(wrong.value)
    assert wrong.value.request_id

    alarm_id = await raise_alarm(settings, world, f"gateway offline {uuid.uuid4().hex}")
    await login(api, world, "a-crew")
    acked = await api.acknowledge(alarm_id, "去现场看看")
    assert (acked.state, acked.acknowledged_by, acked.ack_note) == ("acknowledged", "a-crew", "去现场看看")
    assert [e.action for e in acked.events] == ["raised", "acknowledged"]

    async with ApiClient(api.base_url) as executive:
        await login(executive, world, "a-executive")
        assert [a.id for a in await executive.alarms(state="open")] == [alarm_id]
        with pytest.raises(ForbiddenError) as forbidden:
            await executive.acknowledge(alarm_id, "")
        assert forbidden.value.status == 403 and not isinstance(forbidden.value, StepUpRequired)
        assert forbidden.value.message == "your role does not allow this (it needs alarms.handle)"

    with pytest.raises(NotFound) as missing:
        await api.alarm(alarm_id + 1000)
    assert f"no alarm {alarm_id + 1000}" in str(missing.value)
    with pytest.raises(InvalidInput):
        await api.alarms(limit=5000)
    with pytest.raises(NotFound):
        await api.latest([world.b.point.id])  # outside the crew's scope

    cleared = await api.clear(alarm_id, "replaced the switch")
    assert cleared.state == "cleared" and not cleared.open and cleared.clear_note == "replaced the switch"
    with pytest.raises(Conflict) as late:
        await api.acknowledge(alarm_id, "too late")
    assert "cleared alarm cannot be acknowledged" in late.value.message
    detail = await api.alarm(alarm_id)
    assert [e.action for e in detail.events] == ["raised", "acknowledged", "cleared"]


async def test_refresh_after_the_access_token_expires(world: World, api: ApiClient) -> None:
    await login(api, world, "a-crew")
    first_refresh = api.refresh_token
    # The platform ends the access token early; the client still believes it valid for 15 minutes.
    await LoginSession.filter(user_id=world.users["a-crew"].id).update(
        access_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    )
    # Concurrent requests all get 401; one refresh serves them all (a refresh token works only once).
    results = await asyncio.gather(*(api.me() for _ in range(5)))
    assert {me.name for me in results} == {"a-crew"}
    assert api.refresh_token not in (None, first_refresh)

    # A kept refresh token resumes the session in a new client (the mobile app's "stay logged in").
    kept = api.refresh_token
    assert kept is not None
    async with ApiClient(api.base_url) as resumed:
        resumed.use_refresh_token(kept)
        assert (await resumed.me()).name == "a-crew"
        assert resumed.access_token is not None and resumed.refresh_token != kept
        # The session ends elsewhere (an administrator, another device): the refresh fails, the client forgets.
        await LoginSession.filter(user_id=world.users["a-crew"].id).update(revoked_at=dt.datetime.now(dt.UTC))
        with pytest.raises(AuthError):
            await resumed.me()
        assert not resumed.authenticated and not resumed.can_refresh


async def test_display_token_for_the_wallboard(world: World, api: ApiClient) -> None:
    identity = IdentityService(world.settings)
    admin = await identity.principal_for_user(world.users["a-admin"])
    _, secret = await identity.create_api_token(
        admin, name="wallboard", permissions=["data.read", "alarms.read", "org.read"],
        enterprise_ids=[world.a.enterprise.id], expires_at=None,
    )  # fmt: skip
    api.use_token(secret)
    me = await api.me()
    assert me.kind == "api_token" and me.name == "token:wallboard" and me.role is None
    assert [e.code for e in await api.enterprises()] == ["ENTA"]
    [value] = await api.latest([world.a.point.id])
    assert value.code == "ENTA.BF1.COKE" and value.value is None and value.ts is None
    assert await api.alarms() == []
    with pytest.raises(ForbiddenError):
        await api.users()
    await api.logout()  # an API token is only forgotten
    assert not api.authenticated


# ---- retries and offline ------------------------------------------------------------------------------------------


async def test_get_is_retried_on_503_and_post_never(stub: tuple[StubHttp, str]) -> None:
    server, url = stub
    async with ApiClient(url, retries=3) as api:
        api.use_token("cem_pat_stub")
        server.script = [(503, b"<html>busy</html>", 0.0), (502, b"<html>bad gateway</html>", 0.0), (200, ME, 0.0)]
        started = time.monotonic()
        assert (await api.me()).name == "stub"
        assert server.requests == [("GET", "/api/v1/auth/me")] * 3
        assert time.monotonic() - started >= 0.2 + 0.4 - 0.05  # backoff 0.2 s, then 0.4 s

        server.requests.clear()
        server.script = [(503, error_body("unavailable", "the platform is restarting"), 0.0)]
        with pytest.raises(ServerError) as refused:
            await api.acknowledge(1, "note")
        assert server.requests == [("POST", "/api/v1/alarms/1/acknowledge")]
        assert refused.value.status == 503 and str(refused.value) == "the platform is restarting. Wait."

        server.requests.clear()
        server.default = (503, b"<html>down</html>", 0.0)
        with pytest.raises(ServerError) as down:
            await api.alarms()
        assert len(server.requests) == 4  # the first try and 3 retries
        assert "HTTP 503" in str(down.value)

        server.default = (404, b"<html>not here</html>", 0.0)
        with pytest.raises(NotFound):  # the device list and the statuses are fetched at once: one plain error
            await api.devices()


async def test_offline_when_nothing_listens_and_on_timeouts(stub: tuple[StubHttp, str]) -> None:
    async with ApiClient(f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.05) as api:
        started = time.monotonic()
        with pytest.raises(Offline) as nobody:
            await api.me()
        assert time.monotonic() - started < 3
        assert "cannot be reached (3 attempts)" in str(nobody.value)
        with pytest.raises(Offline):
            await api.login("a-crew", PASSWORD)

    server, url = stub
    async with ApiClient(url, retries=1, timeout=0.3, backoff=0.05) as api:
        server.script = [(200, ME, 1.0), (200, ME, 1.0)]
        started = time.monotonic()
        with pytest.raises(Offline) as slow:
            await api.me()
        assert time.monotonic() - started < 2
        assert "did not answer within 0.3 s" in str(slow.value)
        assert len(server.requests) == 2
        server.script = [(200, b"{}", 1.0)]
        with pytest.raises(Offline) as unknown:
            await api.acknowledge(1, "")
        assert "may or may not have been made" in str(unknown.value)
        await asyncio.sleep(1.1)  # let the stub finish its slow answers before it stops


# ---- data ---------------------------------------------------------------------------------------------------------


async def test_organisation_and_point_data(world: World, api: ApiClient) -> None:
    await login(api, world, "a-executive")
    [enterprise] = await api.enterprises()
    assert enterprise.id == world.a.enterprise.id and enterprise.timezone == "Asia/Shanghai"
    [process] = await api.processes(world.a.enterprise.id)
    assert process.code == "IR" and process.site_id == world.a.site.id
    assert await api.processes(world.b.enterprise.id) == []
    [facility] = await api.facilities(process.id)
    [point] = await api.points(facility_id=facility.id)
    assert point.code == "ENTA.BF1.COKE" and point.unit == "t"
    assert [p.id for p in await api.points(enterprise_id=world.a.enterprise.id)] == [point.id]
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    series = await api.series(point.id, end - dt.timedelta(hours=3), end, "hour")
    assert series.interval == "hour" and len(series.buckets) == 3 and series.buckets[0].readings == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        await api.series(point.id, dt.datetime(2026, 1, 1), end)  # noqa: DTZ001 - the naive time under test
    with pytest.raises(NotFound):
        await api.series(world.b.point.id)


async def test_devices_suspend_with_step_up(world: World, api: ApiClient) -> None:
    terminal = await enrolled_terminal(world, await world.login("a-admin"), site_id=world.a.site.id)
    await login(api, world, "a-device-admin")
    # The login with TOTP covers control operations for a few minutes; take that away.
    await LoginSession.filter(user_id=world.users["a-device-admin"].id).update(step_up_at=None)
    with pytest.raises(StepUpRequired) as step_up:
        await api.suspend_device(terminal.device_id, None, "meter cabinet opened")
    assert "X-CEM-TOTP" in str(step_up.value)
    result = await api.suspend_device(
        terminal.device_id, totp_code(world.secrets["a-device-admin"], 1), "meter cabinet opened"
    )
    assert result.device.state == "suspended" and result.crl_number >= 1

    [listed] = await api.devices()
    assert listed.id == terminal.device_id and listed.certificate_state == "on_hold"
    assert listed.status is None and listed.buffer_depth is None  # no heartbeat yet
    detail = await api.device(terminal.device_id)
    assert detail.certificate_state == "on_hold" and detail.certificate_expires_at is not None
    assert detail.certificates[0].state == "on_hold" and detail.state_reason == "meter cabinet opened"
    assert await api.ingest_status() == []

    spare = await api.register_device("HX-CLIENT-0001", site_id=world.a.site.id, name="spare gateway")
    assert spare.state == "registered" and spare.certificate_state is None
    token = await api.create_enrolment_token(spare.id)
    assert token.device_id == spare.id and token.token in token.command
    with pytest.raises(Conflict):
        await api.resume_device(spare.id, None, "never suspended")  # stepped up a moment ago: passes the guard
    with pytest.raises(NotFound):
        await api.device("dev-does-not-exist")


async def test_emissions_are_exact_decimals(world: World, api: ApiClient) -> None:
    await login(api, world, "a-accountant")
    enterprise = world.a.enterprise.id
    limestone = await api.create_source(
        enterprise, code="LIMESTONE", name="石灰石", category="flux", item="limestone", process_id=world.a.process.id,
        inputs={"AD": {"origin": "manual", "unit": "t"}},
    )  # fmt: skip
    dolomite = await api.create_source(
        enterprise, code="DOLOMITE", name="白云石", category="flux", item="dolomite", process_id=world.a.process.id,
        inputs={"AD": {"origin": "import", "unit": "t"}},
    )  # fmt: skip
    steel = await api.create_source(
        enterprise, code="OUT.STEEL", name="粗钢产量", category="output", item="crude_steel",
        inputs={"AD": {"origin": "manual", "unit": "t"}},
    )  # fmt: skip
    assert [s.code for s in await api.sources(enterprise)] == ["DOLOMITE", "LIMESTONE", "OUT.STEEL"]
    await api.enter_activity(steel.id, "AD", "2.5", "kt", first_day=dt.date(2024, 3, 1), last_day=dt.date(2024, 3, 31))
    record = await api.enter_activity(limestone.id, "AD", Decimal("12000.5"), "t", month="2024-03", note="过磅")
    assert record.value == Decimal("12000.5") and isinstance(record.value, Decimal)
    with pytest.raises(TypeError):
        await api.enter_activity(limestone.id, "AD", 1.5, "t", month="2024-04")  # type: ignore[arg-type]

    ledger = "排放源,参数,起始日期,截止日期,数值,单位,备注\nDOLOMITE,AD,2024-03-01,2024-03-31,1000,t,台账\n"
    report = await api.upload_ledger(enterprise, "ledger.csv", ledger.encode("utf-8-sig"))
    assert (report.status, report.valid_rows, report.invalid_rows) == ("validated", 1, 0)
    assert (await api.confirm_import(report.id)).status == "imported"
    assert {r.source_id for r in await api.activity(enterprise)} == {limestone.id, dolomite.id, steel.id}

    await refresh_now()
    emissions = await api.emissions("enterprise", enterprise, "month", "2024-03", "2024-04")
    assert (emissions.unit, emissions.period, emissions.timezone) == ("tCO2", "month", "Asia/Shanghai")
    [march] = emissions.results
    raw = await read_after_refresh(
        world.client,
        "/api/v1/emissions",
        headers={"Authorization": f"Bearer {api.access_token}"},
        params={"scope": "enterprise", "id": enterprise, "period": "month", "from": "2024-03", "to": "2024-04"},
    )
    sent = raw.json()["results"][0]
    assert isinstance(march.net, Decimal) and march.net == Decimal(sent["net"]) and str(march.net) == sent["net"]
    assert march.by_category == {k: Decimal(v) for k, v in sent["by_category"].items()}
    assert all(isinstance(v, Decimal) for v in march.by_category.values())
    assert march.by_category["flux"] > Decimal("12000.5") * Decimal("0.440")  # limestone, and the dolomite
    assert march.output == Decimal("2500") and march.final and march.complete
    assert isinstance(march.intensity, Decimal) and march.intensity == Decimal(sent["intensity"])
    assert abs(march.intensity - march.net / 2500) < Decimal("0.001")

    lineage = await api.lineage(march.result_id)
    assert lineage.result_id == march.result_id and lineage.enterprise_id == enterprise and lineage.lineage
    [process] = (await api.emissions("process", world.a.process.id, "month", "2024-03", "2024-04")).results
    assert process.result_id == march.result_id
    with pytest.raises(NotFound):
        await api.emissions("enterprise", world.b.enterprise.id, "month", "2024-03", "2024-04")

    libraries = await api.library()
    assert libraries and all(lib.newest_version >= 1 for lib in libraries)
    versions = await api.library_versions(libraries[0].library)
    assert versions[0].number == libraries[0].newest_version
    xlsx = await api.annual_report(enterprise, 2024, "en")
    assert len(openpyxl.load_workbook(io.BytesIO(xlsx)).sheetnames) >= 5


async def test_users_and_audit(world: World, api: ApiClient) -> None:
    await login(api, world, "a-admin")
    users = {u.username: u for u in await api.users()}
    assert users["a-crew"].role == "crew" and users["a-admin"].totp_enrolled
    assert (await api.user(users["a-crew"].id)).username == "a-crew"
    page = await api.audit(action="auth.login", actor="a-admin", limit=5)
    assert page.total >= 1 and page.items[0].action == "auth.login" and page.items[0].actor == "a-admin"


# ---- live feed ----------------------------------------------------------------------------------------------------


async def next_matching(feed: LiveFeed, wanted: Callable[[LiveEvent], bool], timeout: float = 10) -> LiveEvent:
    async with asyncio.timeout(timeout):
        async for event in feed:
            if wanted(event):
                return event
    raise AssertionError("the feed ended")


def about(nonce: str) -> Callable[[LiveEvent], bool]:
    return lambda e: e.type == "alarm" and nonce in str(e.data.get("alarm", {}).get("message", ""))


async def test_live_feed_follows_alarms_on_the_real_platform(settings: Settings, world: World, api: ApiClient) -> None:
    await login(api, world, "a-crew")
    async with LiveFeed(api, points=[world.a.point.id]) as feed:
        assert not feed.connected and feed.silence() is None
        hello = await next_matching(feed, lambda e: True)
        assert hello.type == "connected" and hello.data["user"] == "a-crew" and feed.connected
        nonce = uuid.uuid4().hex
        alarm_id = await raise_alarm(settings, world, f"gateway offline {nonce}")
        raised = await next_matching(feed, about(nonce))
        assert raised.action == "raised" and raised.alarm is not None and raised.alarm.id == alarm_id
        assert raised.enterprise_id == world.a.enterprise.id and feed.last_event_at is not None
        await api.acknowledge(alarm_id, "on my way")
        acked = await next_matching(feed, about(nonce))
        assert acked.action == "acknowledged" and acked.alarm is not None and acked.alarm.ack_note == "on my way"
        assert feed.following == (world.a.point.id,)  # confirmed by the platform
        silence = feed.silence()
        assert silence is not None and silence < 5
    assert feed.closed and not feed.connected


async def test_live_feed_renews_its_token_when_the_client_refreshes(
    world: World, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The platform pings every 0.1 s and checks the connection's token again every 0.3 s.
    monkeypatch.setattr(live_routes, "PING_INTERVAL_S", 0.1)
    monkeypatch.setattr(live_routes, "RECHECK_TOKEN_S", 0.3)
    await login(api, world, "a-crew")
    async with LiveFeed(api) as feed:
        assert (await anext(feed)).type == "connected"
        for _ in range(3):
            await next_matching(feed, lambda e: e.type == "ping")
            old = api.access_token
            await api.refresh()  # the old access token stops working at once
            assert api.access_token != old
        types = []
        async with asyncio.timeout(10):
            async for event in feed:
                types.append(event.type)
                if len(types) == 15:  # 1.5 s: several checks of the renewed token
                    break
        assert set(types) == {"ping"}  # never refused, never reconnected
        assert feed.connections == 1 and feed.connected


class TcpProxy:
    """Forwards connections to a port; ``drop()`` cuts them all abruptly, as a lost network does."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.drop()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def drop(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()


async def test_live_feed_reconnects_after_a_lost_connection(settings: Settings, world: World, base_url: str) -> None:
    target = int(base_url.rsplit(":", 1)[1])
    async with TcpProxy(target) as proxy, ApiClient(f"http://127.0.0.1:{proxy.port}") as api:
        await login(api, world, "a-executive")
        async with LiveFeed(api, backoff=0.05) as feed:
            assert (await next_matching(feed, lambda e: True)).type == "connected"
            proxy.drop()
            again = await next_matching(feed, lambda e: e.type == "connected")
            assert again.data["user"] == "a-executive" and feed.connections == 2 and feed.connected
            assert "lost" in feed.last_error or "closed" in feed.last_error
            nonce = uuid.uuid4().hex
            await raise_alarm(settings, world, f"after the reconnection {nonce}")
            assert (await next_matching(feed, about(nonce))).action == "raised"


@contextlib.asynccontextmanager
async def stub_live(
    handler: Callable[[ServerConnection, int], Awaitable[None]],
) -> AsyncIterator[str]:
    """A WebSocket server calling ``handler(socket, n)`` for its n-th connection; its http:// base."""
    count = 0

    async def handle(socket: ServerConnection) -> None:
        nonlocal count
        count += 1
        await handler(socket, count)

    async with serve(handle, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


async def expect_auth(socket: ServerConnection) -> None:
    message = msgspec.json.decode(await socket.recv())
    assert message == {"type": "auth", "token": "cem_pat_stub"}
    await socket.send(msgspec.json.encode({"type": "hello", "user": "token:stub", "ping_interval_s": 25}).decode())


async def test_live_feed_reconnects_after_the_server_closes_and_sees_pings() -> None:
    async def handler(socket: ServerConnection, n: int) -> None:
        await expect_auth(socket)
        if n == 1:
            await socket.close(1011, "live updates are unavailable; reconnect in a moment")
            return
        await socket.send(msgspec.json.encode({"type": "ping", "ts": 1}).decode())
        await socket.wait_closed()

    async with stub_live(handler) as url, ApiClient(url) as api:
        api.use_token("cem_pat_stub")
        async with LiveFeed(api, backoff=0.05) as feed:
            types = []
            async with asyncio.timeout(10):
                async for event in feed:
                    types.append(event.type)
                    if event.type == "ping":
                        break
            assert types == ["connected", "connected", "ping"]
            assert "1011" in feed.last_error and feed.connections == 2 and feed.last_event_at is None


async def test_live_feed_stops_on_refused_tokens_and_when_offline() -> None:
    async def refuse(socket: ServerConnection, n: int) -> None:
        await socket.recv()
        await socket.close(4401 if n == 1 else 4403, "the API token is unknown or revoked")

    async with stub_live(refuse) as url, ApiClient(url) as api:
        api.use_token("cem_pat_stub")
        with pytest.raises(AuthError, match="unknown or revoked"):
            await anext(LiveFeed(api, backoff=0.05))
        feed = LiveFeed(api, backoff=0.05)
        with pytest.raises(ForbiddenError):
            await anext(feed)
        assert feed.closed
        with pytest.raises(StopAsyncIteration):
            await anext(feed)

    async with ApiClient(f"http://127.0.0.1:{free_port()}") as api:
        api.use_token("cem_pat_stub")
        started = time.monotonic()
        with pytest.raises(Offline, match="live updates"):
            await anext(LiveFeed(api, backoff=0.05, max_backoff=0.1, max_retries=2))
        assert time.monotonic() - started < 3

    async with stub_live(lambda socket, n: socket.wait_closed()) as url, ApiClient(url) as api:
        api.use_token("cem_pat_stub")
        feed = LiveFeed(api)
        task = asyncio.create_task(anext(feed))  # waits for a hello that never comes
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await feed.aclose()
