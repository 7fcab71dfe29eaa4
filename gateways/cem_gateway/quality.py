"""Edge data quality (standard 5.2.3.1): check every reading before it is stored and sent.

Per point, in this order:

1. no value (communication, bad status, NaN): dropped, counted by the driver's reason;
2. range (``min``/``max``): dropped as ``out_of_range``;
3. totalisers: the increase since the previous reading. A counter that goes down wrapped if the
   increase through ``rollover`` is plausible (flag ``rollover``), otherwise it was reset or replaced
   (flag ``reset``, no delta, quality uncertain);
4. rate of change (``max_rate`` per second, on the delta for totalisers): dropped as
   ``rate_of_change`` (a spike). Three such readings in a row that agree with each other are a real
   level change: the third is accepted with flag ``step`` (for a totaliser without a delta, quality
   uncertain: a counter that jumps was replaced or preset, and the jump is no consumption);
5. stuck: the same value for ``stuck_s`` seconds or more: kept, quality ``uncertain``, flag ``stuck``;
6. gaps: missing poll slots between the previous good reading and this one, if the gap is at most
   ``max_gap_s``, are filled by ``hold`` (previous value) or ``linear`` interpolation, with
   ``estimated`` set and flag ``filled``. Longer gaps stay gaps (counted as ``gap_unfilled``).

Timestamps are in milliseconds from here on; a slot is identified by its timestamp.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from cem_gateway.pointmap import Point

__all__ = ["QualityFilter", "RawLike", "Sample"]

_STEP_CONFIRMATIONS = 3


class RawLike(Protocol):
    """What a driver hands over: a point, its poll slot (epoch seconds), a value or an error."""

    @property
    def point(self) -> Point: ...
    @property
    def ts(self) -> float: ...
    @property
    def value(self) -> float | None: ...
    @property
    def error(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Sample:
    """A checked reading, ready for the buffer (the buffer gives it its sequence number)."""

    point: str
    ts: int
    value: float
    unit: str
    quality: str = "good"
    estimated: bool = False
    flags: tuple[str, ...] = ()
    delta: float | None = None
    since: int | None = None


@dataclass(slots=True)
class _State:
    ts: int | None = None  # last accepted slot
    value: float | None = None  # last accepted value
    same_since: int | None = None  # first slot of the current run of identical raw values
    last_raw: float | None = None
    stuck: bool = False
    rejected: list[tuple[int, float]] = field(default_factory=list)  # consecutive rate rejections


class QualityFilter:
    """Stateful checks for all points of a gateway; counts what it drops and estimates."""

    def __init__(self) -> None:
        self._state: dict[str, _State] = {}
        self.dropped: Counter[str] = Counter()
        self.estimated = 0
        self.accepted = 0

    def restore(self, states: dict[str, tuple[int, float]]) -> None:
        """Continue from the last stored reading of each point (slot in ms, value), e.g. after a restart."""
        for point, (ts, value) in states.items():
            self._state[point] = _State(ts=ts, value=value)

    def stuck_points(self) -> list[str]:
        """Points whose value has not changed for longer than their ``stuck_s``."""
        return sorted(point for point, state in self._state.items() if state.stuck)

    def process(self, readings: list[RawLike]) -> list[Sample]:
        """Check one slot's readings; returns the samples to store (filled ones first, oldest first)."""
        out: list[Sample] = []
        for raw in readings:
            self._one(raw, out)
        return out

    def _one(self, raw: RawLike, out: list[Sample]) -> None:
        point = raw.point
        if raw.value is None:
            self.dropped[raw.error or "no_value"] += 1
            return
        value = float(raw.value)
        if not math.isfinite(value):
            self.dropped["nan"] += 1
            return
        ts = round(raw.ts * 1000)
        state = self._state.setdefault(point.id, _State())
        if state.ts is not None and ts <= state.ts:
            self.dropped["out_of_order"] += 1
            return
        checks = point.checks
        if (checks.min is not None and value < checks.min) or (checks.max is not None and value > checks.max):
            self.dropped["out_of_range"] += 1
            return

        flags: list[str] = []
        quality = "good"
        delta: float | None = None
        if point.kind == "totaliser" and state.value is not None:
            delta = value - state.value
            if delta < 0:
                delta, flag = self._wrapped(point, state.value, value, ts - (state.ts or ts))
                flags.append(flag)
                if delta is None:
                    quality = "uncertain"
        if checks.max_rate is not None and state.value is not None and state.ts is not None:
            change = delta if point.kind == "totaliser" else value - state.value
            seconds = (ts - state.ts) / 1000
            if change is not None and abs(change) > checks.max_rate * seconds + 1e-9 * abs(value):
                if not self._confirmed_step(state, ts, value, checks.max_rate):
                    self.dropped["rate_of_change"] += 1
                    return
                flags.append("step")
                if point.kind == "totaliser":  # a counter that jumped was replaced or preset: no delta across it
                    delta, quality = None, "uncertain"
        state.rejected.clear()

        # stuck: the raw value did not change for stuck_s or longer
        if state.last_raw is not None and value == state.last_raw and state.same_since is not None:
            if checks.stuck_s is not None and (ts - state.same_since) >= checks.stuck_s * 1000:
                state.stuck = True
        else:
            state.same_since, state.stuck = ts, False
        state.last_raw = value
        if state.stuck:
            flags.append("stuck")
            quality = "uncertain"

        if state.ts is not None and state.value is not None and not {"reset", "rollover", "step"} & set(flags):
            self._fill(point, state.ts, state.value, ts, value, out)
            if out and out[-1].point == point.id and out[-1].estimated and out[-1].ts < ts:
                previous_ts, previous_value = out[-1].ts, out[-1].value
            else:
                previous_ts, previous_value = state.ts, state.value
            if point.kind == "totaliser":
                delta = value - previous_value
        else:
            previous_ts = state.ts or 0
        since = previous_ts if delta is not None else None
        out.append(Sample(point.id, ts, value, point.unit, quality, False, tuple(flags), delta, since))
        self.accepted += 1
        state.ts, state.value = ts, value

    def _wrapped(self, point: Point, before: float, after: float, elapsed_ms: int) -> tuple[float | None, str]:
        """A counter went down: (increase through the rollover, "rollover") or (None, "reset")."""
        if point.rollover is not None:
            through = point.rollover - before + after
            limit = point.checks.max_rate * max(elapsed_ms, 1) / 1000 if point.checks.max_rate else point.rollover / 10
            if 0 <= through <= limit:
                return through, "rollover"
        return None, "reset"

    def _confirmed_step(self, state: _State, ts: int, value: float, max_rate: float) -> bool:
        """Three rate rejections in a row that agree with each other: a real level change."""
        rejected = state.rejected
        if rejected:
            last_ts, last_value = rejected[-1]
            if abs(value - last_value) > max_rate * (ts - last_ts) / 1000 + 1e-9 * abs(value):
                rejected.clear()
        rejected.append((ts, value))
        return len(rejected) >= _STEP_CONFIRMATIONS

    def _fill(self, point: Point, start_ts: int, start: float, end_ts: int, end: float, out: list[Sample]) -> None:
        """Estimated readings for the missing slots between two good ones, if the gap is short enough."""
        period = round(point.poll_s * 1000)
        gap = end_ts - start_ts
        if gap <= period * 1.5:
            return
        checks = point.checks
        if checks.fill == "none" or gap > checks.max_gap_s * 1000 + period / 2:
            self.dropped["gap_unfilled"] += 1
            return
        previous_ts, previous = start_ts, start
        slot = start_ts + period
        while slot < end_ts - period / 2:
            value = start if checks.fill == "hold" else start + (end - start) * (slot - start_ts) / gap
            delta = value - previous if point.kind == "totaliser" else None
            out.append(
                Sample(
                    point.id,
                    slot,
                    value,
                    point.unit,
                    "good",
                    True,
                    ("filled",),
                    delta,
                    previous_ts if delta is not None else None,
                )
            )
            self.estimated += 1
            previous_ts, previous = slot, value
            slot += period
