"""Tortoise models of benchmarking: versions of the reference libraries, and the correction inputs of processes."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from cem_platform.org.models import Enterprise, Process

__all__ = ["CorrectionInput", "ReferenceVersion"]


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
