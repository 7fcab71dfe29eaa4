"""Tortoise models of emission accounting (standard 5.4.3, 5.4.9, 5.2.3.3, 5.4.4.2).

* :class:`LibraryVersion` — the accounting standard library as versioned data. Each edition of the
  methodology (and the grid factor series) is a chain of versions; version 1 is the seeded default set and
  every online change adds a version with its author, reason, time, the diff and the full parameter set.
  Nothing is ever updated in place, so a result can always name the exact parameters it used.
* :class:`EmissionSource` — the emission-source inventory: enterprise and process level, itemised by the
  standard's categories, with where each activity input comes from (meter points, manual entry, import,
  a third-party feed). Category ``output`` rows are production outputs (crude steel, a process's product)
  used for intensities, not emissions.
* :class:`ActivityRecord` — activity data entered by hand, imported from a ledger or delivered by a feed,
  one value per source, input and period. A correction supersedes a record; the old one stays.
* :class:`Evidence` — an attachment (scan of a weighbridge ticket, an invoice) backing manual entries.
* :class:`ActivityImport` — an uploaded ledger with its row-by-row validation report; its valid rows are
  written all together on confirmation, or not at all.
* :class:`YearMethod` — which edition (and library version) a reporting year is accounted under.
* :class:`EmissionResult` — one accounting of one enterprise for one period, with its lineage. A change
  of inputs or factors adds a new version; the earlier one stays for audit. Results are kept: the refresh job
  writes them, reads only read them.
* :class:`PendingRecalculation` — a range of an enterprise whose inputs changed since its results were
  accounted (new meter rollups, entered or imported activity, a source, a library or a year's method): the
  refresh job accounts the periods meeting it again and deletes the mark; reads show those periods as pending.
* :class:`ReportingYear` — the reporting state of an enterprise's year (draft, submitted, verified, locked)
  with the figures as reported; a year past draft keeps its results exactly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec
from tortoise import fields
from tortoise.models import Model

from cem_platform.org.models import Enterprise, Process

__all__ = [
    "ActivityImport",
    "ActivityOrigin",
    "ActivityRecord",
    "EmissionResult",
    "EmissionSource",
    "Evidence",
    "ImportStatus",
    "LibraryVersion",
    "PendingRecalculation",
    "PeriodKind",
    "ReportState",
    "ReportingYear",
    "ResultStamp",
    "YearMethod",
]

# Exact decimals are stored with 28 digits, 10 of them after the point (values up to 10^18, precision 10^-10).


class PeriodKind(StrEnum):
    """Accounting periods; all but hour start at local midnight of the enterprise's time zone."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"  # ISO week, Monday to Monday
    MONTH = "month"
    YEAR = "year"


class ActivityOrigin(StrEnum):
    """Where an activity input's data comes from."""

    METER = "meter"  # rollups of measurement points
    MANUAL = "manual"  # 人工采集: entered by a person, with evidence
    IMPORT = "import"  # a ledger file (CSV, XLSX)
    FEED = "feed"  # a third-party system (ERP, weighbridge, utility bill) through the API


class ImportStatus(StrEnum):
    """Life of an uploaded ledger."""

    VALIDATED = "validated"  # checked, waiting for the user's confirmation
    IMPORTED = "imported"  # its valid rows are stored
    DISCARDED = "discarded"  # the user dropped it


class ReportState(StrEnum):
    """Where an enterprise's year stands with the regulator."""

    DRAFT = "draft"  # results follow their inputs
    SUBMITTED = "submitted"  # reported: figures, library versions and inputs are kept exactly
    VERIFIED = "verified"  # the third-party verifier recorded the verified figures and findings
    LOCKED = "locked"  # closed; reopening needs step-up


class LibraryVersion(Model):
    """One version of one library (an edition code, or ``grid-factors``).

    ``parameters`` is the complete set in force from this version on: a list of plain parameter records
    (code, value as text, unit, source, confidence, valid_from, valid_until). ``diff`` lists what changed
    against the previous version: ``[{"code", "change": added|changed|removed, "before", "after"}]``.
    """

    id = fields.IntField(primary_key=True)
    library = fields.CharField(max_length=64)
    number = fields.IntField()
    author = fields.CharField(max_length=150)
    reason = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)
    diff: Any = fields.JSONField(default=list)
    parameters: Any = fields.JSONField(default=list)

    class Meta:
        table = "acc_library_version"
        unique_together = (("library", "number"),)
        ordering = ["library", "number"]


class EmissionSource(Model):
    """An emission source (or a production output) of an enterprise, optionally of one of its processes.

    ``inputs`` maps each activity input of the category's method to where its data comes from::

        {"FC": {"origin": "meter", "points": [{"id": 12, "sign": 1}, {"id": 13, "sign": -1}]},
         "NCV": ...}                                       # only activity inputs, never parameters
        {"AD": {"origin": "manual", "unit": "t"}}          # manual, import and feed read ActivityRecord rows
        {"FC": {"origin": "balance", "unit": "10^4 Nm3", "share": "0.25"}}  # a share of the maker's balance

    ``overrides`` holds measured parameter values replacing the edition's defaults for this source:
    ``{"NCV": {"value": "28.1", "unit": "GJ/t", "origin": "lab report 2025-07"}}``.
    """

    id = fields.IntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="emission_sources", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    process: fields.ForeignKeyNullableRelation[Process] = fields.ForeignKeyField(
        "cem.Process", related_name="emission_sources", null=True, on_delete=fields.RESTRICT
    )
    process_id: int | None
    facility_id = fields.IntField(null=True)
    code = fields.CharField(max_length=64)
    name = fields.CharField(max_length=200)
    category = fields.CharField(max_length=32)  # a SourceCategory value, or "output"
    item = fields.CharField(max_length=64, default="")  # fuel, material or product code
    inputs: Any = fields.JSONField(default=dict)
    overrides: Any = fields.JSONField(default=dict)
    grid_kind = fields.CharField(max_length=32, default="ets_prescribed")
    grid_region = fields.CharField(max_length=32, default="national")
    # "sold": a line of what leaves the boundary (by-product gas, tar or crude benzene sold; electricity or heat
    # exported), entered as a positive quantity and accounted with a minus sign. "transfer": what one process makes
    # and another uses inside the works (coke, by-product gas, hot metal, sub-metered electricity): it counts at
    # ``process`` (the user) and, with a minus sign, at ``from_process_id`` (the maker; None: the enterprise level,
    # e.g. the grid tie), so the processes follow the carbon and the enterprise's total is unchanged. "made": what a
    # process makes (its by-product gas generation), which feeds the balance of its unmetered users (balance.py) and
    # counts nowhere else
    direction = fields.CharField(max_length=8, default="consumed")
    from_process_id = fields.IntField(null=True)
    active = fields.BooleanField(default=True)
    # The local days the source counts in (inclusive, None: open). Retiring a source sets the last day, so the
    # periods it was in service keep it when they are accounted again.
    in_service_from = fields.DateField(null=True)
    in_service_until = fields.DateField(null=True)
    note = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "acc_source"
        unique_together = (("enterprise", "code"),)
        ordering = ["enterprise_id", "code"]


class Evidence(Model):
    """A file backing activity data: what it is, its hash, and the bytes."""

    id = fields.IntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="accounting_evidence", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=100)
    sha256 = fields.CharField(max_length=64)
    size = fields.IntField()
    content = fields.BinaryField()
    uploaded_by = fields.CharField(max_length=150)
    uploaded_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "acc_evidence"


class ActivityImport(Model):
    """An uploaded ledger: its validation report, its valid rows, and whether they were imported."""

    id = fields.IntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="activity_imports", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    filename = fields.CharField(max_length=255)
    sha256 = fields.CharField(max_length=64)
    status = fields.CharEnumField(ImportStatus, max_length=16, default=ImportStatus.VALIDATED)
    total_rows = fields.IntField(default=0)
    valid_rows = fields.IntField(default=0)
    report: Any = fields.JSONField(default=list)  # one entry per data row: row, status, errors, the values
    rows: Any = fields.JSONField(default=list)  # the valid rows as they will be written
    created_by = fields.CharField(max_length=150)
    created_at = fields.DatetimeField(auto_now_add=True)
    decided_by = fields.CharField(max_length=150, default="")
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "acc_import"


class ActivityRecord(Model):
    """One value of one activity input of one source over [period_start, period_end) (UTC instants).

    ``superseded_by`` is set when a correction replaces it; superseded records are never used again but
    stay, so an earlier result can still be explained.
    """

    id = fields.BigIntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="activity_records", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    source: fields.ForeignKeyRelation[EmissionSource] = fields.ForeignKeyField(
        "cem.EmissionSource", related_name="records", on_delete=fields.RESTRICT
    )
    source_id: int
    input_name = fields.CharField(max_length=32)
    period_start = fields.DatetimeField()
    period_end = fields.DatetimeField()
    value = fields.DecimalField(max_digits=28, decimal_places=10)
    unit = fields.CharField(max_length=32)
    origin = fields.CharEnumField(ActivityOrigin, max_length=16)
    estimated = fields.BooleanField(default=False)
    note = fields.TextField(default="")
    evidence: fields.ForeignKeyNullableRelation[Evidence] = fields.ForeignKeyField(
        "cem.Evidence", related_name="records", null=True, on_delete=fields.RESTRICT
    )
    evidence_id: int | None
    import_batch: fields.ForeignKeyNullableRelation[ActivityImport] = fields.ForeignKeyField(
        "cem.ActivityImport", related_name="records", null=True, on_delete=fields.RESTRICT
    )
    import_batch_id: int | None
    import_row = fields.IntField(null=True)
    entered_by = fields.CharField(max_length=150)
    entered_at = fields.DatetimeField(auto_now_add=True)
    superseded_by = fields.BigIntField(null=True)
    superseded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "acc_activity"
        indexes = (("source_id", "input_name", "period_start"),)


class YearMethod(Model):
    """The methodology a reporting year of an enterprise is accounted under (default: GB/T 32151.5-2015)."""

    id = fields.IntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="year_methods", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    year = fields.IntField()
    edition = fields.CharField(max_length=64)
    library_version = fields.IntField(null=True)  # None: the edition's newest version at calculation time
    grid_version = fields.IntField(null=True)  # None: the grid factor series' newest version
    changed_by = fields.CharField(max_length=150)
    changed_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "acc_year_method"
        unique_together = (("enterprise", "year"),)


def result_json(value: Any) -> str:
    """A kept result's JSON columns as text: compact, UTF-8 as it is (PostgreSQL keeps jsonb parsed anyway), several
    times faster than the standard library for lineages of a hundred kilobytes."""
    return msgspec.json.encode(value).decode()


def result_value(text: str | bytes) -> Any:
    """A kept result's JSON column from its text."""
    return msgspec.json.decode(text)


class EmissionResult(Model):
    """One accounting of one enterprise for one period, version ``version`` (tCO2, exact decimals).

    ``current`` marks the newest version of the period. ``fingerprint`` is a hash of everything the figure
    depends on (inputs, parameters, formula and library versions): recalculating with the same fingerprint
    keeps the result; another fingerprint adds a version. ``lineage`` explains every source figure. A period that
    has not ended yet has one provisional row (``final`` False) that is refreshed in place; once the period
    has ended, results are versioned like any other.
    """

    id = fields.BigIntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="emission_results", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    period = fields.CharEnumField(PeriodKind, max_length=8)
    period_start = fields.DatetimeField()
    period_end = fields.DatetimeField()
    version = fields.IntField()
    current = fields.BooleanField(default=True)
    final = fields.BooleanField(default=True)  # False while the period is still running: replaced in place
    fingerprint = fields.CharField(max_length=64)
    edition = fields.CharField(max_length=64)
    library_version = fields.IntField()
    grid_version = fields.IntField()
    net = fields.DecimalField(max_digits=28, decimal_places=10)
    combustion = fields.DecimalField(max_digits=28, decimal_places=10)
    process_emissions = fields.DecimalField(max_digits=28, decimal_places=10)
    electricity = fields.DecimalField(max_digits=28, decimal_places=10)
    heat = fields.DecimalField(max_digits=28, decimal_places=10)
    fixed_carbon = fields.DecimalField(max_digits=28, decimal_places=10)
    crude_steel = fields.DecimalField(max_digits=28, decimal_places=10, null=True)
    intensity = fields.DecimalField(max_digits=28, decimal_places=10, null=True)
    complete = fields.BooleanField()
    estimated = fields.BooleanField()
    by_category: Any = fields.JSONField(default=dict, encoder=result_json, decoder=result_value)
    by_process: Any = fields.JSONField(default=dict, encoder=result_json, decoder=result_value)
    # the period's energy in tce per carrier and process (accounting/energy.py); None for results kept before it
    energy: Any = fields.JSONField(null=True, encoder=result_json, decoder=result_value)
    # each source's own figures (its lines where it counts, not the maker's side of a transfer), from the lineage:
    # {code: {"category", "net" (signed, tCO2), "carrier", "tce", "mwh"}}; None for results kept before it
    by_source: Any = fields.JSONField(null=True, encoder=result_json, decoder=result_value)
    # the enterprise's output value (产值) in 10^4 CNY where it is entered (an output source of item output_value)
    output_value = fields.DecimalField(max_digits=28, decimal_places=10, null=True)
    lineage: Any = fields.JSONField(default=dict, encoder=result_json, decoder=result_value)
    reason = fields.CharField(max_length=300, default="")
    created_by = fields.CharField(max_length=150)
    created_at = fields.DatetimeField(auto_now_add=True)
    superseded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "acc_result"
        unique_together = (("enterprise", "period", "period_start", "version"),)
        indexes = (("enterprise_id", "period", "current", "period_start"),)


class ResultStamp(Model):
    """A token that changes whenever an enterprise's kept results do (a new version, a running period refreshed in
    place, an hour retired), written in the same transaction. Reads of kept results cache what they read against it
    (:mod:`cem_platform.accounting.reads`): the same token, the same rows. A random token, never a counter, so that
    it never repeats (not after the table is emptied either). No row: nothing kept yet, nothing cached."""

    enterprise_id = fields.IntField(primary_key=True, generated=False)
    token = fields.CharField(max_length=32)
    changed_at = fields.DatetimeField()

    class Meta:
        table = "acc_result_stamp"


class PendingRecalculation(Model):
    """[range_start, range_end) of an enterprise must be accounted again: its inputs changed (``cause``)."""

    id = fields.BigIntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="pending_recalculations", on_delete=fields.CASCADE
    )
    enterprise_id: int
    range_start = fields.DatetimeField()
    range_end = fields.DatetimeField()
    cause = fields.CharField(max_length=32)  # meter, activity, import, source, library, year_method, draft
    detail = fields.CharField(max_length=300, default="")
    created_by = fields.CharField(max_length=150)
    created_at = fields.DatetimeField(auto_now_add=True)
    error = fields.TextField(default="")  # the refresh failed on this range: it waits for a new change

    class Meta:
        table = "acc_pending"
        indexes = (("enterprise_id", "range_start"),)


class ReportingYear(Model):
    """The reporting state of one enterprise's year, the figures as submitted and as verified, and its history."""

    id = fields.IntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="reporting_years", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    year = fields.IntField()
    state = fields.CharEnumField(ReportState, max_length=16, default=ReportState.DRAFT)
    draft = fields.IntField(default=1)  # the draft's number: a new draft of a reported year counts up
    result_id = fields.BigIntField(null=True)  # the year result submitted
    reported: Any = fields.JSONField(null=True)  # figures as submitted (tCO2, exact strings) and their versions
    verifier = fields.CharField(max_length=150, default="")  # the user name of the assigned verifier
    verified: Any = fields.JSONField(null=True)  # figures as verified, by the verifier
    findings = fields.TextField(default="")
    drift: Any = fields.JSONField(null=True)  # what the year would be if accounted now, and the difference
    history: Any = fields.JSONField(default=list)  # every transition: state, by, at, reason
    changed_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "acc_reporting_year"
        unique_together = (("enterprise", "year"),)
