"""The API calls the console needs that :class:`cem_clients.api.ApiClient` does not have (yet).

:class:`ConsoleApi` is an :class:`~cem_clients.api.ApiClient` (same sessions, retries, errors and step-up) with
the calls below added. They belong in ``ApiClient`` itself; until they move there, the console uses this
subclass. Each is one route of the platform:

* ``system_parameters()`` — ``GET /system/parameters`` (system.read)
* ``set_system_parameter(key, value, totp)`` — ``PUT /system/parameters/{key}`` (step-up)
* ``create_user(...)`` — ``POST /users`` (users.write, step-up)
* ``update_user(user_id, changes, totp)`` — ``PATCH /users/{id}`` (users.write, step-up)
* ``create_point(facility_id, ...)`` — ``POST /org/points`` (points.write)
* ``update_point(point_id, changes)`` — ``PATCH /org/points/{id}`` (points.write)
* ``source_categories()`` — ``GET /accounting/source-categories``
* ``library_parameters(library, version)`` — ``GET /accounting/library/parameters``
* ``change_library(library, reason, changes, totp)`` — ``POST /accounting/library/versions`` (step-up)
* ``annual_report_file(enterprise_id, year, lang)`` — ``GET /emissions/report`` with the suggested file name

They use the client's own request machinery (``_request``, ``_decode``, ``_step_up``), so they retry, refresh
and raise exactly like the built-in calls.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import quote

import msgspec

from cem_clients.api import ApiClient, LibraryVersion, MeasurementPoint, ScopeItem, User

__all__ = [
    "CategorySpec",
    "ConsoleApi",
    "LibraryParameters",
    "ParameterChanged",
    "ReportFile",
    "SystemParameter",
]

_FILENAME = re.compile(r'filename="?([^";]+)"?')


class _Record(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the records below: immutable, keyword-only (like the client's own records)."""


class SystemParameter(_Record, frozen=True, kw_only=True):
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


class ParameterChanged(_Record, frozen=True, kw_only=True):
    """A parameter's stored value and its version after a change."""

    key: str
    value: Any
    version: int


class CategorySpec(_Record, frozen=True, kw_only=True):
    """A source category: its activity inputs with the units its formulas take, and the known items."""

    inputs: dict[str, tuple[str, ...]] = {}
    items: tuple[str, ...] = ()


class LibraryParameters(_Record, frozen=True, kw_only=True):
    """The complete parameter set of one version of a library (values as exact decimal strings)."""

    library: str
    version: int
    parameters: tuple[dict[str, Any], ...] = ()


class ReportFile(_Record, frozen=True, kw_only=True):
    """A downloaded file and the name the platform suggests for it."""

    content: bytes
    filename: str
    content_type: str = ""


class ConsoleApi(ApiClient):
    """The API client with the calls of the console (see the module's table)."""

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

    async def library_parameters(self, library: str, version: int | None = None) -> LibraryParameters:
        """Every parameter of one version of a library (the newest when ``version`` is None)."""
        params: dict[str, str | int | None] = {"library": library, "version": version}
        response = await self._request("GET", "/accounting/library/parameters", params=params)
        return self._decode(response, LibraryParameters)

    async def change_library(
        self, library: str, reason: str, changes: Iterable[Mapping[str, Any]], totp: str | None = None
    ) -> LibraryVersion:
        """Make a new version of a library: each change sets a parameter (code, value as a decimal string, unit,
        source, confidence, valid_from, valid_until) or removes it (``remove``); step-up."""
        body = {"library": library, "reason": reason, "changes": [dict(c) for c in changes]}
        response = await self._request("POST", "/accounting/library/versions", body=body, headers=self._step_up(totp))
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


def _scope(item: ScopeItem) -> dict[str, int | None]:
    return {"enterprise_id": item.enterprise_id, "site_id": item.site_id}


def _path(value: str) -> str:
    return quote(value, safe="")
