"""The simulator's commands, mounted under ``cem simulate``.

``cem simulate plant`` serves the plant until SIGTERM or Ctrl-C, writes the gateway's point map with the
actual ports and prints one line starting with ``simulator ready`` once every server listens.
``cem simulate fault`` / ``clear`` / ``status`` talk to a running simulator's control port;
``cem simulate point-map`` writes the map for fixed ports without serving.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_commands"]

FAULT_KINDS = ("stuck", "spike", "rollover", "comm_loss")


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


async def _serve(args: argparse.Namespace) -> int:
    from cem_gateway.simulator.control import Plant
    from cem_gateway.simulator.model import load_config
    from cem_gateway.simulator.pointmap import write_point_map

    config = load_config(args.config)
    plant = Plant(
        config,
        host=args.host,
        port_base=args.port_base,
        seed=args.seed,
        update_s=args.update_s,
        control_port=args.control_port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await plant.start()
    try:
        parts = [f"{name}={endpoint}" for name, endpoint in plant.endpoints.items()]
        if plant.control_port is not None:
            parts.append(f"control=127.0.0.1:{plant.control_port}")
        if args.point_map:
            parts.append(f"point-map={write_point_map(args.point_map, plant.point_map())}")
        print("simulator ready " + " ".join(parts), flush=True)
        await stop.wait()
    finally:
        await plant.stop()
    print("simulator stopped", flush=True)
    return 0


def _plant(args: argparse.Namespace) -> int:
    from cem_gateway.simulator.model import ConfigError

    # the servers' libraries log every client session at INFO/WARNING; errors are enough here
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.update_s is not None and args.update_s <= 0:
        return _error("--update-s must be positive")
    try:
        return asyncio.run(_serve(args))
    except ConfigError as err:
        return _error(str(err))
    except (OSError, RuntimeError) as err:
        return _error(f"cannot start the simulator: {err} (is a port already in use? try --port-base 0)")


def _request(args: argparse.Namespace, request: dict[str, Any]) -> int:
    from cem_gateway.simulator.control import control_request

    try:
        answer = control_request(args.control, request)
    except (OSError, ValueError) as err:
        return _error(f"control port {args.control}: {err}")
    if not answer.get("ok"):
        return _error(str(answer.get("error", answer)))
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


def _fault(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"op": "inject", "kind": args.kind, "target": args.target}
    if args.seconds is not None:
        request["seconds"] = args.seconds
    if args.factor is not None:
        request["factor"] = args.factor
    return _request(args, request)


def _clear(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"op": "clear"}
    if args.target:
        request["target"] = args.target
    return _request(args, request)


def _status(args: argparse.Namespace) -> int:
    return _request(args, {"op": "status"})


def _point_map(args: argparse.Namespace) -> int:
    from cem_gateway.simulator.model import ConfigError, load_config
    from cem_gateway.simulator.pointmap import render_point_map, write_point_map

    try:
        config = load_config(args.config)
    except ConfigError as err:
        return _error(str(err))
    base = config.port_base if args.port_base is None else args.port_base
    if not base:
        return _error("the ports are only known once the servers listen: give --port-base N, or use `simulate plant`")
    ports = {c.name: base + c.port_offset for c in config.connections}
    host = "127.0.0.1" if args.host in ("", "0.0.0.0") else args.host  # noqa: S104 - mapped, not bound
    text = render_point_map(config, host=host, ports=ports)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        print(f"point map written to {write_point_map(args.out, text)}")
    return 0


def add_commands(commands: Any) -> None:
    """Add ``simulate plant|fault|clear|status|point-map`` to the ``cem`` command's subparsers."""
    simulate = commands.add_parser("simulate", help="steel-plant simulator (Modbus TCP and OPC UA meters)")
    sub = simulate.add_subparsers(dest="simulate_command", required=True)

    plant = sub.add_parser("plant", help="serve the simulated plant until SIGTERM / Ctrl-C")
    plant.add_argument("--config", type=Path, help="plant configuration (TOML); default: the packaged plant")
    plant.add_argument("--host", default="127.0.0.1", help="address the PLC servers bind to (default 127.0.0.1)")
    plant.add_argument(
        "--port-base", type=int, help="connection ports = base + port_offset; 0 = free ports (default: from config)"
    )
    plant.add_argument("--seed", type=int, help="random seed of the plant's variation (default: from config)")
    plant.add_argument("--point-map", help="write the gateway's point map (with the actual ports) to this file")
    plant.add_argument(
        "--control-port", type=int, default=0, help="loopback port of the JSON-lines control port (default: free)"
    )
    plant.add_argument("--update-s", type=float, help="seconds between value updates (default: from config)")
    plant.set_defaults(func=_plant)

    fault = sub.add_parser("fault", help="inject a fault into a running simulator")
    fault.add_argument("--control", required=True, metavar="HOST:PORT", help="the simulator's control port")
    fault.add_argument("--kind", required=True, choices=FAULT_KINDS)
    fault.add_argument("--target", required=True, help="point id (stuck, spike, rollover) or connection (comm_loss)")
    fault.add_argument("--seconds", type=float, help="duration (stuck, comm_loss) or time to the wrap (rollover)")
    fault.add_argument("--factor", type=float, help="spike multiplier (default 10)")
    fault.set_defaults(func=_fault)

    clear = sub.add_parser("clear", help="end the faults of a running simulator (all, or one target's)")
    clear.add_argument("--control", required=True, metavar="HOST:PORT")
    clear.add_argument("--target")
    clear.set_defaults(func=_clear)

    status = sub.add_parser("status", help="ports, plant time and active faults of a running simulator")
    status.add_argument("--control", required=True, metavar="HOST:PORT")
    status.set_defaults(func=_status)

    point_map = sub.add_parser("point-map", help="write the point map for fixed ports without serving")
    point_map.add_argument("--config", type=Path)
    point_map.add_argument("--host", default="127.0.0.1")
    point_map.add_argument("--port-base", type=int, help="default: from the configuration")
    point_map.add_argument("--out", default="-", help="file to write (default: standard output)")
    point_map.set_defaults(func=_point_map)


def main(argv: list[str] | None = None) -> int:
    """Run ``simulate ...`` without the platform's ``cem`` command (``python -m cem_gateway.simulator.cli``)."""
    parser = argparse.ArgumentParser(prog="cem-simulate")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["simulate", *(argv if argv is not None else sys.argv[1:])])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
