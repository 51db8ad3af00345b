"""SQL as data: named statements from the files in ``sql/``.

A file holds blocks that start with ``-- name: <name>``. ``render(name, **identifiers)``
fills ``{placeholders}`` with validated, backtick-quoted identifiers; values stay
``%(name)s`` parameters for the driver. Statements are always executed with a
parameter dict, so a literal ``%`` in an identifier is doubled here.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from .names import quote

_NAME = re.compile(r"^--\s*name:\s*(\S+)\s*$", re.MULTILINE)


def sql_dir() -> Path:
    """``sql/`` of a source checkout, or the copy a wheel carries inside the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_sql", here.parent / "sql"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"provision's sql/ directory is missing next to {here}")


@functools.lru_cache(maxsize=None)
def statements(file: str) -> dict[str, str]:
    text = (sql_dir() / f"{file}.sql").read_text(encoding="utf-8")
    found: dict[str, str] = {}
    marks = list(_NAME.finditer(text))
    for mark, following in zip(marks, marks[1:] + [None]):
        body = text[mark.end(): following.start() if following else len(text)]
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        found[mark.group(1)] = "\n".join(lines).strip().rstrip(";").strip()
    return found


def render(file: str, name: str, **identifiers: str) -> str:
    """The statement ``name`` of ``sql/<file>.sql`` with quoted identifiers filled in.
    """
    statement = statements(file)[name]
    filled = {key: quote(value).replace("%", "%%") for key, value in identifiers.items()}
    return statement.format(**filled)


def run(cursor, file: str, name: str, params: dict | None = None, **identifiers: str):
    """Execute one named statement; return all rows (as the cursor class gives them)."""
    cursor.execute(render(file, name, **identifiers), params or {})
    return cursor.fetchall()
