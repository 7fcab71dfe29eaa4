"""Tortoise models of benchmarking: versions of the reference and measures libraries, the correction inputs of
processes, and reduction scenarios."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from cem_platform.org.models import Enterprise, Process

__all__ = ["CorrectionInput", "ReferenceVersion", "Scenario"]


class ReferenceVersion(Model):
    """One version of one reference library, national or an enterprise's own.

    ``national`` is shared by every enterprise (the national limits and benchmarks, international references);
    ``enterprise-<id>`` is that enterprise's own (group best, peers, its own limits and yearly targets).

    ``entries`` is the complete set in force from this version on (plain records, values as decimal text; see
    :mod:`cem_platform.benchmarking.references`); ``diff`` lists what changed against the previous version:
    ``[{"code", "change": added|changed|removed, "before", "after"}]``. Versions never change once stored, so an
    analysis that names its versions can always be reproduced.
    """

    id = fields.IntField(primary_key=True)
    library = fields.CharField(max_length=64)
    enterprise: fields.ForeignKeyNullableRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="reference_versions", on_delete=fields.RESTRICT, null=True
    )
    enterprise_id: int | None
    number = fields.IntField()
    author = fields.CharField(max_length=150)
    reason = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)
    diff: Any = fields.JSONField(default=list)
    entries: Any = fields.JSONField(default=list)

    class Meta:
        table = "bm_reference_version"
        unique_together = (("library", "number"),)
        ordering = ["library", "number"]


class CorrectionInput(Model):
    """A correction input of one process for one month or year.

    What a limit's correction or condition needs that the platform cannot derive: the scrap ratio of a converter, the
    iron grade of a blast furnace's feed, whether coke ovens are stamp-charged.
    """

    id = fields.IntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="correction_inputs", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    process: fields.ForeignKeyRelation[Process] = fields.ForeignKeyField(
        "cem.Process", related_name="correction_inputs", on_delete=fields.RESTRICT
    )
    process_id: int
    name = fields.CharField(max_length=32)
    period_kind = fields.CharField(max_length=8)  # month or year
    period = fields.CharField(max_length=7)  # 2026-03 or 2026 (the enterprise's local calendar)
    value = fields.DecimalField(max_digits=28, decimal_places=10)
    unit = fields.CharField(max_length=16)
    source = fields.CharField(max_length=300)
    entered_by = fields.CharField(max_length=150)
    entered_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "bm_correction_input"
        unique_together = (("process", "name", "period"),)


class Scenario(Model):
    """A reduction scenario of one enterprise: measures applied to its processes against a base year.

    ``applications`` is ``[{"measure": code, "process_id": id, "adoption": "0.5"}]`` (adoption: the share of the
    process's output the measure covers, (0, 1]); ``versions`` pins the measures libraries' versions the result is
    computed with (``{"measures": 1, "measures-enterprise-<id>": 0}``), set when the scenario is created or changed, so
    editing a measure later never changes its result. See :mod:`cem_platform.benchmarking.scenarios`.
    """

    id = fields.IntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="scenarios", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    name = fields.CharField(max_length=100)
    base_year = fields.IntField()
    discount_rate = fields.DecimalField(max_digits=8, decimal_places=6)  # a fraction per year, e.g. 0.08
    energy_price = fields.DecimalField(max_digits=18, decimal_places=6)  # CNY per tce saved
    applications: Any = fields.JSONField(default=list)
    versions: Any = fields.JSONField(default=dict)
    note = fields.TextField(default="")
    created_by = fields.CharField(max_length=150)
    created_at = fields.DatetimeField(auto_now_add=True)
    changed_by = fields.CharField(max_length=150)
    changed_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "bm_scenario"
        unique_together = (("enterprise", "name"),)
