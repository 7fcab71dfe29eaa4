"""A simulated integrated steel works whose meters speak real Modbus TCP and OPC UA.

It drives the field gateway in tests and in the demo:

* ``model``: the plant as data (``plant.toml``) and its meters as deterministic functions of (seed, time);
* ``modbus`` / ``opcua``: one server per PLC of the configuration;
* ``control``: the running plant (``run_plant``, ``Plant``), faults on command and the JSON-lines control port;
* ``pointmap``: the gateway's point map for the running plant;
* ``cli``: ``cem simulate plant|fault|clear|status|point-map``.

Nothing here imports the platform. The names below load on first use, so mounting the command line stays
cheap for every other ``cem`` command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cem_gateway.simulator.control import FaultError, Plant, control_request, run_plant
    from cem_gateway.simulator.model import ConfigError, PlantConfig, PlantModel, load_config, parse_config
    from cem_gateway.simulator.pointmap import render_point_map, write_point_map

__all__ = [
    "ConfigError",
    "FaultError",
    "Plant",
    "PlantConfig",
    "PlantModel",
    "control_request",
    "load_config",
    "parse_config",
    "render_point_map",
    "run_plant",
    "write_point_map",
]

_WHERE = {
    "FaultError": "control",
    "Plant": "control",
    "control_request": "control",
    "run_plant": "control",
    "ConfigError": "model",
    "PlantConfig": "model",
    "PlantModel": "model",
    "load_config": "model",
    "parse_config": "model",
    "render_point_map": "pointmap",
    "write_point_map": "pointmap",
}


def __getattr__(name: str) -> Any:
    """Import the public names lazily from their modules."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
