"""System parameters and communication settings as audited configuration (standard 5.4.2.1)."""
