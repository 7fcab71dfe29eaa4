"""The mobile app's screens, built from small functions of the view state (:class:`~cem_clients.mobile.MobileApp`)
and what only the UI keeps (:class:`UiState`): which tab, a severity filter, note drafts, the last outcome.

Every function takes a :class:`View` (the app, the translator, the UI state, and how to run an action) and returns
controls; :mod:`cem_clients.mobile.app` puts them on the page. A screen is rebuilt after every action the user
takes; the periodic work (flushing the outbox, reloading lists) rebuilds only screens without text fields, so that
nothing being typed loses its focus.

Sizes are for a phone held in a glove: buttons and list rows at least 52 px high, body text 16 px.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import flet as ft
import msgspec
import segno

from cem_clients.api import Alarm, Device
from cem_clients.mobile.context import LinkState, Outcome, OutcomeStatus
from cem_clients.mobile.devices import DeviceDetail, DeviceRow
from cem_clients.mobile.enrolment import EnrolmentStep
from cem_clients.mobile.live import LiveState
from cem_clients.mobile.model import MobileApp, Tab
from cem_clients.mobile.outbox import READING, OutboxItem
from cem_clients.mobile.readings import PeriodKind
from cem_clients.mobile.validation import FIELD_INPUT, FIELD_NOTE, FIELD_PERIOD, FIELD_UNIT, FIELD_VALUE
from cem_clients.ui import accounting_text as acc
from cem_clients.ui.alarm_text import describe_alarm
from cem_clients.ui.i18n import Translator
from cem_clients.ui.theme import (
    AppKind,
    Palette,
    Tone,
    alarm_tone,
    connection_tone,
    device_state_tone,
    palette_for,
    severity_tone,
    type_scale,
)

__all__ = [
    "Handler",
    "Notice",
    "PALETTE",
    "SCALE",
    "Step",
    "TAB_ICONS",
    "TAB_TITLES",
    "UiState",
    "View",
    "alarm_detail",
    "alarm_inbox",
    "button",
    "device_detail",
    "device_list",
    "device_rows",
    "enrolment",
    "error_text",
    "live_mark",
    "offline_banner",
    "outbox_screen",
    "readings",
    "redraw_passive",
    "say",
    "screen",
    "text",
    "text_field",
]

KIND: Final = AppKind.MOBILE
PALETTE: Final = palette_for(KIND)
SCALE: Final = type_scale(KIND)
TOUCH: Final = 52  # the least height of anything to tap
QR_SIZE: Final = 288  # about the side of an enrolment QR code on the screen
GAP: Final = 12

TAB_TITLES: Final = {
    Tab.ALARMS: "alarms",
    Tab.DEVICES: "devices",
    Tab.READINGS: "mobile.tab.readings",
    Tab.ENROLMENT: "enrol_terminal",
}
TAB_ICONS: Final = {
    Tab.ALARMS: (ft.Icons.NOTIFICATIONS_OUTLINED, ft.Icons.NOTIFICATIONS),
    Tab.DEVICES: (ft.Icons.ROUTER_OUTLINED, ft.Icons.ROUTER),
    Tab.READINGS: (ft.Icons.EDIT_NOTE_OUTLINED, ft.Icons.EDIT_NOTE),
    Tab.ENROLMENT: (ft.Icons.QR_CODE_2_OUTLINED, ft.Icons.QR_CODE_2),
}

# What the view models say on the phone (in English) and the string keys that say it in the user's language.
# Anything else -- above all the platform's own messages -- is shown as it came.
_MESSAGES: Final = {
    "Enter your username.": "mobile.msg.username",
    "Enter your password.": "mobile.msg.password",
    "Correct the marked fields.": "mobile.msg.correct_fields",
    "Enter the 6-digit code from your authenticator app.": "mobile.msg.totp",
    "Your role needs an authenticator app: set it up in the web console.": "mobile.msg.totp_setup",
    "Choose the source and input.": "mobile.msg.choose_input",
    "Enter the value.": "mobile.msg.value",
    "Choose a unit.": "mobile.msg.unit",
    "Give the month as YYYY-MM, e.g. 2025-06.": "mobile.msg.month",
    "Give the first and the last day as YYYY-MM-DD.": "mobile.msg.days",
    "The last day comes before the first.": "mobile.msg.days_order",
    "Write what was done, or why the alarm no longer applies: clearing an alarm needs a note.": "mobile.msg.clear_note",
    "Scan or type the serial number on the terminal's nameplate.": "mobile.msg.serial",
    "Choose the site where the terminal is installed.": "mobile.msg.place",
    "No enterprise within your scope.": "mobile.msg.no_enterprise",
    "This enterprise has no inputs entered by hand.": "mobile.msg.no_inputs",
    "Log in first.": "mobile.msg.login_first",
    "Your kept login has ended; log in again.": "mobile.msg.kept_ended",
    "No QR code found in the picture: take it again, closer and in focus, or type the serial.": "mobile.msg.no_qr",
    "The picture is empty.": "mobile.msg.picture_unreadable",
    "This is not a picture that can be read (take a photo, or choose a PNG or JPEG).": "mobile.msg.picture_unreadable",
    "Write the number without thousands separators, with a point for decimals: 12000.5": "mobile.msg.separators",
    "The value cannot be negative (only fuel consumption may be: gas or tar sold outside).": "mobile.msg.negative",
    "At most 10 digits after the point.": "mobile.msg.fraction_digits",
    "The value has more than 18 digits before the point: check the unit.": "mobile.msg.integer_digits",
    "A serial number has only letters, digits and signs such as - _ . /, without spaces.": "mobile.msg.serial_chars",
}


# The phone's messages with something filled in (what was typed, the platform's or the network's words).
_PATTERNS: Final = (
    (re.compile(r"Cannot log in without a connection to the platform: (?P<reason>.+)", re.S),
     "mobile.msg.login_offline"),
    (re.compile(r"Enrolling a terminal needs a connection to the platform: (?P<reason>.+)", re.S),
     "mobile.msg.enrol_offline"),
    (re.compile(r"Your session has ended; log in again\. \((?P<reason>.*)\)", re.S), "login.session_expired"),
    (re.compile(r"(?P<text>.+) is not a number; write it like 12000\.5"), "mobile.msg.not_a_number"),
    (re.compile(r"(?P<unit>.+) does not convert to (?P<stored>.+); choose one of (?P<allowed>.+)\."),
     "mobile.msg.unit_converts"),
    (re.compile(r"The note is too long \((?P<count>\d+) characters; at most (?P<limit>\d+)\)\."),
     "mobile.msg.note_too_long"),
)  # fmt: skip


def say(tr: Translator, text: str) -> str:
    """A message of the view models in the user's language when it is one of the phone's own, else as it came."""
    key = _MESSAGES.get(text)
    if key:
        return tr.t(key)
    for pattern, key in _PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            return tr.t(key, **found.groupdict())
    return text


# ---- state ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """What became of the user's last action, shown on the screen where it was taken."""

    text: str
    tone: Tone
    where: str  # the screen: "alarm:12", "readings", "enrolment", "outbox"


@dataclass
class UiState:
    """What only the UI keeps: the tab, the inbox filter, drafts of alarm notes, the last outcome."""

    tab: Tab | None = None
    outbox_open: bool = False  # the outbox's list shown over the tabs
    severity: str | None = None  # inbox filter; None: every severity
    notes: dict[int, str] = field(default_factory=dict)  # note drafts per alarm: kept across screens
    technical: set[int] = field(default_factory=set)  # alarms whose technical detail is open
    note_errors: dict[int, str] = field(default_factory=dict)
    notice: Notice | None = None
    busy: bool = False  # an action is on its way: buttons wait
    username: str = ""
    password: str = ""
    totp: str = ""
    enrol_totp: str = ""
    device_rows: ft.Column | None = None  # the device list's rows as shown (refilled without touching the search)
    refresh_s: float = 30.0  # how often lists are reloaded (said while the live feed is down)

    def notice_for(self, where: str) -> Notice | None:
        """The notice when it belongs to this screen."""
        return self.notice if self.notice is not None and self.notice.where == where else None


Step = Callable[[], Awaitable[object]]
Handler = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class View:
    """What a screen function needs: the app's state, the strings, and how to run an action."""

    app: MobileApp
    tr: Translator
    state: UiState
    act: Callable[[Step], Handler]  # a handler that runs the step (buttons wait), then redraws
    redraw: Callable[[], None]
    spawn: Callable[[Handler], None]  # run a handler from a callback that cannot await
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    palette: Palette = PALETTE
    pick_image: ft.ClientAction | None = None  # opens the phone's camera or photos (the enrolment's scan)

    def t(self, key: str, /, **fmt: object) -> str:
        """A string of the tables."""
        return self.tr.t(key, **fmt)


# ---- building blocks --------------------------------------------------------------------------------------------


def text(value: str, *, size: int = SCALE.body, muted: bool = False, bold: bool = False, tone: Tone | None = None,
         selectable: bool = False) -> ft.Text:  # fmt: skip
    """A text of the mobile type scale."""
    colour = PALETTE.tone(tone) if tone is not None else PALETTE.text_muted if muted else PALETTE.text
    return ft.Text(
        value,
        size=size,
        color=colour,
        weight=ft.FontWeight.BOLD if bold else ft.FontWeight.NORMAL,
        selectable=selectable or None,
    )


def copyable(label: str, value: str, *, multiline: bool = False, bold: bool = False) -> ft.TextField:
    """A text to copy (a token, a command): a read-only field, which a long press selects."""
    return ft.TextField(
        label=label,
        value=value,
        read_only=True,
        multiline=multiline,
        min_lines=1,
        max_lines=6 if multiline else 1,
        text_size=SCALE.body + 1,
        text_style=ft.TextStyle(weight=ft.FontWeight.BOLD if bold else ft.FontWeight.NORMAL),
        border=ft.OutlineInputBorder(border_radius=10),
        filled=True,
        bgcolor=PALETTE.surface_raised,
    )


def qr_image(payload: str, svg: str, label: str) -> ft.Control:
    """A QR code of ``payload`` drawn as a PNG with whole pixels per module (crisp, scannable from the screen);
    the platform's SVG when the payload does not fit a QR code."""
    try:
        code = segno.make(payload, error="m")
    except ValueError:  # segno's DataOverflowError is a ValueError
        return ft.Image(src=svg, width=QR_SIZE, height=QR_SIZE, fit=ft.BoxFit.CONTAIN, semantics_label=label)
    modules = int(code.symbol_size(scale=1, border=2)[0])
    pixels = max(3, QR_SIZE // modules)  # logical pixels per module
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=pixels * 3, border=2)  # drawn at 3x for sharp phone screens
    side = modules * pixels
    return ft.Image(src=buffer.getvalue(), width=side, height=side, fit=ft.BoxFit.CONTAIN, semantics_label=label,
                    filter_quality=ft.FilterQuality.MEDIUM)  # fmt: skip


def heading(value: str) -> ft.Text:
    """A screen's or a section's title."""
    return text(value, size=SCALE.title, bold=True)


def chip(value: str, tone: Tone, *, filled: bool = True) -> ft.Container:
    """A short word on a tone: a severity, a state, a health."""
    return ft.Container(
        ft.Text(
            value,
            size=SCALE.label + 1,
            color=PALETTE.on_tone(tone) if filled else PALETTE.tone(tone),
            weight=ft.FontWeight.BOLD,
        ),  # fmt: skip
        bgcolor=PALETTE.tone(tone) if filled else None,
        border=None if filled else ft.Border.all(1.5, PALETTE.tone(tone)),
        padding=ft.Padding.symmetric(horizontal=10, vertical=4),
        border_radius=6,
    )


def card(controls: Sequence[ft.Control], *, on_click: Handler | None = None, tone: Tone | None = None) -> ft.Container:
    """A card of the list; tappable when ``on_click`` is given. A ``tone`` colours its left edge (a severity at a
    glance)."""
    edge = ft.BorderSide(1, PALETTE.outline)
    return ft.Container(
        ft.Column(list(controls), spacing=6, tight=True),
        bgcolor=PALETTE.surface,
        border=ft.Border(
            left=ft.BorderSide(6, PALETTE.tone(tone)) if tone else edge, top=edge, right=edge, bottom=edge
        ),  # fmt: skip
        border_radius=12,
        padding=16,
        on_click=on_click,
        ink=on_click is not None,
    )


def fact(label: str, value: str, *, tone: Tone | None = None) -> ft.Row:
    """A labelled value of a detail screen."""
    return ft.Row(
        [ft.Container(text(label, muted=True), width=110), ft.Container(text(value, tone=tone), expand=True)],
        vertical_alignment=ft.CrossAxisAlignment.START,
        spacing=8,
    )


def button(label: str, on_click: Handler | None, *, icon: ft.IconData | None = None, primary: bool = True,
           tone: Tone | None = None, busy: bool = False) -> ft.Control:  # fmt: skip
    """A full-width button a touch target high; disabled while an action is on its way."""
    style = ft.ButtonStyle(
        shape=ft.RoundedRectangleBorder(radius=10),
        text_style=ft.TextStyle(size=SCALE.body + 1, weight=ft.FontWeight.BOLD),
        bgcolor=PALETTE.tone(tone) if tone is not None and primary else None,
        color=PALETTE.on_tone(tone) if tone is not None and primary else None,
        side=ft.BorderSide(1.5, PALETTE.tone(tone) if tone else PALETTE.primary) if not primary else None,
    )
    kind = ft.FilledButton if primary else ft.OutlinedButton
    return kind(label, icon=icon, on_click=on_click, height=TOUCH, style=style, disabled=busy or on_click is None,
                expand=True)  # fmt: skip


def buttons(*controls: ft.Control) -> ft.Row:
    """Buttons side by side, sharing the width."""
    return ft.Row(list(controls), spacing=GAP)


def notice_bar(notice: Notice | None) -> ft.Control:
    """The outcome of the last action (sent, saved on the phone, refused)."""
    if notice is None:
        return ft.Container()
    icon = {Tone.GOOD: ft.Icons.CHECK_CIRCLE, Tone.CRITICAL: ft.Icons.ERROR, Tone.WARNING: ft.Icons.SCHEDULE}.get(
        notice.tone, ft.Icons.INFO
    )
    return ft.Container(
        ft.Row(
            [
                ft.Icon(icon, color=PALETTE.tone(notice.tone), size=22),
                ft.Container(text(notice.text, tone=notice.tone), expand=True),
            ],
            vertical_alignment=ft.CrossAxisAlignment.START,
        ),  # fmt: skip
        bgcolor=PALETTE.surface_raised,
        border=ft.Border.all(1, PALETTE.tone(notice.tone)),
        border_radius=10,
        padding=12,
    )


def error_text(message: str) -> ft.Control:
    """A problem with a whole screen or form."""
    return text(message, tone=Tone.CRITICAL) if message else ft.Container()


def field_error(view: View, errors: dict[str, str], name: str) -> str | None:
    """The error of one form field in the user's language (None: no error)."""
    message = errors.get(name, "")
    return say(view.tr, message) if message else None


def text_field(label: str, value: str, on_change: Callable[[str], None], *, error: str | None = None,
               hint: str | None = None, password: bool = False, multiline: bool = False, number: bool = False,
               on_submit: Handler | None = None, read_only: bool = False,
               prefix_icon: ft.IconData | None = None) -> ft.TextField:  # fmt: skip
    """A labelled text field whose text goes to the view state as it is typed."""

    def changed(event: ft.Event[ft.TextField]) -> None:
        on_change(event.control.value)

    return ft.TextField(
        label=label,
        value=value,
        on_change=changed,
        on_submit=on_submit,
        error=error,
        error_max_lines=4,
        hint_text=hint,
        password=password,
        can_reveal_password=password,
        multiline=multiline,
        min_lines=3 if multiline else None,
        max_lines=6 if multiline else None,
        keyboard_type=ft.KeyboardType.NUMBER if number else ft.KeyboardType.TEXT,
        read_only=read_only,
        text_size=SCALE.body + 1,
        prefix_icon=prefix_icon,
        autocorrect=False,
        border=ft.OutlineInputBorder(border_radius=10),
        bgcolor=PALETTE.surface,
        filled=True,
    )


def dropdown(
    label: str,
    options: Sequence[tuple[str, str]],
    value: str | None,
    on_select: Callable[[str], None],
    *,
    error: str | None = None,
    on_text: Callable[[str], None] | None = None,
) -> ft.Control:
    """A picker of ``(key, text)`` options that filters as one types (its text field carries the label, which
    screen readers read)."""

    def selected(event: ft.Event[ft.Dropdown]) -> None:
        if event.control.value is not None:
            on_select(event.control.value)

    def typed(event: ft.Event[ft.Dropdown]) -> None:
        if on_text is not None and event.data is not None:
            on_text(str(event.data))

    return ft.Dropdown(
        label=label,
        options=[ft.DropdownOption(key=key, text=shown) for key, shown in options],
        value=value,
        on_select=selected,
        on_text_change=typed if on_text is not None else None,
        error_text=error,
        editable=True,
        enable_filter=True,
        enable_search=True,
        text_size=SCALE.body + 1,
        border=ft.OutlineInputBorder(border_radius=10),
        filled=True,
        fill_color=PALETTE.surface,
        expand=True,
        menu_height=360,
    )


def screen(controls: Sequence[ft.Control]) -> ft.Control:
    """A scrolling screen body with room around it."""
    return ft.ListView(list(controls), spacing=GAP, padding=ft.Padding.only(left=16, right=16, top=12, bottom=24),
                       expand=True)  # fmt: skip


def back_row(view: View, label: str, on_back: Handler) -> ft.Control:
    """The way back to a list (the app bar has it too)."""
    return ft.Container(
        ft.TextButton(label, icon=ft.Icons.ARROW_BACK, on_click=on_back, height=44),
        alignment=ft.Alignment.CENTER_LEFT,
    )


def short_time(tr: Translator, moment: dt.datetime | None, now: dt.datetime) -> str:
    """``14:03`` today, ``2025-11-24 14:03`` before; "—" when unknown."""
    if moment is None:
        return "—"
    if tr.local(moment).date() == tr.local(now).date():
        return tr.clock(moment)
    return tr.when(moment)


def outcome_notice(view: View, outcome: Outcome, where: str, sent_key: str) -> Notice:
    """The notice of an action's outcome."""
    if outcome.status is OutcomeStatus.SENT:
        return Notice(view.t(sent_key), Tone.GOOD, where)
    if outcome.status is OutcomeStatus.QUEUED:
        return Notice(view.t("mobile.outcome.queued"), Tone.WARNING, where)
    return Notice(say(view.tr, outcome.message), Tone.CRITICAL, where)


# ---- the offline banner -----------------------------------------------------------------------------------------


def offline_banner(view: View, on_open_outbox: Handler, on_send_now: Handler) -> ft.Control:
    """Offline since when and how much waits; or what waits and what the platform refused (nothing when all is
    well)."""
    app, tr = view.app, view.tr
    user = app.ctx.user
    waiting = [i for i in app.pending if i.user == user]
    refused = [i for i in app.failed if i.user == user]
    connection = app.connection
    lines: list[str] = []
    if connection.state is LinkState.OFFLINE:
        since = connection.last_contact_at or connection.offline_since
        head = tr.t("mobile.offline.since", time=short_time(tr, since, view.now())) if since else tr.t(
            "mobile.offline.now")  # fmt: skip
        lines.append(head)
        tone, icon = Tone.CRITICAL, ft.Icons.CLOUD_OFF
    elif waiting or refused:
        tone, icon = (Tone.WARNING, ft.Icons.SCHEDULE_SEND) if waiting else (Tone.CRITICAL, ft.Icons.ERROR_OUTLINE)
    else:
        return ft.Container()
    if waiting:
        lines.append(tr.t("mobile.outbox.waiting", count=len(waiting)))
    elif connection.state is LinkState.OFFLINE:
        lines.append(tr.t("mobile.offline.saved_here"))
    if refused:
        lines.append(tr.t("mobile.outbox.refused", count=len(refused)))
    actions: list[ft.Control] = []
    if waiting and connection.state is not LinkState.OFFLINE:
        actions.append(ft.TextButton(tr.t("mobile.outbox.send_now"), on_click=on_send_now,
                                     style=ft.ButtonStyle(color=PALETTE.on_tone(tone))))  # fmt: skip
    return ft.Container(
        ft.Row(
            [
                ft.Icon(icon, color=PALETTE.on_tone(tone), size=26),
                ft.Column(
                    [
                        ft.Text(
                            line,
                            size=SCALE.body,
                            color=PALETTE.on_tone(tone),
                            weight=ft.FontWeight.BOLD if n == 0 else None,
                        )
                        for n, line in enumerate(lines)
                    ],
                    spacing=2,
                    tight=True,
                    expand=True,
                ),  # fmt: skip
                *actions,
            ],
            spacing=12,
        ),
        bgcolor=PALETTE.tone(tone),
        padding=ft.Padding.symmetric(horizontal=16, vertical=10),
        on_click=on_open_outbox,
    )


# ---- alarms -----------------------------------------------------------------------------------------------------


def _pending_text(view: View, alarm_id: int) -> str:
    action = view.app.inbox.pending_action(alarm_id)
    return view.t(f"mobile.alarm.pending.{action}") if action else ""


def alarm_inbox(view: View) -> ft.Control:
    """Open alarms by severity with counts; a tap opens one."""
    inbox, tr, state = view.app.inbox, view.tr, view.state
    counts = inbox.counts()

    def choose(severity: str | None) -> Handler:
        async def handler() -> None:
            state.severity = None if state.severity == severity else severity
            view.redraw()

        return handler

    filters: list[ft.Control] = [
        _filter_chip(f"{tr.t('mobile.all')} {len(inbox.alarms)}", Tone.INFO, state.severity is None, choose(None))
    ]
    for severity, count in counts.items():
        tone = severity_tone(severity) if severity in ("info", "warning", "major", "critical") else Tone.NEUTRAL
        filters.append(_filter_chip(f"{tr.t(f'alarm.severity.{severity}')} {count}", tone, state.severity == severity,
                                    choose(severity)))  # fmt: skip
    body: list[ft.Control] = [ft.Row(filters, wrap=True, spacing=8, run_spacing=8)]
    status = tr.t("live.updated_at", time=short_time(tr, inbox.loaded_at, view.now())) if inbox.loaded_at else tr.t(
        "live.loading")  # fmt: skip
    body.append(ft.Row([text(status, size=SCALE.label + 1, muted=True), live_mark(view)], spacing=12, wrap=True))
    if inbox.error:
        body.append(error_text(inbox.error))
    shown = 0
    for severity, alarms in inbox.groups():
        if state.severity is not None and severity != state.severity:
            continue
        body.append(text(f"{tr.t(f'alarm.severity.{severity}')} · {len(alarms)}", size=SCALE.body, bold=True,
                         tone=severity_tone(severity) if severity in counts else None))  # fmt: skip
        for alarm in alarms:
            body.append(_alarm_card(view, alarm))
            shown += 1
    if not shown:
        body.append(
            ft.Container(
                ft.Column(
                    [
                        ft.Icon(ft.Icons.TASK_ALT, size=56, color=PALETTE.tone(Tone.GOOD)),
                        text(tr.t("alarms.none"), size=SCALE.title),
                    ],
                    horizontal_alignment=ft.CrossAxisAlignment.CENTER,
                ),  # fmt: skip
                padding=40,
                alignment=ft.Alignment.CENTER,
            )
        )
    return screen(body)


def live_mark(view: View) -> ft.Control:
    """Whether the inbox is pushed by the platform (live) or polled (the feed is down)."""
    live = view.app.live
    if live.live:
        return chip(view.t("mobile.live.pushed"), Tone.GOOD, filled=False)
    if live.state is LiveState.CONNECTING:
        return text(view.t("mobile.live.connecting"), size=SCALE.label + 1, muted=True)
    seconds = view.state.refresh_s
    return chip(view.t("mobile.live.polling", seconds=f"{seconds:g}"), Tone.WARNING, filled=False)


def _filter_chip(label: str, tone: Tone, selected: bool, on_click: Handler) -> ft.Control:
    return ft.Container(
        ft.Text(
            label,
            size=SCALE.body,
            weight=ft.FontWeight.BOLD,
            color=PALETTE.on_tone(tone) if selected else PALETTE.tone(tone),
        ),  # fmt: skip
        bgcolor=PALETTE.tone(tone) if selected else PALETTE.surface,
        border=ft.Border.all(1.5, PALETTE.tone(tone)),
        border_radius=20,
        padding=ft.Padding.symmetric(horizontal=14, vertical=10),
        on_click=on_click,
        ink=True,
    )


def _alarm_card(view: View, alarm: Alarm) -> ft.Control:
    tr = view.tr
    tone = alarm_tone(alarm.severity, alarm.state) if alarm.severity in ("info", "warning", "major", "critical") \
        else Tone.NEUTRAL  # fmt: skip
    top: list[ft.Control] = [chip(tr.t(f"alarm.severity.{alarm.severity}"), tone),
                             text(tr.t(f"alarm.state.{alarm.state}"), size=SCALE.label + 1, muted=True)]  # fmt: skip
    top.append(ft.Container(expand=True))
    top.append(text(short_time(tr, alarm.raised_at, view.now()), size=SCALE.label + 1, muted=True))
    said = describe_alarm(alarm, tr)
    lines: list[ft.Control] = [
        ft.Row(top, spacing=8),
        text(said.title, size=SCALE.body + 1, bold=True),
        text(said.subject, size=SCALE.label + 1, muted=True),
    ]
    if said.consequences:
        lines.append(text(tr.t("mobile.alarm.affects", count=len(said.consequences)), size=SCALE.label + 1, tone=tone))
    pending = _pending_text(view, alarm.id)
    if pending:
        lines.append(text(pending, size=SCALE.label + 1, tone=Tone.WARNING))
    return card(lines, on_click=view.act(lambda: view.app.inbox.open(alarm.id)), tone=tone)


def alarm_detail(view: View, alarm: Alarm) -> ft.Control:
    """One alarm with its history; acknowledge, clear (with a note)."""
    app, tr, state = view.app, view.tr, view.state
    inbox = app.inbox
    where = f"alarm:{alarm.id}"
    tone = alarm_tone(alarm.severity, alarm.state) if alarm.severity in ("info", "warning", "major", "critical") \
        else Tone.NEUTRAL  # fmt: skip

    async def back() -> None:
        inbox.close()
        state.notice = None
        view.redraw()

    said = describe_alarm(alarm, tr)
    facts: list[ft.Control] = [
        fact(tr.t("mobile.alarm.raised"), said.raised_at),
        fact(tr.t("mobile.alarm.last_seen"), tr.when(alarm.last_seen_at)),
        fact(tr.t("mobile.alarm.occurrences"), str(alarm.occurrences)),
    ]
    if alarm.acknowledged_at is not None:
        when = short_time(tr, alarm.acknowledged_at, view.now())
        facts.append(fact(tr.t("alarm.state.acknowledged"), f"{alarm.acknowledged_by} · {when}"))
        if alarm.ack_note:
            facts.append(fact(tr.t("alarm.note"), alarm.ack_note))
    body: list[ft.Control] = [
        back_row(view, tr.t("mobile.back_to.alarms"), back),
        card(
            [
                ft.Row(
                    [
                        chip(tr.t(f"alarm.severity.{alarm.severity}"), tone),
                        chip(tr.t(f"alarm.state.{alarm.state}"), tone, filled=False),
                    ],
                    spacing=8,
                ),  # fmt: skip
                text(said.title, size=SCALE.title, bold=True),
                text(said.subject, muted=True),
                text(said.happened),
                *facts,
            ],
            tone=tone,
        ),
        card(
            [
                ft.Row(
                    [
                        ft.Icon(ft.Icons.SEARCH, color=PALETTE.primary, size=20),
                        text(tr.t("mobile.alarm.check_first"), bold=True),
                    ],
                    spacing=8,
                ),  # fmt: skip
                text(said.check_first),
            ]
        ),
    ]
    if said.consequences:
        body.append(heading(tr.t("mobile.alarm.consequences", count=len(said.consequences))))
        body.append(card([text(f"· {meter}") for meter in said.consequences]))
    body.append(_technical(view, alarm.id, said.technical))
    if inbox.error:
        body.append(error_text(inbox.error))
    pending = _pending_text(view, alarm.id)
    if pending:
        body.append(text(pending, tone=Tone.WARNING))
    body.append(notice_bar(state.notice_for(where)))
    if alarm.open and inbox.can_handle and inbox.pending_action(alarm.id) != "clear":
        body.extend(_alarm_actions(view, alarm, where))
    body.append(heading(tr.t("mobile.alarm.history")))
    if not alarm.events:
        body.append(text(tr.t("mobile.alarm.history_offline"), muted=True))
    for event in reversed(alarm.events):
        lines: list[ft.Control] = [
            ft.Row(
                [
                    text(
                        tr.t(f"mobile.event.{event.action}") if event.action in _EVENT_ACTIONS else event.action,
                        bold=True,
                    ),
                    ft.Container(expand=True),
                    text(tr.when(event.at), size=SCALE.label + 1, muted=True),
                ]
            ),  # fmt: skip
        ]
        if event.actor:
            lines.append(text(event.actor, size=SCALE.label + 1, muted=True))
        if event.note:
            lines.append(text(event.note))
        body.append(card(lines))
    return screen(body)


_EVENT_ACTIONS: Final = ("raised", "repeated", "escalated", "acknowledged", "cleared")


def _technical(view: View, alarm_id: int, technical: str) -> ft.Control:
    """The platform's technical text behind a tap: for the engineer who configures the gateway."""
    shown = alarm_id in view.state.technical

    async def toggle() -> None:
        view.state.technical.symmetric_difference_update({alarm_id})
        view.redraw()

    label = view.t("mobile.alarm.technical_hide" if shown else "mobile.alarm.technical_show")
    icon = ft.Icons.EXPAND_LESS if shown else ft.Icons.EXPAND_MORE
    controls: list[ft.Control] = [ft.TextButton(label, icon=icon, on_click=toggle, height=44)]
    if shown:
        controls.append(card([text(technical, size=SCALE.label + 1, muted=True)]))
    return ft.Column(controls, spacing=4, tight=True)


def _alarm_actions(view: View, alarm: Alarm, where: str) -> list[ft.Control]:
    app, tr, state = view.app, view.tr, view.state
    alarm_id = alarm.id

    def note_changed(value: str) -> None:
        state.notes[alarm_id] = value
        state.note_errors.pop(alarm_id, None)

    async def handle(kind: str) -> None:
        note = state.notes.get(alarm_id, "")
        if kind == "acknowledge":
            outcome = await app.inbox.acknowledge(alarm_id, note)
        else:
            outcome = await app.inbox.clear(alarm_id, note)
        if outcome.status is OutcomeStatus.INVALID:
            state.note_errors[alarm_id] = say(tr, outcome.field_errors.get(FIELD_NOTE, outcome.message))
            state.notice = None
            return
        state.note_errors.pop(alarm_id, None)
        if outcome.ok:
            state.notes.pop(alarm_id, None)  # sent or safely queued: the draft has done its work
        state.notice = outcome_notice(view, outcome, where, f"mobile.alarm.done.{kind}")

    controls: list[ft.Control] = [
        text_field(
            tr.t("alarm.note"),
            state.notes.get(alarm_id, ""),
            note_changed,
            multiline=True,
            hint=tr.t("alarm.note_hint"),
            error=state.note_errors.get(alarm_id),
        ),  # fmt: skip
    ]
    row: list[ft.Control] = []
    acknowledging = app.inbox.pending_action(alarm_id) == "acknowledge"
    active = alarm.state == "active" and not acknowledging
    if active:
        # no icons: side by side on a phone, "Acknowledge" needs the whole half to stay on one line
        row.append(button(tr.t("alarm.acknowledge"), view.act(lambda: handle("acknowledge")), busy=state.busy))
    row.append(button(tr.t("alarm.clear"), view.act(lambda: handle("clear")), primary=not active, tone=Tone.CRITICAL,
                      busy=state.busy))  # fmt: skip
    controls.append(buttons(*row))
    controls.append(text(tr.t("mobile.alarm.clear_needs_note"), size=SCALE.label + 1, muted=True))
    return controls


# ---- devices ----------------------------------------------------------------------------------------------------


def _health(view: View, row: DeviceRow) -> tuple[str, Tone]:
    health = row.health
    if health in ("online", "offline"):
        return view.t(f"device.{health}"), connection_tone(health)
    return view.t(f"device.state.{health}"), device_state_tone(health)


def _certificate(view: View, row: DeviceRow) -> tuple[str, Tone | None]:
    tr = view.tr
    if row.certificate_state is None:
        return tr.t("mobile.device.no_certificate"), None
    state = tr.t(f"mobile.cert.{row.certificate_state}") if row.certificate_state in _CERT_STATES else \
        row.certificate_state  # fmt: skip
    if row.certificate_expires_at is None:
        return state, None
    until = tr.t("mobile.device.cert_until", day=tr.day(row.certificate_expires_at))
    tone = None
    if row.certificate_days_left is not None:
        until += " · " + tr.t("mobile.device.days_left", count=row.certificate_days_left)
        tone = Tone.WARNING if row.certificate_expiring else None
    return f"{state} · {until}", tone


_CERT_STATES: Final = ("valid", "on_hold", "superseded", "revoked")


def _last_seen(view: View, moment: dt.datetime | None) -> str:
    if moment is None:
        return view.t("mobile.device.never_seen")
    now = view.now()
    return f"{short_time(view.tr, moment, now)} ({view.tr.ago(moment, now)})"


def device_rows(view: View) -> list[ft.Control]:
    """The cards of the devices matching the search."""
    devices = view.app.devices
    rows = devices.visible
    if not rows:
        key = "mobile.device.none_match" if devices.rows else "mobile.device.none"
        return [text(view.t(key), muted=True)]
    cards: list[ft.Control] = []
    for row in rows:
        health, tone = _health(view, row)
        lines: list[ft.Control] = [
            ft.Row(
                [
                    ft.Container(text(row.name or row.id, size=SCALE.body + 1, bold=True), expand=True),
                    chip(health, tone),
                ],
                spacing=8,
            ),  # fmt: skip
            text(f"{view.t('mobile.device.serial')} {row.serial} · {row.id}", size=SCALE.label + 1, muted=True),
            text(
                view.t("device.last_seen", time=_last_seen(view, row.last_seen_at)), size=SCALE.label + 1, muted=True
            ),  # fmt: skip
        ]
        if row.certificate_expiring and row.certificate_days_left is not None:
            lines.append(text(view.t("mobile.device.cert_expiring", count=row.certificate_days_left),
                              size=SCALE.label + 1, tone=Tone.WARNING))  # fmt: skip
        cards.append(card(lines, on_click=view.act(_opener(view, row.id))))
    return cards


def _opener(view: View, device_id: str) -> Step:
    async def step() -> None:
        await view.app.devices.open(device_id)

    return step


def device_list(view: View) -> ft.Control:
    """A search field, the health counts and the devices; a tap opens one."""
    devices, tr = view.app.devices, view.tr
    results = ft.Column(device_rows(view), spacing=GAP)
    view.state.device_rows = results  # the ticker refills it with reloaded rows

    def searched(query: str) -> None:  # filtered on the phone: only the list is rebuilt, the field keeps its focus
        devices.search(query)
        results.controls = device_rows(view)
        results.update()

    counts = devices.counts()
    online = counts.get("online", 0)
    summary: list[ft.Control] = [text(tr.t("devices.count", online=online, total=len(devices.rows)), bold=True)]
    for health, count in sorted(counts.items()):
        word = tr.t(f"device.{health}") if health in ("online", "offline") else tr.t(f"device.state.{health}")
        tone = connection_tone(health) if health in ("online", "offline") else device_state_tone(health)
        summary.append(chip(f"{word} {count}", tone, filled=False))
    body: list[ft.Control] = [
        text_field(
            tr.t("mobile.device.search"),
            devices.query,
            searched,
            hint=tr.t("mobile.device.search_hint"),
            prefix_icon=ft.Icons.SEARCH,
        ),  # fmt: skip
        ft.Row(summary, wrap=True, spacing=8, run_spacing=8),
    ]
    if devices.loaded_at is not None:
        body.append(text(tr.t("live.updated_at", time=short_time(tr, devices.loaded_at, view.now())),
                         size=SCALE.label + 1, muted=True))  # fmt: skip
    if devices.error:
        body.append(error_text(devices.error))
    body.append(results)
    return screen(body)


def device_detail(view: View, detail: DeviceDetail) -> ft.Control:
    """A device's health, certificate, live values and open alarms."""
    app, tr, state = view.app, view.tr, view.state
    device: Device = detail.device
    row = detail.row
    health, tone = _health(view, row)

    async def back() -> None:
        app.devices.close()
        view.redraw()

    certificate, certificate_tone = _certificate(view, row)
    buffer = tr.t("mobile.device.buffer_unknown") if row.buffer_depth is None else tr.t(
        "mobile.device.buffer", count=tr.number(row.buffer_depth))  # fmt: skip
    kind = tr.t(f"device.type.{device.type}") if device.type in ("gateway", "meter") else device.type
    facts: list[ft.Control] = [
        fact(tr.t("mobile.device.id"), device.id),
        fact(tr.t("mobile.device.serial"), device.serial),
        fact(tr.t("mobile.device.type"), " · ".join(p for p in (kind, device.model, device.firmware) if p)),
        fact(tr.t("mobile.device.last_seen"), _last_seen(view, row.last_seen_at)),
        fact(tr.t("mobile.device.buffer_depth"), buffer),
        fact(tr.t("mobile.device.certificate"), certificate, tone=certificate_tone),
    ]
    if device.state_reason:
        facts.append(fact(tr.t("mobile.device.state_reason"), device.state_reason))
    body: list[ft.Control] = [
        back_row(view, tr.t("mobile.back_to.devices"), back),
        card(
            [
                ft.Row(
                    [
                        chip(health, tone),
                        chip(tr.t(f"device.state.{device.state}"), device_state_tone(device.state), filled=False),
                    ],
                    spacing=8,
                ),  # fmt: skip
                text(device.name or device.id, size=SCALE.title, bold=True),
                *facts,
            ]
        ),  # fmt: skip
    ]
    if detail.error:
        body.append(error_text(detail.error))
    values_at = tr.t("live.updated_at", time=short_time(tr, detail.values_at, view.now())) if detail.values_at \
        else ""  # fmt: skip
    body.append(
        ft.Row(
            [
                ft.Container(heading(tr.t("mobile.device.live_values")), expand=True),
                ft.IconButton(
                    ft.Icons.REFRESH,
                    tooltip=tr.t("refresh"),
                    icon_size=28,
                    on_click=view.act(app.devices.refresh_values),
                    disabled=state.busy,
                ),
            ],
        )  # fmt: skip
    )
    if values_at:
        body.append(text(values_at, size=SCALE.label + 1, muted=True))
    if not detail.points:
        body.append(text(tr.t("mobile.device.no_points"), muted=True))
    for point in detail.points:
        value = "—" if point.value is None else f"{tr.number(point.value, _decimals(point.value))} {point.unit}"
        age = tr.ago(point.ts, view.now()) if point.ts is not None else tr.t("no_data")
        quality = tr.t(f"quality.{point.quality}") if point.quality in ("good", "uncertain") else point.quality or ""
        body.append(card([
            ft.Row([ft.Container(text(point.name or point.code, bold=True), expand=True),
                    text(value, size=SCALE.title, bold=True)]),
            text(" · ".join(p for p in (point.code, age, quality) if p), size=SCALE.label + 1, muted=True),
        ]))  # fmt: skip
    if detail.alarms:
        body.append(heading(tr.t("alarms.active")))
        for alarm in detail.alarms:
            body.append(_alarm_card(view, alarm))
    if Tab.ENROLMENT in app.tabs:

        async def replace() -> None:
            app.enrolment.replace(device)
            state.tab, state.notice = Tab.ENROLMENT, None
            view.redraw()

        body.append(button(tr.t("mobile.device.new_token"), replace, icon=ft.Icons.QR_CODE_2, primary=False,
                           busy=state.busy))  # fmt: skip
    return screen(body)


def _decimals(value: float) -> int:
    magnitude = abs(value)
    return 0 if magnitude >= 10000 else 1 if magnitude >= 100 else 2 if magnitude >= 1 else 3


# ---- manual readings (人工采集) ----------------------------------------------------------------------------------


def readings(view: View) -> ft.Control:
    """The 人工采集 form: source and input, month or days, value and unit, note; checked per field."""
    app, tr, state = view.app, view.tr, view.state
    form = app.readings
    errors = form.errors
    where = "readings"

    def changed(name: str) -> Callable[[str], None]:
        def set_value(value: str) -> None:
            setattr(form, name, value)

        return set_value

    def choose_input(key: str) -> None:
        source_id, _, input_name = key.partition(":")
        form.select(int(source_id), input_name)
        view.redraw()  # the units and the substitute note follow the input

    def choose_unit(unit: str) -> None:
        form.unit = unit
        form.errors.pop(FIELD_UNIT, None)

    async def choose_enterprise_async(enterprise_id: int) -> None:
        form.choice = None
        await form.load(enterprise_id)

    def choose_period(event: ft.Event[ft.SegmentedButton]) -> None:
        if event.control.selected:
            form.period = PeriodKind(event.control.selected[0])
            form.errors.pop(FIELD_PERIOD, None)
            view.redraw()

    def estimated(event: ft.Event[ft.Checkbox]) -> None:
        form.estimated = bool(event.control.value)

    async def submit() -> None:
        outcome = await form.submit()
        if outcome.status is OutcomeStatus.INVALID:
            state.notice = Notice(say(tr, outcome.message), Tone.CRITICAL, where)
        else:
            state.notice = outcome_notice(view, outcome, where, "mobile.reading.sent")

    body: list[ft.Control] = [text(tr.t("mobile.reading.intro"), muted=True)]
    if form.loaded_at is None and not form.message:
        body.append(text(tr.t("live.loading"), muted=True))
        return screen(body)
    if len(form.enterprises) > 1:
        options = [(str(e.id), e.name) for e in form.enterprises]
        body.append(_enterprise_picker(view, options, form.enterprise_id, choose_enterprise_async))
    choice = form.choice
    body.append(
        dropdown(
            tr.t("mobile.reading.input"),
            [
                (
                    i.key.removeprefix("reading:"),
                    _input_label(
                        view,
                        i.source_code,
                        i.source_name,
                        acc.input_name(tr, i.input_name, i.category),
                        acc.unit_label(tr, i.unit),
                        i.substitute,
                    ),
                )
                for i in form.inputs
            ],  # fmt: skip
            choice.key.removeprefix("reading:") if choice else None,
            choose_input,
            error=field_error(view, errors, FIELD_INPUT),
        )
    )
    if choice is not None and choice.substitute:
        body.append(text(tr.t("mobile.reading.substitute"), size=SCALE.label + 1, tone=Tone.WARNING))
    body.append(text(tr.t("mobile.reading.period"), size=SCALE.label + 1, muted=True))
    body.append(
        ft.SegmentedButton(
            segments=[
                ft.Segment(value=PeriodKind.MONTH.value, label=tr.t("mobile.reading.by_month")),
                ft.Segment(value=PeriodKind.DAYS.value, label=tr.t("mobile.reading.by_days")),
            ],
            selected=[form.period.value],
            on_change=choose_period,
            show_selected_icon=False,
        )  # fmt: skip
    )
    period_error = field_error(view, errors, FIELD_PERIOD)
    if form.period is PeriodKind.MONTH:
        body.append(text_field(tr.t("mobile.reading.month"), form.month, changed("month"), hint="2025-06",
                               error=period_error))  # fmt: skip
    else:
        body.append(text_field(tr.t("mobile.reading.first_day"), str(form.first_day), changed("first_day"),
                               hint="2025-06-01", error=period_error))  # fmt: skip
        body.append(text_field(tr.t("mobile.reading.last_day"), str(form.last_day), changed("last_day"),
                               hint="2025-06-30"))  # fmt: skip
    body.append(text_field(tr.t("mobile.reading.value"), form.value, changed("value"), number=True, hint="12000.5",
                           error=field_error(view, errors, FIELD_VALUE)))  # fmt: skip
    units = [(unit, acc.unit_label(tr, unit)) for unit in form.units]
    body.append(dropdown(tr.t("mobile.reading.unit"), units, form.unit or None, choose_unit, on_text=choose_unit,
                         error=field_error(view, errors, FIELD_UNIT)))  # fmt: skip
    body.append(ft.Checkbox(label=tr.t("mobile.reading.estimated"), value=form.estimated, on_change=estimated,
                            label_style=ft.TextStyle(size=SCALE.body)))  # fmt: skip
    body.append(text_field(tr.t("mobile.reading.note"), form.note, changed("note"), multiline=True,
                           error=field_error(view, errors, FIELD_NOTE)))  # fmt: skip
    if errors.get(""):
        body.append(error_text(say(tr, errors[""])))
    if form.replaces is not None:
        body.append(text(tr.t("mobile.reading.fixing"), size=SCALE.label + 1, tone=Tone.WARNING))
    body.append(notice_bar(state.notice_for(where)))
    if not state.notice_for(where) and form.message and not form.inputs:
        body.append(text(say(tr, form.message), muted=True))
    body.append(button(tr.t("submit"), view.act(submit), icon=ft.Icons.SEND, busy=state.busy))
    if form.last_record is not None:
        record = form.last_record
        body.append(text(tr.t("mobile.reading.last", value=acc.amount(tr, record.value, record.unit, with_unit=True),
                              time=short_time(tr, record.entered_at, view.now())),
                         size=SCALE.label + 1, muted=True))  # fmt: skip
    refused = [i for i in app.failed if i.kind == READING and i.user == app.ctx.user]
    if refused:
        body.append(heading(tr.t("mobile.reading.refused")))
        body.extend(_refused_reading(view, item) for item in refused)
    return screen(body)


def _input_label(view: View, code: str, name: str, input_name: str, unit: str, substitute: bool) -> str:
    label = f"{code} {name} · {input_name} ({unit})"
    return f"{label} · {view.t('mobile.reading.substitute_short')}" if substitute else label


def _enterprise_picker(
    view: View, options: list[tuple[str, str]], value: int | None, choose: Callable[[int], Awaitable[None]]
) -> ft.Control:
    def picked(key: str) -> None:
        view.spawn(view.act(lambda: choose(int(key))))

    return dropdown(view.t("mobile.reading.enterprise"), options, str(value) if value is not None else None, picked)


def _refused_reading(view: View, item: OutboxItem) -> ft.Control:
    app, tr, state = view.app, view.tr, view.state

    async def fix() -> None:
        app.readings.edit_failed(item.id)
        state.notice = None
        view.redraw()

    async def drop() -> None:
        app.discard(item.id)
        view.redraw()

    return card([
        text(item.summary, bold=True),
        _outbox_why(tr, item, refused=True),
        buttons(button(tr.t("edit"), fix, primary=False, busy=state.busy),
                button(tr.t("mobile.outbox.discard"), drop, primary=False, tone=Tone.CRITICAL, busy=state.busy)),
    ])  # fmt: skip


# ---- enrolment --------------------------------------------------------------------------------------------------


def enrolment(view: View) -> ft.Control:
    """Serial, name and place of a terminal; the token as text, QR code and command; the TOTP step-up."""
    app, tr, state = view.app, view.tr, view.state
    form = app.enrolment
    errors = form.errors
    body: list[ft.Control] = []

    async def start_over() -> None:
        form.reset()
        state.enrol_totp, state.notice = "", None
        view.redraw()

    if form.step is EnrolmentStep.ISSUED and form.issued is not None:
        issued = form.issued
        body += [
            notice_bar(
                Notice(
                    tr.t("mobile.enrol.issued", device=issued.device_id, serial=issued.serial), Tone.GOOD, "enrolment"
                )
            ),  # fmt: skip
            text(tr.t("mobile.enrol.once"), tone=Tone.WARNING),
            copyable(tr.t("enrol.token"), issued.token, multiline=True, bold=True),
            text(tr.t("mobile.enrol.valid_until", time=tr.when(issued.expires_at)), size=SCALE.label + 1, muted=True),
            ft.Container(
                qr_image(issued.qr_payload, issued.qr_svg, tr.t("mobile.enrol.qr")),
                bgcolor="#FFFFFF",
                padding=12,
                border_radius=8,
                alignment=ft.Alignment.CENTER,
            ),
            copyable(tr.t("mobile.enrol.command"), issued.command, multiline=True),
        ]
        if issued.replaced:
            body.append(text(tr.t("mobile.enrol.replaced"), tone=Tone.WARNING))
        body.append(button(tr.t("mobile.enrol.next"), start_over, icon=ft.Icons.ADD, primary=False, busy=state.busy))
        return screen(body)

    def changed(name: str) -> Callable[[str], None]:
        def set_value(value: str) -> None:
            setattr(form, name, value)
            form.errors.pop(name, None)

        return set_value

    def serial_changed(value: str) -> None:
        form.scan(value)

    def totp_changed(value: str) -> None:
        state.enrol_totp = value

    def choose_site(key: str) -> None:
        form.site_id = int(key)
        form.errors.pop("place", None)

    async def issue() -> None:
        code = state.enrol_totp if form.step is EnrolmentStep.NEEDS_TOTP else None
        await form.issue(code)
        if form.step is EnrolmentStep.ISSUED:
            state.enrol_totp = ""

    async def cancel_totp() -> None:
        form.step, form.errors, form.message, state.enrol_totp = EnrolmentStep.EDITING, {}, "", ""
        view.redraw()

    needs_totp = form.step is EnrolmentStep.NEEDS_TOTP
    body.append(text(tr.t("mobile.enrol.intro"), muted=True))
    body.append(text_field(tr.t("mobile.enrol.serial"), form.serial, serial_changed, hint="HX-GW-0001",
                           error=field_error(view, errors, "serial"), read_only=needs_totp))  # fmt: skip
    if view.pick_image is not None and not needs_totp:
        # The browser (or the phone) offers the camera or the photos; the QR code is decoded on the Python side.
        scan_style = ft.ButtonStyle(
            shape=ft.RoundedRectangleBorder(radius=10),
            text_style=ft.TextStyle(size=SCALE.body + 1, weight=ft.FontWeight.BOLD),
        )
        body.append(ft.OutlinedButton(tr.t("mobile.enrol.scan"), icon=ft.Icons.QR_CODE_SCANNER, action=view.pick_image,
                                      height=TOUCH, disabled=state.busy, style=scan_style))  # fmt: skip
    body.append(text_field(tr.t("mobile.enrol.name"), form.name, changed("name"), hint=tr.t("mobile.enrol.name_hint"),
                           error=field_error(view, errors, "name"), read_only=needs_totp))  # fmt: skip
    body.append(text_field(tr.t("mobile.enrol.model"), form.model, changed("model"),
                           error=field_error(view, errors, "model"), read_only=needs_totp))  # fmt: skip
    if form.existing is None and len(form.sites) > 1:
        body.append(dropdown(tr.t("mobile.enrol.site"), [(str(s.id), s.name) for s in form.sites],
                             str(form.site_id) if form.site_id is not None else None, choose_site,
                             error=field_error(view, errors, "place")))  # fmt: skip
    elif form.existing is None and form.site_id is not None:
        site = next((s.name for s in form.sites if s.id == form.site_id), str(form.site_id))
        body.append(fact(tr.t("mobile.enrol.site"), site))
    elif errors.get("place"):
        body.append(error_text(say(tr, errors["place"])))
    if form.existing is not None:
        body.append(text(tr.t("mobile.enrol.existing", device=form.existing.id), tone=Tone.INFO))
        if form.replacing:
            body.append(text(tr.t("mobile.enrol.replacing"), tone=Tone.WARNING))
    if needs_totp:
        body.append(notice_bar(Notice(say(tr, form.message), Tone.WARNING, "enrolment")))
        body.append(text_field(tr.t("login.totp"), state.enrol_totp, totp_changed, number=True,
                               hint=tr.t("login.totp_hint"), error=field_error(view, errors, "totp"),
                               on_submit=view.act(issue)))  # fmt: skip
        body.append(buttons(button(tr.t("cancel"), cancel_totp, primary=False, busy=state.busy),
                            button(tr.t("mobile.enrol.confirm"), view.act(issue), icon=ft.Icons.VERIFIED_USER,
                                   busy=state.busy)))  # fmt: skip
    else:
        if form.message:
            body.append(error_text(say(tr, form.message)))
        body.append(buttons(button(tr.t("mobile.enrol.look_up"), view.act(form.look_up), icon=ft.Icons.SEARCH,
                                   primary=False, busy=state.busy),
                            button(tr.t("mobile.enrol.issue"), view.act(issue), icon=ft.Icons.KEY,
                                   busy=state.busy)))  # fmt: skip
    return screen(body)


# ---- the outbox -------------------------------------------------------------------------------------------------


def outbox_screen(view: View, on_close: Handler, on_send_now: Handler) -> ft.Control:
    """What waits to be sent and what the platform refused, with a way to drop it."""
    app, tr, state = view.app, view.tr, view.state
    user = app.ctx.user
    waiting = [i for i in app.pending if i.user == user]
    refused = [i for i in app.failed if i.user == user]
    body: list[ft.Control] = [back_row(view, tr.t("back"), on_close)]
    body.append(notice_bar(state.notice_for("outbox")))
    if not waiting and not refused:
        body.append(text(tr.t("mobile.outbox.empty"), muted=True))
    if waiting:
        body.append(text(tr.t("mobile.outbox.waiting", count=len(waiting)), bold=True))
        for item in waiting:
            body.append(_outbox_card(view, item, refused=False))
        body.append(button(tr.t("mobile.outbox.send_now"), on_send_now, icon=ft.Icons.SEND, busy=state.busy))
    if refused:
        body.append(text(tr.t("mobile.outbox.refused", count=len(refused)), bold=True, tone=Tone.CRITICAL))
        for item in refused:
            body.append(_outbox_card(view, item, refused=True))
    return screen(body)


def _queued_alarm(tr: Translator, meta: Mapping[str, Any]) -> str:
    """The alarm an acknowledgement or clearing waits for, as the inbox says it ("" when not kept)."""
    try:
        alarm = msgspec.convert(meta["alarm"], Alarm)
    except (KeyError, msgspec.ValidationError):
        return ""
    said = describe_alarm(alarm, tr)
    return f"{said.title} · {said.subject}"


def _outbox_why(tr: Translator, item: OutboxItem, *, refused: bool) -> ft.Control:
    """Why an item waits or was refused, in the crew's words; the technical text is its tooltip (a long press)."""
    if refused:
        said = tr.t("mobile.outbox.why.refused", status=item.status or "—")
    else:
        said = tr.t(f"mobile.outbox.why.{item.waiting_for or 'network'}", attempts=item.attempts)
    line = text(said, size=SCALE.label + 1, tone=Tone.CRITICAL if refused else Tone.WARNING)
    line.tooltip = item.last_error
    return line


def _outbox_card(view: View, item: OutboxItem, *, refused: bool) -> ft.Control:
    tr = view.tr
    app = view.app

    async def drop() -> None:
        app.discard(item.id)
        view.redraw()

    what = _queued_alarm(tr, item.meta) or item.meta.get("message") or item.summary
    lines: list[ft.Control] = [
        text(
            tr.t(f"mobile.outbox.kind.{item.kind}") if item.kind in ("acknowledge", "clear", "reading") else item.kind,
            bold=True,
        ),  # fmt: skip
        text(str(what)),
        text(
            tr.t("mobile.outbox.made_at", time=short_time(tr, item.created_at, view.now())),
            size=SCALE.label + 1,
            muted=True,
        ),  # fmt: skip
    ]
    if item.last_error:
        lines.append(_outbox_why(tr, item, refused=refused))
    lines.append(button(tr.t("mobile.outbox.discard") if refused else tr.t("cancel"), drop, primary=False,
                        tone=Tone.CRITICAL, busy=view.state.busy))  # fmt: skip
    return card(lines)


def redraw_passive(view: View) -> bool:
    """Whether the shown screen has no text field (a periodic redraw cannot take a focus away)."""
    state, app = view.state, view.app
    if state.outbox_open:
        return True
    if state.tab is Tab.ALARMS:
        return app.inbox.detail is None
    if state.tab is Tab.DEVICES:
        return app.devices.detail is not None
    return False
