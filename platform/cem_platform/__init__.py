"""CEM platform: the backend (API, accounting, ingest, jobs)."""
