"""Routes of identity and access: /auth, /users, /api-tokens."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from cem_platform.identity.http import identity_of, principal_of, requires, requires_step_up
from cem_platform.identity.models import ApiToken
from cem_platform.identity.roles import Permission
from cem_platform.identity.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenOut,
    LoginIn,
    Me,
    PasswordChange,
    RefreshIn,
    StepUpIn,
    StepUpOut,
    TokenPairOut,
    TotpEnrolmentOut,
    UserCreate,
    UserOut,
    UserPatch,
)
from cem_platform.identity.services import TokenPair

__all__ = ["ApiTokenController", "AuthController", "UserController"]

AnyRequest = Request[Any, Any, Any]


def _pair_out(pair: TokenPair) -> TokenPairOut:
    return TokenPairOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type="Bearer",  # noqa: S106 - the scheme name, not a secret
        access_expires_at=pair.access_expires_at,
        refresh_expires_at=pair.refresh_expires_at,
        totp_enrolment_required=pair.totp_enrolment_required,
    )


class AuthController(Controller):
    """Log in and out, refresh, authenticator enrolment and step-up."""

    path = "/auth"
    tags = ["auth"]

    @post("/login", status_code=HTTP_200_OK, exclude_from_auth=True, summary="Log in")
    async def login(self, request: AnyRequest, data: JSONBody[LoginIn]) -> TokenPairOut:
        """Check username, password and (when enrolled) TOTP; answers 401 ``totp_required`` if the code is missing."""
        state = request.scope.get("state", {})
        pair = await identity_of(request).login(
            data.username,
            data.password,
            data.totp,
            ip=state.get("client_ip", ""),
            user_agent=request.headers.get("user-agent", ""),
            request_id=state.get("request_id", ""),
        )
        return _pair_out(pair)

    @post("/refresh", status_code=HTTP_200_OK, exclude_from_auth=True, summary="Refresh tokens")
    async def refresh(self, request: AnyRequest, data: JSONBody[RefreshIn]) -> TokenPairOut:
        """Exchange a refresh token (once) for a new token pair."""
        return _pair_out(await identity_of(request).refresh(data.refresh_token))

    @post("/logout", status_code=HTTP_204_NO_CONTENT, summary="Log out")
    async def logout(self, request: AnyRequest) -> None:
        """End this session at once."""
        await identity_of(request).logout(principal_of(request))

    @get("/me", summary="Who am I")
    async def me(self, request: AnyRequest) -> Me:
        """The caller, their permissions and scope."""
        p = principal_of(request)
        return Me(
            kind=p.kind,
            name=p.name,
            user_id=p.user_id,
            role=p.role.value if p.role else None,
            permissions=sorted(x.value for x in p.permissions),
            all_enterprises=p.scope.everything,
            enterprise_ids=sorted(p.scope.enterprises),
            site_ids=sorted(p.scope.sites),
            totp_enrolment_required=bool(p.extra.get("totp_pending")),
        )

    @post("/totp/enrol", status_code=HTTP_200_OK, summary="Start authenticator enrolment")
    async def totp_enrol(self, request: AnyRequest) -> TotpEnrolmentOut:
        """A new TOTP seed for the caller, with a QR code for authenticator apps."""
        enrolment = await identity_of(request).begin_totp_enrolment(principal_of(request))
        return TotpEnrolmentOut(enrolment.secret, enrolment.provisioning_uri, enrolment.qr_svg)

    @post("/totp/confirm", status_code=HTTP_204_NO_CONTENT, summary="Confirm authenticator enrolment")
    async def totp_confirm(self, request: AnyRequest, data: JSONBody[StepUpIn]) -> None:
        """Activate the new seed with a current code from it."""
        await identity_of(request).confirm_totp(principal_of(request), data.totp)

    @post("/step-up", status_code=HTTP_200_OK, summary="Confirm control operations with TOTP")
    async def step_up(self, request: AnyRequest, data: JSONBody[StepUpIn]) -> StepUpOut:
        """A fresh TOTP code covers this session's control operations for a few minutes."""
        return StepUpOut(step_up_until=await identity_of(request).step_up(principal_of(request), data.totp))

    @post("/password", status_code=HTTP_204_NO_CONTENT, summary="Change my password")
    async def change_password(self, request: AnyRequest, data: JSONBody[PasswordChange]) -> None:
        """Change the caller's password; their other sessions end."""
        await identity_of(request).change_own_password(principal_of(request), data.current_password, data.new_password)


async def _user_out(request: AnyRequest, user: Any) -> UserOut:
    return msgspec.convert(await identity_of(request).describe_user(user), UserOut)


class UserController(Controller):
    """User administration. Every change is a control operation: it needs a fresh TOTP confirmation."""

    path = "/users"
    tags = ["users"]

    @get("/", guards=[requires(Permission.USERS_READ)], summary="List users")
    async def list_users(self, request: AnyRequest) -> list[UserOut]:
        """Users within the caller's enterprises."""
        rows = await identity_of(request).list_users(principal_of(request))
        return [msgspec.convert(r, UserOut) for r in rows]

    @get("/{user_id:int}", guards=[requires(Permission.USERS_READ)], summary="Get a user")
    async def get_user(self, request: AnyRequest, user_id: FromPath[int]) -> UserOut:
        """One user."""
        return await _user_out(request, await identity_of(request).get_user(principal_of(request), user_id))

    @post("/", guards=[requires(Permission.USERS_WRITE), requires_step_up], summary="Create a user")
    async def create_user(self, request: AnyRequest, data: JSONBody[UserCreate]) -> UserOut:
        """Create a user with a role and a scope."""
        user = await identity_of(request).create_user(
            principal_of(request),
            username=data.username,
            password=data.password,
            role=data.role,
            display_name=data.display_name,
            email=data.email,
            locale=data.locale,
            all_enterprises=data.all_enterprises,
            scopes=[(s.enterprise_id, s.site_id) for s in data.scopes],
        )
        return await _user_out(request, user)

    @patch("/{user_id:int}", guards=[requires(Permission.USERS_WRITE), requires_step_up], summary="Change a user")
    async def update_user(self, request: AnyRequest, user_id: FromPath[int], data: JSONBody[UserPatch]) -> UserOut:
        """Change profile, role, scope, activity or password."""
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if "scopes" in changes:
            changes["scopes"] = [msgspec.structs.asdict(s) for s in changes["scopes"]]
        user = await identity_of(request).update_user(principal_of(request), user_id, changes)
        return await _user_out(request, user)

    @post(
        "/{user_id:int}/unlock",
        status_code=HTTP_200_OK,
        guards=[requires(Permission.USERS_WRITE), requires_step_up],
        summary="Unlock a user",
    )
    async def unlock(self, request: AnyRequest, user_id: FromPath[int]) -> UserOut:
        """Lift a lockout after failed logins."""
        return await _user_out(request, await identity_of(request).unlock_user(principal_of(request), user_id))

    @post(
        "/{user_id:int}/reset-totp",
        status_code=HTTP_200_OK,
        guards=[requires(Permission.USERS_WRITE), requires_step_up],
        summary="Reset a user's authenticator",
    )
    async def reset_totp(self, request: AnyRequest, user_id: FromPath[int]) -> UserOut:
        """Remove the user's authenticator; they enrol a new one at next login."""
        return await _user_out(request, await identity_of(request).reset_totp(principal_of(request), user_id))


def _token_out(token: ApiToken) -> ApiTokenOut:
    return ApiTokenOut(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        permissions=list(token.permissions),
        enterprise_ids=list(token.enterprise_ids),
        created_by_id=token.created_by_id,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


class ApiTokenController(Controller):
    """API tokens for third-party integration (standard 4.2.6)."""

    path = "/api-tokens"
    tags = ["api-tokens"]

    @get("/", guards=[requires(Permission.TOKENS_READ)], summary="List API tokens")
    async def list_tokens(self, request: AnyRequest) -> list[ApiTokenOut]:
        """Tokens the caller may see."""
        return [_token_out(t) for t in await identity_of(request).list_api_tokens(principal_of(request))]

    @post("/", guards=[requires(Permission.TOKENS_WRITE), requires_step_up], summary="Issue an API token")
    async def create_token(self, request: AnyRequest, data: JSONBody[ApiTokenCreate]) -> ApiTokenCreated:
        """Issue a token; its secret is in this answer only."""
        token, secret = await identity_of(request).create_api_token(
            principal_of(request),
            name=data.name,
            permissions=data.permissions,
            enterprise_ids=data.enterprise_ids,
            expires_at=data.expires_at,
        )
        return ApiTokenCreated(token=secret, details=_token_out(token))

    @delete(
        "/{token_id:int}", guards=[requires(Permission.TOKENS_WRITE), requires_step_up], summary="Revoke an API token"
    )
    async def revoke_token(self, request: AnyRequest, token_id: FromPath[int]) -> None:
        """Revoke a token at once."""
        await identity_of(request).revoke_api_token(principal_of(request), token_id)
