"""Tortoise models of carbon assets: the ledger of allowance and offset transactions, price quotes, the production
plan and published trial calculations. The compliance rules are versions of a library kept in
:class:`~cem_platform.benchmarking.models.ReferenceVersion` (library ``cn-ets-steel``), like the measures library.

Every tonne and yuan is an exact decimal. The ledger is append-only: no route updates or deletes a transaction; a
correction is a new transaction naming the one it corrects (``corrects``), which then no longer counts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from cem_platform.org.models import Enterprise

__all__ = ["AssetTransaction", "Instrument", "PlanMonth", "PriceQuote", "TrialCalculation", "TransactionKind"]


class Instrument(StrEnum):
    """What a transaction moves: national allowances (CEA) or offset credits."""

    ALLOWANCE = "allowance"
    OFFSET = "offset"


class TransactionKind(StrEnum):
    """What happened. Allowances: pre_allocation, true_up (may be negative), purchased, sold, surrendered,
    carried_over (in from the year before). Offsets: acquired, sold, surrendered."""

    PRE_ALLOCATION = "pre_allocation"
    TRUE_UP = "true_up"
    PURCHASED = "purchased"
    ACQUIRED = "acquired"
    SOLD = "sold"
    SURRENDERED = "surrendered"
    CARRIED_OVER = "carried_over"


class AssetTransaction(Model):
    """One ledger entry of an enterprise's compliance year. ``quantity`` is in tCO2 (an offset: tCO2e), positive
    except a true-up, which may be negative; the kind gives the direction (sold and surrendered take away)."""

    id = fields.BigIntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="asset_transactions", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    year = fields.IntField()  # the compliance year it belongs to
    instrument = fields.CharEnumField(Instrument, max_length=16)
    kind = fields.CharEnumField(TransactionKind, max_length=16)
    offset_type = fields.CharField(max_length=16, default="")  # CCER, ...; "" for allowances
    project = fields.CharField(max_length=200, default="")
    vintage = fields.IntField(null=True)  # the year the offset's reductions happened
    quantity = fields.DecimalField(max_digits=20, decimal_places=4)
    price = fields.DecimalField(max_digits=14, decimal_places=4, null=True)  # CNY per tonne, where money moved
    traded_on = fields.DateField()
    corrects: fields.ForeignKeyNullableRelation[AssetTransaction] = fields.ForeignKeyField(
        "cem.AssetTransaction", related_name="corrections", on_delete=fields.RESTRICT, null=True
    )
    corrects_id: int | None
    void = fields.BooleanField(default=False)  # a correction that only cancels the corrected entry
    note = fields.TextField(default="")
    entered_by = fields.CharField(max_length=150)
    entered_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ca_transaction"
        indexes = (("enterprise", "year"),)


class PriceQuote(Model):
    """A price of one instrument on one day, CNY per tonne (allowance: CEA, offset: CCER)."""

    id = fields.BigIntField(primary_key=True)
    instrument = fields.CharField(max_length=16)  # CEA or CCER
    day = fields.DateField()
    price = fields.DecimalField(max_digits=14, decimal_places=4)
    source = fields.CharField(max_length=200, default="")
    entered_by = fields.CharField(max_length=150)
    entered_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ca_price"
        unique_together = (("instrument", "day"),)


class PlanMonth(Model):
    """The production plan of one enterprise for one month: crude steel in tonnes."""

    id = fields.IntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="production_plan", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    month = fields.CharField(max_length=7)  # 2026-07, the enterprise's local calendar
    crude_steel = fields.DecimalField(max_digits=20, decimal_places=4)
    entered_by = fields.CharField(max_length=150)
    entered_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ca_plan_month"
        unique_together = (("enterprise", "month"),)


class TrialCalculation(Model):
    """A published trial calculation (试算): its figures as computed, the rule version, the kept results and the
    forecast it used. Never changed: a later rule change or new results make a new one, never rewrite this."""

    id = fields.IntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="trial_calculations", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    year = fields.IntField()
    rule_version = fields.IntField()
    figures: Any = fields.JSONField()
    published_by = fields.CharField(max_length=150)
    published_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ca_trial"
