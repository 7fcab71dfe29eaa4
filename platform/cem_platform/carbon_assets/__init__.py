"""Carbon assets and early warning (standard 5.4.8): compliance rules, the allowance and offset ledger, prices,
forecasts, trial calculations of surplus or deficit, and warnings."""
