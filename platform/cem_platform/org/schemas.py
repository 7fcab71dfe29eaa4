"""Request and response bodies of the organisation routes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import msgspec

from cem_platform.org.units import ACCURACY_CLASS_PATTERN

__all__ = [
    "EnterpriseIn",
    "EnterpriseOut",
    "EnterprisePatch",
    "FacilityIn",
    "FacilityOut",
    "FacilityPatch",
    "FacilityTypeIn",
    "FacilityTypeOut",
    "FacilityTypePatch",
    "PointIn",
    "PointOut",
    "PointPatch",
    "ProcessIn",
    "ProcessOut",
    "ProcessPatch",
    "ProcessTypeIn",
    "ProcessTypeOut",
    "ProcessTypePatch",
    "SiteIn",
    "SiteOut",
    "SitePatch",
]

Code = Annotated[
    str,
    msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$", description="letters, digits, '_', '.', '-'; up to 32"),
]
PointCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
ShortName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Address = Annotated[str, msgspec.Meta(max_length=300)]
CreditCode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$", description="统一社会信用代码, 18 characters"
    ),
]
AccuracyClass = Annotated[str, msgspec.Meta(pattern=ACCURACY_CLASS_PATTERN)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]  # the organisation's keys are 32-bit integers
CAPACITY_LIMIT = Decimal(10) ** 14  # org_facility.capacity is numeric(18, 4)
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class Out(msgspec.Struct):
    """Fields every stored object shows."""

    id: int
    created_at: dt.datetime
    updated_at: dt.datetime


class EnterpriseIn(msgspec.Struct, forbid_unknown_fields=True):
    """A legal entity."""

    code: Code
    name: Name
    credit_code: CreditCode | None = None
    address: Address = ""
    timezone: str = "Asia/Shanghai"
    active: bool = True


class EnterprisePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to an enterprise."""

    code: Code | Unset = UNSET
    name: Name | Unset = UNSET
    credit_code: CreditCode | None | Unset = UNSET
    address: Address | Unset = UNSET
    timezone: str | Unset = UNSET
    active: bool | Unset = UNSET


class EnterpriseOut(Out, kw_only=True):
    """A legal entity."""

    code: str
    name: str
    credit_code: str | None
    address: str
    timezone: str
    active: bool


class SiteIn(msgspec.Struct, forbid_unknown_fields=True):
    """A works or site."""

    enterprise_id: Id
    code: Code
    name: Name
    address: Address = ""
    active: bool = True


class SitePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a site (it cannot move to another enterprise)."""

    code: Code | Unset = UNSET
    name: Name | Unset = UNSET
    address: Address | Unset = UNSET
    active: bool | Unset = UNSET


class SiteOut(Out, kw_only=True):
    """A works or site."""

    enterprise_id: int
    code: str
    name: str
    address: str
    active: bool


class ProcessTypeIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new entry of the process dictionary."""

    code: Code
    name_zh: ShortName
    name_en: ShortName
    sort_order: int = 100


class ProcessTypePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a process dictionary entry (its code stays)."""

    name_zh: ShortName | Unset = UNSET
    name_en: ShortName | Unset = UNSET
    sort_order: int | Unset = UNSET


class ProcessTypeOut(Out, kw_only=True):
    """A process dictionary entry."""

    code: str
    name_zh: str
    name_en: str
    sort_order: int
    builtin: bool


class FacilityTypeIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new entry of the facility-type dictionary."""

    code: Code
    name_zh: ShortName
    name_en: ShortName
    process_type_id: Id | None = None


class FacilityTypePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a facility-type entry (its code stays)."""

    name_zh: ShortName | Unset = UNSET
    name_en: ShortName | Unset = UNSET
    process_type_id: Id | None | Unset = UNSET


class FacilityTypeOut(Out, kw_only=True):
    """A facility-type dictionary entry."""

    code: str
    name_zh: str
    name_en: str
    process_type_id: int | None
    builtin: bool


class ProcessIn(msgspec.Struct, forbid_unknown_fields=True):
    """A process (工序) at a site."""

    site_id: Id
    process_type_id: Id
    code: Code
    name: Name
    active: bool = True


class ProcessPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a process."""

    code: Code | Unset = UNSET
    name: Name | Unset = UNSET
    active: bool | Unset = UNSET


class ProcessOut(Out, kw_only=True):
    """A process (工序) at a site."""

    site_id: int
    process_type_id: int
    code: str
    name: str
    active: bool


def _check_capacity(capacity: Decimal | None | Unset) -> None:
    """A capacity the column holds: finite, not negative, under 10^14 (msgspec has no bounds for Decimal)."""
    if isinstance(capacity, Decimal) and not (capacity.is_finite() and 0 <= capacity < CAPACITY_LIMIT):
        # msgspec turns a ValueError here into a validation error: a 400 naming the problem
        raise ValueError("`capacity` must be a finite number from 0 to less than 10^14")


class FacilityIn(msgspec.Struct, forbid_unknown_fields=True):
    """A facility of a process."""

    process_id: Id
    facility_type_id: Id
    code: Code
    name: Name
    capacity: Decimal | None = None
    capacity_unit: Annotated[str, msgspec.Meta(max_length=32)] = ""
    commissioned_on: dt.date | None = None
    active: bool = True

    def __post_init__(self) -> None:
        _check_capacity(self.capacity)


class FacilityPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a facility."""

    facility_type_id: Id | Unset = UNSET
    code: Code | Unset = UNSET
    name: Name | Unset = UNSET
    capacity: Decimal | None | Unset = UNSET
    capacity_unit: Annotated[str, msgspec.Meta(max_length=32)] | Unset = UNSET
    commissioned_on: dt.date | None | Unset = UNSET
    active: bool | Unset = UNSET

    def __post_init__(self) -> None:
        _check_capacity(self.capacity)


class FacilityOut(Out, kw_only=True):
    """A facility of a process."""

    process_id: int
    facility_type_id: int
    code: str
    name: str
    capacity: Decimal | None
    capacity_unit: str
    commissioned_on: dt.date | None
    active: bool


class PointIn(msgspec.Struct, forbid_unknown_fields=True):
    """A measurement point and its meter."""

    facility_id: Id
    code: PointCode
    name: Name
    medium: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    quantity: str
    unit: str
    kind: str
    meter_model: Annotated[str, msgspec.Meta(max_length=100)] = ""
    meter_serial: Annotated[str, msgspec.Meta(max_length=100)] = ""
    accuracy_class: AccuracyClass | None = None
    calibrated_on: dt.date | None = None
    calibration_due: dt.date | None = None
    active: bool = True


class PointPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a point (it stays on its facility; quantity and unit change together)."""

    code: PointCode | Unset = UNSET
    name: Name | Unset = UNSET
    medium: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | Unset = UNSET
    quantity: str | Unset = UNSET
    unit: str | Unset = UNSET
    kind: str | Unset = UNSET
    meter_model: Annotated[str, msgspec.Meta(max_length=100)] | Unset = UNSET
    meter_serial: Annotated[str, msgspec.Meta(max_length=100)] | Unset = UNSET
    accuracy_class: AccuracyClass | None | Unset = UNSET
    calibrated_on: dt.date | None | Unset = UNSET
    calibration_due: dt.date | None | Unset = UNSET
    active: bool | Unset = UNSET


class PointOut(Out, kw_only=True):
    """A measurement point and its meter."""

    facility_id: int
    enterprise_id: int
    code: str
    name: str
    medium: str
    quantity: str
    unit: str
    kind: str
    meter_model: str
    meter_serial: str
    accuracy_class: str
    calibrated_on: dt.date | None
    calibration_due: dt.date | None
    calibration_overdue: bool
    # the unit of the amount it gives over a period (a flow integrated: t/h -> t), None for a state point
    amount_unit: str | None
    active: bool
