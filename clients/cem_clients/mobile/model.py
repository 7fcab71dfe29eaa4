"""The maintenance crews' mobile app as view state: plain Python, driven by tests without a UI, rendered by
``mobile.app``. It speaks to the platform only through :mod:`cem_clients.api`.

One :class:`MobileApp` per installation::

    app = MobileApp(ApiClient("https://cem.example.com"), data_dir)
    await app.login("wang", "secret")            # SessionState.NEEDS_TOTP when the account has an authenticator
    await app.submit_totp("123456")               # -> SessionState.LOGGED_IN
    app.tabs                                      # (Tab.ALARMS, Tab.DEVICES, ...) by role and permissions
    await app.flush()                             # send what waits in the outbox (call it now and then)

* **Session** — :meth:`MobileApp.login` (and :meth:`~MobileApp.submit_totp` when the platform asks for the
  authenticator code), :meth:`~MobileApp.logout`, :meth:`~MobileApp.resume` with a kept refresh token.
  "Stay logged in" (:attr:`~MobileApp.keep_logged_in`, opt-in) keeps only the refresh token in a
  :class:`~cem_clients.mobile.session.TokenStore`: :meth:`~MobileApp.resume_kept` at start,
  :meth:`~MobileApp.sync_kept` after requests (the platform rotates the token at each refresh). The role
  decides the tabs (:data:`ROLE_TABS`), the permissions the platform grants narrow them
  (:data:`TAB_PERMISSIONS`): a tab whose every action the platform would refuse is not shown.
* **Alarms** — :attr:`MobileApp.inbox` (:class:`~cem_clients.mobile.alarms.AlarmInbox`), pushed by the platform
  through :attr:`MobileApp.live` (:class:`~cem_clients.mobile.live.LiveLink`), polled while that is down.
* **Devices** — :attr:`MobileApp.devices` (:class:`~cem_clients.mobile.devices.DeviceList`).
* **Manual readings (人工采集)** — :attr:`MobileApp.readings` (:class:`~cem_clients.mobile.readings.ReadingEntry`).
* **Enrolment** — :attr:`MobileApp.enrolment` (:class:`~cem_clients.mobile.enrolment.Enrolment`).
* **Flaky connections** — every change goes through the durable :attr:`MobileApp.outbox`
  (:class:`~cem_clients.mobile.outbox.Outbox`); :attr:`MobileApp.connection` says online or offline and when
  the platform last answered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from cem_clients.api import (
    AccountLocked,
    ActivityRecord,
    Alarm,
    ApiClient,
    AuthError,
    ClientError,
    Me,
    Offline,
    TotpRequired,
)
from cem_clients.mobile.alarms import AlarmInbox
from cem_clients.mobile.context import AppContext, Connection, LinkState, Outcome, OutcomeStatus
from cem_clients.mobile.devices import DeviceList
from cem_clients.mobile.enrolment import Enrolment
from cem_clients.mobile.live import LiveLink
from cem_clients.mobile.outbox import FlushReport, Outbox, OutboxItem
from cem_clients.mobile.readings import ReadingEntry
from cem_clients.mobile.session import KeptSession, TokenStore
from cem_clients.mobile.validation import check_totp

__all__ = [
    "ROLE_TABS",
    "TAB_PERMISSIONS",
    "Connection",
    "LinkState",
    "MobileApp",
    "Outcome",
    "OutcomeStatus",
    "SessionState",
    "Tab",
]

log = logging.getLogger("cem_clients.mobile")


class SessionState(StrEnum):
    """Where the login is."""

    LOGGED_OUT = "logged_out"
    NEEDS_TOTP = "needs_totp"  # the password was right: enter the code from the authenticator app
    LOGGED_IN = "logged_in"


class Tab(StrEnum):
    """The app's tabs."""

    ALARMS = "alarms"
    DEVICES = "devices"
    READINGS = "readings"  # 人工采集
    ENROLMENT = "enrolment"


#: The tabs each role's work calls for, in display order.
ROLE_TABS: Final[Mapping[str, tuple[Tab, ...]]] = {
    "crew": (Tab.ALARMS, Tab.DEVICES, Tab.READINGS),
    "device_admin": (Tab.ALARMS, Tab.DEVICES, Tab.READINGS, Tab.ENROLMENT),
    "admin": (Tab.ALARMS, Tab.DEVICES, Tab.READINGS, Tab.ENROLMENT),
    "accountant": (Tab.ALARMS, Tab.READINGS),
    "executive": (Tab.ALARMS, Tab.DEVICES),
    "auditor": (Tab.ALARMS, Tab.DEVICES),
}

#: The permissions a tab needs from the platform (all of them); without them it is not shown.
TAB_PERMISSIONS: Final[Mapping[Tab, tuple[str, ...]]] = {
    Tab.ALARMS: ("alarms.read",),
    Tab.DEVICES: ("devices.read",),
    Tab.READINGS: ("activity.enter",),  # field entry of manual readings (人工采集), within the user's sites
    Tab.ENROLMENT: ("devices.write",),
}


class MobileApp:
    """The app's state (see the module's description). ``data_dir`` holds the outbox; ``clock`` gives now;
    ``store`` keeps the session for "stay logged in" (None: never kept)."""

    def __init__(
        self,
        api: ApiClient,
        data_dir: Path | str,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        backoff: float = 5.0,
        max_backoff: float = 300.0,
        store: TokenStore | None = None,
    ) -> None:
        self.ctx = AppContext(api, Outbox(data_dir, backoff=backoff, max_backoff=max_backoff), clock)
        self.ctx.on_sent.append(self._sent)
        self.inbox = AlarmInbox(self.ctx)
        self.devices = DeviceList(self.ctx)
        self.readings = ReadingEntry(self.ctx)
        self.enrolment = Enrolment(self.ctx)
        self.message = ""  # what the login screen says (why it failed, what to do)
        self.errors: dict[str, str] = {}  # login form errors per field: username, password, totp
        self.totp_enrolment_required = False  # the role needs an authenticator the account has not set up
        self._credentials: tuple[str, str] | None = None  # kept only while the TOTP code is asked for
        self.store = store
        self.keep_logged_in = False  # "stay logged in": keep the refresh token in ``store``
        self._kept: str | None = None  # the refresh token this app last put in the store
        self._syncs: set[asyncio.Task[None]] = set()
        api.on_tokens = self._tokens_changed
        self.live = LiveLink(self.ctx, lambda: self.inbox, lambda: self.devices)

    # ---- shared state ----------------------------------------------------------------------------------------

    @property
    def api(self) -> ApiClient:
        """The API client (replaceable, e.g. after the platform's address changed)."""
        return self.ctx.api

    @api.setter
    def api(self, api: ApiClient) -> None:
        self.ctx.api = api
        api.on_tokens = self._tokens_changed

    def _tokens_changed(self) -> None:
        """The client's tokens changed (each refresh rotates the refresh token): keep the new one at once, not at
        the next tick, so an app killed right after a refresh still finds a token that works."""
        if self.store is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not from a coroutine: the next sync_kept() keeps it
            return
        task = loop.create_task(self._sync_quietly())
        self._syncs.add(task)
        task.add_done_callback(self._syncs.discard)

    async def _sync_quietly(self) -> None:
        try:
            await self.sync_kept()
        except Exception:  # the client's storage failed: the next sync tries again
            log.warning("mobile app: the session could not be kept", exc_info=True)

    @property
    def outbox(self) -> Outbox:
        """The durable queue of changes."""
        return self.ctx.outbox

    @property
    def connection(self) -> Connection:
        """Online or offline, and when the platform last answered."""
        return self.ctx.connection

    @property
    def me(self) -> Me | None:
        """The logged-in user (role, permissions, scope)."""
        return self.ctx.me

    @property
    def state(self) -> SessionState:
        """Logged out, asked for the authenticator code, or logged in."""
        if self.ctx.me is not None:
            return SessionState.LOGGED_IN
        return SessionState.NEEDS_TOTP if self._credentials is not None else SessionState.LOGGED_OUT

    @property
    def session_note(self) -> str:
        """Why the session ended by itself (the platform stopped accepting it), if it did."""
        return self.ctx.session_note

    @property
    def refresh_token(self) -> str | None:
        """The session's refresh token, for an app that keeps the user logged in (store it securely)."""
        return self.ctx.api.refresh_token

    @property
    def tabs(self) -> tuple[Tab, ...]:
        """The tabs to show: the role's (:data:`ROLE_TABS`) that the user's permissions allow."""
        me = self.ctx.me
        if me is None:
            return ()
        return tuple(tab for tab in ROLE_TABS.get(me.role or "", ()) if all(me.can(p) for p in TAB_PERMISSIONS[tab]))

    # ---- session ---------------------------------------------------------------------------------------------

    async def login(self, username: str, password: str, totp: str | None = None) -> SessionState:
        """Log in; NEEDS_TOTP when the account needs its authenticator code (then :meth:`submit_totp`)."""
        username = username.strip()
        self.errors = {}
        if not username:
            self.errors["username"] = "Enter your username."
        if not password:
            self.errors["password"] = "Enter your password."  # noqa: S105 - a message, not a password
        code = None
        if totp is not None and totp.strip():
            code, problem = check_totp(totp)
            if code is None:
                self.errors["totp"] = problem
        if self.errors:
            self.message = "Correct the marked fields."
            return self.state
        try:
            session = await self.ctx.call(self.ctx.api.login(username, password, code), session=False)
            me = await self.ctx.call(self.ctx.api.me(), session=False)
        except TotpRequired:
            self._credentials = (username, password)
            self.message = "Enter the 6-digit code from your authenticator app."
            return self.state
        except AccountLocked as err:
            self._credentials = None
            self.message = str(err)
            return self.state
        except AuthError as err:
            if self._credentials is not None and code is not None:
                self.errors["totp"] = str(err)  # a wrong or reused code: ask again
            else:
                self._credentials = None
            self.message = str(err)
            return self.state
        except Offline as err:
            self.message = f"Cannot log in without a connection to the platform: {err}"
            return self.state
        except ClientError as err:
            self.message = str(err)
            return self.state
        self._credentials = None
        self.totp_enrolment_required = session.totp_enrolment_required or me.totp_enrolment_required
        self._start(me)
        await self.sync_kept()
        if self.totp_enrolment_required:
            self.message = "Your role needs an authenticator app: set it up in the web console."
        return self.state

    async def submit_totp(self, code: str) -> SessionState:
        """Complete a login that asked for the authenticator code."""
        if self._credentials is None:
            self.message = "Log in with your username and password first."
            return self.state
        checked, problem = check_totp(code)
        if checked is None:
            self.errors = {"totp": problem}
            self.message = problem
            return self.state
        username, password = self._credentials
        return await self.login(username, password, checked)

    def cancel_login(self) -> None:
        """Leave the authenticator step (forgets the password kept for it)."""
        self._credentials = None
        self.message, self.errors = "", {}

    async def resume(self, refresh_token: str) -> SessionState:
        """Continue a session from a kept refresh token (the app's "stay logged in")."""
        try:
            self.ctx.api.use_refresh_token(refresh_token)
            me = await self.ctx.call(self.ctx.api.me(), session=False)
        except (ValueError, ClientError) as err:
            self.message = str(err)
            return self.state
        self._start(me)
        return self.state

    async def resume_kept(self) -> SessionState:
        """Log in with the session the store kept ("stay logged in"), if any. A kept session the platform no
        longer accepts is forgotten (then the password is asked for); without a connection it stays kept."""
        if self.store is None:
            return self.state
        kept = await self.store.load()
        if kept is None:
            return self.state
        if kept.base_url != self.ctx.api.base_url:  # kept for another platform: never send it here
            await self.store.clear()
            return self.state
        self.keep_logged_in = True
        self._kept = kept.refresh_token
        state = await self.resume(kept.refresh_token)
        if state is SessionState.LOGGED_IN:
            await self.sync_kept()
            return state
        if self.connection.state is not LinkState.OFFLINE:  # refused: the kept session is over
            await self._forget_kept()
            self.keep_logged_in = False
            self.message = "Your kept login has ended; log in again."
        else:
            self.ctx.api.use_refresh_token(kept.refresh_token)  # keep it for a retry; nothing else holds it
            self.message = f"Cannot log in without a connection to the platform: {self.connection.last_error}"
        return self.state

    async def sync_kept(self) -> None:
        """Keep the session's current refresh token (the platform rotates it at each refresh), or forget it
        when the session ended; call after requests (the Flet app does at each tick and action)."""
        if self.store is None:
            return
        token = self.ctx.api.refresh_token
        me = self.ctx.me
        if me is None or token is None:
            if self._kept is not None and self.connection.state is not LinkState.OFFLINE:
                await self._forget_kept()  # logged out, or the platform ended the session
            return
        if not self.keep_logged_in:
            if self._kept is not None:
                await self._forget_kept()
            return
        if token != self._kept:
            await self.store.save(KeptSession(base_url=self.ctx.api.base_url, username=me.name, refresh_token=token))
            self._kept = token

    async def _forget_kept(self) -> None:
        """Forget the kept session, unless another session (another tab of the browser) kept a newer one."""
        if self.store is None:
            return
        current = await self.store.load()
        if current is None or self._kept is None or current.refresh_token == self._kept:
            await self.store.clear()
        self._kept = None

    def _start(self, me: Me) -> None:
        self.ctx.me, self.ctx.session_note = me, ""
        self.message, self.errors = "", {}
        self._new_views()

    async def logout(self) -> None:
        """End the session (the tokens are forgotten even offline). Queued actions stay for the next login of
        the same user; what was shown is dropped."""
        self._credentials = None
        self.totp_enrolment_required = False
        try:
            await self.ctx.call(self.ctx.api.logout(), session=False)
            self.message = ""
        except ClientError as err:
            self.message = f"Logged out on this phone; the platform was not told ({err})."
        self.ctx.me, self.ctx.session_note = None, ""
        await self.live.stop()
        await self._forget_kept()
        self.keep_logged_in = False
        self._new_views()

    def _new_views(self) -> None:
        self.inbox = AlarmInbox(self.ctx)
        self.devices = DeviceList(self.ctx)
        self.readings = ReadingEntry(self.ctx)
        self.enrolment = Enrolment(self.ctx)

    # ---- loading ---------------------------------------------------------------------------------------------

    async def refresh(self, tab: Tab | None = None) -> bool:
        """Reload one tab's data, or every shown tab's; whether all of it loaded."""
        ok = True
        for shown in self.tabs if tab is None else (tab,):
            if shown is Tab.ALARMS:
                ok = await self.inbox.refresh() and ok
            elif shown is Tab.DEVICES:
                ok = await self.devices.refresh() and ok
            elif shown is Tab.READINGS:
                ok = await self.readings.load() and ok
            else:
                ok = await self.enrolment.prepare() and ok
        return ok

    # ---- the outbox ------------------------------------------------------------------------------------------

    async def flush(self, *, force: bool = False) -> FlushReport:
        """Send the user's queued actions that are due (``force``: regardless of their backoff)."""
        return await self.ctx.flush(force=force)

    def next_flush_at(self) -> dt.datetime | None:
        """When the earliest backed-off action of the user is due (schedule :meth:`flush` for then)."""
        return self.outbox.next_attempt_at(self.ctx.user)

    @property
    def failed(self) -> list[OutboxItem]:
        """Actions the platform refused, with its message: fix and resend, or discard."""
        return list(self.outbox.failed)

    @property
    def pending(self) -> list[OutboxItem]:
        """Actions waiting to be sent (of every user of this phone)."""
        return list(self.outbox.pending)

    def discard(self, item_id: str) -> bool:
        """Drop a failed action or cancel a queued one."""
        return self.outbox.discard(item_id)

    async def resend(self, item_id: str, changes: Mapping[str, Any] | None = None) -> Outcome:
        """Queue a failed action again (``changes`` to its payload, e.g. ``{"note": ...}``) and send it."""
        item = self.outbox.resend(item_id, self.ctx.now(), changes)
        if item is None:
            return Outcome(OutcomeStatus.INVALID, f"No failed action {item_id}.")
        return self.ctx.outcome_of(item.id, await self.ctx.flush(force=True))

    def _sent(self, item: OutboxItem, result: Any) -> None:
        if isinstance(result, Alarm):
            self.inbox.apply_alarm(result)
        elif isinstance(result, ActivityRecord):
            self.readings.last_record = result
