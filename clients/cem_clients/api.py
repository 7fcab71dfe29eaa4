"""The typed asynchronous client of the CEM REST API, shared by the Flet apps (wallboard, mobile, console).

It speaks only HTTP (and the ``/api/v1/live`` WebSocket, see :class:`LiveFeed`); it never imports the platform::

    async with ApiClient("https://cem.example.com") as api:
        await api.login("wang", "secret", totp="123456")
        for alarm in await api.alarms(state="open"):
            ...
        async with LiveFeed(api) as feed:
            async for event in feed:
                ...

Behaviour:

- **Sessions.** :meth:`ApiClient.login` keeps the token pair inside the client. A request answered 401 is
  repeated once after :meth:`ApiClient.refresh` when a refresh token exists (and the access token is refreshed
  shortly before it expires); when the refresh fails the session is over (:class:`AuthError`: log in again).
  :meth:`ApiClient.use_token` uses an API token instead (the wallboard's display token): no refresh, no logout.
- **Errors** are exceptions whose ``str()`` is the platform's message and hint, ready to show to users
  (see :mod:`cem_clients._errors`). Nothing answering at all is :class:`Offline`.
- **Retries.** GET, PUT and DELETE are repeated on connection errors, timeouts and 502/503/504, at most
  ``retries`` times, waiting 0.2 s, 0.4 s, 0.8 s ... (at most ``max_backoff``). POST and PATCH are never
  repeated automatically: they may have taken effect.
- **Step-up.** Control operations (suspend, revoke ...) take the current authenticator code as ``totp``; it goes
  in the ``X-CEM-TOTP`` header. Without one they pass only within a few minutes of a login with TOTP or of
  :meth:`ApiClient.step_up`, else :class:`StepUpRequired`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import mimetypes
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import msgspec

from cem_clients._errors import (
    AccountLocked,
    ApiError,
    AuthError,
    ClientError,
    Conflict,
    ForbiddenError,
    InvalidInput,
    NotFound,
    Offline,
    RateLimited,
    ServerError,
    StepUpRequired,
    TotpRequired,
    error_from_response,
)
from cem_clients._live import LiveEvent, LiveFeed, LivePoint
from cem_clients._models import (
    ActivityRecord,
    Alarm,
    AlarmEvent,
    AuditEntry,
    AuditPage,
    BenchmarkComparison,
    BenchmarkCorrection,
    BenchmarkLevel,
    BenchmarkUnresolved,
    CarbonAssetMonth,
    CarbonBand,
    CarbonEmissions,
    CarbonForecast,
    CarbonHoldings,
    CarbonLot,
    CarbonMoney,
    CarbonMonth,
    CarbonPosition,
    CarbonProcessForecast,
    CarbonTransaction,
    CarbonTrial,
    CategorySpec,
    Certificate,
    ControlResult,
    Device,
    DeviceHealth,
    DeviceStatus,
    EmissionPeriod,
    Emissions,
    EmissionSource,
    EnrolmentToken,
    EnterableInput,
    Enterprise,
    EnterprisePotential,
    Evidence,
    Facility,
    GapAnalysis,
    GapIndicator,
    GapPeriod,
    GapSubject,
    GapTrend,
    ImportReport,
    LatestValue,
    Library,
    LibraryFormulas,
    LibraryParameters,
    LibraryVersion,
    Lineage,
    MacStep,
    Me,
    MeasurementPoint,
    ParameterChanged,
    Potential,
    PotentialFigure,
    PotentialPeriod,
    PotentialReference,
    Process,
    ProcessPotential,
    ProcessType,
    Reading,
    ReportedFigures,
    ReportFile,
    ReportingChange,
    ReportingStep,
    ReportingYear,
    Scenario,
    ScenarioProcess,
    ScenarioResult,
    ScenarioTotal,
    ScopeItem,
    Series,
    SeriesBucket,
    Session,
    Site,
    SourceResult,
    Statistics,
    StatisticsChange,
    StatisticsCoefficient,
    StatisticsPart,
    StatisticsRow,
    StatisticsTotal,
    SystemParameter,
    UnitInfo,
    User,
    VerifiedFigures,
)

_FILENAME = re.compile(r'filename="?([^";]+)"?')

__all__ = [
    "CarbonAssetMonth",
    "CarbonBand",
    "CarbonEmissions",
    "CarbonForecast",
    "CarbonHoldings",
    "CarbonLot",
    "CarbonMoney",
    "CarbonMonth",
    "CarbonPosition",
    "CarbonProcessForecast",
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
    "API_PREFIX",
    "STEP_UP_HEADER",
    "AccountLocked",
    "ActivityRecord",
    "Alarm",
    "AlarmEvent",
    "ApiClient",
    "ApiError",
    "AuditEntry",
    "AuditPage",
    "AuthError",
    "Certificate",
    "ClientError",
    "Conflict",
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
    "ForbiddenError",
    "ImportReport",
    "InvalidInput",
    "LatestValue",
    "Library",
    "LibraryVersion",
    "Lineage",
    "LiveEvent",
    "LiveFeed",
    "LivePoint",
    "Me",
    "MeasurementPoint",
    "NotFound",
    "Offline",
    "Process",
    "ProcessType",
    "RateLimited",
    "Reading",
    "ScopeItem",
    "Series",
    "SeriesBucket",
    "ServerError",
    "Session",
    "Site",
    "Statistics",
    "StatisticsChange",
    "StatisticsCoefficient",
    "StatisticsPart",
    "StatisticsRow",
    "StatisticsScope",
    "StatisticsTotal",
    "StepUpRequired",
    "TotpRequired",
    "User",
]

API_PREFIX = "/api/v1"
STEP_UP_HEADER = "X-CEM-TOTP"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
PAGE_SIZE = 5000  # the largest page the organisation and registry lists give
MAX_LATEST = 1000  # points per /points/latest request
REFRESH_MARGIN = dt.timedelta(seconds=30)  # refresh an access token this long before it expires
# Failures that mean "no (complete) answer from the platform": worth a retry for idempotent requests.
_NETWORK_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ProxyError)

T = TypeVar("T")
ParamValue = str | int | float | bool | None
When = dt.datetime | dt.date | str
AlarmState = Literal["open", "active", "acknowledged", "cleared"]
Interval = Literal["raw", "hour", "day", "month"]
PeriodKind = Literal["hour", "day", "week", "month", "year"]
Dimension = Literal["group", "category", "carrier", "process", "source"]
StatisticsScope = Literal["enterprise", "site", "process", "facility", "source"]
Metric = Literal["emissions", "energy"]
Comparison = Literal["yoy", "pop", "base"]
BenchmarkPeriod = Literal["month", "year"]


class _TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime
    totp_enrolment_required: bool = False


class _StepUp(msgspec.Struct):
    step_up_until: dt.datetime


def _base_url(url: str) -> str:
    """``scheme://host[:port][/prefix]`` without a trailing slash or ``/api/v1``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url {url!r} must be an http:// or https:// address")
    path = parts.path.rstrip("/").removesuffix(API_PREFIX).rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _when(name: str, value: When) -> str:
    """A time or date for a query parameter; datetimes must be timezone-aware."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware (got {value.isoformat()})")
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _decimal_text(value: Decimal | str | int) -> str:
    """An exact decimal as text; floats are refused (binary floats are not exact)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise TypeError(f"give quantities as Decimal, str or int, not {type(value).__name__}")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        return format(value, "f")
    return str(value)


def _path_id(value: str | int) -> str:
    return quote(str(value), safe="")


class ApiClient:
    """The CEM REST API (``base_url`` like ``https://cem.example.com``; ``/api/v1`` is added).

    ``timeout`` is seconds per network operation; ``retries`` how often an idempotent request is repeated;
    ``transport`` an httpx transport (tests). Use as ``async with ApiClient(...) as api`` or call ``aclose()``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: float = 0.2,
        max_backoff: float = 2.0,
        trust_env: bool = True,
        user_agent: str = "cem-clients/1.0",
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.base_url = _base_url(base_url)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.trust_env = trust_env
        self._http = httpx.AsyncClient(
            base_url=self.base_url + API_PREFIX,
            timeout=timeout,
            transport=transport,
            trust_env=trust_env,
            headers={"user-agent": user_agent, "accept": "application/json"},
        )
        self._access_token: str | None = None
        self._refresh_token: str | None = None
        self._access_expires_at: dt.datetime | None = None
        self._refresh_lock = asyncio.Lock()
        # Told after the session's tokens changed (login, each refresh: the platform rotates the refresh token,
        # logout, a session ended), e.g. to keep the new refresh token for "stay logged in". It must not raise.
        self.on_tokens: Callable[[], object] | None = None

    # ---- life cycle ----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (the session stays valid on the platform: see :meth:`logout`)."""
        await self._http.aclose()

    # ---- tokens --------------------------------------------------------------------------------------------------

    @property
    def access_token(self) -> str | None:
        """The bearer token requests carry now (session access token or API token)."""
        return self._access_token

    @property
    def refresh_token(self) -> str | None:
        """The session's refresh token (None for API tokens): an app may keep it to stay logged in."""
        return self._refresh_token

    @property
    def access_expires_at(self) -> dt.datetime | None:
        """When the session's access token expires (None for API tokens or when unknown)."""
        return self._access_expires_at

    @property
    def authenticated(self) -> bool:
        """Whether the client holds a token."""
        return self._access_token is not None

    @property
    def can_refresh(self) -> bool:
        """Whether a refresh token is held."""
        return self._refresh_token is not None

    @property
    def live_url(self) -> str:
        """The address of the live-updates WebSocket (``ws(s)://.../api/v1/live``)."""
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path + API_PREFIX + "/live", "", ""))

    def use_token(self, token: str) -> None:
        """Authenticate with an API token (e.g. the wallboard's display-only token): no refresh, no logout."""
        if not token.strip():
            raise ValueError("the token is empty")
        self._access_token, self._refresh_token, self._access_expires_at = token.strip(), None, None

    def use_refresh_token(self, refresh_token: str) -> None:
        """Resume a session from a kept refresh token; the next request (or :meth:`refresh`) renews it."""
        if not refresh_token.strip():
            raise ValueError("the refresh token is empty")
        self._access_token, self._refresh_token, self._access_expires_at = None, refresh_token.strip(), None

    def _store(self, pair: _TokenPair) -> Session:
        self._access_token, self._refresh_token = pair.access_token, pair.refresh_token
        self._access_expires_at = pair.access_expires_at
        self._tokens_changed()
        return Session(
            access_expires_at=pair.access_expires_at,
            refresh_expires_at=pair.refresh_expires_at,
            totp_enrolment_required=pair.totp_enrolment_required,
        )

    def _forget(self) -> None:
        self._access_token = self._refresh_token = self._access_expires_at = None
        self._tokens_changed()

    def _tokens_changed(self) -> None:
        if self.on_tokens is not None:
            self.on_tokens()

    # ---- identity ------------------------------------------------------------------------------------------------

    async def login(self, username: str, password: str, totp: str | None = None) -> Session:
        """Log in (``totp``: the authenticator code, for accounts that have one; else :class:`TotpRequired`)."""
        body: dict[str, Any] = {"username": username, "password": password}
        if totp:
            body["totp"] = totp.strip()
        response = await self._request("POST", "/auth/login", body=body, auth=False)
        return self._store(self._decode(response, _TokenPair))

    async def refresh(self) -> Session:
        """Exchange the refresh token for a new token pair (done automatically when needed)."""
        async with self._refresh_lock:
            return await self._refresh_locked()

    async def _refresh_locked(self) -> Session:
        token = self._refresh_token
        if token is None:
            raise AuthError(401, "not_authenticated", "there is no session to refresh", "Log in again.")
        try:
            response = await self._request("POST", "/auth/refresh", body={"refresh_token": token}, auth=False)
        except AuthError:
            self._forget()  # the session is over
            raise
        return self._store(self._decode(response, _TokenPair))

    async def _refresh_after(self, stale: str | None) -> None:
        """Refresh unless another task already replaced ``stale`` (one refresh for many concurrent requests)."""
        async with self._refresh_lock:
            if self._access_token == stale or self._access_token is None:
                await self._refresh_locked()

    async def ensure_fresh_token(self, margin: dt.timedelta = REFRESH_MARGIN) -> str | None:
        """The current token, refreshed first when the session's access token expires within ``margin``."""
        expires = self._access_expires_at
        if self._refresh_token is not None and (
            self._access_token is None or (expires is not None and expires - margin <= dt.datetime.now(dt.UTC))
        ):
            await self._refresh_after(self._access_token)
        return self._access_token

    async def logout(self) -> None:
        """End the session on the platform and forget the tokens (an API token is only forgotten). The tokens
        are forgotten even when the platform cannot be reached (:class:`Offline` is raised then)."""
        if self._access_token is None or self._refresh_token is None:
            self._forget()
            return
        try:
            await self._request("POST", "/auth/logout", refresh=False)
        except AuthError:
            pass  # already over
        finally:
            self._forget()

    async def me(self) -> Me:
        """Who the client is: user or token, role, permissions, scope."""
        return self._decode(await self._request("GET", "/auth/me"), Me)

    async def step_up(self, totp: str) -> dt.datetime:
        """Confirm control operations for the next few minutes with an authenticator code; until when."""
        response = await self._request("POST", "/auth/step-up", body={"totp": totp.strip()})
        return self._decode(response, _StepUp).step_up_until

    async def users(self) -> list[User]:
        """Users within the caller's enterprises (users.read)."""
        return self._decode(await self._request("GET", "/users/"), list[User])

    async def user(self, user_id: int) -> User:
        """One user."""
        return self._decode(await self._request("GET", f"/users/{user_id}"), User)

    async def audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        enterprise_id: int | None = None,
        outcome: str | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> AuditPage:
        """Search the audit log, newest first (``action`` is a prefix, e.g. ``"users."``)."""
        params: dict[str, ParamValue] = {
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "enterprise_id": enterprise_id,
            "outcome": outcome,
            "from": _when("start", start) if start is not None else None,
            "to": _when("end", end) if end is not None else None,
            "limit": limit,
            "offset": offset,
        }
        return self._decode(await self._request("GET", "/audit/", params=params), AuditPage)

    # ---- organisation --------------------------------------------------------------------------------------------

    async def enterprises(self, *, active: bool | None = None) -> list[Enterprise]:
        """The enterprises the caller may see."""
        return await self._pages("/org/enterprises/", list[Enterprise], {"active": active})

    async def enterprise(self, enterprise_id: int) -> Enterprise:
        """One enterprise."""
        return self._decode(await self._request("GET", f"/org/enterprises/{enterprise_id}"), Enterprise)

    async def sites(self, enterprise_id: int | None = None, *, active: bool | None = None) -> list[Site]:
        """Sites (of one enterprise)."""
        return await self._pages("/org/sites/", list[Site], {"parent_id": enterprise_id, "active": active})

    async def processes(
        self, enterprise_id: int | None = None, *, site_id: int | None = None, active: bool | None = None
    ) -> list[Process]:
        """Processes of an enterprise, of a site, or all the caller may see."""
        processes = await self._pages("/org/processes/", list[Process], {"parent_id": site_id, "active": active})
        if enterprise_id is not None and site_id is None:
            site_ids = {site.id for site in await self.sites(enterprise_id)}
            processes = [p for p in processes if p.site_id in site_ids]
        return processes

    async def process_types(self) -> list[ProcessType]:
        """The process dictionary, in the plant's route order (its ``sort_order``, then code)."""
        types = await self._pages("/org/process-types/", list[ProcessType], {})
        return sorted(types, key=lambda t: (t.sort_order, t.code))

    async def facilities(self, process_id: int | None = None, *, active: bool | None = None) -> list[Facility]:
        """Facilities (of one process)."""
        return await self._pages("/org/facilities/", list[Facility], {"parent_id": process_id, "active": active})

    async def points(
        self, *, facility_id: int | None = None, enterprise_id: int | None = None, active: bool | None = None
    ) -> list[MeasurementPoint]:
        """Measurement points, of a facility or an enterprise, or all the caller may see."""
        points = await self._pages("/org/points/", list[MeasurementPoint], {"parent_id": facility_id, "active": active})
        if enterprise_id is not None:
            points = [p for p in points if p.enterprise_id == enterprise_id]
        return points

    # ---- point data ----------------------------------------------------------------------------------------------

    async def latest(self, ids: Iterable[int] = (), *, codes: Iterable[str] = ()) -> list[LatestValue]:
        """The newest reading of each point asked for by id and/or code (any number; sent 1,000 at a time).

        A point that does not exist or is outside the caller's scope fails the call (:class:`NotFound`)."""
        wanted: list[tuple[str, str]] = [("ids", str(int(i))) for i in ids] + [("codes", str(c)) for c in codes]
        if not wanted:
            return []
        out: list[LatestValue] = []
        for first in range(0, len(wanted), MAX_LATEST):
            chunk = wanted[first : first + MAX_LATEST]
            params = {
                name: ",".join(value for kind, value in chunk if kind == name) or None for name in ("ids", "codes")
            }
            page = self._decode(await self._request("GET", "/points/latest", params=params), _LatestPage)
            out.extend(page.points)
        return out

    async def series(
        self,
        point_id: int,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        interval: Interval = "hour",
    ) -> Series:
        """A point's series over [start, end): buckets (hour, day, month) or raw readings (``interval="raw"``).

        Without ``start``/``end`` the platform takes the last hour (raw), day (hour), 31 days or 366 days."""
        params: dict[str, ParamValue] = {
            "interval": interval,
            "from": _when("start", start) if start is not None else None,
            "to": _when("end", end) if end is not None else None,
        }
        return self._decode(await self._request("GET", f"/points/{point_id}/series", params=params), Series)

    async def ingest_status(self) -> list[DeviceStatus]:
        """The last status (heartbeat or last will) of every terminal in the caller's scope."""
        return self._decode(await self._request("GET", "/ingest/status"), list[DeviceStatus])

    # ---- alarms --------------------------------------------------------------------------------------------------

    async def alarms(
        self,
        state: AlarmState | None = None,
        *,
        kind: str | None = None,
        severity: str | None = None,
        enterprise_id: int | None = None,
        device_id: str | None = None,
        subject_type: str | None = None,
        subject_id: str | None = None,
        site_id: int | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Alarm]:
        """Alarms newest first (``state="open"``: active or acknowledged); at most ``limit`` (1..1000). ``site_id``:
        about a terminal or a point of that site; ``since`` / ``until``: raised at or after / before (aware)."""
        params: dict[str, ParamValue] = {
            "state": state,
            "kind": kind,
            "severity": severity,
            "enterprise_id": enterprise_id,
            "device_id": device_id,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "site_id": site_id,
            "from": _when("since", since) if since is not None else None,
            "to": _when("until", until) if until is not None else None,
            "limit": limit,
            "offset": offset,
        }
        return self._decode(await self._request("GET", "/alarms/", params=params), list[Alarm])

    async def alarm(self, alarm_id: int) -> Alarm:
        """One alarm with its history (``events``)."""
        return self._decode(await self._request("GET", f"/alarms/{alarm_id}"), Alarm)

    async def acknowledge(self, alarm_id: int, note: str = "") -> Alarm:
        """Say someone takes care of the alarm (a cleared alarm cannot be: :class:`Conflict`)."""
        response = await self._request("POST", f"/alarms/{alarm_id}/acknowledge", body={"note": note})
        return self._decode(response, Alarm)

    async def clear(self, alarm_id: int, note: str) -> Alarm:
        """Close the alarm by hand, saying why (the note is required)."""
        response = await self._request("POST", f"/alarms/{alarm_id}/clear", body={"note": note})
        return self._decode(response, Alarm)

    # ---- devices -------------------------------------------------------------------------------------------------

    async def devices(
        self,
        *,
        site_id: int | None = None,
        process_id: int | None = None,
        state: str | None = None,
        device_type: str | None = None,
        q: str = "",
        with_status: bool = True,
    ) -> list[Device]:
        """Devices in the caller's scope with state and health; with their last status (buffer depth) unless
        ``with_status`` is false."""
        params: dict[str, ParamValue] = {
            "site_id": site_id,
            "process_id": process_id,
            "state": state,
            "type": device_type,
            "q": q or None,
        }
        if not with_status:
            return await self._pages("/registry/devices", list[Device], params)
        statuses = asyncio.create_task(self._statuses())  # at the same time as the list
        try:
            devices = await self._pages("/registry/devices", list[Device], params)
        except BaseException:
            statuses.cancel()
            await asyncio.gather(statuses, return_exceptions=True)
            raise
        by_device = await statuses
        return [msgspec.structs.replace(d, status=by_device.get(d.id)) for d in devices]

    async def _statuses(self) -> dict[str, DeviceStatus]:
        try:
            return {s.device_id: s for s in await self.ingest_status()}
        except ForbiddenError:
            return {}

    async def device(self, device_id: str, *, with_status: bool = True) -> Device:
        """A device with its certificate history (newest first) and, unless told not to, its last status."""
        response = await self._request("GET", f"/registry/devices/{_path_id(device_id)}")
        device = self._decode(response, Device)
        if with_status:
            status = (await self._statuses()).get(device.id)
            device = msgspec.structs.replace(device, status=status)
        return device

    async def register_device(
        self,
        serial: str,
        *,
        enterprise_id: int | None = None,
        site_id: int | None = None,
        process_id: int | None = None,
        facility_id: int | None = None,
        name: str = "",
        model: str = "",
        firmware: str = "",
        device_type: str = "gateway",
    ) -> Device:
        """Register a terminal by its hardware serial (or get the device that has it), placed in an enterprise
        or a site, process or facility of one. Next: :meth:`create_enrolment_token`."""
        body: dict[str, Any] = {
            "serial": serial,
            "type": device_type,
            "name": name,
            "model": model,
            "firmware": firmware,
            "enterprise_id": enterprise_id,
            "site_id": site_id,
            "process_id": process_id,
            "facility_id": facility_id,
        }
        return self._decode(await self._request("POST", "/registry/devices", body=body), Device)

    async def create_enrolment_token(self, device_id: str, totp: str | None = None) -> EnrolmentToken:
        """A one-time token (and QR code) for the terminal to enrol itself with ``cem gateway enroll``; older
        unused tokens stop working. Re-enrolling a device that holds a valid certificate needs step-up
        (``totp``)."""
        response = await self._request(
            "POST", f"/registry/devices/{_path_id(device_id)}/enrolment-tokens", headers=self._step_up(totp)
        )
        return self._decode(response, EnrolmentToken)

    async def suspend_device(self, device_id: str, totp: str | None, reason: str) -> ControlResult:
        """Put the certificate on hold; the broker refuses the device until resumed (step-up; reason >= 3
        characters, kept in the audit log)."""
        return await self._control(device_id, "suspend", {"reason": reason}, totp)

    async def resume_device(self, device_id: str, totp: str | None, reason: str) -> ControlResult:
        """Lift a suspension (step-up)."""
        return await self._control(device_id, "resume", {"reason": reason}, totp)

    async def revoke_device(
        self, device_id: str, totp: str | None, reason: str, revocation_reason: str = "unspecified"
    ) -> ControlResult:
        """Revoke the device's certificates for good (step-up). ``revocation_reason``: unspecified,
        key_compromise, affiliation_changed, superseded, cessation_of_operation."""
        return await self._control(
            device_id, "revoke", {"reason": reason, "revocation_reason": revocation_reason}, totp
        )

    async def retire_device(self, device_id: str, totp: str | None, reason: str) -> ControlResult:
        """Take the device out of service for good; its serial stays reserved (step-up)."""
        return await self._control(device_id, "retire", {"reason": reason}, totp)

    async def _control(self, device_id: str, action: str, body: dict[str, str], totp: str | None) -> ControlResult:
        response = await self._request(
            "POST", f"/registry/devices/{_path_id(device_id)}/{action}", body=body, headers=self._step_up(totp)
        )
        return self._decode(response, ControlResult)

    @staticmethod
    def _step_up(totp: str | None) -> dict[str, str]:
        return {STEP_UP_HEADER: totp.strip()} if totp else {}

    # ---- accounting ----------------------------------------------------------------------------------------------

    async def emissions(
        self, scope: Literal["enterprise", "process"], scope_id: int, period: PeriodKind, start: When, end: When
    ) -> Emissions:
        """Emissions of an enterprise or process per period over [start, end) (``"2024-01-01"``,
        ``"2024-03"``, dates or aware datetimes), with the result id explaining each period."""
        params: dict[str, ParamValue] = {
            "scope": scope,
            "id": scope_id,
            "period": period,
            "from": _when("start", start),
            "to": _when("end", end),
        }
        return self._decode(await self._request("GET", "/emissions/", params=params), Emissions)

    async def statistics(
        self,
        scope: StatisticsScope,
        scope_id: int,
        period: PeriodKind,
        start: When,
        end: When | None = None,
        *,
        dimension: Dimension | None = None,
        compare: Sequence[Comparison] = (),
        base: When | None = None,
        metric: Metric = "emissions",
        electricity: Literal["equivalent", "equal_value"] = "equivalent",
    ) -> Statistics:
        """Emission (tCO2) or energy (tce) statistics of the enterprise, a site, a process, a facility (its sources)
        or one source over [start, end) (without ``end``: the one period holding ``start``): totals, structure by
        ``dimension`` (emissions: group, category, process for the enterprise or a site, source for a facility;
        energy: carrier, process or source; None: the metric's default), intensity (per t, and per 10^4 CNY of the
        enterprise's output value where it is entered) and the comparisons asked for (``base``: a date in the
        fixed-base period, needed with ``"base"``); energy's electricity by the equivalent or the equal value."""
        params: dict[str, ParamValue] = {
            "metric": metric,
            "scope": scope,
            "id": scope_id,
            "period": period,
            "from": _when("start", start),
        }
        if dimension is not None:
            params["dimension"] = dimension
        if metric == "energy":
            params["electricity"] = electricity
        if end is not None:
            params["to"] = _when("end", end)
        if compare:
            params["compare"] = ",".join(compare)
        if base is not None:
            params["base"] = _when("base", base)
        return self._decode(await self._request("GET", "/statistics/", params=params), Statistics)

    # ---- benchmarking ----------------------------------------------------------------------------------------------

    async def benchmark_gap(
        self,
        scope: Literal["enterprise", "process"],
        scope_id: int,
        period: BenchmarkPeriod,
        start: str,
        end: str | None = None,
        *,
        indicator: str | None = None,
    ) -> GapAnalysis:
        """The gap analysis of an enterprise's processes and of the enterprise (or of one process) for the months
        (``"2026-01"``) or years (``"2026"``) ``start`` to ``end`` (included; default: ``start``) against every
        benchmark, limit and target that applies: the level reached, the gaps, a limit's breach, the corrections
        applied and missing, the trend. ``indicator``: one of them (``process_energy``, ``co2_intensity``)."""
        params: dict[str, ParamValue] = {"scope": scope, "id": scope_id, "period": period, "from": start, "to": end}
        params["indicator"] = indicator
        return self._decode(await self._request("GET", "/benchmarking/gap", params=params), GapAnalysis)

    async def benchmark_potential(
        self,
        enterprise_id: int,
        period: BenchmarkPeriod,
        start: str,
        end: str | None = None,
        *,
        reference: str | None = None,
    ) -> Potential:
        """The reduction potential of each process, (actual - reference) x output in tce and tCO2, summed to the
        enterprise; ``reference`` a level (``1``, ``benchmark``, ``target``) or ``ENTRY:LEVEL`` (default: the
        strictest best level of the national limits and benchmarks)."""
        params: dict[str, ParamValue] = {
            "enterprise_id": enterprise_id, "period": period, "from": start, "to": end, "reference": reference,
        }  # fmt: skip
        return self._decode(await self._request("GET", "/benchmarking/potential", params=params), Potential)

    async def scenarios(self, enterprise_id: int | None = None) -> list[Scenario]:
        """The reduction scenarios of an enterprise (of every one in the caller's scope without it), by enterprise and
        name (:class:`NotFound` from a platform that has none yet)."""
        params: dict[str, ParamValue] = {"enterprise_id": enterprise_id}
        return self._decode(await self._request("GET", "/benchmarking/scenarios", params=params), list[Scenario])

    async def scenario_result(self, scenario_id: int) -> ScenarioResult:
        """A scenario's projected emissions per process and of the enterprise, and its MAC curve."""
        path = f"/benchmarking/scenarios/{_path_id(scenario_id)}/result"
        return self._decode(await self._request("GET", path), ScenarioResult)

    # ---- carbon assets ---------------------------------------------------------------------------------------------

    async def carbon_holdings(self, enterprise_id: int, year: int) -> CarbonHoldings:
        """Allowances and offsets held for a compliance year, and their value at the latest prices."""
        params: dict[str, ParamValue] = {"enterprise_id": enterprise_id, "year": year}
        return self._decode(await self._request("GET", "/carbon-assets/holdings", params=params), CarbonHoldings)

    async def carbon_transactions(self, enterprise_id: int, year: int) -> list[CarbonTransaction]:
        """Every ledger entry of a compliance year in order, corrected ones too (``counts`` False)."""
        params: dict[str, ParamValue] = {"enterprise_id": enterprise_id, "year": year}
        response = await self._request("GET", "/carbon-assets/transactions", params=params)
        return self._decode(response, list[CarbonTransaction])

    async def add_carbon_transaction(self, enterprise_id: int, body: Mapping[str, Any]) -> CarbonTransaction:
        """Append a ledger entry or a correction (``corrects``: the id of the entry corrected; ``void``: cancel it).
        The platform refuses (and writes nothing) a sale or surrender beyond the holding, a negative quantity or
        price, an offset whose type or vintage the year's rule does not accept."""
        payload = {**body, "enterprise_id": enterprise_id}
        response = await self._request("POST", "/carbon-assets/transactions", body=payload)
        return self._decode(response, CarbonTransaction)

    async def carbon_asset_trend(self, enterprise_id: int, year: int) -> list[CarbonAssetMonth]:
        """A compliance year's holdings at each month end and their value at the prices of then."""
        params: dict[str, ParamValue] = {"enterprise_id": enterprise_id, "year": year}
        response = await self._request("GET", "/carbon-assets/holdings/trend", params=params)
        return self._decode(response, list[CarbonAssetMonth])

    async def carbon_emissions(self, enterprise_id: int, year: int, *, processes: bool = False) -> CarbonEmissions:
        """A compliance year's kept months (ETS scope) and the forecasts of the rest; with ``processes``, each
        process's emissions and output forecast with its year-end intensity."""
        params: dict[str, ParamValue] = {"enterprise_id": enterprise_id, "year": year}
        if processes:
            params["processes"] = "true"
        response = await self._request("GET", "/carbon-assets/emissions", params=params)
        return self._decode(response, CarbonEmissions)

    async def carbon_trial(self, enterprise_id: int, year: int) -> CarbonTrial:
        """The trial calculation (试算) of a compliance year now, with the year's emissions and their forecast."""
        params: dict[str, ParamValue] = {"enterprise_id": enterprise_id, "year": year}
        return self._decode(await self._request("GET", "/carbon-assets/trial", params=params), CarbonTrial)

    async def lineage(self, result_id: int) -> Lineage:
        """What a result was computed from (inputs, parameters, formulas, versions)."""
        return self._decode(await self._request("GET", f"/emissions/{result_id}/lineage"), Lineage)

    async def annual_report(self, enterprise_id: int, year: int, lang: Literal["zh", "en"] = "zh") -> bytes:
        """The year's report per GB/T 32151.5 as an XLSX file."""
        params: dict[str, ParamValue] = {"enterprise_id": enterprise_id, "year": year, "lang": lang}
        response = await self._request(
            "GET", "/emissions/report", params=params, headers={"accept": "application/octet-stream, */*"}
        )
        return response.content

    async def sources(self, enterprise_id: int) -> list[EmissionSource]:
        """The emission-source inventory (and production outputs) of an enterprise."""
        response = await self._request("GET", "/accounting/sources", params={"enterprise_id": enterprise_id})
        return self._decode(response, list[EmissionSource])

    async def enterable_inputs(self, enterprise_id: int) -> list[EnterableInput]:
        """The inputs the caller may enter by hand: field staff those read by hand or metered at their sites,
        accountants every input of the enterprise's active sources."""
        response = await self._request("GET", "/accounting/activity/inputs", params={"enterprise_id": enterprise_id})
        return self._decode(response, list[EnterableInput])

    async def create_source(
        self,
        enterprise_id: int,
        *,
        code: str,
        name: str,
        category: str,
        inputs: Mapping[str, Mapping[str, Any]],
        item: str = "",
        process_id: int | None = None,
        facility_id: int | None = None,
        overrides: Mapping[str, Any] | None = None,
        grid_kind: str | None = None,
        grid_region: str | None = None,
        note: str = "",
        direction: str | None = None,
        from_process_id: int | None = None,
    ) -> EmissionSource:
        """Add a source: ``inputs`` maps each activity input to its origin and unit, e.g.
        ``{"AD": {"origin": "manual", "unit": "t"}}``, or for a transfer from a maker (``direction`` "transfer",
        ``from_process_id``) a share of the maker's balance, ``{"origin": "balance", "unit": "10^4 Nm3",
        "share": "0.25"}``."""
        body: dict[str, Any] = {
            "enterprise_id": enterprise_id,
            "code": code,
            "name": name,
            "category": category,
            "item": item,
            "process_id": process_id,
            "facility_id": facility_id,
            "inputs": dict(inputs),
            "overrides": dict(overrides or {}),
            "note": note,
        }
        if grid_kind is not None:
            body["grid_kind"] = grid_kind
        if grid_region is not None:
            body["grid_region"] = grid_region
        if direction is not None:
            body["direction"] = direction
        if from_process_id is not None:
            body["from_process_id"] = from_process_id
        return self._decode(await self._request("POST", "/accounting/sources", body=body), EmissionSource)

    async def activity(
        self,
        enterprise_id: int,
        *,
        source_id: int | None = None,
        start: When | None = None,
        end: When | None = None,
        include_superseded: bool = False,
        limit: int = 500,
        offset: int = 0,
    ) -> list[ActivityRecord]:
        """Activity records of an enterprise, newest period first."""
        params: dict[str, ParamValue] = {
            "enterprise_id": enterprise_id,
            "source_id": source_id,
            "from": _when("start", start) if start is not None else None,
            "to": _when("end", end) if end is not None else None,
            "include_superseded": include_superseded,
            "limit": limit,
            "offset": offset,
        }
        return self._decode(await self._request("GET", "/accounting/activity", params=params), list[ActivityRecord])

    async def enter_activity(
        self,
        source_id: int,
        input_name: str,
        value: Decimal | str | int,
        unit: str,
        *,
        month: str | None = None,
        first_day: dt.date | None = None,
        last_day: dt.date | None = None,
        estimated: bool = False,
        note: str = "",
        evidence_id: int | None = None,
    ) -> ActivityRecord:
        """Enter one value of an input for a ``month`` ("YYYY-MM") or the local days ``first_day`` ..
        ``last_day`` (inclusive); the same period again corrects it. Values are exact: Decimal, str or int."""
        body: dict[str, Any] = {
            "source_id": source_id,
            "input": input_name,
            "value": _decimal_text(value),
            "unit": unit,
            "estimated": estimated,
            "note": note,
        }
        if month is not None:
            body["month"] = month
        if first_day is not None:
            body["from"] = first_day.isoformat()
        if last_day is not None:
            body["to"] = last_day.isoformat()
        if evidence_id is not None:
            body["evidence_id"] = evidence_id
        return self._decode(await self._request("POST", "/accounting/activity", body=body), ActivityRecord)

    async def upload_evidence(
        self, enterprise_id: int, filename: str, content: bytes, content_type: str | None = None
    ) -> Evidence:
        """Store an evidence file (weighbridge ticket, invoice ...) to refer to from manual entries."""
        response = await self._request(
            "POST",
            "/accounting/evidence",
            params={"enterprise_id": enterprise_id, "filename": filename},
            content=content,
            content_type=content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream",
        )
        return self._decode(response, Evidence)

    async def upload_ledger(self, enterprise_id: int, filename: str, content: bytes) -> ImportReport:
        """Upload a ledger (CSV or XLSX) for row-by-row validation; nothing is written until
        :meth:`confirm_import`."""
        response = await self._request(
            "POST",
            "/accounting/imports",
            params={"enterprise_id": enterprise_id, "filename": filename},
            content=content,
            content_type=mimetypes.guess_type(filename)[0] or "application/octet-stream",
        )
        return self._decode(response, ImportReport)

    async def import_report(self, import_id: int) -> ImportReport:
        """A ledger upload with its report and status."""
        return self._decode(await self._request("GET", f"/accounting/imports/{import_id}"), ImportReport)

    async def confirm_import(self, import_id: int) -> ImportReport:
        """Write the ledger's valid rows (all in one transaction)."""
        response = await self._request("POST", f"/accounting/imports/{import_id}/confirm")
        return self._decode(response, ImportReport)

    async def discard_import(self, import_id: int) -> ImportReport:
        """Drop a ledger upload."""
        response = await self._request("POST", f"/accounting/imports/{import_id}/discard")
        return self._decode(response, ImportReport)

    async def library(self) -> list[Library]:
        """The accounting libraries (methodology editions, grid factors) with their newest versions."""
        return self._decode(await self._request("GET", "/accounting/library"), list[Library])

    async def library_versions(self, library: str) -> list[LibraryVersion]:
        """Every version of a library, newest first, with author, reason and diff."""
        response = await self._request("GET", "/accounting/library/versions", params={"library": library})
        return self._decode(response, list[LibraryVersion])

    # ---- transport -----------------------------------------------------------------------------------------------

    # ---- system parameters ---------------------------------------------------------------------------------

    async def system_parameters(self) -> list[SystemParameter]:
        """Every system parameter with its bounds, current value and who changed it last (system.read)."""
        return self._decode(await self._request("GET", "/system/parameters/"), list[SystemParameter])

    async def set_system_parameter(self, key: str, value: Any, totp: str | None = None) -> ParameterChanged:
        """Change one parameter (validated and audited by the platform; a control operation: step-up)."""
        response = await self._request(
            "PUT", f"/system/parameters/{_path(key)}", body={"value": value}, headers=self._step_up(totp)
        )
        return self._decode(response, ParameterChanged)

    # ---- users ---------------------------------------------------------------------------------------------

    async def create_user(
        self,
        username: str,
        password: str,
        role: str,
        *,
        display_name: str = "",
        email: str = "",
        locale: str = "zh-CN",
        all_enterprises: bool = False,
        scopes: Iterable[ScopeItem] = (),
        totp: str | None = None,
    ) -> User:
        """Create a user with a role and a scope (enterprises, or sites of them; step-up)."""
        body: dict[str, Any] = {
            "username": username,
            "password": password,
            "role": role,
            "display_name": display_name,
            "email": email,
            "locale": locale,
            "all_enterprises": all_enterprises,
            "scopes": [_scope(s) for s in scopes],
        }
        response = await self._request("POST", "/users/", body=body, headers=self._step_up(totp))
        return self._decode(response, User)

    async def update_user(self, user_id: int, changes: Mapping[str, Any], totp: str | None = None) -> User:
        """Change a user: any of display_name, email, role, locale, active, all_enterprises, scopes (a list of
        :class:`ScopeItem`), password (step-up)."""
        body = {k: ([_scope(s) for s in v] if k == "scopes" else v) for k, v in changes.items()}
        response = await self._request("PATCH", f"/users/{user_id}", body=body, headers=self._step_up(totp))
        return self._decode(response, User)

    # ---- measurement points --------------------------------------------------------------------------------

    async def create_point(
        self,
        facility_id: int,
        *,
        code: str,
        name: str,
        medium: str,
        quantity: str,
        unit: str,
        kind: str,
        meter_model: str = "",
        meter_serial: str = "",
        accuracy_class: str | None = None,
        calibrated_on: dt.date | None = None,
        calibration_due: dt.date | None = None,
        active: bool = True,
    ) -> MeasurementPoint:
        """Add a measurement point and its meter to a facility (points.write)."""
        body: dict[str, Any] = {
            "facility_id": facility_id,
            "code": code,
            "name": name,
            "medium": medium,
            "quantity": quantity,
            "unit": unit,
            "kind": kind,
            "meter_model": meter_model,
            "meter_serial": meter_serial,
            "accuracy_class": accuracy_class,
            "calibrated_on": calibrated_on,
            "calibration_due": calibration_due,
            "active": active,
        }
        return self._decode(await self._request("POST", "/org/points/", body=body), MeasurementPoint)

    async def update_point(self, point_id: int, changes: Mapping[str, Any]) -> MeasurementPoint:
        """Change a point: any of code, name, medium, quantity and unit (together), kind, meter_model,
        meter_serial, accuracy_class, calibrated_on, calibration_due, active (points.write)."""
        response = await self._request("PATCH", f"/org/points/{point_id}", body=dict(changes))
        return self._decode(response, MeasurementPoint)

    # ---- accounting ----------------------------------------------------------------------------------------

    async def source_categories(self) -> dict[str, CategorySpec]:
        """Each source category (and ``output``) with its activity inputs and their units, and the known items."""
        response = await self._request("GET", "/accounting/source-categories")
        return self._decode(response, dict[str, CategorySpec])

    async def units(self) -> list[UnitInfo]:
        """The platform's unit table: each unit's dimension and aliases (units of one dimension convert)."""
        response = await self._request("GET", "/accounting/units")
        return self._decode(response, list[UnitInfo])

    async def library_parameters(self, library: str, version: int | None = None) -> LibraryParameters:
        """Every parameter of one version of a library (the newest when ``version`` is None)."""
        params: dict[str, str | int | None] = {"library": library, "version": version}
        response = await self._request("GET", "/accounting/library/parameters", params=params)
        return self._decode(response, LibraryParameters)

    async def library_formulas(self, version: int | None = None) -> LibraryFormulas:
        """The accounting formulas of one version of the formula library (the newest when ``version`` is None)."""
        response = await self._request("GET", "/accounting/library/formulas", params={"version": version})
        return self._decode(response, LibraryFormulas)

    async def change_library(
        self, library: str, reason: str, changes: Iterable[Mapping[str, Any]], totp: str | None = None
    ) -> LibraryVersion:
        """Make a new version of a library: each change sets a parameter (code, value as a decimal string, unit,
        source, confidence, valid_from, valid_until) or removes it (``remove``); step-up."""
        body = {"library": library, "reason": reason, "changes": [dict(c) for c in changes]}
        response = await self._request("POST", "/accounting/library/versions", body=body, headers=self._step_up(totp))
        return self._decode(response, LibraryVersion)

    async def change_formula(
        self,
        code: str,
        expression: str,
        reason: str,
        test_inputs: Mapping[str, str],
        expected: str,
        totp: str | None = None,
    ) -> LibraryVersion:
        """Make a new version of the formula library with formula ``code``'s new ``expression``; the platform checks it
        with its safe parser and the test case (``test_inputs``: input name -> decimal string in the input's unit;
        ``expected``: the result, compared to the decimals written); step-up."""
        body = {
            "code": code,
            "expression": expression,
            "reason": reason,
            "test_case": {"inputs": dict(test_inputs), "expected": expected},
        }
        response = await self._request("POST", "/accounting/library/formulas", body=body, headers=self._step_up(totp))
        return self._decode(response, LibraryVersion)

    async def annual_report_file(self, enterprise_id: int, year: int, lang: Literal["zh", "en"] = "zh") -> ReportFile:
        """The year's report (XLSX) with the file name the platform suggests."""
        params: dict[str, str | int | None] = {"enterprise_id": enterprise_id, "year": year, "lang": lang}
        response = await self._request(
            "GET", "/emissions/report", params=params, headers={"accept": "application/octet-stream, */*"}
        )
        found = _FILENAME.search(response.headers.get("content-disposition", ""))
        filename = found.group(1) if found else f"ghg-report-{enterprise_id}-{year}.xlsx"
        return ReportFile(
            content=response.content, filename=filename, content_type=response.headers.get("content-type", "")
        )

    # ---- reporting states ----------------------------------------------------------------------------------------

    async def reporting_year(self, enterprise_id: int, year: int) -> ReportingYear:
        """Where an enterprise's year stands: draft, submitted, verified or locked, with the reported and verified
        figures, what accounting it now would change, the verifier and the history (a verifier reads only the
        years assigned to it: :class:`ForbiddenError` for the others)."""
        params: dict[str, ParamValue] = {"enterprise_id": enterprise_id, "year": year}
        return self._decode(await self._request("GET", "/accounting/reporting", params=params), ReportingYear)

    async def submit_year(self, enterprise_id: int, year: int, reason: str = "") -> ReportingYear:
        """Submit a draft year's kept, final result: its figures, versions and inputs are kept from now on."""
        return await self._reporting("POST", "submit", {"enterprise_id": enterprise_id, "year": year, "reason": reason})

    async def assign_verifier(self, enterprise_id: int, year: int, verifier: str) -> ReportingYear:
        """Name the year's third-party verifier (the username of a user with the verifier role)."""
        body = {"enterprise_id": enterprise_id, "year": year, "verifier": verifier}
        return await self._reporting("PUT", "verifier", body)

    async def verify_year(
        self, enterprise_id: int, year: int, net: Decimal | str | int, direct: Decimal | str | int, findings: str = ""
    ) -> ReportingYear:
        """The assigned verifier records the verified figures (tCO2, exact) and findings of a submitted year."""
        body = {
            "enterprise_id": enterprise_id,
            "year": year,
            "net": _decimal_text(net),
            "direct": _decimal_text(direct),
            "findings": findings,
        }
        return await self._reporting("POST", "verify", body)

    async def lock_year(self, enterprise_id: int, year: int) -> ReportingYear:
        """Close a verified year."""
        return await self._reporting("POST", "lock", {"enterprise_id": enterprise_id, "year": year})

    async def new_draft(self, enterprise_id: int, year: int, reason: str) -> ReportingYear:
        """A submitted or verified year becomes a new draft, accounted again from its current inputs (a reason)."""
        return await self._reporting("POST", "draft", {"enterprise_id": enterprise_id, "year": year, "reason": reason})

    async def reopen_year(self, enterprise_id: int, year: int, reason: str, totp: str | None = None) -> ReportingYear:
        """A locked year becomes a new draft: a reason, and step-up (``totp``, else :class:`StepUpRequired`)."""
        body = {"enterprise_id": enterprise_id, "year": year, "reason": reason}
        return await self._reporting("POST", "reopen", body, totp)

    async def _reporting(
        self, method: str, action: str, body: Mapping[str, Any], totp: str | None = None
    ) -> ReportingYear:
        response = await self._request(
            method, f"/accounting/reporting/{action}", body=dict(body), headers=self._step_up(totp)
        )
        return self._decode(response, ReportingYear)

    async def source_results(
        self,
        enterprise_id: int,
        period: PeriodKind,
        start: When,
        end: When | None = None,
        *,
        source: str | None = None,
    ) -> list[SourceResult]:
        """Each source's emission per period over [start, end) (one period when ``end`` is None), from the kept
        results; ``source`` one source's code. At most 62 periods per call."""
        params: dict[str, ParamValue] = {
            "enterprise_id": enterprise_id,
            "period": period,
            "from": _when("start", start),
            "to": _when("end", end) if end is not None else None,
            "source": source,
        }
        response = await self._request("GET", "/accounting/reporting/sources", params=params)
        return self._decode(response, list[SourceResult])

    async def _pages(self, path: str, list_type: type[list[T]], params: Mapping[str, ParamValue]) -> list[T]:
        """Every item of a paged list (limit/offset), page by page."""
        out: list[T] = []
        while True:
            page_params = {**params, "limit": PAGE_SIZE, "offset": len(out)}
            page = self._decode(await self._request("GET", path, params=page_params), list_type)
            out.extend(page)
            if len(page) < PAGE_SIZE:
                return out

    def _decode(self, response: httpx.Response, type_: type[T]) -> T:
        try:
            return msgspec.json.decode(response.content, type=type_)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            raise ApiError(
                response.status_code,
                "unexpected_response",
                f"the platform's answer to {response.request.method} {response.request.url.path} "
                f"was not understood ({err})",
                "The app may be older than the platform: update it.",
                response.headers.get("x-request-id", ""),
            ) from err

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, ParamValue] | None = None,
        body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        refresh: bool = True,
    ) -> httpx.Response:
        """Send a request (with the token, refreshed when needed); the answer, or the matching ApiError."""
        send_headers = dict(headers or {})
        if body is not None:
            content, content_type = msgspec.json.encode(body), "application/json"
        if content_type is not None:
            send_headers["content-type"] = content_type
        query = {k: v for k, v in (params or {}).items() if v is not None}
        token: str | None = None
        if auth:
            token = await self.ensure_fresh_token() if refresh else self._access_token
        response = await self._send(method, path, query, content, send_headers, token)
        if response.status_code == 401 and auth and refresh and self._refresh_token is not None:
            # The session's access token expired or was replaced: renew it once, repeat the request (a 401
            # comes from authentication, before anything was done, so repeating a POST is safe).
            await self._refresh_after(token)
            response = await self._send(method, path, query, content, send_headers, self._access_token)
        if response.is_error:
            raise error_from_response(response)
        return response

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, ParamValue],
        content: bytes | None,
        headers: dict[str, str],
        token: str | None,
    ) -> httpx.Response:
        """One request, repeated (idempotent methods only) on network trouble and 502/503/504."""
        if token is not None:
            headers = {**headers, "authorization": f"Bearer {token}"}
        attempts = 1 + (self.retries if method in IDEMPOTENT_METHODS else 0)
        delay = self.backoff
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = await self._http.request(method, path, params=params, content=content, headers=headers)
            except _NETWORK_ERRORS as err:
                if last:
                    raise self._offline(method, err, attempts) from err
            else:
                if last or response.status_code not in RETRY_STATUSES:
                    return response
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    def _offline(self, method: str, err: Exception, attempts: int) -> Offline:
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        if isinstance(err, httpx.TimeoutException):
            message = f"the platform at {self.base_url} did not answer within {self.timeout:g} s{tries}"
        else:
            message = f"the platform at {self.base_url} cannot be reached{tries}: {err or type(err).__name__}"
        hint = "Check the network connection and try again."
        if method not in IDEMPOTENT_METHODS and not isinstance(err, httpx.ConnectError):
            hint = "The change may or may not have been made: reload to check before trying again."
        return Offline(message, hint, url=self.base_url)


class _LatestPage(msgspec.Struct):
    at: dt.datetime
    points: list[LatestValue]


def _scope(item: ScopeItem) -> dict[str, int | None]:
    return {"enterprise_id": item.enterprise_id, "site_id": item.site_id}


def _path(value: str) -> str:
    return quote(value, safe="")
