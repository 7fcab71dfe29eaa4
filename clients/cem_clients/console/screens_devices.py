"""The device admins' screens: fleet overview (with enrolment tokens and control operations), registration, the
point map and the alarm thresholds."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

import flet as ft

from cem_clients.api import Alarm, ClientError, Device, Facility, LiveFeed, Process, Site
from cem_clients.console.app_kit import (
    Cell,
    Section,
    Ui,
    card,
    checkbox,
    chip,
    code_field,
    dropdown,
    field_error,
    filter_bar,
    form_dialog,
    heading,
    message,
    muted,
    primary_button,
    secondary_button,
    section_page,
    stat,
    table,
    text,
    text_field,
    wrapped,
)
from cem_clients.console.devices import Health
from cem_clients.console.forms import text_of
from cem_clients.console.model import (
    DEVICE_TYPES,
    POINT_KINDS,
    QUANTITY_UNITS,
    REVOCATION_REASONS,
    AlarmThresholds,
    Console,
    DeviceRegistration,
    FleetOverview,
    PointMap,
    Threshold,
    available_actions,
)
from cem_clients.ui.alarm_text import describe_alarm
from cem_clients.ui.i18n import Locale
from cem_clients.ui.theme import Tone, device_state_tone

__all__ = ["FleetSection", "PointsSection", "RegistrationSection", "ThresholdsSection", "open_token_dialog"]

log = logging.getLogger("cem_clients.console")
FRESHNESS_TICK_S = 10.0  # how often the fleet's freshness is looked at when no message comes
REASONS_SHOWN = 3  # reasons of a degraded device in its row; more are counted
STATE_FILTERS = (
    "online",
    "healthy",
    "degraded",
    "offline",
    "registered",
    "enrolled",
    "active",
    "suspended",
    "revoked",
    "retired",
)


def _when(ui: Ui, moment: dt.datetime | None) -> str:
    return ui.tr.when(moment) if moment is not None else "—"


# ---- enrolment token ----------------------------------------------------------------------------------------------


def open_token_dialog(
    ui: Ui, console: Console, device: Device | str, on_close: Callable[[], Awaitable[object]] | None = None
) -> None:
    """Issue an enrolment token for ``device`` and show it with its QR code (asks for the code when needed)."""
    device_id = device if isinstance(device, str) else device.id
    shown = device_id if isinstance(device, str) else f"{device.name or device.serial} ({device.serial})"
    qr = console.enrolment(device_id)

    def body() -> ft.Control:
        form = qr.form
        token = qr.token
        parts: list[ft.Control] = [muted(shown)]
        if token is None:
            parts.append(message(form.message, Tone.WARNING if form.needs_code else Tone.CRITICAL))
            if form.needs_code:
                parts.append(
                    code_field(
                        ui, form, hint_key="login.totp_hint", on_submit=ui.act(qr.issue), width=240, autofocus=True
                    )
                )
            elif not form.message:
                parts.append(ft.Row([ft.ProgressRing(width=18, height=18), muted(ui.t("loading"))]))
            return ft.Column(parts, spacing=10, tight=True)
        png = qr.png(scale=5, border=2)
        left = qr.expires_in()
        parts.extend(
            [
                ft.Row(
                    [
                        ft.Image(src=png, width=200, height=200, fit=ft.BoxFit.CONTAIN),
                        ft.Column(
                            [
                                muted(ui.t("enrol.token")),
                                text(token.token, selectable=True, bold=True),
                                muted(ui.t("console.token.expires", time=ui.tr.when(token.expires_at))),
                                muted(ui.t("console.token.minutes_left", minutes=int(left.total_seconds() // 60)))
                                if left is not None and left.total_seconds() < 7200
                                else ft.Container(),
                                message(ui.t("console.token.once"), Tone.INFO),
                            ],
                            spacing=6,
                            expand=True,
                        ),
                    ],
                    spacing=16,
                    vertical_alignment=ft.CrossAxisAlignment.START,
                ),
            ]
        )
        if token.command:
            parts.extend([muted(ui.t("console.token.command")), text(token.command, selectable=True)])
        return ft.Column(parts, spacing=10, tight=True)

    async def close() -> None:
        ui.close_dialog()
        if on_close is not None:
            await on_close()

    def actions() -> list[ft.Control]:
        buttons: list[ft.Control] = []
        if qr.token is None and qr.form.needs_code:
            buttons.append(primary_button(ui.t("submit"), ui.act(qr.issue)))
        elif qr.token is not None:
            buttons.append(secondary_button(ui.t("console.token.new"), ui.act(qr.issue), icon=ft.Icons.REFRESH))
        buttons.append(secondary_button(ui.t("close"), ui.act(close)))
        return buttons

    async def first() -> None:  # not through ui.act: the dialog may open while another action runs
        await qr.issue()
        ui.refresh()

    ui.open_dialog(ui.t("console.token.title"), body, actions)
    ui.page.run_task(first)


# ---- control operations -------------------------------------------------------------------------------------------


def open_control_dialog(
    ui: Ui, console: Console, device: Device, action: str, after: Callable[[Device], Awaitable[object]]
) -> None:
    """Suspend, resume, revoke or retire ``device``: reason, revocation reason, authenticator code."""
    form = console.control(device.id, action)

    async def send() -> None:
        result = await form.submit(console.api)
        if result is not None:
            ui.close_dialog()
            await after(result.device)

    def body() -> ft.Control:
        parts: list[ft.Control] = [
            muted(f"{device.name or device.serial} · {device.serial} · {ui.t('device.state.' + device.state)}"),
            message(form.message, Tone.WARNING if form.needs_code else Tone.CRITICAL),
            text_field(
                ui.t("console.control.reason"),
                form.reason,
                lambda v: setattr(form, "reason", v),
                error=form.error("reason"),
                width=520,
                autofocus=True,
            ),
        ]
        if action == "revoke":
            parts.append(
                dropdown(
                    ui.t("console.control.revocation_reason"),
                    form.revocation_reason,
                    [(r, ui.t(f"console.revocation.{r}")) for r in REVOCATION_REASONS],
                    lambda v: setattr(form, "revocation_reason", v),
                    error=form.error("revocation_reason"),
                    width=320,
                )
            )
        parts.append(code_field(ui, form, on_submit=ui.act(send)))
        return ft.Column(parts, spacing=12, tight=True)

    form_dialog(
        ui,
        ui.t("console.control.title", action=ui.t(f"console.action.{action}")),
        body,
        submit=ui.t(f"console.action.{action}"),
        on_submit=send,
    )


# ---- fleet --------------------------------------------------------------------------------------------------------


class FleetSection(Section):
    """Counts by state, buffer backlogs, certificates expiring, the device list with its operations."""

    title_key = "console.section.fleet"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.fleet: FleetOverview = console.fleet(int(options.get("expiry_days", "30")))
        self.fleet.search = options.get("search", "")
        self.notice = ""
        self.live_error = ""
        self._live: list[asyncio.Task[None]] = []
        self._drawn_state = ""

    async def load(self) -> None:
        await self.fleet.refresh()
        self._follow_live()
        token_for = self.options.pop("token", "")
        if token_for and self.console.can("devices.write"):
            device = next((d for d in self.fleet.devices if d.id == token_for), None)
            open_token_dialog(self.ui, self.console, device or token_for, self.load)
        control = self.options.pop("control", "")
        if ":" in control and self.console.can("devices.control"):
            action, device_id = control.split(":", 1)
            device = next((d for d in self.fleet.devices if d.id == device_id), None)
            if device is not None and action in available_actions(device):
                open_control_dialog(self.ui, self.console, device, action, self._controlled)

    def _follow_live(self) -> None:
        """Follow the live feed (connection states, backlogs) while the fleet is shown."""
        if self._live or not self.console.can("data.read"):
            return
        feed = LiveFeed(self.console.api, points=[])  # status and alarm events; no point values

        async def follow() -> None:
            try:
                async with feed:
                    await self.fleet.follow(feed, self._changed)
            except ClientError as err:  # the session ended, or live updates are refused
                log.info("console fleet: live updates stopped: %s", err)
                self.live_error = str(err)
                self._changed()

        async def tick() -> None:  # staleness shows without a message
            while True:
                await asyncio.sleep(FRESHNESS_TICK_S)
                if self.fleet.live_status().state != self._drawn_state:
                    self._changed()

        self._live = [asyncio.create_task(follow()), asyncio.create_task(tick())]

    def _changed(self) -> None:
        self._drawn_state = self.fleet.live_status().state
        self.ui.redraw()  # the screen only: an open dialog keeps its fields as typed

    def close(self) -> None:
        for task in self._live:
            task.cancel()
        self._live = []

    def resume(self) -> None:
        self.live_error = ""
        self._follow_live()

    def _freshness(self) -> ft.Control:
        """Live, connecting or stale, and when the figures last changed."""
        t, tr = self.t, self.ui.tr
        status = self.fleet.live_status()
        when = status.updated or self.fleet.loaded_at
        updated = t("live.updated_at", time=tr.clock(when, seconds=True)) if when else ""
        if self.live_error or status.state == "off":
            tone, caption = Tone.NEUTRAL, t("live.offline")
        elif status.state == "connecting":
            tone, caption = Tone.WARNING, t("live.reconnecting")
        elif status.state == "stale":
            tone, caption = Tone.WARNING, t("live.stale")
        else:
            tone, caption = Tone.GOOD, t("live.online")
        return ft.Row(
            [
                ft.Icon(ft.Icons.CIRCLE, size=10, color=self.ui.palette.tone(tone)),
                text(caption, bold=True),
                muted(updated),
            ],
            spacing=6,
            tight=True,
        )

    async def _controlled(self, device: Device) -> None:
        self.notice = self.t(
            "console.control.done", device=device.name or device.serial, state=self.t(f"device.state.{device.state}")
        )
        await self.fleet.refresh()

    def render(self) -> ft.Control:
        t, fleet, counts = self.t, self.fleet, self.fleet.counts
        trailing: list[ft.Control] = [
            self._freshness(),
            secondary_button(t("refresh"), self.ui.act(self.fleet.refresh), icon=ft.Icons.REFRESH),
        ]
        if self.console.can("devices.write"):
            trailing.append(
                primary_button(
                    t("console.fleet.register"), self.ui.act(lambda: self.ui.go("registration")), icon=ft.Icons.ADD
                )
            )
        loaded = t("live.updated_at", time=self.ui.tr.clock(fleet.loaded_at)) if fleet.loaded_at else t("loading")
        stats = ft.Row(
            [
                stat(t("console.fleet.total"), str(counts.total), note=loaded),
                stat(t("console.fleet.healthy"), str(counts.healthy), tone=Tone.GOOD),
                stat(
                    t("console.fleet.degraded"),
                    str(counts.degraded),
                    tone=Tone.WARNING if counts.degraded else None,
                    note=t("console.fleet.degraded_note"),
                ),
                stat(t("device.offline"), str(counts.offline), tone=Tone.CRITICAL if counts.offline else None),
                stat(
                    t("device.state.suspended"), str(counts.suspended), tone=Tone.WARNING if counts.suspended else None
                ),
                stat(t("console.fleet.not_enrolled"), str(counts.not_enrolled)),
                stat(
                    t("console.fleet.backlog"),
                    self.ui.tr.number(fleet.total_backlog),
                    tone=Tone.WARNING if fleet.total_backlog else None,
                    note=t("console.fleet.backlog_gateways", count=len(fleet.backlogs)),
                ),
                stat(
                    t("console.fleet.expiring"),
                    str(len(fleet.expiring)),
                    tone=Tone.WARNING if fleet.expiring else None,
                    note=t("console.fleet.within_days", days=fleet.expiry_days),
                ),
            ],
            spacing=12,
        )
        return section_page(
            t("console.section.fleet"),
            [
                stats,
                ft.Row(
                    [
                        ft.Container(self._devices(), expand=True),
                        ft.Column([self._backlogs(), self._expiring()], spacing=12, width=300),
                    ],
                    spacing=12,
                    vertical_alignment=ft.CrossAxisAlignment.START,
                ),
            ],
            trailing=trailing,
            error=fleet.error,
            notice=self.notice,
        )

    def _devices(self) -> ft.Control:
        t, fleet = self.t, self.fleet

        def search(value: str) -> None:
            fleet.search = value

        def state(value: str) -> None:
            fleet.state = value or None
            self.ui.refresh()

        filters = filter_bar(
            [
                text_field(
                    t("console.fleet.search"), fleet.search, search, width=280, on_submit=lambda: self.ui.refresh()
                ),
                dropdown(
                    t("console.col.state"),
                    fleet.state or "",
                    [("", t("console.all"))] + [(s, self._state_text(s)) for s in STATE_FILTERS],
                    state,
                    width=180,
                ),
            ],
            lambda: self.ui.refresh(),
            self.ui,
        )
        columns = [
            (t("console.col.device"), False),
            (t("console.col.type"), False),
            (t("console.col.state"), False),
            (t("console.col.connection"), False),
            (t("console.col.last_seen"), False),
            (t("console.col.certificate"), False),
            (t("console.col.buffer"), True),
            ("", False),
        ]
        rows: list[list[Cell]] = []
        for device in fleet.visible():
            expires = device.certificate_expires_at
            rows.append(
                [
                    ft.Column(
                        [text(device.name or device.serial, bold=True), muted(device.serial)], spacing=0, tight=True
                    )
                    if device.name
                    else device.serial,
                    t(f"device.type.{device.type}") if device.type in DEVICE_TYPES else device.type,
                    chip(t(f"device.state.{device.state}"), device_state_tone(device.state)),
                    self._connection(device),
                    _when(self.ui, device.last_seen_at),
                    self.ui.tr.day(expires) if expires else "—",
                    self.ui.tr.number(device.buffer_depth) if device.buffer_depth is not None else "—",
                    self._menu(device),
                ]
            )
        shown = t("console.fleet.shown", shown=len(rows), total=len(fleet.devices))
        return card(
            [filters, table(columns, rows, empty=t("console.fleet.empty"))],
            title=t("console.fleet.devices"),
            trailing=[muted(shown)],
        )

    def _state_text(self, state: str) -> str:
        if state in ("healthy", "degraded"):
            return self.t(f"console.fleet.{state}")
        return self.t(f"device.{state}") if state in ("online", "offline") else self.t(f"device.state.{state}")

    def _connection(self, device: Device) -> ft.Control:
        palette = self.ui.palette
        if device.state not in ("enrolled", "active"):
            return muted("—")
        health = self.fleet.health_of(device)
        tone = {"healthy": Tone.GOOD, "degraded": Tone.WARNING}.get(health, Tone.CRITICAL)
        caption = self.t("device.offline") if health == "offline" else self.t(f"console.fleet.{health}")
        state = ft.Row(
            [ft.Icon(ft.Icons.CIRCLE, size=10, color=palette.tone(tone)), text(caption)], spacing=6, tight=True
        )
        reasons = self._reasons(self.fleet.health.get(device.id))
        if not reasons:
            return state
        return ft.Column(
            [state, *(wrapped(r, 220, color=palette.tone(Tone.WARNING)) for r in reasons)], spacing=2, tight=True
        )

    def _plc(self, alarm: Alarm) -> str:
        """The PLC of a communication alarm by its plant name, as the alarm texts call it ("" when unnamed)."""
        english = self.ui.tr.locale is Locale.EN
        names = alarm.names

        def name(key: str) -> str:
            return (names.get(f"{key}_en", "") if english else "") or names.get(key, "")

        process = name("process")
        return self.t("alarm.text.plc_of", process=process) if process else name("connection")

    def _reasons(self, health: Health | None) -> list[str]:
        """Why a device is degraded, in plant words: each connection down (since when), then its open alarms."""
        if health is None or not health.degraded:
            return []
        t, tr = self.t, self.ui.tr
        reasons: list[str] = []
        told: set[int] = set()
        for down in health.connections_down:
            name = ""
            if down.alarm is not None:
                told.add(down.alarm.id)
                name = self._plc(down.alarm)
            name = name or t("console.fleet.a_connection")
            if down.since is not None:
                reasons.append(t("console.fleet.connection_down_since", connection=name, time=tr.when(down.since)))
            else:
                reasons.append(t("console.fleet.connection_down", connection=name))
        for alarm in health.alarms:
            if alarm.id in told:
                continue
            words = describe_alarm(alarm, tr)
            reasons.append(
                t(
                    "console.fleet.open_alarm",
                    severity=t(f"alarm.severity.{alarm.severity}"),
                    alarm=words.title,
                    time=words.raised_at,
                )
            )
        if len(reasons) > REASONS_SHOWN:
            more = len(reasons) - REASONS_SHOWN + 1
            reasons = [*reasons[: REASONS_SHOWN - 1], t("console.fleet.more_reasons", count=more)]
        return reasons

    def _menu(self, device: Device) -> ft.Control:
        items: list[ft.PopupMenuItem] = []
        if self.console.can("devices.write") and device.state not in ("revoked", "retired"):
            items.append(
                ft.PopupMenuItem(
                    content=self.t("console.token.issue"),
                    icon=ft.Icons.QR_CODE_2,
                    on_click=lambda: open_token_dialog(self.ui, self.console, device, self.fleet.refresh),
                )
            )
        if self.console.can("devices.control"):
            for action in available_actions(device):
                items.append(
                    ft.PopupMenuItem(
                        content=self.t(f"console.action.{action}"),
                        icon={
                            "suspend": ft.Icons.PAUSE_CIRCLE_OUTLINE,
                            "resume": ft.Icons.PLAY_CIRCLE_OUTLINE,
                            "revoke": ft.Icons.BLOCK,
                            "retire": ft.Icons.ARCHIVE_OUTLINED,
                        }[action],
                        on_click=self._control_handler(device, action),
                    )
                )
        if not items:
            return ft.Container()
        return ft.PopupMenuButton(items=items, icon=ft.Icons.MORE_HORIZ, tooltip=self.t("console.col.actions"))

    def _control_handler(self, device: Device, action: str) -> Callable[[], None]:
        def handler() -> None:
            open_control_dialog(self.ui, self.console, device, action, self._controlled)

        return handler

    def _backlogs(self) -> ft.Control:
        t = self.t
        rows: list[ft.Control] = [
            ft.Row(
                [
                    ft.Icon(
                        ft.Icons.CIRCLE, size=10, color=self.ui.palette.tone(Tone.GOOD if b.online else Tone.CRITICAL)
                    ),
                    text(b.name, expand=True),
                    text(self.ui.tr.number(b.depth), bold=True),
                ],
                spacing=8,
            )
            for b in self.fleet.backlogs[:8]
        ]
        return card(rows or [muted(t("console.fleet.no_backlog"))], title=t("console.fleet.backlog"))

    def _expiring(self) -> ft.Control:
        t = self.t
        rows: list[ft.Control] = []
        for c in self.fleet.expiring[:8]:
            tone = Tone.CRITICAL if c.days_left < 7 else Tone.WARNING
            rows.append(
                ft.Row(
                    [
                        ft.Column([text(c.name), muted(c.serial)], spacing=0, expand=True, tight=True),
                        chip(t("console.fleet.days_left", days=c.days_left), tone),
                    ],
                    spacing=8,
                )
            )
        return card(rows or [muted(t("console.fleet.no_expiring"))], title=t("console.fleet.expiring"))


# ---- registration -------------------------------------------------------------------------------------------------


class RegistrationSection(Section):
    """Register a terminal by its serial and place it; then issue its enrolment token."""

    title_key = "console.section.registration"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.screen: DeviceRegistration = console.registration()

    async def load(self) -> None:
        await self.screen.load_choices()

    def render(self) -> ft.Control:
        t, screen, form = self.t, self.screen, self.screen.form
        none = [("", t("console.none_selected"))]

        def choose(level: str) -> Callable[[str], None]:
            def handler(value: str) -> None:
                chosen = int(value) if value else None
                order = ("enterprise_id", "site_id", "process_id", "facility_id")
                setattr(form, level, chosen)
                for later in order[order.index(level) + 1 :]:
                    setattr(form, later, None)
                self.ui.refresh()

            return handler

        placement: list[ft.Control] = [
            dropdown(
                t("console.reg.enterprise"),
                str(form.enterprise_id or ""),
                [(str(e.id), e.name) for e in screen.enterprises],
                choose("enterprise_id"),
                error=form.error("placement"),
            ),
        ]
        # each level below the enterprise offers the children of the one chosen above it
        below: tuple[tuple[str, int | None, Callable[[int], Sequence[Site | Process | Facility]]], ...] = (
            ("site", form.enterprise_id, screen.sites_of),
            ("process", form.site_id, screen.processes_of),
            ("facility", form.process_id, screen.facilities_of),
        )
        for level, parent, children in below:
            if parent is not None:
                placement.append(
                    dropdown(
                        t(f"console.reg.{level}"),
                        str(getattr(form, f"{level}_id") or ""),
                        none + [(str(c.id), c.name) for c in children(parent)],
                        choose(f"{level}_id"),
                    )
                )

        fields = ft.Column(
            [
                message(screen.error or form.message),
                ft.Row(
                    [
                        text_field(
                            t("console.reg.serial"),
                            form.serial,
                            lambda v: setattr(form, "serial", v),
                            error=form.error("serial"),
                            width=280,
                            autofocus=True,
                        ),
                        dropdown(
                            t("console.col.type"),
                            form.device_type,
                            [(d, t(f"device.type.{d}")) for d in DEVICE_TYPES],
                            lambda v: setattr(form, "device_type", v),
                            error=form.error("device_type"),
                        ),
                    ],
                    spacing=12,
                ),
                ft.Row(
                    [
                        text_field(
                            t("console.col.name"),
                            form.name,
                            lambda v: setattr(form, "name", v),
                            error=form.error("name"),
                            width=280,
                        ),
                        text_field(
                            t("console.reg.model"),
                            form.model,
                            lambda v: setattr(form, "model", v),
                            error=form.error("model"),
                        ),
                        text_field(
                            t("console.reg.firmware"),
                            form.firmware,
                            lambda v: setattr(form, "firmware", v),
                            error=form.error("firmware"),
                            width=160,
                        ),
                    ],
                    spacing=12,
                ),
                muted(t("console.reg.placement")),
                ft.Row(placement, spacing=12, wrap=True),
                ft.Row([primary_button(t("console.fleet.register"), self.ui.act(screen.submit), icon=ft.Icons.ADD)]),
            ],
            spacing=12,
        )
        body: list[ft.Control] = [heading(t("console.section.registration")), card([fields], width=900)]
        registered = screen.registered
        if registered is not None:
            next_steps: list[ft.Control] = [
                text(t("console.reg.done", serial=registered.serial, id=registered.id), bold=True),
                muted(t("console.reg.next")),
            ]
            next_steps.append(
                ft.Row(
                    [
                        primary_button(
                            t("console.token.issue"),
                            lambda: open_token_dialog(self.ui, self.console, registered),
                            icon=ft.Icons.QR_CODE_2,
                        ),
                        secondary_button(t("console.section.fleet"), self.ui.act(lambda: self.ui.go("fleet"))),
                    ],
                    spacing=8,
                )
            )
            body.append(card(next_steps, width=900))
        return ft.Column(body, spacing=12)


# ---- point map ----------------------------------------------------------------------------------------------------


class PointsSection(Section):
    """The measurement points of a facility, their units and meters; add or change one."""

    title_key = "console.section.points"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.points: PointMap = console.points()

    async def load(self) -> None:
        await self.points.refresh()

    def render(self) -> ft.Control:
        t, points = self.t, self.points
        can_write = self.console.can("points.write")
        trailing: list[ft.Control] = [
            dropdown(
                t("console.points.facility"),
                str(points.facility_id or ""),
                [(str(e.facility.id), e.label) for e in points.facilities],
                lambda v: points.select(int(v)) if v else None,
                width=280,
            ),
            secondary_button(t("refresh"), self.ui.act(points.refresh), icon=ft.Icons.REFRESH),
        ]
        if can_write and points.facility_id is not None:
            trailing.append(primary_button(t("console.points.add"), lambda: self._edit(None), icon=ft.Icons.ADD))
        columns = [
            (t("console.col.code"), False),
            (t("console.col.name"), False),
            (t("console.col.medium"), False),
            (t("console.col.quantity"), False),
            (t("console.col.unit"), False),
            (t("console.col.kind"), False),
            (t("console.col.meter"), False),
            (t("console.col.accuracy"), False),
            (t("console.col.calibration_due"), False),
            (t("console.col.active"), False),
            ("", False),
        ]
        rows: list[list[Cell]] = []
        for p in points.points:
            due = p.calibration_due.isoformat() if p.calibration_due else "—"
            rows.append(
                [
                    p.code,
                    p.name,
                    p.medium,
                    t(f"console.quantity.{p.quantity}"),
                    p.unit,
                    t(f"console.point_kind.{p.kind}"),
                    " · ".join(x for x in (p.meter_model, p.meter_serial) if x) or "—",
                    p.accuracy_class or "—",
                    chip(due, Tone.CRITICAL) if p.calibration_overdue else due,
                    t("console.yes") if p.active else t("console.no"),
                    ft.IconButton(
                        ft.Icons.EDIT_OUTLINED, tooltip=t("edit"), on_click=self._edit_handler(p.id), icon_size=18
                    )
                    if can_write
                    else ft.Container(),
                ]
            )
        overdue = points.overdue
        facility = points.facility
        return section_page(
            t("console.section.points"),
            [
                message(t("console.points.overdue", count=len(overdue)) if overdue else "", Tone.WARNING),
                card(
                    [table(columns, rows, empty=t("console.points.empty"))],
                    title=facility.label if facility else t("console.points.no_facility"),
                ),
            ],
            trailing=trailing,
            error=points.error,
        )

    def _edit_handler(self, point_id: int) -> Callable[[], None]:
        return lambda: self._edit(point_id)

    def _edit(self, point_id: int | None) -> None:
        ui, t, points = self.ui, self.t, self.points
        form = points.new_point() if point_id is None else points.edit(point_id)

        async def save() -> None:
            if await points.save() is not None:
                ui.close_dialog()

        def quantity(value: str) -> None:
            form.quantity = value
            units = form.units()
            if form.unit not in units and units:
                form.unit = units[0]
            ui.refresh()

        def body() -> ft.Control:
            def f(name: str, caption: str, width: int = 240) -> ft.Control:
                return text_field(
                    caption,
                    str(getattr(form, name) or ""),
                    lambda v: setattr(form, name, v),
                    error=form.error(name),
                    width=width,
                )

            return ft.Column(
                [
                    message(form.message),
                    field_error(form.error("facility_id")),
                    ft.Row([f("code", t("console.col.code")), f("name", t("console.col.name"), 280)], wrap=True),
                    ft.Row(
                        [
                            f("medium", t("console.col.medium"), 160),
                            dropdown(
                                t("console.col.quantity"),
                                form.quantity,
                                [(q, t(f"console.quantity.{q}")) for q in QUANTITY_UNITS],
                                quantity,
                                error=form.error("quantity"),
                                width=160,
                            ),
                            dropdown(
                                t("console.col.unit"),
                                form.unit,
                                [(u, u) for u in form.units()],
                                lambda v: setattr(form, "unit", v),
                                error=form.error("unit"),
                                width=120,
                            ),
                            dropdown(
                                t("console.col.kind"),
                                form.kind,
                                [(k, t(f"console.point_kind.{k}")) for k in POINT_KINDS],
                                lambda v: setattr(form, "kind", v),
                                error=form.error("kind"),
                                width=140,
                            ),
                        ],
                        wrap=True,
                    ),
                    ft.Row(
                        [
                            f("meter_model", t("console.points.meter_model"), 200),
                            f("meter_serial", t("console.points.meter_serial"), 200),
                            f("accuracy_class", t("console.col.accuracy"), 140),
                        ],
                        wrap=True,
                    ),
                    ft.Row(
                        [
                            f("calibrated_on", t("console.points.calibrated_on"), 200),
                            f("calibration_due", t("console.col.calibration_due"), 200),
                            checkbox(t("console.col.active"), form.active, lambda v: setattr(form, "active", v)),
                        ],
                        wrap=True,
                    ),
                ],
                spacing=10,
                tight=True,
            )

        title = t("console.points.add") if point_id is None else t("console.points.edit", code=form.code)
        form_dialog(
            ui,
            title,
            body,
            submit=t("save"),
            on_submit=save,
            on_cancel=lambda: setattr(points, "form", None),
            width=720,
        )


# ---- alarm thresholds ---------------------------------------------------------------------------------------------


class ThresholdsSection(Section):
    """The alarm thresholds with their defaults and bounds; a change is audited and needs the code."""

    title_key = "console.section.thresholds"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.thresholds: AlarmThresholds = console.thresholds()
        self.notice = ""

    async def load(self) -> None:
        await self.thresholds.refresh()

    def render(self) -> ft.Control:
        t, items = self.t, self.thresholds.items
        can_write = self.console.can("alarms.configure")
        zh = self.ui.tr.locale.value == "zh-CN"
        columns = [
            (t("console.col.parameter"), False),
            (t("console.col.description"), False),
            (t("console.col.value"), True),
            (t("console.col.default"), True),
            (t("console.col.range"), False),
            (t("console.col.changed_by"), False),
            ("", False),
        ]
        rows: list[list[Cell]] = []
        for item in items:
            value: ft.Control | str = (
                ft.Text(item.value_text, weight=ft.FontWeight.BOLD, color=self.ui.palette.tone(Tone.INFO))
                if item.changed
                else item.value_text
            )
            changed = f"{item.updated_by} · {_when(self.ui, item.updated_at)}" if item.updated_by else "—"
            rows.append(
                [
                    item.key.removeprefix("alarm."),
                    wrapped((item.description_zh if zh else item.description) or item.description, 460),
                    value,
                    text_of(item.default),
                    item.range_text or "—",
                    changed,
                    ft.IconButton(
                        ft.Icons.EDIT_OUTLINED, tooltip=t("edit"), icon_size=18, on_click=self._edit_handler(item)
                    )
                    if can_write
                    else ft.Container(),
                ]
            )
        return section_page(
            t("console.section.thresholds"),
            [card([table(columns, rows, empty=t("empty"))])],
            trailing=[secondary_button(t("refresh"), self.ui.act(self.thresholds.refresh), icon=ft.Icons.REFRESH)],
            error=self.thresholds.error,
            notice=self.notice,
        )

    def _edit_handler(self, item: Threshold) -> Callable[[], None]:
        return lambda: self._edit(item)

    def _edit(self, item: Threshold) -> None:
        ui, t, thresholds = self.ui, self.t, self.thresholds
        form = thresholds.edit(item.key)

        async def save() -> None:
            changed = await thresholds.save()
            if changed is not None:
                self.notice = t("console.thresholds.saved", key=changed.key, value=str(changed.value))
                ui.close_dialog()

        def body() -> ft.Control:
            if item.choices:
                value: ft.Control = dropdown(
                    t("console.thresholds.new_value"),
                    form.text,
                    [(c, c) for c in item.choices],
                    lambda v: setattr(form, "text", v),
                    error=form.error("text"),
                )
            else:
                value = text_field(
                    t("console.thresholds.new_value"),
                    form.text,
                    lambda v: setattr(form, "text", v),
                    error=form.error("text"),
                    on_submit=ui.act(save),
                    autofocus=True,
                )
            return ft.Column(
                [
                    muted(item.description_zh if ui.tr.locale.value == "zh-CN" else item.description),
                    muted(t("console.thresholds.bounds", default=text_of(item.default), range=item.range_text or "—")),
                    message(form.message, Tone.WARNING if form.needs_code else Tone.CRITICAL),
                    value,
                    code_field(ui, form),
                ],
                spacing=10,
                tight=True,
            )

        form_dialog(
            ui,
            t("console.thresholds.edit", key=item.key),
            body,
            submit=t("save"),
            on_submit=save,
            on_cancel=lambda: setattr(thresholds, "form", None),
        )
