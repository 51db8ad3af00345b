"""provision: a local MySQL/MariaDB dev database in one command.

The library API is imported lazily so ``import provision`` (and the pytest plugin)
stays cheap: nothing here imports pymysql, docker or testcontainers.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["up", "down", "destroy", "status", "current_url", "load_settings", "ProvisionError",
           "ephemeral_database", "ephemeral_server"]

_API = {"up", "down", "destroy", "status", "current_url"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api

        return getattr(api, name)
    if name == "ephemeral_database":
        from .testing.databases import ephemeral_database

        return ephemeral_database
    if name == "ephemeral_server":
        from .testing.servers import ephemeral_server

        return ephemeral_server
    if name == "load_settings":
        from .config import load_settings

        return load_settings
    if name == "ProvisionError":
        from .errors import ProvisionError

        return ProvisionError
    raise AttributeError(f"module 'provision' has no attribute {name!r}")
