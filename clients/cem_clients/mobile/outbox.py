"""The outbox: every change the crew makes is stored on the phone first, then sent, so nothing typed is lost.

An action (acknowledge or clear an alarm, a manual reading) is appended to ``outbox.json`` in the app's data
directory — written atomically (a temporary file in the same directory, flushed to disk, then ``os.replace``) —
before it is sent. :meth:`Outbox.flush` sends what is due, oldest first:

* **accepted** (2xx): removed;
* **no answer** (:class:`~cem_clients.api.Offline`): kept, with its attempt count and the error; tried again
  after a backoff (``backoff`` seconds doubling up to ``max_backoff``); the flush stops there (no network);
* **worth another try** (408, 429, 5xx): kept with a backoff, the flush goes on with other things;
* **session over** (401: the client could not refresh it): kept; the flush stops until the user logs in;
* **refused for good** (any other 4xx): moved to ``failed`` with the platform's message (and, for readings,
  the message per form field) so the user can fix and resend (:meth:`Outbox.resend`) or drop it.

Actions on the same thing (one alarm; one input of one source) go in the order they were made: a later one
waits while an earlier one is still queued. Each action remembers the user who made it and is only sent in
that user's session. A clear that meets 409 because an earlier try of the same clear got through (its answer
was lost) counts as accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from cem_clients.api import (
    ActivityRecord,
    Alarm,
    ApiClient,
    ApiError,
    AuthError,
    ClientError,
    Conflict,
    Offline,
    RateLimited,
)
from cem_clients.mobile.validation import reading_field_errors

__all__ = [
    "ACKNOWLEDGE",
    "CLEAR",
    "FILE_NAME",
    "READING",
    "FlushReport",
    "Outbox",
    "OutboxItem",
]

FILE_NAME: Final = "outbox.json"
FORMAT_VERSION: Final = 1

ACKNOWLEDGE: Final = "acknowledge"
CLEAR: Final = "clear"
READING: Final = "reading"

RETRY_STATUSES: Final = frozenset({408, 429})  # 4xx that are not the action's fault (401: see flush)


class OutboxItem(msgspec.Struct, kw_only=True):
    """One queued (or refused) action: what to send (``payload``), for whom, and how sending went so far.

    ``meta`` holds what the app shows about it (the alarm's message, the source's code ...), never sent.
    """

    id: str
    kind: str  # acknowledge, clear, reading
    key: str  # what it acts on ("alarm:12", "reading:7:FC"): actions on one key go in order
    user: str  # who made it; sent only in that user's session
    payload: dict[str, Any]
    meta: dict[str, Any] = {}
    summary: str = ""
    created_at: dt.datetime
    attempts: int = 0
    last_attempt_at: dt.datetime | None = None
    next_attempt_at: dt.datetime | None = None
    last_error: str = ""  # the technical text (the platform's or the network's), shown one tap away
    waiting_for: str = ""  # why a kept item waits: network, login or platform (the screen says it in words)
    # when refused for good
    failed_at: dt.datetime | None = None
    status: int | None = None
    code: str = ""
    field_errors: dict[str, str] = {}


class _File(msgspec.Struct, kw_only=True):
    version: int = FORMAT_VERSION
    pending: list[OutboxItem] = []
    failed: list[OutboxItem] = []


@dataclass
class FlushReport:
    """What one :meth:`Outbox.flush` did."""

    sent: list[tuple[OutboxItem, Any]] = field(default_factory=list)  # (item, the platform's answer)
    failed: list[OutboxItem] = field(default_factory=list)  # refused for good: moved to ``failed``
    retrying: list[OutboxItem] = field(default_factory=list)  # answered 408/429/5xx: kept, with a backoff
    offline: str = ""  # why the platform could not be reached (the flush stopped there)
    session_lost: str = ""  # the session is over: log in again (the flush stopped there)
    waiting: int = 0  # not due yet (backoff), or behind an earlier action on the same thing
    other_users: int = 0  # queued by someone else on this phone: sent in their session
    answered: bool = False  # the platform answered at least once

    @property
    def sent_ids(self) -> set[str]:
        """Ids of the actions accepted."""
        return {item.id for item, _ in self.sent}


Sender = Callable[[ApiClient, OutboxItem], Awaitable[Any]]


async def _acknowledge(api: ApiClient, item: OutboxItem) -> Alarm:
    return await api.acknowledge(int(item.payload["alarm_id"]), str(item.payload.get("note", "")))


async def _clear(api: ApiClient, item: OutboxItem) -> Alarm:
    alarm_id, note = int(item.payload["alarm_id"]), str(item.payload["note"])
    try:
        return await api.clear(alarm_id, note)
    except Conflict:
        if item.attempts:  # an earlier try may have got through with its answer lost: was it ours?
            alarm = await api.alarm(alarm_id)
            if alarm.state == "cleared" and alarm.cleared_by == item.user and alarm.clear_note == note:
                return alarm
        raise


async def _reading(api: ApiClient, item: OutboxItem) -> ActivityRecord:
    p = item.payload
    return await api.enter_activity(
        int(p["source_id"]),
        str(p["input"]),
        str(p["value"]),
        str(p["unit"]),
        month=p.get("month"),
        first_day=dt.date.fromisoformat(p["first_day"]) if p.get("first_day") else None,
        last_day=dt.date.fromisoformat(p["last_day"]) if p.get("last_day") else None,
        estimated=bool(p.get("estimated", False)),
        note=str(p.get("note", "")),
    )


SENDERS: Final[Mapping[str, Sender]] = {ACKNOWLEDGE: _acknowledge, CLEAR: _clear, READING: _reading}


class Outbox:
    """The durable queue of one app installation (``directory`` is created when missing).

    ``pending`` and ``failed`` are the items, oldest first. A file that cannot be read is moved aside
    (``outbox.json.unreadable-<time>``) rather than overwritten, and ``load_error`` says so. One app instance
    per directory: the file is read once, then only written.
    """

    def __init__(self, directory: Path | str, *, backoff: float = 5.0, max_backoff: float = 300.0) -> None:
        if backoff <= 0 or max_backoff < backoff:
            raise ValueError("backoff must be positive and max_backoff at least backoff")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / FILE_NAME
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.pending: list[OutboxItem] = []
        self.failed: list[OutboxItem] = []
        self.load_error = ""
        self._lock = asyncio.Lock()
        self.reload()

    # ---- the file ----------------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the queue from disk (what a restarted app does)."""
        self.load_error = ""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self.pending, self.failed = [], []
            return
        try:
            stored = msgspec.json.decode(raw, type=_File)
            if stored.version != FORMAT_VERSION:
                raise ValueError(f"format version {stored.version}, this app reads {FORMAT_VERSION}")
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as err:
            aside = self.path.with_name(f"{FILE_NAME}.unreadable-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}")
            os.replace(self.path, aside)
            self.pending, self.failed = [], []
            self.load_error = f"the stored outbox could not be read ({err}); it was kept as {aside.name}"
            return
        self.pending, self.failed = stored.pending, stored.failed

    def save(self) -> None:
        """Write the queue atomically: a complete new file replaces the old one, or nothing changes."""
        data = msgspec.json.format(msgspec.json.encode(_File(pending=self.pending, failed=self.failed)), indent=1)
        fd, temporary = tempfile.mkstemp(prefix=f".{FILE_NAME}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable (POSIX; not possible everywhere)
            directory = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    # ---- items -------------------------------------------------------------------------------------------------

    def add(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        key: str,
        user: str,
        now: dt.datetime,
        summary: str = "",
        meta: Mapping[str, Any] | None = None,
    ) -> OutboxItem:
        """Queue an action (on disk before this returns)."""
        if kind not in SENDERS:
            raise ValueError(f"unknown action {kind!r}")
        item = OutboxItem(
            id=uuid.uuid4().hex,
            kind=kind,
            key=key,
            user=user,
            payload=dict(payload),
            meta=dict(meta or {}),
            summary=summary,
            created_at=now,
        )
        self.pending.append(item)
        self.save()
        return item

    def get(self, item_id: str) -> OutboxItem | None:
        """A pending or failed item."""
        return next((i for i in (*self.pending, *self.failed) if i.id == item_id), None)

    def is_pending(self, item_id: str) -> bool:
        """Whether the item still waits to be sent."""
        return any(i.id == item_id for i in self.pending)

    def pending_for(self, key: str) -> list[OutboxItem]:
        """Queued actions on one thing, oldest first."""
        return [i for i in self.pending if i.key == key]

    def discard(self, item_id: str) -> bool:
        """Drop a failed action, or cancel a queued one; whether it was there."""
        before = len(self.pending) + len(self.failed)
        self.pending = [i for i in self.pending if i.id != item_id]
        self.failed = [i for i in self.failed if i.id != item_id]
        if len(self.pending) + len(self.failed) == before:
            return False
        self.save()
        return True

    def resend(
        self,
        item_id: str,
        now: dt.datetime,
        changes: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> OutboxItem | None:
        """Queue a failed action again, its payload updated with ``changes`` (the user's fix); None if unknown."""
        item = next((i for i in self.failed if i.id == item_id), None)
        if item is None:
            return None
        self.failed.remove(item)
        item.payload = {**item.payload, **(changes or {})}
        item.meta = {**item.meta, **(meta or {})}
        item.failed_at, item.status, item.code, item.field_errors = None, None, "", {}
        item.last_error, item.next_attempt_at, item.attempts, item.created_at = "", None, 0, now
        self.pending.append(item)
        self.save()
        return item

    def next_attempt_at(self, user: str | None = None) -> dt.datetime | None:
        """When the earliest backed-off action (of ``user``) is due; None when nothing waits for a backoff."""
        due = [i.next_attempt_at for i in self.pending if i.next_attempt_at and user in (None, i.user)]
        return min(due) if due else None

    def __len__(self) -> int:
        return len(self.pending)

    # ---- sending -----------------------------------------------------------------------------------------------

    def _delay(self, attempts: int) -> dt.timedelta:
        return dt.timedelta(seconds=min(self.backoff * 2 ** max(attempts - 1, 0), self.max_backoff))

    async def flush(
        self,
        api: ApiClient,
        user: str,
        now: dt.datetime,
        *,
        force: bool = False,
        only: Iterable[str] | None = None,
    ) -> FlushReport:
        """Send ``user``'s due actions, oldest first (``force``: ignore backoffs; ``only``: these ids)."""
        wanted = set(only) if only is not None else None
        report = FlushReport()
        async with self._lock:  # one flush at a time: an action is never sent twice at once
            blocked: set[str] = set()  # keys with an earlier action still queued
            for item in list(self.pending):
                if item.user != user:
                    report.other_users += 1
                    continue
                due = force or item.next_attempt_at is None or item.next_attempt_at <= now
                if item.key in blocked or (wanted is not None and item.id not in wanted) or not due:
                    blocked.add(item.key)
                    report.waiting += 1
                    continue
                if not await self._send(api, item, now, report):
                    break
                if self.is_pending(item.id):
                    blocked.add(item.key)
        return report

    async def _send(self, api: ApiClient, item: OutboxItem, now: dt.datetime, report: FlushReport) -> bool:
        """Send one item and file the outcome; False when the flush must stop (offline, session over)."""
        try:
            result = await SENDERS[item.kind](api, item)
        except Offline as err:
            self._keep(item, now, str(err), self._delay(item.attempts + 1), "network")
            report.offline = str(err)
            return False
        except AuthError as err:
            report.answered = True
            if err.status != 401:  # 423 and the like: not about the session
                self._fail(item, now, err, report)
                return True
            item.last_error = f"waiting for a new login: {err}"
            item.waiting_for = "login"
            self.save()
            report.session_lost = str(err)
            return False
        except ApiError as err:
            if err.status < 400:  # the platform accepted it; only its answer was not understood
                self._done(item, None, report)
            elif err.status in RETRY_STATUSES or err.status >= 500:
                delay = self._delay(item.attempts + 1)
                if isinstance(err, RateLimited) and err.retry_after:
                    delay = max(delay, dt.timedelta(seconds=err.retry_after))
                self._keep(item, now, str(err), delay, "platform")
                report.answered = report.answered or err.status < 500
                report.retrying.append(item)
            else:
                report.answered = True
                self._fail(item, now, err, report)
        except (ClientError, ValueError, TypeError, KeyError) as err:  # a stored action the client cannot send
            self._fail(item, now, ApiError(0, "not_sendable", f"this action cannot be sent: {err}"), report)
        else:
            self._done(item, result, report)
        return True

    def _keep(self, item: OutboxItem, now: dt.datetime, error: str, delay: dt.timedelta, why: str) -> None:
        item.attempts += 1
        item.last_attempt_at = now
        item.last_error = error
        item.waiting_for = why
        item.next_attempt_at = now + delay
        self.save()

    def _done(self, item: OutboxItem, result: Any, report: FlushReport) -> None:
        self.pending = [i for i in self.pending if i.id != item.id]
        self.save()
        report.answered = True
        report.sent.append((item, result))

    def _fail(self, item: OutboxItem, now: dt.datetime, err: ApiError, report: FlushReport) -> None:
        item.attempts += 1
        item.last_attempt_at = item.failed_at = now
        item.next_attempt_at = None
        item.last_error = str(err)
        item.status, item.code = err.status, err.code
        item.field_errors = reading_field_errors(err) if item.kind == READING else {}
        self.pending = [i for i in self.pending if i.id != item.id]
        self.failed.append(item)
        self.save()
        report.failed.append(item)
