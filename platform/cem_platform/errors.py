"""Exceptions of the platform, each carrying what a user needs: what was wrong and what to do.

Hierarchy::

    CemError                        base of every platform error (HTTP 500 unless a subclass says otherwise)
    ├── ConfigurationError          bad settings or environment; raised at start-up
    ├── InvalidInputError      400  the request's content is wrong
    ├── AuthenticationError    401  no or bad credentials
    │   └── TotpRequiredError  401  password right, TOTP code missing
    ├── AccountLockedError     423  too many failed logins
    ├── PermissionDeniedError  403  role or scope does not allow it
    │   └── StepUpRequiredError 403 a control operation needs a fresh TOTP confirmation
    ├── NotFoundError          404  no such object within the caller's scope
    ├── ConflictError          409  clashes with stored state (duplicate, still referenced)
    └── RateLimitedError       429  too many requests

The HTTP mapping lives in :mod:`cem_platform.http_errors`, in one place.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccountLockedError",
    "AuthenticationError",
    "CemError",
    "ConfigurationError",
    "ConflictError",
    "InvalidInputError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "StepUpRequiredError",
    "TotpRequiredError",
]


class CemError(Exception):
    """Base of every platform error."""

    status_code = 500
    code = "internal_error"
    default_hint = "Try again later; if it persists, give the request id to your administrator."

    def __init__(self, message: str, *, hint: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint
        self.details = details


class ConfigurationError(CemError):
    """Settings or environment are wrong; the process cannot start."""

    code = "configuration_error"
    default_hint = "Fix the named CEM_ environment variable and start again."


class InvalidInputError(CemError):
    """The request's content is wrong."""

    status_code = 400
    code = "invalid_input"
    default_hint = "Correct the named fields and send the request again."


class AuthenticationError(CemError):
    """No credentials, or wrong ones."""

    status_code = 401
    code = "not_authenticated"
    default_hint = "Log in at POST /api/v1/auth/login and send 'Authorization: Bearer <access_token>'."


class TotpRequiredError(AuthenticationError):
    """The password was right but this account needs its authenticator code too."""

    code = "totp_required"
    default_hint = "Send the 6-digit code from your authenticator app in the 'totp' field."


class AccountLockedError(CemError):
    """Too many failed logins in a row."""

    status_code = 423
    code = "account_locked"
    default_hint = "Wait until the lock ends, or ask an administrator to unlock the account."


class PermissionDeniedError(CemError):
    """The caller's role or scope does not allow this."""

    status_code = 403
    code = "permission_denied"
    default_hint = "Ask an administrator for a role or scope that allows it."


class StepUpRequiredError(PermissionDeniedError):
    """A control operation needs a fresh TOTP confirmation (standard 5.5.3)."""

    code = "step_up_required"
    default_hint = (
        "Confirm with your authenticator: POST /api/v1/auth/step-up with {'totp': '<code>'}, "
        "or send the code in the 'X-CEM-TOTP' header of this request, then repeat it."
    )


class NotFoundError(CemError):
    """No such object, or not within the caller's scope."""

    status_code = 404
    code = "not_found"
    default_hint = "Check the id; list the collection to see what exists within your scope."


class ConflictError(CemError):
    """The request clashes with what is stored."""

    status_code = 409
    code = "conflict"
    default_hint = "Reload the current state and resolve the clash before trying again."


class RateLimitedError(CemError):
    """Too many requests from one client."""

    status_code = 429
    code = "rate_limited"
    default_hint = "Slow down and retry after the time given in the Retry-After header."
