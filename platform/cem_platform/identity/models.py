"""Tortoise models of identity and access: users, their scopes, login sessions and API tokens."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from cem_platform.identity.roles import Role
from cem_platform.org.models import Enterprise, Site

__all__ = ["ApiToken", "LoginFailure", "LoginSession", "UsedRefreshToken", "User", "UserScope"]


class User(Model):
    """A person who logs in. Secrets (password hash, TOTP seed) never leave this table in a response or a log."""

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    display_name = fields.CharField(max_length=100, default="")
    email = fields.CharField(max_length=200, default="")
    role = fields.CharEnumField(Role, max_length=16)
    # Group-level users (集团) see every enterprise; everyone else only those in their UserScope rows.
    all_enterprises = fields.BooleanField(default=False)
    locale = fields.CharField(max_length=8, default="zh-CN")
    password_hash = fields.CharField(max_length=200)
    totp_secret_encrypted: str | None = fields.TextField(null=True)
    totp_confirmed_at = fields.DatetimeField(null=True)
    totp_last_step = fields.BigIntField(default=0)  # newest accepted time step: a code is never accepted twice
    failed_logins = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    last_login_at = fields.DatetimeField(null=True)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    scopes: fields.ReverseRelation[UserScope]

    class Meta:
        table = "auth_user"


class UserScope(Model):
    """One enterprise (whole) or one site of it that a user may see and act on."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "cem.User", related_name="scopes", on_delete=fields.CASCADE
    )
    user_id: int
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="user_scopes", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    site: fields.ForeignKeyNullableRelation[Site] = fields.ForeignKeyField(
        "cem.Site", related_name="user_scopes", on_delete=fields.RESTRICT, null=True
    )
    site_id: int | None

    class Meta:
        table = "auth_user_scope"
        unique_together = (("user", "enterprise", "site"),)


class LoginSession(Model):
    """A login: hashed access and refresh tokens, and when its holder last confirmed a TOTP code."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "cem.User", related_name="sessions", on_delete=fields.CASCADE
    )
    user_id: int
    access_hash = fields.CharField(max_length=64, unique=True)
    access_expires_at = fields.DatetimeField()
    refresh_hash = fields.CharField(max_length=64, unique=True)
    refresh_expires_at = fields.DatetimeField()
    step_up_at = fields.DatetimeField(null=True)
    ip = fields.CharField(max_length=45, default="")
    user_agent = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "auth_session"


class UsedRefreshToken(Model):
    """A refresh token already rotated away. Presented again, it was copied: the whole session (its family) ends."""

    hash = fields.CharField(max_length=64, primary_key=True)
    session: fields.ForeignKeyRelation[LoginSession] = fields.ForeignKeyField(
        "cem.LoginSession", related_name="used_refresh_tokens", on_delete=fields.CASCADE
    )
    session_id: Any
    used_at = fields.DatetimeField()

    class Meta:
        table = "auth_refresh_used"


class LoginFailure(Model):
    """Failed logins of one user name from one address: that pair is locked, never the account itself.

    So an outsider cannot lock a person out; names nobody has are counted the same, so a lock reveals no name.
    """

    id = fields.BigIntField(primary_key=True)
    username = fields.CharField(max_length=64)  # as typed
    ip = fields.CharField(max_length=45)
    failures = fields.IntField(default=0)  # since the last success, lock or quiet spell
    last_failed_at = fields.DatetimeField()
    locked_until = fields.DatetimeField(null=True)

    class Meta:
        table = "auth_login_failure"
        unique_together = (("username", "ip"),)


class ApiToken(Model):
    """A token for a third-party integration (standard 4.2.6): named permissions within named enterprises."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    prefix = fields.CharField(max_length=16)  # shown in lists so a holder can tell tokens apart
    token_hash = fields.CharField(max_length=64, unique=True)
    created_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "cem.User", related_name="api_tokens", on_delete=fields.RESTRICT
    )
    created_by_id: int
    permissions: Any = fields.JSONField(default=list)
    enterprise_ids: Any = fields.JSONField(default=list)
    expires_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "auth_api_token"
