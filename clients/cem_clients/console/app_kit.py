"""What the console's screens share: the session's UI context and small, dense desktop widgets.

:class:`Ui` is handed to every screen: the translator and palette, ``redraw()``, ``act(work)`` (an event handler
that runs ``work``, keeps a refused call's message for the screen and redraws), dialogs, the file picker (pick a
file's bytes; save bytes as a download) and navigation between sections. :class:`Section` is the base of the
screens: ``load()`` fetches what it shows, ``render()`` builds its controls from the view state.

The widgets follow the console's type scale (:mod:`cem_clients.ui.theme`): 14 px body, 12 px labels, compact
fields and table rows, so that a 1440x900 screen holds a table of twenty rows.

Messages of the view models (:class:`~cem_clients.console.forms.Problem`) reach the widgets as they are; the
widgets that show messages (``message``, ``field_error`` and the ``error`` of fields) put them in the session's
language. They find the session's translator through :meth:`Ui.rendering`, which every drawing of a screen or a
dialog runs in (drawing is synchronous, so one session's translator never leaks into another's drawing).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import flet as ft
import flet_charts as fch
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]

from cem_clients.api import ClientError, Process
from cem_clients.console.accounting import PERIOD_KINDS, EmissionsQuery
from cem_clients.console.forms import DaySpanForm, Form, localized
from cem_clients.console.model import Console
from cem_clients.console.stats import Sheet
from cem_clients.ui.i18n import Translator
from cem_clients.ui.theme import AppKind, Palette, Tone, palette_for, type_scale

__all__ = [
    "emissions_range_fields",
    "KIND",
    "SERIES_COLOURS",
    "Cell",
    "ChartScale",
    "LegendEntry",
    "bind",
    "day_span_fields",
    "pager",
    "Section",
    "SheetData",
    "sheet_data",
    "sheet_table",
    "value_axis",
    "value_label",
    "Ui",
    "card",
    "checkbox",
    "chart_axis",
    "chart_card",
    "chart_scale",
    "chip",
    "code_field",
    "date_field",
    "dropdown",
    "export_button",
    "filter_bar",
    "field_error",
    "form_dialog",
    "heading",
    "label",
    "legend",
    "message",
    "muted",
    "picked_day",
    "primary_button",
    "say",
    "secondary_button",
    "section_page",
    "stat",
    "table",
    "text",
    "text_field",
    "workbook",
    "wrapped",
]

log = logging.getLogger("cem_clients.console")
KIND = AppKind.CONSOLE
Handler = Callable[[], Any]
Cell = str | ft.Control
_TRANSLATOR: ContextVar[Translator | None] = ContextVar("cem_console_translator", default=None)


def say(value: str) -> str:
    """A message as the user reads it: a view model's problem in the language of the session being drawn."""
    tr = _TRANSLATOR.get()
    return localized(value, tr) if tr is not None else value


@dataclass(eq=False)
class Ui:
    """The UI side of one console session: strings, colours, redraw, dialogs, files, navigation."""

    page: ft.Page
    tr: Translator
    palette: Palette = field(default_factory=lambda: palette_for(KIND))
    redraw: Callable[[], None] = lambda: None
    navigate: Callable[[str, Mapping[str, str]], Awaitable[None]] | None = None
    dialog: ft.AlertDialog | None = None
    _dialog_body: Callable[[], ft.Control] | None = None
    _dialog_actions: Callable[[], list[ft.Control]] | None = None
    _dialog_width: int = 560
    busy: bool = False

    def t(self, key: str, /, **fmt: object) -> str:
        """The string of ``key`` in the session's language."""
        return self.tr.t(key, **fmt)

    @contextlib.contextmanager
    def rendering(self) -> Iterator[None]:
        """Draw within: the message widgets use this session's language."""
        token = _TRANSLATOR.set(self.tr)
        try:
            yield
        finally:
            _TRANSLATOR.reset(token)

    def act(self, work: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """An event handler running ``work`` then redrawing; an unexpected error is logged, not fatal."""

        async def handler() -> None:
            if self.busy:
                return  # one operation at a time: a double click does not send twice
            self.busy = True
            try:
                await work()
            except ClientError as err:  # screens keep refusals in their forms; this is the last resort
                log.warning("console action refused: %s", err)
            except Exception:
                log.exception("console action failed")
            finally:
                self.busy = False
            self.refresh()

        return handler

    def refresh(self) -> None:
        """Redraw the screen and the open dialog."""
        self.redraw()
        if self.dialog is not None and self._dialog_body is not None and self._dialog_actions is not None:
            with self.rendering():
                self.dialog.content = ft.Container(self._dialog_body(), width=self._dialog_width)
                self.dialog.actions = self._dialog_actions()
            with contextlib.suppress(RuntimeError):  # not on the page any more
                self.dialog.update()

    # ---- dialogs -------------------------------------------------------------------------------------------

    def open_dialog(
        self, title: str, body: Callable[[], ft.Control], actions: Callable[[], list[ft.Control]], width: int = 560
    ) -> None:
        """Show a modal dialog whose body and buttons are rebuilt on every redraw."""
        self.close_dialog()
        self._dialog_body, self._dialog_actions, self._dialog_width = body, actions, width
        with self.rendering():
            self.dialog = ft.AlertDialog(
                modal=True,
                title=ft.Text(title, size=type_scale(KIND).title, weight=ft.FontWeight.BOLD),
                content=ft.Container(body(), width=width),
                actions=actions(),
                actions_alignment=ft.MainAxisAlignment.END,
            )
        self.page.show_dialog(self.dialog)

    def close_dialog(self) -> None:
        """Close the dialog shown, if any."""
        if self.dialog is not None:
            self.dialog, self._dialog_body, self._dialog_actions = None, None, None
            with contextlib.suppress(RuntimeError):
                self.page.pop_dialog()

    # ---- files ---------------------------------------------------------------------------------------------

    # A picker is made for each use: Flet drops a page's services once nothing but one attribute refers to them
    # (after the event that made them), so a kept picker would be gone from the page the next time.

    async def pick_file(self, extensions: Sequence[str] = ()) -> tuple[str, bytes] | None:
        """Let the user choose one file; its name and bytes (None when cancelled)."""
        picker = ft.FilePicker()  # referred to here and by the call: kept on the page while the user chooses
        files = await picker.pick_files(
            file_type=ft.FilePickerFileType.CUSTOM if extensions else ft.FilePickerFileType.ANY,
            allowed_extensions=list(extensions) or None,
            with_data=True,
        )
        if not files or files[0].bytes is None:
            return None
        return files[0].name, files[0].bytes

    async def save_file(self, filename: str, content: bytes) -> None:
        """Offer ``content`` as a file: a download in the browser, a save dialog on the desktop."""
        picker = ft.FilePicker()
        await picker.save_file(file_name=filename, src_bytes=content)

    async def go(self, section: str, **options: str) -> None:
        """Open another section (with start options, e.g. a device to issue a token for)."""
        if self.navigate is not None:
            await self.navigate(section, options)


class Section:
    """A screen of the console: ``load()`` what it shows, ``render()`` it."""

    title_key = ""

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        self.ui = ui
        self.console = console
        self.options = dict(options)

    async def load(self) -> None:
        """Fetch what the screen shows (errors land in the screen's model)."""

    def close(self) -> None:
        """The screen is left (another section, sign-out, the tab closed): stop what it runs in the background."""

    def resume(self) -> None:
        """The tab came back after :meth:`close` (a network blip, a sleeping laptop): start that again."""

    def render(self) -> ft.Control:
        """The screen's controls for the view state as it is now."""
        raise NotImplementedError

    @property
    def t(self) -> Callable[..., str]:
        """The translator's ``t``."""
        return self.ui.t


# ---- widgets ------------------------------------------------------------------------------------------------------


def bind(target: object, name: str) -> Callable[[Any], None]:
    """A setter of ``target.name`` for a field's ``on_value``."""

    def setter(value: Any) -> None:
        setattr(target, name, value)

    return setter


def text(
    value: str,
    *,
    size: int | None = None,
    bold: bool = False,
    color: str | None = None,
    width: int | None = None,
    expand: bool = False,
    selectable: bool = False,
) -> ft.Text:
    """Body text (ellipsised when it does not fit its width)."""
    palette = palette_for(KIND)
    return ft.Text(
        value,
        size=size or type_scale(KIND).body,
        weight=ft.FontWeight.BOLD if bold else None,
        color=color or palette.text,
        width=width,
        expand=True if expand else None,  # never False: Flet lays an explicit False out wrongly in a wrapping Row
        selectable=selectable,
        overflow=ft.TextOverflow.ELLIPSIS if width or expand else ft.TextOverflow.CLIP,
    )


def wrapped(value: str, width: int, *, muted_: bool = False, color: str | None = None) -> ft.Text:
    """Text wrapping onto further lines within ``width`` (cells of tables whose rows grow with them)."""
    palette = palette_for(KIND)
    scale = type_scale(KIND)
    return ft.Text(
        value,
        size=scale.label if muted_ else scale.body,
        color=color or (palette.text_muted if muted_ else palette.text),
        width=width,
        max_lines=4,
        overflow=ft.TextOverflow.ELLIPSIS,
    )


def muted(value: str, *, size: int | None = None, width: int | None = None) -> ft.Text:
    """Secondary text: labels, units, hints."""
    return text(value, size=size or type_scale(KIND).label, color=palette_for(KIND).text_muted, width=width)


def label(value: str) -> ft.Text:
    """A caption above a figure or a group of fields."""
    return muted(value)


def heading(value: str, *, trailing: Sequence[ft.Control] = (), size: int | None = None) -> ft.Control:
    """A screen's or a card's title, with controls on the right (buttons, filters)."""
    title = text(value, size=size or type_scale(KIND).title, bold=True)
    if not trailing:
        return title
    return ft.Row([title, ft.Container(expand=True), *trailing], vertical_alignment=ft.CrossAxisAlignment.CENTER)


def section_page(
    title: str,
    content: Sequence[ft.Control],
    *,
    trailing: Sequence[ft.Control] = (),
    error: str = "",
    notice: str = "",
) -> ft.Control:
    """A section's page: its title (with buttons on the right), what went wrong and what the last action did (each
    taking no room when empty), then its content."""
    return ft.Column(
        [heading(title, trailing=trailing), message(error), message(notice, Tone.GOOD), *content], spacing=12
    )


def card(
    body: Sequence[ft.Control],
    *,
    title: str | None = None,
    trailing: Sequence[ft.Control] = (),
    expand: bool | int | None = None,
    width: int | None = None,
    padding: int = 16,
    subtitle: str = "",
) -> ft.Container:
    """A white card on the page's background (a title and a line under it, if given)."""
    palette = palette_for(KIND)
    controls: list[ft.Control] = [heading(title, trailing=trailing, size=type_scale(KIND).body + 2)] if title else []
    if subtitle:
        controls.append(muted(subtitle))
    return ft.Container(
        ft.Column([*controls, *body], spacing=10, tight=True),
        bgcolor=palette.surface,
        border=ft.Border.all(1, palette.outline),
        border_radius=8,
        padding=padding,
        expand=expand or None,
        width=width,
    )


def stat(title: str, value: str, *, tone: Tone | None = None, note: str = "", width: int | None = None) -> ft.Control:
    """A figure with its caption (overview cards)."""
    palette = palette_for(KIND)
    scale = type_scale(KIND)
    colour = palette.tone(tone) if tone is not None else palette.text
    body: list[ft.Control] = [
        label(title),
        ft.Text(value, size=scale.numeral_m, weight=ft.FontWeight.BOLD, color=colour, no_wrap=True),
    ]
    body.append(muted(note or " "))  # every card as high as the others
    return card(body, expand=True if width is None else None, width=width, padding=14)


def chip(value: str, tone: Tone) -> ft.Control:
    """A state or severity as a small filled label."""
    palette = palette_for(KIND)
    return ft.Container(
        ft.Text(value, size=type_scale(KIND).label, color=palette.on_tone(tone), no_wrap=True),
        bgcolor=palette.tone(tone),
        padding=ft.Padding.symmetric(horizontal=8, vertical=2),
        border_radius=10,
    )


def message(value: str, tone: Tone = Tone.CRITICAL) -> ft.Control:
    """A message above a form or a table: the platform's refusal, a result ("" shows nothing)."""
    value = say(value)
    if not value:
        return ft.Container(visible=False)  # takes no room, not even the column's spacing
    palette = palette_for(KIND)
    icon = {Tone.GOOD: ft.Icons.CHECK_CIRCLE_OUTLINE, Tone.INFO: ft.Icons.INFO_OUTLINE}.get(
        tone, ft.Icons.ERROR_OUTLINE
    )
    return ft.Container(
        ft.Row(
            [
                ft.Icon(icon, color=palette.tone(tone), size=18),
                ft.Text(value, size=type_scale(KIND).body, color=palette.tone(tone), expand=True),  # wraps
            ],
            spacing=8,
        ),
        bgcolor=palette.surface_raised,
        border_radius=6,
        padding=ft.Padding.symmetric(horizontal=12, vertical=8),
    )


def field_error(value: str) -> ft.Control:
    """A field's problem under it ("" shows nothing)."""
    value = say(value)
    if not value:
        return ft.Container(visible=False)  # takes no room, not even the column's spacing
    return text(value, size=type_scale(KIND).label, color=palette_for(KIND).tone(Tone.CRITICAL))


def text_field(
    caption: str,
    value: str,
    on_value: Callable[[str], None],
    *,
    error: str = "",
    width: int | None = 240,
    password: bool = False,
    hint: str = "",
    on_submit: Handler | None = None,
    multiline: bool = False,
    autofocus: bool = False,
    expand: bool = False,
) -> ft.TextField:
    """A compact text field bound to a model attribute through ``on_value`` (called on every change)."""
    scale = type_scale(KIND)
    field_ = ft.TextField(
        label=caption,
        value=value,
        password=password,
        can_reveal_password=password,
        hint_text=hint or None,
        error=say(error) or None,
        dense=True,
        content_padding=ft.Padding.symmetric(horizontal=12, vertical=18),  # as high as a dropdown (48 px)
        text_size=scale.body,
        width=None if expand else width,
        expand=True if expand else None,
        label_style=ft.TextStyle(size=scale.body),
        hint_style=ft.TextStyle(size=scale.body),
        multiline=multiline,
        min_lines=2 if multiline else None,
        max_lines=4 if multiline else None,
        autofocus=autofocus,
        border=ft.OutlineInputBorder(border_radius=6),
    )

    def changed() -> None:
        on_value(field_.value or "")

    field_.on_change = changed
    if on_submit is not None:
        field_.on_submit = on_submit
    return field_


def code_field(
    ui: Ui,
    form: Form,
    *,
    hint_key: str = "console.control.code_hint",
    on_submit: Handler | None = None,
    width: int | None = 200,
    autofocus: bool = False,
) -> ft.TextField:
    """The authenticator code of a form that asks for one; its error is shown under it unless the message above the
    form already says it."""
    error = form.error("totp_code")
    return text_field(
        ui.t("login.totp"),
        form.totp_code,
        bind(form, "totp_code"),
        error=error if error != form.message else "",
        hint=ui.t(hint_key),
        on_submit=on_submit,
        width=width,
        autofocus=autofocus,
    )


def picked_day(value: object) -> dt.date | None:
    """The day a date picker reports: its date (a local, naive midnight), or — sent as an instant — the day whose
    local midnight that instant is, in whatever zone the browser is (the nearest day: zones are within 12 hours)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.date()
        return (value.astimezone(dt.UTC) + dt.timedelta(hours=12)).date()
    if isinstance(value, dt.date):
        return value
    return None


def _day_in(text: str) -> dt.date | None:
    """The day a typed bound stands for (``2024``, ``2024-03`` and ``2024-03-05`` give their first day)."""
    parts = text.strip().split("-")
    try:
        numbers = [int(p) for p in parts]
        return dt.date(numbers[0], numbers[1] if len(numbers) > 1 else 1, numbers[2] if len(numbers) > 2 else 1)
    except (ValueError, IndexError):
        return None


def date_field(
    ui: Ui,
    caption: str,
    value: dt.date | str | None,
    on_value: Callable[[dt.date | str], None],
    *,
    error: str = "",
    width: int = 200,
    hint: str = "YYYY-MM-DD",
    on_submit: Handler | None = None,
) -> ft.TextField:
    """A date typed as text, or picked from a calendar (Flet's :class:`~flet.DatePicker`, opened by the field's
    calendar button): ``on_value`` gets the text as typed, or the :class:`~datetime.date` picked (the screen is
    redrawn then)."""
    shown = value.isoformat() if isinstance(value, dt.date) else (value or "")
    field_ = text_field(caption, shown, on_value, error=error, width=width, hint=hint, on_submit=on_submit)

    def picked(picker: ft.DatePicker) -> Callable[[], None]:
        def handler() -> None:
            day = picked_day(picker.value)
            if day is not None:
                on_value(day)
                ui.refresh()

        return handler

    def open_picker() -> None:
        current = value if isinstance(value, dt.date) else _day_in(shown)
        picker = ft.DatePicker(
            value=dt.datetime.combine(current, dt.time()) if current else None,
            first_date=dt.datetime(2000, 1, 1),  # noqa: DTZ001 - a calendar day, not an instant
            last_date=dt.datetime(2100, 12, 31),  # noqa: DTZ001 - a calendar day, not an instant
            help_text=caption,
            confirm_text=ui.t("confirm"),
            cancel_text=ui.t("cancel"),
        )
        picker.on_change = picked(picker)
        ui.page.show_dialog(picker)

    # suffix_icon, not suffix: Flutter shows a suffix only while the field has focus or text
    field_.suffix_icon = ft.IconButton(
        ft.Icons.CALENDAR_MONTH_OUTLINED,
        tooltip=ui.t("console.date.pick"),
        icon_size=18,
        on_click=open_picker,
        visual_density=ft.VisualDensity.COMPACT,
    )
    return field_


def pager(
    ui: Ui, summary: str, page: str, *, previous: Handler, next_: Handler, has_previous: bool, has_next: bool
) -> ft.Control:
    """A table's paging row: what is shown on the left, then newer and older pages around the page's number."""
    return ft.Row(
        [
            muted(summary),
            ft.Container(expand=True),
            secondary_button(
                ui.tr.t("console.audit.previous"), previous, icon=ft.Icons.CHEVRON_LEFT, disabled=not has_previous
            ),
            muted(page),
            secondary_button(ui.tr.t("console.audit.next"), next_, icon=ft.Icons.CHEVRON_RIGHT, disabled=not has_next),
        ],
        spacing=8,
    )


def day_span_fields(
    ui: Ui, form: DaySpanForm, first: str, last: str, *, on_submit: Handler | None = None, width: int = 170
) -> list[ft.Control]:
    """The first and last day of a :class:`DaySpanForm`, captioned ``first`` and ``last``, each with its calendar."""
    return [
        date_field(
            ui, caption, getattr(form, name), bind(form, name), error=form.error(name), width=width, on_submit=on_submit
        )
        for name, caption in (("first_day", first), ("last_day", last))
    ]


def dropdown(
    caption: str,
    value: str | None,
    options: Sequence[tuple[str, str]],
    on_value: Callable[[str], Any],
    *,
    error: str = "",
    width: int = 240,
) -> ft.Dropdown:
    """A compact choice of ``options`` (key, text); ``on_value`` gets the chosen key (a coroutine is awaited)."""
    scale = type_scale(KIND)
    control = ft.Dropdown(
        label=caption,
        value=value,
        options=[ft.DropdownOption(key=key, text=shown) for key, shown in options],
        error_text=say(error) or None,
        dense=True,
        content_padding=ft.Padding.symmetric(horizontal=12, vertical=6),
        text_size=scale.body,
        label_style=ft.TextStyle(size=scale.body),
        width=width,
        menu_height=360,
        enable_search=False,
        border=ft.OutlineInputBorder(border_radius=6),
    )

    async def selected() -> None:
        result = on_value(control.value or "")
        if hasattr(result, "__await__"):
            await result

    control.on_select = selected
    return control


def checkbox(caption: str, value: bool, on_value: Callable[[bool], None]) -> ft.Checkbox:
    """A check box bound through ``on_value``."""
    control = ft.Checkbox(label=caption, value=value)

    def changed() -> None:
        on_value(bool(control.value))

    control.on_change = changed
    return control


def inline_checkbox(caption: str, value: bool, on_value: Callable[[bool], None]) -> ft.Control:
    """A check box that takes only the width of its caption, so several share a wrapping row (Flet's labelled
    check box otherwise fills the whole width, one per line)."""
    wide = sum(1 for c in caption if ord(c) >= 0x2E80)  # CJK glyphs are about twice as wide as Latin ones
    return ft.Container(checkbox(caption, value, on_value), width=min(48 + 16 * wide + 9 * (len(caption) - wide), 360))


def primary_button(
    caption: str, on_click: Handler, *, icon: ft.IconData | None = None, disabled: bool = False
) -> ft.Control:
    """The main action of a form or dialog."""
    return ft.FilledButton(content=caption, icon=icon, on_click=on_click, disabled=disabled)


def secondary_button(
    caption: str, on_click: Handler, *, icon: ft.IconData | None = None, disabled: bool = False
) -> ft.Control:
    """Other actions."""
    return ft.OutlinedButton(content=caption, icon=icon, on_click=on_click, disabled=disabled)


def form_dialog(
    ui: Ui,
    title: str,
    body: Callable[[], ft.Control],
    *,
    submit: str,
    on_submit: Callable[[], Awaitable[object]],
    on_cancel: Handler | None = None,
    icon: ft.IconData | None = None,
    width: int = 560,
) -> None:
    """A modal form: ``body()`` (rebuilt on every redraw), then cancel and the ``submit`` button; ``on_submit`` closes
    it when it succeeds, ``on_cancel`` (e.g. forgetting the form) runs before cancel closes it."""

    def cancel() -> None:
        if on_cancel is not None:
            on_cancel()
        ui.close_dialog()

    ui.open_dialog(
        title,
        body,
        lambda: [secondary_button(ui.t("cancel"), cancel), primary_button(submit, ui.act(on_submit), icon=icon)],
        width=width,
    )


def table(
    columns: Sequence[tuple[str, bool]],
    rows: Sequence[Sequence[Cell]],
    *,
    on_select: Sequence[Handler | None] | None = None,
    selected: int | None = None,
    empty: str = "",
) -> ft.Control:
    """A dense data table: columns (caption, numeric); each row's cells as text or controls; rows clickable when
    ``on_select`` gives them a handler. Without rows, ``empty`` is shown under the header. A row is as high as its
    tallest cell (wrapped text, several lines of errors), at least one compact line."""
    palette = palette_for(KIND)
    scale = type_scale(KIND)

    def cell(value: Cell, numeric: bool) -> ft.DataCell:
        if isinstance(value, str):
            return ft.DataCell(
                ft.Text(
                    value,
                    size=scale.body,
                    color=palette.text,
                    text_align=ft.TextAlign.RIGHT if numeric else ft.TextAlign.START,
                )
            )
        return ft.DataCell(value)

    data_rows = []
    for i, row in enumerate(rows):
        handler = on_select[i] if on_select is not None and i < len(on_select) else None
        data_rows.append(
            ft.DataRow(
                [cell(value, numeric) for value, (_, numeric) in zip(row, columns, strict=True)],
                on_select_change=handler,
                selected=selected == i,
            )
        )
    grid = ft.DataTable(
        columns=[
            ft.DataColumn(
                label=ft.Text(caption or " ", size=scale.label, weight=ft.FontWeight.BOLD, color=palette.text_muted),
                numeric=numeric,
            )
            for caption, numeric in columns
        ],
        rows=data_rows,
        heading_row_height=36,
        data_row_min_height=36,
        data_row_max_height=float("inf"),  # as high as the content: Flutter sizes rows to the maximum otherwise
        column_spacing=16,
        horizontal_margin=12,
        divider_thickness=0.5,
        show_checkbox_column=False,
        heading_row_color=palette.surface_raised,
    )
    body: list[ft.Control] = [ft.Row([grid], scroll=ft.ScrollMode.AUTO)]
    if not rows and empty:
        body.append(
            ft.Container(muted(empty, size=scale.body), padding=ft.Padding.symmetric(horizontal=12, vertical=8))
        )
    return ft.Column(body, spacing=0, tight=True)


def filter_bar(
    fields: Sequence[ft.Control], on_apply: Handler, ui: Ui, *, on_reset: Handler | None = None
) -> ft.Control:
    """The filters above a table: its fields in a wrapping row, then search (and reset to the defaults)."""
    buttons: list[ft.Control] = [secondary_button(ui.t("search"), on_apply, icon=ft.Icons.SEARCH)]
    if on_reset is not None:
        buttons.append(ft.TextButton(content=ui.t("console.filters.reset"), on_click=on_reset))
    return ft.Row([*fields, *buttons], spacing=8, wrap=True, run_spacing=8)


SheetData = tuple[str, Sequence[str], Sequence[Sequence[object]]]
"""A sheet of an export: its title, header and rows."""


def workbook(
    title: str, header: Sequence[str], rows: Sequence[Sequence[object]], *, more: Sequence[SheetData] = ()
) -> bytes:
    """A table as an XLSX workbook: one sheet (and the sheets of ``more`` after it), a bold header row, cells as
    given (text, numbers, naive local times), columns about as wide as their text. A :class:`~decimal.Decimal` is
    written as a number shown with its own places and thousand separators (``Decimal("1234.50")``: 1,234.50), as
    the screen shows it."""
    book = Workbook()
    for index, (name, head, body) in enumerate(((title, header, rows), *more)):
        sheet = book.active if index == 0 else book.create_sheet()
        sheet.title = name[:31] or f"Sheet{index + 1}"  # Excel's limit for a sheet's name
        sheet.append(list(head))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in body:
            sheet.append(list(row))
            for cell, value in zip(sheet[sheet.max_row], row, strict=False):
                if isinstance(value, Decimal):
                    places = max(0, -int(value.as_tuple().exponent))
                    cell.number_format = "#,##0" + ("." + "0" * places if places else "")
        for column in sheet.columns:
            widest = max((len(str(c.value)) if c.value is not None else 0) for c in column)
            # CJK text is about twice as wide as Latin: 1.6 per character keeps both readable
            sheet.column_dimensions[column[0].column_letter].width = min(max(10, widest * 1.6 + 2), 60)
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export_button(
    ui: Ui,
    filename: Callable[[], str],
    sheet: Callable[[], SheetData],
    *,
    more: Callable[[], Sequence[SheetData]] | None = None,
) -> ft.Control:
    """The export of a table as XLSX: ``sheet()`` gives its title, header and rows as shown (``more()``: further
    sheets, e.g. a chart's figures), then it is saved (a download in the browser) as ``filename()``."""

    async def export() -> None:
        title, header, rows = sheet()
        await ui.save_file(filename(), workbook(title, header, rows, more=more() if more is not None else ()))

    return secondary_button(ui.t("console.export.xlsx"), ui.act(export), icon=ft.Icons.DOWNLOAD)


def sheet_data(sheet: Sheet) -> SheetData:
    """A :class:`~cem_clients.console.stats.Sheet` as an export's sheet: its title, captions and rows (figures as
    numbers rounded as shown)."""
    return sheet.title, sheet.header, sheet.workbook_rows()


def sheet_table(sheet: Sheet, tr: Translator, *, total: bool = False, empty: str = "", wrap: int = 0) -> ft.Control:
    """A :class:`~cem_clients.console.stats.Sheet` as a table, its cells as the sheet shows them (``total``: the
    last row in bold; ``wrap``: text columns other than the first wrap within that many px)."""
    palette = palette_for(KIND)
    shown = sheet.shown(tr)
    rows: list[list[Cell]] = []
    for r, cells in enumerate(shown):
        bold = total and r == len(shown) - 1
        row: list[Cell] = []
        for c, value in enumerate(cells):
            if bold:
                row.append(ft.Text(value, weight=ft.FontWeight.BOLD, color=palette.text, size=type_scale(KIND).body))
            elif wrap and c > 0 and sheet.columns[c].places is None and len(value) > 12:
                row.append(wrapped(value, wrap))
            else:
                row.append(value)
        rows.append(row)
    return table([(c.caption, c.places is not None) for c in sheet.columns], rows, empty=empty)


# ---- charts -------------------------------------------------------------------------------------------------------

SERIES_COLOURS = (
    "#2563EB", "#F59E0B", "#10B981", "#8B5CF6", "#EC4899", "#06B6D4",
    "#84CC16", "#F97316", "#6366F1", "#14B8A6", "#A855F7", "#EAB308",
)  # fmt: skip
"""Colours of a chart's series, in order: distinct on white and for the common colour-vision deficiencies."""


@dataclass(frozen=True)
class LegendEntry:
    """A series in a chart's legend: its caption and colour, drawn as a line or a filled square."""

    caption: str
    colour: str
    line: bool = False
    dashed: bool = False


@dataclass(frozen=True)
class ChartScale:
    """A value axis: from ``low`` to ``high`` in round steps of ``step``."""

    low: float
    high: float
    step: float

    def ticks(self) -> list[float]:
        """The values labelled on the axis."""
        count = round((self.high - self.low) / self.step)
        return [self.low + i * self.step for i in range(count + 1)]


def chart_scale(values: Iterable[float], *, with_zero: bool = True, steps: int = 6) -> ChartScale:
    """A value axis holding ``values`` (and zero, unless told) in about ``steps`` round steps (1, 2, 2.5, 5 x 10^n)."""
    numbers = [v for v in values if math.isfinite(v)]
    low = min([*numbers, 0.0] if with_zero else numbers or [0.0])
    high = max([*numbers, 0.0] if with_zero else numbers or [1.0])
    if high == low:
        high, low = (high + abs(high) * 0.1 or 1.0), (low - abs(low) * 0.1 if not with_zero else low)
    raw = (high - low) / steps
    size = 10 ** math.floor(math.log10(raw))
    step = next(m * size for m in (1, 2, 2.5, 5, 10) if m * size >= raw)
    return ChartScale(math.floor(low / step) * step, math.ceil(high / step) * step, step)


def chart_axis(
    labels: Sequence[tuple[float, str]],
    *,
    size: float = 22,
    title: str | None = None,
    show: bool = True,
    spacing: float | None = None,
) -> fch.ChartAxis:
    """An axis of a chart with ``labels`` (value, text) in the console's label size; ``size`` is the room the labels
    get (the height of the bottom axis's, the width of the left axis's); ``spacing``: the step between labels (a
    value axis's :class:`ChartScale` step, so that every label shows; by default the chart picks one and leaves
    out the labels between)."""
    palette, scale = palette_for(KIND), type_scale(KIND)
    return fch.ChartAxis(
        labels=[
            fch.ChartAxisLabel(
                value=value, label=ft.Text(caption, size=scale.label, color=palette.text_muted, no_wrap=True)
            )
            for value, caption in labels
        ],
        label_size=size,
        label_spacing=spacing,
        show_labels=show,
        title=ft.Text(title, size=scale.label, color=palette.text_muted) if title else None,
        title_size=18 if title else 0,
    )


def value_label(tr: Translator, value: float, scale: ChartScale) -> str:
    """A value axis's label: large numbers shortened (1.2万 / 12k), small steps with the places they need."""
    number = Decimal(repr(round(value, 12)))
    if max(abs(scale.low), abs(scale.high)) >= 100_000:
        return tr.compact(number, 1)
    step = Decimal(repr(round(scale.step, 12))).normalize()
    return tr.number(number, max(0, -int(step.as_tuple().exponent)))


def value_axis(tr: Translator, scale: ChartScale, *, size: float = 56, hidden: bool = False) -> fch.ChartAxis:
    """The value axis of ``scale``, every step labelled (``hidden``: the same room, no labels; a chart stacked on
    another one with the same plot area)."""
    labels = [(v, "" if hidden else value_label(tr, v, scale)) for v in scale.ticks()]
    return chart_axis(labels, size=size, spacing=scale.step)


def legend(entries: Sequence[LegendEntry]) -> ft.Control:
    """A chart's legend: a swatch (a square, or a line for a line series) and the caption of each series."""
    items: list[ft.Control] = []
    for entry in entries:
        swatch = (
            ft.Container(width=16, height=3 if not entry.dashed else 2, bgcolor=entry.colour, border_radius=1)
            if entry.line
            else ft.Container(width=11, height=11, bgcolor=entry.colour, border_radius=2)
        )
        items.append(
            ft.Row(
                [swatch, muted(entry.caption)], spacing=6, tight=True, vertical_alignment=ft.CrossAxisAlignment.CENTER
            )
        )
    return ft.Row(items, spacing=16, run_spacing=6, wrap=True)


def chart_card(
    title: str,
    chart: ft.Control | None,
    entries: Sequence[LegendEntry] = (),
    *,
    subtitle: str = "",
    trailing: Sequence[ft.Control] = (),
    height: int = 260,
    empty: str = "",
    expand: bool | int | None = None,
    width: int | None = None,
    below: Sequence[ft.Control] = (),
) -> ft.Container:
    """A titled card around a chart (``height`` px high), its legend under it, then ``below`` (a table of the same
    figures, a note). Without a chart the card says ``empty`` where the chart would be."""
    body: ft.Control = (
        ft.Container(chart, height=height)
        if chart is not None
        else ft.Container(muted(empty, size=type_scale(KIND).body), height=height, alignment=ft.Alignment.CENTER)
    )
    controls: list[ft.Control] = [body]
    if entries and chart is not None:
        controls.append(legend(entries))
    return card([*controls, *below], title=title, subtitle=subtitle, trailing=trailing, expand=expand, width=width)


def emissions_range_fields(
    ui: Ui,
    query: EmissionsQuery,
    enterprise: tuple[int | None, str],
    processes: Iterable[Process],
    on_submit: Callable[[], Any],
    *,
    widths: tuple[int, int, int, int] = (220, 140, 170, 170),
    more_scopes: Sequence[tuple[str, str]] = (),
    pick_more: Callable[[str], bool] | None = None,
    chosen: str | None = None,
) -> list[ft.Control]:
    """The scope (the enterprise or one of its processes; ``more_scopes`` after them, e.g. facilities and sources,
    ``(value, caption)``, taken by ``pick_more``, which says whether it took the value; ``chosen``: the picker's
    value when the query's scope is not the one shown), period and from/to fields of a query over emission results,
    as the emissions and the statistics sections ask them."""
    t = ui.t
    enterprise_id, enterprise_name = enterprise

    def scope(value: str) -> None:
        if pick_more is not None and pick_more(value):
            return
        if value == "enterprise":
            query.scope, query.scope_id = "enterprise", enterprise_id
        elif value:
            query.scope, query.scope_id = "process", int(value)

    def period(value: str) -> None:
        if value in PERIOD_KINDS:
            query.period = value

    scope_width, period_width, start_width, end_width = widths
    return [
        dropdown(
            t("console.emissions.scope"),
            chosen or ("enterprise" if query.scope == "enterprise" else str(query.scope_id)),
            [("enterprise", enterprise_name), *((str(p.id), f"{p.code} {p.name}") for p in processes), *more_scopes],
            scope,
            error=query.error("scope_id"),
            width=scope_width,
        ),
        dropdown(
            t("console.emissions.period"),
            query.period,
            [(k, t(f"console.period.{k}")) for k in PERIOD_KINDS],
            period,
            width=period_width,
        ),
        date_field(
            ui,
            t("console.emissions.start"),
            query.start,
            lambda v: query.set_bound("start", v),
            error=query.error("start"),
            hint="2024-01",
            width=start_width,
            on_submit=on_submit,
        ),
        date_field(
            ui,
            t("console.emissions.end"),
            query.end,
            lambda v: query.set_bound("end", v),
            error=query.error("end"),
            hint="2025-01",
            width=end_width,
            on_submit=on_submit,
        ),
    ]
