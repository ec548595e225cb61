"""Embedded PostgreSQL for the demo and local runs when no DATABASE_URL is given."""

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) a pgserver cluster in data_dir and return a URL for database `otbilling`."""
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None keeps the server up between the runserver reloader's processes.
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'otbilling';")
    if "1 row" not in exists:
        server.psql("CREATE DATABASE otbilling;")
        log.info("Created embedded PostgreSQL database in %s", data_dir)
    return server.get_uri("otbilling")
