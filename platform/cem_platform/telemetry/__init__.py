"""Telemetry ingest, time series (raw readings, rollups), dead letters and live updates."""
