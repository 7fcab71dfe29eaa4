"""Physical quantities a measurement point may carry, and the units allowed for each."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

__all__ = ["ACCURACY_CLASS_PATTERN", "POINT_KINDS", "QUANTITY_UNITS", "amount_of"]

# Units are the symbols used across the platform; conversions live with the accounting engine.
QUANTITY_UNITS: dict[str, frozenset[str]] = {
    "mass": frozenset({"t", "kg"}),
    "mass_flow": frozenset({"t/h", "kg/h", "kg/s"}),
    "volume": frozenset({"m3", "Nm3", "L"}),
    "volume_flow": frozenset({"m3/h", "Nm3/h", "L/s"}),
    "energy": frozenset({"kWh", "MWh", "GJ", "MJ", "tce"}),
    "power": frozenset({"kW", "MW"}),
    "heat": frozenset({"GJ", "MJ", "t_steam"}),
    "temperature": frozenset({"degC", "K"}),
    "pressure": frozenset({"kPa", "MPa", "bar"}),
    "ratio": frozenset({"%", "1"}),
    "count": frozenset({"1"}),
    "state": frozenset({"1"}),
}

# totaliser: cumulative register; flow: instantaneous rate; state: running status, level, temperature...
POINT_KINDS = frozenset({"totaliser", "flow", "state"})

# Accuracy classes as printed on energy meters (GB 17167 / GB/T 21368): 0.2S, 0.5S, 1, 1.5, 2.5...
ACCURACY_CLASS_PATTERN = r"^(0\.1|0\.2|0\.5|1|1\.0|1\.5|2|2\.0|2\.5|3|5)S?$"

_RATE: Final = re.compile(r"^(?P<amount>.+)/(?P<per>h|hr|s|min)$")
_PER_SECONDS: Final = {"h": 3600, "hr": 3600, "min": 60, "s": 1}
_POWER: Final = {"kw": "kWh", "mw": "MWh", "gw": "GWh"}


def amount_of(kind: str, unit: str) -> tuple[str, int] | None:
    """The unit of the amount a point gives over a period and, for a flow, the seconds of its rate's denominator:
    a totaliser its own unit (0), a flow its rate integrated (``t/h`` -> ``t``, 3600; ``MW`` -> ``MWh``, 3600).
    None when it gives no amount: a state point, or a flow whose unit is not a rate."""
    if kind == "totaliser":
        return unit, 0
    if kind != "flow":
        return None
    text = "".join(unicodedata.normalize("NFKC", unit).split())
    power = _POWER.get(text.casefold())
    if power is not None:
        return power, 3600
    rate = _RATE.match(text)
    return (rate["amount"], _PER_SECONDS[rate["per"]]) if rate is not None else None
