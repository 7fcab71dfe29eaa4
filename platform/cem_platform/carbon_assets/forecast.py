"""Year-end forecasts of an enterprise's monthly figures: ETS-scope (direct) and net emissions, energy and crude
steel, from the months kept so far, seasonality from past years and the production plan where entered.

The model (statsmodels' Holt-Winters exponential smoothing, :class:`~statsmodels.tsa.holtwinters.ExponentialSmoothing`)
is fitted to the longest run of consecutive kept months ending with the last complete one:

* 24 months or more: additive level and additive seasonality of 12 months (seasonality from past years);
* 3 to 23 months: level only (simple exponential smoothing): no seasonality can be told from less than two years;
* fewer: the mean of the months there are, with no band (``method`` says so).

The band is the model's own uncertainty: 2,000 simulated future paths (errors drawn from the fitted residuals'
distribution, a fixed seed so a forecast repeats), the year-end total of each; its quantiles at (1 − level)/2 and
(1 + level)/2 (default level 0.8: the 10th and 90th percentiles). A planned month scales every path's value for that
month by planned ÷ forecast crude steel, so the forecast intensity is kept and the plan sets the tonnes; the output
series itself takes the plan as it stands.

The model computes in binary floating point; what it gives is rounded half-even to 0.0001 (t, tce) and returned as
Decimal. Actuals (months kept) are summed exactly from the kept results.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

__all__ = ["LEVEL", "METRICS", "Forecast", "forecast_year"]

LEVEL = Decimal("0.8")
METRICS = ("direct", "net", "energy_tce", "crude_steel")
PATHS = 2000
SEED = 20250101
_STEP = Decimal("0.0001")


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(_STEP, ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Forecast:
    """One metric's year: the kept months' sum, the forecast of the rest, the year-end total and its band."""

    actual: Decimal
    months_actual: int
    remaining: Decimal
    months_forecast: int
    year_end: Decimal
    low: Decimal
    high: Decimal
    level: Decimal
    method: str
    monthly: list[Decimal]  # the forecast of each remaining month, in order


def _paths(history: Sequence[float], steps: int) -> tuple[np.ndarray, str]:
    """Simulated future paths (PATHS x steps) and the method's name."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    data = np.asarray(history, dtype=float)
    if len(data) < 3 or float(np.ptp(data)) == 0.0:
        mean = float(data.mean()) if len(data) else 0.0
        return np.full((PATHS, steps), mean), "mean" if len(data) else "none"
    seasonal = len(data) >= 24
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and frequency notes: the fit is used as it comes out
        model = ExponentialSmoothing(
            data,
            trend=None,
            seasonal="add" if seasonal else None,
            seasonal_periods=12 if seasonal else None,
            initialization_method="estimated",
        )
        fitted = model.fit()
        simulated = fitted.simulate(steps, repetitions=PATHS, error="add", random_state=SEED)
    paths = np.asarray(simulated, dtype=float).reshape(steps, PATHS).T
    return paths, "holt_winters_seasonal_12" if seasonal else "simple_exponential_smoothing"


def forecast_year(
    history: Sequence[Decimal],
    actual: Sequence[Decimal],
    months_left: int,
    *,
    plan_scale: Mapping[int, Decimal] | None = None,
    plan_values: Mapping[int, Decimal] | None = None,
    level: Decimal = LEVEL,
) -> Forecast:
    """The year-end forecast of one metric.

    ``history``: the consecutive monthly values the model learns from (ending with the last kept month, this year's
    included); ``actual``: this year's kept months (summed exactly); ``months_left``: the months to forecast;
    ``plan_scale``: remaining-month index -> planned ÷ forecast output (emissions, energy); ``plan_values``: index ->
    the planned value itself (output)."""
    done = sum(actual, Decimal(0))
    if months_left <= 0:
        return Forecast(done, len(actual), Decimal(0), 0, done, done, done, level, "actual", [])
    paths, method = _paths([float(v) for v in history], months_left)
    for index, scale in (plan_scale or {}).items():
        if 0 <= index < months_left:
            paths[:, index] *= float(scale)
    for index, value in (plan_values or {}).items():
        if 0 <= index < months_left:
            paths[:, index] = float(value)
    totals = paths.sum(axis=1)
    mean = float(totals.mean())
    tail = float((1 - level) / 2)
    low, high = (float(np.quantile(totals, q)) for q in (tail, 1 - tail))
    if not all(math.isfinite(v) for v in (mean, low, high)):
        raise ValueError("the forecast model gave no finite value")
    remaining = _dec(mean)
    return Forecast(
        actual=done,
        months_actual=len(actual),
        remaining=remaining,
        months_forecast=months_left,
        year_end=done + remaining,
        low=done + _dec(low),
        high=done + _dec(high),
        level=level,
        method=method,
        monthly=[_dec(v) for v in paths.mean(axis=0)],
    )
