"""What the benchmark scripts share: loopback ports, processes, CPU from /proc, percentiles, tables, a work folder.

The scripts run as ``python bench/NAME.py``, so this folder is on their import path.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "HOST",
    "cpu_seconds",
    "fmt",
    "free_port",
    "percentile",
    "port_open",
    "stop_process",
    "table",
    "workspace",
]

HOST = "127.0.0.1"
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    """Whether something listens on the loopback port."""
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def stop_process(process: subprocess.Popen[Any] | None, timeout: float = 20.0) -> int | None:
    """SIGTERM, wait, SIGKILL if it does not end; the exit code."""
    if process is None:
        return None
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


def cpu_seconds(pid: int | None, thread: int | None = None) -> float:
    """User + system CPU time of a process so far (all its threads, or only ``thread``), or 0 if it is gone."""
    if pid is None:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@contextlib.contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    """A temporary folder under /tmp the broker's user can traverse; removed at the end."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fmt(value: float | None, digits: int = 0, suffix: str = "") -> str:
    """A figure with thousands separators, or n/a."""
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{suffix}"


def table(rows: list[tuple[str, list[str]]], header: list[str]) -> str:
    """Rows of named figures under a header, right-aligned columns."""
    width = max(len(name) for name, _ in rows + [("", header)])
    cols = [max(len(header[i]), *(len(values[i]) for _, values in rows)) for i in range(len(header))]
    lines = ["  " + " " * width + "  " + "  ".join(h.rjust(c) for h, c in zip(header, cols, strict=True))]
    lines.append("  " + "-" * (width + 2 + sum(cols) + 2 * (len(cols) - 1)))
    for name, values in rows:
        lines.append("  " + name.ljust(width) + "  " + "  ".join(v.rjust(c) for v, c in zip(values, cols, strict=True)))
    return "\n".join(lines)
