"""Write one key of a .env file and keep every other byte.

python-dotenv's parser finds the binding (its exact original text); only that text
is replaced, keeping its ``export`` prefix, its quotes and its line ending. The new
file is parsed back with python-dotenv before it replaces the old one, atomically,
with the old file's mode (a new file that holds a password gets 0600).
"""
from __future__ import annotations

import io
import os
import re
import stat
from pathlib import Path

from .errors import EnvFileError
from .files import atomic_write

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
_HINT = "fix the path, or choose another file with --env-file"


def read_key(path: Path, key: str) -> str | None:
    from dotenv import dotenv_values

    try:
        return dotenv_values(path, interpolate=False).get(key)
    except (OSError, UnicodeDecodeError):
        return None


def write_key(path: Path, key: str, value: str, *, secret: bool) -> str:
    """Set ``key`` to ``value`` in ``path``; return created, updated or unchanged."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()  # write through the link, keep the link
    if path.is_dir():
        raise EnvFileError(f"{path} is a directory, not a .env file; nothing was written", _HINT)
    try:
        original = path.read_bytes()
    except FileNotFoundError:
        original = None
    except OSError as exc:
        raise EnvFileError(f"cannot read {path}: {exc.strerror}; nothing was written", _HINT) from None
    if original is not None and not os.stat(path).st_mode & stat.S_IWUSR:
        raise EnvFileError(
            f"{path} is read-only; nothing was written",
            f"make it writable (chmod u+w {path}) or set {key} yourself",
        )
    try:
        text = "" if original is None else original.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvFileError(f"{path} is not UTF-8 text; nothing was written", _HINT) from None

    new_text = with_key(text, key, value)
    if original is not None and new_text == text:
        return UNCHANGED
    _check_round_trip(text, new_text, key, value, path)
    mode = stat.S_IMODE(os.stat(path).st_mode) if original is not None else (0o600 if secret else _default_mode())
    _atomic_write(path, new_text.encode("utf-8"), mode)
    return CREATED if original is None else UPDATED


def with_key(text: str, key: str, value: str) -> str:
    """``text`` with ``key`` set to ``value``: only that binding changes, or a line is appended."""
    from dotenv.parser import parse_stream

    # python-dotenv's bindings cover the text without gaps or overlaps (after a BOM it
    # drops), so a binding's offset is the sum of the lengths before it. Its line numbers
    # are not usable for this: a lone '\r' and a '\r\n' both count as one line.
    offset = 1 if text.startswith("\ufeff") else 0
    last = None
    for binding in parse_stream(io.StringIO(text)):
        if binding.key == key:  # dotenv lets the last assignment win: that is the one the app sees
            last = (offset, binding.original.string)
        offset += len(binding.original.string)
    if last is None:
        separator = "" if not text or text.endswith(("\n", "\r")) else "\n"
        return f"{text}{separator}{key}={_encode(value, '')}\n"
    start, old = last
    return text[:start] + _replace_value(old, value) + text[start + len(old):]


# python-dotenv's grammar for one binding (its parser.py, checked against 1.2): matched
# step by step as it does, without backtracking across steps
_LEAD = re.compile(r"\s*(?:export[^\S\r\n]+)?")
_KEY = re.compile(r"'[^']+'|[^=\#\s]+")
_BLANKS = re.compile(r"[^\S\r\n]*")
_EQUALS = re.compile(r"=[^\S\r\n]*")
_QUOTED = {"'": re.compile(r"'(?:\\.|[^'\\])*'", re.DOTALL), '"': re.compile(r'"(?:\\.|[^"\\])*"', re.DOTALL)}
_UNQUOTED = re.compile(r"[^\r\n]*")
_INLINE_COMMENT = re.compile(r"\s+#")


def _replace_value(binding_text: str, value: str) -> str:
    """The binding with its value replaced; its export, spacing, quotes, comment and line end kept."""
    at = _LEAD.match(binding_text).end()
    at = _KEY.match(binding_text, at).end()
    at = _BLANKS.match(binding_text, at).end()
    equals = _EQUALS.match(binding_text, at)
    if equals is None:  # `KEY` alone: dotenv reads None; give it a value
        return f"{binding_text[:at]}={_encode(value, '')}{binding_text[at:]}"
    at = equals.end()
    rest = binding_text[at:]
    if len(equals.group()) > 1 and rest.startswith("#"):  # `KEY= # comment`: an empty value
        return f"{binding_text[:at]}{_encode(value, '', after_blank=True)} {rest}"
    quote = rest[:1] if rest[:1] in _QUOTED else ""
    if quote:
        old_end = _QUOTED[quote].match(rest).end()
    else:
        line = _UNQUOTED.match(rest).group()
        comment = _INLINE_COMMENT.search(line)
        old_end = len(line[:comment.start()] if comment else line.rstrip())
    return f"{binding_text[:at]}{_encode(value, quote, after_blank=len(equals.group()) > 1)}{rest[old_end:]}"


def _encode(value: str, quote: str, *, after_blank: bool = False) -> str:
    """``value`` in the old quoting if it reads back unchanged in it, else double-quoted and escaped."""
    if quote == "" and _bare_ok(value, after_blank):
        return value
    if quote == "'" and not re.search(r"['\\\r\n]", value):
        return f"'{value}'"
    # escapes python-dotenv decodes in double quotes; a raw '\r' would come back as '\n'
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n")
    return f'"{escaped}"'


def _bare_ok(value: str, after_blank: bool) -> bool:
    """An unquoted value reads back as itself: one line, no edge blanks, no quote first, no ' #'."""
    return (value == value.strip() and not re.search(r"[\r\n]|\s#", value)
            and not value.startswith(("'", '"')) and not (after_blank and value.startswith("#")))


def _check_round_trip(before: str, after: str, key: str, value: str, path: Path) -> None:
    """python-dotenv reads ``after`` as ``before`` with only ``key`` set to ``value``, or nothing is written."""
    from dotenv import dotenv_values

    def read(text: str) -> dict:
        # as the app reads the file: open() in text mode translates '\r\n' and '\r'
        return dotenv_values(stream=io.StringIO(text, newline=None), interpolate=False)

    expected = read(before)
    expected[key] = value
    got = read(after)
    if got != expected:
        changed = sorted(k for k in set(got) | set(expected) if got.get(k, ...) != expected.get(k, ...))
        raise EnvFileError(
            f"{path}: after setting {key}, python-dotenv would read {', '.join(changed)} differently; "
            "nothing was written",
            f"look at the {key} line(s) in {path} and fix their quoting, or set {key} yourself",
        )


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    try:
        atomic_write(path, data, mode)
    except OSError as exc:
        raise EnvFileError(f"cannot write {path}: {exc.strerror}; nothing was written", _HINT) from None
