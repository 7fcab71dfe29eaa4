"""What authenticating one request costs in SQL, and that it still notices every change at the next request.

Statements are counted on the client side, at asyncpg's connection: each SQL statement sent to PostgreSQL, and
apart from them the pool's reset query that asyncpg runs when a connection goes back to the pool.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from litestar import Litestar

from cem_platform.identity.models import ApiToken, LoginSession, User, UserScope
from cem_platform.identity.roles import Role
from cem_platform.identity.services import LAST_USED_RESOLUTION, IdentityService
from tests.test_platform.world import World

# Before this change a session bearer took 2 statements (session+user, then scope rows) and an API token 3
# (token+creator, scope rows, last_used_at on every request); with the pool's resets, 4 and 6 round trips.
SESSION_CEILING = 1
API_TOKEN_CEILING = 1  # once its last_used_at is fresh; the write comes at most once a minute
API_TOKEN_FIRST_USE_CEILING = 2


@dataclass
class SqlLog:
    """The statements sent while ``recording``; the pool's housekeeping (its reset query) counted apart."""

    recording: bool = False
    statements: list[str] = field(default_factory=list)
    housekeeping: list[str] = field(default_factory=list)

    def note(self, query: str) -> None:
        """Record one statement sent to the server."""
        if not self.recording:
            return
        if "RESET ALL" in query.upper():
            self.housekeeping.append(query)
        else:
            self.statements.append(query)

    def start(self) -> None:
        """Forget what was recorded and record from now on."""
        self.statements.clear()
        self.housekeeping.clear()
        self.recording = True

    def stop(self) -> list[str]:
        """Stop recording; the statements recorded."""
        self.recording = False
        return list(self.statements)


@pytest.fixture
def sql(monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlLog]:
    """Counts every statement any asyncpg connection sends (prepared or simple), while asked to."""
    log = SqlLog()
    connection = asyncpg.connection.Connection
    execute, execute_prepared, execute_many = connection.execute, connection._execute, connection._executemany

    async def counted_execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if not args:  # the simple protocol; with arguments execute goes through _execute, counted there
            log.note(query)
        return await execute(self, query, *args, **kwargs)

    async def counted_execute_prepared(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        log.note(query)
        return await execute_prepared(self, query, *args, **kwargs)

    async def counted_execute_many(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        log.note(query)
        return await execute_many(self, query, *args, **kwargs)

    monkeypatch.setattr(connection, "execute", counted_execute)
    monkeypatch.setattr(connection, "_execute", counted_execute_prepared)
    monkeypatch.setattr(connection, "_executemany", counted_execute_many)
    yield log
    log.recording = False


def identity(app: Litestar) -> IdentityService:
    """The app's identity service."""
    service: IdentityService = app.state.identity
    return service


async def api_token(app: Litestar, world: World, username: str, enterprise_ids: list[int]) -> str:
    """An API token issued by ``username`` for org.read and data.read in ``enterprise_ids``."""
    issuer = await identity(app).principal_for_user(world.users[username])
    _, secret = await identity(app).create_api_token(
        issuer, name="erp", permissions=["org.read", "data.read"], enterprise_ids=enterprise_ids, expires_at=None
    )
    return secret


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


async def me(world: World, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """GET /auth/me, which does nothing but authenticate: its status and body."""
    response = await world.client.get("/api/v1/auth/me", headers=headers)
    return response.status_code, response.json()


async def test_a_session_request_authenticates_in_one_statement(app: Litestar, world: World, sql: SqlLog) -> None:
    for username in ("a-admin", "group-admin"):  # scope from rows, and the group level
        headers = await world.login(username)
        await me(world, headers)  # asyncpg prepares a statement the first time it sees it
        sql.start()
        status, body = await me(world, headers)
        statements = sql.stop()
        assert status == 200, body
        assert body["name"] == username
        assert len(statements) <= SESSION_CEILING, statements
        assert len(statements) + len(sql.housekeeping) <= 2 * SESSION_CEILING, sql.housekeeping
        assert "auth_session" in statements[0] and "auth_user_scope" in statements[0]


async def test_an_api_token_request_authenticates_in_one_statement(app: Litestar, world: World, sql: SqlLog) -> None:
    secret = await api_token(app, world, "a-admin", [world.a.enterprise.id])
    sql.start()
    status, body = await me(world, bearer(secret))
    first_use = sql.stop()
    assert status == 200, body
    assert body["kind"] == "api_token" and body["enterprise_ids"] == [world.a.enterprise.id]
    assert len(first_use) <= API_TOKEN_FIRST_USE_CEILING, first_use
    assert any(s.lstrip().upper().startswith("UPDATE") for s in first_use), "the first use sets last_used_at"

    sql.start()
    status, body = await me(world, bearer(secret))
    statements = sql.stop()
    assert status == 200, body
    assert len(statements) <= API_TOKEN_CEILING, statements
    assert len(statements) + len(sql.housekeeping) <= 2 * API_TOKEN_CEILING, sql.housekeeping
    assert not any(s.lstrip().upper().startswith("UPDATE") for s in statements)


async def test_last_used_at_is_written_at_most_once_a_minute(app: Litestar, world: World) -> None:
    secret = await api_token(app, world, "a-admin", [world.a.enterprise.id])
    await identity(app).authenticate_bearer(secret, ip="", request_id="")
    token = await ApiToken.get(created_by_id=world.users["a-admin"].id)
    first = token.last_used_at
    assert first is not None
    await identity(app).authenticate_bearer(secret, ip="", request_id="")
    await token.refresh_from_db()
    assert token.last_used_at == first  # within the minute: not written again

    stale = first - LAST_USED_RESOLUTION - dt.timedelta(seconds=1)
    await ApiToken.filter(id=token.id).update(last_used_at=stale)
    await identity(app).authenticate_bearer(secret, ip="", request_id="")
    await token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at > first


async def test_the_one_statement_builds_the_same_principal(app: Litestar, world: World) -> None:
    site_user = await world.add_user("b-site-viewer", Role.AUDITOR, enterprise=world.b.enterprise, site=world.b.site)
    await UserScope.create(user=site_user, enterprise=world.a.enterprise, site=None)
    await world.add_user("a-pending", Role.ADMIN, enterprise=world.a.enterprise, totp=False)  # must enrol first
    for username in ("a-admin", "group-admin", "b-site-viewer", "a-crew", "a-pending"):
        headers = await world.login(username)
        principal = await identity(app).authenticate_bearer(
            headers["Authorization"].split()[1], ip="10.0.0.1", request_id="r1"
        )
        user = await User.get(username=username)
        session = await LoginSession.filter(user_id=user.id).order_by("-created_at").first()
        assert session is not None
        expected = await identity(app).principal_for_user(user, session_id=session.id, ip="10.0.0.1", request_id="r1")
        assert principal == expected
        assert bool(principal.extra.get("totp_pending")) == (username == "a-pending")
    site = await identity(app).authenticate_bearer(
        (await world.login("b-site-viewer"))["Authorization"].split()[1], ip="", request_id=""
    )
    assert site.scope.enterprises == {world.a.enterprise.id}
    assert site.scope.sites == {world.b.site.id}
    assert site.scope.site_enterprises == {world.b.enterprise.id}


async def test_a_logged_out_or_expired_session_is_refused_at_the_next_request(world: World) -> None:
    headers = await world.login("a-executive")
    assert (await me(world, headers))[0] == 200
    assert (await world.client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    assert (await me(world, headers))[0] == 401

    headers = await world.login("a-executive")
    assert (await me(world, headers))[0] == 200
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await LoginSession.filter(user_id=world.users["a-executive"].id, revoked_at__isnull=True).update(
        access_expires_at=past
    )
    status, body = await me(world, headers)
    assert status == 401 and "expired" in body["error"]["message"]


async def test_a_deactivated_user_or_changed_role_counts_at_the_next_request(world: World) -> None:
    headers = await world.login("a-auditor")
    status, body = await me(world, headers)
    assert status == 200 and body["role"] == "auditor" and body["enterprise_ids"] == [world.a.enterprise.id]

    user = world.users["a-auditor"]
    await User.filter(id=user.id).update(role=Role.CREW)
    await UserScope.filter(user_id=user.id).update(enterprise_id=world.b.enterprise.id)
    status, body = await me(world, headers)
    assert status == 200 and body["role"] == "crew" and body["enterprise_ids"] == [world.b.enterprise.id]

    await User.filter(id=user.id).update(active=False)  # straight in the database: no session is ended
    status, body = await me(world, headers)
    assert status == 401 and "deactivated" in body["error"]["message"]


async def test_a_revoked_token_or_deactivated_owner_is_refused_at_the_next_request(app: Litestar, world: World) -> None:
    secret = await api_token(app, world, "a-admin", [world.a.enterprise.id])
    assert (await me(world, bearer(secret)))[0] == 200
    await ApiToken.filter(created_by_id=world.users["a-admin"].id).update(revoked_at=dt.datetime.now(dt.UTC))
    assert (await me(world, bearer(secret)))[0] == 401

    secret = await api_token(app, world, "a-admin", [world.a.enterprise.id])
    await UserScope.filter(user_id=world.users["a-admin"].id).update(enterprise_id=world.b.enterprise.id)
    status, body = await me(world, bearer(secret))
    assert status == 200 and body["enterprise_ids"] == []  # never beyond its owner's scope of today
    await User.filter(id=world.users["a-admin"].id).update(active=False)
    status, body = await me(world, bearer(secret))
    assert status == 401 and "owner is deactivated" in body["error"]["message"]
