"""Live updates over WebSocket, the Celery jobs and the in-process job runner."""
