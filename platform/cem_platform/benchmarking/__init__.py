"""Benchmarking (standard 5.4.5): the indicator, benchmark and limit databases and the gap analysis."""
