"""Reporting and verification of an enterprise's years: the view state of the console's reporting screen.

:class:`ReportingDesk` holds the last few years of an enterprise with their reporting state (draft, submitted,
verified, locked), and for the year chosen: the figures as reported beside the figures kept now (GB/T 32151.5
total, the national carbon market's direct scope, intensities per tonne of crude steel), what accounting the year
now would change, the verified figures and findings, the verifier and the history of transitions.

What the caller may do follows the year's state and the caller's permissions (:meth:`ReportingDesk.actions`):

* ``accounting.write`` — submit a draft, assign the verifier, lock a verified year, ask for a new draft of a
  submitted or verified year (a reason), reopen a locked year (a reason and TOTP step-up);
* ``report.verify`` — the year's assigned verifier records the verified figures and findings of a submitted year.

Each action goes through a form (:mod:`cem_clients.console.forms`): field errors before anything is sent, the
platform's refusal in ``form.message``, and — for reopening — the authenticator code asked for when the session
has no recent step-up. A verifier reads only the years assigned to it: the others are left out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from cem_clients.api import ClientError, EmissionPeriod, ForbiddenError, ReportingYear
from cem_clients.console.extra_api import ConsoleApi
from cem_clients.console.forms import Form, Problem, Screen, as_decimal

__all__ = [
    "REPORT_ACTIONS",
    "REPORT_STATES",
    "YEARS_SHOWN",
    "KeptFigures",
    "ReportAction",
    "ReportingDesk",
    "ReportingForm",
    "last_years",
]

ReportAction = Literal["submit", "verifier", "verify", "lock", "draft", "reopen"]
REPORT_STATES = ("draft", "submitted", "verified", "locked")
REPORT_ACTIONS: tuple[ReportAction, ...] = ("submit", "verifier", "verify", "lock", "draft", "reopen")
YEARS_SHOWN = 5
MAX_REASON = 500  # the platform's limit
MAX_FINDINGS = 20_000

#: The states each action starts from, and the permission it needs.
_ALLOWED: dict[ReportAction, tuple[tuple[str, ...], str]] = {
    "submit": (("draft",), "accounting.write"),
    "verifier": (("draft", "submitted"), "accounting.write"),
    "verify": (("submitted",), "report.verify"),
    "lock": (("verified",), "accounting.write"),
    "draft": (("submitted", "verified"), "accounting.write"),
    "reopen": (("locked",), "accounting.write"),
}


def last_years(today: dt.date, count: int = YEARS_SHOWN) -> list[int]:
    """The ``count`` years ended before ``today``, newest first (a year is reported once it has ended)."""
    return [today.year - 1 - i for i in range(count)]


@dataclass(frozen=True)
class KeptFigures:
    """A year's result as the platform keeps it now (``EmissionPeriod`` of the year), with the direct intensity."""

    net: Decimal
    direct: Decimal | None
    crude_steel: Decimal | None
    intensity: Decimal | None
    direct_intensity: Decimal | None
    result_id: int | None
    version: int
    final: bool
    pending: bool
    complete: bool
    as_of: dt.datetime | None
    library_version: int | None

    @classmethod
    def of(cls, period: EmissionPeriod) -> KeptFigures:
        """The figures of a year's period."""
        output = period.output
        direct_intensity = period.direct / output if period.direct is not None and output else None
        return cls(
            net=period.net,
            direct=period.direct,
            crude_steel=output,
            intensity=period.intensity,
            direct_intensity=direct_intensity,
            result_id=period.result_id,
            version=period.version,
            final=period.final,
            pending=period.pending,
            complete=period.complete,
            as_of=period.as_of,
            library_version=period.library_version,
        )


@dataclass(kw_only=True)
class ReportingForm(Form):
    """One action on a year: a note or reason (submit, new draft, reopen), the verifier's username, or the
    verified figures and findings."""

    action: ReportAction
    year: int
    reason: str = ""
    verifier: str = ""
    net: str = ""
    direct: str = ""
    findings: str = ""

    @property
    def needs_reason(self) -> bool:
        """A new draft and a reopened year say why."""
        return self.action in ("draft", "reopen")

    def validate(self) -> bool:
        """The fields the action needs; True when the form can be sent."""
        self.begin()
        if self.needs_reason and not self.reason.strip():
            self.check("reason", Problem("console.problem.reporting.reason_missing"))
        if len(self.reason.strip()) > MAX_REASON:
            self.check("reason", Problem("console.problem.reporting.reason_long", limit=MAX_REASON))
        if self.action == "verifier" and not self.verifier.strip():
            self.check("verifier", Problem("console.problem.reporting.verifier_missing"))
        if self.action == "verify":
            for name in ("net", "direct"):
                number, problem = as_decimal(getattr(self, name).replace(",", ""))
                if problem is None and number is not None and number < 0:
                    problem = Problem("console.problem.reporting.negative")
                self.check(name, problem)
            if len(self.findings) > MAX_FINDINGS:
                self.check("findings", Problem("console.problem.reporting.findings_long", limit=MAX_FINDINGS))
        return self.valid


@dataclass
class ReportingDesk(Screen):
    """The reporting years of an enterprise and the actions on the one chosen."""

    api: ConsoleApi
    enterprise_id: int
    years: list[int] = field(default_factory=lambda: last_years(dt.datetime.now(dt.UTC).date()))
    permissions: frozenset[str] = frozenset()
    username: str = ""
    states: dict[int, ReportingYear] = field(default_factory=dict)  # the years the caller may read
    kept: KeptFigures | None = None  # of the year chosen
    year: int | None = None
    form: ReportingForm | None = None
    notice: str = ""  # what the last action did

    def can(self, permission: str) -> bool:
        """Whether the caller holds ``permission``."""
        return permission in self.permissions

    @property
    def shown_years(self) -> list[int]:
        """The years listed, newest first: those the caller may read."""
        return [y for y in self.years if y in self.states]

    @property
    def selected(self) -> ReportingYear | None:
        """The state of the year chosen."""
        return self.states.get(self.year) if self.year is not None else None

    async def refresh(self) -> bool:
        """Every year's state (a verifier's unassigned years left out), then the chosen year's kept figures."""

        async def one(year: int) -> ReportingYear | None:
            try:
                return await self.api.reporting_year(self.enterprise_id, year)
            except ForbiddenError:
                return None  # a verifier's year not assigned to it

        async def work() -> None:
            found = await asyncio.gather(*(one(y) for y in self.years))
            self.states = {y: s for y, s in zip(self.years, found, strict=True) if s is not None}
            if self.year not in self.states:
                self.year = next(iter(self.shown_years), None)
            await self._load_kept()

        return await self._load(work)

    async def select(self, year: int) -> bool:
        """Choose a year (one not listed yet is added to the list)."""
        if year not in self.years:
            self.years = sorted({*self.years, year}, reverse=True)
        self.year, self.notice = year, ""
        if year not in self.states:
            return await self.refresh()

        async def work() -> None:
            self.states[year] = await self.api.reporting_year(self.enterprise_id, year)
            await self._load_kept()

        return await self._load(work)

    async def _load_kept(self) -> None:
        self.kept = None
        if self.year is None:
            return
        page = await self.api.emissions(
            "enterprise", self.enterprise_id, "year", f"{self.year}-01-01", f"{self.year + 1}-01-01"
        )
        self.kept = KeptFigures.of(page.results[0]) if page.results else None

    # ---- actions ----------------------------------------------------------------------------------------------

    def actions(self) -> list[ReportAction]:
        """What the caller may do with the chosen year now, in the order the buttons show."""
        year = self.selected
        if year is None:
            return []
        allowed: list[ReportAction] = []
        for action in REPORT_ACTIONS:
            states, permission = _ALLOWED[action]
            if year.state not in states or not self.can(permission):
                continue
            if action == "verify" and year.verifier != self.username:
                continue  # only the year's verifier verifies it
            allowed.append(action)
        return allowed

    def start(self, action: ReportAction) -> ReportingForm:
        """The form of ``action`` on the chosen year (the verifier's name filled in when one is assigned)."""
        if self.year is None:
            raise ValueError("no year chosen")
        year = self.selected
        self.form = ReportingForm(action=action, year=self.year, verifier=year.verifier if year else "")
        return self.form

    async def send(self) -> ReportingYear | None:
        """Send the open form; the year's new state (kept, the list redrawn), or None with the problem in the form."""
        form = self.form
        if form is None or not form.validate():
            return None
        enterprise, year, reason = self.enterprise_id, form.year, form.reason.strip()

        async def call(code: str | None) -> ReportingYear:
            match form.action:
                case "submit":
                    return await self.api.submit_year(enterprise, year, reason)
                case "verifier":
                    return await self.api.assign_verifier(enterprise, year, form.verifier.strip())
                case "verify":
                    return await self.api.verify_year(
                        enterprise, year, form.net.replace(",", "").strip(), form.direct.replace(",", "").strip(),
                        form.findings.strip(),
                    )  # fmt: skip
                case "lock":
                    return await self.api.lock_year(enterprise, year)
                case "draft":
                    return await self.api.new_draft(enterprise, year, reason)
                case "reopen":
                    return await self.api.reopen_year(enterprise, year, reason, code)

        result = await form.send(call)
        if result is None:
            return None
        self.states[year] = result
        self.form = None
        self.notice = Problem(f"console.reporting.done.{form.action}", year=year)
        try:
            await self._load_kept()
        except ClientError as err:
            self.error = str(err)
        return result
