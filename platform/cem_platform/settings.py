"""Typed settings read once from the environment (prefix ``CEM_``), grouped per concern.

A variable is named ``CEM_<GROUP>_<FIELD>``: ``CEM_DATABASE_URL`` sets ``settings.database.url``,
``CEM_AUTH_ACCESS_TOKEN_MINUTES`` sets ``settings.auth.access_token_minutes``. Lists are comma-separated.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any

import msgspec

from cem_platform.errors import ConfigurationError

__all__ = [
    "AuthSettings",
    "BrokerSettings",
    "DatabaseSettings",
    "IngestSettings",
    "LogSettings",
    "PkiSettings",
    "RateLimitSettings",
    "RedisSettings",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "TimeseriesSettings",
    "get_settings",
    "load_settings",
]

PREFIX = "CEM_"
Positive = Annotated[int, msgspec.Meta(ge=1)]


class DatabaseSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where the platform keeps its data: ``postgres://...`` in production, ``sqlite://...`` for the demo."""

    url: str = "sqlite://cem-demo.sqlite3"
    pool_min: Positive = 1
    pool_max: Positive = 10


class RedisSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Redis for rate limits, live fan-out and jobs; empty URL means in-process stand-ins (demo only)."""

    url: str = ""


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True):
    """HTTP server and presentation defaults."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    timezone: str = "Asia/Shanghai"
    debug: bool = False
    trusted_proxies: tuple[str, ...] = ()
    # `cem serve` worker processes; 0: one per core on PostgreSQL, one on SQLite or with the embedded ingest
    # (SQLite has one writer; the embedded ingest and jobs must run once)
    workers: Annotated[int, msgspec.Meta(ge=0, le=256)] = 0

    def worker_count(self, database_url: str, embedded: bool) -> int:
        """The number of worker processes `cem serve` starts (``workers``, or the automatic choice)."""
        if self.workers:
            return self.workers
        if embedded or not database_url.startswith(("postgres://", "postgresql://", "asyncpg://", "psycopg://")):
            return 1
        return max(os.cpu_count() or 1, 1)


class AuthSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Login, tokens, lockout and step-up."""

    access_token_minutes: Positive = 15
    refresh_token_days: Positive = 14
    lockout_threshold: Positive = 5
    lockout_minutes: Positive = 15
    step_up_minutes: Positive = 5
    totp_issuer: str = "CEM"
    password_min_length: Annotated[int, msgspec.Meta(ge=8)] = 10


class RateLimitSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Per-client request limits at the application (standard 4.2.5)."""

    enabled: bool = True
    per_minute: Positive = 600
    login_per_minute: Positive = 20


class SecuritySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Network allow/deny lists (CIDR, standard 4.2.5) and the key that encrypts secrets at rest."""

    ip_allow: tuple[str, ...] = ()
    ip_deny: tuple[str, ...] = ()
    secret_key: str = ""  # encrypts secrets at rest; when empty, a key file is created once
    secret_key_file: str = ".cem-secret.key"  # noqa: S105 - a file name, not a secret


class PkiSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The device certificate authority (standard 5.1.5.2): keys, lifetimes and the CRL."""

    passphrase: str = ""  # encrypts the CA keys at rest; when empty, a passphrase file is created once (demo)
    passphrase_file: str = ".cem-pki-passphrase"  # noqa: S105 - a file name, not a secret
    dir: str = ".cem-pki"  # where `cem pki init` writes the root CA's key (take it offline afterwards)
    organisation: str = "CEM"
    curve: str = "secp256r1"
    device_days: Positive = 365
    service_days: Positive = 365
    renew_before_days: Positive = 30  # a device may renew this many days before expiry
    expiry_warning_days: Positive = 30
    token_hours: Positive = 72  # lifetime of an enrolment token
    crl_hours: Positive = 168  # validity of a CRL; the periodic job republishes it daily
    crl_url: str = ""  # public URL of GET /api/v1/registry/crl; when set, certificates name it (EMQX fetches it)
    rsa_min_bits: Annotated[int, msgspec.Meta(ge=2048)] = 2048


class BrokerSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The MQTT broker: what devices are told, and where the registry publishes the CRL and ACL for it."""

    url: str = "mqtts://127.0.0.1:8883"  # given to devices at enrolment
    hostnames: tuple[str, ...] = ("127.0.0.1", "localhost")  # names in the broker's server certificate
    config_dir: str = ".cem-broker"  # crl.pem and acl are rewritten here on every revocation
    pid_file: str = ""  # when set, the broker gets SIGHUP after each rewrite (Mosquitto reloads CRL and ACL)
    ingest_identity: str = "cem-ingest"  # CN of the ingest service's client certificate (and the first process's)
    # The broker makes each client's certificate CN its client id, so every ingest process needs a certificate of
    # its own: <ingest_identity> and <ingest_identity>-1 .. -<ingest_processes> (see ingest_identities).
    ingest_processes: Annotated[int, msgspec.Meta(ge=1, le=999)] = 8
    authz_key: str = ""  # shared secret of the EMQX HTTP authorisation hook; empty disables the hook
    online_minutes: Positive = 5  # a device not seen for longer is shown offline

    @property
    def ingest_identities(self) -> tuple[str, ...]:
        """Every certificate identity an ingest process may have; the broker gives only these the ingest's rights."""
        base = self.ingest_identity
        return (base, *(f"{base}-{n}" for n in range(1, self.ingest_processes + 1)))


class IngestSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The ingest service (``cem ingest``): its MQTT identity, shared subscription and write batching."""

    broker_url: str = ""  # mqtts://host:port of the broker as ingest reaches it; empty: CEM_BROKER_URL
    identity_dir: str = ".cem-ingest"  # client.crt, client.key and ca.pem (`cem pki issue-service --dir`)
    # The broker makes the CN of client.crt the client id (no client can take another's session), so the client id
    # is that CN; this setting is only a check: when set, it must equal the CN, or ingest refuses to start.
    client_id: str = ""
    group: str = "cem-ingest"  # the shared subscription's group: processes in one group split the messages
    session_expiry_s: Positive = 86400
    receive_maximum: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 200  # messages in flight to one process
    batch_readings: Positive = 5000  # write (and then acknowledge) after this many readings...
    batch_wait_ms: Positive = 50  # ...or after this long, whichever comes first
    max_future_s: Positive = 300  # readings stamped further ahead than this are refused (clock fault)
    stats_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0  # log counters and lag percentiles this often
    embedded: bool = False  # run ingest and the periodic jobs inside the API process (demo, no Redis)


class TimeseriesSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Retention of raw readings and rollups (standard 5.2.3.2: five years at least)."""

    raw_retention_days: Annotated[int, msgspec.Meta(ge=31)] = 400
    rollup_retention_years: Annotated[int, msgspec.Meta(ge=5)] = 10  # never less than five years
    partitions_ahead_months: Annotated[int, msgspec.Meta(ge=1, le=24)] = 2
    rollup_interval_s: Positive = 30  # how often the rollup job folds new readings in


class LogSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Structured logging."""

    level: str = "INFO"
    json: bool = True


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """All settings of one platform process."""

    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    redis: RedisSettings = msgspec.field(default_factory=RedisSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    ratelimit: RateLimitSettings = msgspec.field(default_factory=RateLimitSettings)
    security: SecuritySettings = msgspec.field(default_factory=SecuritySettings)
    pki: PkiSettings = msgspec.field(default_factory=PkiSettings)
    broker: BrokerSettings = msgspec.field(default_factory=BrokerSettings)
    ingest: IngestSettings = msgspec.field(default_factory=IngestSettings)
    timeseries: TimeseriesSettings = msgspec.field(default_factory=TimeseriesSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)


_GROUPS: dict[str, type[msgspec.Struct]] = {
    name: field.type for name, field in ((f.name, f) for f in msgspec.structs.fields(Settings))
}


def _parse_value(raw: str, annotation: Any) -> Any:
    """Turn the text of an environment variable into what the field's type needs."""
    text = str(annotation)
    if "tuple" in text:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if text in ("<class 'bool'>", "bool"):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"expected true or false, got {raw!r}")
    return raw


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``environ`` (the process environment by default); unknown CEM_ names are errors."""
    env = os.environ if environ is None else environ
    grouped: dict[str, dict[str, Any]] = {name: {} for name in _GROUPS}
    for key, raw in env.items():
        if not key.startswith(PREFIX):
            continue
        rest = key[len(PREFIX) :].lower()
        group = next((g for g in _GROUPS if rest.startswith(g + "_")), None)
        if group is None:
            continue  # other CEM_ variables belong to other components (gateway, clients)
        field_name = rest[len(group) + 1 :]
        fields = {f.name: f for f in msgspec.structs.fields(_GROUPS[group])}
        if field_name not in fields:
            known = ", ".join(f"CEM_{group.upper()}_{n.upper()}" for n in fields)
            raise ConfigurationError(f"unknown setting {key}; settings of this group are: {known}")
        try:
            grouped[group][field_name] = _parse_value(raw, fields[field_name].type)
        except ConfigurationError as err:
            raise ConfigurationError(f"{key}: {err}") from err
    try:
        return msgspec.convert(grouped, Settings, strict=False)
    except msgspec.ValidationError as err:
        raise ConfigurationError(f"invalid setting: {err} (variables are named CEM_<GROUP>_<FIELD>)") from err


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return load_settings()
