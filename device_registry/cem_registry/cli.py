"""The registry's commands, mounted into ``cem``: ``pki``, ``broker`` and ``registry``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cem_platform.db import run_with_db
from cem_platform.errors import ConfigurationError
from cem_platform.settings import Settings, get_settings
from cem_registry.ca import Authority
from cem_registry.services import DeviceRegistry

__all__ = ["add_commands"]


def _pki_init(args: argparse.Namespace) -> int:
    result = run_with_db(lambda s: Authority(s).initialise())
    print("certificate authority created")
    print(f"  root CA      {result.root_certificate_path}  sha256 {result.root_fingerprint}")
    print(f"  root key     {result.root_key_path}  (encrypted; move it offline now — it is not needed day to day)")
    print(f"  issuing CA   in the database, key encrypted with CEM_PKI_PASSPHRASE; sha256 {result.issuing_fingerprint}")
    return 0


def _pki_status(args: argparse.Namespace) -> int:
    async def work(settings: Settings) -> None:
        authority = Authority(settings)
        if not await authority.is_initialised():
            print("no certificate authority yet: run 'cem pki init'")
            return
        issuing = await authority.issuing_certificate()
        crl = await authority.current_crl()
        print(f"issuing CA  {issuing.subject.rfc4514_string()}  valid until {issuing.not_valid_after_utc.date()}")
        print(f"CRL         {len(list(crl))} entries, next update {crl.next_update_utc}")

    run_with_db(work)
    return 0


def _pki_issue_service(args: argparse.Namespace) -> int:
    allowed = get_settings().broker.ingest_identities
    identity = args.identity or allowed[0]
    if identity not in allowed:
        # The broker gives the ingest's rights to these names only; a certificate for any other name would
        # connect and be refused everything, or, shaped like a device id, pass for a device.
        raise ConfigurationError(
            f"{identity!r} is not an ingest identity",
            hint=f"Choose one of {allowed[0]}, {allowed[1]} .. {allowed[-1]}, one per ingest process"
            " (CEM_BROKER_INGEST_IDENTITY and CEM_BROKER_INGEST_PROCESSES set them).",
        )

    async def work(settings: Settings) -> None:
        await Authority(settings).write_service_identity(identity, Path(args.dir))

    run_with_db(work)
    print(f"client certificate for {identity!r} written to {args.dir} (client.key, client.crt, ca.pem)")
    return 0


def _broker_mosquitto(args: argparse.Namespace) -> int:
    async def work(settings: Settings) -> list[Path]:
        return await Authority(settings).write_mosquitto_config(
            Path(args.dir), bind=args.bind, port=args.port, pid_file=args.pid_file or ""
        )

    files = run_with_db(work)
    settings = get_settings()
    print(f"Mosquitto configuration written: {', '.join(str(f) for f in files)}")
    print(f"  start it: mosquitto -c {files[0]}")
    if Path(args.dir).resolve() != Path(settings.broker.config_dir).resolve():
        print(
            f"  note: revocations rewrite the CRL and ACL in CEM_BROKER_CONFIG_DIR ({settings.broker.config_dir});"
            f" set it to {args.dir} for this broker to follow them"
        )
    return 0


def _registry_publish_crl(args: argparse.Namespace) -> int:
    publication = run_with_db(lambda s: Authority(s).publish_crl())
    print(f"CRL {publication.number} published with {publication.entries} entries; {publication.broker.detail}")
    return 0


def _registry_check_expiry(args: argparse.Namespace) -> int:
    due = run_with_db(lambda s: DeviceRegistry(s).expiring_certificates())
    for cert in due:
        print(f"{cert.device_id}  certificate {cert.serial} expires {cert.not_after.isoformat()}")
    print(f"{len(due)} certificate(s) newly found near expiry")
    return 0


def add_commands(commands: Any) -> None:
    """Add the ``pki``, ``broker`` and ``registry`` command groups."""
    pki_ = commands.add_parser("pki", help="certificate authority").add_subparsers(dest="pki_command", required=True)
    pki_.add_parser("init", help="create the root and issuing CAs (once)").set_defaults(func=_pki_init)
    pki_.add_parser("status", help="show the CA and CRL").set_defaults(func=_pki_status)
    service = pki_.add_parser("issue-service", help="client certificate for a platform service (ingest)")
    service.add_argument(
        "--name",
        "--identity",
        dest="identity",
        help="CN, which is also the MQTT client id: one per ingest process, CEM_BROKER_INGEST_IDENTITY (the default)"
        " or CEM_BROKER_INGEST_IDENTITY-N, N from 1 to CEM_BROKER_INGEST_PROCESSES",
    )
    service.add_argument("--dir", required=True)
    service.set_defaults(func=_pki_issue_service)

    broker = commands.add_parser("broker", help="MQTT broker configuration").add_subparsers(
        dest="broker_command", required=True
    )
    mosquitto = broker.add_parser("mosquitto-config", help="write a Mosquitto 2 configuration (mTLS, CRL, ACL)")
    mosquitto.add_argument("--dir", required=True)
    mosquitto.add_argument("--bind", default="127.0.0.1")
    mosquitto.add_argument("--port", type=int, default=8883)
    mosquitto.add_argument("--pid-file", help="pid_file line for the broker (its user must be able to write it)")
    mosquitto.set_defaults(func=_broker_mosquitto)

    registry = commands.add_parser("registry", help="device registry jobs").add_subparsers(
        dest="registry_command", required=True
    )
    registry.add_parser("publish-crl", help="sign and publish a fresh CRL").set_defaults(func=_registry_publish_crl)
    registry.add_parser("check-expiry", help="warn of certificates near expiry").set_defaults(
        func=_registry_check_expiry
    )
