"""CEM field gateway: meter and PLC drivers, data quality, store-and-forward, MQTT uplink."""
