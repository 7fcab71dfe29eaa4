"""The demo's SQLite gives the same figures as PostgreSQL: write, fold, series of every interval, latest."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import Any

from litestar import Litestar

from tests.test_timeseries.parity import scenario

ROOT = Path(__file__).resolve().parents[2]


def _assert_same(pg: Any, lite: Any, where: str = "") -> None:
    if isinstance(pg, dict):
        assert isinstance(lite, dict) and set(pg) == set(lite), where
        for key in pg:
            _assert_same(pg[key], lite[key], f"{where}.{key}")
    elif isinstance(pg, list):
        assert isinstance(lite, list) and len(pg) == len(lite), where
        for i, (a, b) in enumerate(zip(pg, lite, strict=True)):
            _assert_same(a, b, f"{where}[{i}]")
    elif isinstance(pg, float) or isinstance(lite, float):
        assert math.isclose(pg, lite, rel_tol=1e-9, abs_tol=1e-9), (where, pg, lite)
    else:
        assert pg == lite, (where, pg, lite)


async def test_sqlite_gives_the_same_figures_as_postgresql(app: Litestar, tmp_path: Path) -> None:
    shanghai_evening = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    base = shanghai_evening - dt.timedelta(days=6)  # 20:00 in Shanghai: 30 hours cover three local days
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.test_timeseries.parity",
        str(tmp_path / "demo.sqlite3"),
        base.isoformat(),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()[-3000:]
    on_sqlite = json.loads(out)
    on_postgres = await scenario(base)

    maintenance = on_sqlite.pop("maintenance")
    # SQLite has no partitions: retention deletes rows. The old reading and its batch go, its rollups stay.
    assert maintenance["created"] == maintenance["dropped"] == []
    assert maintenance["deleted"] == {
        "ts_reading": 1,
        "ts_batch": 1,
        "ts_rollup_hour": 0,
        "ts_rollup_day": 0,
        "ts_rollup_month": 0,
    }
    assert on_postgres["folds"][-1] == 0  # everything was folded, resends were not queued again
    # ingest's write refuses the same readings on both: another value for a stored time, seqs used again
    assert on_postgres["checked"] == [
        [3, 0, []],
        [1, 1, [[1, "value_conflict", 2.0], [2, "seq_reused", None], [4, "seq_reused", None]]],
    ]
    _assert_same(on_postgres, on_sqlite)
    # the hourly series of one point and the raw series of the other hold every reading stored, once
    assert on_postgres["hour"]["readings"] + len(on_postgres["raw"]["raw"]) == on_postgres["stored"] > 0
    assert len(on_postgres["hour"]["buckets"]) == 31
    assert len(on_postgres["day"]["buckets"]) == 3 and on_postgres["raw"]["raw"]
    assert sum(b["readings"] for b in on_postgres["month"]["buckets"]) == on_postgres["hour"]["readings"]
