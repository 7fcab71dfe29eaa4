"""Devices: the terminals in the user's scope with their health, a search, and one device's detail with the
live values of the measurement points where it is placed."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from cem_clients.api import Alarm, ClientError, Device, LatestValue, LiveEvent, MeasurementPoint
from cem_clients.mobile.context import AppContext
from cem_clients.mobile.validation import normalise_text

__all__ = ["DeviceDetail", "DeviceList", "DeviceRow", "PointReading"]


@dataclass(frozen=True)
class DeviceRow:
    """One line of the device list."""

    id: str
    serial: str
    name: str
    type: str
    state: str  # registered, enrolled, active, suspended, revoked, retired
    online: bool
    last_seen_at: dt.datetime | None
    buffer_depth: int | None  # readings waiting in the gateway at its last heartbeat; None when unknown
    certificate_state: str | None  # valid, on_hold ...; None without a certificate
    certificate_expires_at: dt.datetime | None
    certificate_days_left: int | None
    certificate_expiring: bool
    site_id: int | None = None

    @classmethod
    def of(cls, device: Device) -> DeviceRow:
        """The row of a device as the API gives it."""
        return cls(
            id=device.id,
            serial=device.serial,
            name=device.name,
            type=device.type,
            state=device.state,
            online=device.online,
            last_seen_at=device.last_seen,
            buffer_depth=device.buffer_depth,
            certificate_state=device.certificate_state,
            certificate_expires_at=device.certificate_expires_at,
            certificate_days_left=device.health.certificate_days_left,
            certificate_expiring=device.health.certificate_expiring,
            site_id=device.site_id,
        )

    @property
    def health(self) -> str:
        """One word for the list: online, offline, or the state that keeps the device off the network."""
        if self.state in ("suspended", "revoked", "retired", "registered"):
            return self.state
        return "online" if self.online else "offline"

    def matches(self, query: str) -> bool:
        """Whether the id, name or serial contains ``query`` (case and full-width insensitive)."""
        needle = normalise_text(query).casefold()
        fields = (self.id, self.name, self.serial)
        return not needle or any(needle in normalise_text(text).casefold() for text in fields)


@dataclass(frozen=True)
class PointReading:
    """A measurement point at the device's place and its newest value (None when it has none yet)."""

    point_id: int
    code: str
    name: str
    unit: str
    value: float | None = None  # a live reading, for display (exact figures come from accounting)
    ts: dt.datetime | None = None
    age_s: float | None = None
    quality: str | None = None
    estimated: bool | None = None
    flags: tuple[str, ...] = ()


@dataclass
class DeviceDetail:
    """A device with its certificate history, its open alarms, and its points' live values."""

    device: Device
    points: list[PointReading] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)
    values_at: dt.datetime | None = None
    error: str = ""  # why part of it could not be loaded

    @property
    def row(self) -> DeviceRow:
        """The health figures, as in the list."""
        return DeviceRow.of(self.device)


@dataclass
class DeviceList:
    """The devices in the user's scope; ``visible`` those matching ``query``."""

    ctx: AppContext
    rows: list[DeviceRow] = field(default_factory=list)
    query: str = ""
    detail: DeviceDetail | None = None
    loaded_at: dt.datetime | None = None
    error: str = ""

    async def refresh(self) -> bool:
        """Reload the list (with each terminal's last heartbeat when the role may see it)."""
        try:
            devices = await self.ctx.call(self.ctx.api.devices())
        except ClientError as err:
            self.error = str(err)
            return False
        self.rows = sorted((DeviceRow.of(d) for d in devices), key=lambda r: (r.name or r.id).casefold())
        self.loaded_at = self.ctx.now()
        self.error = ""
        return True

    def search(self, query: str) -> list[DeviceRow]:
        """Filter by id, name or serial (on the phone: works offline too); the matching rows."""
        self.query = query
        return self.visible

    @property
    def visible(self) -> list[DeviceRow]:
        """The rows matching ``query``."""
        return [row for row in self.rows if row.matches(self.query)]

    def counts(self) -> dict[str, int]:
        """Devices per health word (online, offline, suspended ...)."""
        out: dict[str, int] = {}
        for row in self.rows:
            out[row.health] = out.get(row.health, 0) + 1
        return out

    async def open(self, device_id: str) -> DeviceDetail | None:
        """Load a device, its open alarms and its points' newest values into ``detail``."""
        try:
            device = await self.ctx.call(self.ctx.api.device(device_id))
        except ClientError as err:
            self.error = str(err)
            return None
        self.error = ""
        self.detail = DeviceDetail(device)
        self.rows = [DeviceRow.of(device) if r.id == device.id else r for r in self.rows]
        problems = []
        try:
            self.detail.alarms = await self.ctx.call(self.ctx.api.alarms(state="open", device_id=device.id))
        except ClientError as err:
            problems.append(str(err))
        try:
            points = await self._points(device)
            self.detail.points = [PointReading(p.id, p.code, p.name, p.unit) for p in points]
            await self.refresh_values()
        except ClientError as err:
            problems.append(str(err))
        self.detail.error = " ".join(p for p in [*problems, self.detail.error] if p)
        return self.detail

    async def refresh_values(self) -> bool:
        """Reload the newest values of the open device's points."""
        detail = self.detail
        if detail is None or not detail.points:
            return False
        try:
            latest = await self.ctx.call(self.ctx.api.latest(p.point_id for p in detail.points))
        except ClientError as err:
            detail.error = str(err)
            return False
        by_id = {value.point_id: value for value in latest}
        detail.points = [_reading(p, by_id.get(p.point_id)) for p in detail.points]
        detail.values_at = self.ctx.now()
        detail.error = ""
        return True

    def apply(self, event: LiveEvent) -> bool:
        """Fold a live ``latest`` event into the open device's points (follow them with ``LiveFeed(points=...)``);
        True when a shown value changed."""
        detail = self.detail
        if detail is None or not event.points:
            return False
        fresh = {p.point_id: p for p in event.points}
        changed = False
        points = []
        for point in detail.points:
            live = fresh.get(point.point_id)
            if live is not None and live.ts is not None and (point.ts is None or live.ts >= point.ts):
                point = dataclasses.replace(
                    point, value=live.value, ts=live.ts, age_s=0.0, quality=live.quality, estimated=live.estimated
                )
                changed = True
            points.append(point)
        detail.points = points
        return changed

    @property
    def followed_points(self) -> list[int]:
        """The ids of the open device's points, for ``LiveFeed(api, points=...)``."""
        return [p.point_id for p in self.detail.points] if self.detail is not None else []

    def close(self) -> None:
        """Leave the detail."""
        self.detail = None

    async def _points(self, device: Device) -> list[MeasurementPoint]:
        """The active points where the device is placed: its facility, else its process, site or enterprise
        (the registry does not say which points a terminal reports)."""
        api = self.ctx.api
        if device.facility_id is not None:
            points = await self.ctx.call(api.points(facility_id=device.facility_id))
        elif device.process_id is not None or device.site_id is not None:
            if device.process_id is not None:
                process_ids = [device.process_id]
            else:
                processes = await self.ctx.call(api.processes(site_id=device.site_id))
                process_ids = [p.id for p in processes]
            facility_ids: list[int] = []
            for process_id in process_ids:
                facility_ids += [f.id for f in await self.ctx.call(api.facilities(process_id))]
            points = []
            for facility_id in facility_ids:
                points += await self.ctx.call(api.points(facility_id=facility_id))
        else:
            points = await self.ctx.call(api.points(enterprise_id=device.enterprise_id))
        return sorted((p for p in points if p.active), key=lambda p: p.code)


def _reading(point: PointReading, value: LatestValue | None) -> PointReading:
    if value is None:
        return point
    return PointReading(
        point.point_id,
        point.code,
        value.name or point.name,
        value.unit or point.unit,
        value.value,
        value.ts,
        value.age_s,
        value.quality,
        value.estimated,
        value.flags,
    )
