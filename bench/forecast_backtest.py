"""Back-test of the carbon-asset year-end forecast (cem_platform.carbon_assets.forecast) on a seeded history.

The history is a steel works' monthly figures made from a fixed seed (``--seed``), shaped like the demo works':

* crude steel: 200,000 t a month, a seasonal pattern (the spring festival dip in February, summer maintenance in
  July and August, a strong autumn), a drift of ``--drift`` a year and ``--noise`` relative noise;
* ETS-scope (direct) emissions: crude steel x 1.9 tCO2/t, the intensity falling 2 % a year, with its own noise.

For each of the last ``--years`` years and each cutoff (1 to 11 months kept), the forecast sees only the months up to
the cutoff (and the years before: the model's seasonality) and forecasts the year-end total, as the trial
calculation does. Printed: the mean absolute percentage error (MAPE) of the year-end total by months kept, overall,
the share of years whose actual total fell within the 80 % band (coverage), and the same MAPE of the naive
run-rate forecast (months so far x 12 / months) for comparison. Nothing is asserted; figures are read by people.

Run from the repository root::

    .venv/bin/python bench/forecast_backtest.py                 # 6 years of history, the last 3 tested
    .venv/bin/python bench/forecast_backtest.py --years 1 --history 3
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))

from cem_platform.carbon_assets.forecast import forecast_year  # noqa: E402

SEASON = [1.00, 0.90, 1.02, 1.03, 1.04, 1.01, 0.94, 0.93, 1.02, 1.05, 1.04, 1.02]


def history(years: int, seed: int, drift: float, noise: float) -> dict[str, list[Decimal]]:
    """Monthly crude steel (t) and direct emissions (tCO2) of ``years`` years, from ``seed``."""
    rng = np.random.default_rng(seed)
    steel: list[Decimal] = []
    direct: list[Decimal] = []
    for year in range(years):
        for month in range(12):
            tonnes = 200_000 * (1 + drift) ** (year + month / 12) * SEASON[month] * (1 + rng.normal(0, noise))
            intensity = 1.9 * 0.98 ** (year + month / 12) * (1 + rng.normal(0, noise / 2))
            steel.append(Decimal(f"{tonnes:.4f}"))
            direct.append(Decimal(f"{tonnes * intensity:.4f}"))
    return {"crude_steel": steel, "direct": direct}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=6, help="years of seeded history")
    parser.add_argument("--years", type=int, default=3, help="the last years tested")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--drift", type=float, default=0.02)
    parser.add_argument("--noise", type=float, default=0.03)
    args = parser.parse_args(argv)
    if not 1 <= args.years < args.history:
        parser.error("--years must be at least 1 and fewer than --history")
    series = history(args.history, args.seed, args.drift, args.noise)
    started = time.perf_counter()
    print(f"forecast back-test: {args.history} years of seeded history (seed {args.seed}), last {args.years} tested")
    for metric, values in series.items():
        errors: dict[int, list[float]] = {k: [] for k in range(1, 12)}
        naive: dict[int, list[float]] = {k: [] for k in range(1, 12)}
        inside = total = 0
        methods: set[str] = set()
        for year in range(args.history - args.years, args.history):
            first = year * 12
            actual_total = sum(values[first : first + 12], Decimal(0))
            for kept in range(1, 12):
                seen = values[: first + kept]
                result = forecast_year(seen, values[first : first + kept], 12 - kept)
                methods.add(result.method)
                errors[kept].append(float(abs(result.year_end - actual_total) / actual_total * 100))
                run_rate = sum(values[first : first + kept], Decimal(0)) * 12 / kept
                naive[kept].append(float(abs(run_rate - actual_total) / actual_total * 100))
                inside += result.low <= actual_total <= result.high
                total += 1
        print(f"\n{metric} ({', '.join(sorted(methods))}):")
        print("  months kept   MAPE %   run-rate MAPE %")
        for kept in range(1, 12):
            print(f"  {kept:>11}   {np.mean(errors[kept]):6.2f}   {np.mean(naive[kept]):15.2f}")
        overall = float(np.mean([e for v in errors.values() for e in v]))
        overall_naive = float(np.mean([e for v in naive.values() for e in v]))
        print(f"  MAPE overall: {overall:.2f} % (run-rate {overall_naive:.2f} %)")
        print(f"  80 % band coverage: {inside}/{total} = {inside / total * 100:.0f} %")
    print(f"\nelapsed: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
