"""The device admins' screens: fleet overview, registration, enrolment tokens with QR code, suspend / resume /
revoke / retire with TOTP step-up, and the point map of a facility (points, units, meters) with its form."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import segno

from cem_clients._live import LiveEvent, LiveFeed
from cem_clients.api import (
    Alarm,
    ApiClient,
    ClientError,
    ControlResult,
    Device,
    DeviceStatus,
    EnrolmentToken,
    Enterprise,
    Facility,
    MeasurementPoint,
    Process,
    Site,
)
from cem_clients.console.extra_api import ConsoleApi
from cem_clients.console.forms import Form, Problem, Screen, as_date, choices

__all__ = [
    "ACCURACY_CLASS",
    "CONTROL_ACTIONS",
    "DEVICE_TYPES",
    "POINT_KINDS",
    "QUANTITY_UNITS",
    "REVOCATION_REASONS",
    "Backlog",
    "ConnectionDown",
    "ControlForm",
    "DeviceForm",
    "DeviceRegistration",
    "EnrolmentQr",
    "ExpiringCertificate",
    "FleetCounts",
    "FleetOverview",
    "Health",
    "LiveStatus",
    "PointForm",
    "PointMap",
    "available_actions",
]

DEVICE_TYPES = ("gateway", "meter")
_SERIAL = re.compile(r"^[\x21-\x7e]{1,100}$")

#: Which device states each control operation applies to (as the registry allows them).
CONTROL_ACTIONS: dict[str, frozenset[str]] = {
    "suspend": frozenset({"enrolled", "active"}),
    "resume": frozenset({"suspended"}),
    "revoke": frozenset({"registered", "enrolled", "active", "suspended"}),
    "retire": frozenset({"registered", "enrolled", "active", "suspended", "revoked"}),
}
REVOCATION_REASONS = ("unspecified", "key_compromise", "affiliation_changed", "superseded", "cessation_of_operation")

# What the platform accepts for measurement points (org/units.py); the platform checks again.
QUANTITY_UNITS: dict[str, tuple[str, ...]] = {
    "mass": ("t", "kg"),
    "mass_flow": ("t/h", "kg/h", "kg/s"),
    "volume": ("m3", "Nm3", "L"),
    "volume_flow": ("m3/h", "Nm3/h", "L/s"),
    "energy": ("kWh", "MWh", "GJ", "MJ", "tce"),
    "power": ("kW", "MW"),
    "heat": ("GJ", "MJ", "t_steam"),
    "temperature": ("degC", "K"),
    "pressure": ("kPa", "MPa", "bar"),
    "ratio": ("%", "1"),
    "count": ("1",),
    "state": ("1",),
}
POINT_KINDS = ("totaliser", "flow", "state")
ACCURACY_CLASS = re.compile(r"^(0\.1|0\.2|0\.5|1|1\.0|1\.5|2|2\.0|2\.5|3|5)S?$")
_POINT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")
_MEDIUM = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


# ---- fleet overview -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetCounts:
    """Devices by what needs attention: online and offline among those allowed to connect, then the rest."""

    total: int = 0
    online: int = 0  # healthy + degraded
    offline: int = 0  # enrolled or active, not seen recently
    healthy: int = 0  # online, every connection up, no open alarm
    degraded: int = 0  # online, but a connection to a PLC or meter is down or an alarm about it is open
    suspended: int = 0
    revoked: int = 0
    retired: int = 0
    not_enrolled: int = 0  # registered, waiting for the terminal to enrol


@dataclass(frozen=True)
class Backlog:
    """Readings a gateway holds in its buffer (at its last heartbeat), not yet delivered."""

    device_id: str
    name: str
    depth: int
    evicted: int | None
    reported_at: dt.datetime
    online: bool


@dataclass(frozen=True)
class ExpiringCertificate:
    """A device whose certificate expires soon."""

    device_id: str
    name: str
    serial: str
    state: str
    expires_at: dt.datetime
    days_left: int  # whole days from now (negative once expired)


@dataclass(frozen=True)
class ConnectionDown:
    """A gateway's connection to a PLC or meter that is down at its last heartbeat; ``name`` is the gateway's own
    (technical) name of it, ``alarm`` the open communication alarm about it (which names it in plant words)."""

    name: str
    since: dt.datetime | None  # down since (the gateway's report), None when it did not say
    error: str = ""
    alarm: Alarm | None = None


@dataclass(frozen=True)
class Health:
    """How an online device is doing: ``degraded`` when a connection is down or an alarm about it is open."""

    connections_down: tuple[ConnectionDown, ...] = ()
    alarms: tuple[Alarm, ...] = ()  # open alarms about it or reported by it, most severe first

    @property
    def degraded(self) -> bool:
        """Something needs attention."""
        return bool(self.connections_down or self.alarms)


_SEVERITY_RANK = {"critical": 0, "major": 1, "warning": 2, "info": 3}
OPEN_ALARMS_LIMIT = 1000  # the API's page; a fleet with more open alarms shows the newest thousand


def _ms_time(value: object) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value / 1000, dt.UTC) if isinstance(value, int | float) else None


def connections_down(device: Device) -> list[tuple[str, dt.datetime | None, str]]:
    """The connections the gateway's last heartbeat reports down: name, since when, the error."""
    if device.status is None or device.status.state != "online":
        return []
    report = device.status.status
    since = {
        a.get("subject"): _ms_time(a.get("since"))
        for a in report.get("alarms") or ()
        if isinstance(a, dict) and a.get("code") == "connection_down"
    }
    down = []
    for connection in report.get("connections") or ():
        if not isinstance(connection, dict) or connection.get("connected", True):
            continue
        name = str(connection.get("name") or "")
        when = since.get(name) or _ms_time(connection.get("last_good_poll"))
        down.append((name, when, str(connection.get("last_error") or "")))
    return down


def concerns(alarm: Alarm, device_id: str) -> bool:
    """Whether an alarm is about the device or was reported by it (a gateway's PLC, its buffer)."""
    if alarm.subject_type == "device" and alarm.subject_id == device_id:
        return True
    return isinstance(alarm.detail, dict) and alarm.detail.get("device_id") == device_id


LIVE_STALE_AFTER = dt.timedelta(seconds=60)  # the platform pings every 25 s: two missed pings and more is stale
_OFFLINE_ACTIONS = frozenset({"raised", "repeated", "escalated"})


@dataclass(frozen=True)
class LiveStatus:
    """How fresh the fleet shown is: ``off`` (not following), ``connecting``, ``live`` (a message within
    :data:`LIVE_STALE_AFTER`) or ``stale``; ``since`` is the last message of the live feed, ``updated`` the last
    change it brought."""

    state: Literal["off", "connecting", "live", "stale"]
    since: dt.datetime | None
    updated: dt.datetime | None


@dataclass
class FleetOverview(Screen):
    """The fleet at a glance: counts by state, buffer backlogs, certificates expiring within ``expiry_days``.

    :meth:`follow` keeps it current from the platform's live feed: ``status`` events (a gateway's heartbeat, last
    will or clean stop) and ``device_offline`` alarms (missed heartbeats) change a device's connection and backlog
    without a reload; after every (re)connection the list is reloaded, as events of the gap are not replayed.
    """

    api: ApiClient
    expiry_days: int = 30
    devices: list[Device] = field(default_factory=list)
    counts: FleetCounts = field(default_factory=FleetCounts)
    backlogs: list[Backlog] = field(default_factory=list)  # largest first
    expiring: list[ExpiringCertificate] = field(default_factory=list)  # soonest first
    with_alarms: bool = True  # also load the open alarms (the caller reads alarms)
    open_alarms: list[Alarm] = field(default_factory=list)  # newest first
    health: dict[str, Health] = field(default_factory=dict)  # of the devices online
    state: str | None = None  # list filter: a device state, "online" or "offline"
    search: str = ""  # list filter: part of the id, serial or name
    feed: LiveFeed | None = None  # the live feed followed
    live_at: dt.datetime | None = None  # the feed's last message (pings included)
    live_changed_at: dt.datetime | None = None  # the last change the feed brought

    async def follow(self, feed: LiveFeed, on_change: Callable[[], object]) -> None:
        """Apply the feed's events until it ends, calling ``on_change`` after each message (the freshness changes
        with pings too). A ``connected`` event reloads the list."""
        self.feed = feed
        try:
            async for event in feed:
                self.live_at = event.received_at
                if event.type == "connected":
                    await self.refresh(event.received_at)
                    self.live_changed_at = event.received_at
                elif self.apply(event, event.received_at):
                    self.live_changed_at = event.received_at
                on_change()
        finally:
            self.feed = None

    def apply(self, event: LiveEvent, now: dt.datetime | None = None) -> bool:
        """Apply one live event to the devices shown; True when something shown changed."""
        now = now or dt.datetime.now(dt.UTC)
        if event.type == "status":
            device_id, state = event.data.get("device_id"), event.data.get("state")
            if not isinstance(device_id, str) or state not in ("online", "offline"):
                return False
            changed = self._update(device_id, now, online=state == "online", status=event)
        elif event.type == "alarm":
            alarm = event.alarm
            if alarm is None:
                return False
            changed = self._track(alarm)
            offline = alarm.kind == "device_offline" and alarm.subject_type == "device"
            if offline and event.action in _OFFLINE_ACTIONS and alarm.state != "cleared":
                changed = self._update(alarm.subject_id, now, online=False) or changed
        else:
            return False
        if changed:
            self._compute(now)
        return changed

    def _track(self, alarm: Alarm) -> bool:
        """Keep the open alarms current: a new or changed one in, a cleared one out."""
        if not self.with_alarms:
            return False
        kept = [a for a in self.open_alarms if a.id != alarm.id]
        if alarm.state != "cleared":
            kept.insert(0, alarm)
        changed = kept != self.open_alarms
        self.open_alarms = kept
        return changed

    def _update(self, device_id: str, now: dt.datetime, *, online: bool, status: LiveEvent | None = None) -> bool:
        for i, device in enumerate(self.devices):
            if device.id != device_id:
                continue
            health = msgspec.structs.replace(device.health, online=online)
            last_seen = now if online else device.last_seen_at
            heartbeat = device.status
            if status is not None:
                depth = status.data.get("buffer_depth")
                ts = status.data.get("ts")
                reported = dt.datetime.fromtimestamp(ts / 1000, dt.UTC) if isinstance(ts, int | float) else now
                heartbeat = DeviceStatus(
                    status=_carried_report(device.status, status.data.get("alarms")),
                    device_id=device.id,
                    enterprise_id=device.enterprise_id,
                    state=str(status.data.get("state")),
                    reason=str(status.data.get("reason") or ""),
                    reported_at=reported,
                    received_at=now,
                    buffer_depth=depth if isinstance(depth, int) else None,
                    buffer_evicted=device.status.buffer_evicted if device.status else None,
                )
            updated = msgspec.structs.replace(device, health=health, last_seen_at=last_seen, status=heartbeat)
            if updated == device:
                return False
            self.devices[i] = updated
            return True
        return False

    def live_status(self, now: dt.datetime | None = None) -> LiveStatus:
        """How fresh the figures are."""
        now = now or dt.datetime.now(dt.UTC)
        if self.feed is None:
            return LiveStatus("off", self.live_at, self.live_changed_at)
        if not self.feed.connected or self.live_at is None:
            return LiveStatus("connecting", self.live_at, self.live_changed_at)
        state: Literal["live", "stale"] = "live" if now - self.live_at <= LIVE_STALE_AFTER else "stale"
        return LiveStatus(state, self.live_at, self.live_changed_at)

    async def refresh(self, now: dt.datetime | None = None) -> bool:
        """Reload the devices (with their last heartbeat) and the open alarms, and recompute the figures."""
        now = now or dt.datetime.now(dt.UTC)

        async def work() -> None:
            self.devices = sorted(await self.api.devices(), key=lambda d: (d.name or d.serial, d.id))
            if self.with_alarms:
                try:
                    self.open_alarms = await self.api.alarms("open", limit=OPEN_ALARMS_LIMIT)
                except ClientError:  # the fleet still shows without them; the health then says connections only
                    self.open_alarms = []
            self._compute(now)

        return await self._load(work, now)

    def _compute(self, now: dt.datetime) -> None:
        counts = dict.fromkeys(("online", "offline", "suspended", "revoked", "retired", "not_enrolled"), 0)
        self.health = {}
        for device in self.devices:
            bucket = _bucket(device)
            counts[bucket] += 1
            if bucket == "online":
                self.health[device.id] = self._health_of(device)
        degraded = sum(1 for h in self.health.values() if h.degraded)
        self.counts = FleetCounts(
            total=len(self.devices), healthy=counts["online"] - degraded, degraded=degraded, **counts
        )
        self.backlogs = sorted(
            (
                Backlog(
                    device_id=d.id,
                    name=d.name or d.serial,
                    depth=d.status.buffer_depth,
                    evicted=d.status.buffer_evicted,
                    reported_at=d.status.reported_at,
                    online=d.online,
                )
                for d in self.devices
                if d.status is not None and d.status.buffer_depth
            ),
            key=lambda b: (-b.depth, b.device_id),
        )
        horizon = now + dt.timedelta(days=self.expiry_days)
        self.expiring = sorted(
            (
                ExpiringCertificate(
                    device_id=d.id,
                    name=d.name or d.serial,
                    serial=d.serial,
                    state=d.state,
                    expires_at=expires,
                    days_left=(expires - now).days,
                )
                for d in self.devices
                if (expires := d.certificate_expires_at) is not None
                and expires <= horizon
                and d.state not in ("revoked", "retired")
            ),
            key=lambda c: (c.expires_at, c.device_id),
        )

    def _health_of(self, device: Device) -> Health:
        alarms = sorted(
            (a for a in self.open_alarms if concerns(a, device.id)),
            key=lambda a: (_SEVERITY_RANK.get(a.severity, 9), -a.raised_at.timestamp(), a.id),
        )
        down = []
        for name, since, error in connections_down(device):
            alarm = next((a for a in alarms if a.kind == "meter_comm" and a.detail.get("connection") == name), None)
            down.append(ConnectionDown(name=name, since=since, error=error, alarm=alarm))
        return Health(connections_down=tuple(down), alarms=tuple(alarms))

    def health_of(self, device: Device) -> str:
        """``healthy``, ``degraded``, ``offline``, or the state of a device not meant to connect."""
        bucket = _bucket(device)
        if bucket != "online":
            return bucket
        health = self.health.get(device.id)
        return "degraded" if health is not None and health.degraded else "healthy"

    @property
    def degraded(self) -> list[Device]:
        """The devices online that need attention, in the list's order."""
        return [d for d in self.devices if self.health_of(d) == "degraded"]

    @property
    def total_backlog(self) -> int:
        """Readings waiting in all gateways' buffers."""
        return sum(b.depth for b in self.backlogs)

    def visible(self) -> list[Device]:
        """The devices the list shows with its filters."""
        needle = self.search.strip().lower()
        return [
            d
            for d in self.devices
            if (self.state is None or self.state in (d.state, _bucket(d), self.health_of(d)))
            and (not needle or any(needle in text.lower() for text in (d.id, d.serial, d.name)))
        ]


def _carried_report(previous: DeviceStatus | None, codes: object) -> dict[str, Any]:
    """The last full report kept over a live heartbeat, which names only its alarm codes: without a
    ``connection_down`` among them every connection is up again; with one, the last full report still says which."""
    report = dict(previous.status) if previous is not None else {}
    if isinstance(codes, list) and "connection_down" not in codes:
        report["connections"] = [
            {**c, "connected": True} if isinstance(c, dict) else c for c in report.get("connections") or ()
        ]
        report["alarms"] = [
            a for a in report.get("alarms") or () if isinstance(a, dict) and a.get("code") != "connection_down"
        ]
    return report


def _bucket(device: Device) -> str:
    if device.state in ("enrolled", "active"):
        return "online" if device.online else "offline"
    if device.state == "registered":
        return "not_enrolled"
    return device.state if device.state in ("suspended", "revoked", "retired") else "offline"


# ---- registration -------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class DeviceForm(Form):
    """A terminal to register by its hardware serial, placed in an enterprise or a site/process/facility."""

    serial: str = ""
    name: str = ""
    model: str = ""
    firmware: str = ""
    device_type: str = "gateway"
    enterprise_id: int | None = None
    site_id: int | None = None
    process_id: int | None = None
    facility_id: int | None = None

    def validate(self) -> bool:
        """Check the fields as the registry will; True when the form can be sent."""
        self.begin()
        serial = self.serial.strip()
        if not serial:
            self.check("serial", Problem("console.problem.serial_missing"))
        elif not _SERIAL.match(serial):
            self.check("serial", Problem("console.problem.serial_format"))
        self.check("name", _too_long(self.name, 200))
        self.check("model", _too_long(self.model, 100))
        self.check("firmware", _too_long(self.firmware, 64))
        if self.device_type not in DEVICE_TYPES:
            self.check("device_type", Problem("console.problem.choose_one", choices=choices(DEVICE_TYPES)))
        if all(v is None for v in (self.enterprise_id, self.site_id, self.process_id, self.facility_id)):
            self.check("placement", Problem("console.problem.placement"))
        return self.valid


@dataclass
class DeviceRegistration(Screen):
    """Register a terminal: the form and the choices for its placement."""

    api: ApiClient
    form: DeviceForm = field(default_factory=DeviceForm)
    enterprises: list[Enterprise] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    facilities: list[Facility] = field(default_factory=list)
    registered: Device | None = None

    async def load_choices(self) -> bool:
        """Enterprises, sites, processes and facilities the caller may place terminals in."""

        async def work() -> None:
            self.enterprises = await self.api.enterprises(active=True)
            self.sites = await self.api.sites(active=True)
            self.processes = await self.api.processes(active=True)
            self.facilities = await self.api.facilities(active=True)

        return await self._load(work)

    def sites_of(self, enterprise_id: int) -> list[Site]:
        """Sites of an enterprise (for the cascading choice)."""
        return [s for s in self.sites if s.enterprise_id == enterprise_id]

    def processes_of(self, site_id: int) -> list[Process]:
        """Processes of a site."""
        return [p for p in self.processes if p.site_id == site_id]

    def facilities_of(self, process_id: int) -> list[Facility]:
        """Facilities of a process."""
        return [f for f in self.facilities if f.process_id == process_id]

    async def submit(self) -> Device | None:
        """Register the terminal (or find the one with this serial); next: an enrolment token."""
        form = self.form
        if not form.validate():
            return None
        device = await form.send(
            lambda _code: self.api.register_device(
                form.serial.strip(),
                enterprise_id=form.enterprise_id,
                site_id=form.site_id,
                process_id=form.process_id,
                facility_id=form.facility_id,
                name=form.name.strip(),
                model=form.model.strip(),
                firmware=form.firmware.strip(),
                device_type=form.device_type,
            )
        )
        if device is not None:
            self.registered = device
            self.form = DeviceForm(device_type=form.device_type, enterprise_id=form.enterprise_id)
        return device


def _too_long(text: str, limit: int) -> Problem | None:
    return Problem("console.problem.at_most_chars", limit=limit) if len(text.strip()) > limit else None


# ---- enrolment token and QR code ----------------------------------------------------------------------------------


@dataclass
class EnrolmentQr(Screen):
    """A one-time enrolment token for a terminal, shown once with its QR code (scanned by the installer's phone
    or typed as the install command). Re-enrolling a terminal that holds a valid certificate needs step-up."""

    api: ApiClient
    device_id: str
    form: Form = field(default_factory=Form)
    token: EnrolmentToken | None = None

    async def issue(self) -> EnrolmentToken | None:
        """Issue a new token (older unused ones stop working)."""
        self.form.begin()
        token = await self.form.send(lambda code: self.api.create_enrolment_token(self.device_id, code))
        if token is not None:
            self.token = token
        return token

    @property
    def payload(self) -> str:
        """What the QR code holds: the platform's enrolment payload (server, device, token)."""
        if self.token is None:
            return ""
        return self.token.qr_payload or self.token.command or self.token.token

    def png(self, scale: int = 6, border: int = 4) -> bytes:
        """The QR code as PNG bytes (empty before a token is issued)."""
        if self.token is None:
            return b""
        buffer = io.BytesIO()
        segno.make(self.payload, error="m").save(buffer, kind="png", scale=scale, border=border)
        return buffer.getvalue()

    def svg(self, scale: int = 4, border: int = 4) -> str:
        """The QR code as an SVG document ("" before a token is issued)."""
        if self.token is None:
            return ""
        buffer = io.BytesIO()
        segno.make(self.payload, error="m").save(buffer, kind="svg", scale=scale, border=border)
        return buffer.getvalue().decode()

    def expires_in(self, now: dt.datetime | None = None) -> dt.timedelta | None:
        """How long the token stays valid (None before a token is issued)."""
        if self.token is None:
            return None
        return self.token.expires_at - (now or dt.datetime.now(dt.UTC))


# ---- control operations -------------------------------------------------------------------------------------------


def available_actions(device: Device) -> tuple[str, ...]:
    """The control operations that apply to the device in its state."""
    return tuple(action for action, states in CONTROL_ACTIONS.items() if device.state in states)


@dataclass(kw_only=True)
class ControlForm(Form):
    """Suspend, resume, revoke or retire a device: why (kept in the audit log) and the authenticator code."""

    device_id: str
    action: str = "suspend"
    reason: str = ""
    revocation_reason: str = "unspecified"
    result: ControlResult | None = None

    def validate(self) -> bool:
        """Check the fields; True when the form can be sent."""
        self.begin()
        if self.action not in CONTROL_ACTIONS:
            self.check("action", Problem("console.problem.choose_one", choices=choices(CONTROL_ACTIONS)))
        reason = self.reason.strip()
        if len(reason) < 3:
            self.check("reason", Problem("console.problem.reason_short"))
        elif len(reason) > 300:
            self.check("reason", Problem("console.problem.at_most_chars", limit=300))
        if self.action == "revoke" and self.revocation_reason not in REVOCATION_REASONS:
            self.check("revocation_reason", Problem("console.problem.choose_one", choices=choices(REVOCATION_REASONS)))
        return self.valid

    async def submit(self, api: ApiClient) -> ControlResult | None:
        """Send the operation; on :class:`StepUpRequired` the form asks for the authenticator code."""
        if not self.validate():
            return None
        reason, device_id = self.reason.strip(), self.device_id
        if self.action == "suspend":
            result = await self.send(lambda code: api.suspend_device(device_id, code, reason))
        elif self.action == "resume":
            result = await self.send(lambda code: api.resume_device(device_id, code, reason))
        elif self.action == "revoke":
            revocation = self.revocation_reason
            result = await self.send(lambda code: api.revoke_device(device_id, code, reason, revocation))
        else:
            result = await self.send(lambda code: api.retire_device(device_id, code, reason))
        if result is not None:
            self.result = result
        return result


# ---- point map ----------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class PointForm(Form):
    """A measurement point and its meter (``point_id`` None: a new point of ``facility_id``)."""

    point_id: int | None = None
    facility_id: int | None = None
    code: str = ""
    name: str = ""
    medium: str = ""
    quantity: str = "mass"
    unit: str = "t"
    kind: str = "totaliser"
    meter_model: str = ""
    meter_serial: str = ""
    accuracy_class: str = ""
    calibrated_on: dt.date | str | None = None
    calibration_due: dt.date | str | None = None
    active: bool = True

    @classmethod
    def of(cls, point: MeasurementPoint) -> PointForm:
        """A form to edit ``point``."""
        return cls(
            point_id=point.id,
            facility_id=point.facility_id,
            code=point.code,
            name=point.name,
            medium=point.medium,
            quantity=point.quantity,
            unit=point.unit,
            kind=point.kind,
            meter_model=point.meter_model,
            meter_serial=point.meter_serial,
            accuracy_class=point.accuracy_class,
            calibrated_on=point.calibrated_on,
            calibration_due=point.calibration_due,
            active=point.active,
        )

    def units(self) -> tuple[str, ...]:
        """The units the chosen quantity allows."""
        return QUANTITY_UNITS.get(self.quantity, ())

    def validate(self) -> bool:
        """Check the fields as the platform will; True when the form can be sent."""
        self.begin()
        if self.point_id is None and self.facility_id is None:
            self.check("facility_id", Problem("console.problem.facility_missing"))
        if not _POINT_CODE.match(self.code.strip()):
            self.check("code", Problem("console.problem.point_code"))
        if not self.name.strip():
            self.check("name", Problem("console.problem.enter_name"))
        self.check("name", _too_long(self.name, 200))
        if not _MEDIUM.match(self.medium.strip()):
            self.check("medium", Problem("console.problem.medium"))
        if self.quantity not in QUANTITY_UNITS:
            self.check("quantity", Problem("console.problem.choose_one", choices=choices(QUANTITY_UNITS)))
        elif self.unit not in QUANTITY_UNITS[self.quantity]:
            self.check(
                "unit",
                Problem(
                    "console.problem.quantity_units",
                    quantity=self.quantity,
                    units=choices(QUANTITY_UNITS[self.quantity]),
                ),
            )
        if self.kind not in POINT_KINDS:
            self.check("kind", Problem("console.problem.choose_one", choices=choices(POINT_KINDS)))
        self.check("meter_model", _too_long(self.meter_model, 100))
        self.check("meter_serial", _too_long(self.meter_serial, 100))
        if self.accuracy_class.strip() and not ACCURACY_CLASS.match(self.accuracy_class.strip()):
            self.check("accuracy_class", Problem("console.problem.accuracy_class"))
        calibrated, problem = as_date(self.calibrated_on)
        self.check("calibrated_on", problem)
        due, problem = as_date(self.calibration_due)
        self.check("calibration_due", problem)
        if calibrated and due and due < calibrated:
            self.check("calibration_due", Problem("console.problem.calibration_order"))
        return self.valid

    def fields(self) -> dict[str, Any]:
        """The point's fields as the API takes them (after :meth:`validate`)."""
        return {
            "code": self.code.strip(),
            "name": self.name.strip(),
            "medium": self.medium.strip(),
            "quantity": self.quantity,
            "unit": self.unit,
            "kind": self.kind,
            "meter_model": self.meter_model.strip(),
            "meter_serial": self.meter_serial.strip(),
            "accuracy_class": self.accuracy_class.strip() or None,
            "calibrated_on": as_date(self.calibrated_on)[0],
            "calibration_due": as_date(self.calibration_due)[0],
            "active": self.active,
        }


@dataclass(frozen=True)
class FacilityEntry:
    """A facility with its process, for the facility picker."""

    facility: Facility
    process: Process

    @property
    def label(self) -> str:
        """``process / facility``."""
        return f"{self.process.name} / {self.facility.name}"


@dataclass
class PointMap(Screen):
    """The measurement points of a facility with their units and meters; add or change one."""

    api: ConsoleApi
    enterprise_id: int | None = None
    facilities: list[FacilityEntry] = field(default_factory=list)
    facility_id: int | None = None
    points: list[MeasurementPoint] = field(default_factory=list)
    form: PointForm | None = None

    async def refresh(self) -> bool:
        """Load the facilities (of the enterprise) and the points of the chosen one (the first by default)."""

        async def work() -> None:
            processes = {p.id: p for p in await self.api.processes(self.enterprise_id)}
            self.facilities = sorted(
                (
                    FacilityEntry(f, processes[f.process_id])
                    for f in await self.api.facilities()
                    if f.process_id in processes
                ),
                key=lambda e: (e.process.code, e.facility.code),
            )
            ids = {e.facility.id for e in self.facilities}
            if self.facility_id not in ids:
                self.facility_id = self.facilities[0].facility.id if self.facilities else None
            await self._load_points()

        return await self._load(work)

    async def select(self, facility_id: int) -> bool:
        """Show the points of another facility."""
        self.facility_id = facility_id
        return await self._load(self._load_points)

    async def _load_points(self) -> None:
        if self.facility_id is None:
            self.points = []
            return
        self.points = sorted(await self.api.points(facility_id=self.facility_id), key=lambda p: p.code)

    @property
    def facility(self) -> FacilityEntry | None:
        """The facility shown."""
        return next((e for e in self.facilities if e.facility.id == self.facility_id), None)

    @property
    def overdue(self) -> list[MeasurementPoint]:
        """Points whose meter is past its calibration date."""
        return [p for p in self.points if p.calibration_overdue]

    def new_point(self) -> PointForm:
        """A form for a new point of the facility shown."""
        self.form = PointForm(facility_id=self.facility_id)
        return self.form

    def edit(self, point_id: int) -> PointForm:
        """A form to change one of the points shown."""
        self.form = PointForm.of(next(p for p in self.points if p.id == point_id))
        return self.form

    async def save(self) -> MeasurementPoint | None:
        """Create or change the point of the form; the list is reloaded."""
        form = self.form
        if form is None or not form.validate():
            return None
        fields = form.fields()
        point_id, facility_id = form.point_id, form.facility_id
        if point_id is not None:
            saved = await form.send(lambda _code: self.api.update_point(point_id, fields))
        elif facility_id is not None:
            saved = await form.send(lambda _code: self.api.create_point(facility_id, **fields))
        else:  # pragma: no cover - validate() asks for the facility
            return None
        if saved is not None:
            self.form = None
            self.facility_id = saved.facility_id
            await self._load(self._load_points)
        return saved
