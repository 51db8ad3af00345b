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


def escape_wildcards(text: str) -> str:
    """``text`` matched literally in a LIKE or GRANT pattern ('_' and '%' are wildcards there,
    backslash escapes them): the one place that escapes them."""
    return text.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def grant_pattern(database: str) -> str:
    """The database as a literal GRANT target."""
    return escape_wildcards(database)


# --- test-database names: the names an app's own test runner makes ----------------------------
# A template is a database name with placeholders: {database} (the app's database), {n} (a
# number: Django's clone suffix, Rails' and Laravel's parallel worker) and {token} (any name
# part: SQLAlchemy's xdist ident). Both {n} and {token} become '%' in a GRANT: MySQL's
# patterns have no "digits only".
_TEMPLATE_PART = re.compile(r"\{(database|n|token)\}|([A-Za-z0-9_-]+)")
_WILDCARDS = ("n", "token")


def _template_parts(template: str) -> list[tuple[str, str]]:
    """[(kind, text)]: kind 'literal' or a placeholder name; ConfigError when malformed."""
    parts, position = [], 0
    while position < len(template):
        match = _TEMPLATE_PART.match(template, position)
        if not match:
            raise ConfigError(
                f"invalid test database name {_shown(template)}: unexpected {template[position]!r}",
                "use letters, digits, '_' and '-', and the placeholders {database}, {n} (a number) "
                "and {token} (any name part), for example test_{database}_{n}",
            )
        parts.append(("literal", match.group(2)) if match.group(2) else (match.group(1), ""))
        position = match.end()
    if not parts or parts[0][0] in _WILDCARDS:
        raise ConfigError(
            f"invalid test database name {_shown(template)}: it must start with a fixed part or {{database}}",
            "a pattern that starts with a wildcard would grant access to every database; "
            "write for example test_{database}_{n}",
        )
    return parts


def validate_name_template(template: str) -> str:
    _template_parts(template)
    return template


def template_grant_pattern(template: str, database: str) -> str:
    """The GRANT pattern for a test-database name template, escaped once, here.

    ``test_{database}_{n}`` with database ``ohdevel`` gives ``test\\_ohdevel\\_%``.
    Refused: a pattern that could match a system schema, or a name too long for the server.
    """
    pattern, example = "", ""
    for kind, text in _template_parts(template):
        if kind == "literal":
            pattern, example = pattern + grant_pattern(text), example + text
        elif kind == "database":
            pattern, example = pattern + grant_pattern(database), example + database
        else:
            pattern, example = pattern + "%", example + "1"
    if len(example) > 64:
        raise ConfigError(f"test database name {template!r} gives {example!r}, longer than 64 characters",
                          "use a shorter name or a shorter --database")
    clash = [name for name in _RESERVED_DATABASES if like_match(pattern, name)]
    if clash:
        raise ConfigError(f"test database name {template!r} would match the system schema {clash[0]!r}",
                          "start the name with a fixed part of the app's own, for example test_{database}")
    return pattern


def like_match(pattern: str, name: str) -> bool:
    """Whether a GRANT/LIKE pattern matches ``name`` (case-insensitive, as on a default server)."""
    regex, escaped = "", False
    for char in pattern:
        if escaped:
            regex, escaped = regex + re.escape(char), False
        elif char == "\\":
            escaped = True
        elif char == "%":
            regex += ".*"
        elif char == "_":
            regex += "."
        else:
            regex += re.escape(char)
    return re.fullmatch(regex, name, re.IGNORECASE | re.DOTALL) is not None


def shown_pattern(pattern: str) -> str:
    """A GRANT pattern as a reader says it: ``test\\_ohdevel\\_%`` -> ``test_ohdevel_*``."""
    out, escaped = "", False
    for char in pattern:
        if escaped:
            out, escaped = out + char, False
        elif char == "\\":
            escaped = True
        else:
            out += "*" if char == "%" else ("?" if char == "_" else char)
    return out
