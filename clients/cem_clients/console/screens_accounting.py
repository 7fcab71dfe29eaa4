"""The carbon accountants' screens: source inventory, factor library, activity data, ledger import, emissions with
their lineage, and the annual report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal

import flet as ft

from cem_clients.api import EmissionSource
from cem_clients.console.app_kit import (
    Cell,
    Section,
    Ui,
    bind,
    card,
    checkbox,
    chip,
    code_field,
    date_field,
    dropdown,
    emissions_range_fields,
    field_error,
    form_dialog,
    heading,
    label,
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
from cem_clients.console.model import (
    BALANCE,
    CONFIDENCES,
    DIRECTIONS,
    GRID_KINDS,
    ORIGINS,
    OUTPUT,
    PERIOD_KINDS,
    ActivityEntry,
    Console,
    DiffRow,
    EmissionsExplorer,
    EmissionsQuery,
    FactorLibrary,
    FieldChange,
    InputSpec,
    LedgerImport,
    LineageView,
    ParameterRow,
    PeriodRow,
    ReportExport,
    SourceForm,
    SourceInventory,
    SourceLine,
)
from cem_clients.ui import accounting_text as acc
from cem_clients.ui.i18n import STRINGS
from cem_clients.ui.theme import Tone

__all__ = [
    "ActivitySection",
    "EmissionsSection",
    "InventorySection",
    "LedgerSection",
    "LibrarySection",
    "ReportSection",
]

CATEGORIES = (
    "fuel_combustion",
    "flux",
    "electrode",
    "raw_material",
    "electricity",
    "heat",
    "fixed_carbon",
    "energy_medium",
    OUTPUT,
)
GROUPS = ("combustion", "process", "electricity", "heat", "fixed_carbon")
_CHANGE_TONES = {"added": Tone.GOOD, "changed": Tone.INFO, "removed": Tone.CRITICAL}
_MAX_ROWS = 200  # rows a table shows before asking for a filter
_DIFF_ROWS = 8  # rows of a version's diff shown before "all changes"
_HISTORY_ROWS = 8  # formula versions shown in the history dialog, newest first


def category_name(ui: Ui, category: str) -> str:
    """A source category by name ("" and unknown ones as they are)."""
    return acc.category_name(ui.tr, category) if category in CATEGORIES else category


def _num(ui: Ui, value: Decimal | None, decimals: int = 2) -> str:
    return ui.tr.number(value, decimals) if value is not None else "—"


def _percent(share: object) -> str:
    """A balance share (0.25) as a percentage (25), as exact as it was given."""
    try:
        value = Decimal(str(share)) * 100
    except ArithmeticError:
        return str(share)
    return _exact(value) if value.is_finite() else str(share)


def _exact(value: Decimal | None) -> str:
    """An exact decimal as the platform gave it (parameters, used values)."""
    if value is None:
        return "—"
    text_ = format(value, "f")
    return text_.rstrip("0").rstrip(".") if "." in text_ else text_


# ---- source inventory ---------------------------------------------------------------------------------------------


class InventorySection(Section):
    """The sources by process and category; a new source checked against the platform's categories."""

    title_key = "console.section.inventory"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.inventory: SourceInventory = console.inventory()
        self.notice = ""

    async def load(self) -> None:
        await self.inventory.refresh()
        category = self.options.pop("new", "")
        if category in self.inventory.categories and self.console.can("accounting.write"):
            self._new(category)
            form = self.inventory.form
            meter = self.options.pop("meter", "")
            if form is not None and meter in form.inputs:
                form.inputs[meter].origin = "meter"
                self.inventory.point_search[meter] = self.options.pop("find", "")
                self.ui.refresh()
            if form is not None and self.options.get("direction") in DIRECTIONS:
                self._open_transfer(form)

    def _open_transfer(self, form: SourceForm) -> None:
        """The form opened with a direction, an item, at a process (code), from a maker (code), an input from its
        balance."""
        codes = {p.code: p.id for p in self.inventory.processes}
        form.direction = self.options.pop("direction")
        form.item = self.options.pop("item", form.item)
        form.process_id = codes.get(self.options.pop("process", ""))
        form.from_process_id = codes.get(self.options.pop("from", ""))
        balanced = self.options.pop("balance", "")
        if form.balance_allowed and balanced in form.inputs:
            form.inputs[balanced].origin = BALANCE
        self.ui.refresh()

    def _inputs(self, inputs: Mapping[str, object], category: str) -> str:
        tr, parts = self.ui.tr, []
        for name, spec in inputs.items():
            label = acc.input_name(tr, name, category)
            if isinstance(spec, Mapping):
                origin = str(spec.get("origin", ""))
                shown = self.t(f"console.origin.{origin}") if origin in ORIGINS else origin
                if origin == BALANCE:
                    shown = self.t("console.inventory.balance_share", share=_percent(spec.get("share")))
                unit = acc.unit_label(tr, str(spec.get("unit", "")))
                parts.append(self.t("acc.input_line", input=label, origin=shown, unit=unit))
            else:
                parts.append(label)
        separator = self.t("acc.input_sep")
        return (separator + " " if separator.isascii() else separator).join(parts)

    def _direction(self, source: EmissionSource) -> str:
        """How the source's quantity moves: its direction, and for a transfer where it is made."""
        t = self.t
        shown = t(f"console.direction.{source.direction}") if source.direction in DIRECTIONS else source.direction
        if source.direction != "transfer":
            return shown
        maker = next((p for p in self.inventory.processes if p.id == source.from_process_id), None)
        if source.from_process_id is None:
            return t("console.inventory.from_enterprise")
        if maker is None:
            return t("console.inventory.from", code=f"#{source.from_process_id}", name="—")
        return t("console.inventory.from", code=maker.code, name=maker.name)

    def render(self) -> ft.Control:
        t, inventory = self.t, self.inventory
        facilities = {f.id: f.name for f in inventory.facilities}
        trailing: list[ft.Control] = [
            secondary_button(t("refresh"), self.ui.act(inventory.refresh), icon=ft.Icons.REFRESH)
        ]
        if self.console.can("accounting.write"):
            trailing.append(primary_button(t("console.inventory.new"), lambda: self._new(), icon=ft.Icons.ADD))
        columns = [
            (t("console.col.code"), False),
            (t("console.col.name"), False),
            (t("console.col.item"), False),
            (t("console.col.direction"), False),
            (t("console.col.inputs"), False),
            (t("console.reg.facility"), False),
            (t("console.col.active"), False),
        ]
        cards: list[ft.Control] = []
        for group in inventory.groups:
            title = f"{group.code} {group.name}" if group.process_id else t("console.inventory.enterprise_level")
            body: list[ft.Control] = []
            for category in group.categories:
                body.append(text(category_name(self.ui, category.category), bold=True))
                rows: list[list[Cell]] = [
                    [
                        s.code,
                        s.name,
                        acc.item_name(self.ui.tr, s.item),
                        self._direction(s),
                        text(self._inputs(s.inputs, s.category), width=360),
                        facilities.get(s.facility_id, "—") if s.facility_id else "—",
                        t("console.yes") if s.active else t("console.no"),
                    ]
                    for s in category.sources
                ]
                body.append(table(columns, rows))
            cards.append(card(body, title=title, trailing=[muted(t("console.inventory.count", count=group.count))]))
        if not cards and not inventory.error:
            cards.append(card([muted(t("console.inventory.empty"))]))
        return section_page(
            t("console.section.inventory"), cards, trailing=trailing, error=inventory.error, notice=self.notice
        )

    def _direction_row(self, form: SourceForm) -> ft.Control:
        """The direction and, for a transfer, where it is made: another process or the enterprise level."""
        ui, t = self.ui, self.t

        def direction(value: str) -> None:
            form.direction = value
            ui.refresh()  # the maker picker and the balance origin follow

        def maker(value: str) -> None:
            form.from_process_id = int(value) if value else None
            ui.refresh()  # a balance input is offered only with a maker

        controls: list[ft.Control] = [
            dropdown(
                t("console.inventory.direction"),
                form.direction,
                [(d, t(f"console.direction.{d}")) for d in DIRECTIONS],
                direction,
                error=form.error("direction"),
            )
        ]
        if form.direction == "transfer":
            makers = [("", t("console.inventory.maker_enterprise"))] + [
                (str(p.id), f"{p.code} {p.name}") for p in self.inventory.processes if p.id != form.process_id
            ]
            controls.append(
                dropdown(
                    t("console.inventory.maker"),
                    str(form.from_process_id or ""),
                    makers,
                    maker,
                    error=form.error("from_process_id"),
                )
            )
        return ft.Row(controls, wrap=True)

    def _point_picker(self, name: str, given: InputSpec) -> ft.Control:
        """The points of a meter input (each with its unit and sign, removable) and a search to add more."""
        ui, t, inventory = self.ui, self.t, self.inventory
        chosen: list[ft.Control] = []
        for point_id, sign in given.points:
            point = inventory.point(point_id)
            shown = f"{point.code} {point.name}" if point else f"#{point_id}"
            unit = t("console.picker.unit_of", unit=point.unit) if point else ""
            chosen.append(
                ft.Row(
                    [
                        chip("+" if sign > 0 else "−", Tone.GOOD if sign > 0 else Tone.WARNING),
                        text(shown, width=300),
                        muted(unit, width=110),
                        ft.IconButton(
                            ft.Icons.SWAP_VERT,
                            tooltip=t("console.picker.flip"),
                            icon_size=18,
                            on_click=self._point_handler(given, point_id, -sign),
                        ),
                        ft.IconButton(
                            ft.Icons.CLOSE,
                            tooltip=t("console.picker.remove"),
                            icon_size=18,
                            on_click=self._point_handler(given, point_id, 0),
                        ),
                    ],
                    spacing=6,
                )
            )

        def search(value: str) -> None:
            inventory.point_search[name] = value

        typed = inventory.point_search.get(name, "")
        offered: list[ft.Control] = []
        if typed.strip():
            taken = {point_id for point_id, _ in given.points}
            for point in inventory.matching_points(typed):
                offered.append(
                    ft.Row(
                        [
                            text(f"{point.code} {point.name}", width=300),
                            muted(t("console.picker.unit_of", unit=point.unit), width=110),
                            secondary_button(
                                t("console.picker.add"),
                                self._point_handler(given, point.id, 1),
                                icon=ft.Icons.ADD,
                                disabled=point.id in taken,
                            ),
                            secondary_button(
                                t("console.picker.subtract"),
                                self._point_handler(given, point.id, -1),
                                icon=ft.Icons.REMOVE,
                                disabled=point.id in taken,
                            ),
                        ],
                        spacing=6,
                    )
                )
            if not offered:
                offered.append(muted(t("console.picker.none_found")))
        return ft.Container(
            ft.Column(
                [
                    *chosen,
                    ft.Row(
                        [
                            text_field(
                                t("console.picker.search"),
                                typed,
                                search,
                                width=300,
                                hint=t("console.picker.search_hint"),
                                on_submit=lambda: ui.refresh(),
                            ),
                            secondary_button(t("search"), lambda: ui.refresh(), icon=ft.Icons.SEARCH),
                        ],
                        spacing=8,
                    ),
                    *offered,
                ],
                spacing=4,
                tight=True,
            ),
            padding=ft.Padding.only(left=68),
        )

    def _point_handler(self, given: InputSpec, point_id: int, sign: int) -> Callable[[], None]:
        """Add a point with ``sign``, or remove it (``sign`` 0); the dialog is redrawn."""

        def handler() -> None:
            if sign:
                given.add_point(point_id, sign)
            else:
                given.remove_point(point_id)
            self.ui.refresh()

        return handler

    def _new(self, first: str = "fuel_combustion") -> None:
        ui, t, inventory = self.ui, self.t, self.inventory
        form = inventory.new_source(first)

        async def save() -> None:
            created = await inventory.create()
            if created is not None:
                self.notice = t("console.inventory.created", code=created.code)
                ui.close_dialog()

        def category(value: str) -> None:
            if value in inventory.categories:
                form.choose_category(value, inventory.categories[value])
            ui.refresh()

        def process(value: str) -> None:
            form.process_id = int(value) if value else None
            form.facility_id = None
            ui.refresh()

        def item_typed(value: str) -> None:
            if form.set_item(value):
                ui.refresh()  # an output became the output value (10^4 CNY), or back: the unit picker follows

        def redrawing(target: object, name: str) -> Callable[[str], None]:
            def setter(value: str) -> None:
                setattr(target, name, value)
                ui.refresh()

            return setter

        def body() -> ft.Control:
            spec = inventory.categories.get(form.category)
            items = spec.items if spec else ()
            item: ft.Control = (
                dropdown(
                    t("console.col.item"),
                    form.item,
                    [(i, acc.item_name(ui.tr, i)) for i in items],
                    lambda v: setattr(form, "item", v),
                    error=form.error("item"),
                )
                if items
                else text_field(
                    t("console.col.item"),
                    form.item,
                    item_typed,
                    error=form.error("item"),
                    hint=t("console.inventory.output_hint") if form.category == OUTPUT else "",
                )
            )
            processes = [("", t("console.inventory.enterprise_level"))] + [
                (str(p.id), f"{p.code} {p.name}") for p in inventory.processes
            ]
            parts: list[ft.Control] = [
                message(form.message),
                ft.Row(
                    [
                        text_field(
                            t("console.col.code"),
                            form.code,
                            lambda v: setattr(form, "code", v),
                            error=form.error("code"),
                            hint="BF1.COKE",
                            autofocus=True,
                        ),
                        text_field(
                            t("console.col.name"),
                            form.name,
                            lambda v: setattr(form, "name", v),
                            error=form.error("name"),
                            width=300,
                        ),
                    ],
                    wrap=True,
                ),
                ft.Row(
                    [
                        dropdown(
                            t("source.category"),
                            form.category,
                            [(c, category_name(ui, c)) for c in inventory.categories],
                            category,
                            error=form.error("category"),
                        ),
                        item,
                    ],
                    wrap=True,
                ),
                ft.Row(
                    [
                        dropdown(
                            t("console.reg.process"),
                            str(form.process_id or ""),
                            processes,
                            process,
                            error=form.error("process_id"),
                        ),
                        dropdown(
                            t("console.reg.facility"),
                            str(form.facility_id or ""),
                            [("", t("console.none_selected"))]
                            + [(str(f.id), f.name) for f in inventory.facilities_of(form.process_id or -1)],
                            lambda v: setattr(form, "facility_id", int(v) if v else None),
                        ),
                    ],
                    wrap=True,
                ),
                self._direction_row(form),
                muted(t("console.col.inputs")),
                field_error(form.error("inputs")),
            ]
            origins = [(o, t(f"console.origin.{o}")) for o in ORIGINS if o != "feed"]
            balance = (BALANCE, t("console.origin.balance"))
            for name, given in form.inputs.items():
                units = form.unit_choices(inventory.categories, name)
                share: list[ft.Control] = []
                if given.origin == BALANCE:
                    share.append(
                        text_field(
                            t("console.inventory.share"),
                            given.share,
                            bind(given, "share"),
                            hint=t("console.inventory.share_hint"),
                            width=150,
                        )
                    )
                parts.append(
                    ft.Row(
                        [
                            text(acc.input_name(ui.tr, name, form.category), bold=True, width=110),
                            dropdown(
                                t("console.col.origin"),
                                given.origin,
                                # a balance input stays visible (and refused) when the maker goes
                                [*origins, balance] if form.balance_allowed or given.origin == BALANCE else origins,
                                redrawing(given, "origin"),
                                width=160,
                            ),
                            dropdown(
                                t("console.col.unit"),
                                given.unit,
                                [(u, acc.unit_label(ui.tr, u)) for u in dict.fromkeys([*units, given.unit]) if u],
                                redrawing(given, "unit"),
                                width=160,
                            ),
                            *share,
                        ],
                        spacing=8,
                    )
                )
                if given.origin == "meter":
                    parts.append(self._point_picker(name, given))
                parts.append(field_error(form.error(f"inputs.{name}")))
            if form.category == "electricity":
                parts.append(
                    ft.Row(
                        [
                            dropdown(
                                t("console.inventory.grid_kind"),
                                form.grid_kind,
                                [(g, t(f"console.grid.{g}")) for g in GRID_KINDS],
                                lambda v: setattr(form, "grid_kind", v),
                                error=form.error("grid_kind"),
                            ),
                            text_field(
                                t("console.inventory.grid_region"),
                                form.grid_region,
                                lambda v: setattr(form, "grid_region", v),
                            ),
                        ]
                    )
                )
            parts.append(text_field(t("alarm.note"), form.note, lambda v: setattr(form, "note", v), width=520))
            return ft.Column(parts, spacing=10, tight=True, scroll=ft.ScrollMode.AUTO)

        form_dialog(
            ui,
            t("console.inventory.new"),
            body,
            submit=t("save"),
            on_submit=save,
            on_cancel=lambda: setattr(inventory, "form", None),
            width=640,
        )


# ---- factor library -----------------------------------------------------------------------------------------------


class LibrarySection(Section):
    """Editions and the grid series: versions, a version's diff (before -> after), its parameters, a proposal."""

    title_key = "console.section.library"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.library: FactorLibrary = console.library()
        self.library.library = options.get("library") or None
        self.library.search = options.get("search", "")
        self.notice = ""
        self.full_diff = False  # every row of the version's diff, not the first few

    async def load(self) -> None:
        await self.library.refresh()
        version = self.options.pop("version", "")
        if version.isdigit() and int(version) != self.library.version:
            await self.library.show_version(int(version))
        formula = self.options.pop("formula", "")  # open a formula's change form (a link, a screenshot)
        if self.console.can("accounting.library") and any(f.code == formula for f in self.library.formulas):
            self._change_formula(formula)
        if self.options.pop("formula_history", ""):
            await self._formula_history()

    def render(self) -> ft.Control:
        t, lib = self.t, self.library

        async def choose(value: str) -> None:
            if value:
                await lib.select(value)
            self.ui.refresh()

        trailing: list[ft.Control] = [
            dropdown(
                t("factor.edition"),
                lib.library,
                [(x.library, acc.library_name(self.ui.tr, x.library)) for x in lib.libraries],
                choose,
                width=380,
            ),
            secondary_button(t("refresh"), self.ui.act(lib.refresh), icon=ft.Icons.REFRESH),
        ]
        if self.console.can("accounting.library") and lib.library:
            trailing.append(
                primary_button(t("console.library.propose"), lambda: self._propose(None), icon=ft.Icons.EDIT_NOTE)
            )
        subtitle = lib.library if lib.library and acc.library_name(self.ui.tr, lib.library) != lib.library else ""
        return section_page(
            t("console.section.library"),
            [
                ft.Row(
                    [
                        ft.Column([self._versions(subtitle)], width=320),
                        ft.Column([self._diff(), self._parameters()], spacing=12, expand=True),
                    ],
                    spacing=12,
                    vertical_alignment=ft.CrossAxisAlignment.START,
                ),
                self._formulas(),
            ],
            trailing=trailing,
            error=lib.error,
            notice=self.notice,
        )

    def _versions(self, subtitle: str) -> ft.Control:
        t, lib = self.t, self.library
        palette = self.ui.palette
        tiles: list[ft.Control] = [wrapped(acc.library_name(self.ui.tr, lib.library or "—"), 280)]
        if subtitle:
            tiles.append(muted(subtitle))
        for version in lib.versions:
            chosen = version.number == lib.version
            when = self.ui.tr.when(version.created_at) if version.created_at else ""
            tiles.append(
                ft.Container(
                    ft.Column(
                        [
                            ft.Row(
                                [
                                    text(t("console.library.version", number=version.number), bold=True),
                                    ft.Container(expand=True),
                                    muted(t("console.library.changes", count=len(version.rows))),
                                ]
                            ),
                            muted(" · ".join(x for x in (acc.author_text(self.ui.tr, version.author), when) if x)),
                            ft.Text(
                                acc.reason_text(self.ui.tr, version.reason),
                                size=12,
                                width=280,
                                max_lines=3,
                                color=palette.text,
                                overflow=ft.TextOverflow.ELLIPSIS,
                            )
                            if version.reason
                            else ft.Container(),
                        ],
                        spacing=2,
                        tight=True,
                    ),
                    padding=10,
                    border_radius=6,
                    bgcolor=palette.surface_raised if chosen else None,
                    border=ft.Border.all(1, palette.primary if chosen else palette.outline),
                    on_click=self._show_handler(version.number),
                )
            )
        return card(tiles, title=t("console.library.versions"))

    def _show_handler(self, number: int) -> Callable[[], Awaitable[None]]:
        return self.ui.act(lambda: self.library.show_version(number))

    def _diff(self) -> ft.Control:
        t, selected = self.t, self.library.selected
        if selected is None:
            return card([muted(t("empty"))], title=t("console.library.diff"))
        columns = [
            (t("console.col.parameter"), False),
            (t("console.col.change"), False),
            (t("console.col.before"), True),
            (t("console.col.after"), True),
            (t("console.col.fields"), False),
        ]
        tr = self.ui.tr
        needle = self.library.search.strip().lower()
        matching = [
            r for r in selected.rows if needle in r.code.lower() or needle in acc.parameter_name(tr, r.code).lower()
        ]
        shown = matching[: _MAX_ROWS if self.full_diff else _DIFF_ROWS]
        rows: list[list[Cell]] = [
            [
                self._parameter_cell(r.code),
                chip(t(f"console.change.{r.change}"), _CHANGE_TONES.get(r.change, Tone.NEUTRAL)),
                acc.unit_label(tr, r.before) or "—",
                acc.unit_label(tr, r.after) or "—",
                text(self._fields(r.fields), width=220),
            ]
            for r in shown
        ]

        def expand() -> None:
            self.full_diff = not self.full_diff
            self.ui.refresh()

        count = t("console.library.changes", count=len(matching))
        trailing: list[ft.Control] = [muted(count)]
        if len(matching) > _DIFF_ROWS:
            caption = t("console.library.fewer") if self.full_diff else t("console.library.all_changes")
            trailing.append(secondary_button(caption, expand))
        body: list[ft.Control] = [table(columns, rows, empty=t("console.library.no_changes"))]
        if len(matching) > len(rows) and self.full_diff:
            body.append(muted(t("console.more_rows", count=len(matching) - len(rows))))
        title = t("console.library.diff_of", number=selected.number)
        return card(body, title=title, trailing=trailing, subtitle=acc.reason_text(tr, selected.reason))

    def _parameter_cell(self, code: str) -> ft.Control:
        """A parameter by name (its code is what the filter and a proposed change take)."""
        return wrapped(acc.parameter_name(self.ui.tr, code), 180)

    def _fields(self, fields: Iterable[FieldChange]) -> str:
        """The other fields a change touched, by name ("—" when only value or unit changed)."""
        names = [self.t(f"acc.field.{f.field}") for f in fields if f.field not in ("value", "unit")]
        separator = "、" if self.ui.tr.locale.value == "zh-CN" else ", "
        return self.t("acc.list", items=separator.join(names)) if names else "—"

    def _parameters(self) -> ft.Control:
        t, lib = self.t, self.library
        can_change = self.console.can("accounting.library")

        def search(value: str) -> None:
            lib.search = value

        columns = [
            (t("console.col.parameter"), False),
            (t("console.col.value"), True),
            (t("console.col.unit"), False),
            (t("console.col.source"), False),
            (t("console.col.confidence"), False),
            (t("console.col.valid"), False),
            ("", False),
        ]
        tr = self.ui.tr
        visible = lib.visible(lambda code: acc.parameter_name(tr, code))
        english = tr.locale.value == "en"
        rows: list[list[Cell]] = [
            [
                self._parameter_cell(p.code),
                _exact(p.value),
                acc.unit_label(tr, p.unit),
                wrapped(p.source_en if english and p.source_en else p.source, 240 if english else 260),
                t(f"console.confidence.{p.confidence}") if p.confidence in CONFIDENCES else p.confidence or "—",
                p.valid or "—",
                ft.IconButton(
                    ft.Icons.EDIT_OUTLINED, icon_size=18, tooltip=t("edit"), on_click=self._propose_handler(p)
                )
                if can_change
                else ft.Container(),
            ]
            for p in visible[:_MAX_ROWS]
        ]
        body: list[ft.Control] = [
            ft.Row(
                [
                    text_field(
                        t("console.library.search"),
                        lib.search,
                        search,
                        width=280,
                        on_submit=lambda: self.ui.refresh(),
                        hint=t("acc.search_hint"),
                    ),
                    secondary_button(t("search"), lambda: self.ui.refresh(), icon=ft.Icons.SEARCH),
                    ft.Container(expand=True),
                    muted(t("console.library.count", shown=len(visible), total=len(lib.parameters))),
                ],
                spacing=8,
            ),
            table(columns, rows, empty=t("empty")),
        ]
        if len(visible) > len(rows):
            body.append(muted(t("console.more_rows", count=len(visible) - len(rows))))
        version = t("console.library.version", number=lib.version) if lib.version else ""
        return card(body, title=f"{t('console.library.parameters')} · {version}")

    def _formula_name(self, code: str) -> str:
        """A formula by its name (the code where the string tables have none)."""
        key = f"console.formula.{code}"
        return self.t(key) if key in STRINGS[self.ui.tr.locale] else code

    def _formulas(self) -> ft.Control:
        """The accounting formulas of the newest formula version: name, expression, inputs with units, result unit
        and the version that last changed each (standard 5.4.9.2); a change of one for users who may change the
        library, and the formula library's history for everyone."""
        t, tr, lib = self.t, self.ui.tr, self.library
        can_change = self.console.can("accounting.library")
        columns = [
            (t("console.col.formula"), False),
            (t("console.col.expression"), False),
            (t("console.col.formula_inputs"), False),
            (t("console.col.result_unit"), False),
            (t("console.col.version"), False),
        ]
        if can_change:
            columns.append(("", False))
        rows: list[list[Cell]] = []
        for f in lib.formulas:
            row: list[Cell] = [
                wrapped(self._formula_name(f.code), 220),
                wrapped(f.expression, 240),
                wrapped(", ".join(f"{name} ({acc.unit_label(tr, unit)})" for name, unit in f.inputs), 260),
                acc.unit_label(tr, f.result_unit),
                t("console.library.version", number=f.version),
            ]
            if can_change:
                row.append(
                    ft.IconButton(
                        ft.Icons.EDIT_OUTLINED,
                        icon_size=18,
                        tooltip=t("console.formula_change.action"),
                        on_click=self._change_formula_handler(f.code),
                    )
                )
            rows.append(row)
        version = t("console.library.version", number=lib.formula_version) if lib.formula_version else ""
        history = secondary_button(
            t("console.formula_change.history"), self.ui.act(self._formula_history), icon=ft.Icons.HISTORY
        )
        return card(
            [muted(t("console.library.formulas_note")), table(columns, rows, empty=t("empty"))],
            title=f"{t('console.library.formulas')} · {version}",
            trailing=[history],
        )

    def _change_formula_handler(self, code: str) -> Callable[[], None]:
        return lambda: self._change_formula(code)

    def _change_formula(self, code: str) -> None:
        """The change form of one formula: new expression, the inputs with their units, a test case, the reason and
        (when the platform asks) the authenticator code; the platform's refusal is shown above the fields."""
        ui, t, tr, lib = self.ui, self.t, self.ui.tr, self.library
        form = lib.change_formula(code)
        formula = form.formula

        async def send() -> None:
            version = await lib.submit_formula()
            if version is not None:
                self.notice = t(
                    "console.formula_change.created", formula=self._formula_name(formula.code), number=version.number
                )
                ui.close_dialog()

        def body() -> ft.Control:
            def setter(name: str) -> Callable[[str], None]:
                return lambda v: form.test_inputs.__setitem__(name, v)

            inputs: list[ft.Control] = [
                text_field(
                    f"{name}（{acc.unit_label(tr, unit)}）" if tr.locale.value == "zh-CN" else f"{name} ({unit})",
                    form.test_inputs.get(name, ""),
                    setter(name),
                    error=form.error(f"inputs.{name}"),
                    width=170,
                )
                for name, unit in formula.inputs
            ]
            result_unit = acc.unit_label(tr, formula.result_unit)
            parts: list[ft.Control] = [
                message(form.message, Tone.WARNING if form.needs_code else Tone.CRITICAL),
                muted(t("console.formula_change.current", expression=formula.expression, number=formula.version)),
                text_field(
                    t("console.formula_change.expression", unit=result_unit),
                    form.expression,
                    bind(form, "expression"),
                    error=form.error("expression"),
                    width=600,
                    hint=t("console.formula_change.expression_hint"),
                ),
                label(t("console.col.formula_inputs")),
                text(", ".join(f"{name} ({acc.unit_label(tr, unit)})" for name, unit in formula.inputs), width=600),
                label(t("console.formula_change.test_case")),
                wrapped(t("console.formula_change.test_case_note"), 600, muted_=True),
                ft.Row(inputs, spacing=8, wrap=True, run_spacing=8, width=600),
                text_field(
                    t("console.formula_change.expected", unit=result_unit),
                    form.expected,
                    bind(form, "expected"),
                    error=form.error("expected"),
                    width=240,
                ),
                text_field(
                    t("console.library.reason"),
                    form.reason,
                    bind(form, "reason"),
                    error=form.error("reason"),
                    width=600,
                    hint=t("console.formula_change.reason_hint"),
                ),
                code_field(ui, form),
            ]
            return ft.Column(parts, spacing=10, tight=True)

        form_dialog(
            ui,
            t("console.formula_change.title", formula=self._formula_name(formula.code)),
            body,
            submit=t("submit"),
            on_submit=send,
            on_cancel=lambda: setattr(lib, "formula_form", None),
            width=640,
        )

    async def _formula_history(self) -> None:
        """The formula library's versions: number, author, date, reason and each formula changed (before, after)."""
        ui, t, tr, lib = self.ui, self.t, self.ui.tr, self.library
        if not await lib.load_formula_versions():
            return  # the section shows the error

        def body() -> ft.Control:
            columns = [
                (t("console.col.version"), False),
                (t("console.formula_change.author"), False),
                (t("console.formula_change.date"), False),
                (t("console.formula_change.reason"), False),
                (t("console.formula_change.what_changed"), False),
            ]
            rows: list[list[Cell]] = [
                [
                    t("console.library.version", number=v.number),
                    wrapped(acc.author_text(tr, v.author), 110),
                    wrapped(tr.when(v.created_at) if v.created_at else "—", 140),
                    wrapped(acc.reason_text(tr, v.reason) or "—", 220),
                    wrapped(self._formula_changes(v.rows), 300),
                ]
                for v in lib.formula_versions[:_HISTORY_ROWS]
            ]
            parts: list[ft.Control] = [table(columns, rows, empty=t("empty"))]
            if len(lib.formula_versions) > len(rows):  # the dialog grows with its rows: the newest are shown
                parts.append(muted(t("console.more_rows", count=len(lib.formula_versions) - len(rows))))
            return ft.Column(parts, spacing=8, tight=True)

        ui.open_dialog(
            t("console.formula_change.history_title"),
            body,
            lambda: [secondary_button(t("close"), ui.close_dialog)],
            width=900,
        )

    def _formula_changes(self, rows: Iterable[DiffRow]) -> str:
        """What a formula version changed: each formula's name with its expression before and after (the first
        version lists how many formulas it added)."""
        rows = list(rows)
        added = [r for r in rows if r.change == "added"]
        lines = [self.t("console.formula_change.added", count=len(added))] if added else []
        lines += [
            self.t(
                "console.formula_change.changed_line",
                formula=self._formula_name(r.code),
                before=r.before or "—",
                after=r.after or "—",
            )
            for r in rows
            if r not in added
        ]
        return "\n".join(lines) or "—"

    def _propose_handler(self, parameter: ParameterRow) -> Callable[[], None]:
        return lambda: self._propose(parameter)

    def _propose(self, parameter: ParameterRow | None) -> None:
        ui, t, lib = self.ui, self.t, self.library
        form = lib.form if lib.form is not None and lib.form.library == lib.library else lib.propose()
        if parameter is not None and all(c.code != parameter.code for c in form.changes):
            form.edit(parameter)
        elif not form.changes:
            form.add()

        async def send() -> None:
            version = await lib.submit()
            if version is not None:
                self.notice = t("console.library.created", number=version.number, library=version.library)
                ui.close_dialog()

        def add() -> None:
            form.add()
            ui.refresh()

        def body() -> ft.Control:
            parts: list[ft.Control] = [
                message(form.message or form.error("changes"), Tone.WARNING if form.needs_code else Tone.CRITICAL),
                text_field(
                    t("console.library.reason"),
                    form.reason,
                    lambda v: setattr(form, "reason", v),
                    error=form.error("reason"),
                    width=560,
                    hint=t("console.library.reason_hint"),
                ),
            ]
            for i, change in enumerate(form.changes):
                key = f"changes.{i}"

                def setter(name: str, target: object = change) -> Callable[[str], None]:
                    return lambda v: setattr(target, name, v)

                def drop(target: object = change) -> None:
                    form.changes.remove(target)  # type: ignore[arg-type]
                    ui.refresh()

                parts.append(
                    ft.Container(
                        ft.Column(
                            [
                                ft.Row(
                                    [
                                        text_field(
                                            t("console.col.parameter"),
                                            change.code,
                                            setter("code"),
                                            error=form.error(f"{key}.code"),
                                            width=260,
                                        ),
                                        text_field(
                                            t("console.col.value"),
                                            change.value,
                                            setter("value"),
                                            error=form.error(f"{key}.value"),
                                            width=140,
                                        ),
                                        text_field(
                                            t("console.col.unit"),
                                            change.unit,
                                            setter("unit"),
                                            error=form.error(f"{key}.unit"),
                                            width=110,
                                        ),
                                        ft.IconButton(ft.Icons.DELETE_OUTLINE, tooltip=t("delete"), on_click=drop),
                                    ],
                                    spacing=8,
                                ),
                                ft.Row(
                                    [
                                        text_field(
                                            t("console.col.source"),
                                            change.source,
                                            setter("source"),
                                            error=form.error(f"{key}.source"),
                                            width=400,
                                        ),
                                        checkbox(
                                            t("console.library.remove"),
                                            change.remove,
                                            bind(change, "remove"),
                                        )
                                        if change.existing
                                        else ft.Container(),
                                    ],
                                    spacing=8,
                                ),
                            ],
                            spacing=8,
                            tight=True,
                        ),
                        border=ft.Border.all(1, ui.palette.outline),
                        border_radius=6,
                        padding=10,
                    )
                )
            parts.append(secondary_button(t("console.library.add_change"), add, icon=ft.Icons.ADD))
            parts.append(code_field(ui, form))
            return ft.Column(parts, spacing=10, tight=True, scroll=ft.ScrollMode.AUTO)

        form_dialog(
            ui,
            t("console.library.propose_title", library=lib.library or ""),
            body,
            submit=t("submit"),
            on_submit=send,
            on_cancel=lambda: setattr(lib, "form", None),
            width=640,
        )


# ---- activity data ------------------------------------------------------------------------------------------------


class ActivitySection(Section):
    """Manual activity data: a value of a source's input over a month or days, with evidence; recent records."""

    title_key = "console.section.activity"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.entry: ActivityEntry = console.activity()
        self.notice = ""

    async def load(self) -> None:
        await self.entry.refresh()

    def render(self) -> ft.Control:
        t, entry, form, tr = self.t, self.entry, self.entry.form, self.ui.tr
        source = next((s for s in entry.sources if s.id == form.source_id), None)

        def choose(value: str) -> None:
            if value:
                entry.choose(int(value))
            self.ui.refresh()

        def choose_input(value: str) -> None:
            if form.source_id is not None and value:
                entry.choose(form.source_id, value)
            self.ui.refresh()

        async def evidence() -> None:
            picked = await self.ui.pick_file()
            if picked is not None:
                form.evidence_filename, form.evidence = picked

        async def submit() -> None:
            record = await entry.submit()
            if record is not None:
                self.notice = t(
                    "console.activity.saved",
                    value=acc.amount(tr, record.value, record.unit),
                    unit=acc.unit_label(tr, record.unit),
                )

        inputs = sorted(source.inputs) if source else []
        origin = entry.origin_of(source.id, form.input_name) if source and form.input_name else ""
        fields = ft.Column(
            [
                message(entry.error or form.message),
                message(self.notice, Tone.GOOD),
                ft.Row(
                    [
                        dropdown(
                            t("console.activity.source"),
                            str(form.source_id or ""),
                            [(str(s.id), f"{s.code} · {s.name}") for s in entry.sources],
                            choose,
                            error=form.error("source_id"),
                            width=320,
                        ),
                        dropdown(
                            t("console.activity.input"),
                            form.input_name,
                            [(i, acc.input_name(tr, i, source.category if source else "")) for i in inputs],
                            choose_input,
                            error=form.error("input_name"),
                            width=160,
                        ),
                        muted(t("console.activity.origin", origin=t(f"console.origin.{origin}")) if origin else ""),
                    ],
                    spacing=12,
                ),
                ft.Row(
                    [
                        text_field(
                            t("console.col.value"),
                            form.value,
                            lambda v: setattr(form, "value", v),
                            error=form.error("value"),
                            width=200,
                        ),
                        text_field(
                            t("console.col.unit"),
                            acc.unit_label(tr, form.unit),  # 万Nm3 is an alias the platform takes, too
                            lambda v: setattr(form, "unit", v),
                            error=form.error("unit"),
                            width=140,
                        ),
                        checkbox(t("estimated"), form.estimated, lambda v: setattr(form, "estimated", v)),
                    ],
                    spacing=12,
                ),
                ft.Row(
                    [
                        date_field(
                            self.ui,
                            t("console.activity.month"),
                            form.month,
                            form.set_month,
                            error=form.error("month"),
                            hint="2025-03",
                            width=190,
                        ),
                        muted(t("console.activity.or")),
                        date_field(
                            self.ui,
                            t("console.activity.first_day"),
                            form.first_day,
                            lambda v: form.set_day("first_day", v),
                            error=form.error("first_day"),
                            hint="2025-03-01",
                            width=190,
                        ),
                        date_field(
                            self.ui,
                            t("console.activity.last_day"),
                            form.last_day,
                            lambda v: form.set_day("last_day", v),
                            error=form.error("last_day"),
                            hint="2025-03-31",
                            width=190,
                        ),
                    ],
                    spacing=12,
                ),
                text_field(
                    t("alarm.note"), form.note, lambda v: setattr(form, "note", v), error=form.error("note"), width=560
                ),
                ft.Row(
                    [
                        secondary_button(
                            t("console.activity.evidence"), self.ui.act(evidence), icon=ft.Icons.ATTACH_FILE
                        ),
                        muted(form.evidence_filename or t("console.activity.no_evidence")),
                        field_error(form.error("evidence_filename")),
                    ],
                    spacing=12,
                ),
                ft.Row([primary_button(t("save"), self.ui.act(submit), icon=ft.Icons.SAVE_OUTLINED)]),
            ],
            spacing=12,
        )
        sources = {s.id: s for s in entry.sources}
        columns = [
            (t("console.activity.source"), False),
            (t("console.activity.input"), False),
            (t("console.col.period"), False),
            (t("console.col.value"), True),
            (t("console.col.unit"), False),
            (t("console.col.origin"), False),
            (t("console.col.entered_by"), False),
            (t("alarm.note"), False),
        ]
        rows: list[list[Cell]] = [
            [
                sources[r.source_id].code if r.source_id in sources else str(r.source_id),
                acc.input_name(tr, r.input, sources[r.source_id].category if r.source_id in sources else ""),
                self._period(r.period_start, r.period_end),
                acc.amount(tr, r.value, r.unit),
                acc.unit_label(tr, r.unit),
                t(f"console.origin.{r.origin}") if r.origin in ORIGINS else r.origin,
                f"{r.entered_by} · {self.ui.tr.when(r.entered_at)}" if r.entered_at else r.entered_by,
                text(r.note, width=200),
            ]
            for r in entry.records[:50]
        ]
        return ft.Column(
            [
                heading(
                    t("console.section.activity"),
                    trailing=[secondary_button(t("refresh"), self.ui.act(entry.refresh), icon=ft.Icons.REFRESH)],
                ),
                card([fields], width=960),
                card([table(columns, rows, empty=t("empty"))], title=t("console.activity.recent")),
            ],
            spacing=12,
        )

    def _period(self, start: dt.datetime, end: dt.datetime) -> str:
        first = self.ui.tr.day(start)
        last = self.ui.tr.day(end - dt.timedelta(microseconds=1))
        return first if first == last else f"{first} – {last}"


# ---- ledger import ------------------------------------------------------------------------------------------------


class LedgerSection(Section):
    """Upload a ledger (XLSX/CSV): the platform's row-by-row report, then import the valid rows or discard."""

    title_key = "console.section.ledger"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.ledger: LedgerImport = console.ledger()

    def render(self) -> ft.Control:
        t, ledger = self.t, self.ledger

        async def choose() -> None:
            picked = await self.ui.pick_file(("xlsx", "csv"))
            if picked is not None:
                ledger.clear()
                await ledger.upload(*picked)

        def invalid_only(value: bool) -> None:
            ledger.invalid_only = value
            self.ui.refresh()

        controls: list[ft.Control] = [
            heading(t("console.section.ledger")),
            message(ledger.error),
            card(
                [
                    muted(t("console.ledger.columns")),
                    ft.Row(
                        [primary_button(t("console.ledger.choose"), self.ui.act(choose), icon=ft.Icons.UPLOAD_FILE)]
                    ),
                ],
                width=960,
            ),
        ]
        report = ledger.report
        if report is not None:
            status_tone = {"validated": Tone.INFO, "imported": Tone.GOOD, "discarded": Tone.NEUTRAL}
            decisions: list[ft.Control] = [
                chip(t(f"console.ledger.status.{ledger.status}"), status_tone.get(ledger.status, Tone.NEUTRAL)),
                ft.Container(expand=True),
                checkbox(t("console.ledger.invalid_only"), ledger.invalid_only, invalid_only),
            ]
            if ledger.can_discard:
                decisions.append(secondary_button(t("console.ledger.discard"), self.ui.act(ledger.discard)))
            if ledger.can_confirm:
                decisions.append(
                    primary_button(t("console.ledger.confirm", count=ledger.valid_count), self.ui.act(ledger.confirm))
                )
            summary = t(
                "console.ledger.summary",
                file=report.filename,
                total=ledger.total,
                valid=ledger.valid_count,
                invalid=ledger.invalid_count,
            )
            columns = [
                (t("console.col.row"), True),
                (t("console.activity.source"), False),
                (t("console.activity.input"), False),
                (t("console.col.period"), False),
                (t("console.col.value"), True),
                (t("console.col.unit"), False),
                (t("console.col.check"), False),
            ]
            rows: list[list[Cell]] = []
            for row in ledger.visible()[:_MAX_ROWS]:
                days = ledger.row_days(row)
                period = (
                    "—"
                    if days is None
                    else (
                        days[0].isoformat() if days[0] == days[1] else f"{days[0].isoformat()} – {days[1].isoformat()}"
                    )
                )
                check: Cell = (
                    chip(t("console.ledger.ok"), Tone.GOOD)
                    if row.valid
                    else ft.Column(
                        [wrapped(e, 520, color=self.ui.palette.tone(Tone.CRITICAL)) for e in row.messages(self.ui.tr)],
                        spacing=0,
                        tight=True,
                    )
                )
                rows.append(
                    [
                        str(row.row),
                        row.source_code,
                        acc.input_name(self.ui.tr, row.input_name),
                        period,
                        acc.amount(self.ui.tr, row.value, row.unit),
                        acc.unit_label(self.ui.tr, row.unit),
                        check,
                    ]
                )
            controls.append(card([ft.Row(decisions, spacing=8), table(columns, rows, empty=t("empty"))], title=summary))
        return ft.Column(controls, spacing=12)


# ---- emissions and lineage ----------------------------------------------------------------------------------------


class EmissionsSection(Section):
    """Emissions period by period (enterprise or process); a row opens its lineage, a source its inputs and
    parameters with where each came from."""

    title_key = "console.section.emissions"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.explorer: EmissionsExplorer = console.emissions()
        year = dt.datetime.now(dt.UTC).year
        period = options.get("period", "month")
        self.explorer.query = EmissionsQuery(
            scope_id=self.explorer.enterprise_id,
            period=period if period in PERIOD_KINDS else "month",
            start=options.get("start", f"{year}-01"),
            end=options.get("end", f"{year + 1}-01"),
        )

    async def load(self) -> None:
        explorer = self.explorer
        await explorer.load_choices()
        await explorer.load()
        drill = self.options.pop("drill", "")
        if drill and explorer.rows:
            row = (
                explorer.rows[0]
                if drill == "first"
                else next((r for r in explorer.rows if str(r.result_id) == drill or r.label == drill), None)
            )
            if row is not None and row.result_id is not None and await explorer.drill(row.result_id) is not None:
                code = self.options.pop("source", "")
                if code and explorer.lineage is not None and any(s.code == code for s in explorer.lineage.sources):
                    explorer.drill_source(code)

    def render(self) -> ft.Control:
        explorer = self.explorer
        if explorer.lineage is not None:
            return self._lineage(explorer.lineage)
        return self._periods()

    # periods

    def _periods(self) -> ft.Control:
        t, explorer, q = self.t, self.explorer, self.explorer.query
        ui = self.ui

        show = ui.act(explorer.load)
        enterprise = (explorer.enterprise_id, self.console.enterprise.name if self.console.enterprise else "—")
        controls = ft.Row(
            [
                *emissions_range_fields(ui, q, enterprise, explorer.processes, show),
                primary_button(t("console.emissions.show"), show, icon=ft.Icons.SEARCH),
            ],
            spacing=8,
            wrap=True,
        )
        categories = explorer.categories()
        columns = [
            (t("console.col.period"), False),
            (f"{t('emissions.net')} ({explorer.unit})", True),
            *[(category_name(ui, c), True) for c in categories],
            (t("console.emissions.output"), True),
            (f"{t('intensity')} ({t('unit.tco2_per_t')})", True),
            (t("console.col.state"), False),
        ]
        rows: list[list[Cell]] = []
        handlers: list[Callable[[], object] | None] = []
        for row in explorer.rows:
            rows.append(
                [
                    row.label,
                    ft.Text(_num(ui, row.net), weight=ft.FontWeight.BOLD, color=ui.palette.text),
                    *[_num(ui, row.by_category.get(c)) for c in categories],
                    _num(ui, row.output),
                    _num(ui, row.intensity, 4),
                    self._flags(row),
                ]
            )
            handlers.append(self._drill_handler(row.result_id) if row.result_id is not None else None)
        total = explorer.total
        stats = ft.Row(
            [
                stat(
                    t("console.emissions.total"),
                    f"{_num(ui, total)} {explorer.unit}",
                    width=300,
                    note=f"{explorer.name} · {q.bound('start')} – {q.bound('end')}",
                ),
                stat(t("console.emissions.periods"), str(len(explorer.rows)), width=180),
                stat(
                    t("console.emissions.data"),
                    t("console.emissions.complete" if explorer.complete else "console.emissions.incomplete"),
                    tone=Tone.GOOD if explorer.complete else Tone.WARNING,
                    width=200,
                ),
            ],
            spacing=12,
        )
        return section_page(
            t("console.section.emissions"),
            [
                card([controls]),
                stats,
                card(
                    [table(columns, rows, on_select=handlers, empty=t("console.emissions.empty"))],
                    title=t("console.emissions.by_period"),
                    trailing=[muted(t("console.emissions.click_row"))],
                ),
            ],
            error=explorer.error,
        )

    def _flags(self, row: PeriodRow) -> ft.Control:
        t = self.t
        chips = [chip(t("final") if row.final else t("provisional"), Tone.GOOD if row.final else Tone.INFO)]
        if row.estimated:
            chips.append(chip(t("estimated"), Tone.WARNING))
        if not row.complete:
            chips.append(chip(t("console.emissions.incomplete"), Tone.WARNING))
        if row.pending:
            chips.append(chip(t("console.emissions.pending"), Tone.INFO))
        return ft.Row(chips, spacing=4, tight=True)

    def _drill_handler(self, result_id: int) -> Callable[[], Awaitable[None]]:
        return self.ui.act(lambda: self.explorer.drill(result_id))

    # lineage

    def _lineage(self, lineage: LineageView) -> ft.Control:
        t, ui, explorer = self.t, self.ui, self.explorer

        def back() -> None:
            explorer.back()
            ui.refresh()

        label = self._period_label(lineage)
        facts = [
            t("console.lineage.version", version=lineage.version)
            + (f" · {t('console.lineage.current')}" if lineage.current else ""),
            t("final") if lineage.final else t("provisional"),
            f"{t('factor.edition')} {lineage.edition}"
            + (f" ({acc.version_text(ui.tr, lineage.edition_version)})" if lineage.edition_version else ""),
            t("console.lineage.library_version", version=lineage.library_version)
            if lineage.library_version is not None
            else "",
            t("console.lineage.grid_version", version=lineage.grid_version) if lineage.grid_version is not None else "",
            t("console.lineage.created_by", user=lineage.created_by) if lineage.created_by else "",
        ]
        crude = lineage.crude_steel
        stats = ft.Row(
            [
                stat(t("emissions.net"), f"{_num(ui, lineage.net)} tCO2", width=280),
                *[
                    stat(t(f"console.term.{g}"), _num(ui, lineage.totals.get(g)), width=150)
                    for g in GROUPS
                    if lineage.totals.get(g)
                ],
                stat(
                    t("console.emissions.output"), f"{_num(ui, crude.value)} {crude.unit}" if crude else "—", width=180
                ),
                stat(t("intensity"), _num(ui, lineage.intensity, 4), width=160, note=t("unit.tco2_per_t")),
            ],
            spacing=12,
            wrap=True,
        )
        header = ft.Row(
            [
                secondary_button(t("back"), back, icon=ft.Icons.ARROW_BACK),
                ft.Text(t("console.lineage.title", period=label), size=20, weight=ft.FontWeight.BOLD),
                ft.Container(expand=True),
                muted(explorer.name),
            ],
            spacing=12,
        )
        body: list[ft.Control] = [
            header,
            message(explorer.error),
            muted(" · ".join(f for f in facts if f)),
            stats,
        ]
        if lineage.reason:
            body.append(muted(t("console.lineage.reason", reason=acc.reason_text(ui.tr, lineage.reason))))
        source = (
            next((s for s in lineage.sources if s.code == explorer.source_code), None) if explorer.source_code else None
        )
        body.append(self._sources(lineage))
        if source is not None:
            body.append(self._source(source))
        if lineage.notes:
            notes = [wrapped(acc.note_text(ui.tr, n), 1100, muted_=True) for n in lineage.notes]
            body.append(card(notes, title=t("console.lineage.notes")))
        if len(lineage.versions) > 1:
            body.append(self._result_versions(lineage))
        return ft.Column(body, spacing=12)

    def _period_label(self, lineage: LineageView) -> str:
        match = next((r for r in self.explorer.rows if r.result_id == lineage.result_id), None)
        if match is not None:
            return match.label
        return f"{self.ui.tr.day(lineage.period_start)} – {self.ui.tr.day(lineage.period_end)}"

    def _sources(self, lineage: LineageView) -> ft.Control:
        t, ui = self.t, self.ui
        columns = [
            (t("console.col.code"), False),
            (t("console.col.name"), False),
            (t("console.reg.process"), False),
            (t("source.category"), False),
            (f"{t('console.col.emission')} (tCO2)", True),
            (t("console.col.formula"), False),
            (t("console.col.state"), False),
        ]
        rows: list[list[Cell]] = []
        handlers: list[Callable[[], object] | None] = []
        selected = None
        for i, s in enumerate(lineage.sources):
            if s.code == self.explorer.source_code:
                selected = i
            flags: list[ft.Control] = []
            if s.estimated:
                flags.append(chip(t("estimated"), Tone.WARNING))
            if not s.complete:
                flags.append(chip(t("console.emissions.incomplete"), Tone.WARNING))
            rows.append(
                [
                    s.code,
                    s.name,
                    f"{s.process} {s.process_name}".strip() or "—",
                    category_name(ui, s.category),
                    ft.Text(_num(ui, s.emission, 3), weight=ft.FontWeight.BOLD, color=ui.palette.text),
                    text(s.expression, width=260),
                    ft.Row(flags, spacing=4, tight=True) if flags else t("console.emissions.complete"),
                ]
            )
            handlers.append(self._source_handler(s.code))
        return card(
            [table(columns, rows, on_select=handlers, selected=selected, empty=t("empty"))],
            title=t("console.lineage.sources"),
            trailing=[muted(t("console.lineage.click_source"))],
        )

    def _source_handler(self, code: str) -> Callable[[], None]:
        def handler() -> None:
            self.explorer.drill_source(code)
            self.ui.refresh()

        return handler

    def _source(self, s: SourceLine) -> ft.Control:
        t, tr = self.t, self.ui.tr
        inputs_columns = [
            (t("console.col.input"), False),
            (t("console.col.value"), True),
            (t("console.col.unit"), False),
            (t("console.lineage.used"), True),
            (t("console.col.origin"), False),
            (t("console.col.state"), False),
        ]
        input_rows: list[list[Cell]] = [
            [
                acc.input_name(tr, i.name, s.category),
                acc.amount(tr, i.value, i.unit),
                acc.unit_label(tr, i.unit),
                acc.amount(tr, i.used_value, i.used_unit, with_unit=True) if i.used_value is not None else "—",
                wrapped(acc.origin_text(tr, i.origin), 380),
                t("estimated")
                if i.estimated
                else (t("console.emissions.complete") if i.complete else t("console.emissions.incomplete")),
            ]
            for i in s.inputs
        ]
        parameter_columns = [
            (t("console.col.parameter"), False),
            (t("console.col.name"), False),
            (t("console.col.value"), True),
            (t("console.col.unit"), False),
            (t("console.lineage.used"), True),
            (t("console.col.origin"), False),
            (t("console.lineage.version_col"), False),
            (t("console.col.source"), False),
        ]
        parameter_rows: list[list[Cell]] = [
            [
                acc.input_name(tr, p.name),
                wrapped(acc.parameter_name(tr, p.code), 180),
                _exact(p.value),
                acc.unit_label(tr, p.unit),
                f"{_exact(p.used_value)} {acc.unit_label(tr, p.used_unit)}".strip(),
                ft.Row(
                    [chip(t("console.lineage.measured"), Tone.INFO)] if p.overridden else [],
                    spacing=4,
                    tight=True,
                )
                if p.overridden
                else wrapped(acc.origin_text(tr, p.origin), 220),
                acc.version_text(tr, p.version) if p.version else p.edition or "—",
                wrapped(p.source, 220),
            ]
            for p in s.parameters
        ]
        formula = acc.formula_name(tr, s.formula_id)
        return card(
            [
                ft.Row(
                    [
                        text(f"{t('console.col.formula')}: {s.expression}", bold=True, selectable=True),
                        muted(formula),
                        ft.Container(expand=True),
                        text(f"= {_num(self.ui, s.emission, 3)} tCO2", bold=True),
                    ],
                    spacing=12,
                ),
                text(t("console.lineage.inputs"), bold=True),
                table(inputs_columns, input_rows, empty=t("empty")),
                text(t("console.lineage.parameters"), bold=True),
                table(parameter_columns, parameter_rows, empty=t("empty")),
            ],
            title=t("console.lineage.source_title", code=s.code, name=s.name),
        )

    def _result_versions(self, lineage: LineageView) -> ft.Control:
        t = self.t
        columns = [
            (t("console.col.version"), True),
            (f"{t('emissions.net')} (tCO2)", True),
            (t("console.col.time"), False),
            (t("console.lineage.reason_col"), False),
        ]
        rows: list[list[Cell]] = [
            [
                str(v.version) + (" *" if v.current else ""),
                _num(self.ui, v.net),
                self._when(v.created_at),
                text(acc.reason_text(self.ui.tr, v.reason), width=420),
            ]
            for v in lineage.versions
        ]
        return card([table(columns, rows)], title=t("console.lineage.versions"))

    def _when(self, stamp: str) -> str:
        """A version's time (ISO with offset, as the platform sends it) in the plant's zone."""
        try:
            moment = dt.datetime.fromisoformat(stamp)
        except ValueError:
            return stamp
        return self.ui.tr.when(moment) if moment.tzinfo is not None else stamp


# ---- annual report ------------------------------------------------------------------------------------------------


class ReportSection(Section):
    """The annual report (GB/T 32151.5, XLSX) of a year, offered as a download."""

    title_key = "console.section.report"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        year = options.get("year", "")
        self.report: ReportExport = (
            console.report(int(year)) if year.isdigit() else console.report(dt.datetime.now(dt.UTC).year - 1)
        )
        self.report.lang = "zh" if ui.tr.locale.value == "zh-CN" else "en"
        self.year_text = str(self.report.year)

    def render(self) -> ft.Control:
        t, report = self.t, self.report

        def year(value: str) -> None:
            self.year_text = value

        def lang(value: str) -> None:
            if value in ("zh", "en"):
                report.lang = value  # type: ignore[assignment]

        async def generate() -> None:
            text_ = self.year_text.strip()
            report.year = int(text_) if text_.isdigit() else 0
            exported = await report.export()
            if exported is not None:
                await self.ui.save_file(exported.filename, exported.content)

        async def download() -> None:
            if report.file is not None:
                await self.ui.save_file(report.filename, report.content)

        body: list[ft.Control] = [
            muted(t("console.report.about")),
            ft.Row(
                [
                    text_field(
                        t("console.report.year"), self.year_text, year, width=140, on_submit=self.ui.act(generate)
                    ),
                    dropdown(
                        t("console.report.language"),
                        report.lang,
                        [("zh", t("console.report.lang.zh")), ("en", t("console.report.lang.en"))],
                        lang,
                        width=160,
                    ),
                    primary_button(t("report.generate"), self.ui.act(generate), icon=ft.Icons.DESCRIPTION_OUTLINED),
                ],
                spacing=12,
            ),
            message(report.error),
        ]
        if report.file is not None:
            size = max(1, round(len(report.content) / 1024))
            body.append(
                ft.Row(
                    [
                        ft.Icon(ft.Icons.TABLE_VIEW, color=self.ui.palette.tone(Tone.GOOD)),
                        text(report.filename, bold=True),
                        muted(t("console.report.size", size=size)),
                        secondary_button(t("report.download"), self.ui.act(download), icon=ft.Icons.DOWNLOAD),
                    ],
                    spacing=12,
                )
            )
        return ft.Column([heading(t("console.section.report")), card(body, width=900)], spacing=12)
