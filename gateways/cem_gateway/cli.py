"""The gateway's commands, mounted under ``cem gateway``: enrol and renew its identity."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cem_gateway.identity import EnrolmentError, enrol, renew

__all__ = ["add_commands"]


def _verify(args: argparse.Namespace) -> bool | str:
    return str(args.cafile) if args.cafile else True


def _enroll(args: argparse.Namespace) -> int:
    try:
        identity = enrol(args.token, Path(args.dir), server=args.server, verify=_verify(args))
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


def add_commands(commands: Any) -> None:
    """Add ``gateway enroll`` and ``gateway renew`` to the ``cem`` command's subparsers."""
    gateway = commands.add_parser("gateway", help="field gateway").add_subparsers(dest="gateway_command", required=True)
    enroll = gateway.add_parser("enroll", help="enrol this terminal with a one-time token (makes its own key)")
    enroll.add_argument("--server", help="the platform's address, e.g. https://cem.example.com (or from the QR code)")
    enroll.add_argument("--token", required=True, help="the enrolment token, or the QR code's JSON payload")
    enroll.add_argument("--dir", required=True, help="folder for key, certificate, chain and broker address")
    enroll.add_argument("--cafile", help="CA bundle that checks the platform's HTTPS certificate")
    enroll.set_defaults(func=_enroll)
    renew_ = gateway.add_parser("renew", help="renew the certificate before it expires (new key)")
    renew_.add_argument("--dir", required=True)
    renew_.add_argument("--server", help="defaults to the address used at enrolment")
    renew_.add_argument("--cafile")
    renew_.set_defaults(func=_renew)
