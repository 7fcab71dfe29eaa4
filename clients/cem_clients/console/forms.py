"""What the console's forms and screens share: field errors, the platform's refusal, and TOTP step-up.

A form is a plain dataclass the screen binds its fields to. ``validate()`` fills :attr:`Form.errors` (field name
-> what is wrong, ready to show under the field) before anything is sent; :meth:`Form.send` then runs the call:

* a refusal of the platform becomes :attr:`Form.message` (its message and hint, shown above the form);
* :class:`~cem_clients.api.StepUpRequired` — a control operation without a recent TOTP confirmation — sets
  :attr:`Form.needs_code` and asks to :data:`STEP_UP_PROMPT` ("Enter your authenticator code"); the screen shows
  the code field and the user submits again. A wrong or already used code says so under the field.

A code is accepted once (the next one takes the next 30 s step), so the form forgets it after every attempt. A
code that passed also confirms the session for a few minutes: further control operations pass without one.

A screen (:class:`Screen`) loads its data over the API; a failure keeps what was shown and sets
:attr:`Screen.error`.

Messages of the view models are :class:`Problem` values: a key of the string tables (:mod:`cem_clients.ui.i18n`,
``console.problem.*``) with its parameters, and — as a ``str`` — its English text. The screens show them in the
session's language (:meth:`Problem.render`); the platform's own messages are shown as they came.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from cem_clients.api import ClientError, StepUpRequired
from cem_clients.ui.i18n import Translator

__all__ = [
    "CODE_FORMAT",
    "STEP_UP_PROMPT",
    "DaySpanForm",
    "FieldChange",
    "Form",
    "Problem",
    "Screen",
    "as_date",
    "as_decimal",
    "changes_between",
    "choices",
    "localized",
    "text_of",
]

T = TypeVar("T")

_ENGLISH = Translator("en")


class Problem(str):
    """A message for the user: a string-table key with parameters; as a ``str``, its English text.

    Being a ``str`` it goes wherever a message goes (``form.errors``, ``Screen.error``) and compares with English
    text; :meth:`render` gives it in another language.
    """

    key: str
    params: dict[str, object]

    def __new__(cls, key: str, /, **params: object) -> Problem:
        """The problem ``key`` (a ``console.problem.*`` key) with the values of its placeholders."""
        problem = super().__new__(cls, _ENGLISH.t(key, **params))
        problem.key, problem.params = key, dict(params)
        return problem

    def render(self, tr: Translator) -> str:
        """The message in ``tr``'s language."""
        return tr.t(self.key, **self.params)


def localized(value: str, tr: Translator) -> str:
    """A message as the user reads it: a :class:`Problem` in ``tr``'s language, other text as it is."""
    return value.render(tr) if isinstance(value, Problem) else value


def choices(values: Iterable[object]) -> str:
    """Choices listed in a message: ``a, b, c``."""
    return ", ".join(str(v) for v in values)


STEP_UP_PROMPT = Problem("console.problem.step_up")
CODE_FORMAT = Problem("console.problem.code_format")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


@dataclass(kw_only=True)
class Form:
    """Field errors, the platform's answer and the step-up state of one form."""

    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""  # the platform's refusal (message and hint), or the step-up prompt
    needs_code: bool = False  # show the authenticator-code field
    totp_code: str = ""  # the authenticator code typed in (sent once, then forgotten)

    @property
    def valid(self) -> bool:
        """No field error."""
        return not self.errors

    def error(self, name: str) -> str:
        """The problem with field ``name`` ("" when none)."""
        return self.errors.get(name, "")

    def begin(self) -> None:
        """Forget the errors of the last attempt (``validate()`` starts with it)."""
        self.errors.clear()
        self.message = ""

    def check(self, name: str, problem: str | None) -> None:
        """Record ``problem`` for field ``name`` (the first problem of a field is kept)."""
        if problem and name not in self.errors:
            self.errors[name] = problem

    def take_code(self) -> str | None:
        """The authenticator code to send with the request (None without one), forgotten by the form (a code
        works once); a malformed code is an error of the field ``totp_code``."""
        code = "".join(self.totp_code.split())
        self.totp_code = ""
        if not code:
            return None
        if not (len(code) == 6 and code.isdigit()):
            self.errors["totp_code"] = CODE_FORMAT
        return code

    async def send(self, call: Callable[[str | None], Awaitable[T]]) -> T | None:
        """``await call(code)`` unless a field is wrong; the result, or None with the refusal in the form."""
        code = self.take_code()
        if self.errors:
            return None
        try:
            result = await call(code)
        except StepUpRequired as err:
            self.needs_code = True
            self.message = STEP_UP_PROMPT if code is None else str(err)
            self.errors["totp_code"] = self.message
            return None
        except ClientError as err:
            if code is not None:  # the code was checked before the request failed: the session is confirmed now
                self.needs_code = False
            self.message = str(err)
            return None
        self.needs_code = False
        self.message = ""
        return result


@dataclass(kw_only=True)
class DaySpanForm(Form):
    """A form with a span of local days, picked or typed: ``first_day`` to ``last_day`` inclusive, in ``timezone``."""

    first_day: dt.date | str | None = None
    last_day: dt.date | str | None = None
    timezone: str = "Asia/Shanghai"  # of the days

    def day_window(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The instants the days span: the first day's local midnight, the midnight after the last day."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        first, last = as_date(self.first_day)[0], as_date(self.last_day)[0]
        start = dt.datetime.combine(first, dt.time(), zone) if first else None
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone) if last else None
        return start, end

    def check_days(self) -> None:
        """Record the days' problems: not a date, or the last before the first."""
        for name in ("first_day", "last_day"):
            self.check(name, as_date(getattr(self, name))[1])
        first, last = as_date(self.first_day)[0], as_date(self.last_day)[0]
        if first and last and last < first:
            self.check("last_day", Problem("console.problem.days_order"))


@dataclass(kw_only=True)
class Screen:
    """Loading state of a screen: the last error and when its data was loaded."""

    error: str = ""
    loaded_at: dt.datetime | None = None

    async def _load(self, work: Callable[[], Awaitable[None]], now: dt.datetime | None = None) -> bool:
        """Run ``work``; on a ClientError keep what is shown and remember the error."""
        try:
            await work()
        except ClientError as err:
            self.error = str(err)
            return False
        self.error = ""
        self.loaded_at = now or dt.datetime.now(dt.UTC)
        return True


@dataclass(frozen=True)
class FieldChange:
    """One field of a record before and after a change, as text ("" for absent)."""

    field: str
    before: str
    after: str


def text_of(value: object) -> str:
    """A value as shown in a table cell ("" for None)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"  # audit snapshots: the platform's own words
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def changes_between(
    before: Mapping[str, object] | None, after: Mapping[str, object] | None, skip: tuple[str, ...] = ()
) -> tuple[FieldChange, ...]:
    """The fields that differ between two snapshots, in the order they first appear."""
    old, new = before or {}, after or {}
    names = [*old, *(k for k in new if k not in old)]
    return tuple(
        FieldChange(name, text_of(old.get(name)), text_of(new.get(name)))
        for name in names
        if name not in skip and text_of(old.get(name)) != text_of(new.get(name))
    )


def as_decimal(text: str) -> tuple[Decimal | None, Problem | None]:
    """An exact decimal typed by a user, or the problem with it."""
    cleaned = text.strip()
    if not cleaned:
        return None, Problem("console.problem.number_missing")
    if not _DECIMAL.match(cleaned):
        return None, Problem("console.problem.number_format")
    try:
        return Decimal(cleaned), None
    except InvalidOperation:  # pragma: no cover - the pattern lets only numbers through
        return None, Problem("console.problem.number_format")


def as_date(value: dt.date | str | None, *, required: bool = False) -> tuple[dt.date | None, Problem | None]:
    """A date from a date picker or typed as YYYY-MM-DD, or the problem with it."""
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    text = (value or "").strip()
    if not text:
        return None, (Problem("console.problem.date_missing") if required else None)
    try:
        return dt.date.fromisoformat(text), None
    except ValueError:
        return None, Problem("console.problem.date_format")
