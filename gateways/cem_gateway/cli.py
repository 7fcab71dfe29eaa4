"""The gateway's commands, mounted under ``cem gateway``: enrol, renew, check a point map, run."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from cem_gateway.identity import EnrolmentError, enrol, renew
from cem_gateway.pointmap import PointMapError, load_point_map

__all__ = ["add_commands"]


def _verify(args: argparse.Namespace) -> bool | str:
    return str(args.cafile) if args.cafile else True


def _token(args: argparse.Namespace) -> str:
    """The enrolment token from --token, or from --token-file (a file, or ``-`` for standard input)."""
    if args.token is not None:
        return str(args.token)
    source = args.token_file
    try:
        text = sys.stdin.read(65_536) if source == "-" else Path(source).read_text(encoding="utf-8")[:65_536]
    except (OSError, UnicodeDecodeError) as err:
        raise EnrolmentError(f"cannot read the enrolment token from {source}: {err}") from err
    if not text.strip():
        raise EnrolmentError(f"no enrolment token in {'standard input' if source == '-' else source}")
    return text.strip()


def _enroll(args: argparse.Namespace) -> int:
    try:
        identity = enrol(_token(args), Path(args.dir), server=args.server, verify=_verify(args))
    except EnrolmentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"enrolled as {identity.device_id}; identity written to {identity.directory}")
    print(f"  broker        {identity.broker_url}")
    print(f"  publishes to  {identity.topics['telemetry']}, {identity.topics['status']}")
    print(f"  certificate valid until {identity.not_after.isoformat()}; renew after {identity.renew_after.date()}")
    return 0


def _renew(args: argparse.Namespace) -> int:
    try:
        identity = renew(Path(args.dir), server=args.server, verify=_verify(args))
    except EnrolmentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"renewed {identity.device_id}: valid until {identity.not_after.isoformat()}")
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        point_map = load_point_map(args.config)
    except PointMapError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    protocols = sorted({c.protocol for c in point_map.connections.values()})
    print(
        f"{args.config}: {len(point_map.points)} points on {len(point_map.connections)} connections"
        f" ({', '.join(protocols)})"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from cem_gateway.runtime import Gateway  # here: enrol and renew need none of the protocol libraries

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("pymodbus", "asyncua"):
        logging.getLogger(noisy).setLevel(logging.WARNING if args.log_level != "debug" else logging.INFO)
    try:
        gateway = Gateway(load_point_map(args.config))
    except (PointMapError, EnrolmentError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, gateway.stop)

        def ready(_: Any) -> None:
            print(
                f"gateway running as {gateway.device}: {len(gateway.map.points)} points,"
                f" broker {gateway.broker_url}, buffer {gateway.config.buffer_path}",
                flush=True,
            )

        await gateway.run(ready)

    asyncio.run(main())
    return 0


def add_commands(commands: Any) -> None:
    """Add ``gateway enroll`` and ``gateway renew`` to the ``cem`` command's subparsers."""
    gateway = commands.add_parser("gateway", help="field gateway").add_subparsers(dest="gateway_command", required=True)
    enroll = gateway.add_parser("enroll", help="enrol this terminal with a one-time token (makes its own key)")
    enroll.add_argument("--server", help="the platform's address, e.g. https://cem.example.com (or from the QR code)")
    token = enroll.add_mutually_exclusive_group(required=True)
    token.add_argument("--token", help="the enrolment token, or the QR code's JSON payload (visible to `ps`)")
    token.add_argument(
        "--token-file",
        metavar="PATH",
        help="read the token (or the QR payload) from a file, or from standard input with '-', off the command line",
    )
    enroll.add_argument("--dir", required=True, help="folder for key, certificate, chain and broker address")
    enroll.add_argument("--cafile", help="CA bundle that checks the platform's HTTPS certificate")
    enroll.set_defaults(func=_enroll)
    renew_ = gateway.add_parser("renew", help="renew the certificate before it expires (new key)")
    renew_.add_argument("--dir", required=True)
    renew_.add_argument("--server", help="defaults to the address used at enrolment")
    renew_.add_argument("--cafile")
    renew_.set_defaults(func=_renew)
    check = gateway.add_parser("check", help="check a point map and say what is wrong, with the line")
    check.add_argument("--config", required=True, help="point map file (.toml, .yaml)")
    check.set_defaults(func=_check)
    run = gateway.add_parser("run", help="poll the meters, buffer, and send to the broker until stopped")
    run.add_argument("--config", required=True, help="point map file (.toml, .yaml) with a [gateway] section")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    run.set_defaults(func=_run)
