"""The operators' alarm view: the list with filters and export, one alarm with what happened, what to check first,
the meters it leaves without data and its history, and the acknowledge and clear dialogs.

Every alarm text comes from :func:`cem_clients.ui.alarm_text.describe_alarm`, so an alarm reads the same here as
on the wallboard and the crew's phone; the platform's technical text stays one click away.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Literal

import flet as ft

from cem_clients.api import Alarm, AlarmEvent
from cem_clients.console.alarms import ALARM_KINDS, ALARM_STATES, SEVERITIES, AlarmBoard
from cem_clients.console.app_kit import (
    Cell,
    Section,
    Ui,
    bind,
    card,
    chip,
    day_span_fields,
    dropdown,
    export_button,
    filter_bar,
    form_dialog,
    message,
    muted,
    pager,
    primary_button,
    secondary_button,
    section_page,
    table,
    text,
    text_field,
    wrapped,
)
from cem_clients.console.model import Console
from cem_clients.ui.alarm_text import AlarmText, describe_alarm, is_consequence
from cem_clients.ui.theme import Tone, alarm_tone, severity_tone

__all__ = ["AlarmsSection"]

DETAIL_WIDTH = 480


class AlarmsSection(Section):
    """Alarms of the enterprise worked on: filter, open one, acknowledge, clear, export."""

    title_key = "console.section.alarms"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.board: AlarmBoard = console.alarms()
        f = self.board.filters
        f.state = options.get("state", "open") if options.get("state", "open") in ("", *ALARM_STATES) else "open"
        f.severity, f.kind = options.get("severity", ""), options.get("kind", "")
        f.first_day, f.last_day = options.get("from") or None, options.get("to") or None
        self.notice = ""

    async def load(self) -> None:
        await self.board.load()
        opened = self.options.pop("alarm", "")
        if opened.isdigit() and await self.board.open(int(opened)) is not None:
            action = self.options.pop("action", "")
            if action in ("acknowledge", "clear"):
                self._open_note_dialog(action)  # type: ignore[arg-type]  # one of the two, checked above

    def _text(self, alarm: Alarm) -> AlarmText:
        return describe_alarm(alarm, self.ui.tr)

    # ---- list ---------------------------------------------------------------------------------------------------

    def render(self) -> ft.Control:
        t, board = self.t, self.board
        trailing: list[ft.Control] = [
            secondary_button(t("refresh"), self.ui.act(board.search), icon=ft.Icons.REFRESH),
            export_button(self.ui, self._filename, self._sheet),
        ]
        body: list[ft.Control] = [ft.Container(self._list(), expand=True)]
        if board.opened is not None:
            body.append(ft.Container(self._detail(board.opened), width=DETAIL_WIDTH))
        return section_page(
            t("console.section.alarms"),
            [ft.Row(body, spacing=12, vertical_alignment=ft.CrossAxisAlignment.START)],
            trailing=trailing,
            error=board.error,
            notice=self.notice,
        )

    def _filters(self) -> ft.Control:
        t, board, f = self.t, self.board, self.board.filters
        search = self.ui.act(board.search)

        async def reset() -> None:
            f.state, f.severity, f.kind, f.site_id, f.first_day, f.last_day = "open", "", "", None, None, None
            await board.search()

        def site(value: str) -> None:
            f.site_id = int(value) if value.isdigit() else None

        return filter_bar(
            [
                dropdown(
                    t("console.col.state"),
                    f.state,
                    [("open", t("console.alarms.state.open"))]
                    + [(s, t(f"alarm.state.{s}")) for s in ALARM_STATES if s != "open"]
                    + [("", t("console.all"))],
                    bind(f, "state"),
                    error=f.error("state"),
                    width=150,
                ),
                dropdown(
                    t("console.alarms.severity"),
                    f.severity,
                    [("", t("console.all"))] + [(s, t(f"alarm.severity.{s}")) for s in SEVERITIES],
                    bind(f, "severity"),
                    error=f.error("severity"),
                    width=130,
                ),
                dropdown(
                    t("console.alarms.kind"),
                    f.kind,
                    [("", t("console.all"))] + [(k, t(f"alarm.kind.{k}")) for k in ALARM_KINDS],
                    bind(f, "kind"),
                    error=f.error("kind"),
                    width=190,
                ),
                dropdown(
                    t("console.alarms.site"),
                    str(f.site_id) if f.site_id is not None else "",
                    [("", t("console.all"))] + [(str(s.id), s.name) for s in board.sites],
                    site,
                    width=160,
                ),
                *day_span_fields(
                    self.ui, f, t("console.alarms.first_day"), t("console.alarms.last_day"), on_submit=search
                ),
            ],
            search,
            self.ui,
            on_reset=self.ui.act(reset),
        )

    def _shown(self) -> list[Alarm]:
        """The alarms of the page, less those listed under an outage shown on it (they are its consequences)."""
        ids = {a.id for a in self.board.alarms}
        return [a for a in self.board.alarms if not (is_consequence(a) and a.root_id in ids)]

    def _list(self) -> ft.Control:
        t, board = self.t, self.board
        columns = [
            (t("console.alarms.severity"), False),
            (t("console.alarms.alarm"), False),
            (t("console.alarms.subject"), False),
            (t("console.alarms.raised"), False),
            (t("console.col.state"), False),
        ]
        narrow = board.opened is not None  # the detail beside the list: its count is there
        if not narrow:
            columns.append((t("console.alarms.occurrences"), True))
        shown = self._shown()
        rows: list[list[Cell]] = []
        handlers: list[Callable[[], object] | None] = []
        selected = None
        for i, alarm in enumerate(shown):
            words = self._text(alarm)
            title: list[ft.Control] = [text(words.title, bold=alarm.state != "cleared")]
            if words.consequences:
                title.append(muted(t("console.alarms.affected", count=len(words.consequences))))
            row: list[Cell] = [
                chip(t(f"alarm.severity.{alarm.severity}"), alarm_tone(alarm.severity, alarm.state)),
                ft.Column(title, spacing=0, tight=True),
                wrapped(words.subject, 180 if narrow else 300),
                words.raised_at,
                chip(t(f"alarm.state.{alarm.state}"), _state_tone(alarm.state)),
            ]
            rows.append(row if narrow else [*row, self.ui.tr.number(alarm.occurrences)])
            handlers.append(self._opener(alarm.id))
            if board.opened is not None and board.opened.id == alarm.id:
                selected = i
        paging = pager(
            self.ui,
            t("console.alarms.shown", count=len(shown)),
            t("console.alarms.page", page=board.page + 1),
            previous=self.ui.act(board.previous_page),
            next_=self.ui.act(board.next_page),
            has_previous=board.page > 0,
            has_next=board.has_next,
        )
        return card(
            [
                self._filters(),
                table(columns, rows, on_select=handlers, selected=selected, empty=t("console.alarms.empty")),
                paging,
            ]
        )

    def _opener(self, alarm_id: int) -> Callable[[], object]:
        async def work() -> None:
            self.notice = ""
            await self.board.open(alarm_id)

        return self.ui.act(work)

    # ---- one alarm ----------------------------------------------------------------------------------------------

    def _detail(self, alarm: Alarm) -> ft.Control:
        t, tr, board = self.t, self.ui.tr, self.board
        words = self._text(alarm)
        parts: list[ft.Control] = [
            message(board.detail_error),
            ft.Row(
                [
                    chip(t(f"alarm.severity.{alarm.severity}"), severity_tone(alarm.severity)),
                    chip(t(f"alarm.state.{alarm.state}"), _state_tone(alarm.state)),
                    muted(t("alarm.occurrences", count=alarm.occurrences)),
                ],
                spacing=8,
                wrap=True,
            ),
            muted(words.subject),
            _block(t("console.alarms.happened"), words.happened),
            _block(t("console.alarms.check_first"), words.check_first),
            _facts(
                [
                    (t("console.alarms.raised"), words.raised_at),
                    (t("console.alarms.last_seen"), tr.when(alarm.last_seen_at)),
                    *self._handled(alarm),
                ]
            ),
        ]
        if words.consequences:
            parts.append(
                _block(
                    t("console.alarms.consequences", count=len(words.consequences)),
                    "\n".join(f"· {c}" for c in words.consequences),
                )
            )
        parts.append(text(t("console.alarms.history"), bold=True))
        parts.append(self._history(alarm.events))
        parts.append(
            ft.ExpansionTile(
                title=muted(t("console.alarms.technical")),
                controls=[ft.Container(text(words.technical, selectable=True, size=12), padding=8)],
                tile_padding=ft.Padding.symmetric(horizontal=0),
                dense=True,
            )
        )
        buttons: list[ft.Control] = []
        if self.console.can("alarms.handle"):
            if board.may_acknowledge(alarm):
                buttons.append(
                    primary_button(
                        t("alarm.acknowledge"), lambda: self._open_note_dialog("acknowledge"), icon=ft.Icons.CHECK
                    )
                )
            if board.may_clear(alarm):
                buttons.append(
                    secondary_button(t("alarm.clear"), lambda: self._open_note_dialog("clear"), icon=ft.Icons.DONE_ALL)
                )
        elif alarm.state != "cleared":
            parts.append(message(t("console.alarms.read_only"), Tone.INFO))
        return card(
            parts + ([ft.Row(buttons, spacing=8)] if buttons else []),
            title=words.title,
            trailing=[ft.IconButton(ft.Icons.CLOSE, tooltip=t("close"), on_click=self._close_detail, icon_size=18)],
        )

    def _close_detail(self) -> None:
        self.board.close()
        self.ui.refresh()

    def _handled(self, alarm: Alarm) -> list[tuple[str, str]]:
        t, tr = self.t, self.ui.tr
        facts: list[tuple[str, str]] = []
        if alarm.acknowledged_at is not None:
            facts.append(
                (t("console.alarms.acknowledged"), f"{tr.when(alarm.acknowledged_at)} · {alarm.acknowledged_by}")
            )
        if alarm.cleared_at is not None:
            by = _actor(t, alarm.cleared_by)
            facts.append((t("console.alarms.cleared"), f"{tr.when(alarm.cleared_at)} · {by}"))
        return facts

    def _history(self, events: tuple[AlarmEvent, ...]) -> ft.Control:
        t, tr = self.t, self.ui.tr
        rows: list[list[Cell]] = [
            [
                tr.when(e.at),
                t(f"console.alarms.event.{e.action}") if e.action in _EVENTS else e.action,
                _actor(t, e.actor),
                wrapped(e.note or "—", 150),
            ]
            for e in events
        ]
        columns = [
            (t("console.col.time"), False),
            (t("console.alarms.step"), False),
            (t("console.col.actor"), False),
            (t("alarm.note"), False),
        ]
        return table(columns, rows, empty=t("console.alarms.no_history"))

    # ---- acknowledge and clear ----------------------------------------------------------------------------------

    def _open_note_dialog(self, action: Literal["acknowledge", "clear"]) -> None:
        board, ui, t = self.board, self.ui, self.t
        form = board.start(action)
        alarm = board.opened
        if form is None or alarm is None:
            return
        words = self._text(alarm)

        async def send() -> None:
            done = await board.submit()
            if done is not None:
                ui.close_dialog()
                self.notice = t(f"console.alarms.done.{action}", alarm=words.title)

        def body() -> ft.Control:
            hint = t("console.alarms.clear_hint" if action == "clear" else "console.alarms.ack_hint")
            return ft.Column(
                [
                    text(words.title, bold=True),
                    muted(f"{words.subject} · {words.raised_at}"),
                    message(form.message),
                    text_field(
                        t("alarm.note") + (" *" if action == "clear" else ""),
                        form.note,
                        bind(form, "note"),
                        error=form.error("note"),
                        hint=hint,
                        multiline=True,
                        width=480,
                        autofocus=True,
                    ),
                ],
                spacing=12,
                tight=True,
            )

        form_dialog(
            ui, t(f"console.alarms.{action}_title"), body, submit=t(f"alarm.{action}"), on_submit=send, width=520
        )

    # ---- export -------------------------------------------------------------------------------------------------

    def _filename(self) -> str:
        today = dt.datetime.now(self.ui.tr.zone).date()
        return self.t("console.alarms.filename", day=today.isoformat())

    def _sheet(self) -> tuple[str, list[str], list[list[object]]]:
        t, tr = self.t, self.ui.tr
        header = [
            t("console.alarms.severity"),
            t("console.alarms.alarm"),
            t("console.alarms.subject"),
            t("console.alarms.raised"),
            t("console.alarms.last_seen"),
            t("console.col.state"),
            t("console.alarms.occurrences"),
            t("console.alarms.happened"),
            t("console.alarms.check_first"),
            t("console.alarms.consequences_column"),
            t("console.alarms.technical"),
        ]
        rows: list[list[object]] = []
        for alarm in self._shown():
            words = self._text(alarm)
            rows.append(
                [
                    t(f"alarm.severity.{alarm.severity}"),
                    words.title,
                    words.subject,
                    words.raised_at,
                    tr.when(alarm.last_seen_at),
                    t(f"alarm.state.{alarm.state}"),
                    alarm.occurrences,
                    words.happened,
                    words.check_first,
                    "\n".join(words.consequences),
                    words.technical,
                ]
            )
        return t("console.section.alarms"), header, rows


_EVENTS = ("raised", "repeated", "escalated", "acknowledged", "cleared")


def _state_tone(state: str) -> Tone:
    return {"active": Tone.CRITICAL, "acknowledged": Tone.WARNING}.get(state, Tone.NEUTRAL)


def _actor(t: Callable[..., str], actor: str) -> str:
    return t("console.alarms.by_rule") if actor == "rule" else (actor or "—")


def _block(caption: str, body: str) -> ft.Control:
    return ft.Column([muted(caption), ft.Text(body, size=14)], spacing=2, tight=True)  # selectable text is not read


def _facts(pairs: list[tuple[str, str]]) -> ft.Control:
    return ft.Column(
        [ft.Row([muted(k, width=96), text(v, expand=True)], spacing=8) for k, v in pairs], spacing=4, tight=True
    )
