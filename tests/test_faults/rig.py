"""Pieces of the fault-injection suite: a private PostgreSQL cluster that can be stopped or crashed without
disturbing other tests, the rows ingest needs copied into it, `cem ingest` processes on it, enrolled devices
that misbehave, and the gateways' buffers read beside the running gateways."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import pwd
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from cem_gateway.uplink import release_sockets, tls_context
from cem_platform.settings import Settings
from tests.test_gateway.harness import CEM, Process, ingest_files, start
from tests.test_ingest.mqtt_rig import ingest_env
from tests.test_registry.broker import Broker, free_port
from tests.test_registry.fleet import Terminal

# What ingest reads about the plant and its terminals, in an order that satisfies the foreign keys; the
# dictionaries these rows point to (process and facility types, units) come from the migrations on both sides.
SEEDED_TABLES = ["org_enterprise", "org_site", "org_process", "org_facility", "org_point", "reg_device"]


def _postgres_bin() -> Path:
    """The PostgreSQL server programs: `pg_config --bindir`, else wherever `initdb` on the PATH really lives."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout
            if (Path(out.strip()) / "initdb").exists():
                return Path(out.strip())
    initdb = shutil.which("initdb")
    assert initdb, "PostgreSQL's server programs (initdb, pg_ctl) are not installed"
    return Path(initdb).resolve().parent


def _as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its programs as the postgres user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def asyncpg_url(url: str) -> str:
    """asyncpg's spelling of a postgres:// URL."""
    return url.replace("postgres://", "postgresql://", 1)


@dataclass
class Cluster:
    """A PostgreSQL cluster of this test alone: its folder, port and programs; stop it any way, start it again."""

    directory: Path
    port: int
    programs: Path

    @property
    def url(self) -> str:
        """The CEM database on it (as CEM_DATABASE_URL)."""
        return f"postgres://postgres@127.0.0.1:{self.port}/cem"

    def _run(self, program: str, *args: str) -> None:
        command = [*_as_postgres(), str(self.programs / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
        assert result.returncode == 0, f"{program} {' '.join(args)} failed:\n{result.stdout}{result.stderr}"

    def init(self) -> None:
        """initdb, listening on loopback only, with its socket in its own folder (no clash with the system's)."""
        self._run("initdb", "-D", str(self.directory / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        with (self.directory / "data" / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.directory}'\nmax_connections = 60\nshared_buffers = 64MB\n"
            )

    def start(self) -> None:
        """Start and wait until it takes connections (after a crash: until its recovery is done)."""
        data, log = str(self.directory / "data"), str(self.directory / "postgres.log")
        self._run("pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown that ends the sessions; ``immediate``: no checkpoint, the next start is a
        crash recovery (what a kill -9 of the postmaster or a power cut leaves)."""
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", mode, "-w", "-t", "60", "stop")

    def log(self) -> str:
        """The server's log (for assertion messages)."""
        return (self.directory / "postgres.log").read_text(errors="replace")[-3000:]


@contextlib.asynccontextmanager
async def private_cluster() -> AsyncIterator[Cluster]:
    """A fresh cluster in a folder owned by the postgres user, with an empty database ``cem``; removed at the end."""
    directory = Path(tempfile.mkdtemp(prefix="cem-faults-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    directory.chmod(0o700)
    cluster = Cluster(directory, free_port(), _postgres_bin())
    try:
        await asyncio.to_thread(cluster.init)
        await asyncio.to_thread(cluster.start)
        admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres")
        await admin.execute("CREATE DATABASE cem")
        await admin.close()
        yield cluster
    finally:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            await asyncio.to_thread(cluster.stop, "immediate")
        shutil.rmtree(directory, ignore_errors=True)


def migrate(url: str, work: Path) -> None:
    """`cem db upgrade` on the database at ``url``: the project's own migrations, as an operator runs them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEM_")} | {"CEM_DATABASE_URL": url}
    result = subprocess.run(
        [*CEM, "db", "upgrade"], env=env, cwd=work, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def copy_rows(source: str, target: str, tables: Sequence[str] = SEEDED_TABLES) -> dict[str, int]:
    """Copy every row of ``tables`` (binary COPY: the same migrations on both sides); returns the counts."""
    counts: dict[str, int] = {}
    src, dst = await asyncpg.connect(asyncpg_url(source)), await asyncpg.connect(asyncpg_url(target))
    try:
        for table in tables:
            data = io.BytesIO()
            await src.copy_from_table(table, output=data, format="binary")
            data.seek(0)
            await dst.copy_to_table(table, source=data, format="binary")
            counts[table] = int(await dst.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await src.close()
        await dst.close()
    return counts


async def query(url: str, sql: str, *args: Any) -> list[asyncpg.Record] | None:
    """Rows of ``sql`` on a fresh connection, or None while the database is out of reach (it is restarted)."""
    try:
        connection = await asyncio.wait_for(asyncpg.connect(asyncpg_url(url)), 5)
    except (OSError, TimeoutError, asyncpg.exceptions.PostgresError, asyncpg.exceptions.InterfaceError):
        return None
    try:
        rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
        return rows
    except (OSError, asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.CannotConnectNowError):
        return None
    finally:
        with contextlib.suppress(Exception):
            await connection.close(timeout=2)


_starts = itertools.count(1)


def ingest_client_ids(settings: Settings, count: int) -> list[str]:
    """Client ids for ``count`` ingest processes: the broker makes each certificate's CN the client id and gives
    the ingest's rights to the names in ``ingest_identities`` only, so each process has a certificate of its own."""
    names = settings.broker.ingest_identities
    assert len(names) > count, f"the broker knows {len(names) - 1} numbered ingest processes, {count} wanted"
    return list(names[1 : count + 1])


@dataclass
class Ingests:
    """`cem ingest` processes with stable client ids on the private database; each can be killed and restarted."""

    settings: Settings
    broker: Broker
    database_url: str
    work: Path
    running: dict[str, Process] = field(default_factory=dict)
    started: list[Process] = field(default_factory=list)

    async def identity(self, client_id: str) -> Path:
        """The process's certificate files (its CN is its client id), issued once."""
        directory = self.work / f"identity-{client_id}"
        if not directory.exists():
            await ingest_files(self.settings, directory, client_id)
        return directory

    async def start(self, client_id: str) -> Process:
        """Start (or restart, resuming its broker session) the process with ``client_id``; wait until subscribed."""
        log = self.work / f"{client_id}-{next(_starts)}.log"
        env = ingest_env(self.settings, self.broker.port, await self.identity(client_id))
        env["CEM_DATABASE_URL"] = self.database_url  # the private cluster, not the test database
        process = start(["ingest"], log, self.work, env=env)
        self.running[client_id] = process
        self.started.append(process)
        await process.wait_for_line("ingest running as", timeout=60)
        return process

    def stop_all(self) -> None:
        """SIGTERM every process ever started here (those already ended are left alone)."""
        for process in self.started:
            process.stop()


def device_client(terminal: Terminal, directory: Path, port: int, *, client_id: str | None = None) -> mqtt.Client:
    """An enrolled device's own MQTT 5 client (its certificate), not yet connected; ``client_id`` may be anything."""
    key, cert, ca = terminal.write(directory)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id or terminal.device_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.tls_set_context(tls_context(str(ca), str(cert), str(key)))
    client.reconnect_delay_set(1, 1)
    return client


@dataclass
class Rogue:
    """An enrolled device that misbehaves for a while: what it received and how often it got in."""

    client: mqtt.Client
    received: int = 0
    connects: int = 0
    refused_subscriptions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        """Disconnect and free the sockets."""
        self.client.disconnect()
        self.client.loop_stop()
        release_sockets(self.client)


def rogue(client: mqtt.Client, port: int, subscribe: str | None = None) -> Rogue:
    """Connect ``client`` (and keep reconnecting), subscribing to ``subscribe`` on every connection."""
    state = Rogue(client)

    def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        with state.lock:
            state.connects += 1
        if subscribe:
            c.subscribe(subscribe, qos=1)

    def on_subscribe(c: mqtt.Client, userdata: object, mid: int, codes: list[Any], props: object) -> None:
        with state.lock:
            state.refused_subscriptions += sum(1 for code in codes if getattr(code, "is_failure", False))

    def on_message(c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with state.lock:
            state.received += 1

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect_async("127.0.0.1", port, keepalive=10)
    client.loop_start()
    return state


@dataclass(frozen=True)
class BufferState:
    """A gateway's buffer as read beside it: the last sequence number given out, readings waiting, evicted."""

    last: int
    depth: int
    evicted: int


def read_buffer(path: Path) -> BufferState:
    """Read the gateway's SQLite buffer without writing to it (the gateway may be running or killed)."""
    if not path.exists():
        return BufferState(0, 0, 0)
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'reading'").fetchone()
        depth = db.execute("SELECT count(*) FROM reading").fetchone()[0]
        evicted = db.execute("SELECT value FROM meta WHERE key = 'evicted'").fetchone()
    return BufferState(last[0] if last else 0, int(depth), int(evicted[0]) if evicted else 0)


def split_point_map(text: str, parts: int) -> list[str]:
    """The plant's point map cut into ``parts`` maps with every connection and every ``parts``-th point each, so
    that each gateway owns its points (and the sequence numbers stored for them are that gateway's)."""
    head, *points = text.split("[[points]]\n")
    return ["".join([head, *("[[points]]\n" + p for p in points[k::parts])]) for k in range(parts)]
