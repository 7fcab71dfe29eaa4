"""The year-end forecast model (carbon_assets/forecast.py) on series made by hand, and the price file reader."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import Workbook

from cem_platform.carbon_assets.forecast import forecast_year
from cem_platform.carbon_assets.ledger import parse_price_file
from cem_platform.carbon_assets.rules import CarbonAssetError

SEASON = [100, 80, 105, 110, 110, 100, 90, 90, 105, 110, 105, 95]


def _years(n: int, level: int = 1000) -> list[Decimal]:
    return [Decimal(level * s) / 100 + Decimal(i % 5) for i in range(n) for s in SEASON[i % 12 : i % 12 + 1]]


def test_a_seasonal_series_is_forecast_with_its_seasons_and_a_band() -> None:
    history = _years(32)  # 2 years and 8 months
    this_year = history[24:]
    result = forecast_year(history, this_year, 4)
    assert result.method == "holt_winters_seasonal_12" and result.months_forecast == 4
    assert result.actual == sum(this_year, Decimal(0)) and result.year_end == result.actual + result.remaining
    assert result.low <= result.year_end <= result.high and result.level == Decimal("0.8")
    # September and October high, December low, as in the years before
    september, october, _, december = result.monthly
    assert september > december and october > december
    expected = sum((Decimal(10 * s) for s in SEASON[8:]), Decimal(0))
    assert abs(result.remaining - expected) / expected < Decimal("0.03")
    assert forecast_year(history, this_year, 4) == result  # a fixed seed: the same forecast again


def test_short_histories_a_full_year_and_a_plan() -> None:
    short = forecast_year(_years(5), _years(5), 7)
    assert short.method == "simple_exponential_smoothing" and short.low < short.high
    mean = forecast_year([Decimal(10), Decimal(12)], [Decimal(10), Decimal(12)], 10)
    assert mean.method == "mean" and mean.remaining == Decimal(110) and mean.low == mean.high == mean.year_end
    done = forecast_year(_years(12), _years(12), 0)
    assert (done.method, done.remaining, done.low, done.high) == ("actual", 0, done.actual, done.actual)
    planned = forecast_year(_years(30), _years(30)[24:], 6, plan_values={0: Decimal(5000)})
    assert planned.monthly[0] == Decimal(5000)
    scaled = forecast_year(_years(30), _years(30)[24:], 6, plan_scale={1: Decimal(2)})
    plain = forecast_year(_years(30), _years(30)[24:], 6)
    assert abs(scaled.monthly[1] - 2 * plain.monthly[1]) < Decimal("0.001") and scaled.monthly[0] == plain.monthly[0]


def test_prices_from_csv_and_xlsx() -> None:
    assert parse_price_file(b"\xef\xbb\xbfdate,price\n2025-07-01,91.2\n\n2025-07-02,92\n", "CEA") == [
        ("CEA", "2025-07-01", "91.2"),
        ("CEA", "2025-07-02", "92"),
    ]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["日期", "价格"])
    sheet.append(["2025-07-03", 93.5])
    data = io.BytesIO()
    book.save(data)
    assert parse_price_file(data.getvalue(), "CCER") == [("CCER", "2025-07-03", 93.5)]
    with pytest.raises(CarbonAssetError, match="no prices"):
        parse_price_file(b"date,price\n", "CEA")
