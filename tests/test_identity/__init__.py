"""Tests of identity and access."""
