"""CEM test suite."""
