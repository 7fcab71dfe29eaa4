"""Routes of alarms: list and read them (alarms.read), acknowledge and clear them (alarms.handle)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from cem_platform.alarms.models import AlarmKind, Severity
from cem_platform.alarms.schemas import AlarmDetail, AlarmNoteIn, AlarmOut, alarm_detail, alarm_out
from cem_platform.alarms.services import AlarmFilter, AlarmService
from cem_platform.errors import InvalidInputError
from cem_platform.identity.http import principal_of, requires
from cem_platform.identity.roles import Permission

__all__ = ["AlarmController"]

AnyRequest = Request[Any, Any, Any]


def _service(request: AnyRequest) -> AlarmService:
    return AlarmService(request.app.state.settings)


class AlarmController(Controller):
    """Device and data alarms (standard 5.4.6) within the caller's scope."""

    path = "/alarms"
    tags = ["alarms"]

    @get("/", guards=[requires(Permission.ALARMS_READ)], summary="List alarms")
    async def list_alarms(
        self,
        request: AnyRequest,
        alarm_state: Annotated[
            str | None,
            QueryParameter(
                name="state",
                pattern="^(open|active|acknowledged|cleared)$",
                description="open (active or acknowledged), active, acknowledged or cleared",
            ),
        ] = None,
        kind: Annotated[AlarmKind | None, QueryParameter()] = None,
        severity: Annotated[Severity | None, QueryParameter()] = None,
        enterprise_id: Annotated[int | None, QueryParameter()] = None,
        device_id: Annotated[
            str | None, QueryParameter(max_length=64, description="alarms about this terminal or reported by it")
        ] = None,
        subject_type: Annotated[str | None, QueryParameter(max_length=16, description="device or point")] = None,
        subject_id: Annotated[str | None, QueryParameter(max_length=100)] = None,
        site_id: Annotated[int | None, QueryParameter(description="about a terminal or a point of this site")] = None,
        raised_from: Annotated[
            dt.datetime | None, QueryParameter(name="from", description="raised at or after (ISO time with offset)")
        ] = None,
        raised_to: Annotated[
            dt.datetime | None, QueryParameter(name="to", description="raised before (ISO time with offset)")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> list[AlarmOut]:
        """Alarms newest first, cleared ones included unless filtered by state."""
        for name, bound in (("from", raised_from), ("to", raised_to)):
            if bound is not None and bound.tzinfo is None:
                raise InvalidInputError(
                    f"{name}={bound.isoformat()} has no time zone offset",
                    hint="Give the time with its offset, e.g. 2026-12-07T08:00:00+08:00.",
                )
        filters = AlarmFilter(
            state=alarm_state,
            kind=kind,
            severity=severity,
            enterprise_id=enterprise_id,
            device_id=device_id,
            subject_type=subject_type,
            subject_id=subject_id,
            site_id=site_id,
            raised_from=raised_from,
            raised_to=raised_to,
        )
        alarms = await _service(request).list_alarms(principal_of(request), filters, limit=limit, offset=offset)
        return [alarm_out(alarm) for alarm in alarms]

    @get("/{alarm_id:int}", guards=[requires(Permission.ALARMS_READ)], summary="Alarm with its history")
    async def get_alarm(self, request: AnyRequest, alarm_id: FromPath[int]) -> AlarmDetail:
        """One alarm and every step of it: raised, repeated, escalated, acknowledged, cleared."""
        alarm, events = await _service(request).get(principal_of(request), alarm_id)
        return alarm_detail(alarm, events)

    @post(
        "/{alarm_id:int}/acknowledge",
        guards=[requires(Permission.ALARMS_HANDLE)],
        status_code=HTTP_200_OK,
        summary="Acknowledge an alarm",
    )
    async def acknowledge(
        self, request: AnyRequest, alarm_id: FromPath[int], data: JSONBody[AlarmNoteIn]
    ) -> AlarmDetail:
        """Say that someone takes care of it (note optional). A cleared alarm cannot be acknowledged (409)."""
        service = _service(request)
        await service.acknowledge(principal_of(request), alarm_id, data.note)
        alarm, events = await service.get(principal_of(request), alarm_id)
        return alarm_detail(alarm, events)

    @post(
        "/{alarm_id:int}/clear",
        guards=[requires(Permission.ALARMS_HANDLE)],
        status_code=HTTP_200_OK,
        summary="Clear an alarm",
    )
    async def clear(self, request: AnyRequest, alarm_id: FromPath[int], data: JSONBody[AlarmNoteIn]) -> AlarmDetail:
        """Close it by hand with a note saying why (required). If the cause is still there, the rules raise it again."""
        service = _service(request)
        await service.clear(principal_of(request), alarm_id, data.note)
        alarm, events = await service.get(principal_of(request), alarm_id)
        return alarm_detail(alarm, events)
