"""Small TOML helpers for init's edits: read with tomllib, check an edit against it.

tomlkit makes the edits (it keeps comments and layout); tomllib, which we did not
write, is the judge: an edited file must parse to the old data plus exactly the
entry we meant to add, else nothing is written.
"""
from __future__ import annotations

import json
import re

from ..errors import InitError

_HINT = "add provision's entry by hand (see the README's 'Use provision in your app'), then run provision init again"


def tomlkit():
    """tomlkit (a dependency of provision), with the fix when an old install lacks it."""
    try:
        import tomlkit as module
    except ModuleNotFoundError:
        raise InitError("provision init needs tomlkit to edit TOML files, and it is not installed; "
                        "nothing was written",
                        "reinstall provision (pip install -e '.[docker]' in its checkout, or make dev-db there), "
                        "or pip install tomlkit") from None
    return module


def loads(text: str, relative: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InitError(f"cannot parse {relative}: {exc}; nothing was written",
                        f"fix the TOML syntax of {relative}, then run provision init again") from None


def check(new_text: str, expected: dict, relative: str) -> None:
    """The edited text parses (tomllib) to ``expected``: the old data plus exactly our entry."""
    try:
        parsed = loads(new_text, relative)
    except InitError:
        raise InitError(f"the edit would make {relative} invalid TOML; nothing was written", _HINT) from None
    if parsed != expected:
        raise InitError(f"the edit would change more of {relative} than provision's entry; nothing was written",
                        _HINT)


def get(data: dict, path: tuple[str, ...], create: bool = False):
    """The table or value at ``path``; None when missing (or ``create`` empty tables on the way)."""
    node = data
    for part in path:
        if not isinstance(node, dict):
            return None
        if part not in node:
            if not create:
                return None
            node[part] = {}
        node = node[part]
    return node


def key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def value(item) -> str:
    """A value on one line: a JSON string of printable text is a TOML basic string; tables go inline
    as poetry and pipenv write them ({git = "...", rev = "..."})."""
    if isinstance(item, str):
        return json.dumps(item)
    return inline(item).as_string()


def inline(item):
    if not isinstance(item, dict):
        return tomlkit().item(item)
    table = tomlkit().inline_table()
    table.update(item)
    return table
