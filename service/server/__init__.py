"""The server process: gunicorn master, draining uvicorn workers, their hooks, the probe."""
