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
* **Live alarms** — the platform's live feed pushes alarm changes into the inbox (:mod:`cem_clients.mobile.live`);
  while it is down the ticker polls, and the inbox says which.
* **Back** — a tab's list is the root view; an open alarm or device is a view over it, and the outbox a view over
  that, each with its own route (a view never changes its route: Flutter's navigator knows a page by it). The
  phone's back button and the app bar's arrow pop the top one (``on_view_pop``), the browser's back goes to the
  previous route (``on_route_change``).
* **Stay logged in** — opt-in on the login screen: only the refresh token is kept, in the client's storage
  (:class:`PreferencesStore`), replaced as the platform rotates it, removed at logout or when it is refused.
* **Scanning** — the enrolment form's scan button opens the camera or photos (``FilePicker``); the QR code is
  decoded in Python (:mod:`cem_clients.mobile.scan`).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import quote, unquote

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
from cem_clients.mobile.session import KeptSession, decode_kept, encode_kept
from cem_clients.ui.i18n import Locale, Translator
from cem_clients.ui.theme import AppKind, Tone, apply_locale, apply_theme

__all__ = ["mobile_main", "shared_outbox", "user_dir"]

log = logging.getLogger("cem_clients.mobile")
KIND: Final = AppKind.MOBILE
Above = Literal["", "detail", "outbox"]  # what a view shows: the tab's list (""), an alarm or device, the outbox

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


class PreferencesStore:
    """The client's storage for "stay logged in" (Flet's ``SharedPreferences``: the browser's local storage in the
    web build, the app's private preferences on a phone); see :mod:`cem_clients.mobile.session`."""

    KEY: Final = "cem.mobile.session"

    def __init__(self, preferences: ft.SharedPreferences) -> None:
        self.preferences = preferences

    async def load(self) -> KeptSession | None:
        """The kept session (None: none, or unreadable)."""
        try:
            return decode_kept(await self.preferences.get(self.KEY))
        except Exception:  # the client could not answer: as if nothing were kept
            log.warning("mobile app: the kept session could not be read", exc_info=True)
            return None

    async def save(self, kept: KeptSession) -> None:
        """Keep the session."""
        await self.preferences.set(self.KEY, encode_kept(kept))

    async def clear(self) -> None:
        """Forget it."""
        await self.preferences.remove(self.KEY)


class MobileUi:
    """One session of the app: the view state, the page (a root view per tab, a view on top of it for a detail),
    the ticker, the live feed."""

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
        # Services are registered with the page when made inside its session; they stay while referenced here.
        self.preferences = ft.SharedPreferences()
        self.picker = ft.FilePicker(on_result=self._picked)
        # Before the login the outbox is the data directory's own (nothing is queued without a user); after it,
        # the user's folder (see enter()).
        self.app = MobileApp(self.api, data_dir, backoff=backoff, max_backoff=max(backoff, 300.0),
                             store=PreferencesStore(self.preferences))  # fmt: skip
        self.app.live.on_change = self._live_changed
        self.tr = Translator(locale)
        self.state = UiState(refresh_s=refresh_s)
        self.view = View(self.app, self.tr, self.state, self.act, self.draw, self.spawn, now=self.app.ctx.now,
                         pick_image=ft.PickFiles(self.picker, file_type=ft.FilePickerFileType.IMAGE,
                                                 with_data=True))  # fmt: skip
        self.root = _Layer()  # the tab's list (or the login), with the navigation bar
        self.stack: list[_Above] = []  # the views over it: an alarm or a device, the outbox
        self.logged_in = False  # what the screen shows; the view state may have ended the session meanwhile
        self.refreshed_at = 0.0
        self.ticker: asyncio.Task[None] | None = None
        self.live_task: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.live_shown: tuple[object, ...] = ()
        self.navigation_shown: tuple[object, ...] = ()
        self.route_shown = "/"  # the route the browser (or the phone's navigator) shows
        self.pushed: list[str] = []  # routes pushed whose route-change echo has not come back yet
        self.wanted_route: str | None = None  # a detail's address opened before the login: shown after it

    # ---- drawing ---------------------------------------------------------------------------------------------

    def draw(self) -> None:
        """Rebuild everything: the root view (app bar, banner, the tab's screen, the navigation bar) and the view
        of a detail over it; then the route follows."""
        if self.logged_in and self.app.state is not SessionState.LOGGED_IN:
            self.left()
        self.page.title = self.tr.t("app.mobile.title")
        root = self.page.views[0]
        # The app bar and the navigation bar are replaced only when what they show changed: an open menu stays.
        self.root.bar(self, root, top="")
        navigation = self._navigation_signature()
        if navigation != self.navigation_shown:
            root.navigation_bar, self.navigation_shown = self._navigation(), navigation
        self.root.show(self._root_screen(), (self.app.state, self.state.tab, self.app.enrolment.step, self.tr.locale))
        wanted = self._stack_wanted()
        kept = 0  # the views that stay: the same route at the same depth
        while kept < min(len(self.stack), len(wanted)) and self.stack[kept].route == wanted[kept][1]:
            kept += 1
        for above in self.stack[kept:]:
            with contextlib.suppress(ValueError):
                self.page.views.remove(above.view)
        self.stack = self.stack[:kept]
        for kind, route, _ in wanted[kept:]:
            layer = _Layer()
            view = ft.View(route=route, controls=[layer.column()], padding=0, spacing=0, bgcolor=PALETTE.background)
            self.page.views.append(view)
            self.stack.append(_Above(kind, route, layer, view))
        self._fill_banner()
        for above, (_, _, build) in zip(self.stack, wanted, strict=True):
            above.layer.bar(self, above.view, top=above.kind)
            above.layer.show(build(), (above.route, self.tr.locale))
        self._follow_route()
        self.page.update()

    def _navigation_signature(self) -> tuple[object, ...]:
        app, state = self.app, self.state
        return (app.state, app.tabs, state.tab, self.tr.locale)

    def draw_banner(self) -> None:
        """Only the banners and the progress lines (the ticker's update: no field loses its focus)."""
        self._fill_banner()
        self.page.update()

    def _fill_banner(self) -> None:
        for layer in (self.root, *(above.layer for above in self.stack)):
            banner: ft.Control = ft.Container()
            if self.app.state is SessionState.LOGGED_IN:
                banner = offline_banner(self.view, self._open_outbox, self.act(self._send_now))
            layer.banner.content = banner
            layer.progress.content = ft.ProgressBar(color=PALETTE.primary, bgcolor=PALETTE.surface_raised) \
                if self.state.busy else None  # fmt: skip

    def _root_screen(self) -> ft.Control:
        app, state, view = self.app, self.state, self.view
        if app.state is not SessionState.LOGGED_IN:
            return self._login()
        messages: list[ft.Control] = []
        if app.message:  # said at login, e.g. that the role needs an authenticator app
            messages.append(text(say(self.tr, app.message), tone=Tone.WARNING))
        if state.tab is Tab.ALARMS:
            shown = alarm_inbox(view)
        elif state.tab is Tab.DEVICES:
            shown = device_list(view)
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

    def _stack_wanted(self) -> list[tuple[Above, str, Callable[[], ft.Control]]]:
        """The views over the tab's list, bottom first: (kind, route, what it shows)."""
        app, state, view = self.app, self.state, self.view
        if app.state is not SessionState.LOGGED_IN:
            return []
        wanted: list[tuple[Above, str, Callable[[], ft.Control]]] = []
        alarm, device = app.inbox.detail, app.devices.detail
        if state.tab is Tab.ALARMS and alarm is not None:
            wanted.append(("detail", f"/alarms/{alarm.id}", lambda: alarm_detail(view, alarm)))
        elif state.tab is Tab.DEVICES and device is not None:
            route = f"/devices/{quote(device.device.id, safe='')}"
            wanted.append(("detail", route, lambda: device_detail(view, device)))
        if state.outbox_open:
            wanted.append(("outbox", "/outbox", lambda: outbox_screen(view, self._close_outbox,
                                                                      self.act(self._send_now))))  # fmt: skip
        return wanted

    def _title(self, *, top: Above) -> str:
        app, state, tr = self.app, self.state, self.tr
        if app.state is not SessionState.LOGGED_IN:
            return tr.t("app.mobile.title")
        if top == "outbox":
            return tr.t("mobile.outbox.title")
        if top == "detail" and state.tab is Tab.ALARMS:
            return tr.t("mobile.alarm.detail")
        if top == "detail" and state.tab is Tab.DEVICES:
            return tr.t("mobile.device.detail")
        return tr.t(TAB_TITLES[state.tab]) if state.tab is not None else tr.t("app.mobile.title")

    def _app_bar(self, *, top: Above) -> ft.AppBar:
        tr, app = self.tr, self.app
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
            title=ft.Text(self._title(top=top), size=SCALE.title, weight=ft.FontWeight.BOLD, color=PALETTE.text),
            # Over a tab, the navigator's own back button: it pops the view (on_view_pop), as the phone's back does.
            automatically_imply_leading=bool(top),
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
            selected_index=tabs.index(state.tab) if state.tab in tabs else 0,
            on_change=changed,
            bgcolor=PALETTE.surface,
            indicator_color=PALETTE.surface_raised,
            height=76,
        )

    # ---- navigation: routes, the view stack, back ------------------------------------------------------------

    def _route(self) -> str:
        """The address of what is shown: ``/`` (login), ``/alarms``, ``/alarms/12``, ``/devices/dev-1``,
        ``/outbox`` ..."""
        app, state = self.app, self.state
        if app.state is not SessionState.LOGGED_IN or state.tab is None:
            return "/"
        if state.outbox_open:
            return "/outbox"
        if state.tab is Tab.ALARMS and app.inbox.detail is not None:
            return f"/alarms/{app.inbox.detail.id}"
        if state.tab is Tab.DEVICES and app.devices.detail is not None:
            return f"/devices/{quote(app.devices.detail.device.id, safe='')}"
        return f"/{state.tab.value}"

    def _follow_route(self) -> None:
        """Make the route say what is shown: a new entry of the browser's history for each screen opened."""
        route = self._route()
        if route == self.route_shown:
            return
        self.route_shown = route
        self.pushed = [*self.pushed[-8:], route]
        self.page.run_task(self.page.push_route, route)

    async def route_changed(self, event: ft.RouteChangeEvent) -> None:
        """The route changed: the echo of our own push, or the browser's back and forward buttons (or an edited
        address): show what the route names."""
        route = event.route
        if route in self.pushed:  # our own push coming back
            del self.pushed[: self.pushed.index(route) + 1]
            return
        self.route_shown = route
        if route == self._route():
            return
        await self.go(route)

    async def view_popped(self, event: ft.ViewPopEvent) -> None:
        """The phone's back button, or the back arrow of a detail's app bar: back to the tab's list."""
        await self.back()

    async def back(self) -> None:
        """Leave the detail shown over the tab (the outbox, an alarm, a device)."""
        app, state = self.app, self.state
        if state.outbox_open:
            state.outbox_open = False
        elif state.tab is Tab.ALARMS and app.inbox.detail is not None:
            app.inbox.close()
        elif state.tab is Tab.DEVICES and app.devices.detail is not None:
            app.devices.close()
        state.notice = None
        self.draw()

    async def go(self, route: str) -> None:
        """Show what ``route`` names (a tab, an alarm, a device, the outbox); an unknown route shows the tab."""
        app, state = self.app, self.state
        if app.state is not SessionState.LOGGED_IN:
            self.wanted_route = route if route not in ("", "/") else None
            self.draw()
            return
        parts = [unquote(part) for part in route.split("?")[0].strip("/").split("/") if part]
        tab = next((t for t in app.tabs if parts and t.value == parts[0]), None)
        state.notice = None
        if parts == ["outbox"]:
            state.outbox_open = True
            self.draw()
            return
        state.outbox_open = False
        if tab is None:
            self.draw()  # not an address of this user's app: the route goes back to what is shown
            return
        state.tab = tab
        if tab is Tab.ALARMS:
            if len(parts) == 2 and parts[1].isdigit():
                if app.inbox.detail is None or app.inbox.detail.id != int(parts[1]):
                    self.draw()
                    await app.inbox.open(int(parts[1]))
            else:
                app.inbox.close()
        elif tab is Tab.DEVICES:
            if len(parts) == 2:
                if app.devices.detail is None or app.devices.detail.device.id != parts[1]:
                    self.draw()
                    await app.devices.open(parts[1])
            else:
                app.devices.close()
        self.draw()
        await self._load(tab)
        self.draw()

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

        def keep_changed(event: ft.Event[ft.Checkbox]) -> None:
            app.keep_logged_in = bool(event.control.value)
            self.draw()

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
        body.append(ft.Checkbox(label=tr.t("mobile.login.keep"), value=app.keep_logged_in, on_change=keep_changed,
                                label_style=ft.TextStyle(size=SCALE.body)))  # fmt: skip
        if app.keep_logged_in:
            body.append(text(tr.t("mobile.login.keep_hint"), size=SCALE.label + 1, muted=True))
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
        self.start_live()
        await app.flush()
        wanted, self.wanted_route = self.wanted_route, None
        if wanted is not None:
            await self.go(wanted)
        else:
            await self._load(state.tab)

    async def resume(self) -> None:
        """At start: log in with the session kept by "stay logged in", if there is one."""
        if await self.app.resume_kept() is SessionState.LOGGED_IN:
            await self.enter()
        self.draw()

    def left(self) -> None:
        """The session is over (logged out, or the platform ended it): back to the login screen."""
        self.logged_in = False
        self.state.tab = None
        self.state.outbox_open = False
        self.state.notice = None
        self.stop_live()
        self.background(self.app.sync_kept)  # the platform ended it: the kept session is forgotten too

    async def _logout(self) -> None:
        await self.app.logout()
        self.left()
        self.state.username = self.state.username.strip()

    # ---- navigation and loading ------------------------------------------------------------------------------

    async def show_tab(self, tab: Tab) -> None:
        """Switch to ``tab``: shown at once with what is known, then reloaded."""
        state = self.state
        state.tab, state.outbox_open, state.notice = tab, False, None
        self.app.inbox.close()
        self.app.devices.close()
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

    async def _refresh_shown(self, *, forced: bool = True) -> None:
        app, state = self.app, self.state
        if state.tab is Tab.DEVICES and app.devices.detail is not None:
            await app.devices.refresh_values()
        elif state.tab is Tab.ALARMS and app.inbox.detail is None and app.live.live and not forced:
            pass  # pushed: the feed keeps the inbox current (and reloads it at each reconnection)
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
            apply_locale(self.page, self.tr.locale)
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
                await self.app.sync_kept()
                await self.app.live.follow_open_device()
            except Exception as err:  # a bug must not freeze the screen: say it and go on
                log.exception("mobile app action failed")
                self.state.notice = Notice(self.tr.t("error.generic", message=str(err) or type(err).__name__),
                                           Tone.CRITICAL, self._where())  # fmt: skip
            finally:
                self.state.busy = False
            self.draw()

        return handler

    def background(self, work: Handler) -> None:
        """Run ``work`` as a task of its own (also while the page is gone)."""
        task = asyncio.create_task(work())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

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
            await self._refresh_shown(forced=back_online)
            changed = True
        if app.live.check():  # the feed was lost between events: the inbox says it polls now
            changed = True
        if self.live_task is None or self.live_task.done():
            self.start_live()  # ended (refused, or the session's token was refused once): try again
        await app.live.follow_open_device()
        await app.sync_kept()
        if self.busy():  # an action started meanwhile: it redraws when done
            return
        if app.state is not SessionState.LOGGED_IN or concerned or (changed and redraw_passive(self.view)):
            self.draw()
            return
        self._quiet_update(changed)

    def _quiet_update(self, changed: bool) -> None:
        """Update what can change without taking a focus away: the device rows, the app bars, the banners."""
        state = self.state
        rows = state.device_rows
        listed = state.tab is Tab.DEVICES and not state.outbox_open
        if changed and listed and rows is not None:
            rows.controls = device_rows(self.view)  # the search field keeps its focus
        self.root.bar(self, self.page.views[0], top="")  # the offline mark, the menu's count
        for above in self.stack:
            above.layer.bar(self, above.view, top=above.kind)
        self.draw_banner()

    def _live_changed(self) -> None:
        """The live feed brought an alarm (or a device's value), or went up or down."""
        app, state = self.app, self.state
        if app.state is not SessionState.LOGGED_IN or state.busy:
            return
        shown = (app.live.state, app.live.events, state.tab)
        if state.tab is Tab.ALARMS and app.inbox.detail is None and not state.outbox_open:
            self.live_shown = shown
            self.draw()  # the inbox has no text field
        elif redraw_passive(self.view):
            self.draw()
        else:
            self._quiet_update(True)

    def start_live(self) -> None:
        """Follow the platform's live feed (while logged in)."""
        if self.app.state is SessionState.LOGGED_IN and (self.live_task is None or self.live_task.done()):
            self.live_task = asyncio.create_task(self._run_live())

    async def _run_live(self) -> None:
        try:
            await self.app.live.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("mobile app live feed failed")

    def stop_live(self) -> None:
        """Stop following the feed (logged out, the page went away)."""
        if self.live_task is not None:
            self.live_task.cancel()
            self.live_task = None
        self.background(self.app.live.stop)

    async def _picked(self, event: ft.FilePickerResultEvent) -> None:
        """A photo to scan for the enrolment form (the "scan" button's file picker)."""
        if not event.files:
            return
        data = event.files[0].bytes
        form = self.app.enrolment
        if data is None:
            form.errors["serial"] = "This is not a picture that can be read (take a photo, or choose a PNG or JPEG)."
        else:
            form.scan_image(data)
        self.state.notice = None
        self.draw()

    def busy(self) -> bool:
        """Whether an action is on its way."""
        return self.state.busy

    def bar_signature(self, *, top: Above) -> tuple[object, ...]:
        """What an app bar shows (it is replaced only when that changed: an open menu stays open)."""
        app = self.app
        waiting = len([i for i in app.pending if i.user == app.ctx.user])
        return (app.state, app.connection.online, waiting, self._title(top=top), self.tr.locale)

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
        """Start the ticker and the live feed (again, when the tab came back)."""
        if self.ticker is None or self.ticker.done():
            self.ticker = asyncio.create_task(self.run())
        self.start_live()

    def stop(self) -> None:
        """Stop the ticker and the live feed."""
        if self.ticker is not None:
            self.ticker.cancel()
            self.ticker = None
        self.stop_live()

    def layout(self) -> None:
        """Put the app on the page."""
        apply_theme(self.page, KIND)
        apply_locale(self.page, self.tr.locale)  # Flutter's own texts too: the back arrow's "返回", menus, pickers
        self.page.padding = 0
        self.page.spacing = 0
        self.page.add(self.root.column())
        self.page.on_route_change = self.route_changed
        self.page.on_view_pop = self.view_popped
        self.wanted_route = self.page.route if self.page.route not in ("", "/") else None
        self.draw()


@dataclass
class _Above:
    """A view over the tab's list, made for one route and removed when that route is left."""

    kind: Above
    route: str
    layer: _Layer
    view: ft.View


class _Layer:
    """What one view of the app shows: the banner, the progress line and the screen (and its app bar)."""

    def __init__(self) -> None:
        self.banner = ft.Container()
        self.progress = ft.Container(height=4)
        self.body = ft.Container(expand=True)
        self.bar_shown: tuple[object, ...] = ()
        self.shown: tuple[object, ...] = ()

    def column(self) -> ft.Column:
        """The view's content."""
        return ft.Column([self.banner, self.progress, self.body], spacing=0, expand=True)

    def bar(self, ui: MobileUi, view: ft.View, *, top: Above) -> None:
        """Replace the view's app bar when what it shows changed."""
        signature = ui.bar_signature(top=top)
        if signature != self.bar_shown or view.appbar is None:
            view.appbar, self.bar_shown = ui._app_bar(top=top), signature

    def show(self, shown: ft.Control, key: tuple[object, ...]) -> None:
        """Show a screen; the same screen again keeps its list's scroll position."""
        old = self.body.content
        if key == self.shown and isinstance(shown, ft.ListView) and isinstance(old, ft.ListView):
            old.controls = shown.controls
        else:
            self.body.content = shown
        self.shown = key


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
        await ui.resume()
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
