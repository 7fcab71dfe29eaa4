"""Tortoise models of the organisation: the standard's accounting boundary (5.2.1.1) and its meters (GB/T 21368)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

__all__ = [
    "Enterprise",
    "Facility",
    "FacilityType",
    "MeasurementPoint",
    "Process",
    "ProcessType",
    "Site",
]


class TimestampedModel(Model):
    """Creation and change times, UTC."""

    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        abstract = True


class Enterprise(TimestampedModel):
    """A legal entity (法人): the boundary of one greenhouse-gas account."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=200)
    credit_code = fields.CharField(max_length=18, null=True, unique=True)  # 统一社会信用代码
    address = fields.CharField(max_length=300, default="")
    timezone = fields.CharField(max_length=64, default="Asia/Shanghai")
    active = fields.BooleanField(default=True)

    sites: fields.ReverseRelation[Site]

    class Meta:
        table = "org_enterprise"


class Site(TimestampedModel):
    """A works or plant site of an enterprise."""

    id = fields.IntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="sites", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=200)
    address = fields.CharField(max_length=300, default="")
    active = fields.BooleanField(default=True)

    processes: fields.ReverseRelation[Process]

    class Meta:
        table = "org_site"
        unique_together = (("enterprise", "code"),)


class ProcessType(TimestampedModel):
    """Dictionary of processes (工序): coking, sintering, ironmaking... extensible by administrators."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name_zh = fields.CharField(max_length=100)
    name_en = fields.CharField(max_length=100)
    sort_order = fields.IntField(default=100)
    builtin = fields.BooleanField(default=False)

    class Meta:
        table = "org_process_type"


class Process(TimestampedModel):
    """One process (工序) at a site, e.g. ironmaking at the Nanshan works."""

    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "cem.Site", related_name="processes", on_delete=fields.RESTRICT
    )
    site_id: int
    process_type: fields.ForeignKeyRelation[ProcessType] = fields.ForeignKeyField(
        "cem.ProcessType", related_name="processes", on_delete=fields.RESTRICT
    )
    process_type_id: int
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=200)
    active = fields.BooleanField(default=True)

    facilities: fields.ReverseRelation[Facility]

    class Meta:
        table = "org_process"
        unique_together = (("site", "code"),)


class FacilityType(TimestampedModel):
    """Dictionary of facility types (blast furnace, converter, EAF...), optionally tied to a process type."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name_zh = fields.CharField(max_length=100)
    name_en = fields.CharField(max_length=100)
    process_type: fields.ForeignKeyNullableRelation[ProcessType] = fields.ForeignKeyField(
        "cem.ProcessType", related_name="facility_types", on_delete=fields.SET_NULL, null=True
    )
    process_type_id: int | None
    builtin = fields.BooleanField(default=False)

    class Meta:
        table = "org_facility_type"


class Facility(TimestampedModel):
    """A production or energy facility (设施) within a process."""

    id = fields.IntField(primary_key=True)
    process: fields.ForeignKeyRelation[Process] = fields.ForeignKeyField(
        "cem.Process", related_name="facilities", on_delete=fields.RESTRICT
    )
    process_id: int
    facility_type: fields.ForeignKeyRelation[FacilityType] = fields.ForeignKeyField(
        "cem.FacilityType", related_name="facilities", on_delete=fields.RESTRICT
    )
    facility_type_id: int
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=200)
    capacity = fields.DecimalField(max_digits=18, decimal_places=4, null=True)
    capacity_unit = fields.CharField(max_length=32, default="")
    commissioned_on = fields.DateField(null=True)
    active = fields.BooleanField(default=True)

    points: fields.ReverseRelation[MeasurementPoint]

    class Meta:
        table = "org_facility"
        unique_together = (("process", "code"),)


class MeasurementPoint(TimestampedModel):
    """A metered quantity of a facility and the meter that measures it (meter inventory per GB/T 21368)."""

    id = fields.IntField(primary_key=True)
    facility: fields.ForeignKeyRelation[Facility] = fields.ForeignKeyField(
        "cem.Facility", related_name="points", on_delete=fields.RESTRICT
    )
    facility_id: int
    # The enterprise is stored too: points are the hottest lookup (ingest, series) and scope checks need it.
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="points", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    code = fields.CharField(max_length=64)
    name = fields.CharField(max_length=200)
    medium = fields.CharField(max_length=64)  # what flows: electricity, natural_gas, coke, hot_metal...
    quantity = fields.CharField(max_length=32)  # physical quantity: mass, volume, energy, power...
    unit = fields.CharField(max_length=16)
    kind = fields.CharField(max_length=16)  # totaliser, flow, state
    sample_seconds = fields.IntField(default=60)  # the meter's reading period: completeness and gaps count on it
    meter_model = fields.CharField(max_length=100, default="")
    meter_serial = fields.CharField(max_length=100, default="")
    accuracy_class = fields.CharField(max_length=8, default="")
    calibrated_on = fields.DateField(null=True)
    calibration_due = fields.DateField(null=True)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "org_point"
        unique_together = (("enterprise", "code"),)
