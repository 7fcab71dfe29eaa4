"""The maintenance crews' mobile app as a Flet app: log in, then the tabs the role allows.

``mobile_main(base_url, data_dir=...)`` gives the Flet ``main`` of the app on the platform at ``base_url``; serve it
with :func:`cem_clients.ui.serve.serve_app` (a web app for a phone's browser) or package it with ``flet build apk``
/ ``flet build ipa`` (see ``docs/mobile.md``).

* **Login** — username and password; the authenticator code when the platform asks for it
  (:attr:`~cem_clients.mobile.SessionState.NEEDS_TOTP`); the platform's messages as they come.
* **Tabs** — alarm inbox (by severity, with counts; an alarm's history, acknowledge, clear with a note), devices
  (search, health, an open device's live values, last heartbeat, buffer depth, certificate), 人工采集 manual
  readings (source and input, month or days, value and unit, checked per field), terminal enrolment (device
  administrators: token as text, QR code and ``cem gateway enroll`` command; the TOTP step-up when asked).
* **Flaky connections** — every change goes through the outbox, which lives on disk under ``data_dir`` in a folder
  per user (``data_dir/users/<name>``): nothing typed is lost, not even across a restart. A banner says since when
  the platform has not answered and how many actions wait; a ticker sends what is due every ``tick_s`` seconds
  (the view model never sends by itself) and reloads the shown list every ``refresh_s`` seconds.
* **Language** — Simplified Chinese by default, English from the menu.

Screens are built by :mod:`cem_clients.mobile.screens` from the view state; after an action the screen is
rebuilt, while the ticker rebuilds only screens without text fields (a field being typed in keeps its focus).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import flet as ft

from cem_clients.api import ApiClient
from cem_clients.mobile.context import LinkState
from cem_clients.mobile.model import MobileApp, SessionState, Tab
from cem_clients.mobile.outbox import READING, FlushReport, Outbox
from cem_clients.mobile.screens import (
    PALETTE,
    SCALE,
    TAB_ICONS,
    TAB_TITLES,
    Handler,
    Notice,
    Step,
    UiState,
    View,
    alarm_detail,
    alarm_inbox,
    button,
    device_detail,
    device_list,
    device_rows,
    enrolment,
    error_text,
    offline_banner,
    outbox_screen,
    readings,
    redraw_passive,
    say,
    screen,
    text,
    text_field,
)
from cem_clients.ui.i18n import Locale, Translator
from cem_clients.ui.theme import AppKind, Tone, apply_theme

__all__ = ["mobile_main", "shared_outbox", "user_dir"]

log = logging.getLogger("cem_clients.mobile")
KIND: Final = AppKind.MOBILE

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_OUTBOXES: dict[Path, Outbox] = {}


def user_dir(data_dir: Path | str, username: str) -> Path:
    """The folder of one user's outbox under ``data_dir``: ``users/<name>`` (a name that is not a safe file name
    is hex-encoded)."""
    name = username if _SAFE_NAME.fullmatch(username) else "x-" + username.encode().hex()[:120]
    return Path(data_dir) / "users" / name


def shared_outbox(directory: Path, *, backoff: float = 5.0, max_backoff: float = 300.0) -> Outbox:
    """The outbox of ``directory``, one per process: the sessions of one user (two browser tabs) share it, so
    that neither overwrites what the other queued. All sessions run on one event loop (see ``ui.serve``)."""
    key = directory.resolve()
    outbox = _OUTBOXES.get(key)
    if outbox is None:
        outbox = _OUTBOXES[key] = Outbox(key, backoff=backoff, max_backoff=max_backoff)
    return outbox


class MobileUi:
    """One session of the app: the view state, the page, the ticker."""

    def __init__(
        self,
        page: ft.Page,
        base_url: str,
        data_dir: Path,
        locale: str,
        *,
        tick_s: float,
        refresh_s: float,
        backoff: float,
    ) -> None:
        self.page = page
        self.base_url = base_url
        self.data_dir = data_dir
        self.tick_s = tick_s
        self.refresh_s = refresh_s
        self.backoff = backoff
        self.api = ApiClient(base_url)
        # Before the login the outbox is the data directory's own (nothing is queued without a user); after it,
        # the user's folder (see enter()).
        self.app = MobileApp(self.api, data_dir, backoff=backoff, max_backoff=max(backoff, 300.0))
        self.tr = Translator(locale)
        self.state = UiState()
        self.view = View(self.app, self.tr, self.state, self.act, self.draw, self.spawn, now=self.app.ctx.now)
        self.banner = ft.Container()
        self.progress = ft.Container(height=4)
        self.body = ft.Container(expand=True)
        self.logged_in = False  # what the screen shows; the view state may have ended the session meanwhile
        self.refreshed_at = 0.0
        self.ticker: asyncio.Task[None] | None = None
        self.bar_shown: tuple[object, ...] = ()
        self.navigation_shown: tuple[object, ...] = ()
        self.screen_shown: tuple[object, ...] = ()

    # ---- drawing ---------------------------------------------------------------------------------------------

    def draw(self) -> None:
        """Rebuild everything: app bar, banner, the screen, the navigation bar."""
        if self.logged_in and self.app.state is not SessionState.LOGGED_IN:
            self.left()
        self.page.title = self.tr.t("app.mobile.title")
        # The app bar and the navigation bar are replaced only when what they show changed: an open menu stays.
        bar = self._bar_signature()
        if bar != self.bar_shown or self.page.appbar is None:
            self.page.appbar, self.bar_shown = self._app_bar(), bar
        navigation = self._navigation_signature()
        if navigation != self.navigation_shown:
            self.page.navigation_bar, self.navigation_shown = self._navigation(), navigation
        self._fill_banner()
        shown, key = self._screen(), self._screen_key()
        old = self.body.content
        if key == self.screen_shown and isinstance(shown, ft.ListView) and isinstance(old, ft.ListView):
            old.controls = shown.controls  # the same screen again: the list keeps its scroll position
        else:
            self.body.content = shown
        self.screen_shown = key
        self.page.update()

    def _screen_key(self) -> tuple[object, ...]:
        app, state = self.app, self.state
        detail = app.inbox.detail.id if app.inbox.detail is not None else None
        device = app.devices.detail.device.id if app.devices.detail is not None else None
        return (app.state, state.outbox_open, state.tab, detail, device, app.enrolment.step, self.tr.locale)

    def _navigation_signature(self) -> tuple[object, ...]:
        app, state = self.app, self.state
        return (app.state, app.tabs, state.tab, state.outbox_open, self.tr.locale)

    def draw_banner(self) -> None:
        """Only the banner and the progress line (the ticker's update: no field loses its focus)."""
        self._fill_banner()
        self.page.update()

    def _fill_banner(self) -> None:
        banner: ft.Control = ft.Container()
        if self.app.state is SessionState.LOGGED_IN:
            banner = offline_banner(self.view, self._open_outbox, self.act(self._send_now))
        self.banner.content = banner
        self.progress.content = ft.ProgressBar(color=PALETTE.primary, bgcolor=PALETTE.surface_raised) \
            if self.state.busy else None  # fmt: skip

    def _screen(self) -> ft.Control:
        app, state, view = self.app, self.state, self.view
        if app.state is not SessionState.LOGGED_IN:
            return self._login()
        if state.outbox_open:
            return outbox_screen(view, self._close_outbox, self.act(self._send_now))
        messages: list[ft.Control] = []
        if app.message:  # said at login, e.g. that the role needs an authenticator app
            messages.append(text(say(self.tr, app.message), tone=Tone.WARNING))
        if state.tab is Tab.ALARMS:
            detail = app.inbox.detail
            shown = alarm_detail(view, detail) if detail is not None else alarm_inbox(view)
        elif state.tab is Tab.DEVICES:
            device = app.devices.detail
            shown = device_detail(view, device) if device is not None else device_list(view)
        elif state.tab is Tab.READINGS:
            shown = readings(view)
        elif state.tab is Tab.ENROLMENT:
            shown = enrolment(view)
        else:
            shown = screen([text(self.tr.t("mobile.no_tabs"), muted=True)])
        if not messages:
            return shown
        return ft.Column([ft.Container(ft.Column(messages), padding=ft.Padding.only(left=16, right=16, top=8)),
                          shown], spacing=0, expand=True)  # fmt: skip

    def _title(self) -> str:
        app, state, tr = self.app, self.state, self.tr
        if app.state is not SessionState.LOGGED_IN:
            return tr.t("app.mobile.title")
        if state.outbox_open:
            return tr.t("mobile.outbox.title")
        if state.tab is Tab.ALARMS and app.inbox.detail is not None:
            return tr.t("mobile.alarm.detail")
        if state.tab is Tab.DEVICES and app.devices.detail is not None:
            return tr.t("mobile.device.detail")
        return tr.t(TAB_TITLES[state.tab]) if state.tab is not None else tr.t("app.mobile.title")

    def _app_bar(self) -> ft.AppBar:
        tr, app = self.tr, self.app
        leading: ft.Control | None = None
        back = self._back_handler()
        if back is not None:
            leading = ft.IconButton(ft.Icons.ARROW_BACK, tooltip=tr.t("back"), on_click=back, icon_size=26)
        items: list[ft.PopupMenuItem] = []
        if app.state is SessionState.LOGGED_IN and app.me is not None:
            role = tr.t(f"role.{app.me.role}") if app.me.role else ""
            items.append(ft.PopupMenuItem(content=f"{app.me.name} · {role}", icon=ft.Icons.PERSON, disabled=True))
            waiting = len([i for i in app.pending if i.user == app.me.name])
            items.append(ft.PopupMenuItem(content=tr.t("mobile.menu.outbox", count=waiting),
                                          icon=ft.Icons.OUTBOX, on_click=self._open_outbox))  # fmt: skip
            items.append(ft.PopupMenuItem(content=tr.t("refresh"), icon=ft.Icons.REFRESH,
                                          on_click=self.act(self._refresh_shown)))  # fmt: skip
        for locale in Locale:
            items.append(ft.PopupMenuItem(content=tr.t(f"language.{locale.value}"), checked=tr.locale is locale,
                                          on_click=self._language(locale)))  # fmt: skip
        if app.state is SessionState.LOGGED_IN:
            logout = self.act(self._logout)
            items.append(ft.PopupMenuItem(content=tr.t("logout"), icon=ft.Icons.LOGOUT, on_click=logout))
        online = app.connection.online or app.state is not SessionState.LOGGED_IN
        actions: list[ft.Control] = []
        if not online:
            actions.append(ft.Icon(ft.Icons.CLOUD_OFF, color=PALETTE.tone(Tone.CRITICAL), tooltip=tr.t("live.offline")))
        actions.append(ft.PopupMenuButton(items=items, icon=ft.Icons.MORE_VERT, tooltip=tr.t("mobile.menu"),
                                          icon_size=28))  # fmt: skip
        return ft.AppBar(
            title=ft.Text(self._title(), size=SCALE.title, weight=ft.FontWeight.BOLD, color=PALETTE.text),
            leading=leading,
            automatically_imply_leading=False,
            actions=actions,
            bgcolor=PALETTE.surface,
            toolbar_height=60,
        )

    def _navigation(self) -> ft.NavigationBar | None:
        app, state = self.app, self.state
        tabs = app.tabs
        if app.state is not SessionState.LOGGED_IN or len(tabs) < 2:
            return None
        destinations = []
        for tab in tabs:
            icon, selected = TAB_ICONS[tab]
            destinations.append(ft.NavigationBarDestination(icon=icon, selected_icon=selected,
                                                            label=self.tr.t(TAB_TITLES[tab])))  # fmt: skip

        async def changed(event: ft.Event[ft.NavigationBar]) -> None:
            await self.show_tab(tabs[event.control.selected_index])

        return ft.NavigationBar(
            destinations=destinations,
            selected_index=tabs.index(state.tab) if state.tab in tabs and not state.outbox_open else 0,
            on_change=changed,
            bgcolor=PALETTE.surface,
            indicator_color=PALETTE.surface_raised,
            height=76,
        )

    def _back_handler(self) -> Handler | None:
        app, state = self.app, self.state
        if app.state is not SessionState.LOGGED_IN:
            return None
        if state.outbox_open:
            return self._close_outbox
        if state.tab is Tab.ALARMS and app.inbox.detail is not None:

            async def back_alarm() -> None:
                app.inbox.close()
                state.notice = None
                self.draw()

            return back_alarm
        if state.tab is Tab.DEVICES and app.devices.detail is not None:

            async def back_device() -> None:
                app.devices.close()
                self.draw()

            return back_device
        return None

    # ---- the login screen ------------------------------------------------------------------------------------

    def _login(self) -> ft.Control:
        app, tr, state = self.app, self.tr, self.state
        needs_totp = app.state is SessionState.NEEDS_TOTP
        errors = app.errors

        def set_username(value: str) -> None:
            state.username = value

        def set_password(value: str) -> None:
            state.password = value

        def set_totp(value: str) -> None:
            state.totp = value

        submit = self.act(self._submit_login)
        body: list[ft.Control] = [
            ft.Container(
                ft.Column(
                    [
                        ft.Icon(ft.Icons.FACTORY_OUTLINED, size=64, color=PALETTE.primary),
                        text(tr.t("app.mobile.title"), size=SCALE.title + 4, bold=True),
                        text(tr.t("mobile.login.subtitle"), muted=True),
                    ],
                    horizontal_alignment=ft.CrossAxisAlignment.CENTER,
                    spacing=8,
                ),  # fmt: skip
                alignment=ft.Alignment.CENTER,
                padding=ft.Padding.only(top=24, bottom=8),
            ),
            text_field(
                tr.t("login.username"),
                state.username,
                set_username,
                read_only=needs_totp,
                error=say(tr, errors["username"]) if errors.get("username") else None,
            ),  # fmt: skip
            text_field(
                tr.t("login.password"),
                state.password,
                set_password,
                password=True,
                read_only=needs_totp,
                on_submit=None if needs_totp else submit,
                error=say(tr, errors["password"]) if errors.get("password") else None,
            ),  # fmt: skip
        ]
        if needs_totp:
            body.append(text_field(tr.t("login.totp"), state.totp, set_totp, number=True, hint=tr.t("login.totp_hint"),
                                   on_submit=submit,
                                   error=say(tr, errors["totp"]) if errors.get("totp") else None))  # fmt: skip
        if app.message:
            tone = Tone.INFO if needs_totp and not errors else Tone.CRITICAL
            body.append(text(say(tr, app.message), tone=tone))
        if app.session_note and not app.message:
            body.append(error_text(app.session_note))
        body.append(button(tr.t("login.submit"), submit, icon=ft.Icons.LOGIN, busy=state.busy))
        if needs_totp:
            body.append(button(tr.t("cancel"), self._cancel_totp, primary=False, busy=state.busy))
        body.append(text(tr.t("mobile.login.server", url=self.base_url), size=SCALE.label, muted=True))
        return screen(body)

    async def _submit_login(self) -> None:
        app, state = self.app, self.state
        if app.state is SessionState.NEEDS_TOTP:
            result = await app.submit_totp(state.totp)
        else:
            result = await app.login(state.username, state.password)
        if result is SessionState.LOGGED_IN:
            await self.enter()
        elif result is SessionState.NEEDS_TOTP and app.errors.get("totp"):
            state.totp = ""

    async def _cancel_totp(self) -> None:
        self.app.cancel_login()
        self.state.totp = self.state.password = ""
        self.draw()

    async def enter(self) -> None:
        """Logged in: the user's outbox, the first tab, its data; what waits is sent."""
        app, state = self.app, self.state
        me = app.me
        if me is None:
            return
        app.ctx.outbox = shared_outbox(user_dir(self.data_dir, me.name), backoff=self.backoff,
                                       max_backoff=max(self.backoff, 300.0))  # fmt: skip
        state.password = state.totp = ""
        state.tab = app.tabs[0] if app.tabs else None
        state.outbox_open, state.notice, state.severity = False, None, None
        state.notes.clear()
        state.note_errors.clear()
        self.logged_in = True
        await app.flush()
        await self._load(state.tab)

    def left(self) -> None:
        """The session is over (logged out, or the platform ended it): back to the login screen."""
        self.logged_in = False
        self.state.tab = None
        self.state.outbox_open = False
        self.state.notice = None

    async def _logout(self) -> None:
        await self.app.logout()
        self.left()
        self.state.username = self.state.username.strip()

    # ---- navigation and loading ------------------------------------------------------------------------------

    async def show_tab(self, tab: Tab) -> None:
        """Switch to ``tab``: shown at once with what is known, then reloaded."""
        state = self.state
        state.tab, state.outbox_open, state.notice = tab, False, None
        self.draw()
        await self._load(tab)
        if state.tab is tab:
            self.draw()

    async def _load(self, tab: Tab | None) -> None:
        app = self.app
        if tab is None:
            return
        if tab is Tab.READINGS and app.readings.loaded_at is not None:
            return  # the form keeps what was typed; the menu's refresh reloads the inputs
        if tab is Tab.ENROLMENT and app.enrolment.sites:
            return
        await app.refresh(tab)
        self.refreshed_at = time.monotonic()

    async def _refresh_shown(self) -> None:
        app, state = self.app, self.state
        if state.tab is Tab.DEVICES and app.devices.detail is not None:
            await app.devices.refresh_values()
        elif state.tab is not None:
            await app.refresh(state.tab)
        self.refreshed_at = time.monotonic()

    async def _open_outbox(self) -> None:
        self.state.outbox_open, self.state.notice = True, None
        self.draw()

    async def _close_outbox(self) -> None:
        self.state.outbox_open, self.state.notice = False, None
        self.draw()

    async def _send_now(self) -> None:
        report = await self.app.flush(force=True)
        if self.state.outbox_open:
            if report.offline:
                self.state.notice = Notice(self.tr.t("mobile.outcome.queued"), Tone.WARNING, "outbox")
            elif report.sent:
                self.state.notice = Notice(self.tr.t("mobile.outbox.sent", count=len(report.sent)), Tone.GOOD,
                                           "outbox")  # fmt: skip

    def _language(self, locale: Locale) -> Handler:
        async def switch() -> None:
            self.tr.set_locale(locale)
            self.draw()

        return switch

    # ---- actions ---------------------------------------------------------------------------------------------

    def act(self, step: Step) -> Handler:
        """A handler that runs ``step`` (one at a time: buttons wait meanwhile), then redraws."""

        async def handler() -> None:
            if self.state.busy:
                return
            self.state.busy = True
            self.draw_banner()  # the progress line
            try:
                await step()
            except Exception as err:  # a bug must not freeze the screen: say it and go on
                log.exception("mobile app action failed")
                self.state.notice = Notice(self.tr.t("error.generic", message=str(err) or type(err).__name__),
                                           Tone.CRITICAL, self._where())  # fmt: skip
            finally:
                self.state.busy = False
            self.draw()

        return handler

    def spawn(self, handler: Handler) -> None:
        """Run ``handler`` as a task of the session (from a callback that cannot await)."""
        self.page.run_task(handler)

    def _where(self) -> str:
        state, app = self.state, self.app
        if state.outbox_open:
            return "outbox"
        if state.tab is Tab.ALARMS and app.inbox.detail is not None:
            return f"alarm:{app.inbox.detail.id}"
        return state.tab.value if state.tab is not None else ""

    # ---- the ticker ------------------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Send what is due; now and then reload the shown list; keep the banner current."""
        app, state = self.app, self.state
        if app.state is not SessionState.LOGGED_IN:
            if self.logged_in:  # the platform ended the session: the login screen, with why
                self.draw()
            return
        if state.busy:
            return
        was_offline = app.connection.state is LinkState.OFFLINE
        report = await app.flush()
        changed = bool(report.sent or report.failed)
        concerned = self._concerns(report)
        back_online = was_offline and app.connection.online  # what failed to load meanwhile is loaded now
        if back_online or time.monotonic() - self.refreshed_at >= self.refresh_s:
            await self._refresh_shown()
            changed = True
        if self.busy():  # an action started meanwhile: it redraws when done
            return
        if app.state is not SessionState.LOGGED_IN or concerned or (changed and redraw_passive(self.view)):
            self.draw()
            return
        rows = state.device_rows
        listed = state.tab is Tab.DEVICES and app.devices.detail is None and not state.outbox_open
        if changed and listed and rows is not None:
            rows.controls = device_rows(self.view)  # the search field keeps its focus
        bar = self._bar_signature()
        if bar != self.bar_shown:  # the offline mark, the menu's count: the menu stays open otherwise
            self.page.appbar, self.bar_shown = self._app_bar(), bar
        self.draw_banner()

    def busy(self) -> bool:
        """Whether an action is on its way."""
        return self.state.busy

    def _bar_signature(self) -> tuple[object, ...]:
        app = self.app
        waiting = len([i for i in app.pending if i.user == app.ctx.user])
        return (app.state, app.connection.online, waiting, self._title(), self.tr.locale)

    def _concerns(self, report: FlushReport) -> bool:
        """Whether what the flush did changes the shown screen (then it is rebuilt, with the outcome)."""
        app, state, tr = self.app, self.state, self.tr
        sent = [item for item, _ in report.sent]
        done = sent + list(report.failed)
        if not done:
            return False
        if state.outbox_open:
            return True
        detail = app.inbox.detail
        if state.tab is Tab.ALARMS and detail is not None:
            where = f"alarm:{detail.id}"
            mine = [item for item in done if item.key == f"alarm:{detail.id}"]
            if not mine:
                return False
            last = mine[-1]
            if last in report.failed:
                state.notice = Notice(last.last_error, Tone.CRITICAL, where)
            else:
                state.notice = Notice(tr.t(f"mobile.alarm.done.{last.kind}"), Tone.GOOD, where)
            return True
        if state.tab is Tab.READINGS:
            mine = [item for item in done if item.kind == READING]
            if not mine:
                return False
            last = mine[-1]
            if last in report.failed:
                state.notice = Notice(last.last_error, Tone.CRITICAL, "readings")
            else:
                state.notice = Notice(tr.t("mobile.reading.sent"), Tone.GOOD, "readings")
            return True
        return False

    async def run(self) -> None:
        """Tick until the session ends."""
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mobile app tick failed")

    def start(self) -> None:
        """Start the ticker (again, when the tab came back)."""
        if self.ticker is None or self.ticker.done():
            self.ticker = asyncio.create_task(self.run())

    def stop(self) -> None:
        """Stop the ticker."""
        if self.ticker is not None:
            self.ticker.cancel()
            self.ticker = None

    def layout(self) -> None:
        """Put the app on the page."""
        apply_theme(self.page, KIND)
        self.page.padding = 0
        self.page.spacing = 0
        self.page.add(ft.Column([self.banner, self.progress, self.body], spacing=0, expand=True))
        self.draw()


def mobile_main(
    base_url: str,
    *,
    data_dir: Path | str,
    locale: str = "zh-CN",
    tick_s: float = 5.0,
    refresh_s: float = 30.0,
    backoff: float = 5.0,
) -> Callable[[ft.Page], Awaitable[None]]:
    """The Flet ``main`` of the mobile app on the platform at ``base_url``.

    ``data_dir`` keeps the outbox (one folder per user); ``tick_s`` is how often queued actions that are due are
    sent, ``refresh_s`` how often the shown list is reloaded; ``backoff`` the first wait before an action that
    found no connection is tried again (doubling up to 5 minutes).
    """
    directory = Path(data_dir)

    async def main(page: ft.Page) -> None:
        ui = MobileUi(page, base_url, directory, locale, tick_s=tick_s, refresh_s=refresh_s, backoff=backoff)
        ui.layout()
        ui.start()

        async def on_disconnect(_: object) -> None:  # the tab went away (it may come back within the hour)
            ui.stop()

        async def on_connect(_: object) -> None:
            ui.start()

        async def on_close(_: object) -> None:  # the session expired
            ui.stop()
            with contextlib.suppress(Exception):
                await ui.api.aclose()

        page.on_disconnect = on_disconnect
        page.on_connect = on_connect
        page.on_close = on_close

    return main
