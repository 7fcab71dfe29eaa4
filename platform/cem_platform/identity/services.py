"""Login, sessions, TOTP and step-up, bearer authentication, users and API tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyotp
import segno
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from cem_platform.audit import services as audit
from cem_platform.errors import (
    AccountLockedError,
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StepUpRequiredError,
    TotpRequiredError,
)
from cem_platform.identity.credentials import (
    DUMMY_PASSWORD_HASH,
    TotpBox,
    hash_password,
    hash_token,
    needs_rehash,
    new_token,
    totp_step_if_valid,
    verify_password,
)
from cem_platform.identity.models import ApiToken, LoginFailure, LoginSession, UsedRefreshToken, User, UserScope
from cem_platform.identity.principal import Principal, Scope
from cem_platform.identity.roles import API_TOKEN_PERMISSIONS, ROLE_PERMISSIONS, TOTP_REQUIRED_ROLES, Permission, Role
from cem_platform.org.models import Enterprise, Site
from cem_platform.settings import Settings
from cem_platform.sysconfig import services as sysconfig

__all__ = [
    "IdentityService",
    "TokenPair",
    "TotpEnrolment",
    "USER_FIELDS",
]

USER_FIELDS = ("id", "username", "display_name", "email", "role", "all_enterprises", "locale", "active")
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")

# What authenticating a bearer reads, in one statement each: the session or token, its user, the user's scope rows.
_SESSION_COLUMNS = (
    "id",
    "access_expires_at",
    "revoked_at",
    "user_id",
    "user__username",
    "user__role",
    "user__active",
    "user__all_enterprises",
    "user__totp_confirmed_at",
    "user__scopes__enterprise_id",
    "user__scopes__site_id",
)
_API_TOKEN_COLUMNS = (
    "id",
    "name",
    "permissions",
    "enterprise_ids",
    "expires_at",
    "last_used_at",
    "revoked_at",
    "created_by_id",
    "created_by__role",
    "created_by__active",
    "created_by__all_enterprises",
    "created_by__scopes__enterprise_id",
    "created_by__scopes__site_id",
)
# An API token's last_used_at is rewritten only when older than this: no write on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def utcnow() -> dt.datetime:
    """Now, UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)


def _totp_pending(role: Role, totp_confirmed_at: dt.datetime | None) -> bool:
    """Must this role enrol an authenticator before anything else, and has it not yet?"""
    return role in TOTP_REQUIRED_ROLES and totp_confirmed_at is None


async def _end_sessions(user_id: int, *, keep: uuid.UUID | None = None) -> None:
    """Revoke a user's working sessions at once (all, or all but ``keep``)."""
    query = LoginSession.filter(user_id=user_id, revoked_at__isnull=True)
    if keep is not None:
        query = query.exclude(id=keep)
    await query.update(revoked_at=utcnow())


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or refresh returns. The tokens are shown once and stored only as hashes."""

    access_token: str
    refresh_token: str
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime
    totp_enrolment_required: bool


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """A TOTP seed to be confirmed: its provisioning URI and the same as a QR code (SVG)."""

    secret: str
    provisioning_uri: str
    qr_svg: str


class IdentityService:
    """Everything about who a caller is and what they may do, for one process's settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.totp_box = TotpBox(settings.security)

    # ---- authentication -------------------------------------------------------------------------------

    @staticmethod
    def _scope_from_rows(all_enterprises: bool, rows: Iterable[tuple[int | None, int | None]]) -> Scope:
        """The scope of a user from their (enterprise_id, site_id) rows; None pairs (no row joined) are skipped."""
        if all_enterprises:
            return Scope(everything=True)
        pairs = [(enterprise_id, site_id) for enterprise_id, site_id in rows if enterprise_id is not None]
        return Scope(
            enterprises=frozenset(e for e, s in pairs if s is None),
            sites=frozenset(s for _, s in pairs if s is not None),
            site_enterprises=frozenset(e for e, s in pairs if s is not None),
        )

    async def _scope_of(self, user: User) -> Scope:
        if user.all_enterprises:
            return Scope(everything=True)
        rows = await UserScope.filter(user_id=user.id).values_list("enterprise_id", "site_id")
        return self._scope_from_rows(False, rows)

    def _totp_pending(self, user: User) -> bool:
        return _totp_pending(user.role, user.totp_confirmed_at)

    def _user_principal(
        self,
        *,
        user_id: int,
        username: str,
        role: Role,
        totp_confirmed_at: dt.datetime | None,
        scope: Scope,
        session_id: uuid.UUID | None,
        ip: str,
        request_id: str,
    ) -> Principal:
        pending = _totp_pending(role, totp_confirmed_at)
        return Principal(
            kind="user",
            name=username,
            user_id=user_id,
            role=role,
            permissions=frozenset() if pending else ROLE_PERMISSIONS[role],
            scope=scope,
            session_id=session_id,
            ip=ip,
            request_id=request_id,
            extra={"totp_pending": "1"} if pending else {},
        )

    async def principal_for_user(
        self, user: User, *, session_id: uuid.UUID | None = None, ip: str = "", request_id: str = ""
    ) -> Principal:
        """The principal of a logged-in user. Until a required TOTP is enrolled, it may do nothing but enrol."""
        return self._user_principal(
            user_id=user.id,
            username=user.username,
            role=user.role,
            totp_confirmed_at=user.totp_confirmed_at,
            scope=await self._scope_of(user),
            session_id=session_id,
            ip=ip,
            request_id=request_id,
        )

    async def authenticate_bearer(self, token: str, *, ip: str, request_id: str) -> Principal:
        """The principal behind an access token or API token; AuthenticationError when it is not valid now.

        Every request runs this, so it reads everything it decides on in one statement: the session (or token),
        its user and that user's scope rows, joined. Nothing is cached between requests: a logout, a revoked
        token, a deactivated user or a changed role or scope counts from the very next request.
        """
        now = utcnow()
        digest = hash_token(token)
        if token.startswith("cem_pat_"):
            return await self._authenticate_api_token(digest, now, ip=ip, request_id=request_id)
        rows = await LoginSession.filter(access_hash=digest).values(*_SESSION_COLUMNS)
        if not rows or rows[0]["revoked_at"] is not None:
            raise AuthenticationError("the access token is unknown or was logged out")
        first = rows[0]
        if first["access_expires_at"] <= now:
            raise AuthenticationError(
                "the access token has expired",
                hint="Get a new one at POST /api/v1/auth/refresh with your refresh token.",
            )
        if not first["user__active"]:
            raise AuthenticationError("this account is deactivated")
        return self._user_principal(
            user_id=first["user_id"],
            username=first["user__username"],
            role=Role(first["user__role"]),
            totp_confirmed_at=first["user__totp_confirmed_at"],
            scope=self._scope_from_rows(
                first["user__all_enterprises"],
                ((r["user__scopes__enterprise_id"], r["user__scopes__site_id"]) for r in rows),
            ),
            session_id=first["id"],
            ip=ip,
            request_id=request_id,
        )

    async def _authenticate_api_token(self, digest: str, now: dt.datetime, *, ip: str, request_id: str) -> Principal:
        """The principal of an API token (one statement; a second, at most once a minute, for last_used_at)."""
        rows = await ApiToken.filter(token_hash=digest).values(*_API_TOKEN_COLUMNS)
        if not rows or rows[0]["revoked_at"] is not None:
            raise AuthenticationError("the API token is unknown or revoked")
        first = rows[0]
        if first["expires_at"] is not None and first["expires_at"] <= now:
            raise AuthenticationError("the API token has expired", hint="Ask an administrator for a new token.")
        if not first["created_by__active"]:
            raise AuthenticationError("the API token's owner is deactivated")
        # A token never exceeds what its creator may do today, nor the creator's scope.
        creator_scope = self._scope_from_rows(
            first["created_by__all_enterprises"],
            ((r["created_by__scopes__enterprise_id"], r["created_by__scopes__site_id"]) for r in rows),
        )
        allowed = (
            frozenset(Permission(p) for p in first["permissions"]) & ROLE_PERMISSIONS[Role(first["created_by__role"])]
        )
        enterprises = frozenset(e for e in first["enterprise_ids"] if creator_scope.covers_enterprise(int(e)))
        last_used: dt.datetime | None = first["last_used_at"]
        if last_used is None or last_used <= now - LAST_USED_RESOLUTION:
            # Written at most once a minute per token, not on every request; the condition keeps concurrent
            # requests (and other processes) from writing it again within that minute.
            await ApiToken.filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION), id=first["id"]
            ).update(last_used_at=now)
        return Principal(
            kind="api_token",
            name=f"token:{first['name']}",
            user_id=first["created_by_id"],
            role=None,
            permissions=allowed,
            scope=Scope(enterprises=enterprises),
            token_id=first["id"],
            ip=ip,
            request_id=request_id,
        )

    # ---- login, refresh, logout -----------------------------------------------------------------------

    async def login(
        self, username: str, password: str, totp: str | None, *, ip: str, user_agent: str, request_id: str
    ) -> TokenPair:
        """Check password (and TOTP when enrolled), open a session.

        Repeated failures lock the pair (user name, address) for a while, not the account: the person can still
        log in from their own device while someone guesses elsewhere. A name nobody has is counted and locked the
        same way and answered the same, so neither the answer nor the lock tells which names exist.
        """
        now = utcnow()
        anonymous = Principal(
            kind="user",
            name=username[:100],
            user_id=None,
            role=None,
            permissions=frozenset(),
            scope=Scope(),
            ip=ip,
            request_id=request_id,
        )
        user = await User.get_or_none(username=username)
        locked_until: list[dt.datetime] = await LoginFailure.filter(
            username=username[:64], ip=ip, locked_until__gt=now
        ).values_list("locked_until", flat=True)  # type: ignore[assignment]
        if locked_until:
            await audit.record(
                anonymous,
                "auth.login",
                entity_type="user" if user is not None else "",
                entity_id=user.id if user is not None else "",
                outcome="denied",
                summary="too many failed logins for this name from this address",
            )
            until = max(locked_until)
            raise AccountLockedError(
                f"too many failed logins for this name from this address; try again after "
                f"{until.strftime('%Y-%m-%d %H:%M')} UTC",
                hint="Wait until then, log in from your usual device, or ask an administrator to unlock the account.",
            )
        if user is None or not user.active:
            await asyncio.to_thread(verify_password, DUMMY_PASSWORD_HASH, password)
            await self._count_failure(username, ip, None, anonymous, "unknown or inactive user")
            raise AuthenticationError("username or password is wrong")
        actor = Principal(
            kind="user",
            name=user.username,
            user_id=user.id,
            role=user.role,
            permissions=frozenset(),
            scope=Scope(),
            ip=ip,
            request_id=request_id,
        )
        step: int | None = None
        if not await asyncio.to_thread(verify_password, user.password_hash, password):
            await self._count_failure(username, ip, user, actor, "wrong password")
            raise AuthenticationError("username or password is wrong")
        if user.totp_confirmed_at is not None and user.totp_secret_encrypted:
            if not totp:
                raise TotpRequiredError("this account needs the code from its authenticator app")
            step = totp_step_if_valid(self.totp_box.open(user.totp_secret_encrypted), totp, user.totp_last_step)
            if step is None:
                await self._count_failure(username, ip, user, actor, "wrong or reused TOTP code")
                raise AuthenticationError(
                    "the authenticator code is wrong or was already used",
                    hint="Wait for the next code in your authenticator app and try again.",
                )
        async with in_transaction():
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = now
            if step is not None:
                user.totp_last_step = step
            if needs_rehash(user.password_hash):
                user.password_hash = await asyncio.to_thread(hash_password, password)
            await user.save()
            pair = await self._open_session(user, ip=ip, user_agent=user_agent, stepped_up=step is not None)
            await LoginFailure.filter(username=user.username, ip=ip).delete()
            await audit.record(
                actor,
                "auth.login",
                entity_type="user",
                entity_id=user.id,
                enterprise_id=await self._home_enterprise(user),
            )
        return pair

    async def _count_failure(self, username: str, ip: str, user: User | None, actor: Principal, reason: str) -> None:
        """Count a failed login of ``username`` from ``ip``; at the threshold, lock that pair (audited)."""
        threshold = int(await sysconfig.get_value(self.settings, "auth.lockout_threshold"))
        minutes = int(await sysconfig.get_value(self.settings, "auth.lockout_minutes"))
        now = utcnow()
        name = username[:64]
        home = await self._home_enterprise(user) if user is not None else None
        entity_type, entity_id = ("user", user.id) if user is not None else ("", "")
        async with in_transaction():
            # Counted in the database, so concurrent attempts cannot slip past the threshold.
            row = await LoginFailure.select_for_update().get_or_none(username=name, ip=ip)
            if row is None:
                row = await LoginFailure.create(username=name, ip=ip, failures=0, last_failed_at=now)
            elif row.last_failed_at < now - dt.timedelta(minutes=minutes) or (
                row.locked_until is not None and row.locked_until <= now
            ):
                row.failures, row.locked_until = 0, None  # a quiet spell or a served lock starts the count again
            row.failures += 1
            row.last_failed_at = now
            locked = row.failures >= threshold
            if locked:
                row.failures, row.locked_until = 0, now + dt.timedelta(minutes=minutes)
            await row.save()
            await audit.record(
                actor,
                "auth.login",
                entity_type=entity_type,
                entity_id=entity_id,
                enterprise_id=home,
                outcome="failed",
                summary=reason,
            )
            if locked:
                await audit.record(
                    actor,
                    "auth.lockout",
                    enterprise_id=home,
                    outcome="denied",
                    summary=f"{threshold} failed logins from {ip}; this name is locked there for {minutes} min",
                    entity_type=entity_type,
                    entity_id=entity_id,
                )

    async def _home_enterprise(self, user: User) -> int | None:
        row = await UserScope.filter(user_id=user.id).order_by("id").first().values("enterprise_id")
        return None if row is None else int(row["enterprise_id"])

    async def _open_session(self, user: User, *, ip: str, user_agent: str, stepped_up: bool) -> TokenPair:
        now = utcnow()
        access, refresh = new_token("at"), new_token("rt")
        access_exp = now + dt.timedelta(minutes=self.settings.auth.access_token_minutes)
        refresh_exp = now + dt.timedelta(days=self.settings.auth.refresh_token_days)
        await LoginSession.create(
            id=uuid.uuid4(),
            user_id=user.id,
            access_hash=hash_token(access),
            access_expires_at=access_exp,
            refresh_hash=hash_token(refresh),
            refresh_expires_at=refresh_exp,
            ip=ip,
            user_agent=user_agent[:200],
            step_up_at=now if stepped_up else None,
        )
        return TokenPair(access, refresh, access_exp, refresh_exp, self._totp_pending(user))

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a session's tokens; a refresh token works once, and its reuse ends the session (token family)."""
        now = utcnow()
        presented = hash_token(refresh_token)
        if not await LoginSession.exists(refresh_hash=presented):
            await self._refresh_reused(presented, now)  # committed on its own: the refusal below must not undo it
        async with in_transaction():
            # locked, so that two refreshes with the same token cannot both rotate it
            session = await LoginSession.select_for_update().get_or_none(refresh_hash=presented)
            if session is None or session.revoked_at is not None or session.refresh_expires_at <= now:
                raise AuthenticationError(
                    "the refresh token is unknown, used, expired or logged out",
                    hint="Log in again at POST /api/v1/auth/login.",
                )
            user = await User.get(id=session.user_id)
            if not user.active:
                raise AuthenticationError("this account is deactivated")
            access, new_refresh = new_token("at"), new_token("rt")
            await UsedRefreshToken.create(hash=presented, session_id=session.id, used_at=now)
            session.access_hash = hash_token(access)
            session.refresh_hash = hash_token(new_refresh)
            session.access_expires_at = now + dt.timedelta(minutes=self.settings.auth.access_token_minutes)
            await session.save()
        return TokenPair(
            access, new_refresh, session.access_expires_at, session.refresh_expires_at, self._totp_pending(user)
        )

    async def _refresh_reused(self, presented: str, now: dt.datetime) -> None:
        """A rotated refresh token came back: someone holds a copy. End its session, both tokens (audited)."""
        used = await UsedRefreshToken.get_or_none(hash=presented).select_related("session__user")
        if used is None or used.session.revoked_at is not None:
            return
        session = used.session
        await LoginSession.filter(id=session.id).update(revoked_at=now)
        actor = await self.principal_for_user(session.user)
        await audit.record(
            actor,
            "auth.refresh_reuse",
            entity_type="user",
            entity_id=session.user_id,
            enterprise_id=await self._home_enterprise(session.user),
            outcome="denied",
            summary="a refresh token was used a second time; its session was ended",
        )

    async def logout(self, principal: Principal) -> None:
        """End the caller's session: both its tokens stop working at once."""
        if principal.session_id is None:
            raise InvalidInputError("only a login session can log out; revoke API tokens instead")
        await LoginSession.filter(id=principal.session_id).update(revoked_at=utcnow())

    # ---- TOTP and step-up -----------------------------------------------------------------------------

    async def begin_totp_enrolment(self, principal: Principal) -> TotpEnrolment:
        """Make a new seed for the caller; it takes effect once confirmed with a code from it."""
        user = await self._self_user(principal)
        if user.totp_confirmed_at is not None:
            raise ConflictError(
                "TOTP is already enrolled for this account",
                hint="An administrator can reset it (POST /api/v1/users/{id}/reset-totp).",
            )
        secret = pyotp.random_base32()
        user.totp_secret_encrypted = self.totp_box.seal(secret)
        await user.save(update_fields=["totp_secret_encrypted", "updated_at"])
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=self.settings.auth.totp_issuer)
        buffer = io.BytesIO()
        segno.make(uri, error="m").save(buffer, kind="svg", scale=4)
        return TotpEnrolment(secret=secret, provisioning_uri=uri, qr_svg=buffer.getvalue().decode())

    async def confirm_totp(self, principal: Principal, code: str) -> None:
        """Activate the seed made by :meth:`begin_totp_enrolment` once a code from it checks out."""
        user = await self._self_user(principal)
        if user.totp_confirmed_at is not None:
            raise ConflictError("TOTP is already enrolled for this account")
        if not user.totp_secret_encrypted:
            raise InvalidInputError("no TOTP enrolment is under way", hint="Start one: POST /api/v1/auth/totp/enrol.")
        step = totp_step_if_valid(self.totp_box.open(user.totp_secret_encrypted), code, user.totp_last_step)
        if step is None:
            raise InvalidInputError(
                "the code does not match the new seed",
                hint="Check the authenticator app's clock and enter the current code.",
            )
        async with in_transaction():
            user.totp_confirmed_at = utcnow()
            user.totp_last_step = step
            await user.save(update_fields=["totp_confirmed_at", "totp_last_step", "updated_at"])
            if principal.session_id is not None:
                await LoginSession.filter(id=principal.session_id).update(step_up_at=utcnow())
            await audit.record(
                principal,
                "auth.totp.enrol",
                entity_type="user",
                entity_id=user.id,
                enterprise_id=await self._home_enterprise(user),
            )

    async def step_up(self, principal: Principal, code: str) -> dt.datetime:
        """Confirm a fresh TOTP code for the caller's session; returns until when it covers control operations."""
        if principal.session_id is None:
            raise StepUpRequiredError(
                "API tokens cannot confirm control operations",
                hint="Control operations need a logged-in user with TOTP.",
            )
        user = await self._self_user(principal)
        if user.totp_confirmed_at is None or not user.totp_secret_encrypted:
            raise StepUpRequiredError(
                "this account has no authenticator enrolled",
                hint="Enrol one: POST /api/v1/auth/totp/enrol, then /auth/totp/confirm.",
            )
        step = totp_step_if_valid(self.totp_box.open(user.totp_secret_encrypted), code, user.totp_last_step)
        if step is None:
            await audit.record(
                principal,
                "auth.step_up",
                entity_type="user",
                entity_id=user.id,
                outcome="failed",
                enterprise_id=await self._home_enterprise(user),
            )
            raise StepUpRequiredError(
                "the authenticator code is wrong or was already used",
                hint="Enter the next code shown by your authenticator app.",
            )
        now = utcnow()
        async with in_transaction():
            await User.filter(id=user.id, totp_last_step__lt=step).update(totp_last_step=step)
            await LoginSession.filter(id=principal.session_id).update(step_up_at=now)
        minutes = int(await sysconfig.get_value(self.settings, "auth.step_up_minutes"))
        return now + dt.timedelta(minutes=minutes)

    async def require_step_up(self, principal: Principal, header_code: str | None, operation: str = "") -> None:
        """Pass when the caller confirmed TOTP recently (or sends a valid code now); StepUpRequiredError else.

        A refusal is audited (``control.refused``, outcome denied) with the ``operation`` it stopped.
        """
        if principal.kind == "system":
            return
        try:
            await self._require_step_up(principal, header_code)
        except StepUpRequiredError as err:
            user = await User.get_or_none(id=principal.user_id) if principal.user_id is not None else None
            await audit.record(
                principal,
                "control.refused",
                entity_type="user" if user is not None else "",
                entity_id=user.id if user is not None else "",
                enterprise_id=await self._home_enterprise(user) if user is not None else None,
                outcome="denied",
                summary=f"{operation or 'control operation'}: {err.message}"[:300],
            )
            raise

    async def _require_step_up(self, principal: Principal, header_code: str | None) -> None:
        if principal.session_id is None:
            raise StepUpRequiredError(
                "API tokens cannot perform control operations",
                hint="Control operations need a logged-in user who confirms with TOTP.",
            )
        if header_code:
            await self.step_up(principal, header_code)
            return
        session = await LoginSession.get(id=principal.session_id)
        minutes = int(await sysconfig.get_value(self.settings, "auth.step_up_minutes"))
        if session.step_up_at is None or session.step_up_at < utcnow() - dt.timedelta(minutes=minutes):
            raise StepUpRequiredError("this control operation needs a fresh confirmation with your authenticator")

    async def change_own_password(self, principal: Principal, current: str, new: str) -> None:
        """Change the caller's password; every other session of theirs ends."""
        user = await self._self_user(principal)
        if not await asyncio.to_thread(verify_password, user.password_hash, current):
            raise InvalidInputError("the current password is wrong", hint="Enter the password you logged in with.")
        self._check_password(new, user.username)
        async with in_transaction():
            user.password_hash = await asyncio.to_thread(hash_password, new)
            await user.save(update_fields=["password_hash", "updated_at"])
            await _end_sessions(user.id, keep=principal.session_id)
            await audit.record(
                principal,
                "auth.password.change",
                entity_type="user",
                entity_id=user.id,
                enterprise_id=await self._home_enterprise(user),
            )

    async def _self_user(self, principal: Principal) -> User:
        if principal.kind != "user" or principal.user_id is None:
            raise PermissionDeniedError("only a logged-in user can do this")
        return await User.get(id=principal.user_id)

    # ---- users ----------------------------------------------------------------------------------------

    def _visible_users(self, viewer: Principal) -> QuerySet[User]:
        query = User.all()
        if viewer.scope.everything:
            return query
        enterprises = list(viewer.scope.enterprises)
        return query.filter(all_enterprises=False, scopes__enterprise_id__in=enterprises).distinct()

    async def list_users(self, viewer: Principal) -> list[dict[str, Any]]:
        """Users within the viewer's enterprises, with their scopes."""
        users = await self._visible_users(viewer).order_by("username")
        return [await self.describe_user(u) for u in users]

    async def get_user(self, viewer: Principal, user_id: int) -> User:
        """One user, if the viewer's scope covers them."""
        user = await self._visible_users(viewer).get_or_none(id=user_id)
        if user is None:
            raise NotFoundError(f"no user {user_id} within your scope")
        return user

    async def describe_user(self, user: User) -> dict[str, Any]:
        """A user as shown to administrators: no secrets, with scopes and lock state."""
        scopes = await UserScope.filter(user_id=user.id).order_by("id").values("enterprise_id", "site_id")
        return {
            **{name: getattr(user, name) for name in USER_FIELDS},
            "scopes": scopes,
            "totp_enrolled": user.totp_confirmed_at is not None,
            "locked_until": await self._locked_until(user),
            "last_login_at": user.last_login_at,
        }

    async def _check_scopes(
        self, actor: Principal, all_enterprises: bool, scopes: list[tuple[int, int | None]]
    ) -> None:
        if all_enterprises and not actor.scope.everything:
            raise PermissionDeniedError("only a group-level administrator can grant access to every enterprise")
        if not all_enterprises and not scopes:
            raise InvalidInputError("a user needs at least one enterprise or site in 'scopes', or all_enterprises")
        for enterprise_id, site_id in scopes:
            if not actor.scope.covers_enterprise(enterprise_id):
                raise NotFoundError(f"no enterprise {enterprise_id} within your scope")
            if not await Enterprise.exists(id=enterprise_id):
                raise InvalidInputError(f"enterprise {enterprise_id} does not exist")
            if site_id is not None and not await Site.exists(id=site_id, enterprise_id=enterprise_id):
                raise InvalidInputError(f"site {site_id} does not belong to enterprise {enterprise_id}")

    def _check_password(self, password: str, username: str) -> None:
        minimum = self.settings.auth.password_min_length
        if len(password) < minimum:
            raise InvalidInputError(
                f"the password is shorter than {minimum} characters", hint="Choose a longer passphrase."
            )
        if username.lower() in password.lower():
            raise InvalidInputError("the password contains the username", hint="Choose a password without it.")

    async def create_user(
        self,
        actor: Principal,
        *,
        username: str,
        password: str,
        role: Role,
        display_name: str = "",
        email: str = "",
        locale: str = "zh-CN",
        all_enterprises: bool = False,
        scopes: list[tuple[int, int | None]] | None = None,
    ) -> User:
        """Create a user (validated, audited)."""
        scopes = scopes or []
        if not USERNAME_PATTERN.match(username):
            raise InvalidInputError("username must be 3-64 characters: lower-case letters, digits, '_', '.', '-'")
        self._check_password(password, username)
        await self._check_scopes(actor, all_enterprises, scopes)
        if await User.exists(username=username):
            raise ConflictError(f"the username {username!r} is taken", hint="Choose another username.")
        async with in_transaction():
            user = await User.create(
                username=username,
                password_hash=await asyncio.to_thread(hash_password, password),
                role=role,
                display_name=display_name,
                email=email,
                locale=locale,
                all_enterprises=all_enterprises,
            )
            for enterprise_id, site_id in scopes:
                await UserScope.create(user_id=user.id, enterprise_id=enterprise_id, site_id=site_id)
            after = await self.describe_user(user)
            await audit.record(
                actor,
                "users.create",
                entity_type="user",
                entity_id=user.id,
                enterprise_id=scopes[0][0] if scopes else None,
                after=after,
            )
        return user

    async def update_user(self, actor: Principal, user_id: int, changes: dict[str, Any]) -> User:
        """Change a user's profile, role, scopes, activity or password (validated, audited)."""
        user = await self.get_user(actor, user_id)
        before = await self.describe_user(user)
        if "scopes" in changes or "all_enterprises" in changes:
            scopes = changes.get("scopes")
            scope_pairs = (
                [(s["enterprise_id"], s.get("site_id")) for s in scopes]
                if scopes is not None
                else [(s["enterprise_id"], s["site_id"]) for s in before["scopes"]]
            )
            await self._check_scopes(actor, bool(changes.get("all_enterprises", user.all_enterprises)), scope_pairs)
        else:
            scope_pairs = None
        if actor.user_id == user.id and (
            changes.get("active") is False or ("role" in changes and changes["role"] != user.role)
        ):
            raise ConflictError(
                "you cannot deactivate yourself or change your own role", hint="Ask another administrator."
            )
        if "password" in changes:
            self._check_password(changes["password"], user.username)
        async with in_transaction():
            for name in ("display_name", "email", "role", "locale", "active", "all_enterprises"):
                if name in changes:
                    setattr(user, name, changes[name])
            if "password" in changes:
                user.password_hash = await asyncio.to_thread(hash_password, changes["password"])
            if "password" in changes or changes.get("active") is False:
                await _end_sessions(user.id)
            await user.save()
            if scope_pairs is not None:
                await UserScope.filter(user_id=user.id).delete()
                for enterprise_id, site_id in scope_pairs:
                    await UserScope.create(user_id=user.id, enterprise_id=enterprise_id, site_id=site_id)
            after = await self.describe_user(user)
            if "password" in changes:
                after["password_changed"] = True
            await audit.record(
                actor,
                "users.update",
                entity_type="user",
                entity_id=user.id,
                enterprise_id=await self._home_enterprise(user),
                before=before,
                after=after,
            )
        return user

    async def _locked_until(self, user: User) -> dt.datetime | None:
        """When the last lock of this user's name (from any address) ends, if one is in force."""
        ends: list[dt.datetime] = await LoginFailure.filter(
            username=user.username, locked_until__gt=utcnow()
        ).values_list("locked_until", flat=True)  # type: ignore[assignment]
        return max(ends) if ends else None

    async def unlock_user(self, actor: Principal, user_id: int) -> User:
        """Lift every lock of a user's name, from whatever address (audited)."""
        user = await self.get_user(actor, user_id)
        async with in_transaction():
            locked = await LoginFailure.filter(username=user.username, locked_until__gt=utcnow()).values_list(
                "ip", flat=True
            )
            before = {"locked_until": await self._locked_until(user), "locked_addresses": sorted(locked)}
            await LoginFailure.filter(username=user.username).delete()
            user.locked_until = None
            user.failed_logins = 0
            await user.save(update_fields=["locked_until", "failed_logins", "updated_at"])
            await audit.record(
                actor,
                "users.unlock",
                entity_type="user",
                entity_id=user.id,
                enterprise_id=await self._home_enterprise(user),
                before=before,
                after={"locked_until": None, "locked_addresses": []},
            )
        return user

    async def reset_totp(self, actor: Principal, user_id: int) -> User:
        """Remove a user's authenticator so they enrol a new one at next login (audited)."""
        user = await self.get_user(actor, user_id)
        async with in_transaction():
            user.totp_secret_encrypted = None
            user.totp_confirmed_at = None
            await user.save(update_fields=["totp_secret_encrypted", "totp_confirmed_at", "updated_at"])
            await _end_sessions(user.id)
            await audit.record(
                actor,
                "users.reset_totp",
                entity_type="user",
                entity_id=user.id,
                enterprise_id=await self._home_enterprise(user),
                before={"totp_enrolled": True},
                after={"totp_enrolled": False},
            )
        return user

    # ---- API tokens -----------------------------------------------------------------------------------

    async def create_api_token(
        self,
        actor: Principal,
        *,
        name: str,
        permissions: list[str],
        enterprise_ids: list[int],
        expires_at: dt.datetime | None,
    ) -> tuple[ApiToken, str]:
        """Issue a token; the secret is returned once and stored only as a hash."""
        if actor.user_id is None:
            raise PermissionDeniedError("only a user can issue API tokens")
        unknown = sorted(set(permissions) - {p.value for p in API_TOKEN_PERMISSIONS})
        if unknown or not permissions:
            allowed = ", ".join(sorted(p.value for p in API_TOKEN_PERMISSIONS))
            raise InvalidInputError(
                f"permissions not available to API tokens: {unknown or 'none given'}", hint=f"Choose from: {allowed}."
            )
        if not enterprise_ids:
            raise InvalidInputError("an API token needs at least one enterprise in 'enterprise_ids'")
        for enterprise_id in enterprise_ids:
            if not actor.scope.covers_enterprise(enterprise_id) or not await Enterprise.exists(id=enterprise_id):
                raise NotFoundError(f"no enterprise {enterprise_id} within your scope")
        if expires_at is not None and expires_at <= utcnow():
            raise InvalidInputError("expires_at is in the past", hint="Give a future time, or none for no expiry.")
        secret = new_token("pat")
        async with in_transaction():
            token = await ApiToken.create(
                name=name,
                prefix=secret[:12],
                token_hash=hash_token(secret),
                created_by_id=actor.user_id,
                permissions=sorted(set(permissions)),
                enterprise_ids=sorted(set(enterprise_ids)),
                expires_at=expires_at,
            )
            await audit.record(
                actor,
                "tokens.create",
                entity_type="api_token",
                entity_id=token.id,
                enterprise_id=enterprise_ids[0],
                after={
                    "name": name,
                    "prefix": token.prefix,
                    "permissions": token.permissions,
                    "enterprise_ids": token.enterprise_ids,
                    "expires_at": expires_at,
                },
            )
        return token, secret

    def _visible_tokens(self, viewer: Principal) -> QuerySet[ApiToken]:
        query = ApiToken.all()
        if viewer.scope.everything:
            return query
        return query.filter(created_by_id=viewer.user_id) if viewer.user_id else query.filter(id=-1)

    async def list_api_tokens(self, viewer: Principal) -> list[ApiToken]:
        """Tokens the viewer may see: all at group level, otherwise those they issued."""
        return list(await self._visible_tokens(viewer).order_by("-id"))

    async def revoke_api_token(self, actor: Principal, token_id: int) -> ApiToken:
        """Revoke a token at once (audited)."""
        token = await self._visible_tokens(actor).get_or_none(id=token_id)
        if token is None:
            raise NotFoundError(f"no API token {token_id} within your scope")
        if token.revoked_at is not None:
            return token
        async with in_transaction():
            token.revoked_at = utcnow()
            await token.save(update_fields=["revoked_at"])
            await audit.record(
                actor,
                "tokens.revoke",
                entity_type="api_token",
                entity_id=token.id,
                enterprise_id=(token.enterprise_ids or [None])[0],
                before={"revoked_at": None},
                after={"revoked_at": token.revoked_at},
            )
        return token
