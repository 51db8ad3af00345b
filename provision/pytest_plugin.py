"""pytest plugin: fresh MySQL databases per test (fixtures mysql_server, mysql_db, mysql_url)."""
from __future__ import annotations
