"""The command line as an operator uses it: migrate, create the first user, serve; and the demo."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pyotp
import pytest

from cem_platform.seed import PLANT
from cem_platform.settings import Settings
from tests.test_gateway.harness import Collector
from tests.test_registry.broker import free_port, probe, tls_context

CEM = [sys.executable, "-m", "cem_platform.cli"]


def _wait_ready(base: str, process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early with {process.returncode}")
        try:
            if httpx.get(f"{base}/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready")


@contextmanager
def _running(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """Run a server with its output in cwd/server.log; stop it with Ctrl-C at the end."""
    with (cwd / "server.log").open("w") as log:
        process = subprocess.Popen(args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEM_")}
    env.update(extra)
    return env


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for `cem serve` and the CLI on the test database, CA and broker folder."""
    return _env(
        CEM_DATABASE_URL=settings.database.url,
        CEM_SECURITY_SECRET_KEY=settings.security.secret_key,
        CEM_PKI_PASSPHRASE=settings.pki.passphrase,
        CEM_PKI_DIR=settings.pki.dir,
        CEM_PKI_DEVICE_DAYS=str(settings.pki.device_days),
        CEM_BROKER_CONFIG_DIR=settings.broker.config_dir,
        CEM_LOG_JSON="true",
        **extra,
    )


@pytest.mark.slow
def test_operator_migrates_creates_first_user_and_serves(database_url: str, tmp_path: Path) -> None:
    env = _env(CEM_DATABASE_URL=database_url, CEM_SECURITY_SECRET_KEY="k" * 40, CEM_LOG_JSON="true")
    upgrade = subprocess.run(
        [*CEM, "db", "upgrade"], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert upgrade.returncode == 0, upgrade.stderr
    create = subprocess.run(
        [*CEM, "user", "create", "--username", "ops-auditor", "--role", "auditor", "--all-enterprises"],
        input="a-long-passphrase\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert create.returncode == 0, create.stderr
    weak = subprocess.run(
        [*CEM, "user", "create", "--username", "weak", "--role", "crew", "--all-enterprises"],
        input="short\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert weak.returncode == 1
    assert "shorter than" in weak.stderr and "what to do" in weak.stderr

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with _running([*CEM, "serve", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path) as server:
        _wait_ready(base, server)
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
        assert "/api/v1/auth/login" in httpx.get(f"{base}/schema/openapi.json").json()["paths"]
        login = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": "ops-auditor", "password": "a-long-passphrase"}
        )
        assert login.status_code == 200
        audit = httpx.get(f"{base}/api/v1/audit", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
        assert audit.status_code == 200
        assert {i["action"] for i in audit.json()["items"]} >= {"users.create", "auth.login"}
    output = (tmp_path / "server.log").read_text()
    assert "a-long-passphrase" not in output
    assert '"path": "/api/v1/auth/login"' in output  # structured access log


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # a process that ended meanwhile
        return b""


def _cwd(proc: Path) -> Path | None:
    try:
        return proc.joinpath("cwd").resolve(strict=True)
    except OSError:
        return None


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder under /tmp that other users can enter (the demo's Mosquitto runs as its own user)."""
    folder = Path(tempfile.mkdtemp(prefix="cem-demo-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    if not os.environ.get("CEM_TEST_KEEP_DEMO"):  # set it to look at a failed demo's logs
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_demo_prints_accounts_that_work(open_folder: Path) -> None:
    tmp_path = open_folder
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env()
    prepared = subprocess.run(
        [*CEM, "demo", "--no-serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert prepared.returncode == 0, prepared.stderr
    assert prepared.stderr == "", prepared.stderr  # the components' logs went to .cem-demo/*.log
    gateway = tmp_path / ".cem-demo" / "gateway"
    device_id = json.loads((gateway / "identity.json").read_text())["device_id"]
    assert f"enrolled as {device_id}" in prepared.stdout  # through the API, as `cem gateway enroll` does
    with _running([*CEM, "demo", "--port", str(port)], env, tmp_path) as demo:
        _wait_ready(base, demo)
        deadline = time.monotonic() + 90  # the banner comes once the plant, the gateway and the apps run
        while "Press Ctrl+C" not in (tmp_path / "server.log").read_text() and time.monotonic() < deadline:
            assert demo.poll() is None, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
        assert (tmp_path / ".cem-demo" / "cem.sqlite3").exists()
        password = re.search(r"password for all: (\S+)\)", prepared.stdout)
        secret = re.search(r"demo-admin\s+admin\s+TOTP secret (\w+)", prepared.stdout)
        assert password and secret, prepared.stdout
        executive = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": "demo-executive", "password": password.group(1)}
        )
        assert executive.status_code == 200
        # last month of the simulated works is accounted from its imported ledger, and the banner says so
        shown = re.search(r"emissions\s+(\d{4}-\d\d): ([\d,.]+) tCO2 net, ([\d.]+) tCO2/t", prepared.stdout)
        url = re.search(r"(http://\S+/api/v1/emissions\?\S+)", prepared.stdout)
        assert shown and url, prepared.stdout
        reader = {"Authorization": f"Bearer {executive.json()['access_token']}"}
        month = httpx.get(url.group(1), headers=reader)
        assert month.status_code == 200, month.text
        [result] = month.json()["results"]
        assert result["complete"] is True and result["final"] is True
        assert abs(Decimal(result["net"]) - Decimal(shown.group(2).replace(",", ""))) <= Decimal("0.05")
        assert Decimal(result["net"]) > 0 and 0 < Decimal(result["intensity"]) < 3
        assert set(result["by_category"]) >= {"fuel_combustion", "flux", "electrode", "electricity", "heat"}
        # its lineage is sent as the embedded database holds it, and says the same net (the column keeps 10 places)
        explained = httpx.get(f"{base}{result['lineage']}", headers=reader)
        assert explained.status_code == 200, explained.text
        lineage = explained.json()["lineage"]
        assert round(Decimal(lineage["totals"]["net"]), 10) == Decimal(result["net"]) and lineage["sources"]
        admin = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"username": "demo-admin", "password": password.group(1), "totp": pyotp.TOTP(secret.group(1)).now()},
        )
        assert admin.status_code == 200, admin.text
        headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
        points = httpx.get(f"{base}/api/v1/org/points", headers=headers).json()
        assert len(points) == sum(len(p) for *_, facilities in PLANT for *_, p in facilities)
        assert httpx.get(f"{base}/schema/openapi.json").status_code == 200
        devices = httpx.get(f"{base}/api/v1/registry/devices", headers=headers).json()
        assert [d["id"] for d in devices] == [device_id]
        assert devices[0]["state"] in ("enrolled", "active")  # active once ingest has heard from it
        broker = re.search(r"MQTT broker\s+mqtts://127.0.0.1:(\d+)", (tmp_path / "server.log").read_text())
        assert broker, (tmp_path / "server.log").read_text()
        context = tls_context(gateway / "ca.pem", gateway / "device.crt", gateway / "device.key")
        assert probe(int(broker.group(1)), context, device_id) == "accepted"
        # the simulated plant feeds the enrolled gateway, which publishes into the demo broker
        log = (tmp_path / "server.log").read_text()
        assert "plant simulator and field gateway running" in log, log
        assert f"gateway running as {device_id}" in (tmp_path / ".cem-demo" / "gateway.log").read_text()
        # The observer needs an ingest certificate of its own: the broker makes the CN the client id, so with the
        # demo's ingest certificate it would take the embedded ingest's session (`cem pki issue-service --name`).
        observer = tmp_path / "observer"
        demo_env = _env(
            CEM_DATABASE_URL="sqlite://.cem-demo/cem.sqlite3",
            CEM_SECURITY_SECRET_KEY_FILE=".cem-demo/secret.key",
            CEM_PKI_PASSPHRASE_FILE=".cem-demo/pki-passphrase",
            CEM_PKI_DIR=".cem-demo/pki",
            CEM_BROKER_CONFIG_DIR=".cem-demo/broker",
        )
        issue = [*CEM, "pki", "issue-service", "--dir", str(observer), "--name"]
        runs = {
            name: subprocess.run(
                [*issue, name], env=demo_env, cwd=tmp_path, capture_output=True, text=True, check=False
            )
            for name in ("cem-ingest-99", "cem-ingest-2")  # the first is not an ingest identity (8 processes)
        }
        refused, issued = runs["cem-ingest-99"], runs["cem-ingest-2"]
        assert refused.returncode == 1 and "'cem-ingest-99' is not an ingest identity" in refused.stderr
        assert issued.returncode == 0, issued.stderr
        collector = Collector(int(broker.group(1)), observer, confirm=False)
        collector.start()
        try:
            deadline = time.monotonic() + 30
            while len({r.point for _, r in collector.telemetry(device_id)}) < 20 and time.monotonic() < deadline:
                time.sleep(0.2)
            arrived = {r.point for _, r in collector.telemetry(device_id)}
            demo_dir = tmp_path / ".cem-demo"
            logs = {name: (demo_dir / name).read_text(errors="replace")[-3000:] for name in ("gateway.log",)}
            logs["server.log"] = "\n".join(
                line for line in (tmp_path / "server.log").read_text().splitlines() if "cem.access" not in line
            )[-4000:]
            logs["mosquitto.log"] = (demo_dir / "broker" / "mosquitto.log").read_text(errors="replace")[-3000:]
            if not {"IR.BF1.COKE", "PW.PB1.POWER", "AUX.GRID.IMPORT"} <= arrived:
                for name, text in logs.items():
                    print(f"----- {name}\n{text}")  # shown by pytest with the failure
            assert {"IR.BF1.COKE", "PW.PB1.POWER", "AUX.GRID.IMPORT"} <= arrived, arrived
        finally:
            collector.stop()
        # the demo's embedded ingest stores them: every meter of the plant has a value, nothing was refused
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            latest = httpx.get(
                f"{base}/api/v1/points/latest", params={"ids": ",".join(str(p["id"]) for p in points)}, headers=headers
            )
            assert latest.status_code == 200, latest.text
            with_value = [p["code"] for p in latest.json()["points"] if p["value"] is not None]
            if len(with_value) == len(points):
                break
            time.sleep(0.5)
        assert len(with_value) == len(points), latest.text
        letters = httpx.get(f"{base}/api/v1/ingest/dead-letters", headers=headers).json()
        assert letters["total"] == 0, letters
        devices = httpx.get(f"{base}/api/v1/registry/devices", headers=headers).json()
        assert devices[0]["state"] == "active"
        # the three Flet web apps are served and their URLs printed
        served = dict(
            re.findall(r"^\s+(wallboard|mobile|console)\s+(http://\S+)$", (tmp_path / "server.log").read_text(), re.M)
        )
        assert sorted(served) == ["console", "mobile", "wallboard"], (tmp_path / "server.log").read_text()[-2000:]
        for url in served.values():
            page = httpx.get(url)
            assert page.status_code == 200 and "flutter" in page.text.lower(), url
        # a part of the demo that dies is told in one line, pointing to its log
        [gateway_pid] = [
            int(proc.name)
            for proc in Path("/proc").iterdir()
            if proc.name.isdigit() and b"gateway\x00run" in _read(proc / "cmdline") and _cwd(proc) == tmp_path.resolve()
        ]
        os.kill(gateway_pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while "! gateway stopped" not in (tmp_path / "server.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (
            "  ! gateway stopped (killed by signal 9); see .cem-demo/gateway.log\n"
            in (tmp_path / "server.log").read_text()
        )
        # today is there from midnight on: the hours before the demo started come from the plant's model
        zone = ZoneInfo("Asia/Shanghai")
        now = dt.datetime.now(zone)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        hours = httpx.get(
            f"{base}/api/v1/emissions",
            params={
                "scope": "enterprise",
                "id": month.json()["id"],
                "period": "hour",
                "from": midnight.isoformat(),
                "to": (now + dt.timedelta(hours=1)).isoformat(),
            },
            headers=reader,
        )
        assert hours.status_code == 200, hours.text
        starts = {
            dt.datetime.fromisoformat(r["period_start"]) for r in hours.json()["results"] if Decimal(r["net"]) > 0
        }
        current = now.replace(minute=0, second=0, microsecond=0)
        expected = {midnight + dt.timedelta(hours=h) for h in range(int((current - midnight).total_seconds()) // 3600)}
        assert expected <= starts, sorted(expected - starts)
        # and no two months of the works' history are alike
        months = httpx.get(
            f"{base}/api/v1/emissions",
            params={
                "scope": "enterprise",
                "id": month.json()["id"],
                "period": "month",
                "from": f"{now.year - 1}-01",
                "to": f"{now.year}-{now.month:02d}",
            },
            headers=reader,
        )
        nets = [r["net"] for r in months.json()["results"]]
        assert len(nets) >= 12 and len(set(nets)) == len(nets), nets
    # the terminal: a few progress lines, then the banner, and nothing else (the components log to files)
    output = (tmp_path / "server.log").read_text()
    banner = output[output.index("CEM demo is running") :]
    before = output[: output.index("CEM demo is running")]
    assert len(before.strip().splitlines()) <= 8, before
    assert "Press Ctrl+C to stop the demo." in banner
    after = banner[banner.index("Press Ctrl+C to stop the demo.") :].strip().splitlines()
    assert after == [
        "Press Ctrl+C to stop the demo.",
        "  ! gateway stopped (killed by signal 9); see .cem-demo/gateway.log",
        "CEM demo stopped",
    ], after
    for noise in ("Traceback", " INFO ", " WARNING ", " ERROR ", "uvicorn", "httpx", "flet", "broker reload failed"):
        assert noise not in output, noise
    assert re.search(r"\.venv/bin/cem totp-now [A-Z2-7]{32}$", banner, re.M), banner
    for name in ("api.log", "ingest.log", "jobs.log", "clients.log", "gateway.log", "simulator.log"):
        assert (tmp_path / ".cem-demo" / name).stat().st_size > 0, name
    assert "uvicorn" in (tmp_path / ".cem-demo" / "api.log").read_text()


def test_a_second_demo_run_waits_for_its_own_simulator(tmp_path: Path) -> None:
    """The demo's logs are appended to: the line of an earlier run (other ports, another point map) must not be
    taken for the new process's (a second `make demo` once gave the gateway the first run's ports)."""
    from cem_platform.cli import _log_end, _wait_for_line

    log = tmp_path / "simulator.log"
    log.write_text("simulator ready coke-sinter-plc=modbus://127.0.0.1:1111\nsimulator stopped\n")
    since = _log_end(log)
    script = (
        "import sys, time; time.sleep(0.5)\n"
        "with open(sys.argv[1], 'a') as f: f.write('simulator ready coke-sinter-plc=modbus://127.0.0.1:2222\\n')\n"
        "time.sleep(5)"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(log)])  # noqa: S603 - our own command
    try:
        line = _wait_for_line(process, log, "simulator ready", since, timeout=20)
    finally:
        process.kill()
        process.wait()
    assert line is not None and line.endswith(":2222")
