"""The one place where exceptions become HTTP answers: ``{"error": {code, message, hint, details}, "request_id"}``."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap
from tortoise.exceptions import DoesNotExist, IntegrityError, OperationalError
from tortoise.exceptions import ValidationError as FieldValueError

from cem_platform.errors import CemError

__all__ = ["ERROR_RESPONSES", "EXCEPTION_HANDLERS", "ErrorBody", "document_error_responses", "error_body"]

log = logging.getLogger("cem.http")

_HTTP_CODES = {
    400: ("invalid_input", "Correct the request and send it again."),
    401: ("not_authenticated", "Log in at POST /api/v1/auth/login and send 'Authorization: Bearer <access_token>'."),
    403: ("permission_denied", "Ask an administrator for a role or scope that allows it."),
    404: ("not_found", "Check the address; the API is described at /schema/openapi.json."),
    405: ("method_not_allowed", "Use one of the methods the API lists for this path (/schema/openapi.json)."),
    413: ("too_large", "Send a smaller request."),
    429: ("rate_limited", "Slow down and retry after the time given in the Retry-After header."),
}


class ErrorDetail(msgspec.Struct):
    """What went wrong: a stable machine code, a sentence, what to do, and per-field details when there are any."""

    code: str
    message: str
    hint: str
    details: Any


class ErrorBody(msgspec.Struct):
    """The body of every error answer of the API."""

    error: ErrorDetail
    request_id: str


ERROR_RESPONSES: dict[int, ResponseSpec] = {
    status: ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)
    for status, description in {
        400: "Bad request: the input is not valid (error.details names the fields when it can)",
        401: "Not authenticated: no token, or an expired or revoked one",
        403: "Permission denied: the role or scope does not allow it, or the address is refused",
        404: "Not found within the caller's scope",
        409: "Conflict with stored data",
        413: "Request too large",
        423: "Locked: too many failed attempts; wait, or ask an administrator to unlock",
        429: "Rate limited: retry after the Retry-After header",
        500: "The platform failed; give the request id to the administrator",
    }.items()
}


def document_error_responses(app: Litestar) -> None:
    """Describe the error body on every HTTP route of ``app`` in its OpenAPI document, as the handlers answer it.

    Litestar documents a validation error with its own body by default; ours replaces it, and the other statuses
    come from the exception handlers below and the ASGI middleware, which the handlers cannot declare themselves.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if isinstance(handler, HTTPRouteHandler):
                handler.responses = {**ERROR_RESPONSES, **(handler.responses or {})}


def _request_id(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def error_body(code: str, message: str, hint: str, details: Any, request_id: str) -> dict[str, Any]:
    """The JSON of every error answer."""
    return {"error": {"code": code, "message": message, "hint": hint, "details": details}, "request_id": request_id}


def _cem_error(request: Request[Any, Any, Any], exc: CemError) -> Response[Any]:
    headers = {"Retry-After": "60"} if exc.status_code == 429 else None
    if exc.status_code >= 500:
        log.error("platform error", extra={"request_id": _request_id(request), "error": exc.message})
    return Response(
        error_body(exc.code, exc.message, exc.hint, exc.details, _request_id(request)),
        status_code=exc.status_code,
        headers=headers,
    )


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    details = exc.extra if isinstance(exc.extra, list) else None
    fields = []
    for item in details or []:
        if isinstance(item, dict):
            key = item.get("key") or ""
            fields.append(f"{key}: {item.get('message', '')}".strip(": "))
    message = "the request is not valid" + (": " + "; ".join(fields) if fields else f": {exc.detail}")
    return Response(
        error_body(
            "invalid_input",
            message,
            "Correct the named fields and send the request again.",
            details,
            _request_id(request),
        ),
        status_code=400,
    )


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    code, hint = _HTTP_CODES.get(exc.status_code, ("http_error", "See the API description at /schema/openapi.json."))
    return Response(
        error_body(code, str(exc.detail), hint, None, _request_id(request)),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def _invalid(request: Request[Any, Any, Any], message: str, hint: str) -> Response[Any]:
    """A 400 for a value the caller sent that cannot be taken, found after the request was decoded."""
    return Response(
        error_body("invalid_input", f"the request is not valid: {message}", hint, None, _request_id(request)),
        status_code=400,
    )


def _integrity_error(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[Any]:
    log.info("integrity error", extra={"request_id": _request_id(request), "error": str(exc)[:300]})
    return Response(
        error_body(
            "conflict",
            "the change clashes with stored data (a duplicate code, or the object is still in use)",
            "Choose another code, or remove what refers to the object first.",
            None,
            _request_id(request),
        ),
        status_code=409,
    )


def _does_not_exist(request: Request[Any, Any, Any], exc: DoesNotExist) -> Response[Any]:
    return Response(
        error_body(
            "not_found",
            "no such object within your scope",
            "Check the id; list the collection to see what exists.",
            None,
            _request_id(request),
        ),
        status_code=404,
    )


# PostgreSQL's data exceptions (SQLSTATE class 22) and asyncpg's refusals to encode an argument are the database
# saying that a value the caller sent cannot be stored or compared: an id beyond the column's integer range, a
# number with too many digits, a text longer than its column or with a NUL character. Each is the caller's mistake,
# so it is answered like any other bad input, wherever in a route the value reaches the database.
_DATA_ERRORS = {
    "22001": "a text is longer than the field allows",
    "22003": "a number or id is outside the range the field can hold",
    "22008": "a date or time is outside the range the field can hold",
    "22021": "a text contains a character that cannot be stored (such as NUL, \\u0000)",
    "22P05": "a text contains a character that cannot be stored (such as NUL, \\u0000)",
}


def _bad_value(exc: BaseException) -> str | None:
    """What is wrong with the caller's value when the database refused it as data, else None."""
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    # asyncpg refuses an argument it cannot encode (an integer beyond int32 or int64, a time before year 1 in UTC)
    # before sending it, as a DataError with SQLSTATE 22000 or a ValueError.
    if sqlstate == "22000" or (sqlstate is None and isinstance(cause, ValueError)):
        text = str(cause)
        if "out of int" in text:
            return _DATA_ERRORS["22003"]
        if "date" in text or "time" in text:
            return _DATA_ERRORS["22008"]
    if isinstance(sqlstate, str) and sqlstate.startswith("22"):
        return _DATA_ERRORS.get(sqlstate, "a value cannot be stored in its field")
    return None


def _operational_error(request: Request[Any, Any, Any], exc: OperationalError) -> Response[Any]:
    problem = _bad_value(exc)
    if problem is None:
        return _unexpected(request, exc)
    log.info("value refused by the database", extra={"request_id": _request_id(request), "error": str(exc)[:300]})
    return _invalid(
        request,
        problem,
        "Check ids, numbers (size and digits), texts (length, no NUL character) and send the request again.",
    )


def _field_value(request: Request[Any, Any, Any], exc: FieldValueError) -> Response[Any]:
    # Tortoise checks a value against its field (a text longer than the column) before the query is sent, in a
    # filter as in a save; a route that passes the caller's text on unchecked gets this for the caller's mistake.
    log.info("value refused by a field", extra={"request_id": _request_id(request), "error": str(exc)[:300]})
    return _invalid(
        request,
        "a value does not fit its field (a text too long, or a number out of range)",
        "Check the length of texts and codes and the range of numbers, and send the request again.",
    )


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    # msgspec stops decoding a body nested deeper than the interpreter's recursion limit with this error; any
    # other RecursionError is the platform's own fault and stays a 500.
    if "deserializing" not in str(exc):
        return _unexpected(request, exc)
    return _invalid(
        request,
        "the body is nested too deeply",
        "Send JSON nested a few levels deep, as /schema/openapi.json describes the body.",
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unexpected error", extra={"request_id": _request_id(request)})
    return Response(
        error_body(
            "internal_error",
            "the platform failed to handle the request",
            "Try again later; if it persists, give the request id to your administrator.",
            None,
            _request_id(request),
        ),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    CemError: _cem_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    IntegrityError: _integrity_error,
    DoesNotExist: _does_not_exist,
    OperationalError: _operational_error,
    FieldValueError: _field_value,
    RecursionError: _too_deep,
    Exception: _unexpected,
}
