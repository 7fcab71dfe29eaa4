"""How the HTTP layer learns who calls (bearer authentication) and checks what they may do (guards)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from cem_platform.errors import AuthenticationError, PermissionDeniedError
from cem_platform.identity.principal import Principal
from cem_platform.identity.roles import Permission
from cem_platform.identity.services import IdentityService

__all__ = ["BearerAuthenticationMiddleware", "principal_of", "requires", "requires_step_up"]

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]
STEP_UP_HEADER = "x-cem-totp"


def identity_of(connection: ASGIConnection[Any, Any, Any, Any]) -> IdentityService:
    """The identity service of this application."""
    service: IdentityService = connection.app.state.identity
    return service


class BearerAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """Resolves ``Authorization: Bearer <token>`` (session access token or API token) to a Principal."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        """The principal of the request, or AuthenticationError."""
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("this request needs a bearer token")
        state = connection.scope.get("state", {})
        principal = await identity_of(connection).authenticate_bearer(
            token.strip(), ip=state.get("client_ip", ""), request_id=state.get("request_id", "")
        )
        state["principal_name"] = principal.name
        return AuthenticationResult(user=principal, auth=principal)


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The authenticated caller of a request."""
    principal: Principal = connection.user
    return principal


def requires(*permissions: Permission) -> Guard:
    """A guard letting through only callers whose role (or token) grants one of ``permissions``."""
    needed = " or ".join(p.value for p in permissions)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = principal_of(connection)
        if principal.extra.get("totp_pending"):
            raise PermissionDeniedError(
                "your role requires an authenticator (TOTP) before anything else",
                hint="Enrol one: POST /api/v1/auth/totp/enrol, then POST /api/v1/auth/totp/confirm with a code.",
            )
        if not any(principal.can(p) for p in permissions):
            raise PermissionDeniedError(f"your role does not allow this (it needs {needed})")

    guard.__name__ = "requires_" + "_or_".join(p.value.replace(".", "_") for p in permissions)
    return guard


async def requires_step_up(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard for control operations (standard 5.5.3): a TOTP confirmed in the last few minutes, or now."""
    await identity_of(connection).require_step_up(
        principal_of(connection),
        connection.headers.get(STEP_UP_HEADER),
        f"{connection.scope.get('method', '')} {connection.url.path}",
    )
