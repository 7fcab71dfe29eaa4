"""Live updates at /api/v1/live as clients see them: a real server and WebSocket, events through real Redis."""

from __future__ import annotations

import msgspec
import pytest
from websockets.exceptions import InvalidStatus

from cem_platform.app import create_app
from cem_platform.identity.principal import Principal, Scope
from cem_platform.identity.roles import Permission, Role
from cem_platform.identity.services import IdentityService
from cem_platform.org.models import Site
from cem_platform.telemetry import live_routes
from cem_platform.telemetry.live_routes import visible_event
from tests.test_live.conftest import serving
from tests.test_live.helpers import (
    alarm,
    closing,
    latest,
    live_socket,
    login_by_message,
    new_nonce,
    next_event,
    publish,
    receive,
    receive_until,
    status,
    token_of,
    warm_up,
)
from tests.test_platform.world import World


async def api_token(world: World, *permissions: Permission) -> str:
    """An API token of enterprise A with only ``permissions``, issued by A's admin."""
    identity = IdentityService(world.settings)
    admin = await identity.principal_for_user(world.users["a-admin"])
    _, secret = await identity.create_api_token(
        admin,
        name=f"live-{'-'.join(p.value for p in permissions)}",
        permissions=[p.value for p in permissions],
        enterprise_ids=[world.a.enterprise.id],
        expires_at=None,
    )
    return secret


# ---- authentication ----------------------------------------------------------------------------------------------


async def test_browser_authenticates_with_its_first_message_and_gets_its_enterprise(
    world: World, live_base: str
) -> None:
    token = token_of(await world.login("a-crew"))
    nonce = new_nonce()
    async with live_socket(live_base) as socket:
        hello = await login_by_message(socket, token)
        assert hello["user"] == "a-crew"
        assert hello["enterprises"] == [world.a.enterprise.id]
        assert set(hello["events"]) == {"latest", "status", "alarm"}
        await warm_up(socket, world.settings, world.a.enterprise.id, nonce)
        await publish(world.settings, world.a.enterprise.id, latest(world.a.enterprise.id, nonce, (7, None)))
        event = await next_event(socket, nonce)
    assert event["type"] == "latest"
    assert [p["point_id"] for p in event["points"]] == [7]


async def test_client_authenticates_with_the_authorization_header(world: World, live_base: str) -> None:
    headers = await world.login("a-executive")
    nonce = new_nonce()
    async with live_socket(live_base, headers) as socket:
        hello = await receive(socket)  # no auth message needed
        assert hello["type"] == "hello" and hello["user"] == "a-executive"
        await warm_up(socket, world.settings, world.a.enterprise.id, nonce)
        await publish(world.settings, world.a.enterprise.id, alarm(world.a.enterprise.id, nonce))
        assert (await next_event(socket, nonce))["type"] == "alarm"


async def test_api_token_works_as_on_the_rest_api(world: World, live_base: str) -> None:
    token = await api_token(world, Permission.DATA_READ, Permission.ALARMS_READ)
    async with live_socket(live_base) as socket:
        hello = await login_by_message(socket, token)
    assert hello["user"].startswith("token:")
    assert hello["enterprises"] == [world.a.enterprise.id]


@pytest.mark.parametrize(
    ("first_message", "reason_part"),
    [
        ({"type": "follow", "points": [1]}, "first message must be"),
        ({"type": "auth"}, "first message must be"),
        ({"type": "auth", "token": "not-a-token"}, "unknown or was logged out"),
        ({"type": "auth", "token": "cem_pat_not-a-token"}, "unknown or revoked"),
    ],
)
async def test_refused_without_a_valid_token_in_the_first_message(
    live_base: str, first_message: dict[str, object], reason_part: str
) -> None:
    async with live_socket(live_base) as socket:
        await socket.send(msgspec.json.encode(first_message).decode())
        code, reason = await closing(socket)
    assert code == live_routes.CLOSE_UNAUTHENTICATED
    assert reason_part in reason


async def test_refused_when_the_first_message_is_not_json(live_base: str) -> None:
    async with live_socket(live_base) as socket:
        await socket.send("Bearer abc")
        code, reason = await closing(socket)
    assert (code, "first message must be" in reason) == (live_routes.CLOSE_UNAUTHENTICATED, True)


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer "])
async def test_refused_with_a_bad_authorization_header(live_base: str, header: str) -> None:
    async with live_socket(live_base, {"Authorization": header}) as socket:
        code, reason = await closing(socket)
    assert code == live_routes.CLOSE_UNAUTHENTICATED
    assert reason


async def test_refused_when_no_auth_message_comes_in_time(live_base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_routes, "AUTH_TIMEOUT_S", 0.3)
    async with live_socket(live_base) as socket:
        code, reason = await closing(socket)  # the client says nothing
    assert code == live_routes.CLOSE_UNAUTHENTICATED
    assert "in time" in reason


async def test_refused_without_live_permissions_or_with_totp_pending(world: World, live_base: str) -> None:
    org_only = await api_token(world, Permission.ORG_READ)
    async with live_socket(live_base) as socket:
        await socket.send(msgspec.json.encode({"type": "auth", "token": org_only}).decode())
        code, reason = await closing(socket)
    assert (code, "data.read or alarms.read" in reason) == (live_routes.CLOSE_FORBIDDEN, True)

    await world.add_user("a-new-admin", Role.ADMIN, enterprise=world.a.enterprise, totp=False)
    pending = await world.login("a-new-admin")  # an admin who has not enrolled an authenticator yet
    async with live_socket(live_base, pending) as socket:
        code, reason = await closing(socket)
    assert (code, "authenticator" in reason) == (live_routes.CLOSE_FORBIDDEN, True)


async def test_logout_ends_an_open_connection(world: World, live_base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_routes, "PING_INTERVAL_S", 0.1)
    monkeypatch.setattr(live_routes, "RECHECK_TOKEN_S", 0.0)
    headers = await world.login("a-crew")
    async with live_socket(live_base, headers) as socket:
        assert (await receive(socket))["type"] == "hello"
        assert (await receive_until(socket, lambda m: m["type"] == "ping"))["type"] == "ping"  # token still good
        response = await world.client.post("/api/v1/auth/logout", headers=headers)
        assert response.status_code == 204
        code, reason = await closing(socket)
    assert code == live_routes.CLOSE_UNAUTHENTICATED
    assert "logged out" in reason


async def test_a_fresh_token_renews_the_connection_but_cannot_change_the_caller(world: World, live_base: str) -> None:
    first, fresh = await world.login("a-crew"), await world.login("a-crew")
    other = await world.login("a-executive")
    async with live_socket(live_base, first) as socket:
        assert (await receive(socket))["type"] == "hello"
        await socket.send(msgspec.json.encode({"type": "auth", "token": token_of(fresh)}).decode())
        renewed = await receive_until(socket, lambda m: m["type"] == "hello")
        assert renewed["user"] == "a-crew"
        await socket.send(msgspec.json.encode({"type": "auth", "token": token_of(other)}).decode())
        code, reason = await closing(socket)
    assert code == live_routes.CLOSE_UNAUTHENTICATED
    assert "cannot change its caller" in reason


async def test_refused_from_an_address_on_the_deny_list(world: World) -> None:
    settings = world.settings
    denied = msgspec.structs.replace(
        settings, security=msgspec.structs.replace(settings.security, ip_deny=("127.0.0.0/8",))
    )
    app = create_app(denied)
    try:
        async with serving(app) as base:
            with pytest.raises(InvalidStatus) as refused:
                async with live_socket(base, await world.login("a-crew")):
                    pass
        assert refused.value.response.status_code == 403
    finally:
        await app.state.redis.aclose()


async def test_the_rest_api_still_needs_its_bearer_token(world: World) -> None:
    """The live route authenticates itself; nothing else is opened by that."""
    assert (await world.client.get("/api/v1/live")).status_code == 405  # a plain request gets no events
    assert (await world.client.get("/api/v1/auth/me")).status_code == 401
    assert (await world.client.get("/api/v1/auth/me", headers=await world.login("a-crew"))).status_code == 200


# ---- what each caller gets ---------------------------------------------------------------------------------------


async def test_a_user_of_another_enterprise_gets_nothing_of_its_events(world: World, live_base: str) -> None:
    a, b = world.a.enterprise.id, world.b.enterprise.id
    nonce = new_nonce()
    async with live_socket(live_base, await world.login("b-admin")) as b_socket:
        hello = await receive(b_socket)
        assert hello["enterprises"] == [b]
        await warm_up(b_socket, world.settings, b, nonce)
        async with live_socket(live_base, await world.login("group-admin")) as group_socket:
            assert (await receive(group_socket))["enterprises"] is None  # the group level: every enterprise
            await warm_up(group_socket, world.settings, a, nonce)
            for event in (latest(a, nonce, (world.a.point.id, None)), alarm(a, nonce), status(a, nonce)):
                await publish(world.settings, a, event)
            await publish(world.settings, b, status(b, nonce, label="b's own"))
            # Redis delivers in publishing order: b's own event comes after a's three, had they been sent.
            assert (await next_event(b_socket, nonce))["label"] == "b's own"
            seen = [(await next_event(group_socket, nonce))["type"] for _ in range(4)]
    assert seen == ["latest", "alarm", "status", "status"]


async def test_a_site_scoped_user_gets_only_its_sites_events(world: World, live_base: str) -> None:
    """Events naming a site: that site must be the user's. Naming none (alarms): their subject must be a device
    or point on the user's sites, as in the alarms API."""
    a = world.a.enterprise.id
    s1, own_point = world.a.site.id, world.a.point.id  # the world's point is on site S1
    s2 = (await Site.create(enterprise=world.a.enterprise, code="ENTA-S2", name="甲钢铁 second works")).id
    await world.add_user("a-s1-crew", Role.CREW, enterprise=world.a.enterprise, site=world.a.site)
    nonce = new_nonce()

    def subject_alarm(subject_type: str, subject_id: object, label: str) -> dict[str, object]:
        event = alarm(a, nonce, label=label)
        event["alarm"] = {"id": 2, "subject_type": subject_type, "subject_id": str(subject_id)}
        return event

    async with live_socket(live_base, await world.login("a-s1-crew")) as socket:
        hello = await receive(socket)
        assert (hello["enterprises"], hello["sites"]) == ([a], [s1])
        await warm_up(socket, world.settings, a, nonce, site_id=s1)
        await publish(world.settings, a, latest(a, nonce, (101, s1), (102, s2), (103, None), (own_point, None)))
        await publish(world.settings, a, alarm(a, nonce, site_id=s2, label="other site"))
        await publish(world.settings, a, status(a, nonce, site_id=s2, label="other site"))
        await publish(world.settings, a, status(a, nonce, site_id=None, label="device on no site of hers"))
        await publish(world.settings, a, subject_alarm("point", 999_999, "point elsewhere"))
        await publish(world.settings, a, subject_alarm("certificate", "serial-1", "enterprise-wide"))
        await publish(world.settings, a, alarm(a, nonce, site_id=s1, label="own site"))
        await publish(world.settings, a, subject_alarm("point", own_point, "own point"))
        seen = [await next_event(socket, nonce) for _ in range(3)]
    assert seen[0]["type"] == "latest"
    assert [p["point_id"] for p in seen[0]["points"]] == [101, own_point]
    assert [(e["type"], e["label"]) for e in seen[1:]] == [("alarm", "own site"), ("alarm", "own point")]

    # Whole-enterprise users get all of it.
    async with live_socket(live_base, await world.login("a-crew")) as socket:
        await receive(socket)
        await warm_up(socket, world.settings, a, nonce, "alarm")
        await publish(world.settings, a, subject_alarm("certificate", "serial-1", "enterprise-wide"))
        assert (await next_event(socket, nonce))["label"] == "enterprise-wide"


async def test_events_need_the_matching_permission(world: World, live_base: str) -> None:
    a = world.a.enterprise.id
    nonce = new_nonce()
    data_only = await api_token(world, Permission.DATA_READ)
    alarms_only = await api_token(world, Permission.ALARMS_READ)
    async with live_socket(live_base) as data_socket, live_socket(live_base) as alarm_socket:
        assert (await login_by_message(data_socket, data_only))["events"] == ["latest", "status"]
        assert (await login_by_message(alarm_socket, alarms_only))["events"] == ["alarm"]
        await warm_up(data_socket, world.settings, a, nonce, "status")
        await warm_up(alarm_socket, world.settings, a, nonce, "alarm")
        await publish(world.settings, a, alarm(a, nonce, label="alarm"))
        await publish(world.settings, a, latest(a, nonce, (world.a.point.id, None)))
        await publish(world.settings, a, status(a, nonce, label="status"))
        await publish(world.settings, a, alarm(a, nonce, label="second alarm"))
        data_seen = [(await next_event(data_socket, nonce))["type"] for _ in range(2)]
        alarm_seen = [(await next_event(alarm_socket, nonce))["label"] for _ in range(2)]
    assert data_seen == ["latest", "status"]
    assert alarm_seen == ["alarm", "second alarm"]


async def test_follow_narrows_latest_values_to_the_chosen_points(world: World, live_base: str) -> None:
    a = world.a.enterprise.id
    nonce = new_nonce()
    async with live_socket(live_base, await world.login("a-crew")) as socket:
        assert (await receive(socket))["following"] is None
        await warm_up(socket, world.settings, a, nonce)
        await socket.send(msgspec.json.encode({"type": "follow", "points": [11, 13]}).decode())
        assert (await receive_until(socket, lambda m: m["type"] == "following"))["points"] == [11, 13]
        await publish(world.settings, a, latest(a, nonce, (11, None), (12, None)))
        await publish(world.settings, a, latest(a, nonce, (12, None)))  # nothing followed: not sent at all
        await publish(world.settings, a, alarm(a, nonce, label="alarms still come"))
        followed = await next_event(socket, nonce)
        assert [p["point_id"] for p in followed["points"]] == [11]
        assert (await next_event(socket, nonce))["label"] == "alarms still come"

        await socket.send(msgspec.json.encode({"type": "follow", "points": "all"}).decode())
        assert "follow needs" in (await receive_until(socket, lambda m: m["type"] == "error"))["message"]
        await socket.send(msgspec.json.encode({"type": "follow", "points": None}).decode())
        assert (await receive_until(socket, lambda m: m["type"] == "following"))["points"] is None
        await publish(world.settings, a, latest(a, nonce, (11, None), (12, None)))
        assert [p["point_id"] for p in (await next_event(socket, nonce))["points"]] == [11, 12]


async def test_pings_keep_clients_informed_and_unknown_messages_get_an_error(
    world: World, live_base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_routes, "PING_INTERVAL_S", 0.2)
    async with live_socket(live_base, await world.login("a-auditor")) as socket:
        hello = await receive(socket)
        assert hello["ping_interval_s"] == 0.2
        pings = [await receive_until(socket, lambda m: m["type"] == "ping", timeout=2) for _ in range(2)]
        assert pings[0]["ts"] <= pings[1]["ts"]
        await socket.send(msgspec.json.encode({"type": "subscribe"}).decode())
        error = await receive_until(socket, lambda m: m["type"] == "error")
        assert "unknown message type" in error["message"]
        await socket.send("[1, 2]")
        assert (await receive_until(socket, lambda m: m["type"] == "error"))["message"].startswith("messages must")
        assert (await receive_until(socket, lambda m: m["type"] == "ping", timeout=2))["type"] == "ping"  # still open


# ---- the filter on its own ---------------------------------------------------------------------------------------


def _principal(scope: Scope, *permissions: Permission) -> Principal:
    return Principal(kind="user", name="t", user_id=1, role=None, permissions=frozenset(permissions), scope=scope)


def test_filter_drops_what_no_rule_allows() -> None:
    everything = _principal(Scope(everything=True), *Permission)
    scoped = _principal(Scope(enterprises=frozenset({1})), *Permission)
    assert visible_event({"type": "ingest-debug", "enterprise_id": 1}, everything, None) is None  # unknown type
    assert visible_event({"type": "status"}, scoped, None) is None  # no enterprise: only the group level sees it
    assert visible_event({"type": "status"}, everything, None) is not None
    assert visible_event({"type": "status", "enterprise_id": 2}, scoped, None) is None  # hub or channel mix-up
    assert visible_event({"type": "latest", "enterprise_id": 1, "points": "x"}, scoped, None) is None
    assert (
        visible_event(
            {"type": "status", "enterprise_id": 1, "site_id": "5"},
            _principal(Scope(sites=frozenset({5}), site_enterprises=frozenset({1})), Permission.DATA_READ),
            None,
        )
        is None
    )  # a malformed site id is not a match


def test_filter_decides_by_subject_when_an_event_names_no_site() -> None:
    site_crew = _principal(Scope(sites=frozenset({5}), site_enterprises=frozenset({1})), *Permission)
    subjects = frozenset({"device:dev-5", "point:50"})
    on_site = {"type": "status", "enterprise_id": 1, "device_id": "dev-5"}
    elsewhere = {"type": "status", "enterprise_id": 1, "device_id": "dev-6"}
    assert visible_event(on_site, site_crew, None, subjects) == on_site
    assert visible_event(elsewhere, site_crew, None, subjects) is None
    assert visible_event(on_site, site_crew, None, None) is None  # nothing known on the sites: nothing shown
    readings = {"type": "latest", "enterprise_id": 1, "points": [{"point_id": 50}, {"point_id": 51}]}
    assert visible_event(readings, site_crew, None, subjects) == {**readings, "points": [{"point_id": 50}]}
