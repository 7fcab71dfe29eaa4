"""What the API answers, as small immutable records (msgspec Structs decoded straight from the JSON).

Fields follow the API's names; fields the platform adds later are ignored, so an older app keeps working.
Emission and activity quantities are ``Decimal`` parsed from the API's exact decimal strings, never floats.
Times are timezone-aware datetimes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec

__all__ = [
    "CarbonProcessForecast",
    "CarbonAssetMonth",
    "CarbonBand",
    "CarbonEmissions",
    "CarbonForecast",
    "CarbonHoldings",
    "CarbonLot",
    "CarbonMoney",
    "CarbonMonth",
    "CarbonPosition",
    "CarbonTransaction",
    "CarbonTrial",
    "BenchmarkComparison",
    "BenchmarkCorrection",
    "BenchmarkLevel",
    "BenchmarkUnresolved",
    "EnterprisePotential",
    "GapAnalysis",
    "GapIndicator",
    "GapPeriod",
    "GapSubject",
    "GapTrend",
    "MacStep",
    "Potential",
    "PotentialFigure",
    "PotentialPeriod",
    "PotentialReference",
    "ProcessPotential",
    "Scenario",
    "ScenarioProcess",
    "ScenarioResult",
    "ScenarioTotal",
    "UnitInfo",
    "CategorySpec",
    "EnterableInput",
    "LibraryFormulas",
    "LibraryParameters",
    "ParameterChanged",
    "ReportFile",
    "ReportedFigures",
    "ReportingChange",
    "ReportingStep",
    "ReportingYear",
    "SourceResult",
    "SystemParameter",
    "VerifiedFigures",
    "ActivityRecord",
    "Alarm",
    "AlarmConsequence",
    "AlarmEvent",
    "AuditEntry",
    "AuditPage",
    "Certificate",
    "ControlResult",
    "Device",
    "DeviceHealth",
    "DeviceStatus",
    "EmissionPeriod",
    "EmissionSource",
    "Emissions",
    "EnrolmentToken",
    "Enterprise",
    "Evidence",
    "Facility",
    "ImportReport",
    "LatestValue",
    "Library",
    "LibraryVersion",
    "Lineage",
    "MeasurementPoint",
    "Me",
    "Model",
    "Process",
    "ProcessType",
    "Reading",
    "ScopeItem",
    "Series",
    "SeriesBucket",
    "Session",
    "Site",
    "Statistics",
    "StatisticsChange",
    "StatisticsCoefficient",
    "StatisticsPart",
    "StatisticsRow",
    "StatisticsTotal",
    "User",
]


class Model(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the records: immutable, keyword-only."""


# ---- identity ---------------------------------------------------------------------------------------------------


class Session(Model, frozen=True, kw_only=True):
    """A login session as the app sees it (the tokens stay inside the client)."""

    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime
    totp_enrolment_required: bool = False


class Me(Model, frozen=True, kw_only=True):
    """The caller: a user (``kind`` "user") or an API token (``kind`` "api_token")."""

    kind: str
    name: str
    user_id: int | None = None
    role: str | None = None
    permissions: tuple[str, ...] = ()
    all_enterprises: bool = False
    enterprise_ids: tuple[int, ...] = ()
    site_ids: tuple[int, ...] = ()
    totp_enrolment_required: bool = False

    @property
    def user(self) -> str:
        """The username (or ``token:<name>`` for an API token)."""
        return self.name

    def can(self, permission: str) -> bool:
        """Whether the caller holds ``permission`` (e.g. ``"alarms.handle"``)."""
        return permission in self.permissions


class ScopeItem(Model, frozen=True, kw_only=True):
    """A whole enterprise, or one site of it."""

    enterprise_id: int
    site_id: int | None = None


class User(Model, frozen=True, kw_only=True):
    """A user as administrators see it."""

    id: int
    username: str
    display_name: str = ""
    email: str = ""
    role: str
    all_enterprises: bool = False
    locale: str = "zh-CN"
    active: bool = True
    scopes: tuple[ScopeItem, ...] = ()
    totp_enrolled: bool = False
    locked_until: dt.datetime | None = None
    last_login_at: dt.datetime | None = None


class AuditEntry(Model, frozen=True, kw_only=True):
    """One record of the audit log."""

    id: int
    at: dt.datetime
    actor_id: int | None = None
    actor: str
    actor_kind: str = ""
    ip: str = ""
    request_id: str = ""
    action: str
    entity_type: str = ""
    entity_id: str = ""
    enterprise_id: int | None = None
    outcome: str = ""
    summary: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditPage(Model, frozen=True, kw_only=True):
    """A page of the audit log, newest first, and how many records match in all."""

    total: int
    items: tuple[AuditEntry, ...]


# ---- organisation -----------------------------------------------------------------------------------------------


class Enterprise(Model, frozen=True, kw_only=True):
    """A legal entity (法人)."""

    id: int
    code: str
    name: str
    credit_code: str | None = None
    address: str = ""
    timezone: str = "Asia/Shanghai"
    active: bool = True


class Site(Model, frozen=True, kw_only=True):
    """A works or site of an enterprise."""

    id: int
    enterprise_id: int
    code: str
    name: str
    address: str = ""
    active: bool = True


class Process(Model, frozen=True, kw_only=True):
    """A process (工序) at a site."""

    id: int
    site_id: int
    process_type_id: int
    code: str
    name: str
    active: bool = True


class ProcessType(Model, frozen=True, kw_only=True):
    """An entry of the process dictionary; ``sort_order`` is the plant's route (coking first, auxiliary last)."""

    id: int
    code: str
    name_zh: str
    name_en: str
    sort_order: int


class Facility(Model, frozen=True, kw_only=True):
    """A facility of a process."""

    id: int
    process_id: int
    facility_type_id: int
    code: str
    name: str
    capacity: Decimal | None = None
    capacity_unit: str = ""
    commissioned_on: dt.date | None = None
    active: bool = True


class MeasurementPoint(Model, frozen=True, kw_only=True):
    """A measurement point and its meter."""

    id: int
    facility_id: int
    enterprise_id: int
    code: str
    name: str
    medium: str = ""
    quantity: str = ""
    unit: str = ""
    kind: str = ""
    meter_model: str = ""
    meter_serial: str = ""
    accuracy_class: str = ""
    calibrated_on: dt.date | None = None
    calibration_due: dt.date | None = None
    calibration_overdue: bool = False
    amount_unit: str | None = None  # of the amount it gives over a period (a flow integrated), None: a state
    active: bool = True


# ---- point data -------------------------------------------------------------------------------------------------


class LatestValue(Model, frozen=True, kw_only=True):
    """The newest reading of one point (reading fields None when it has none yet)."""

    point_id: int
    code: str
    name: str = ""
    unit: str = ""
    kind: str = ""
    ts: dt.datetime | None = None
    value: float | None = None
    delta: float | None = None
    quality: str | None = None
    estimated: bool | None = None
    flags: tuple[str, ...] = ()
    age_s: float | None = None


class SeriesBucket(Model, frozen=True, kw_only=True):
    """One bucket of a series (hour, day, month): counts, completeness and aggregates."""

    start: dt.datetime
    end: dt.datetime
    readings: int
    expected: float
    completeness: float
    estimated_share: float = 0.0
    uncertain: int = 0
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    last: float | None = None


class Reading(Model, frozen=True, kw_only=True):
    """One stored raw reading."""

    ts: dt.datetime
    value: float
    delta: float | None = None
    quality: str = "good"
    estimated: bool = False
    flags: tuple[str, ...] = ()


class Series(Model, frozen=True, kw_only=True):
    """A point's series over a range: ``buckets`` (hour, day, month) or ``raw`` readings, and range totals."""

    point_id: int
    code: str
    name: str = ""
    unit: str = ""
    kind: str = ""
    sample_seconds: int = 0
    interval: str
    timezone: str = ""
    start: dt.datetime
    end: dt.datetime
    readings: int = 0
    expected: float = 0.0
    completeness: float = 0.0
    estimated_share: float = 0.0
    buckets: tuple[SeriesBucket, ...] = ()
    raw: tuple[Reading, ...] = ()


# ---- alarms -----------------------------------------------------------------------------------------------------


class AlarmEvent(Model, frozen=True, kw_only=True):
    """One step of an alarm's history: raised, repeated, escalated, acknowledged, cleared."""

    id: int
    at: dt.datetime
    action: str
    actor: str = ""
    note: str = ""
    detail: dict[str, Any] = {}


class AlarmConsequence(Model, frozen=True, kw_only=True):
    """A meter an outage leaves without data, listed under the outage's alarm instead of raising its own."""

    point_id: int | None = None
    point_code: str = ""
    point_name: str = ""
    facility: str = ""
    process: str = ""
    alarm_id: int | None = None  # its own alarm, when one was already open as the outage began


class Alarm(Model, frozen=True, kw_only=True):
    """A device or data alarm; ``events`` (its history) only from ``ApiClient.alarm`` and the handling calls.

    ``message`` is the technical text; ``names`` the plant names of what it concerns (``device``, ``connection``,
    ``point``, ``point_code``, ``facility``, ``process``, English variants as ``<key>_en``) and ``detail`` the facts,
    from which :func:`cem_clients.ui.alarm_text.describe_alarm` says it in the plant's words. An outage's alarm
    lists the meters it leaves without data in ``consequences``; their own alarms point to it by ``root_id``.
    """

    id: int
    enterprise_id: int
    kind: str
    severity: str
    subject_type: str
    subject_id: str
    cause: str = ""
    state: str  # active, acknowledged, cleared
    message: str
    detail: dict[str, Any] = {}
    raised_at: dt.datetime
    last_seen_at: dt.datetime
    occurrences: int = 1
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str = ""
    ack_note: str = ""
    cleared_at: dt.datetime | None = None
    cleared_by: str = ""
    clear_note: str = ""
    names: dict[str, str] = {}
    consequences: tuple[AlarmConsequence, ...] = ()
    root_id: int | None = None
    events: tuple[AlarmEvent, ...] = ()

    @property
    def open(self) -> bool:
        """Active or acknowledged (not cleared)."""
        return self.state != "cleared"


# ---- devices ----------------------------------------------------------------------------------------------------


class DeviceHealth(Model, frozen=True, kw_only=True):
    """Online state and certificate expiry, as the registry computes them."""

    online: bool = False
    certificate_not_after: dt.datetime | None = None
    certificate_days_left: int | None = None
    certificate_expiring: bool = False


class Certificate(Model, frozen=True, kw_only=True):
    """One certificate of a device's history."""

    serial: str
    fingerprint: str = ""
    not_before: dt.datetime
    not_after: dt.datetime
    state: str  # valid, on_hold, superseded, revoked
    issued_via: str = ""
    revoked_at: dt.datetime | None = None
    revocation_reason: str = ""
    created_at: dt.datetime | None = None


class DeviceStatus(Model, frozen=True, kw_only=True):
    """A terminal's last status as ingest received it (heartbeat or last will)."""

    device_id: str
    enterprise_id: int
    state: str
    reason: str = ""
    reported_at: dt.datetime
    received_at: dt.datetime
    heartbeat_s: float | None = None
    firmware: str = ""
    buffer_depth: int | None = None
    buffer_evicted: int | None = None
    last_seq: int | None = None
    status: dict[str, Any] = {}


class Device(Model, frozen=True, kw_only=True):
    """A terminal of the registry with its state and health.

    ``certificates`` (newest first) come with ``ApiClient.device``; ``status`` (the last heartbeat, with the
    buffer depth) with ``ApiClient.devices``/``device`` when asked for.
    """

    id: str
    serial: str
    type: str = "gateway"
    name: str = ""
    model: str = ""
    firmware: str = ""
    enterprise_id: int
    site_id: int | None = None
    process_id: int | None = None
    facility_id: int | None = None
    state: str  # registered, enrolled, active, suspended, revoked, retired
    state_reason: str = ""
    last_seen_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    health: DeviceHealth = msgspec.field(default_factory=DeviceHealth)
    topics: dict[str, str] = {}
    certificates: tuple[Certificate, ...] = ()
    status: DeviceStatus | None = None

    @property
    def last_seen(self) -> dt.datetime | None:
        """When the platform last heard from the device."""
        return self.last_seen_at

    @property
    def online(self) -> bool:
        """Seen recently and allowed to connect."""
        return self.health.online

    @property
    def buffer_depth(self) -> int | None:
        """Readings waiting in the gateway's buffer at its last heartbeat (None when unknown)."""
        return self.status.buffer_depth if self.status is not None else None

    @property
    def certificate_expires_at(self) -> dt.datetime | None:
        """When the current certificate expires (None without one)."""
        return self.health.certificate_not_after

    @property
    def certificate_state(self) -> str | None:
        """State of the current certificate (valid, on_hold), else of the newest one; None without any.

        Without the history (device lists) it follows from the device's state.
        """
        if self.certificates:
            current = next((c for c in self.certificates if c.state in ("valid", "on_hold")), None)
            return (current or self.certificates[0]).state
        if self.health.certificate_not_after is None:
            return None
        return "on_hold" if self.state == "suspended" else "valid"


class EnrolmentToken(Model, frozen=True, kw_only=True):
    """A one-time enrolment token for a terminal, shown once (with its QR code and the install command)."""

    device_id: str
    token: str
    expires_at: dt.datetime
    qr_payload: str = ""
    qr_svg: str = ""
    command: str = ""


class ControlResult(Model, frozen=True, kw_only=True):
    """The device after a suspension, resumption, revocation or retirement, and what the broker was told."""

    device: Device
    crl_number: int
    broker_reloaded: bool
    broker_detail: str = ""


# ---- accounting -------------------------------------------------------------------------------------------------


class EmissionPeriod(Model, frozen=True, kw_only=True):
    """One period's emissions in tCO2, exact; ``result_id`` explains them (``ApiClient.lineage``). A period the
    platform accounted for this answer only (not kept: an old hour) has no ``result_id``; ``pending`` says the
    inputs changed since ``as_of`` and the platform is accounting it again."""

    result_id: int | None
    version: int = 1
    final: bool
    period_start: dt.datetime
    period_end: dt.datetime
    net: Decimal
    direct: Decimal | None = None  # national carbon market scope: combustion + process − fixed carbon
    kept: bool = True
    pending: bool = False
    as_of: dt.datetime | None = None
    totals: dict[str, Decimal] = {}
    by_category: dict[str, Decimal] = {}
    output: Decimal | None = None  # crude steel (enterprise) or the process's product, t
    intensity: Decimal | None = None  # tCO2 per t of that output
    complete: bool
    estimated: bool
    edition: str = ""
    library_version: int | None = None
    grid_version: int | None = None


class Emissions(Model, frozen=True, kw_only=True):
    """Emissions of an enterprise or a process, period by period."""

    scope: str
    id: int
    name: str
    period: str
    unit: str = "tCO2"
    timezone: str = ""
    direct_scope: str = ""
    refresh_error: str | None = None
    results: tuple[EmissionPeriod, ...] = ()


class StatisticsPart(Model, frozen=True, kw_only=True):
    """One part of a period's structure: its signed contribution to the net (tCO2) and its share (%, 0.01)."""

    key: str  # a term, a source category, a carrier, a process or source code, or "_unallocated" (no process)
    name: str = ""  # the process's or source's name (dimension process or source)
    value: Decimal
    share: Decimal | None = None  # the shares of a period add to exactly 100.00; None when the net is 0


class StatisticsChange(Model, frozen=True, kw_only=True):
    """A comparison of the net with another period (year-on-year, period-on-period or fixed-base)."""

    period: str
    period_start: dt.datetime
    value: Decimal | None = None  # None: no kept figure for that period
    change: Decimal | None = None
    percent: Decimal | None = None  # None when the other figure is missing or zero
    index: Decimal | None = None  # fixed-base index, base = 100
    until: dt.datetime | None = None  # a running period's comparison: the other span ends here (like for like)


class StatisticsRow(Model, frozen=True, kw_only=True):
    """One period of a statistics answer."""

    period: str  # 2025, 2025-03, 2025-W10, 2025-03-04, 2025-03-04 13:00 (the enterprise's zone)
    period_start: dt.datetime
    period_end: dt.datetime
    net: Decimal  # emissions: the net (tCO2); energy: the net consumption (tce)
    direct: Decimal | None = None  # emissions only: the national carbon market's scope
    parts: tuple[StatisticsPart, ...] = ()
    output: Decimal | None = None
    intensity: Decimal | None = None
    output_value: Decimal | None = None  # the enterprise's output value (产值), 10^4 CNY, where it is entered
    value_intensity: Decimal | None = None  # per 10^4 CNY of it (tCO2 or tce)
    complete: bool
    estimated: bool
    final: bool
    kept: bool = True
    pending: bool = False
    as_of: dt.datetime | None = None
    lineage: str | None = None
    yoy: StatisticsChange | None = None
    pop: StatisticsChange | None = None
    base: StatisticsChange | None = None


class StatisticsTotal(Model, frozen=True, kw_only=True):
    """The whole range of a statistics answer: exact sums of its periods."""

    periods: int
    net: Decimal
    direct: Decimal | None = None  # emissions only
    parts: tuple[StatisticsPart, ...] = ()
    output: Decimal | None = None
    intensity: Decimal | None = None
    output_value: Decimal | None = None  # None unless every period has it
    value_intensity: Decimal | None = None
    complete: bool


class StatisticsCoefficient(Model, frozen=True, kw_only=True):
    """A library coefficient an energy answer used (electricity by the equal value)."""

    code: str
    value: Decimal
    unit: str
    version: str = ""
    source: str = ""


class Statistics(Model, frozen=True, kw_only=True):
    """Energy or carbon statistics of an enterprise, site, process, facility or source: rows per period, the
    range's total."""

    metric: str  # emissions (tCO2) or energy (tce)
    unit: str = "tCO2"
    intensity_unit: str = "tCO2/t"  # or kgce/t
    value_intensity_unit: str = ""  # tCO2/10^4 CNY or tce/10^4 CNY (per 万元 of output value)
    value_note: str | None = None  # why (some) periods have no intensity per output value
    electricity: str | None = None  # energy: equivalent (当量值) or equal_value (等价值)
    coefficient: StatisticsCoefficient | None = None
    scope: str
    id: int
    name: str
    period: str
    timezone: str = ""
    dimension: str = "group"
    compare: tuple[str, ...] = ()
    direct_scope: str = ""
    base: StatisticsRow | None = None
    rows: tuple[StatisticsRow, ...] = ()
    total: StatisticsTotal


class Lineage(Model, frozen=True, kw_only=True):
    """A result with what it was computed from (``lineage``, raw) and its other versions."""

    result_id: int
    enterprise_id: int
    period: str
    period_start: dt.datetime
    period_end: dt.datetime
    version: int
    current: bool
    final: bool
    fingerprint: str = ""
    created_at: dt.datetime | None = None
    created_by: str = ""
    reason: str = ""
    superseded_at: dt.datetime | None = None
    versions: tuple[dict[str, Any], ...] = ()
    lineage: dict[str, Any] = {}


class EmissionSource(Model, frozen=True, kw_only=True):
    """A source of the inventory (or a production output) and where its activity data comes from."""

    id: int
    enterprise_id: int
    process_id: int | None = None
    facility_id: int | None = None
    code: str
    name: str
    category: str
    item: str = ""
    inputs: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    grid_kind: str = ""
    grid_region: str = ""
    #: consumed, sold (leaving the works, entered positive), transfer (used here, made at ``from_process_id``;
    #: None: the enterprise level, e.g. the grid tie) or made (a generation line feeding its maker's balance)
    direction: str = "consumed"
    from_process_id: int | None = None
    active: bool = True
    in_service_from: dt.date | None = None  # the local days it counts in (inclusive, None: open)
    in_service_until: dt.date | None = None
    note: str = ""


class UnitInfo(Model, frozen=True, kw_only=True):
    """A unit of the platform's unit table: units of one dimension convert into each other."""

    name: str
    dimension: str
    aliases: tuple[str, ...] = ()


class EnterableInput(Model, frozen=True, kw_only=True):
    """An activity input the caller may enter by hand (人工采集), with the units a value may be given in."""

    source_id: int
    source_code: str
    source_name: str
    category: str
    item: str = ""
    process_id: int | None = None
    site_id: int | None = None
    facility_id: int | None = None
    input: str
    unit: str  # the unit the source keeps it in
    origin: str  # manual, or meter (an entry substitutes for the meter over the days it covers)
    units: tuple[str, ...]  # ``unit`` first
    may_be_negative: bool = False


class ActivityRecord(Model, frozen=True, kw_only=True):
    """An activity value over a period (entered, imported or fed from meters)."""

    id: int
    source_id: int
    input: str
    period_start: dt.datetime
    period_end: dt.datetime
    value: Decimal
    unit: str
    origin: str = ""
    estimated: bool = False
    note: str = ""
    evidence_id: int | None = None
    import_id: int | None = None
    import_row: int | None = None
    entered_by: str = ""
    entered_at: dt.datetime | None = None
    superseded_by: int | None = None


class Evidence(Model, frozen=True, kw_only=True):
    """A stored evidence file (without its bytes)."""

    id: int
    enterprise_id: int
    filename: str
    content_type: str = ""
    sha256: str = ""
    size: int = 0
    uploaded_by: str = ""
    uploaded_at: dt.datetime | None = None


class ImportReport(Model, frozen=True, kw_only=True):
    """A ledger upload and its row-by-row validation report (``status``: validated, imported, discarded...)."""

    id: int
    enterprise_id: int
    filename: str
    sha256: str = ""
    status: str
    total_rows: int = 0
    valid_rows: int = 0
    invalid_rows: int = 0
    report: tuple[dict[str, Any], ...] = ()
    created_by: str = ""
    created_at: dt.datetime | None = None
    decided_by: str = ""
    decided_at: dt.datetime | None = None


class Library(Model, frozen=True, kw_only=True):
    """An accounting library: an edition of the methodology, or the grid factor series."""

    library: str
    title: str = ""
    newest_version: int
    first_year: int | None = None
    last_year: int | None = None


class LibraryVersion(Model, frozen=True, kw_only=True):
    """One version of a library, with what changed."""

    library: str
    number: int
    author: str = ""
    reason: str = ""
    created_at: dt.datetime | None = None
    diff: tuple[dict[str, Any], ...] = ()


# ---- console: system parameters, source categories, library parameters, files ------------------------------


class SystemParameter(Model, frozen=True, kw_only=True):
    """A system parameter (``alarm.*``, ``comm.*``, ``auth.*`` ...) with its bounds and current value."""

    key: str
    category: str  # system, communication or alarm
    value: Any
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    description_zh: str = ""
    description_en: str = ""
    version: int = 0
    updated_by: str | None = None
    updated_at: dt.datetime | None = None


class ParameterChanged(Model, frozen=True, kw_only=True):
    """A parameter's stored value and its version after a change."""

    key: str
    value: Any
    version: int


class CategorySpec(Model, frozen=True, kw_only=True):
    """A source category: its activity inputs with the units its formulas take, and the known items."""

    inputs: dict[str, tuple[str, ...]] = {}
    items: tuple[str, ...] = ()


class LibraryParameters(Model, frozen=True, kw_only=True):
    """The complete parameter set of one version of a library (values as exact decimal strings)."""

    library: str
    version: int
    parameters: tuple[dict[str, Any], ...] = ()


class LibraryFormulas(Model, frozen=True, kw_only=True):
    """The accounting formulas of one version of the formula library: code, category, role, expression, inputs with
    units, result unit, description, source, and each formula's own version."""

    library: str
    version: int
    formulas: tuple[dict[str, Any], ...] = ()


class ReportFile(Model, frozen=True, kw_only=True):
    """A downloaded file and the name the platform suggests for it."""

    content: bytes
    filename: str
    content_type: str = ""


# ---- reporting states ---------------------------------------------------------------------------------------------


class ReportedFigures(Model, frozen=True, kw_only=True):
    """A year's figures as submitted (or as accounting now would make them): the GB/T 32151.5 terms and total
    (``net``), the national carbon market's direct scope (``direct``, see ``direct_scope``), crude steel and both
    intensities per tonne of it, with the versions they were accounted under. Exact decimals, tCO2."""

    net: Decimal | None = None
    direct: Decimal | None = None
    direct_scope: str = ""
    combustion: Decimal | None = None
    process: Decimal | None = None
    electricity: Decimal | None = None
    heat: Decimal | None = None
    fixed_carbon: Decimal | None = None
    crude_steel: Decimal | None = None  # t
    intensity: Decimal | None = None  # tCO2 per t of crude steel
    direct_intensity: Decimal | None = None
    result_id: int | None = None
    version: int | None = None
    fingerprint: str = ""
    edition: str = ""
    library_version: int | None = None
    grid_version: int | None = None


class VerifiedFigures(Model, frozen=True, kw_only=True):
    """What the third-party verifier recorded, with the differences to the reported figures (verified − reported)."""

    net: Decimal
    direct: Decimal
    difference_net: Decimal | None = None
    difference_direct: Decimal | None = None
    by: str = ""
    at: dt.datetime | None = None


class ReportingChange(Model, frozen=True, kw_only=True):
    """What accounting a reported year now would change ("would change by"): the differences to the reported
    figures, what changed since (``causes``: activity, library, meter, import, source, year_method ...), the figures
    it would give; ``error`` when it cannot be accounted now."""

    net: Decimal | None = None
    direct: Decimal | None = None
    causes: tuple[str, ...] = ()
    computed_at: dt.datetime | None = None
    would_be: ReportedFigures | None = None
    error: str = ""


class ReportingStep(Model, frozen=True, kw_only=True):
    """One transition of a reporting year: from state ``from_`` to ``state``, by whom, when and why."""

    state: str
    from_: str = msgspec.field(default="", name="from")
    by: str = ""
    at: dt.datetime | None = None
    reason: str = ""


class ReportingYear(Model, frozen=True, kw_only=True):
    """An enterprise's reporting year: ``state`` draft, submitted, verified or locked; the figures as reported
    and as verified, the verifier's findings, what a new draft would change and the history of transitions."""

    enterprise_id: int
    year: int
    state: str
    draft: int = 1
    result_id: int | None = None
    reported: ReportedFigures | None = None
    verifier: str = ""
    verified: VerifiedFigures | None = None
    findings: str = ""
    would_change_by: ReportingChange | None = None
    history: tuple[ReportingStep, ...] = ()


class SourceResult(Model, frozen=True, kw_only=True):
    """One source's emission in one period, from the kept result's lineage (``emission`` in tCO2; fixed carbon is
    positive: the totals deduct it)."""

    result_id: int | None = None
    period_start: dt.datetime
    period_end: dt.datetime
    source: str  # the source's code
    name: str = ""
    process: str = ""  # the process code ("" for the enterprise as a whole)
    category: str = ""
    group: str = ""  # the term of the total it adds to
    emission: Decimal
    formula_version: str = ""
    complete: bool = True
    estimated: bool = False
    pending: bool = False


# ---- benchmarking (standards 5.4.5 and 5.4.7) -------------------------------------------------------------------


class BenchmarkLevel(Model, frozen=True, kw_only=True):
    """One level of a reference entry in a period: as published, as corrected, and the actual's gap to it."""

    name: str  # 1, 2, 3, benchmark, baseline, average, target ...
    label: str = ""  # 二级, 标杆水平
    label_en: str = ""  # level 2, benchmark
    base: Decimal
    value: Decimal  # corrected (the base without corrections)
    gap: Decimal | None = None  # actual - value: positive = worse than the level
    relative: Decimal | None = None  # gap / |value| in %


class BenchmarkCorrection(Model, frozen=True, kw_only=True):
    """A correction of an entry: the input used, where it came from, and what it adds to every level."""

    input: str
    value: Decimal | None = None
    unit: str = ""
    origin: str = ""  # entered, months, facility, zero, missing
    source: str = ""
    adjustment: Decimal | None = None  # None: missing, not applied


class BenchmarkComparison(Model, frozen=True, kw_only=True):
    """The actual of one period against one benchmark, limit or target entry."""

    entry: str
    kind: str  # limit, benchmark, target
    library: str
    name: str
    name_en: str = ""
    edition: str = ""
    confidence: str = ""
    levels: tuple[BenchmarkLevel, ...] = ()  # best first (lower is better)
    reached: str | None = None  # the best level not exceeded; None: none reached
    next_level: str | None = None
    gap_to_next: Decimal | None = None
    text: str = ""  # 二级, 距一级 3.2 kgce/t
    text_en: str = ""
    limit: Decimal | None = None  # a limit's binding value (corrected)
    breach: bool | None = None  # a limit: above it
    corrected: bool = True
    corrections: tuple[BenchmarkCorrection, ...] = ()
    missing: tuple[str, ...] = ()  # inputs a correction needs that are not entered


class BenchmarkUnresolved(Model, frozen=True, kw_only=True):
    """An entry that may apply but cannot be decided (its condition's input is unknown)."""

    entry: str
    reason: str


class GapPeriod(Model, frozen=True, kw_only=True):
    """One period of one indicator: the actual and its comparisons."""

    period: str
    period_start: dt.datetime
    actual: Decimal | None = None  # None: no output or no figure in the period
    output: Decimal | None = None
    complete: bool = False
    as_of: dt.datetime | None = None
    lineage: str | None = None
    comparisons: tuple[BenchmarkComparison, ...] = ()
    unresolved: tuple[BenchmarkUnresolved, ...] = ()


class GapTrend(Model, frozen=True, kw_only=True):
    """The actual over the periods asked (lower is better)."""

    first: Decimal | None = None
    last: Decimal | None = None
    change: Decimal | None = None
    slope: Decimal | None = None
    direction: str | None = None  # improving, worsening, flat; None with fewer than two figures


class GapIndicator(Model, frozen=True, kw_only=True):
    """One indicator (process energy kgce/t, CO2 tCO2/t) of a process or the enterprise over the periods."""

    indicator: str
    unit: str
    name: str = ""
    name_en: str = ""
    periods: tuple[GapPeriod, ...] = ()
    trend: GapTrend = GapTrend()


class GapSubject(Model, frozen=True, kw_only=True):
    """A process (or the enterprise as a whole: ``process_id`` None) and its indicators."""

    process_id: int | None = None
    code: str
    name: str
    process_type: str | None = None
    indicators: tuple[GapIndicator, ...] = ()


class GapAnalysis(Model, frozen=True, kw_only=True):
    """The gap analysis of an enterprise's processes (or one process) and of the enterprise."""

    enterprise_id: int
    period: str
    periods: tuple[str, ...] = ()
    timezone: str = ""
    versions: dict[str, int] = {}  # library -> version used
    subjects: tuple[GapSubject, ...] = ()


class PotentialReference(Model, frozen=True, kw_only=True):
    """The reference level a potential closes the gap to."""

    entry: str
    library: str
    version: int = 0
    kind: str = ""
    name: str = ""
    name_en: str = ""
    edition: str = ""
    level: str
    label: str = ""
    label_en: str = ""
    base: Decimal
    value: Decimal  # corrected
    corrected: bool = True
    missing: tuple[str, ...] = ()


class PotentialFigure(Model, frozen=True, kw_only=True):
    """The potential of one indicator of one process in one period."""

    indicator: str
    intensity_unit: str
    unit: str  # tce or tCO2
    actual: Decimal | None = None
    output: Decimal | None = None
    reference: PotentialReference | None = None
    gap: Decimal | None = None
    potential: Decimal | None = None  # None: not counted (see status)
    status: str  # above, reached, no_output, no_reference, undecided
    note: str = ""
    complete: bool = False


class PotentialPeriod(Model, frozen=True, kw_only=True):
    """One process in one period: the energy and the CO2 potential."""

    period: str
    period_start: dt.datetime
    energy: PotentialFigure
    co2: PotentialFigure


class ProcessPotential(Model, frozen=True, kw_only=True):
    """One process over the periods asked: its potentials per period and summed (tce, tCO2)."""

    process_id: int
    code: str
    name: str
    process_type: str | None = None
    periods: tuple[PotentialPeriod, ...] = ()
    tce: Decimal
    tco2: Decimal


class EnterprisePotential(Model, frozen=True, kw_only=True):
    """The enterprise in one period: the sum of its processes' counted potentials."""

    period: str
    tce: Decimal
    tco2: Decimal
    counted_tce: int = 0
    counted_tco2: int = 0


class Potential(Model, frozen=True, kw_only=True):
    """The reduction potential of an enterprise's processes and of the enterprise."""

    enterprise_id: int
    period: str
    periods: tuple[str, ...] = ()
    timezone: str = ""
    reference: str = "default"
    versions: dict[str, int] = {}
    processes: tuple[ProcessPotential, ...] = ()
    enterprise: tuple[EnterprisePotential, ...] = ()
    tce: Decimal
    tco2: Decimal


class Scenario(Model, frozen=True, kw_only=True):
    """A reduction scenario (measures applied to processes), as listed."""

    id: int
    enterprise_id: int | None = None
    name: str = ""
    base_year: int | None = None


class ScenarioProcess(Model, frozen=True, kw_only=True):
    """One process under a scenario: its base, the abatement of the measures applied, the projection."""

    process_id: int
    process_code: str = ""
    process_name: str = ""
    base_tco2: Decimal | None = None
    base_tce: Decimal | None = None
    output_t: Decimal | None = None
    abatement_tco2: Decimal = Decimal(0)
    saving_tce: Decimal = Decimal(0)
    projected_tco2: Decimal | None = None
    projected_intensity_tco2_t: Decimal | None = None


class ScenarioTotal(Model, frozen=True, kw_only=True):
    """The enterprise under a scenario."""

    base_tco2: Decimal | None = None
    abatement_tco2: Decimal = Decimal(0)
    projected_tco2: Decimal | None = None


class MacStep(Model, frozen=True, kw_only=True):
    """One measure of a marginal abatement cost curve, cheapest per tCO2 first."""

    measure_code: str
    measure_name: str = ""
    measure_name_en: str = ""
    process_id: int | None = None
    process_code: str = ""
    adoption: Decimal | None = None
    abatement_tco2: Decimal
    saving_tce: Decimal | None = None
    annualised_cost_cny: Decimal | None = None
    cost_per_tco2_cny: Decimal | None = None
    cumulative_abatement_tco2: Decimal | None = None


class ScenarioResult(Model, frozen=True, kw_only=True):
    """A scenario's projected emissions per process and of the enterprise, and its MAC curve."""

    scenario: dict[str, Any] = {}
    base_year: int | None = None
    processes: tuple[ScenarioProcess, ...] = ()
    enterprise: ScenarioTotal = ScenarioTotal()
    mac: tuple[MacStep, ...] = ()
    versions: dict[str, Any] = {}
    notes: tuple[str, ...] = ()


# ---- carbon assets ------------------------------------------------------------------------------------------------


class CarbonLot(Model, frozen=True, kw_only=True):
    """Offsets held of one type, project and vintage (tCO2e)."""

    offset_type: str = ""
    project: str = ""
    vintage: int | None = None
    quantity: Decimal


class CarbonHoldings(Model, frozen=True, kw_only=True):
    """What an enterprise holds for a compliance year and its value at the latest prices (CNY; None while a price
    is missing)."""

    enterprise_id: int
    year: int
    allowances: Decimal
    by_kind: dict[str, Decimal] = {}
    offsets: tuple[CarbonLot, ...] = ()
    offsets_total: Decimal = Decimal(0)
    allowance_price: Decimal | None = None
    offset_price: Decimal | None = None
    value: Decimal | None = None
    transactions: tuple[int, ...] = ()


class CarbonTransaction(Model, frozen=True, kw_only=True):
    """A ledger entry of allowances or offsets; ``counts`` is False once a later entry corrects it (``corrects``:
    the entry this one corrects; ``void``: it only cancels that one)."""

    id: int
    enterprise_id: int
    year: int
    instrument: str  # allowance, offset
    kind: str  # pre_allocation, true_up, purchased, acquired, sold, surrendered, carried_over
    quantity: Decimal
    price: Decimal | None = None
    traded_on: dt.date
    offset_type: str = ""
    project: str = ""
    vintage: int | None = None
    corrects: int | None = None
    void: bool = False
    counts: bool = True
    note: str = ""
    entered_by: str = ""
    entered_at: dt.datetime | None = None


class CarbonForecast(Model, frozen=True, kw_only=True):
    """One metric's compliance year: the kept months' sum, the forecast of the rest (each month's too), the
    year-end total and its band (``level``: 0.8 for 80 %)."""

    actual: Decimal
    months_actual: int = 0
    remaining: Decimal = Decimal(0)
    months_forecast: int = 0
    year_end: Decimal
    low: Decimal
    high: Decimal
    level: Decimal = Decimal("0.8")
    method: str = ""
    monthly: tuple[Decimal, ...] = ()


class CarbonMonth(Model, frozen=True, kw_only=True):
    """A finished month's kept figures: ETS-scope (``direct``) emissions and their terms, net, energy, output."""

    month: str
    result_id: int
    direct: Decimal
    combustion: Decimal = Decimal(0)
    process: Decimal = Decimal(0)
    fixed_carbon: Decimal = Decimal(0)
    net: Decimal = Decimal(0)
    energy_tce: Decimal | None = None
    crude_steel: Decimal | None = None


class CarbonProcessForecast(Model, frozen=True, kw_only=True):
    """One process's compliance year: its ETS-scope emissions and product output forecast like the enterprise's,
    and the year-end intensity (tCO2 per tonne of its product)."""

    direct: CarbonForecast
    output: CarbonForecast | None = None
    intensity: Decimal | None = None


class CarbonEmissions(Model, frozen=True, kw_only=True):
    """A compliance year's kept months and the forecasts of the rest (``direct``, ``net``, ``energy_tce``,
    ``crude_steel``)."""

    year: int
    months: tuple[CarbonMonth, ...] = ()
    result_ids: tuple[int, ...] = ()
    forecast_months: tuple[str, ...] = ()
    history_months: int = 0
    forecasts: dict[str, CarbonForecast] = {}
    processes: dict[str, CarbonProcessForecast] = {}  # by process code, when asked for


class CarbonPosition(Model, frozen=True, kw_only=True):
    """The position for one obligation: the offset cap, the offsets usable, allowances + usable − obligation."""

    obligation: Decimal
    offset_cap: Decimal
    offsets_usable: Decimal
    position: Decimal


class CarbonBand(Model, frozen=True, kw_only=True):
    """The position at each end of the forecast's band (``low``: at the high emissions, the worse end)."""

    level: Decimal
    low: CarbonPosition
    high: CarbonPosition


class CarbonMoney(Model, frozen=True, kw_only=True):
    """The position in CNY at the latest allowance (CEA) price."""

    price: Decimal
    price_day: str = ""
    position: Decimal
    low: Decimal
    high: Decimal
    allowances_value: Decimal | None = None


class CarbonTrial(Model, frozen=True, kw_only=True):
    """The trial calculation (试算) of a compliance year: allowances + usable offsets − ETS-scope emissions (actual +
    forecast), in tCO2 and CNY, with the band."""

    enterprise_id: int
    year: int
    rule_version: int
    rule: dict[str, Any] = {}
    as_of: str = ""
    emissions: CarbonEmissions
    allocation: dict[str, Any] = {}
    allocation_received: Decimal = Decimal(0)
    allocation_expected: Decimal = Decimal(0)
    allowances: Decimal
    allowances_held: Decimal = Decimal(0)
    offsets_available: Decimal = Decimal(0)
    transactions: tuple[int, ...] = ()
    obligation: Decimal
    offset_cap: Decimal
    offsets_usable: Decimal
    position: Decimal
    band: CarbonBand
    money: CarbonMoney | None = None
    deadline: str = ""
    notes: tuple[str, ...] = ()


class CarbonAssetMonth(Model, frozen=True, kw_only=True):
    """The holdings of a compliance year at a month's end and their value at the prices of then (CNY; None while a
    price is missing)."""

    month: str
    allowances: Decimal
    offsets: Decimal
    value: Decimal | None = None
