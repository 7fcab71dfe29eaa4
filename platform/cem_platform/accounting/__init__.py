"""Carbon accounting per GB/T 32151.5: units, formulas, methodology library and engine."""
