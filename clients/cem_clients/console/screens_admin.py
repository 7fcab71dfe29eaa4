"""Administration screens: users and roles, the audit log."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import flet as ft

from cem_clients.api import User
from cem_clients.console.admin import ScopedForm, UserEditForm, UserForm
from cem_clients.console.app_kit import (
    Section,
    Ui,
    card,
    checkbox,
    chip,
    code_field,
    day_span_fields,
    dropdown,
    field_error,
    filter_bar,
    form_dialog,
    inline_checkbox,
    label,
    message,
    muted,
    pager,
    primary_button,
    secondary_button,
    section_page,
    table,
    text,
    text_field,
)
from cem_clients.console.audit_text import action_label, entity_label
from cem_clients.console.model import AUDIT_OUTCOMES, LOCALES, ROLES, AuditLog, AuditRow, Console, UserAdmin
from cem_clients.ui.theme import Tone

__all__ = ["AuditSection", "UsersSection"]

_OUTCOME_TONES = {"success": Tone.GOOD, "denied": Tone.WARNING, "failed": Tone.CRITICAL}


def _profile_rows(t: Callable[..., str], form: UserForm | UserEditForm) -> list[ft.Control]:
    """Role and language, display name and e-mail: the fields a new user's form and an edit share."""
    return [
        ft.Row(
            [
                dropdown(
                    t("console.col.role"),
                    form.role,
                    [(r, t(f"role.{r}")) for r in ROLES],
                    lambda v: setattr(form, "role", v),
                    error=form.error("role"),
                ),
                dropdown(
                    t("language"),
                    form.locale,
                    [(lc, t(f"language.{lc}")) for lc in LOCALES],
                    lambda v: setattr(form, "locale", v),
                    width=160,
                ),
            ],
            wrap=True,
        ),
        ft.Row(
            [
                text_field(
                    t("console.col.display_name"),
                    form.display_name,
                    lambda v: setattr(form, "display_name", v),
                    error=form.error("display_name"),
                ),
                text_field(
                    t("console.users.email"),
                    form.email,
                    lambda v: setattr(form, "email", v),
                    error=form.error("email"),
                ),
            ],
            wrap=True,
        ),
    ]


def scope_editor(ui: Ui, users: UserAdmin, form: ScopedForm, *, may_grant_all: bool) -> ft.Control:
    """Where the user may act: every enterprise (group administrators only), or for each enterprise the whole of
    it or single sites."""
    t = ui.t

    def everything(value: bool) -> None:
        form.all_enterprises = value
        ui.refresh()

    def whole(enterprise_id: int) -> Callable[[bool], None]:
        def setter(value: bool) -> None:
            form.set_enterprise(enterprise_id, value)
            ui.refresh()

        return setter

    def site(enterprise_id: int, site_id: int) -> Callable[[bool], None]:
        def setter(value: bool) -> None:
            form.set_site(enterprise_id, site_id, value)
            ui.refresh()

        return setter

    rows: list[ft.Control] = [label(t("console.col.scope"))]
    if may_grant_all or form.all_enterprises:
        rows.append(checkbox(t("console.users.all_enterprises"), form.all_enterprises, everything))
    if not form.all_enterprises:
        for enterprise in users.enterprises:
            chosen = form.sites_of(enterprise.id)
            sites: list[ft.Control] = [
                inline_checkbox(s.name, s.id in chosen, site(enterprise.id, s.id))
                for s in users.sites_of(enterprise.id)
            ]
            rows.append(
                ft.Column(
                    [
                        checkbox(
                            t("console.users.whole_enterprise", enterprise=enterprise.name),
                            form.has_enterprise(enterprise.id),
                            whole(enterprise.id),
                        ),
                        ft.Container(
                            ft.Column(
                                [muted(t("console.users.or_sites")), ft.Row(sites, wrap=True, spacing=4)],
                                spacing=2,
                                tight=True,
                            ),
                            padding=ft.Padding.only(left=32),
                            visible=bool(sites),
                        ),
                    ],
                    spacing=2,
                    tight=True,
                )
            )
    rows.append(field_error(form.error("scopes")))
    return ft.Column(rows, spacing=4, tight=True)


class UsersSection(Section):
    """Users and their roles and scopes: list with filters, a new user, changes (all with the code)."""

    title_key = "console.section.users"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.users: UserAdmin = console.users()
        self.notice = ""

    async def load(self) -> None:
        await self.users.refresh()
        username = self.options.pop("edit", "")
        user = next((u for u in self.users.users if u.username == username), None)
        if user is not None and self.console.can("users.write"):
            self._edit(user.id)

    def _may_grant_all(self) -> bool:
        """Only a group-level administrator (who sees every enterprise) may give access to every enterprise."""
        me = self.console.me
        return me is not None and me.all_enterprises

    def _scope(self, user: User) -> str:
        scope = self.users.scope_text(user)
        return self.t("console.users.all_enterprises") if user.all_enterprises else scope

    def render(self) -> ft.Control:
        t, users = self.t, self.users
        can_write = self.console.can("users.write")

        def role(value: str) -> None:
            users.role = value or None
            self.ui.refresh()

        def search(value: str) -> None:
            users.search = value

        trailing: list[ft.Control] = [secondary_button(t("refresh"), self.ui.act(users.refresh), icon=ft.Icons.REFRESH)]
        if can_write:
            trailing.append(primary_button(t("console.users.new"), self._new, icon=ft.Icons.PERSON_ADD_ALT))
        counts = users.by_role()
        summary = ft.Row(
            [chip(f"{t('role.' + r)} {counts[r]}", Tone.INFO if counts[r] else Tone.NEUTRAL) for r in ROLES],
            spacing=8,
            wrap=True,
        )
        filters = filter_bar(
            [
                dropdown(
                    t("console.col.role"),
                    users.role or "",
                    [("", t("console.all"))] + [(r, t(f"role.{r}")) for r in ROLES],
                    role,
                    width=200,
                ),
                text_field(
                    t("console.users.search"), users.search, search, width=280, on_submit=lambda: self.ui.refresh()
                ),
            ],
            lambda: self.ui.refresh(),
            self.ui,
        )
        columns = [
            (t("login.username"), False),
            (t("console.col.display_name"), False),
            (t("console.col.role"), False),
            (t("console.col.scope"), False),
            (t("console.col.authenticator"), False),
            (t("console.col.last_login"), False),
            (t("console.col.active"), False),
            ("", False),
        ]
        rows = [
            [
                u.username,
                u.display_name or "—",
                t(f"role.{u.role}"),
                text(self._scope(u), width=240),
                t("console.yes") if u.totp_enrolled else t("console.no"),
                self.ui.tr.when(u.last_login_at) if u.last_login_at else "—",
                chip(t("console.users.active"), Tone.GOOD)
                if u.active
                else chip(t("console.users.inactive"), Tone.NEUTRAL),
                ft.IconButton(
                    ft.Icons.EDIT_OUTLINED, tooltip=t("edit"), icon_size=18, on_click=self._edit_handler(u.id)
                )
                if can_write
                else ft.Container(),
            ]
            for u in users.visible()
        ]
        return section_page(
            t("console.section.users"),
            [summary, card([filters, table(columns, rows, empty=t("empty"))])],
            trailing=trailing,
            error=users.error,
            notice=self.notice,
        )

    def _new(self) -> None:
        ui, t, users = self.ui, self.t, self.users
        form = users.new_user()

        async def save() -> None:
            created = await users.create()
            if created is not None:
                self.notice = t("console.users.created", username=created.username)
                ui.close_dialog()

        def body() -> ft.Control:
            return ft.Column(
                [
                    message(form.message, Tone.WARNING if form.needs_code else Tone.CRITICAL),
                    ft.Row(
                        [
                            text_field(
                                t("login.username"),
                                form.username,
                                lambda v: setattr(form, "username", v),
                                error=form.error("username"),
                                autofocus=True,
                            ),
                            text_field(
                                t("console.users.password"),
                                form.password,
                                lambda v: setattr(form, "password", v),
                                error=form.error("password"),
                                password=True,
                            ),
                        ],
                        wrap=True,
                    ),
                    *_profile_rows(t, form),
                    scope_editor(ui, users, form, may_grant_all=self._may_grant_all()),
                    code_field(ui, form),
                ],
                spacing=10,
                tight=True,
            )

        form_dialog(
            ui,
            t("console.users.new"),
            body,
            submit=t("save"),
            on_submit=save,
            on_cancel=lambda: setattr(users, "form", None),
        )

    def _edit_handler(self, user_id: int) -> Callable[[], None]:
        return lambda: self._edit(user_id)

    def _edit(self, user_id: int) -> None:
        ui, t, users = self.ui, self.t, self.users
        form = users.edit(user_id)

        async def save() -> None:
            updated = await users.update()
            if updated is not None:
                self.notice = t("console.users.updated", username=updated.username)
                ui.close_dialog()

        def body() -> ft.Control:
            return ft.Column(
                [
                    muted(f"{form.user.username} · {self._scope(form.user)}"),
                    message(form.message or form.error("form"), Tone.WARNING if form.needs_code else Tone.CRITICAL),
                    *_profile_rows(t, form),
                    checkbox(t("console.users.active"), form.active, lambda v: setattr(form, "active", v)),
                    scope_editor(ui, users, form, may_grant_all=self._may_grant_all()),
                    text_field(
                        t("console.users.new_password"),
                        form.new_password,
                        lambda v: setattr(form, "new_password", v),
                        error=form.error("new_password"),
                        password=True,
                    ),
                    code_field(ui, form),
                ],
                spacing=10,
                tight=True,
            )

        form_dialog(
            ui,
            t("console.users.edit", username=form.user.username),
            body,
            submit=t("save"),
            on_submit=save,
            on_cancel=lambda: setattr(users, "edit_form", None),
        )


class AuditSection(Section):
    """The audit log, newest first: filters, pages, what each record changed."""

    title_key = "console.section.audit"

    def __init__(self, ui: Ui, console: Console, options: Mapping[str, str]) -> None:
        super().__init__(ui, console, options)
        self.log: AuditLog = console.audit()
        self.log.page_size = int(options.get("page_size", "20"))
        f = self.log.filters
        f.actor, f.action, f.entity_id = options.get("actor", ""), options.get("action", ""), options.get("entity", "")
        f.outcome = options.get("outcome", "")
        f.first_day, f.last_day = options.get("from") or None, options.get("to") or None

    async def load(self) -> None:
        await self.log.search()

    def render(self) -> ft.Control:
        t, log, f = self.t, self.log, self.log.filters

        def outcome(value: str) -> None:
            f.outcome = value

        search = self.ui.act(log.search)
        filters = ft.Row(
            [
                text_field(
                    t("console.col.actor"), f.actor, lambda v: setattr(f, "actor", v), width=160, on_submit=search
                ),
                text_field(
                    t("console.audit.action_prefix"),
                    f.action,
                    lambda v: setattr(f, "action", v),
                    width=220,
                    hint="registry.",
                    on_submit=search,
                ),
                text_field(
                    t("console.audit.entity"),
                    f.entity_id,
                    lambda v: setattr(f, "entity_id", v),
                    width=200,
                    on_submit=search,
                ),
                *day_span_fields(
                    self.ui, f, t("console.audit.first_day"), t("console.audit.last_day"), on_submit=search
                ),
                dropdown(
                    t("console.col.outcome"),
                    f.outcome,
                    [("", t("console.all"))] + [(o, t(f"console.outcome.{o}")) for o in AUDIT_OUTCOMES],
                    outcome,
                    error=f.error("outcome"),
                    width=150,
                ),
                primary_button(t("search"), search, icon=ft.Icons.SEARCH),
            ],
            spacing=8,
            wrap=True,
        )
        columns = [
            (t("console.col.time"), False),
            (t("console.col.actor"), False),
            (t("console.col.action"), False),
            (t("console.col.object"), False),
            (t("console.col.outcome"), False),
            (t("console.col.changes"), False),
        ]
        rows = [self._row(r) for r in log.rows]
        first = log.page * log.page_size + 1 if log.total else 0
        last = first + len(log.rows) - 1 if log.rows else 0
        paging = pager(
            self.ui,
            t("console.audit.range", first=first, last=max(last, 0), total=log.total),
            t("console.audit.page", page=log.page + 1, pages=log.pages),
            previous=self.ui.act(log.previous_page),
            next_=self.ui.act(log.next_page),
            has_previous=log.has_previous,
            has_next=log.has_next,
        )
        return section_page(
            t("console.section.audit"),
            [card([filters, table(columns, rows, empty=t("console.audit.empty")), paging])],
            error=log.error,
        )

    def _row(self, row: AuditRow) -> list[str | ft.Control]:
        entry = row.entry
        changes = [f"{c.field}: {c.before or '∅'} → {c.after or '∅'}" for c in row.changes[:3]]
        if len(row.changes) > 3:
            changes.append(self.t("console.audit.more", count=len(row.changes) - 3))
        kind = entity_label(entry.entity_type, self.ui.tr) if entry.entity_type else ""
        what = " · ".join(x for x in (kind, entry.entity_id) if x) or "—"
        action = text(action_label(entry.action, self.ui.tr))
        action.tooltip = entry.action  # the code, one hover away
        return [
            self.ui.tr.when(entry.at, seconds=True),
            entry.actor,
            ft.Column(
                [action, muted(entry.summary, width=300)] if entry.summary else [action],
                spacing=0,
                tight=True,
            ),
            text(what, width=220),
            chip(self.t(f"console.outcome.{entry.outcome}"), _OUTCOME_TONES[entry.outcome])
            if entry.outcome in _OUTCOME_TONES
            else entry.outcome,
            ft.Container(
                ft.Column([muted(c, width=360) for c in changes], spacing=0, tight=True),
                padding=ft.Padding.symmetric(vertical=6),
            )
            if changes
            else "—",
        ]
