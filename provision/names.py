"""Identifiers: validated against strict patterns, then backtick-quoted.

Values (user names, hosts, passwords) never go through here: they are driver
parameters. Database and collation names cannot be parameters in MySQL, so they
must match a pattern that leaves nothing to escape.
"""
from __future__ import annotations

import re

from .errors import ConfigError

# MySQL and MariaDB allow more, but a name that needs no escaping anywhere (URLs,
# shells, file names, LIKE patterns) is the one a dev database should have.
_DATABASE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_COLLATION = re.compile(r"[a-z0-9_]{1,64}")
_RESERVED_DATABASES = {"mysql", "information_schema", "performance_schema", "sys"}
_RESERVED_USERS = {"root", "mysql", "mariadb.sys", "mysql.sys", "mysql.session", "mysql.infoschema"}


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")


def validate_database(name: str) -> str:
    if not _DATABASE.fullmatch(name or ""):
        raise ConfigError(
            f"invalid database name {_shown(name)}",
            "use 1 to 64 letters, digits and underscores, starting with a letter or underscore "
            "(for example ohdevel)",
        )
    if name.lower() in _RESERVED_DATABASES:
        raise ConfigError(
            f"database name {name!r} is a system schema",
            "choose the app's own database name, for example --database ohdevel",
        )
    return name


def validate_user(name: str) -> str:
    if not _USER.fullmatch(name or ""):
        raise ConfigError(
            f"invalid user name {_shown(name)}",
            "use 1 to 32 letters, digits, '_', '.' or '-', starting with a letter or underscore "
            "(for example ohdev)",
        )
    if name.lower() in _RESERVED_USERS:
        raise ConfigError(
            f"user name {name!r} is a server account",
            "provision creates a least-privilege app user; choose another name, for example --user ohdev",
        )
    return name


def validate_collation(name: str) -> str:
    if not _COLLATION.fullmatch(name or "") or not name.startswith("utf8mb4_"):
        raise ConfigError(
            f"invalid collation {_shown(name)}",
            "use a utf8mb4 collation, for example utf8mb4_unicode_ci or utf8mb4_0900_ai_ci",
        )
    return name


def quote(identifier: str) -> str:
    """Backtick-quote an identifier that already passed validation."""
    if "`" in identifier or "\x00" in identifier:
        raise ConfigError(f"refusing to quote identifier {_shown(identifier)}")
    return f"`{identifier}`"


def grant_pattern(database: str) -> str:
    """The database as a literal GRANT target: '_' and '%' are wildcards there."""
    return database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
