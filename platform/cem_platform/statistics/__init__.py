"""Energy and carbon statistics (standard 5.4.4): totals, structure, intensity, comparisons."""
