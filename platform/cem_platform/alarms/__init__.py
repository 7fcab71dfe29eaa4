"""Device and data alarms (standard 5.4.6): raise, acknowledge, clear, history."""
