"""The gateway benchmark still runs: tiny settings, every figure printed (the figures themselves are not judged here).

Speed and memory are measured by `bench/gateway_bench.py` and read by people (bench/README.md), never asserted by a
timed test; this test only keeps the script from rotting.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gateway_bench.py"
FIGURES = [
    "raw reads/s",
    "1 in flight: readings/s",
    "offered points/s",
    "stored readings/s",
    "delivered points/s (measured)",
    "delivered gap-filled/s",
    "latency p50",
    "latency p95",
    "gateway CPU",
    "gateway peak RSS",
    "buffer depth start/end",
    "reconnect after broker back",
    "backlog at reconnect",
    "drain time",
    "live during the drain",
]


@pytest.mark.slow
def test_the_benchmark_runs_and_prints_its_figures(tmp_path: Path) -> None:
    assert shutil.which("mosquitto"), "mosquitto is not installed (the CI script installs it)"
    command = [
        sys.executable,
        str(BENCH),
        *("--points", "200", "--seconds", "3", "--warmup", "1", "--baseline-seconds", "1"),
        *("--outage", "2", "--fast-poll", "0.5", "--drain-timeout", "15"),
    ]
    leftovers = set(Path(tempfile.gettempdir()).glob("cem-gateway-bench-*"))
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.terminate()  # the script stops its gateway, broker and plant on SIGTERM
        stdout, stderr = process.communicate(timeout=30)
        pytest.fail(f"the benchmark took longer than 120 s:\n{(stdout + stderr)[-4000:]}")
    output = stdout + stderr
    assert process.returncode == 0, output[-4000:]
    assert "poll 1 s" in stdout and "poll 0.5 s" in stdout, output[-4000:]
    missing = [figure for figure in FIGURES if figure not in stdout]
    assert not missing, f"figures not printed: {missing}\n{output[-4000:]}"
    assert "FAILED" not in stdout, output[-4000:]
    assert "n/a" not in stdout.split("live during the drain")[0], output[-4000:]
    assert set(Path(tempfile.gettempdir()).glob("cem-gateway-bench-*")) <= leftovers, "temporary folder left behind"
    assert not list(tmp_path.iterdir()), "the benchmark wrote into its working folder"
