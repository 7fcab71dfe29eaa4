"""The ingest benchmark still runs: tiny settings, every figure printed, every published reading stored once.

Throughput, lag and CPU are measured by `bench/ingest_bench.py` and read by people (bench/README.md), never
asserted by a timed test; this test only keeps the script from rotting. It needs what the benchmark needs:
PostgreSQL (CEM_TEST_POSTGRES_URL) and Mosquitto.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ingest_bench.py"
TINY = ["--gateways", "2", "--points-per-gateway", "200", "--rates", "400", "--seconds", "3", "--warmup", "1"]
FIGURES = [
    "readings/s (write calls only)",
    "publishers flat out",
    "offered points/s",
    "published points/s (PUBACKed)",
    "stored points/s",
    "lag p50 (median window)",
    "lag p95 (worst window)",
    "lag max",
    "ingest CPU",
    "PostgreSQL CPU (this database)",
    "Mosquitto CPU",
    "publishers CPU",
    "ingest CPU-s per 10k stored",
    "ingest+its PostgreSQL CPU-s per 10k",
    "readings published / stored",
    "highest offered rate sustained",
]


@pytest.mark.slow
def test_the_ingest_benchmark_runs_and_stores_every_reading(tmp_path: Path) -> None:
    assert shutil.which("mosquitto"), "mosquitto is not installed (the CI script installs it)"
    command = [sys.executable, str(BENCH), *TINY, "--baseline-seconds", "1", "--drain-timeout", "30"]
    leftovers = set(Path(tempfile.gettempdir()).glob("cem-ingest-bench-*"))
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        process.terminate()  # the script stops its processes and drops its database on SIGTERM
        stdout, stderr = process.communicate(timeout=60)
        pytest.fail(f"the benchmark took longer than 240 s:\n{(stdout + stderr)[-4000:]}")
    output = stdout + stderr
    assert process.returncode == 0, output[-4000:]
    assert "FAILED" not in stdout, output[-4000:]
    missing = [figure for figure in FIGURES if figure not in stdout]
    assert not missing, f"figures not printed: {missing}\n{output[-4000:]}"
    totals = re.search(r"readings published / stored\s+([\d,]+)/([\d,]+)", stdout)
    assert totals, output[-4000:]
    published, stored = (int(value.replace(",", "")) for value in totals.groups())
    assert published > 0
    assert stored == published, output[-4000:]
    assert "every published reading stored once: yes" in stdout, output[-4000:]
    assert set(Path(tempfile.gettempdir()).glob("cem-ingest-bench-*")) <= leftovers, "temporary folder left behind"
    assert not list(tmp_path.iterdir()), "the benchmark wrote into its working folder"
