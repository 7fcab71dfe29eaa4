"""The time-series tables, created by migration 0004 with SQL per database.

PostgreSQL: raw readings are range-partitioned by month on ``ts`` (``ts_reading_YYYYMM``) and hourly
rollups by year (``ts_rollup_hour_YYYY``); partitions are created ahead by the partition-maintenance job and
on demand by ingest, and dropped when they fall out of retention. SQLite (demo): the same tables, unpartitioned.

Primary keys are the natural keys, which is how a reading sent twice is stored once: (point, ts).

SQLite keeps every time as integer milliseconds since 1970 UTC and dates as 'YYYY-MM-DD' text.
Day and month rollups are keyed by the enterprise's local date (Asia/Shanghai: a day starts 16:00 UTC).

Raw reading columns: ``quality`` 0 good, 1 uncertain; ``flags`` a bit set (see ``FLAG_BITS``); ``seq`` the
device's sequence number of the reading (tracing a value back to the gateway's buffer).
"""

from __future__ import annotations

__all__ = ["FLAG_BITS", "QUALITY_CODES", "create_sql", "drop_sql"]

FLAG_BITS = {"filled": 1, "stuck": 2, "rollover": 4, "reset": 8, "step": 16}
QUALITY_CODES = {"good": 0, "uncertain": 1}

_ROLLUP_COLUMNS = """
    readings INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    uncertain INTEGER NOT NULL,
    delta_sum DOUBLE PRECISION,
    value_min DOUBLE PRECISION,
    value_max DOUBLE PRECISION,
    value_sum DOUBLE PRECISION,
    first_ts {ts},
    last_ts {ts},
    last_value DOUBLE PRECISION,
    computed_at {ts} NOT NULL"""


def _tables(ts: str, partition_reading: str, partition_hour: str) -> list[str]:
    rollup = _ROLLUP_COLUMNS.format(ts=ts)
    return [
        f"""CREATE TABLE ts_reading (
    point_id INTEGER NOT NULL,
    ts {ts} NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    delta DOUBLE PRECISION,
    since {ts},
    quality SMALLINT NOT NULL DEFAULT 0,
    estimated BOOLEAN NOT NULL DEFAULT FALSE,
    flags SMALLINT NOT NULL DEFAULT 0,
    seq BIGINT NOT NULL,
    PRIMARY KEY (point_id, ts)
){partition_reading}""",
        # New readings, appended by ingest in the transaction that stores them, folded into the rollups and
        # deleted by the rollup job in one transaction: every stored reading is counted in its rollups once.
        f"""CREATE TABLE ts_pending (
    point_id INTEGER NOT NULL,
    ts {ts} NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    delta DOUBLE PRECISION,
    quality SMALLINT NOT NULL,
    estimated BOOLEAN NOT NULL
)""",
        # Which terminal delivers each point (ingest writes it when that changes): data alarms of a point are
        # held back while its terminal is offline, so one outage raises one alarm, not one per meter.
        f"""CREATE TABLE ts_point_source (
    point_id INTEGER NOT NULL PRIMARY KEY,
    device_id VARCHAR(64) NOT NULL,
    since {ts} NOT NULL
)""",
        f"""CREATE TABLE ts_batch (
    device_id VARCHAR(64) NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    readings INTEGER NOT NULL,
    stored INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    sent_at {ts} NOT NULL,
    received_at {ts} NOT NULL,
    PRIMARY KEY (device_id, first_seq, received_at)
)""",
        f"CREATE TABLE ts_rollup_hour (\n    point_id INTEGER NOT NULL,\n    bucket {ts} NOT NULL,{rollup},\n"
        f"    PRIMARY KEY (point_id, bucket)\n){partition_hour}",
        f"CREATE TABLE ts_rollup_day (\n    point_id INTEGER NOT NULL,\n    bucket DATE NOT NULL,{rollup},\n"
        "    PRIMARY KEY (point_id, bucket)\n)",
        f"CREATE TABLE ts_rollup_month (\n    point_id INTEGER NOT NULL,\n    bucket DATE NOT NULL,{rollup},\n"
        "    PRIMARY KEY (point_id, bucket)\n)",
        "CREATE INDEX ts_batch_received ON ts_batch (received_at)",
    ]


def create_sql(dialect: str) -> list[str]:
    """The statements that create the time-series tables on this database (``postgres`` or ``sqlite``)."""
    if dialect == "postgres":
        return _tables("TIMESTAMPTZ", " PARTITION BY RANGE (ts)", " PARTITION BY RANGE (bucket)")
    # SQLite keeps times as integer milliseconds since 1970 UTC (dates as 'YYYY-MM-DD' text); WITHOUT ROWID
    # keeps a reading one B-tree entry keyed by (point, ts). ts_pending has no key: it keeps its rowid.
    return [
        stmt + " WITHOUT ROWID" if stmt.startswith("CREATE TABLE") and "PRIMARY KEY" in stmt else stmt
        for stmt in _tables("INTEGER", "", "")
    ]


def drop_sql() -> list[str]:
    """The statements that remove them again (migration rollback)."""
    return [
        f"DROP TABLE IF EXISTS {name}"
        for name in (
            "ts_rollup_month",
            "ts_rollup_day",
            "ts_rollup_hour",
            "ts_batch",
            "ts_point_source",
            "ts_pending",
            "ts_reading",
        )
    ]
