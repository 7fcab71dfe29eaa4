"""Request and response bodies of the identity routes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from cem_platform.identity.roles import Role

__all__ = [
    "ApiTokenCreate",
    "ApiTokenCreated",
    "ApiTokenOut",
    "LoginIn",
    "Me",
    "PasswordChange",
    "RefreshIn",
    "ScopeItem",
    "StepUpIn",
    "StepUpOut",
    "TokenPairOut",
    "TotpEnrolmentOut",
    "UserCreate",
    "UserOut",
    "UserPatch",
]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
TotpCode = Annotated[str, msgspec.Meta(pattern=r"^\d{6}$", description="6-digit code from the authenticator app")]
Locale = Annotated[str, msgspec.Meta(pattern=r"^(zh-CN|en)$")]


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    """Credentials; ``totp`` is needed once the account has an authenticator."""

    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Secret
    totp: TotpCode | None = None


class RefreshIn(msgspec.Struct, forbid_unknown_fields=True):
    """A refresh token from a login or an earlier refresh."""

    refresh_token: Secret


class TokenPairOut(msgspec.Struct):
    """Tokens of a session: send the access token as ``Authorization: Bearer``; refresh before it expires."""

    access_token: str
    refresh_token: str
    token_type: str
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime
    totp_enrolment_required: bool


class StepUpIn(msgspec.Struct, forbid_unknown_fields=True):
    """A fresh authenticator code."""

    totp: TotpCode


class StepUpOut(msgspec.Struct):
    """Until when control operations are confirmed for this session."""

    step_up_until: dt.datetime


class TotpEnrolmentOut(msgspec.Struct):
    """A new authenticator seed: scan the QR code (or type the secret), then confirm with a code."""

    secret: str
    provisioning_uri: str
    qr_svg: str


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    """Change one's own password."""

    current_password: Secret
    new_password: Secret


class ScopeItem(msgspec.Struct, forbid_unknown_fields=True):
    """A whole enterprise, or one site of it."""

    enterprise_id: int
    site_id: int | None = None


class Me(msgspec.Struct):
    """The caller."""

    kind: str
    name: str
    user_id: int | None
    role: str | None
    permissions: list[str]
    all_enterprises: bool
    enterprise_ids: list[int]
    site_ids: list[int]
    totp_enrolment_required: bool


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new user."""

    username: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{2,63}$")]
    password: Secret
    role: Role
    display_name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    email: Annotated[str, msgspec.Meta(max_length=200)] = ""
    locale: Locale = "zh-CN"
    all_enterprises: bool = False
    scopes: list[ScopeItem] = []


class UserPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a user; fields left out stay as they are."""

    display_name: Annotated[str, msgspec.Meta(max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    email: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    locale: Locale | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    all_enterprises: bool | msgspec.UnsetType = msgspec.UNSET
    scopes: list[ScopeItem] | msgspec.UnsetType = msgspec.UNSET
    password: Secret | msgspec.UnsetType = msgspec.UNSET


class UserOut(msgspec.Struct):
    """A user as administrators see it (never a secret)."""

    id: int
    username: str
    display_name: str
    email: str
    role: str
    all_enterprises: bool
    locale: str
    active: bool
    scopes: list[ScopeItem]
    totp_enrolled: bool
    locked_until: dt.datetime | None
    last_login_at: dt.datetime | None


class ApiTokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A token for a third-party system."""

    name: Name
    permissions: list[str]
    enterprise_ids: list[int]
    expires_at: dt.datetime | None = None


class ApiTokenOut(msgspec.Struct):
    """A token as listed (the secret is never shown again)."""

    id: int
    name: str
    prefix: str
    permissions: list[str]
    enterprise_ids: list[int]
    created_by_id: int
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiTokenCreated(msgspec.Struct):
    """A new token with its secret, shown this once."""

    token: str
    details: ApiTokenOut
