"""The ``cem`` command: database, server, users and the demo."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import getpass
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cem_platform.errors import CemError
from cem_platform.settings import get_settings

__all__ = ["main"]

DEMO_DIR = Path(".cem-demo")


def _db_upgrade(args: argparse.Namespace) -> int:
    from cem_platform.db import upgrade_db

    settings = get_settings()
    asyncio.run(upgrade_db(settings.database))
    print("database schema is up to date")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "cem_platform.app:create_app",
        factory=True,
        host=args.host or settings.server.host,
        port=args.port or settings.server.port,
        workers=args.workers or settings.server.worker_count(settings.database.url, settings.ingest.embedded),
        log_config=None,
        proxy_headers=False,
        access_log=False,
    )
    return 0


def _user_create(args: argparse.Namespace) -> int:
    from cem_platform.identity.principal import Principal
    from cem_platform.identity.roles import Role
    from cem_platform.identity.services import IdentityService
    from cem_platform.org.models import Enterprise

    settings = get_settings()
    password = os.environ.get("CEM_NEW_USER_PASSWORD") if args.password_from_env else None
    if password is None:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("password: ")
            if getpass.getpass("again: ") != password:
                print("the two passwords differ", file=sys.stderr)
                return 2

    async def run() -> None:
        scopes: list[tuple[int, int | None]] = []
        for code in args.enterprise or []:
            enterprise = await Enterprise.get_or_none(code=code)
            if enterprise is None:
                raise CemError(f"no enterprise with code {code!r}", hint="Create it first, or use --all-enterprises.")
            scopes.append((enterprise.id, None))
        user = await IdentityService(settings).create_user(
            Principal.system(name=f"cli:{getpass.getuser()}", kind="cli"),
            username=args.username,
            password=password,
            role=Role(args.role),
            display_name=args.display_name or "",
            all_enterprises=args.all_enterprises,
            scopes=scopes,
        )
        print(f"created user {user.username} (id {user.id}, role {user.role.value})")
        if user.role.value in ("admin", "device_admin", "accountant"):
            print("this role must enrol an authenticator (TOTP) at first login: POST /api/v1/auth/totp/enrol")

    from cem_platform.db import run_with_db

    run_with_db(lambda _: run())
    return 0


def _ingest(args: argparse.Namespace) -> int:
    import signal

    import msgspec

    from cem_platform.db import run_with_db
    from cem_platform.logs import configure_logging
    from cem_platform.settings import Settings
    from cem_platform.telemetry.consumer import IngestConsumer

    pairs = (("client_id", args.client_id), ("group", args.group), ("identity_dir", args.identity_dir))
    overrides = {k: v for k, v in pairs if v}
    settings = get_settings()
    if overrides:
        settings = msgspec.structs.replace(settings, ingest=msgspec.structs.replace(settings.ingest, **overrides))
    configure_logging(settings.log)

    async def run(_: Settings) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await IngestConsumer(settings).run(stop)

    run_with_db(run)
    print("ingest stopped", flush=True)
    return 0


def _totp_now(args: argparse.Namespace) -> int:
    import pyotp

    print(pyotp.TOTP(args.secret).now())
    return 0


def _free_port(preferred: int) -> int:
    import socket

    for candidate in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
            return port
    raise CemError("no free TCP port on 127.0.0.1")


def _start_broker(config: Path, pid_file: Path) -> subprocess.Popen[bytes] | None:
    """The machine's Mosquitto with the generated mTLS configuration, when it is installed."""
    binary = shutil.which("mosquitto")
    if binary is None:
        return None
    log = (config.parent / "mosquitto.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        [binary, "-c", str(config)], stdout=log, stderr=log, start_new_session=True
    )
    pid_file.write_text(f"{process.pid}\n")
    atexit.register(process.terminate)
    try:
        process.wait(timeout=1.5)  # a broker that cannot read its files stops at once
    except subprocess.TimeoutExpired:
        return process
    tail = (config.parent / "mosquitto.log").read_text(errors="replace").strip().splitlines()[-2:]
    print(
        f"  MQTT broker     failed to start: {' / '.join(tail)}\n"
        "                  Mosquitto drops to its own user, which must be able to read the demo folder:"
        " run the demo from a folder other users can enter.",
        file=sys.stderr,
    )
    return None


def _background(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """A ``cem`` command in the background, stopped when the demo ends.

    It gets a session of its own, so Ctrl+C reaches the demo only, which then stops its parts (at exit).
    """
    with log.open("ab") as handle:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", "cem_platform.cli", *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    atexit.register(process.terminate)
    return process


def _log_end(log: Path) -> int:
    """Where a log ends now: what a process started next writes comes after it (the logs are appended to)."""
    return log.stat().st_size if log.exists() else 0


def _wait_for_line(
    process: subprocess.Popen[bytes], log: Path, text: str, since: int, timeout: float = 60.0
) -> str | None:
    """The first line containing ``text`` that ``process`` wrote to ``log`` after offset ``since`` (a line of an
    earlier demo run in the same log does not count: its ports and its map are gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with log.open("rb") as handle:
            handle.seek(since)
            for line in handle.read().decode(errors="replace").splitlines():
                if text in line:
                    return line
        time.sleep(0.2)
    return None


@dataclass
class _Part:
    """A process of the running demo, watched so that its death is told on the terminal."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class _Running:
    """What the demo started, for the banner and the watch."""

    parts: list[_Part] = field(default_factory=list)
    fault_control: str | None = None
    apps: list[tuple[str, str]] = field(default_factory=list)


def _start_plant_and_gateway(running: _Running) -> None:
    """The simulated steel works (Modbus TCP + OPC UA) and the enrolled gateway polling it into the broker."""
    point_map, sim_log, gw_log = DEMO_DIR / "plant-map.toml", DEMO_DIR / "simulator.log", DEMO_DIR / "gateway.log"
    since = _log_end(sim_log)
    simulator = _background(
        ["simulate", "plant", "--host", "127.0.0.1", "--port-base", "0", "--point-map", str(point_map)], sim_log
    )
    ready = _wait_for_line(simulator, sim_log, "simulator ready", since)
    if ready is None:
        print(f"  plant simulator failed to start; see {sim_log}", file=sys.stderr, flush=True)
        return
    running.parts.append(_Part("plant simulator", simulator, sim_log))
    running.fault_control = ready.split("control=", 1)[-1].split()[0] if "control=" in ready else None
    config = DEMO_DIR / "gateway.toml"
    config.write_text(
        "# The demo gateway: identity from `cem gateway enroll`, the simulator's point map below.\n"
        '[gateway]\nidentity_dir = "gateway"\nbuffer_path = "gateway-buffer.sqlite3"\nheartbeat_s = 10\n\n'
        + point_map.read_text()
    )
    since = _log_end(gw_log)
    gateway = _background(["gateway", "run", "--config", str(config)], gw_log)
    started = _wait_for_line(gateway, gw_log, "gateway running as", since)
    if started is None:
        print(f"  gateway         failed to start; see {gw_log}", file=sys.stderr, flush=True)
        return
    running.parts.append(_Part("gateway", gateway, gw_log))
    print("  plant simulator and field gateway running", flush=True)


def _wait_for_api(base: str, timeout: float = 60.0) -> bool:
    """Whether the API answers /health within ``timeout`` seconds."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


def _enrol_demo_gateway(base: str, token: str, directory: Path) -> bool:
    """Enrol the gateway exactly as `cem gateway enroll` does (the API must be up); whether it worked."""
    from cem_gateway.identity import EnrolmentError, enrol

    try:
        identity = enrol(token, directory, server=base)
    except EnrolmentError as err:
        print(f"  gateway         enrolment failed: {err}", file=sys.stderr, flush=True)
        return False
    print(f"  gateway         enrolled as {identity.device_id} -> {directory}/ (key made on the gateway)", flush=True)
    return True


def _enrol_then_stop(base: str, token: str, server: Any) -> None:
    """`cem demo --no-serve`: enrol the gateway through the API started for it, then stop that server."""
    try:
        if _wait_for_api(base):
            _enrol_demo_gateway(base, token, DEMO_DIR / "gateway")
    finally:
        server.should_exit = True


def _demo_broker_port() -> int:
    """The demo broker's port: the one of the last run when it is still free (8883 at first), else a free one.

    The enrolled demo gateway keeps the broker's address in its identity; when the port has to change, the
    identity is pointed at the new one (demo only: a plant's gateway learns its broker at enrolment).
    """
    import json

    remembered = DEMO_DIR / "broker-port"
    previous = int(remembered.read_text()) if remembered.exists() else 8883
    port = _free_port(previous)
    remembered.write_text(f"{port}\n")
    identity = DEMO_DIR / "gateway" / "identity.json"
    if identity.exists():
        meta = json.loads(identity.read_text())
        url = f"mqtts://127.0.0.1:{port}"
        if meta.get("broker_url") != url:
            meta["broker_url"] = url
            identity.write_text(json.dumps(meta, indent=2) + "\n")
    return port


def _serve_clients(base: str, host: str, enterprise_id: int, token: str, running: _Running) -> None:
    """The Flet web apps next to the API (they talk to it over HTTP like any client)."""
    from cem_clients.console.app import console_main
    from cem_clients.mobile.app import mobile_main
    from cem_clients.ui.serve import WebApp, serve_apps
    from cem_clients.wallboard.app import wallboard_main

    served = serve_apps(
        [
            WebApp("wallboard", wallboard_main(base, token, enterprise_id), port=8551, title="碳排放监控大屏"),
            WebApp("mobile", mobile_main(base, data_dir=DEMO_DIR / "mobile"), port=8552, title="碳排放现场助手"),
            WebApp("console", console_main(base), port=8553, title="碳排放管理控制台"),
        ],
        host=host,
    )
    running.apps = [(app.name, app.url) for app in served]
    print("  wallboard, mobile app and console served", flush=True)


def _cem_command() -> str:
    """How to call ``cem`` from the current folder: the virtualenv's script (``.venv/bin/cem`` after make demo)."""
    script = Path(sys.executable).parent / "cem"
    if not script.exists():
        return "cem"
    relative = os.path.relpath(script)
    return relative if not relative.startswith("..") else str(script)


def _accounts_text(accounts: Sequence[Any], names: dict[str, str]) -> list[str]:
    """The demo's logins, one per role, with the TOTP secret where the role needs one."""
    lines = [f"  accounts (password for all: {accounts[0].password})"]
    for account in accounts:
        extra = f"TOTP secret {account.totp_secret}" if account.totp_secret else "no TOTP"
        name = names.get(account.username, "")
        lines.append(f"    {account.username:<18} {account.role.value:<13} {extra:<45} {name}".rstrip())
    secret = next((a.totp_secret for a in accounts if a.totp_secret), None)
    if secret:
        lines.append(f"  current TOTP code of a secret: {_cem_command()} totp-now {secret}")
    return lines


def _emissions_text(emissions: Any, base: str) -> list[str]:
    """Last month's accounted emissions and where the API shows them."""
    if emissions is None:
        return []
    intensity = f", {emissions.intensity:.4f} tCO2/t crude steel" if emissions.intensity is not None else ""
    return [
        f"  emissions       {emissions.month}: {emissions.net_t:,.1f} tCO2 net{intensity}"
        f" (from the imported month ledger; result {emissions.result_id})",
        f"                  {base}/api/v1/emissions?scope=enterprise&id={emissions.enterprise_id}&period=month"
        f"&from={emissions.month}&to={emissions.next_month}",
        f"                  lineage: {base}/api/v1/emissions/{emissions.result_id}/lineage",
    ]


def _banner(
    base: str, accounts: Sequence[Any], names: dict[str, str], emissions: Any, running: _Running, broker_url: str | None
) -> str:
    """What the person at the terminal needs, printed last: where to look, how to log in, where the logs are."""
    lines = ["", "CEM demo is running (data in .cem-demo/; delete the folder to start over)", ""]
    lines += [f"  {name:<16}{url}" for name, url in running.apps]
    lines += [
        f"  API             {base}/api/v1",
        f"  API docs        {base}/schema   (OpenAPI: {base}/schema/openapi.json)",
        "",
        *_accounts_text(accounts, names),
        "",
        *_emissions_text(emissions, base),
    ]
    if broker_url is not None:
        lines.append(f"  MQTT broker     {broker_url}  (Mosquitto, mTLS only)")
    else:
        lines.append("  MQTT broker     not started: install mosquitto to run the plant, the gateway and the broker")
    if running.fault_control:
        lines.append(
            f"  plant faults    {_cem_command()} simulate fault --control {running.fault_control}"
            " --kind comm_loss --target rolling-plc --seconds 120"
        )
    logs = ", ".join(p.name for p in sorted(DEMO_DIR.glob("*.log")))
    lines += [f"  logs            {DEMO_DIR}/: {logs}; broker: {DEMO_DIR}/broker/mosquitto.log", ""]
    lines.append("Press Ctrl+C to stop the demo.")
    return "\n".join(lines)


def _watch(running: _Running, stopping: Callable[[], bool]) -> None:
    """Say on the terminal, in one line each, when a part of the demo dies (the rest of their story is in logs)."""
    told: set[str] = set()
    while not stopping():
        for part in running.parts:
            code = part.process.poll()
            if code is not None and part.name not in told and not stopping():
                told.add(part.name)
                how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
                print(f"  ! {part.name} stopped ({how}); see {part.log}", file=sys.stderr, flush=True)
        time.sleep(1.0)


def _bring_up(
    base: str,
    host: str,
    token: str | None,
    field_parts: bool,
    display: tuple[int, str] | None,
    banner: Callable[[_Running], str],
    stopping: Callable[[], bool],
) -> None:
    """Once the API answers: enrol the gateway, start the plant and the gateway, serve the apps, print the banner,
    then watch the parts."""
    running = _Running()
    if not _wait_for_api(base):
        print(f"  API             did not answer at {base}; see {DEMO_DIR}/api.log", file=sys.stderr, flush=True)
        return
    enrolled = _enrol_demo_gateway(base, token, DEMO_DIR / "gateway") if token is not None else True
    if field_parts and enrolled:
        _start_plant_and_gateway(running)
    if display is not None:
        try:
            _serve_clients(base, host, *display, running)
        except Exception:  # the API and the plant go on; the person learns it in one line
            logging.getLogger("cem_clients").exception("the web apps did not start")
            print(f"  ! the web apps did not start; see {DEMO_DIR}/clients.log", file=sys.stderr, flush=True)
    print(banner(running), flush=True)
    _watch(running, stopping)


def _demo(args: argparse.Namespace) -> int:
    import msgspec

    from cem_platform.logs import log_to_files

    began = time.monotonic()
    DEMO_DIR.mkdir(exist_ok=True)
    log_to_files(DEMO_DIR)  # the components' logs go to .cem-demo/*.log; the terminal keeps progress and banner
    print("CEM demo: preparing .cem-demo/ ...", flush=True)
    broker_port = _demo_broker_port()
    os.environ.setdefault("CEM_DATABASE_URL", f"sqlite://{DEMO_DIR / 'cem.sqlite3'}")
    os.environ.setdefault("CEM_SECURITY_SECRET_KEY_FILE", str(DEMO_DIR / "secret.key"))
    os.environ.setdefault("CEM_PKI_PASSPHRASE_FILE", str(DEMO_DIR / "pki-passphrase"))
    os.environ.setdefault("CEM_PKI_DIR", str(DEMO_DIR / "pki"))
    os.environ.setdefault("CEM_BROKER_CONFIG_DIR", str(DEMO_DIR / "broker"))
    os.environ.setdefault("CEM_BROKER_PID_FILE", str(DEMO_DIR / "broker" / "mosquitto.pid"))
    os.environ.setdefault("CEM_BROKER_URL", f"mqtts://127.0.0.1:{broker_port}")
    os.environ.setdefault("CEM_LOG_JSON", "false")
    # ingest and the periodic jobs run inside the API process (no Redis, no Celery needed for the demo)
    os.environ.setdefault("CEM_INGEST_EMBEDDED", "true")
    os.environ.setdefault("CEM_INGEST_IDENTITY_DIR", str(DEMO_DIR / "ingest"))
    get_settings.cache_clear()
    settings = get_settings()
    # The pid file of an earlier run names a broker that is gone (and a pid that may now be another process's).
    # The demo's broker starts after the CA's files are written and reads them then: preparing them signals
    # nobody (asking for a reload before the broker ran was the old "broker reload failed" warning).
    if settings.broker.pid_file:
        Path(settings.broker.pid_file).unlink(missing_ok=True)
    preparing = msgspec.structs.replace(settings, broker=msgspec.structs.replace(settings.broker, pid_file=""))

    from cem_platform.accounting.demo import seed_accounting_demo
    from cem_platform.db import run_with_db, upgrade_db
    from cem_platform.seed import display_names, display_token, seed_demo, seed_meter_history
    from cem_registry.demo import prepare_demo_devices

    asyncio.run(upgrade_db(settings.database))
    accounts = run_with_db(seed_demo)
    names = run_with_db(lambda _: display_names())
    host, port = args.host or settings.server.host, args.port or settings.server.port
    base = f"http://{host}:{port}"
    devices = run_with_db(
        lambda _: prepare_demo_devices(preparing, demo_dir=DEMO_DIR, broker_port=broker_port, server=base)
    )
    emissions = run_with_db(lambda _: seed_accounting_demo())
    history_until = run_with_db(lambda _: seed_meter_history())
    if history_until is not None:
        _forget_gateway_last_values(DEMO_DIR / "gateway-buffer.sqlite3")
    until = f" up to {history_until:%Y-%m-%d %H:%M} (plant time)" if history_until is not None else ""
    print(f"  organisation, meters, accounts and the works' history{until} ready", flush=True)
    token_file = DEMO_DIR / "wallboard-token"  # the wallboard's display-only API token, owner-readable only
    kept = token_file.read_text().strip() if token_file.exists() else None
    display = run_with_db(lambda s: display_token(s, kept))
    if display is not None and display[1] != kept:
        token_file.touch(mode=0o600)
        token_file.write_text(display[1])
    import uvicorn

    from cem_platform.app import create_app

    if args.no_serve:
        if devices.token is not None:  # the API only for the gateway's enrolment, then stopped
            api = create_app(get_settings())
            log_to_files(DEMO_DIR)  # the app configured logging to stderr
            server = uvicorn.Server(uvicorn.Config(api, host=host, port=port, log_config=None, access_log=False))
            thread = threading.Thread(target=_enrol_then_stop, args=(base, devices.token, server), daemon=True)
            thread.start()
            server.run()
            thread.join(timeout=5)
        print("\n".join(["", *_accounts_text(accounts, names), "", *_emissions_text(emissions, base)]), flush=True)
        print(f"prepared in {time.monotonic() - began:.0f} s; `cem demo` serves it", flush=True)
        return 0
    broker = _start_broker(devices.broker_files[0], Path(settings.broker.pid_file))
    if broker is None and settings.broker.pid_file:  # no broker: the CRL job has nobody to signal
        os.environ["CEM_BROKER_PID_FILE"] = ""
        get_settings.cache_clear()
    app = create_app(get_settings())
    log_to_files(DEMO_DIR)  # the app configured logging to stderr
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False))
    broker_url = settings.broker.url if broker is not None else None
    parts = _Running()
    if broker is not None:
        parts.parts.append(_Part("MQTT broker", broker, DEMO_DIR / "broker" / "mosquitto.log"))

    def banner(running: _Running) -> str:
        running.parts[:0] = parts.parts
        text = _banner(base, accounts, names, emissions, running, broker_url)
        return f"  ready in {time.monotonic() - began:.0f} s\n{text}"

    helper = threading.Thread(
        target=_bring_up,
        args=(base, host, devices.token, broker is not None, display, banner, lambda: server.should_exit),
        name="cem-demo",
        daemon=True,
    )
    helper.start()
    # uvicorn re-raises SIGINT or SIGTERM once it has shut down; SIGTERM's default action would end the process
    # without running atexit, leaving the broker, the simulator and the gateway behind
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the demo; no traceback for that
            server.run()
    finally:
        print("CEM demo stopped", flush=True)
    return 0


def _forget_gateway_last_values(buffer: Path) -> None:
    """Drop the stopped demo gateway's last meter values: its first reading would carry the delta since the last
    run, which today's history from the plant's model already holds (counted twice otherwise). Demo only."""
    import sqlite3

    if not buffer.exists():
        return
    with contextlib.closing(sqlite3.connect(buffer)) as db, db, contextlib.suppress(sqlite3.OperationalError):
        db.execute("DELETE FROM point_state")  # (a buffer too old to keep last values has no such table)


def _exit_on_signal(signum: int, frame: object) -> None:
    """End the process the normal way (atexit runs and stops the demo's parts)."""
    raise SystemExit(128 + signum)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cem", description="CEM carbon emission management platform")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply every pending migration").set_defaults(func=_db_upgrade)

    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes; default CEM_SERVER_WORKERS, else one per core on PostgreSQL (one on SQLite)",
    )
    serve.set_defaults(func=_serve)

    user = commands.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a user (the password is read from the terminal or stdin)")
    create.add_argument("--username", required=True)
    create.add_argument(
        "--role", required=True, choices=["admin", "device_admin", "accountant", "executive", "crew", "auditor"]
    )
    create.add_argument("--display-name")
    create.add_argument("--all-enterprises", action="store_true", help="group level: sees every enterprise")
    create.add_argument("--enterprise", action="append", help="enterprise code in the user's scope (repeatable)")
    create.add_argument("--password-from-env", action="store_true", help="read CEM_NEW_USER_PASSWORD")
    create.set_defaults(func=_user_create)

    ingest = commands.add_parser(
        "ingest", help="consume telemetry and status from the broker into the database (runs until stopped)"
    )
    ingest.add_argument(
        "--identity-dir", help="this process's certificate (cem pki issue-service); default CEM_INGEST_IDENTITY_DIR"
    )
    ingest.add_argument(
        "--client-id", help="only checked: must equal the certificate's CN, which the broker makes the client id"
    )
    ingest.add_argument("--group", help="shared-subscription group; default CEM_INGEST_GROUP")
    ingest.set_defaults(func=_ingest)

    totp = commands.add_parser("totp-now", help="print the current code of a TOTP secret (demo accounts)")
    totp.add_argument("secret")
    totp.set_defaults(func=_totp_now)

    from cem_gateway.cli import add_commands as add_gateway_commands
    from cem_gateway.simulator.cli import add_commands as add_simulator_commands
    from cem_registry.cli import add_commands as add_registry_commands

    add_registry_commands(commands)
    add_gateway_commands(commands)
    add_simulator_commands(commands)

    demo = commands.add_parser("demo", help="migrate, seed and serve the demo on embedded defaults")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.add_argument("--no-serve", action="store_true", help="prepare the demo database and exit")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cem`` console script."""
    args = _parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except CemError as err:
        print(f"error: {err.message}\n  what to do: {err.hint}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
