"""The ``cem`` command: database, server, users and the demo."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import getpass
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
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
        workers=args.workers,
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

    overrides = {k: v for k, v in (("client_id", args.client_id), ("group", args.group)) if v}
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
    process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)  # noqa: S603 - fixed argv
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
    """A ``cem`` command in the background, stopped when the demo ends."""
    with log.open("ab") as handle:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", "cem_platform.cli", *args], stdout=handle, stderr=subprocess.STDOUT
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


def _start_plant_and_gateway() -> None:
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
    control = ready.split("control=", 1)[-1].split()[0] if "control=" in ready else "?"
    print(
        f"  plant simulator Modbus TCP + OPC UA on 127.0.0.1 (map {point_map}; faults: cem simulate fault"
        f" --control {control} --kind stuck --target IR.BF1.COKE.FLOW)",
        flush=True,
    )
    config = DEMO_DIR / "gateway.toml"
    config.write_text(
        "# The demo gateway: identity from `cem gateway enroll`, the simulator's point map below.\n"
        '[gateway]\nidentity_dir = "gateway"\nbuffer_path = "gateway-buffer.sqlite3"\nheartbeat_s = 10\n\n'
        + point_map.read_text()
    )
    since = _log_end(gw_log)
    gateway = _background(["gateway", "run", "--config", str(config)], gw_log)
    running = _wait_for_line(gateway, gw_log, "gateway running as", since)
    if running is None:
        print(f"  gateway         failed to start; see {gw_log}", file=sys.stderr, flush=True)
        return
    print(f"  {running.strip()}  (log {gw_log})", flush=True)


def _enrol_demo_gateway(base: str, token: str, directory: Path, server: Any | None, field: bool) -> None:
    """Wait for the API, then enrol the gateway exactly as `cem gateway enroll` does; stop ``server`` after."""
    import httpx

    from cem_gateway.identity import EnrolmentError, enrol

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    try:
        identity = enrol(token, directory, server=base)
        print(
            f"  gateway         enrolled as {identity.device_id} -> {directory}/ (key made on the gateway)", flush=True
        )
        if field:
            _start_plant_and_gateway()
    except EnrolmentError as err:
        print(f"  gateway         enrolment failed: {err}", file=sys.stderr, flush=True)
    finally:
        if server is not None:
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


def _serve_clients(base: str, host: str, enterprise_id: int, token: str) -> None:
    """The Flet web apps next to the API (they talk to it over HTTP like any client): URLs printed."""
    from cem_clients.console.app import console_main
    from cem_clients.mobile.app import mobile_main
    from cem_clients.ui.serve import WebApp, serve_apps
    from cem_clients.wallboard.app import wallboard_main

    print("  clients (Flet web apps, Simplified Chinese, talking to the API like any client):", flush=True)
    serve_apps(
        [
            WebApp("wallboard", wallboard_main(base, token, enterprise_id), port=8551, title="碳排放监控大屏"),
            WebApp("mobile", mobile_main(base, data_dir=DEMO_DIR / "mobile"), port=8552, title="碳排放现场助手"),
            WebApp("console", console_main(base), port=8553, title="碳排放管理控制台"),
        ],
        host=host,
        out=sys.stdout,
    )


def _demo(args: argparse.Namespace) -> int:
    DEMO_DIR.mkdir(exist_ok=True)
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
    os.environ.setdefault("CEM_INGEST_CLIENT_ID", "cem-ingest-demo")
    get_settings.cache_clear()
    settings = get_settings()

    from cem_platform.accounting.demo import seed_accounting_demo
    from cem_platform.db import run_with_db, upgrade_db
    from cem_platform.seed import display_token, seed_demo
    from cem_registry.demo import prepare_demo_devices

    asyncio.run(upgrade_db(settings.database))
    accounts = run_with_db(seed_demo)
    host, port = args.host or settings.server.host, args.port or settings.server.port
    base = f"http://{host}:{port}"
    devices = run_with_db(lambda s: prepare_demo_devices(s, demo_dir=DEMO_DIR, broker_port=broker_port, server=base))
    emissions = run_with_db(lambda _: seed_accounting_demo())
    token_file = DEMO_DIR / "wallboard-token"  # the wallboard's display-only API token, owner-readable only
    kept = token_file.read_text().strip() if token_file.exists() else None
    display = run_with_db(lambda s: display_token(s, kept))
    if display is not None and display[1] != kept:
        token_file.touch(mode=0o600)
        token_file.write_text(display[1])
    print("\nCEM demo — embedded defaults (SQLite in .cem-demo/)\n")
    print(f"  API             {base}/api/v1")
    print(f"  OpenAPI         {base}/schema/openapi.json   (browse: {base}/schema)")
    print(f"  health / ready  {base}/health   {base}/ready\n")
    print(f"  demo accounts (password for all: {accounts[0].password})")
    for account in accounts:
        extra = (
            f"  TOTP secret {account.totp_secret}  (current code: cem totp-now {account.totp_secret})"
            if account.totp_secret
            else ""
        )
        print(f"    {account.username:<18} {account.role.value:<13}{extra}")
    if emissions is not None:
        intensity = f", {emissions.intensity:.4f} tCO2/t crude steel" if emissions.intensity is not None else ""
        print(
            f"\n  emissions       {emissions.month}: {emissions.net_t:,.1f} tCO2 net{intensity}"
            f" (from the imported month ledger; result {emissions.result_id})\n"
            f"                  {base}/api/v1/emissions?scope=enterprise&id={emissions.enterprise_id}&period=month"
            f"&from={emissions.month}&to={emissions.next_month}\n"
            f"                  lineage: {base}/api/v1/emissions/{emissions.result_id}/lineage"
        )
    print(
        f"\n  try: curl -s -X POST {base}/api/v1/auth/login -H 'content-type: application/json' "
        '-d \'{"username":"demo-executive","password":"%s"}\'\n' % accounts[0].password,
        flush=True,
    )
    broker = None if args.no_serve else _start_broker(devices.broker_files[0], Path(settings.broker.pid_file))
    if broker is not None:
        print(
            f"  MQTT broker     {settings.broker.url}  (Mosquitto, mTLS only; config in {settings.broker.config_dir}/)"
        )
    elif not args.no_serve and shutil.which("mosquitto") is None:
        print("  MQTT broker     not started: install mosquitto to run the broker with the generated configuration")
    print(
        f"  ingest          in the API process, as {settings.broker.ingest_identity} ({DEMO_DIR / 'ingest'}/),"
        f" shared subscription $share/{settings.ingest.group}/cem/v1/+/telemetry",
        flush=True,
    )
    print(f"  live updates    ws://{host}:{port}/api/v1/live   rollups and alarm rules every few seconds", flush=True)
    if display is not None and not args.no_serve:
        _serve_clients(base, host, *display)
    import uvicorn

    if devices.token is None:
        print(f"  gateway         {devices.gateway_id} already enrolled ({DEMO_DIR / 'gateway'}/)", flush=True)
        if args.no_serve:
            return 0
        if broker is not None:
            _start_plant_and_gateway()
        args.workers = 1
        return _serve(args)
    config = uvicorn.Config("cem_platform.app:create_app", factory=True, host=host, port=port, log_config=None)
    server = uvicorn.Server(config)
    enrolment = threading.Thread(
        target=_enrol_demo_gateway,
        args=(base, devices.token, DEMO_DIR / "gateway", server if args.no_serve else None, broker is not None),
        daemon=True,
    )
    enrolment.start()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the demo; no traceback for that
        server.run()
    enrolment.join(timeout=5)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cem", description="CEM carbon emission management platform")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply every pending migration").set_defaults(func=_db_upgrade)

    serve = commands.add_parser("serve", help="run the API server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
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
    ingest.add_argument("--client-id", help="MQTT client id of this process; default CEM_INGEST_CLIENT_ID")
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
