"""The one rule for a new database's collation: the newest utf8mb4 collation the server has.

Used by bootstrap (``provision up``), the project's reset and ephemeral test databases, so a
test database sorts and compares like the dev database. MySQL 8.0+ has ``utf8mb4_0900_ai_ci``
(UCA 9.0); MariaDB 10.10+ has ``utf8mb4_uca1400_ai_ci`` (UCA 14.0) but lists it in
``information_schema.COLLATIONS`` as ``uca1400_ai_ci`` with no character set: its full name
is only in ``COLLATION_CHARACTER_SET_APPLICABILITY.FULL_COLLATION_NAME``, a column MySQL lacks.
"""
from __future__ import annotations

from .errors import BootstrapError
from .sql import run

# newest first, per flavor; utf8mb4_unicode_ci exists on every supported server
PREFERRED = {
    "mysql": ("utf8mb4_0900_ai_ci", "utf8mb4_unicode_ci"),
    "mariadb": ("utf8mb4_uca1400_ai_ci", "utf8mb4_unicode_520_ci", "utf8mb4_unicode_ci"),
}


def utf8mb4_collations(cursor) -> set[str]:
    """The full names of the server's utf8mb4 collations, as CREATE DATABASE ... COLLATE takes them."""
    rows = run(cursor, "collations", "utf8mb4_collations")  # SELECT *: the columns differ by flavor
    columns = [column[0].upper() for column in cursor.description]
    name = "FULL_COLLATION_NAME" if "FULL_COLLATION_NAME" in columns else "COLLATION_NAME"
    at = columns.index(name)
    return {row[name] if isinstance(row, dict) else row[at] for row in rows}


def choose(cursor, flavor: str, wanted: str | None = None, *, server: str = "the server") -> str:
    """``wanted`` if the server has it (else a BootstrapError), or the newest of PREFERRED it has."""
    have = utf8mb4_collations(cursor)
    if wanted:
        if wanted in have:
            return wanted
        raise BootstrapError(
            f"collation {wanted} does not exist on {server}",
            "pass an existing utf8mb4 collation with --collation (SHOW COLLATION LIKE 'utf8mb4%' lists them)",
        )
    for candidate in PREFERRED[flavor]:
        if candidate in have:
            return candidate
    raise BootstrapError(f"{server} has none of the utf8mb4 collations {', '.join(PREFERRED[flavor])}",
                         "pass an existing utf8mb4 collation with --collation")
