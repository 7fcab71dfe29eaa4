"""The desktop console as a Flet app: device administrators and carbon accountants at a desk (1440x900 and up).

A sign-in screen (username, password, authenticator code) — or a session resumed from a refresh token — leads to
the shell: a header (title, enterprise, who is signed in, language, sign out), a navigation rail with the sections
the caller's permissions open (:data:`cem_clients.console.model.SECTIONS`) and the section itself. The sections
are built from the view models of :mod:`cem_clients.console.model`, a small screen class each:

* devices (:mod:`~cem_clients.console.screens_devices`): fleet overview (healthy, degraded — a PLC connection
  down or an alarm open — and offline, each degraded row saying why) with enrolment tokens (QR code) and
  suspend / resume / revoke / retire with reason and authenticator code; registration; point map; alarm
  thresholds;
* alarms (:mod:`~cem_clients.console.screens_alarms`): filters, one alarm with its history, acknowledge, clear,
  export;
* administration (:mod:`~cem_clients.console.screens_admin`): users and roles; the audit log;
* accounting (:mod:`~cem_clients.console.screens_accounting`): source inventory, factor library (versions, a
  version's diff, parameters, a proposed change), activity data, ledger import (file picker, row report,
  confirm / discard), emissions with the lineage drill-down, the annual report as a download;
* reporting (:mod:`~cem_clients.console.screens_reporting`): the years' reporting states, reported beside kept
  figures, "would change by", verification and history; submit, verifier, verify, lock, new draft, reopen;
* statistics (:mod:`~cem_clients.console.screens_stats`): totals, structure, intensity and comparisons (同比, 环比,
  定比) by period as charts and tables, XLSX export of what is shown, a process's own view;
* benchmarking (:mod:`~cem_clients.console.screens_benchmarking`): 对标分析 (each process's actual by period against
  its levels, the level reached, gaps, limit breaches, corrections) and 降碳潜力 (potentials against a chosen
  reference, the largest first, summed to the enterprise; scenarios where the platform serves them), with XLSX
  export;
* carbon assets (:mod:`~cem_clients.console.screens_carbon`): 碳资产 (holdings and asset value, the trial calculation
  with its band, the trend and the forecast to year end as charts with their tables, the append-only ledger and
  its entry form), with XLSX export.

Screens rebuild from the view state after every action (``Ui.act``); text fields write into the forms as they are
typed. Files are picked and saved through Flet's file picker: in the browser that is the browser's file dialog and
a download.

``console_main(base_url, session=..., start_section=..., start_options=...)`` opens a resumed session directly on a
section (used by the browser tests, and by a desktop shortcut). The options, per section:

* fleet (following the live feed: connection states and backlogs change without a reload): ``search``,
  ``expiry_days``, ``token`` (a device id: its enrolment-token dialog opens), ``control``
  (``suspend:<device id>`` ...: that dialog opens);
* inventory: ``new`` (a category: the new-source dialog opens), ``meter`` (an input of it taken from meters) and
  ``find`` (what is typed in that input's point picker);
* alarms: ``state`` (open, active, acknowledged, cleared; empty: all), ``severity``, ``kind``, ``from`` and ``to``
  (days), ``alarm`` (an id: it opens) and ``action`` (``acknowledge`` or ``clear``: that dialog opens over it);
* users: ``edit`` (a username: the dialog to change that user opens);
* library: ``library``, ``version``, ``search``;
* audit: ``actor``, ``action`` (a prefix), ``entity``, ``outcome``, ``from`` and ``to`` (days), ``page_size``;
* emissions: ``period``, ``start``, ``end``, ``drill`` (``first``, a result id or a period's label: its lineage
  opens) and ``source`` (a source of that lineage);
* report: ``year``;
* reporting: ``year`` and ``action`` (``submit``, ``verifier``, ``verify``, ``lock``, ``draft``, ``reopen``: that
  dialog opens when the year's state and the caller allow it);
* statistics: ``period``, ``start``, ``end``, ``scope`` (a process's code or id: its own view), ``metric``
  (``emissions``, ``energy``), ``dimension`` (emissions: ``group``, ``category``, ``process``; energy: ``carrier``,
  ``process``), ``electricity`` (energy: ``equivalent``, ``equal_value``), ``compare`` (``yoy,pop,base``) and
  ``base`` (a date in the base period);
* benchmarking and potential: ``period`` (``month``, ``year``), ``start`` and ``end`` (``2026-03`` or ``2026``,
  the end included), benchmarking ``scope`` (a process's code or id) and ``indicator`` (``process_energy``,
  ``co2_intensity``), potential ``reference`` (``1``, ``benchmark``, ``ENTRY:LEVEL``...);
* carbon: ``year`` (the compliance year, default the current one).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

import flet as ft

from cem_clients.api import ClientError
from cem_clients.console.app_kit import (
    KIND,
    Section,
    Ui,
    code_field,
    message,
    muted,
    primary_button,
    text,
    text_field,
)
from cem_clients.console.model import Console, ConsoleApi
from cem_clients.console.screens_accounting import (
    ActivitySection,
    EmissionsSection,
    InventorySection,
    LedgerSection,
    LibrarySection,
    ReportSection,
)
from cem_clients.console.screens_admin import AuditSection, UsersSection
from cem_clients.console.screens_alarms import AlarmsSection
from cem_clients.console.screens_benchmarking import GapSection, PotentialSection
from cem_clients.console.screens_carbon import CarbonSection
from cem_clients.console.screens_devices import FleetSection, PointsSection, RegistrationSection, ThresholdsSection
from cem_clients.console.screens_reporting import ReportingSection
from cem_clients.console.screens_stats import StatisticsSection
from cem_clients.ui.i18n import Locale, Translator
from cem_clients.ui.theme import Tone, apply_locale, apply_theme, type_scale

__all__ = ["SECTION_VIEWS", "ConsoleApp", "console_main"]

log = logging.getLogger("cem_clients.console")

SECTION_VIEWS: dict[str, type[Section]] = {
    "fleet": FleetSection,
    "alarms": AlarmsSection,
    "registration": RegistrationSection,
    "points": PointsSection,
    "thresholds": ThresholdsSection,
    "users": UsersSection,
    "audit": AuditSection,
    "inventory": InventorySection,
    "library": LibrarySection,
    "activity": ActivitySection,
    "ledger": LedgerSection,
    "emissions": EmissionsSection,
    "report": ReportSection,
    "reporting": ReportingSection,
    "statistics": StatisticsSection,
    "benchmarking": GapSection,
    "potential": PotentialSection,
    "carbon": CarbonSection,
}
"""The screen of each section of :data:`~cem_clients.console.model.SECTIONS`."""

ICONS: dict[str, ft.IconData] = {
    "fleet": ft.Icons.DEVICE_HUB,
    "alarms": ft.Icons.NOTIFICATIONS_ACTIVE_OUTLINED,
    "registration": ft.Icons.ADD_TO_QUEUE,
    "points": ft.Icons.SPEED,
    "thresholds": ft.Icons.TUNE,
    "users": ft.Icons.PEOPLE_OUTLINE,
    "audit": ft.Icons.HISTORY,
    "inventory": ft.Icons.FACTORY_OUTLINED,
    "library": ft.Icons.MENU_BOOK_OUTLINED,
    "activity": ft.Icons.EDIT_NOTE,
    "ledger": ft.Icons.UPLOAD_FILE,
    "emissions": ft.Icons.CO2,
    "report": ft.Icons.DESCRIPTION_OUTLINED,
    "reporting": ft.Icons.FACT_CHECK_OUTLINED,
    "statistics": ft.Icons.INSERT_CHART_OUTLINED,
    "benchmarking": ft.Icons.LEADERBOARD_OUTLINED,
    "potential": ft.Icons.TRENDING_DOWN,
    "carbon": ft.Icons.ACCOUNT_BALANCE_WALLET_OUTLINED,
}
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("console.group.devices", ("fleet", "alarms", "registration", "points", "thresholds")),
    ("console.group.admin", ("users", "audit")),
    ("console.group.accounting", ("inventory", "library", "activity", "ledger", "emissions", "report", "reporting")),
    ("console.group.analysis", ("statistics", "benchmarking", "potential", "carbon")),
)
RAIL_WIDTH = 212


class ConsoleApp:
    """One browser tab's console: the session, the section shown, and drawing."""

    def __init__(
        self,
        page: ft.Page,
        api: ConsoleApi,
        tr: Translator,
        *,
        start_section: str | None = None,
        start_options: Mapping[str, str] | None = None,
    ) -> None:
        self.page = page
        self.api = api
        self.console = Console(api)
        self.ui = Ui(page, tr, redraw=self.draw, navigate=self.show)
        self.start_section = start_section
        self.start_options = dict(start_options or {})
        self.section: Section | None = None
        self.section_name: str | None = None
        self.loading = False
        self.signed_in = False
        self.login_message = ""
        self.holder = ft.Container(expand=True)

    @property
    def tr(self) -> Translator:
        """The session's translator."""
        return self.ui.tr

    def t(self, key: str, /, **fmt: object) -> str:
        """A string in the session's language."""
        return self.tr.t(key, **fmt)

    # ---- session -------------------------------------------------------------------------------------------

    async def resume(self, refresh_token: str) -> None:
        """Open the session of a kept refresh token (the sign-in screen when it is over)."""
        self.api.use_refresh_token(refresh_token)
        if await self.console.open():
            await self._enter()
            return
        log.info("console session not resumed: %s", self.console.error)
        # The client forgets a session that is over; one it could not reach is the network's fault, not the user's.
        self.login_message = self.t("error.offline" if self.api.can_refresh else "login.session_expired")
        self.console.error = ""

    async def login(self) -> None:
        """Sign in with the form."""
        if await self.console.login():
            self.login_message = ""
            await self._enter()
        else:
            self.login_message = self.console.login_form.message or self.console.error

    async def _enter(self) -> None:
        self.signed_in = True
        sections = self.console.sections()
        first = self.start_section if self.start_section in sections else (sections[0] if sections else None)
        options, self.start_options = self.start_options, {}
        if first is not None:
            await self.show(first, options)

    async def logout(self) -> None:
        """Sign out: end the session on the platform, back to the sign-in screen."""
        self.ui.close_dialog()
        self.leave()
        await self.console.logout()
        self.signed_in, self.section, self.section_name = False, None, None
        self.console.login_form.username = ""
        self.draw()

    async def show(self, name: str, options: Mapping[str, str] | None = None) -> None:
        """Open section ``name`` (loading its data)."""
        if name not in SECTION_VIEWS or name not in self.console.sections():
            return
        self.ui.close_dialog()
        self.leave()
        section = SECTION_VIEWS[name](self.ui, self.console, options or {})
        self.section, self.section_name, self.loading = section, name, True
        self.draw()
        try:
            await section.load()
        except ClientError as err:  # the screens keep their own errors; this is the last resort
            log.warning("console section %s: %s", name, err)
        except Exception:
            log.exception("console section %s failed to load", name)
        finally:
            if self.section is section:  # not replaced by another section meanwhile
                self.loading = False
        self.draw()

    def leave(self) -> None:
        """Stop what the section shown runs in the background (live updates)."""
        if self.section is not None:
            self.section.close()

    def come_back(self) -> None:
        """Start again what :meth:`leave` stopped (the tab is back)."""
        if self.section is not None:
            self.section.resume()

    async def switch_enterprise(self, enterprise_id: int) -> None:
        """Work on another enterprise: the section is opened anew for it."""
        self.console.enterprise_id = enterprise_id
        if self.section_name is not None:
            await self.show(self.section_name)

    def switch_language(self, locale: str) -> None:
        """Show everything in ``locale`` (zh-CN or en)."""
        self.tr.set_locale(locale)
        apply_locale(self.page, locale)
        self.page.title = self.t("app.console.title")
        self.ui.refresh()

    # ---- drawing -------------------------------------------------------------------------------------------

    def draw(self) -> None:
        """Rebuild the screen from the view state."""
        try:
            with self.ui.rendering():
                self.holder.content = self.render()
        except Exception:  # a screen that cannot draw must not take the session down
            log.exception("console: drawing %s failed", self.section_name)
            self.holder.content = ft.Container(
                message(self.t("error.generic", message=self.section_name or "")), padding=24
            )
        with contextlib.suppress(RuntimeError):  # the tab went away
            self.page.update()

    def render(self) -> ft.Control:
        """The whole window."""
        if not self.signed_in:
            return self._login()
        return ft.Column(
            [
                self._header(),
                ft.Row(
                    [self._rail(), ft.VerticalDivider(width=1), self._main()],
                    spacing=0,
                    expand=True,
                    vertical_alignment=ft.CrossAxisAlignment.STRETCH,
                ),
            ],
            spacing=0,
            expand=True,
        )

    def _language_switch(self) -> ft.Control:
        current = self.tr.locale.value
        return ft.SegmentedButton(
            segments=[ft.Segment(value=lc.value, label=self.t(f"language.{lc.value}")) for lc in Locale],
            selected=[current],
            allow_empty_selection=False,
            show_selected_icon=False,
            on_change=self._language_changed,
        )

    def _language_changed(self, event: ft.Event[ft.SegmentedButton]) -> None:
        chosen = event.control.selected
        if chosen:
            self.switch_language(chosen[0])

    def _login(self) -> ft.Control:
        form = self.console.login_form
        palette = self.ui.palette
        submit = self.ui.act(self.login)
        body = ft.Column(
            [
                ft.Row(
                    [
                        ft.Icon(ft.Icons.ECO_OUTLINED, color=palette.primary, size=32),
                        text(self.t("app.console.title"), size=type_scale(KIND).title + 2, bold=True),
                    ],
                    spacing=10,
                ),
                muted(self.t("console.login.subtitle")),
                ft.Container(height=4),
                message(self.login_message, Tone.WARNING if form.needs_code else Tone.CRITICAL),
                text_field(
                    self.t("login.username"),
                    form.username,
                    lambda v: setattr(form, "username", v),
                    error=form.error("username"),
                    width=376,
                    on_submit=submit,
                    autofocus=True,
                ),
                text_field(
                    self.t("login.password"),
                    form.password,
                    lambda v: setattr(form, "password", v),
                    error=form.error("password"),
                    width=376,
                    password=True,
                    on_submit=submit,
                ),
                code_field(self.ui, form, hint_key="login.totp_hint", on_submit=submit, width=376),
                ft.Row(
                    [
                        primary_button(self.t("login.submit"), submit, icon=ft.Icons.LOGIN),
                        ft.Container(expand=True),
                        self._language_switch(),
                    ]
                ),
            ],
            spacing=14,
            tight=True,
        )
        return ft.Container(
            ft.Container(
                body,
                width=440,
                padding=32,
                bgcolor=palette.surface,
                border=ft.Border.all(1, palette.outline),
                border_radius=12,
            ),
            alignment=ft.Alignment.CENTER,
            expand=True,
        )

    def _header(self) -> ft.Control:
        palette = self.ui.palette
        me = self.console.me
        enterprises = self.console.enterprises
        enterprise: ft.Control
        if len(enterprises) > 1:
            enterprise = ft.Dropdown(
                value=str(self.console.enterprise_id),
                options=[ft.DropdownOption(key=str(e.id), text=e.name) for e in enterprises],
                dense=True,
                width=220,
                text_size=type_scale(KIND).body,
                on_select=self._enterprise_changed,
            )
        else:
            enterprise = text(self.console.enterprise.name if self.console.enterprise else "—", bold=True)
        who = ""
        if me is not None:
            who = f"{me.user} · {self.t('role.' + me.role) if me.role else me.kind}"
        return ft.Container(
            ft.Row(
                [
                    ft.Icon(ft.Icons.ECO_OUTLINED, color=palette.on_primary, size=24),
                    ft.Text(
                        self.t("app.console.title"),
                        size=type_scale(KIND).title,
                        weight=ft.FontWeight.BOLD,
                        color=palette.on_primary,
                    ),
                    ft.Container(
                        enterprise,
                        bgcolor=palette.surface,
                        border_radius=6,
                        padding=ft.Padding.symmetric(horizontal=10, vertical=4),
                    ),
                    ft.Container(expand=True),
                    ft.Icon(ft.Icons.ACCOUNT_CIRCLE_OUTLINED, color=palette.on_primary, size=20),
                    ft.Text(who, color=palette.on_primary, size=type_scale(KIND).body),
                    ft.Container(self._language_switch(), bgcolor=palette.surface, border_radius=20),
                    ft.TextButton(
                        content=ft.Text(self.t("logout"), color=palette.on_primary),
                        icon=ft.Icon(ft.Icons.LOGOUT, color=palette.on_primary, size=18),
                        on_click=self.ui.act(self.logout),
                    ),
                ],
                spacing=14,
                vertical_alignment=ft.CrossAxisAlignment.CENTER,
            ),
            bgcolor=palette.primary,
            padding=ft.Padding.symmetric(horizontal=20, vertical=8),
            height=56,
        )

    async def _enterprise_changed(self, event: ft.Event[ft.Dropdown]) -> None:
        value = event.control.value
        if value:
            await self.switch_enterprise(int(value))

    def _rail(self) -> ft.Control:
        palette = self.ui.palette
        allowed = set(self.console.sections())
        items: list[ft.Control] = []
        for group_key, names in GROUPS:
            shown = [n for n in names if n in allowed]
            if not shown:
                continue
            items.append(ft.Container(muted(self.t(group_key)), padding=ft.Padding.only(left=16, top=12, bottom=4)))
            for name in shown:
                chosen = name == self.section_name
                items.append(
                    ft.ListTile(
                        leading=ft.Icon(ICONS[name], size=20, color=palette.primary if chosen else palette.text_muted),
                        title=ft.Text(
                            self.t(f"console.section.{name}"),
                            size=type_scale(KIND).body,
                            weight=ft.FontWeight.BOLD if chosen else None,
                            color=palette.primary if chosen else palette.text,
                        ),
                        selected=chosen,
                        dense=True,
                        selected_tile_color=palette.surface_raised,
                        shape=ft.RoundedRectangleBorder(radius=8),
                        visual_density=ft.VisualDensity.COMPACT,
                        content_padding=ft.Padding.symmetric(horizontal=12),
                        on_click=self._section_handler(name),
                    )
                )
        return ft.Container(
            ft.Column(items, spacing=2, scroll=ft.ScrollMode.AUTO),
            width=RAIL_WIDTH,
            bgcolor=palette.surface,
            padding=ft.Padding.symmetric(horizontal=8, vertical=4),
        )

    def _section_handler(self, name: str) -> Callable[[], Awaitable[None]]:
        async def handler() -> None:
            await self.show(name)

        return handler

    def _main(self) -> ft.Control:
        if self.section is None:
            body: ft.Control = muted(self.t("console.no_sections"))
        elif self.loading:
            body = ft.Column(
                [
                    text(self.t(self.section.title_key), size=type_scale(KIND).title, bold=True),
                    ft.Row([ft.ProgressRing(width=20, height=20), muted(self.t("loading"))], spacing=10),
                ],
                spacing=16,
            )
        else:
            body = self.section.render()
        # The top padding is inside the scrolled column: a field in a heading floats its label above its border,
        # and the column clips at its own edge (the label of the library's edition choice was cut in half).
        return ft.Container(
            ft.Column([ft.Container(body, padding=ft.Padding.only(top=10))], scroll=ft.ScrollMode.AUTO, expand=True),
            padding=ft.Padding.only(left=20, right=20, top=12, bottom=12),
            expand=True,
        )


def console_main(
    base_url: str,
    *,
    locale: str = "zh-CN",
    session: str | None = None,
    start_section: str | None = None,
    start_options: Mapping[str, str] | None = None,
) -> Callable[[ft.Page], Awaitable[None]]:
    """The Flet ``main`` of the console on the platform at ``base_url``.

    ``session``: a refresh token to resume (no sign-in screen unless it is over); ``start_section``: the section
    to open first (when the caller may), with ``start_options`` for it (see the module's docstring).
    """

    async def main(page: ft.Page) -> None:
        apply_theme(page, KIND)
        tr = Translator(locale)
        apply_locale(page, tr.locale)
        page.title = tr.t("app.console.title")
        page.padding = 0
        api = ConsoleApi(base_url)
        app = ConsoleApp(page, api, tr, start_section=start_section, start_options=start_options)
        page.add(app.holder)

        async def on_close(_: object) -> None:
            # Not on disconnect: Flet keeps the session an hour for the tab to come back (a network blip, a
            # sleeping laptop), and the console must still work then. The platform session itself stays valid.
            app.leave()
            with contextlib.suppress(Exception):
                await api.aclose()

        async def on_disconnect(_: object) -> None:  # the tab went away: no live feed for nobody
            app.leave()

        async def on_connect(_: object) -> None:  # it came back within the hour: the live feed again
            app.come_back()

        page.on_close = on_close
        page.on_disconnect = on_disconnect
        page.on_connect = on_connect
        if session:
            app.holder.content = ft.Container(
                ft.Row([ft.ProgressRing(width=20, height=20), muted(tr.t("loading"))], spacing=10, tight=True),
                alignment=ft.Alignment.CENTER,
                expand=True,
            )
            page.update()
            await app.resume(session)
        app.draw()

    return main
