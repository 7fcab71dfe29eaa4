"""What can go wrong talking to the platform, as exceptions whose text the apps show to users.

Hierarchy::

    ClientError                 base: ``str(err)`` is the message and what to do about it
    ├── ApiError                the platform answered with an error (``{"error": {code, message, hint, ...}}``)
    │   ├── AuthError           401 (and 423): not logged in, wrong password or code, session ended
    │   │   ├── TotpRequired    401 totp_required: the password was right, the authenticator code is missing
    │   │   └── AccountLocked   423 too many failed logins
    │   ├── ForbiddenError      403 the role or scope does not allow it
    │   │   └── StepUpRequired  403 step_up_required: a control operation needs a fresh TOTP code
    │   ├── NotFound            404 (also: outside the caller's scope)
    │   ├── Conflict            409 clashes with the stored state
    │   ├── InvalidInput        400, 413, 422
    │   ├── RateLimited         429
    │   └── ServerError         5xx
    └── Offline                 no answer: nothing listens, the network is down, or it timed out (after retries)
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

__all__ = [
    "AccountLocked",
    "ApiError",
    "AuthError",
    "ClientError",
    "Conflict",
    "ForbiddenError",
    "InvalidInput",
    "NotFound",
    "Offline",
    "RateLimited",
    "ServerError",
    "StepUpRequired",
    "TotpRequired",
    "error_from_response",
]


class ClientError(Exception):
    """Base of the client's errors: ``message`` says what went wrong, ``hint`` what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if not self.hint:
            return self.message
        message = self.message.rstrip()
        if message and message[-1] not in ".!?。！？":
            message += "."
        return f"{message} {self.hint}"


class ApiError(ClientError):
    """The platform refused or failed a request; ``code`` is the API's error code (``not_found``, ...)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        hint: str = "",
        request_id: str = "",
        details: Any = None,
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.details = details

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class AuthError(ApiError):
    """Not authenticated: wrong credentials, or the session ended (log in again)."""


class TotpRequired(AuthError):
    """The account needs the code of its authenticator app to log in."""


class AccountLocked(AuthError):
    """Too many failed logins: wait, or ask an administrator to unlock the account."""


class ForbiddenError(ApiError):
    """The caller's role or scope does not allow this."""


class StepUpRequired(ForbiddenError):
    """A control operation needs a fresh TOTP confirmation: repeat it with a code."""


class NotFound(ApiError):
    """No such object within the caller's scope."""


class Conflict(ApiError):
    """The request clashes with the stored state."""


class InvalidInput(ApiError):
    """The request's content is wrong."""


class RateLimited(ApiError):
    """Too many requests; ``retry_after`` seconds to wait, when the platform said."""

    retry_after: float | None = None


class ServerError(ApiError):
    """The platform (or a proxy in front of it) failed."""


class Offline(ClientError):
    """The platform could not be reached, or did not answer in time (after the retries allowed)."""

    def __init__(self, message: str, hint: str = "", url: str = "") -> None:
        super().__init__(message, hint)
        self.url = url


class _ErrorDetail(msgspec.Struct):
    code: str = ""
    message: str = ""
    hint: str = ""
    details: Any = None


class _ErrorBody(msgspec.Struct):
    error: _ErrorDetail
    request_id: str = ""


_GENERIC = {
    400: ("invalid_input", "the request is not valid", "Correct the request and send it again."),
    401: ("not_authenticated", "you are not logged in", "Log in again."),
    403: ("permission_denied", "your role does not allow this", "Ask an administrator for a role that allows it."),
    404: ("not_found", "not found", "Check the address."),
    409: ("conflict", "the request clashes with the stored state", "Reload and try again."),
    413: ("too_large", "the request is too large", "Send a smaller request."),
    423: ("account_locked", "the account is locked", "Wait, or ask an administrator to unlock it."),
    429: ("rate_limited", "too many requests", "Wait a moment and try again."),
}


def _class_for(status: int, code: str) -> type[ApiError]:
    if status == 401:
        return TotpRequired if code == "totp_required" else AuthError
    if status == 423:
        return AccountLocked
    if status == 403:
        return StepUpRequired if code == "step_up_required" else ForbiddenError
    if status == 404:
        return NotFound
    if status == 409:
        return Conflict
    if status in (400, 413, 422):
        return InvalidInput
    if status == 429:
        return RateLimited
    if status >= 500:
        return ServerError
    return ApiError


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for an error answer: the platform's error body, or a generic text for a proxy's page."""
    status = response.status_code
    try:
        body = msgspec.json.decode(response.content, type=_ErrorBody)
    except (msgspec.DecodeError, msgspec.ValidationError):
        body = None
    if body is not None and body.error.message:
        code, message, hint, details = body.error.code, body.error.message, body.error.hint, body.error.details
        request_id = body.request_id
    else:
        default_hint = "Try again later; if it persists, tell your administrator." if status >= 500 else ""
        code, message, hint = _GENERIC.get(
            status, ("http_error", f"the platform answered HTTP {status} {response.reason_phrase}", default_hint)
        )
        if status >= 500:
            code, message = "server_error", f"the platform is unavailable (HTTP {status} {response.reason_phrase})"
        details = None
        request_id = ""
    request_id = request_id or response.headers.get("x-request-id", "")
    error = _class_for(status, code)(status, code, message, hint, request_id, details)
    if isinstance(error, RateLimited):
        try:
            error.retry_after = float(response.headers.get("retry-after", ""))
        except ValueError:
            error.retry_after = None
    return error
