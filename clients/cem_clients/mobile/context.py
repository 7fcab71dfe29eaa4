"""What the mobile app's screens share: the API client, the session's caller, the connection state, the outbox.

:meth:`AppContext.call` wraps every request of the view models: it keeps :class:`Connection` current (online
when the platform answers, offline when it cannot be reached, with the time of the last answer) and notices
when the session is over. :meth:`AppContext.submit` is how a change is made: queued on disk, then sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from cem_clients.api import ApiClient, AuthError, ClientError, Me, Offline, ServerError
from cem_clients.mobile.outbox import FlushReport, Outbox, OutboxItem

__all__ = ["AppContext", "Connection", "LinkState", "Outcome", "OutcomeStatus"]

T = TypeVar("T")


def utc_now() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


class LinkState(StrEnum):
    """Whether the platform can be reached."""

    UNKNOWN = "unknown"  # nothing tried yet
    ONLINE = "online"  # the last request was answered
    OFFLINE = "offline"  # the last request got no answer (or a proxy's 502/503/504)


@dataclass
class Connection:
    """The link to the platform as the last requests found it."""

    state: LinkState = LinkState.UNKNOWN
    last_contact_at: dt.datetime | None = None  # when the platform last answered (any answer but 5xx)
    offline_since: dt.datetime | None = None
    last_error: str = ""

    @property
    def online(self) -> bool:
        """Whether the last request was answered."""
        return self.state is LinkState.ONLINE

    def answered(self, now: dt.datetime) -> None:
        """The platform answered."""
        self.state, self.last_contact_at, self.offline_since, self.last_error = LinkState.ONLINE, now, None, ""

    def unreachable(self, now: dt.datetime, error: str) -> None:
        """No answer (or only a failing proxy's)."""
        if self.state is not LinkState.OFFLINE:
            self.offline_since = now
        self.state, self.last_error = LinkState.OFFLINE, error


class OutcomeStatus(StrEnum):
    """What became of a change the user made."""

    SENT = "sent"  # the platform accepted it
    QUEUED = "queued"  # stored on the phone; sent when the platform can be reached
    FAILED = "failed"  # the platform refused it: in the outbox's failed list, to fix and resend or drop
    INVALID = "invalid"  # refused on the phone before anything was stored or sent: see field_errors


@dataclass(frozen=True)
class Outcome:
    """The result of a change: its status, a message to show, errors per form field, the platform's answer."""

    status: OutcomeStatus
    message: str = ""
    field_errors: Mapping[str, str] = field(default_factory=dict)
    item_id: str | None = None  # the outbox item (queued or failed)
    result: Any = None  # the platform's answer when sent: an Alarm, an ActivityRecord

    @property
    def ok(self) -> bool:
        """Sent or safely queued."""
        return self.status in (OutcomeStatus.SENT, OutcomeStatus.QUEUED)


class AppContext:
    """The state the view models share (see the module's description)."""

    def __init__(self, api: ApiClient, outbox: Outbox, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.api = api
        self.outbox = outbox
        self.clock = clock or utc_now
        self.connection = Connection()
        self.me: Me | None = None
        self.session_note = ""  # why the session ended, when it ended by itself
        self.on_sent: list[Callable[[OutboxItem, Any], None]] = []  # told of every action the platform accepted

    def now(self) -> dt.datetime:
        """The app's clock."""
        return self.clock()

    @property
    def user(self) -> str | None:
        """The logged-in user's name."""
        return self.me.name if self.me is not None else None

    def can(self, permission: str) -> bool:
        """Whether the logged-in user holds ``permission``."""
        return self.me is not None and self.me.can(permission)

    def session_over(self, reason: str) -> None:
        """The platform no longer accepts the session (the client could not refresh it)."""
        if self.me is not None:
            self.me = None
            self.session_note = f"Your session has ended; log in again. ({reason})"

    async def call(self, request: Awaitable[T], *, session: bool = True) -> T:
        """Await a request of the API client, keeping the connection state; errors are raised on."""
        try:
            result = await request
        except Offline as err:
            self.connection.unreachable(self.now(), str(err))
            raise
        except ServerError as err:
            self.connection.unreachable(self.now(), str(err))
            raise
        except AuthError as err:
            self.connection.answered(self.now())
            if session and err.status == 401:
                self.session_over(str(err))
            raise
        except ClientError:
            self.connection.answered(self.now())
            raise
        self.connection.answered(self.now())
        return result

    async def flush(self, *, force: bool = False, only: list[str] | None = None) -> FlushReport:
        """Send the logged-in user's due actions (see :meth:`Outbox.flush`)."""
        if self.me is None:
            return FlushReport()
        report = await self.outbox.flush(self.api, self.me.name, self.now(), force=force, only=only)
        now = self.now()
        if report.answered:
            self.connection.answered(now)
        if report.offline:
            self.connection.unreachable(now, report.offline)
        elif report.retrying and not report.answered:
            self.connection.unreachable(now, report.retrying[-1].last_error)
        if report.session_lost:
            self.session_over(report.session_lost)
        for item, result in report.sent:
            for listener in self.on_sent:
                listener(item, result)
        return report

    async def submit(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        key: str,
        summary: str,
        meta: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """Store an action in the outbox, then send what is queued (this action after earlier ones on the
        same thing); what became of it."""
        if self.me is None:
            return Outcome(OutcomeStatus.INVALID, "Log in first.")
        item = self.outbox.add(kind, payload, key=key, user=self.me.name, now=self.now(), summary=summary, meta=meta)
        report = await self.flush(force=True)
        return self.outcome_of(item.id, report)

    def outcome_of(self, item_id: str, report: FlushReport) -> Outcome:
        """What became of one action in a flush."""
        for item, result in report.sent:
            if item.id == item_id:
                return Outcome(OutcomeStatus.SENT, f"Sent: {item.summary}", item_id=item_id, result=result)
        stored = self.outbox.get(item_id)
        if stored is not None and not self.outbox.is_pending(item_id):
            return Outcome(OutcomeStatus.FAILED, stored.last_error, dict(stored.field_errors), item_id)
        if report.offline or report.session_lost:
            why = report.offline or f"waiting for a new login: {report.session_lost}"
        elif stored is not None and stored.last_error:
            why = stored.last_error
        else:
            why = "an earlier action on the same thing is still queued"
        return Outcome(OutcomeStatus.QUEUED, f"Saved on the phone; it will be sent when possible ({why}).", {}, item_id)
