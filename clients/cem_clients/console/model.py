"""The console's view state: plain Python, driven by tests without a UI, rendered by ``console.app``.

The console serves two roles over the REST API (:class:`~cem_clients.console.extra_api.ConsoleApi`):

* **operators** — :class:`AlarmBoard` (alarms by state, severity, kind, site and days; one with its history;
  :class:`AlarmNoteForm` to acknowledge or clear);
* **device admins** — :class:`FleetOverview` (counts by state and health, buffer backlogs, certificates expiring),
  :class:`DeviceRegistration`, :class:`EnrolmentQr` (one-time token as PNG/SVG QR code), :class:`ControlForm`
  (suspend / resume / revoke / retire with TOTP step-up), :class:`PointMap` (points, units and meters of a
  facility), :class:`AlarmThresholds` (the ``alarm.*`` system parameters), :class:`UserAdmin` (users and roles)
  and :class:`AuditLog` (filters, paging);
* **carbon accountants** — :class:`SourceInventory` (by process and category, create form checked against the
  platform's categories), :class:`FactorLibrary` (versions with their diffs, parameters, a change as a new
  version with reason and TOTP), :class:`ActivityEntry`, :class:`LedgerImport` (row-by-row report, confirm or
  discard), :class:`EmissionsExplorer` (periods and the lineage drill-down), :class:`ReportExport` and
  :class:`ReportingDesk` (reporting states of the years: submit, verifier, verify, lock, new draft, reopen);
* **accountants, executives and auditors** — :class:`StatisticsBoard` (totals, structure, intensity and
  comparisons by period, for the enterprise or one process), :class:`GapBoard` (each process against the
  benchmarks, limits and targets) and :class:`PotentialBoard` (reduction potentials against a reference).

:class:`Console` holds the session: :class:`LoginForm` logs in (asking for the authenticator code when the
account has one), :meth:`Console.sections` says which screens the caller's permissions open, and its
factories make each screen for the enterprise chosen.

Forms follow :mod:`cem_clients.console.forms`: ``validate()`` gives field errors before anything is sent, the
platform's refusal lands in ``form.message``, and a control operation refused for want of a fresh TOTP sets
``form.needs_code`` with the prompt :data:`STEP_UP_PROMPT`. Screens keep what they showed when a reload fails
and put the platform's message in ``error``. What the view models say themselves is a :class:`Problem` (a string
key with parameters, English as a ``str``), shown in the user's language with :func:`localized`.

Dates are typed (``2025-03-31``) or picked: the forms take a :class:`datetime.date` as well as text
(``ActivityForm.set_month``/``set_day``, ``EmissionsQuery.set_bound``, ``AuditFilters.first_day``/``last_day``).
The fleet overview follows the platform's live feed (:meth:`FleetOverview.follow`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cem_clients.api import ClientError, Enterprise, Me, Session, TotpRequired
from cem_clients.console.accounting import (
    BALANCE,
    CONFIDENCES,
    DIRECTIONS,
    GRID_KINDS,
    GRID_LIBRARY,
    ORIGINS,
    OUTPUT,
    PERIOD_KINDS,
    ActivityEntry,
    ActivityForm,
    CategoryGroup,
    DiffRow,
    EmissionsExplorer,
    EmissionsQuery,
    FactorLibrary,
    InputLine,
    InputSpec,
    LedgerImport,
    LedgerRow,
    LibraryChangeForm,
    LineageView,
    ParameterEdit,
    ParameterLine,
    ParameterRow,
    PeriodKind,
    PeriodRow,
    ProcessGroup,
    ReportExport,
    ResultVersion,
    SourceForm,
    SourceInventory,
    SourceLine,
    VersionRow,
)
from cem_clients.console.admin import (
    AUDIT_OUTCOMES,
    LOCALES,
    PASSWORD_MIN_LENGTH,
    ROLES,
    AlarmThresholds,
    AuditFilters,
    AuditLog,
    AuditRow,
    ScopedForm,
    Threshold,
    ThresholdForm,
    UserAdmin,
    UserEditForm,
    UserForm,
)
from cem_clients.console.alarms import ALARM_KINDS, ALARM_STATES, SEVERITIES, AlarmBoard, AlarmFilters, AlarmNoteForm
from cem_clients.console.benchmarking import BenchmarkQuery, GapBoard, PotentialBoard
from cem_clients.console.carbon import CarbonBoard
from cem_clients.console.devices import (
    CONTROL_ACTIONS,
    DEVICE_TYPES,
    POINT_KINDS,
    QUANTITY_UNITS,
    REVOCATION_REASONS,
    Backlog,
    ControlForm,
    DeviceForm,
    DeviceRegistration,
    EnrolmentQr,
    ExpiringCertificate,
    FacilityEntry,
    FleetCounts,
    FleetOverview,
    PointForm,
    PointMap,
    available_actions,
)
from cem_clients.console.extra_api import (
    CategorySpec,
    ConsoleApi,
    LibraryParameters,
    ParameterChanged,
    ReportFile,
    SystemParameter,
)
from cem_clients.console.forms import CODE_FORMAT, STEP_UP_PROMPT, FieldChange, Form, Problem, Screen, localized
from cem_clients.console.reporting import (
    REPORT_ACTIONS,
    REPORT_STATES,
    KeptFigures,
    ReportAction,
    ReportingDesk,
    ReportingForm,
    last_years,
)
from cem_clients.console.stats import StatisticsBoard, StatisticsQuery

__all__ = [
    "ALARM_KINDS",
    "ALARM_STATES",
    "AUDIT_OUTCOMES",
    "BALANCE",
    "CODE_FORMAT",
    "CONFIDENCES",
    "CONTROL_ACTIONS",
    "DEVICE_TYPES",
    "DIRECTIONS",
    "GRID_KINDS",
    "GRID_LIBRARY",
    "LOCALES",
    "ORIGINS",
    "OUTPUT",
    "PASSWORD_MIN_LENGTH",
    "PERIOD_KINDS",
    "POINT_KINDS",
    "QUANTITY_UNITS",
    "REPORT_ACTIONS",
    "REPORT_STATES",
    "REVOCATION_REASONS",
    "ROLES",
    "SECTIONS",
    "SEVERITIES",
    "STEP_UP_PROMPT",
    "ActivityEntry",
    "ActivityForm",
    "AlarmBoard",
    "AlarmFilters",
    "AlarmNoteForm",
    "AlarmThresholds",
    "AuditFilters",
    "AuditLog",
    "AuditRow",
    "Backlog",
    "BenchmarkQuery",
    "CategoryGroup",
    "CategorySpec",
    "Console",
    "ConsoleApi",
    "ControlForm",
    "DeviceForm",
    "DeviceRegistration",
    "DiffRow",
    "EmissionsExplorer",
    "EmissionsQuery",
    "EnrolmentQr",
    "ExpiringCertificate",
    "FacilityEntry",
    "FactorLibrary",
    "FieldChange",
    "FleetCounts",
    "FleetOverview",
    "GapBoard",
    "Form",
    "InputLine",
    "InputSpec",
    "KeptFigures",
    "LedgerImport",
    "LedgerRow",
    "LibraryChangeForm",
    "LibraryParameters",
    "LineageView",
    "LoginForm",
    "ParameterChanged",
    "ParameterEdit",
    "ParameterLine",
    "ParameterRow",
    "PeriodKind",
    "PeriodRow",
    "PointForm",
    "PointMap",
    "Problem",
    "PotentialBoard",
    "ProcessGroup",
    "ReportExport",
    "ReportAction",
    "ReportFile",
    "ReportingDesk",
    "ReportingForm",
    "ResultVersion",
    "Screen",
    "ScopedForm",
    "SourceForm",
    "SourceInventory",
    "SourceLine",
    "StatisticsBoard",
    "StatisticsQuery",
    "SystemParameter",
    "Threshold",
    "ThresholdForm",
    "UserAdmin",
    "UserEditForm",
    "UserForm",
    "VersionRow",
    "available_actions",
    "last_years",
    "localized",
]

#: The console's screens in menu order, each with the permission that opens it.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("fleet", "devices.read"),
    ("alarms", "alarms.read"),
    ("registration", "devices.write"),
    ("points", "org.read"),
    ("thresholds", "system.read"),
    ("users", "users.read"),
    ("audit", "audit.read"),
    ("inventory", "emissions.read"),
    ("library", "emissions.read"),
    ("activity", "accounting.write"),
    ("ledger", "accounting.write"),
    ("emissions", "emissions.read"),
    ("report", "emissions.read"),
    ("reporting", "emissions.read"),
    ("statistics", "emissions.read"),
    ("benchmarking", "emissions.read"),
    ("potential", "emissions.read"),
    ("carbon", "emissions.read"),
)


@dataclass(kw_only=True)
class LoginForm(Form):
    """Username, password and — for accounts with an authenticator — the code (asked for when missing)."""

    username: str = ""
    password: str = ""

    def validate(self) -> bool:
        """Both filled in; True when the form can be sent."""
        self.begin()
        if not self.username.strip():
            self.check("username", Problem("console.problem.username_missing"))
        if not self.password:
            self.check("password", Problem("console.problem.password_missing"))
        return self.valid

    async def submit(self, api: ConsoleApi) -> Session | None:
        """Log in; :class:`TotpRequired` asks for the authenticator code."""
        if not self.validate():
            return None
        code = self.take_code()
        if self.errors:
            return None
        try:
            session = await api.login(self.username.strip(), self.password, code)
        except TotpRequired:
            self.needs_code = True
            self.message = STEP_UP_PROMPT
            self.errors["totp_code"] = STEP_UP_PROMPT
            return None
        except ClientError as err:
            self.message = str(err)
            return None
        self.password, self.needs_code = "", False
        return session


@dataclass
class Console(Screen):
    """The session of the console: who is logged in, the enterprise worked on, and the screens."""

    api: ConsoleApi
    me: Me | None = None
    enterprises: list[Enterprise] = field(default_factory=list)
    enterprise_id: int | None = None
    login_form: LoginForm = field(default_factory=LoginForm)

    async def login(self) -> bool:
        """Log in with :attr:`login_form`, then :meth:`open`."""
        if await self.login_form.submit(self.api) is None:
            return False
        return await self.open()

    async def open(self) -> bool:
        """Who the caller is and which enterprises they see (the first is chosen unless one is)."""

        async def work() -> None:
            self.me = await self.api.me()
            self.enterprises = await self.api.enterprises()
            ids = [e.id for e in self.enterprises]
            if self.enterprise_id not in ids:
                self.enterprise_id = ids[0] if ids else None

        return await self._load(work)

    async def logout(self) -> None:
        """End the session (the tokens are forgotten even when the platform cannot be reached)."""
        try:
            await self.api.logout()
        except ClientError as err:
            self.error = str(err)
        self.me = None

    def can(self, permission: str) -> bool:
        """Whether the caller holds ``permission``."""
        return self.me is not None and self.me.can(permission)

    def sections(self) -> list[str]:
        """The screens the caller may open, in menu order."""
        return [name for name, permission in SECTIONS if self.can(permission)]

    @property
    def enterprise(self) -> Enterprise | None:
        """The enterprise worked on."""
        return next((e for e in self.enterprises if e.id == self.enterprise_id), None)

    def _enterprise(self) -> int:
        if self.enterprise_id is None:
            raise ValueError("no enterprise chosen: call open() first")
        return self.enterprise_id

    # ---- screens ------------------------------------------------------------------------------------------------

    def fleet(self, expiry_days: int = 30) -> FleetOverview:
        """The fleet overview."""
        return FleetOverview(self.api, expiry_days, with_alarms=self.can("alarms.read"))

    def alarms(self) -> AlarmBoard:
        """The alarms of the enterprise worked on (open ones first shown), with the days in its time zone."""
        zone = self.enterprise.timezone if self.enterprise else "Asia/Shanghai"
        return AlarmBoard(self.api, self.enterprise_id, AlarmFilters(timezone=zone))

    def registration(self) -> DeviceRegistration:
        """Device registration (placed in the enterprise worked on by default)."""
        return DeviceRegistration(self.api, DeviceForm(enterprise_id=self.enterprise_id))

    def enrolment(self, device_id: str) -> EnrolmentQr:
        """An enrolment token with QR code for a device."""
        return EnrolmentQr(self.api, device_id)

    def control(self, device_id: str, action: str) -> ControlForm:
        """A suspend / resume / revoke / retire form for a device."""
        return ControlForm(device_id=device_id, action=action)

    def points(self) -> PointMap:
        """The point map of the enterprise worked on."""
        return PointMap(self.api, self.enterprise_id)

    def thresholds(self) -> AlarmThresholds:
        """The alarm thresholds."""
        return AlarmThresholds(self.api)

    def users(self) -> UserAdmin:
        """Users and roles."""
        return UserAdmin(self.api)

    def audit(self) -> AuditLog:
        """The audit log (of the enterprise worked on)."""
        zone = self.enterprise.timezone if self.enterprise else "Asia/Shanghai"
        return AuditLog(self.api, AuditFilters(enterprise_id=self.enterprise_id, timezone=zone))

    def inventory(self) -> SourceInventory:
        """The source inventory."""
        return SourceInventory(self.api, self._enterprise())

    def library(self) -> FactorLibrary:
        """The factor library."""
        return FactorLibrary(self.api)

    def activity(self) -> ActivityEntry:
        """Activity-data entry."""
        return ActivityEntry(self.api, self._enterprise())

    def ledger(self) -> LedgerImport:
        """Ledger import (in the enterprise's time zone)."""
        zone = self.enterprise.timezone if self.enterprise else "Asia/Shanghai"
        return LedgerImport(self.api, self._enterprise(), zone)

    def emissions(self) -> EmissionsExplorer:
        """Emissions by period with lineage."""
        enterprise_id = self._enterprise()
        return EmissionsExplorer(self.api, enterprise_id, EmissionsQuery(scope_id=enterprise_id))

    def report(self, year: int) -> ReportExport:
        """The annual report of ``year``."""
        return ReportExport(self.api, self._enterprise(), year)

    def reporting(self, years: list[int] | None = None) -> ReportingDesk:
        """The reporting states of the enterprise's last years (``years``: others), with what the caller may do."""
        me = self.me
        desk = ReportingDesk(
            self.api,
            self._enterprise(),
            permissions=frozenset(me.permissions) if me else frozenset(),
            username=me.name if me else "",
        )
        if years:
            desk.years = sorted(set(years), reverse=True)
        return desk

    def statistics(self) -> StatisticsBoard:
        """Carbon statistics of the enterprise (or one of its processes): totals, structure, comparisons."""
        enterprise_id = self._enterprise()
        return StatisticsBoard(self.api, enterprise_id, StatisticsQuery(scope_id=enterprise_id))

    def benchmarking(self) -> GapBoard:
        """The gap analysis of the enterprise's processes against benchmarks, limits and targets."""
        return GapBoard(self.api, self._enterprise())

    def potential(self) -> PotentialBoard:
        """The reduction potential of the enterprise's processes."""
        return PotentialBoard(self.api, self._enterprise())

    def carbon(self) -> CarbonBoard:
        """The carbon assets of the enterprise: holdings, ledger, trial calculation and forecast."""
        return CarbonBoard(self.api, self._enterprise())
