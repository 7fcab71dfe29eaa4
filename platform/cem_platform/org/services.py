"""Organisation services: scoped, validated, audited create/read/update/delete of the boundary's objects.

Each kind of object knows where it sits (enterprise and site), so one set of functions checks scope for all:
reads are filtered to what the caller sees; a write needs the whole enterprise in scope, or the site for
objects below a site. Objects outside the caller's scope answer 404, never 403, so nothing leaks.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from cem_platform.audit import services as audit
from cem_platform.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from cem_platform.identity.principal import Principal, Scope
from cem_platform.org.models import (
    Enterprise,
    Facility,
    FacilityType,
    MeasurementPoint,
    Process,
    ProcessType,
    Site,
)
from cem_platform.org.units import ACCURACY_CLASS_PATTERN, POINT_KINDS, QUANTITY_UNITS

__all__ = ["RESOURCES", "Resource", "check_credit_code", "create", "delete", "get", "list_", "update"]

_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_credit_code(code: str) -> None:
    """Validate the check character of a unified social credit code (GB 32100)."""
    total = sum(_CREDIT_CHARS.index(ch) * w for ch, w in zip(code[:17], _CREDIT_WEIGHTS, strict=True))
    expected = _CREDIT_CHARS[(31 - total % 31) % 31]
    if code[17] != expected:
        raise InvalidInputError(
            f"credit_code {code} fails its check character (expected {expected} at the end)",
            hint="Copy the 18-character code exactly from the business licence.",
        )


@dataclass(frozen=True, slots=True)
class Resource:
    """How one kind of organisation object is scoped, located and validated."""

    name: str  # used in audit actions: org.<name>.create
    model: type[Model]
    scope_filter: Callable[[Scope], Q]
    locate: Callable[[Any], Awaitable[tuple[int | None, int | None]]]  # (enterprise_id, site_id)
    global_dictionary: bool = False
    validate: Callable[[dict[str, Any], Any | None], Awaitable[dict[str, Any]]] | None = None


def _covered(scope: Scope) -> list[int]:
    return list(scope.enterprises)


def _sites(scope: Scope) -> list[int]:
    return list(scope.sites)


def _everything_or(scope: Scope, q: Q) -> Q:
    return Q() if scope.everything else q


async def _locate_enterprise(obj: Any) -> tuple[int | None, int | None]:
    return obj.id, None


async def _locate_site(obj: Any) -> tuple[int | None, int | None]:
    return obj.enterprise_id, obj.id


async def _locate_process(obj: Any) -> tuple[int | None, int | None]:
    site = await Site.get(id=obj.site_id)
    return site.enterprise_id, site.id


async def _locate_facility(obj: Any) -> tuple[int | None, int | None]:
    process = await Process.get(id=obj.process_id).select_related("site")
    return process.site.enterprise_id, process.site_id


async def _locate_point(obj: Any) -> tuple[int | None, int | None]:
    facility = await Facility.get(id=obj.facility_id).select_related("process")
    return obj.enterprise_id, facility.process.site_id


async def _locate_nothing(obj: Any) -> tuple[int | None, int | None]:
    return None, None


async def _validate_enterprise(data: dict[str, Any], current: Any | None) -> dict[str, Any]:
    if data.get("credit_code"):
        check_credit_code(data["credit_code"])
    if "timezone" in data:
        try:
            zoneinfo.ZoneInfo(data["timezone"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise InvalidInputError(
                f"unknown time zone {data['timezone']!r}", hint="Use an IANA name such as Asia/Shanghai."
            ) from err
    return data


async def _validate_point(data: dict[str, Any], current: Any | None) -> dict[str, Any]:
    quantity = data.get("quantity", getattr(current, "quantity", None))
    unit = data.get("unit", getattr(current, "unit", None))
    kind = data.get("kind", getattr(current, "kind", None))
    if quantity not in QUANTITY_UNITS:
        raise InvalidInputError(
            f"unknown quantity {quantity!r}", hint=f"Choose one of: {', '.join(sorted(QUANTITY_UNITS))}."
        )
    if unit not in QUANTITY_UNITS[quantity]:
        raise InvalidInputError(
            f"unit {unit!r} does not measure {quantity}",
            hint=f"Units of {quantity}: {', '.join(sorted(QUANTITY_UNITS[quantity]))}.",
        )
    if kind not in POINT_KINDS:
        raise InvalidInputError(
            f"unknown point kind {kind!r}", hint=f"Choose one of: {', '.join(sorted(POINT_KINDS))}."
        )
    if "accuracy_class" in data:
        data["accuracy_class"] = data["accuracy_class"] or ""
        if data["accuracy_class"] and not re.match(ACCURACY_CLASS_PATTERN, data["accuracy_class"]):
            raise InvalidInputError(f"unknown accuracy class {data['accuracy_class']!r}")
    calibrated = data.get("calibrated_on", getattr(current, "calibrated_on", None))
    due = data.get("calibration_due", getattr(current, "calibration_due", None))
    if calibrated and due and due <= calibrated:
        raise InvalidInputError("calibration_due must be after calibrated_on")
    if calibrated and calibrated > dt.datetime.now(dt.UTC).date():
        raise InvalidInputError("calibrated_on is in the future", hint="Enter the date the meter was calibrated.")
    return data


async def _validate_facility(data: dict[str, Any], current: Any | None) -> dict[str, Any]:
    if data.get("capacity") is not None and data["capacity"] < 0:
        raise InvalidInputError("capacity cannot be negative", hint="Give the nominal capacity, or leave it out.")
    return data


RESOURCES: dict[str, Resource] = {
    "enterprise": Resource(
        "enterprise",
        Enterprise,
        lambda s: _everything_or(s, Q(id__in=list(s.visible_enterprises()))),
        _locate_enterprise,
        validate=_validate_enterprise,
    ),
    "site": Resource(
        "site",
        Site,
        lambda s: _everything_or(s, Q(enterprise_id__in=_covered(s)) | Q(id__in=_sites(s))),
        _locate_site,
    ),
    "process": Resource(
        "process",
        Process,
        lambda s: _everything_or(s, Q(site__enterprise_id__in=_covered(s)) | Q(site_id__in=_sites(s))),
        _locate_process,
    ),
    "facility": Resource(
        "facility",
        Facility,
        lambda s: _everything_or(
            s, Q(process__site__enterprise_id__in=_covered(s)) | Q(process__site_id__in=_sites(s))
        ),
        _locate_facility,
        validate=_validate_facility,
    ),
    "point": Resource(
        "point",
        MeasurementPoint,
        lambda s: _everything_or(s, Q(enterprise_id__in=_covered(s)) | Q(facility__process__site_id__in=_sites(s))),
        _locate_point,
        validate=_validate_point,
    ),
    "process_type": Resource("process_type", ProcessType, lambda s: Q(), _locate_nothing, global_dictionary=True),
    "facility_type": Resource("facility_type", FacilityType, lambda s: Q(), _locate_nothing, global_dictionary=True),
}

# Parents: (field in the request, resource it names). A parent must be visible and, for writes, writable.
PARENTS: dict[str, tuple[str, str]] = {
    "site": ("enterprise_id", "enterprise"),
    "process": ("site_id", "site"),
    "facility": ("process_id", "process"),
    "point": ("facility_id", "facility"),
}
REFERENCES: dict[str, list[tuple[str, str]]] = {  # dictionary entries an object points at
    "process": [("process_type_id", "process_type")],
    "facility": [("facility_type_id", "facility_type")],
    "facility_type": [("process_type_id", "process_type")],
}


def list_(resource: Resource, viewer: Principal, **filters: Any) -> Any:
    """A query of the objects the viewer sees, with optional equality filters."""
    query = resource.model.filter(resource.scope_filter(viewer.scope))
    clean = {k: v for k, v in filters.items() if v is not None}
    return query.filter(**clean).order_by("id") if clean else query.order_by("id")


async def get(resource: Resource, viewer: Principal, object_id: int) -> Any:
    """One object within the viewer's scope; NotFoundError otherwise."""
    obj = await resource.model.filter(resource.scope_filter(viewer.scope)).get_or_none(id=object_id)
    if obj is None:
        raise NotFoundError(f"no {resource.name} {object_id} within your scope")
    return obj


def _may_write(actor: Principal, resource: Resource, enterprise_id: int | None, site_id: int | None) -> bool:
    if resource.global_dictionary or resource.name == "enterprise":
        # Shared dictionaries and legal entities are managed at group level, except editing one's own enterprise.
        return actor.scope.everything or (
            resource.name == "enterprise" and enterprise_id is not None and actor.scope.covers_enterprise(enterprise_id)
        )
    if enterprise_id is None:
        return actor.scope.everything
    if resource.name == "site":
        return actor.scope.covers_enterprise(enterprise_id)
    return site_id is not None and actor.scope.sees_site(enterprise_id, site_id)


async def _check_references(actor: Principal, resource: Resource, data: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for field, target in REFERENCES.get(resource.name, []):
        if data.get(field) is not None and not await RESOURCES[target].model.exists(id=data[field]):
            raise InvalidInputError(
                f"{field} {data[field]} does not exist",
                hint=f"List the dictionary: GET /api/v1/org/{target.replace('_', '-')}s.",
            )
    if resource.name in PARENTS and PARENTS[resource.name][0] in data:
        field, parent_name = PARENTS[resource.name]
        parent = await get(RESOURCES[parent_name], actor, data[field])  # 404 when outside scope
        if resource.name == "point":
            extra["enterprise_id"] = (await RESOURCES["facility"].locate(parent))[0]
    return extra


async def create(resource: Resource, actor: Principal, data: dict[str, Any]) -> Any:
    """Create an object under a parent the actor may write to (validated, audited)."""
    extra = await _check_references(actor, resource, data)
    if resource.validate is not None:
        data = await resource.validate(data, None)
    probe = resource.model(**data, **extra)
    if resource.name == "enterprise":
        enterprise_id, site_id = None, None
    else:
        enterprise_id, site_id = await resource.locate(probe)
    if not _may_write(actor, resource, enterprise_id, site_id):
        raise PermissionDeniedError(
            f"your scope does not allow creating a {resource.name} here", hint="Ask a group-level administrator."
        )
    async with in_transaction():
        await probe.save()
        await audit.record(
            actor,
            f"org.{resource.name}.create",
            entity_type=resource.name,
            entity_id=probe.pk,
            enterprise_id=probe.pk if resource.name == "enterprise" else enterprise_id,
            after=audit.snapshot(probe),
        )
    return probe


async def update(resource: Resource, actor: Principal, object_id: int, changes: dict[str, Any]) -> Any:
    """Change an object the actor may write to (validated, audited with before and after)."""
    obj = await get(resource, actor, object_id)
    enterprise_id, site_id = await resource.locate(obj)
    if not _may_write(actor, resource, enterprise_id, site_id):
        raise PermissionDeniedError(f"your scope does not allow changing this {resource.name}")
    if resource.global_dictionary and getattr(obj, "builtin", False) and "code" in changes:
        raise ConflictError("the code of a built-in dictionary entry cannot change")
    await _check_references(actor, resource, changes)
    if resource.validate is not None:
        changes = await resource.validate(changes, obj)
    before = audit.snapshot(obj)
    async with in_transaction():
        for name, value in changes.items():
            setattr(obj, name, value)
        await obj.save()
        await audit.record(
            actor,
            f"org.{resource.name}.update",
            entity_type=resource.name,
            entity_id=obj.pk,
            enterprise_id=enterprise_id,
            before=before,
            after=audit.snapshot(obj),
        )
    return obj


async def delete(resource: Resource, actor: Principal, object_id: int) -> None:
    """Delete an object nothing refers to any more (audited). Objects in use answer 409: deactivate them."""
    obj = await get(resource, actor, object_id)
    enterprise_id, site_id = await resource.locate(obj)
    if not _may_write(actor, resource, enterprise_id, site_id):
        raise PermissionDeniedError(f"your scope does not allow deleting this {resource.name}")
    if resource.global_dictionary and getattr(obj, "builtin", False):
        raise ConflictError("built-in dictionary entries cannot be deleted")
    before = audit.snapshot(obj)
    async with in_transaction():
        try:
            await obj.delete()
        except IntegrityError as err:  # a RESTRICT foreign key: something still belongs to it
            raise ConflictError(
                f"this {resource.name} is still in use",
                hint="Delete or move what belongs to it first, or set active=false.",
            ) from err
        await audit.record(
            actor,
            f"org.{resource.name}.delete",
            entity_type=resource.name,
            entity_id=object_id,
            enterprise_id=enterprise_id,
            before=before,
        )
