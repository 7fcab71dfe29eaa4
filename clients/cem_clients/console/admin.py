"""Administration screens: alarm thresholds (the ``alarm.*`` system parameters), users and roles, the audit log."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cem_clients.api import AuditEntry, Enterprise, ScopeItem, Site, User
from cem_clients.console.extra_api import ConsoleApi, ParameterChanged, SystemParameter
from cem_clients.console.forms import (
    DaySpanForm,
    FieldChange,
    Form,
    Problem,
    Screen,
    as_decimal,
    changes_between,
    choices,
    text_of,
)

__all__ = [
    "AUDIT_OUTCOMES",
    "LOCALES",
    "PASSWORD_MIN_LENGTH",
    "ROLES",
    "AlarmThresholds",
    "AuditFilters",
    "AuditLog",
    "AuditRow",
    "ScopedForm",
    "Threshold",
    "ThresholdForm",
    "UserAdmin",
    "UserEditForm",
    "UserForm",
]

ROLES = ("admin", "device_admin", "accountant", "executive", "crew", "auditor", "verifier")
LOCALES = ("zh-CN", "en")
AUDIT_OUTCOMES = ("success", "denied", "failed")
PASSWORD_MIN_LENGTH = 10  # the platform's default (auth.password_min_length); it checks again
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")
_WHOLE = re.compile(r"^[+-]?\d+$")


# ---- alarm thresholds ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    """One alarm threshold: what it means, its value, default and bounds, and who changed it last."""

    key: str
    description: str
    description_zh: str
    value: Any
    default: Any
    minimum: float | None
    maximum: float | None
    choices: tuple[str, ...]
    whole: bool  # a whole number (else any number within the bounds)
    version: int
    updated_by: str
    updated_at: dt.datetime | None

    @classmethod
    def of(cls, parameter: SystemParameter) -> Threshold:
        """The threshold of a system parameter."""
        default = parameter.default
        whole = isinstance(default, int) and not isinstance(default, bool)
        return cls(
            key=parameter.key,
            description=parameter.description_en,
            description_zh=parameter.description_zh,
            value=parameter.value,
            default=default,
            minimum=parameter.minimum,
            maximum=parameter.maximum,
            choices=parameter.choices,
            whole=whole,
            version=parameter.version,
            updated_by=parameter.updated_by or "",
            updated_at=parameter.updated_at,
        )

    @property
    def changed(self) -> bool:
        """Set to something else than its default."""
        return bool(self.value != self.default)

    @property
    def value_text(self) -> str:
        """The value as shown ("95" rather than "95.0")."""
        return text_of(self.value)

    @property
    def range_text(self) -> str:
        """The allowed range, e.g. "2 – 1000" ("" when unbounded)."""
        if self.minimum is None and self.maximum is None:
            return ""
        return f"{text_of(self.minimum)} – {text_of(self.maximum)}"


@dataclass(kw_only=True)
class ThresholdForm(Form):
    """A new value for one threshold, typed as text."""

    threshold: Threshold
    text: str = ""

    def parsed(self) -> Any:
        """The value to send (after :meth:`validate`)."""
        text = self.text.strip()
        if self.threshold.choices:
            return text
        if self.threshold.whole:
            return int(text)
        number = Decimal(text)
        return int(number) if number == number.to_integral_value() else float(number)

    def validate(self) -> bool:
        """Check the value's type and bounds as the platform will; True when it can be sent."""
        self.begin()
        t, text = self.threshold, self.text.strip()
        if t.choices:
            if text not in t.choices:
                self.check("text", Problem("console.problem.choose_one", choices=choices(t.choices)))
            return self.valid
        if t.whole and not _WHOLE.match(text):
            self.check("text", Problem("console.problem.whole_number"))
            return self.valid
        number, problem = as_decimal(text)
        self.check("text", problem)
        if number is None:
            return self.valid
        if t.minimum is not None and number < Decimal(str(t.minimum)):
            self.check("text", Problem("console.problem.at_least", limit=text_of(t.minimum)))
        if t.maximum is not None and number > Decimal(str(t.maximum)):
            self.check("text", Problem("console.problem.at_most", limit=text_of(t.maximum)))
        return self.valid


@dataclass
class AlarmThresholds(Screen):
    """The alarm thresholds (system parameters ``alarm.*``): list, edit with validation, step-up when asked."""

    api: ConsoleApi
    prefix: str = "alarm."
    items: list[Threshold] = field(default_factory=list)
    form: ThresholdForm | None = None
    saved: ParameterChanged | None = None

    async def refresh(self) -> bool:
        """Reload the thresholds."""

        async def work() -> None:
            parameters = await self.api.system_parameters()
            self.items = [Threshold.of(p) for p in parameters if p.key.startswith(self.prefix)]

        return await self._load(work)

    def get(self, key: str) -> Threshold:
        """One threshold by key."""
        return next(t for t in self.items if t.key == key)

    def edit(self, key: str) -> ThresholdForm:
        """A form for a new value of ``key``, filled with the current one."""
        threshold = self.get(key)
        self.form = ThresholdForm(threshold=threshold, text=threshold.value_text)
        return self.form

    async def save(self) -> ParameterChanged | None:
        """Send the form's value (with the authenticator code when the platform asked for one)."""
        form = self.form
        if form is None or not form.validate():
            return None
        key, value = form.threshold.key, form.parsed()
        changed = await form.send(lambda code: self.api.set_system_parameter(key, value, code))
        if changed is not None:
            self.saved = changed
            self.form = None
            await self.refresh()
        return changed


# ---- users and roles ----------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class ScopedForm(Form):
    """Where a user may act: every enterprise, or whole enterprises and single sites of others (one
    :class:`ScopeItem` each). A site narrows its enterprise: giving one drops the whole enterprise, and giving the
    whole enterprise drops its single sites."""

    all_enterprises: bool = False
    scopes: list[ScopeItem] = field(default_factory=list)

    def add_scope(self, enterprise_id: int, site_id: int | None = None) -> None:
        """Give access to an enterprise (or one site of it)."""
        self.scopes.append(ScopeItem(enterprise_id=enterprise_id, site_id=site_id))

    def has_enterprise(self, enterprise_id: int) -> bool:
        """Whether the whole enterprise is given."""
        return ScopeItem(enterprise_id=enterprise_id) in self.scopes

    def sites_of(self, enterprise_id: int) -> list[int]:
        """The single sites of an enterprise given (in the order given)."""
        return [s.site_id for s in self.scopes if s.enterprise_id == enterprise_id and s.site_id is not None]

    def set_enterprise(self, enterprise_id: int, given: bool) -> None:
        """Give the whole enterprise (replacing single sites of it), or take it away."""
        self.scopes = [s for s in self.scopes if s.enterprise_id != enterprise_id]
        if given:
            self.add_scope(enterprise_id)

    def set_site(self, enterprise_id: int, site_id: int, given: bool) -> None:
        """Give one site of an enterprise (instead of the whole enterprise), or take it away."""
        self.scopes = [
            s
            for s in self.scopes
            if not (s.enterprise_id == enterprise_id and s.site_id in (None, site_id))
            or (not given and s.site_id is None)
        ]
        if given:
            self.add_scope(enterprise_id, site_id)

    def check_scopes(self, sites: Sequence[Site] = ()) -> None:
        """Record what is wrong with the scopes (``sites``: the sites known, to check where each one is)."""
        if not self.all_enterprises and not self.scopes:
            self.check("scopes", Problem("console.problem.scopes_missing"))
        pairs = [(s.enterprise_id, s.site_id) for s in self.scopes]
        if len(set(pairs)) != len(pairs):
            self.check("scopes", Problem("console.problem.scopes_twice"))
        whole = {s.enterprise_id for s in self.scopes if s.site_id is None}
        known = {site.id: site for site in sites}
        for scope in self.scopes:
            if scope.site_id is None:
                continue
            site = known.get(scope.site_id)
            if site is not None and site.enterprise_id != scope.enterprise_id:
                self.check("scopes", Problem("console.problem.site_elsewhere", site=site.name))
            elif scope.enterprise_id in whole:
                self.check(
                    "scopes", Problem("console.problem.site_in_whole", site=site.name if site else scope.site_id)
                )


@dataclass(kw_only=True)
class UserForm(ScopedForm):
    """A new user: name, initial password, role and scope."""

    username: str = ""
    password: str = ""
    role: str = "crew"
    display_name: str = ""
    email: str = ""
    locale: str = "zh-CN"
    password_min_length: int = PASSWORD_MIN_LENGTH

    def validate(self, sites: Sequence[Site] = ()) -> bool:
        """Check the fields as the platform will (``sites``: the sites known); True when the form can be sent."""
        self.begin()
        username = self.username.strip()
        if not _USERNAME.match(username):
            self.check("username", Problem("console.problem.username_format"))
        if len(self.password) < self.password_min_length:
            self.check("password", Problem("console.problem.at_least_chars", limit=self.password_min_length))
        elif username and username.lower() in self.password.lower():
            self.check("password", Problem("console.problem.password_has_username"))
        elif len(self.password) > 256:
            self.check("password", Problem("console.problem.at_most_chars", limit=256))
        if self.role not in ROLES:
            self.check("role", Problem("console.problem.choose_one", choices=choices(ROLES)))
        _check_profile(self, self.display_name, self.email, self.locale)
        self.check_scopes(sites)
        return self.valid


def _check_profile(form: Form, display_name: str, email: str, locale: str) -> None:
    if len(display_name.strip()) > 100:
        form.check("display_name", Problem("console.problem.at_most_chars", limit=100))
    if len(email.strip()) > 200:
        form.check("email", Problem("console.problem.at_most_chars", limit=200))
    elif email.strip() and "@" not in email:
        form.check("email", Problem("console.problem.email_at"))
    if locale not in LOCALES:
        form.check("locale", Problem("console.problem.choose_one", choices=choices(LOCALES)))


@dataclass(kw_only=True)
class UserEditForm(ScopedForm):
    """Changes to a user; only the fields that differ from ``user`` are sent."""

    user: User
    role: str = ""
    display_name: str = ""
    email: str = ""
    locale: str = ""
    active: bool = True
    new_password: str = ""
    password_min_length: int = PASSWORD_MIN_LENGTH

    @classmethod
    def of(cls, user: User) -> UserEditForm:
        """A form filled with ``user``."""
        return cls(
            user=user,
            role=user.role,
            display_name=user.display_name,
            email=user.email,
            locale=user.locale,
            active=user.active,
            all_enterprises=user.all_enterprises,
            scopes=list(user.scopes),
        )

    def changes(self) -> dict[str, Any]:
        """What differs from the user as loaded."""
        u = self.user
        out: dict[str, Any] = {}
        for name, old, new in (
            ("role", u.role, self.role),
            ("display_name", u.display_name, self.display_name.strip()),
            ("email", u.email, self.email.strip()),
            ("locale", u.locale, self.locale),
            ("active", u.active, self.active),
            ("all_enterprises", u.all_enterprises, self.all_enterprises),
        ):
            if old != new:
                out[name] = new
        if list(u.scopes) != self.scopes:
            out["scopes"] = list(self.scopes)
        if self.new_password:
            out["password"] = self.new_password
        return out

    def validate(self, sites: Sequence[Site] = ()) -> bool:
        """Check the fields (``sites``: the sites known); True when the form can be sent."""
        self.begin()
        if self.role not in ROLES:
            self.check("role", Problem("console.problem.choose_one", choices=choices(ROLES)))
        _check_profile(self, self.display_name, self.email, self.locale)
        self.check_scopes(sites)
        if self.new_password and len(self.new_password) < self.password_min_length:
            self.check("new_password", Problem("console.problem.at_least_chars", limit=self.password_min_length))
        if not self.errors and not self.changes():
            self.check("form", Problem("console.problem.nothing_changed"))
        return self.valid


@dataclass
class UserAdmin(Screen):
    """Users and roles: the list (filtered by role or text), a new user, changes to one (all with step-up)."""

    api: ConsoleApi
    users: list[User] = field(default_factory=list)
    enterprises: list[Enterprise] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    role: str | None = None  # list filter
    search: str = ""  # list filter: part of the username, display name or e-mail
    form: UserForm | None = None
    edit_form: UserEditForm | None = None

    async def refresh(self) -> bool:
        """Reload the users and the enterprises and sites they may be given."""

        async def work() -> None:
            self.users = sorted(await self.api.users(), key=lambda u: u.username)
            self.enterprises = await self.api.enterprises()
            self.sites = await self.api.sites()

        return await self._load(work)

    def visible(self) -> list[User]:
        """The users the list shows with its filters."""
        needle = self.search.strip().lower()
        return [
            u
            for u in self.users
            if (self.role is None or u.role == self.role)
            and (not needle or any(needle in t.lower() for t in (u.username, u.display_name, u.email)))
        ]

    def by_role(self) -> dict[str, int]:
        """How many users hold each role (every role listed)."""
        counts = dict.fromkeys(ROLES, 0)
        for user in self.users:
            counts[user.role] = counts.get(user.role, 0) + 1
        return counts

    def sites_of(self, enterprise_id: int) -> list[Site]:
        """The sites of an enterprise (to give a user single sites of it)."""
        return [s for s in self.sites if s.enterprise_id == enterprise_id]

    def scope_text(self, user: User) -> str:
        """Where the user may act, by name: every enterprise, or enterprises and sites."""
        if user.all_enterprises:
            return "all enterprises"
        enterprises = {e.id: e.name for e in self.enterprises}
        sites = {s.id: s.name for s in self.sites}
        parts = []
        for scope in user.scopes:
            name = enterprises.get(scope.enterprise_id, f"#{scope.enterprise_id}")
            parts.append(name if scope.site_id is None else f"{name} / {sites.get(scope.site_id, scope.site_id)}")
        return ", ".join(parts)

    def new_user(self) -> UserForm:
        """An empty form for a new user (scoped to the only enterprise when there is one)."""
        self.form = UserForm()
        if len(self.enterprises) == 1:
            self.form.add_scope(self.enterprises[0].id)
        return self.form

    async def create(self) -> User | None:
        """Create the user of the form; the list is reloaded."""
        form = self.form
        if form is None or not form.validate(self.sites):
            return None
        user = await form.send(
            lambda code: self.api.create_user(
                form.username.strip(),
                form.password,
                form.role,
                display_name=form.display_name.strip(),
                email=form.email.strip(),
                locale=form.locale,
                all_enterprises=form.all_enterprises,
                scopes=form.scopes,
                totp=code,
            )
        )
        if user is not None:
            self.form = None
            await self.refresh()
        return user

    def edit(self, user_id: int) -> UserEditForm:
        """A form to change one user."""
        self.edit_form = UserEditForm.of(next(u for u in self.users if u.id == user_id))
        return self.edit_form

    async def update(self) -> User | None:
        """Send the changes of the edit form; the list is reloaded."""
        form = self.edit_form
        if form is None or not form.validate(self.sites):
            return None
        user_id, changes = form.user.id, form.changes()
        user = await form.send(lambda code: self.api.update_user(user_id, changes, code))
        if user is not None:
            self.edit_form = None
            await self.refresh()
        return user


# ---- audit log ----------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class AuditFilters(DaySpanForm):
    """What to search the audit log for (empty: everything)."""

    actor: str = ""
    action: str = ""  # a prefix: "registry." finds every registry action
    entity_type: str = ""
    entity_id: str = ""
    enterprise_id: int | None = None
    outcome: str = ""
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def window(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The instants searched between: ``start`` and ``end`` when given, else the local days' bounds."""
        first, last = self.day_window()
        return self.start or first, self.end or last

    def validate(self) -> bool:
        """Check the filters; True when they can be sent."""
        self.begin()
        self.check_days()
        for name, when in (("start", self.start), ("end", self.end)):
            if when is not None and when.tzinfo is None:
                self.check(name, Problem("console.problem.time_zone"))
        if self.start and self.end and self.start.tzinfo and self.end.tzinfo and self.end <= self.start:
            self.check("end", Problem("console.problem.end_after_start"))
        if self.outcome and self.outcome not in AUDIT_OUTCOMES:
            self.check("outcome", Problem("console.problem.choose_one", choices=choices(AUDIT_OUTCOMES)))
        return self.valid


@dataclass(frozen=True)
class AuditRow:
    """One audit record and what it changed, field by field."""

    entry: AuditEntry
    changes: tuple[FieldChange, ...]


@dataclass
class AuditLog(Screen):
    """The audit log, newest first, page by page, with filters."""

    api: ConsoleApi
    filters: AuditFilters = field(default_factory=AuditFilters)
    page_size: int = 50
    page: int = 0  # 0-based
    total: int = 0
    rows: list[AuditRow] = field(default_factory=list)

    async def search(self) -> bool:
        """Apply the filters: the first page."""
        if not self.filters.validate():
            return False
        return await self.go_to(0)

    async def go_to(self, page: int) -> bool:
        """Show page ``page`` (0-based) with the current filters."""
        f = self.filters
        page = max(0, page)
        start, end = f.window()

        async def work() -> None:
            result = await self.api.audit(
                actor=f.actor.strip() or None,
                action=f.action.strip() or None,
                entity_type=f.entity_type.strip() or None,
                entity_id=f.entity_id.strip() or None,
                enterprise_id=f.enterprise_id,
                outcome=f.outcome or None,
                start=start,
                end=end,
                limit=self.page_size,
                offset=page * self.page_size,
            )
            self.page, self.total = page, result.total
            self.rows = [AuditRow(e, changes_between(e.before, e.after, skip=("updated_at",))) for e in result.items]

        return await self._load(work)

    async def next_page(self) -> bool:
        """The next (older) page, if there is one."""
        return await self.go_to(self.page + 1) if self.has_next else False

    async def previous_page(self) -> bool:
        """The previous (newer) page, if there is one."""
        return await self.go_to(self.page - 1) if self.has_previous else False

    @property
    def pages(self) -> int:
        """How many pages the search has (at least 1)."""
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def has_next(self) -> bool:
        """Whether older records follow."""
        return self.page + 1 < self.pages

    @property
    def has_previous(self) -> bool:
        """Whether newer records come before."""
        return self.page > 0

    @property
    def range_text(self) -> str:
        """ "51–100 of 234" ("0 of 0" when nothing matches)."""
        if not self.total:
            return "0 of 0"
        first = self.page * self.page_size + 1
        return f"{first}–{first + len(self.rows) - 1} of {self.total}"
