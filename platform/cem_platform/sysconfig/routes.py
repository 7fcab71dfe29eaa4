"""Routes of system parameters and communication settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Controller, Request, get, put
from litestar.params import FromPath, JSONBody

from cem_platform.identity.http import principal_of, requires, requires_step_up
from cem_platform.identity.roles import Permission
from cem_platform.sysconfig import services

__all__ = ["SystemParameterController"]


class ParameterOut(msgspec.Struct):
    """A parameter, its bounds and its current value."""

    key: str
    category: str
    value: Any
    default: Any
    minimum: float | None
    maximum: float | None
    choices: list[str]
    description_zh: str
    description_en: str
    version: int
    updated_by: str | None
    updated_at: dt.datetime | None


class ParameterIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new value."""

    value: Any


class ParameterChanged(msgspec.Struct):
    """The stored value and its version."""

    key: str
    value: Any
    version: int


class SystemParameterController(Controller):
    """System parameters (admin) and communication settings (admin, device admin); changes need step-up."""

    path = "/system/parameters"
    tags = ["system"]

    @get("/", guards=[requires(Permission.SYSTEM_READ)], summary="List system parameters")
    async def list_parameters(self, request: Request[Any, Any, Any]) -> list[ParameterOut]:
        """Every parameter with its current value."""
        rows = await services.all_values(request.app.state.settings)
        return [msgspec.convert(r, ParameterOut) for r in rows]

    @put(
        "/{key:str}",
        guards=[requires(Permission.SYSTEM_WRITE, Permission.COMM_WRITE), requires_step_up],
        summary="Change a parameter",
    )
    async def set_parameter(
        self, request: Request[Any, Any, Any], key: FromPath[str], data: JSONBody[ParameterIn]
    ) -> ParameterChanged:
        """Change one parameter; the permission needed depends on its category."""
        result = await services.set_value(request.app.state.settings, principal_of(request), key, data.value)
        return msgspec.convert(result, ParameterChanged)
