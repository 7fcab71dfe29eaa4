"""Routes of the organisation: the same five operations for every kind of object, under /org.

No ``from __future__ import annotations`` here: the handlers are built per resource, and Litestar reads
their body and answer types from the evaluated annotations.
"""

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from cem_platform.identity.http import principal_of, requires
from cem_platform.identity.roles import Permission
from cem_platform.org import schemas, services
from cem_platform.org.units import amount_of

__all__ = ["org_router"]

AnyRequest = Request[Any, Any, Any]


def _changes(data: msgspec.Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}


def _out(obj: Any, out_type: type[msgspec.Struct]) -> Any:
    values = {f: getattr(obj, f) for f in obj._meta.db_fields}
    if out_type is schemas.PointOut:
        due = values.get("calibration_due")
        values["calibration_overdue"] = bool(due and due < dt.datetime.now(dt.UTC).date())
        amount = amount_of(str(values["kind"]), str(values["unit"]))
        values["amount_unit"] = amount[0] if amount is not None else None
    return msgspec.convert(values, out_type, from_attributes=True, strict=False)


def _resource_router(
    path: str,
    resource_name: str,
    in_type: Any,
    patch_type: Any,
    out_type: Any,
    write_permission: Permission,
    filters: tuple[str, ...],
    label: str,
) -> Router:
    resource = services.RESOURCES[resource_name]
    read = [requires(Permission.ORG_READ)]
    write = [requires(write_permission)]
    parent_help = f"only those under this {filters[0]}" if filters else "unused"

    @get("/", guards=read, summary=f"List {label}", operation_id=f"list_{resource_name}")
    async def list_items(
        request: AnyRequest,
        parent_id: Annotated[int | None, QueryParameter(description=parent_help)] = None,
        active: FromQuery[bool | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=5000)] = 500,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> list[out_type]:
        query_filters: dict[str, Any] = {"active": active} if hasattr(resource.model, "active") else {}
        if filters and parent_id is not None:
            query_filters[filters[0]] = parent_id
        rows = await services.list_(resource, principal_of(request), **query_filters).offset(offset).limit(limit)
        return [_out(r, out_type) for r in rows]

    @get("/{object_id:int}", guards=read, summary=f"Get one of {label}", operation_id=f"get_{resource_name}")
    async def get_item(request: AnyRequest, object_id: FromPath[int]) -> out_type:
        return _out(await services.get(resource, principal_of(request), object_id), out_type)

    @post("/", guards=write, summary=f"Create one of {label}", operation_id=f"create_{resource_name}")
    async def create_item(request: AnyRequest, data: JSONBody[in_type]) -> out_type:
        obj = await services.create(resource, principal_of(request), msgspec.structs.asdict(data))
        return _out(obj, out_type)

    @patch("/{object_id:int}", guards=write, summary=f"Change one of {label}", operation_id=f"update_{resource_name}")
    async def update_item(request: AnyRequest, object_id: FromPath[int], data: JSONBody[patch_type]) -> out_type:
        obj = await services.update(resource, principal_of(request), object_id, _changes(data))
        return _out(obj, out_type)

    @delete("/{object_id:int}", guards=write, summary=f"Delete one of {label}", operation_id=f"delete_{resource_name}")
    async def delete_item(request: AnyRequest, object_id: FromPath[int]) -> None:
        await services.delete(resource, principal_of(request), object_id)

    return Router(
        path=path, route_handlers=[list_items, get_item, create_item, update_item, delete_item], tags=["organisation"]
    )


org_router = Router(
    path="/org",
    route_handlers=[
        _resource_router(
            "/enterprises",
            "enterprise",
            schemas.EnterpriseIn,
            schemas.EnterprisePatch,
            schemas.EnterpriseOut,
            Permission.ORG_WRITE,
            (),
            "enterprises (法人)",
        ),
        _resource_router(
            "/sites",
            "site",
            schemas.SiteIn,
            schemas.SitePatch,
            schemas.SiteOut,
            Permission.ORG_WRITE,
            ("enterprise_id",),
            "sites",
        ),
        _resource_router(
            "/processes",
            "process",
            schemas.ProcessIn,
            schemas.ProcessPatch,
            schemas.ProcessOut,
            Permission.ORG_WRITE,
            ("site_id",),
            "processes (工序)",
        ),
        _resource_router(
            "/facilities",
            "facility",
            schemas.FacilityIn,
            schemas.FacilityPatch,
            schemas.FacilityOut,
            Permission.ORG_WRITE,
            ("process_id",),
            "facilities",
        ),
        _resource_router(
            "/points",
            "point",
            schemas.PointIn,
            schemas.PointPatch,
            schemas.PointOut,
            Permission.POINTS_WRITE,
            ("facility_id",),
            "measurement points",
        ),
        _resource_router(
            "/process-types",
            "process_type",
            schemas.ProcessTypeIn,
            schemas.ProcessTypePatch,
            schemas.ProcessTypeOut,
            Permission.ORG_WRITE,
            (),
            "process types (dictionary)",
        ),
        _resource_router(
            "/facility-types",
            "facility_type",
            schemas.FacilityTypeIn,
            schemas.FacilityTypePatch,
            schemas.FacilityTypeOut,
            Permission.ORG_WRITE,
            ("process_type_id",),
            "facility types (dictionary)",
        ),
    ],
)
