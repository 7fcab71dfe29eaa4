"""The reporting and verification screen: an enterprise's years with their reporting state, and for the year
chosen the figures as reported beside those kept now, what accounting it now would change, the verification and
the history; the actions the year's state and the caller's permissions allow, each in a dialog."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal

import flet as ft

from cem_clients.api import ReportedFigures, ReportingYear
from cem_clients.console.app_kit import (
    KIND,
    Cell,
    Section,
    Ui,
    bind,
    card,
    chip,
    code_field,
    form_dialog,
    heading,
    message,
    muted,
    primary_button,
    secondary_button,
    table,
    text,
    text_field,
    wrapped,
)
from cem_clients.console.model import (
    REPORT_STATES,
    Console,
    ReportAction,
    ReportingDesk,
    ReportingForm,
)
from cem_clients.ui.theme import Tone, type_scale

__all__ = ["ReportingSection", "STATE_TONES"]

STATE_TONES: dict[str, Tone] = {
    "draft": Tone.NEUTRAL,
    "submitted": Tone.INFO,
    "verified": Tone.GOOD,
    "locked": Tone.GOOD,
}
_ICONS: dict[ReportAction, ft.IconData] = {
    "submit": ft.Icons.SEND_OUTLINED,
    "verifier": ft.Icons.PERSON_ADD_ALT,
    "verify": ft.Icons.FACT_CHECK_OUTLINED,
    "lock": ft.Icons.LOCK_OUTLINE,
    "draft": ft.Icons.EDIT_NOTE,
    "reopen": ft.Icons.LOCK_OPEN,
}
_CAUSES = ("meter", "activity", "import", "source", "library", "year_method", "draft", "period_end")


class ReportingSection(Section):
    """Reporting states of the enterprise's years; submit, verifier, verify, lock, new draft and reopen."""

    title_key = "console.section.reporting"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        year = options.get("year", "")
        self.desk: ReportingDesk = console.reporting()
        if year.isdigit() and 2000 <= int(year) <= 2100:
            self.desk.year = int(year)
            if int(year) not in self.desk.years:
                self.desk.years = sorted({*self.desk.years, int(year)}, reverse=True)

    async def load(self) -> None:
        await self.desk.refresh()
        wanted = self.options.pop("action", "")
        for action in self.desk.actions():
            if action == wanted:
                self.open(action)

    # ---- drawing ------------------------------------------------------------------------------------------------

    def state_name(self, state: str) -> str:
        """A reporting state by name."""
        return self.t(f"console.reporting.state.{state}") if state in REPORT_STATES else state

    def render(self) -> ft.Control:
        t, desk = self.t, self.desk
        body: list[ft.Control] = [
            heading(
                t("console.section.reporting"),
                trailing=[secondary_button(t("refresh"), self.ui.act(desk.refresh), icon=ft.Icons.REFRESH)],
            ),
            muted(t("console.reporting.about")),
            message(desk.error),
            message(desk.notice, Tone.GOOD),
            self._years(),
        ]
        year = desk.selected
        if year is not None:
            body.append(self._year_header(year))
            if year.would_change_by is not None:
                body.append(self._would_change(year))
            body.append(
                ft.Row(
                    [
                        ft.Column([self._figures(year)], expand=True),
                        ft.Column([self._verification(year)], width=320),
                    ],
                    spacing=12,
                    vertical_alignment=ft.CrossAxisAlignment.START,
                )
            )
            body.append(self._history(year))
        return ft.Column(body, spacing=12)

    def _years(self) -> ft.Control:
        t, desk, palette = self.t, self.desk, self.ui.palette
        if not desk.shown_years:
            empty = "console.reporting.no_years_verifier" if desk.can("report.verify") else "console.reporting.no_years"
            return card([muted(t(empty), size=type_scale(KIND).body)])
        tiles: list[ft.Control] = []
        for year in desk.shown_years:
            state = desk.states[year]
            chosen = year == desk.year
            marks: list[ft.Control] = [chip(self.state_name(state.state), STATE_TONES.get(state.state, Tone.NEUTRAL))]
            if state.would_change_by is not None:
                marks.append(ft.Icon(ft.Icons.WARNING_AMBER, size=16, color=palette.tone(Tone.WARNING)))
            tiles.append(
                ft.Container(
                    ft.Row(
                        [text(t("console.reporting.year", year=year), bold=chosen), *marks],
                        spacing=8,
                        tight=True,
                    ),
                    padding=ft.Padding.symmetric(horizontal=12, vertical=8),
                    border_radius=8,
                    bgcolor=palette.surface_raised if chosen else palette.surface,
                    border=ft.Border.all(2 if chosen else 1, palette.primary if chosen else palette.outline),
                    on_click=self._select_handler(year),
                    tooltip=t("console.reporting.choose_year"),
                )
            )
        return ft.Row(tiles, spacing=8, wrap=True, run_spacing=8)

    def _select_handler(self, year: int) -> Callable[[], Awaitable[None]]:
        return self.ui.act(lambda: self.desk.select(year))

    def _year_header(self, year: ReportingYear) -> ft.Control:
        t = self.t
        facts = [t("console.reporting.draft_no", number=year.draft)]
        facts.append(
            t("console.reporting.verifier_is", name=year.verifier)
            if year.verifier
            else t("console.reporting.no_verifier")
        )
        if year.reported is not None and year.reported.library_version is not None:
            facts.append(t("console.lineage.library_version", version=year.reported.library_version))
        buttons: list[ft.Control] = []
        for action in self.desk.actions():
            caption = t(f"console.reporting.action.{action}")
            handler = self._open_handler(action)
            main = action in ("submit", "verify", "lock")
            buttons.append(
                primary_button(caption, handler, icon=_ICONS[action])
                if main
                else secondary_button(caption, handler, icon=_ICONS[action])
            )
        return card(
            [
                ft.Row(
                    [
                        text(t("console.reporting.year", year=year.year), size=type_scale(KIND).title, bold=True),
                        chip(self.state_name(year.state), STATE_TONES.get(year.state, Tone.NEUTRAL)),
                        muted(" · ".join(facts)),
                        ft.Container(expand=True),
                        *buttons,
                    ],
                    spacing=12,
                    vertical_alignment=ft.CrossAxisAlignment.CENTER,
                ),
                muted(t(f"console.reporting.meaning.{year.state}")) if year.state in REPORT_STATES else ft.Container(),
            ]
        )

    def _would_change(self, year: ReportingYear) -> ft.Control:
        t, tr, palette = self.t, self.ui.tr, self.ui.palette
        change = year.would_change_by
        assert change is not None  # noqa: S101 - the caller checked
        lines: list[ft.Control] = []
        if change.error:
            title = t("console.reporting.would_fail", year=year.year)
            lines.append(wrapped(change.error, 1000))
        else:
            net = tr.number(change.net, 2, sign=True) if change.net is not None else "—"
            title = t("console.reporting.would_change", year=year.year, net=net)
            if change.direct is not None:
                lines.append(
                    text(t("console.reporting.would_change_direct", direct=tr.number(change.direct, 2, sign=True)))
                )
        causes = [t(f"console.reporting.cause.{c}") if c in _CAUSES else c for c in dict.fromkeys(change.causes)]
        if causes:
            separator = "；" if tr.locale.value == "zh-CN" else "; "
            lines.append(text(t("console.reporting.causes", causes=separator.join(causes))))
        hint = t(
            "console.reporting.would_change_hint"
            if "draft" in self.desk.actions()
            else "console.reporting.would_change_unaffected"
        )
        if change.computed_at is not None:
            hint += " · " + t("console.reporting.computed_at", when=tr.when(change.computed_at))
        lines.append(muted(hint))
        return ft.Container(
            ft.Row(
                [
                    ft.Icon(ft.Icons.WARNING_AMBER, color=palette.tone(Tone.WARNING), size=28),
                    ft.Column(
                        [text(title, bold=True, size=type_scale(KIND).body + 2), *lines],
                        spacing=4,
                        tight=True,
                        expand=True,
                    ),
                ],
                spacing=12,
                vertical_alignment=ft.CrossAxisAlignment.START,
            ),
            bgcolor=palette.surface,
            border=ft.Border.all(2, palette.tone(Tone.WARNING)),
            border_radius=8,
            padding=14,
        )

    def _figures(self, year: ReportingYear) -> ft.Control:
        t, tr, desk = self.t, self.ui.tr, self.desk
        reported, kept, verified = year.reported, desk.kept, year.verified
        would = year.would_change_by.would_be if year.would_change_by is not None else None

        def num(value: Decimal | None, decimals: int = 2) -> str:
            return tr.number(value, decimals) if value is not None else "—"

        def of(figures: ReportedFigures | None, name: str) -> Decimal | None:
            return getattr(figures, name) if figures is not None else None

        tco2, per_t = "tCO2", t("unit.tco2_per_t")
        lines: list[tuple[str, str, str, int]] = [
            (t("console.reporting.figure.net"), "net", tco2, 2),
            (t("console.reporting.figure.direct"), "direct", tco2, 2),
            (t("console.reporting.figure.crude_steel"), "crude_steel", "t", 2),
            (t("console.reporting.figure.intensity"), "intensity", per_t, 4),
            (t("console.reporting.figure.direct_intensity"), "direct_intensity", per_t, 4),
        ]
        columns: list[tuple[str, bool]] = [
            (t("console.reporting.col.figure"), False),
            (t("console.col.unit"), False),
            (t("console.reporting.col.reported"), True),
            (t("console.reporting.col.kept"), True),
        ]
        if would is not None:
            columns.append((t("console.reporting.col.would_be"), True))
        if verified is not None:
            columns += [(t("console.reporting.col.verified"), True), (t("console.reporting.col.difference"), True)]
        rows: list[list[Cell]] = []
        for caption, name, unit, decimals in lines:
            row: list[Cell] = [
                wrapped(caption, 220),
                unit,
                ft.Text(num(of(reported, name), decimals), weight=ft.FontWeight.BOLD, color=self.ui.palette.text),
                num(getattr(kept, name) if kept is not None else None, decimals),
            ]
            if would is not None:
                row.append(num(of(would, name), decimals))
            if verified is not None:
                value = {"net": verified.net, "direct": verified.direct}.get(name)
                difference = {"net": verified.difference_net, "direct": verified.difference_direct}.get(name)
                row += [
                    num(value, decimals),
                    tr.number(difference, decimals, sign=True) if difference is not None else "—",
                ]
            rows.append(row)
        notes: list[str] = []
        if reported is None:
            notes.append(t("console.reporting.not_reported"))
        else:
            notes.append(
                t("console.reporting.reported_as", result=reported.result_id or "—", version=reported.version or "—")
            )
            if reported.direct_scope:
                notes.append(t("console.reporting.direct_scope", scope=reported.direct_scope))
        if kept is None:
            notes.append(t("console.reporting.no_result"))
        else:
            state = t("final") if kept.final else t("provisional")
            if kept.pending:
                state += " · " + t("console.emissions.pending")
            notes.append(t("console.reporting.kept_as", version=kept.version, state=state))
        return card(
            [table(columns, rows), *[muted(n) for n in notes]],
            title=t("console.reporting.figures"),
            subtitle=t("console.reporting.figures_about"),
        )

    def _verification(self, year: ReportingYear) -> ft.Control:
        t, tr = self.t, self.ui.tr
        verified = year.verified
        body: list[ft.Control] = [
            muted(t("console.reporting.verifier")),
            text(year.verifier or t("console.reporting.none"), bold=bool(year.verifier)),
        ]
        if verified is None:
            body.append(muted(t("console.reporting.not_verified")))
        else:
            when = tr.when(verified.at) if verified.at else ""
            body += [
                muted(t("console.reporting.verified_by", name=verified.by or "—", when=when)),
                muted(t("console.reporting.findings")),
                wrapped(year.findings or t("console.reporting.no_findings"), 280),
            ]
        return card(body, title=t("console.reporting.verification"))

    def _history(self, year: ReportingYear) -> ft.Control:
        t, tr = self.t, self.ui.tr
        columns = [
            (t("console.col.time"), False),
            (t("console.reporting.col.step"), False),
            (t("console.reporting.col.by"), False),
            (t("console.reporting.col.reason"), False),
        ]
        rows: list[list[Cell]] = [
            [
                tr.when(step.at) if step.at else "—",
                ft.Row(
                    [
                        chip(self.state_name(step.from_), STATE_TONES.get(step.from_, Tone.NEUTRAL)),
                        ft.Icon(ft.Icons.ARROW_FORWARD, size=14, color=self.ui.palette.text_muted),
                        chip(self.state_name(step.state), STATE_TONES.get(step.state, Tone.NEUTRAL)),
                    ],
                    spacing=6,
                    tight=True,
                ),
                step.by or "—",
                wrapped(self._reason(step.reason), 520),
            ]
            for step in reversed(year.history)
        ]
        return card(
            [table(columns, rows, empty=t("console.reporting.no_history"))], title=t("console.reporting.history")
        )

    def _reason(self, reason: str) -> str:
        """A transition's reason: the platform's own words (verified, locked) by name, a person's as written."""
        if reason in ("verified", "locked"):
            return self.t(f"console.reporting.state.{reason}")
        return reason or "—"

    # ---- dialogs ------------------------------------------------------------------------------------------------

    def _open_handler(self, action: ReportAction) -> Callable[[], None]:
        return lambda: self.open(action)

    def open(self, action: ReportAction) -> None:
        """The dialog of ``action`` on the chosen year."""
        ui, t, desk = self.ui, self.t, self.desk
        form = desk.start(action)
        chosen = desk.selected

        async def send() -> None:
            if await desk.send() is not None:
                ui.close_dialog()

        def body() -> ft.Control:
            parts: list[ft.Control] = [
                message(form.message, Tone.WARNING if form.needs_code else Tone.CRITICAL),
                wrapped(t(f"console.reporting.explain.{action}", year=form.year), 540),
            ]
            parts += self._form_fields(form, chosen)
            return ft.Column(parts, spacing=12, tight=True)

        form_dialog(
            ui,
            t(f"console.reporting.title.{action}", year=form.year),
            body,
            submit=t(f"console.reporting.action.{action}"),
            on_submit=send,
            on_cancel=lambda: setattr(desk, "form", None),
            icon=_ICONS[action],
            width=580,
        )

    def _form_fields(self, form: ReportingForm, year: ReportingYear | None) -> list[ft.Control]:
        t, tr = self.t, self.ui.tr
        fields: list[ft.Control] = []
        if form.action in ("submit", "draft", "reopen"):
            caption = "console.reporting.reason" if form.needs_reason else "console.reporting.note"
            fields.append(
                text_field(
                    t(caption),
                    form.reason,
                    bind(form, "reason"),
                    error=form.error("reason"),
                    width=540,
                    multiline=True,
                )
            )
        if form.action == "submit" and self.desk.kept is not None:
            kept = self.desk.kept
            fields.append(
                text(
                    t(
                        "console.reporting.submit_figures",
                        net=tr.number(kept.net, 2),
                        direct=tr.number(kept.direct, 2) if kept.direct is not None else "—",
                    ),
                    bold=True,
                )
            )
        if form.action == "verifier":
            fields.append(
                text_field(
                    t("console.reporting.verifier_username"),
                    form.verifier,
                    bind(form, "verifier"),
                    error=form.error("verifier"),
                    width=320,
                    hint=t("console.reporting.verifier_hint"),
                )
            )
        if form.action == "verify":
            reported = year.reported if year is not None else None
            if reported is not None:
                fields.append(
                    muted(
                        t(
                            "console.reporting.reported_figures",
                            net=tr.number(reported.net, 2) if reported.net is not None else "—",
                            direct=tr.number(reported.direct, 2) if reported.direct is not None else "—",
                        )
                    )
                )
            fields.append(
                ft.Row(
                    [
                        text_field(
                            t("console.reporting.verified_net"),
                            form.net,
                            bind(form, "net"),
                            error=form.error("net"),
                            width=260,
                        ),
                        text_field(
                            t("console.reporting.verified_direct"),
                            form.direct,
                            bind(form, "direct"),
                            error=form.error("direct"),
                            width=260,
                        ),
                    ],
                    spacing=12,
                )
            )
            fields.append(
                text_field(
                    t("console.reporting.findings"),
                    form.findings,
                    bind(form, "findings"),
                    error=form.error("findings"),
                    width=540,
                    multiline=True,
                )
            )
        if form.action == "reopen":
            fields.append(code_field(self.ui, form, width=240))
        return fields
