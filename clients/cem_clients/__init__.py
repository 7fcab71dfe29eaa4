"""CEM clients: the Flet apps and their shared typed API client."""
