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
_ASSIGNMENT = re.compile(r"^(?P<lead>\s*(?:export\s+)?)(?P<key>[^=\s]+)(?P<eq>\s*=\s*)(?P<value>.*?)(?P<end>\r?\n?)$",
                         re.DOTALL)
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

    new_text = _with_key(text, key, value)
    if original is not None and new_text == text:
        return UNCHANGED
    _check_round_trip(new_text, key, value, path)
    mode = stat.S_IMODE(os.stat(path).st_mode) if original is not None else (0o600 if secret else _default_mode())
    _atomic_write(path, new_text.encode("utf-8"), mode)
    return CREATED if original is None else UPDATED


def _with_key(text: str, key: str, value: str) -> str:
    from dotenv.parser import parse_stream

    bindings = [b for b in parse_stream(io.StringIO(text)) if b.key == key]
    if not bindings:
        separator = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{separator}{key}={value}\n"
    last = bindings[-1]  # dotenv lets the last assignment win: that is the one the app sees
    start = _offset_of_line(text, last.original.line)
    old = last.original.string
    return text[:start] + _replace_value(old, value) + text[start + len(old):]


def _offset_of_line(text: str, line: int) -> int:
    offset = 0
    for _ in range(line - 1):
        offset = text.index("\n", offset) + 1
    return offset


def _replace_value(binding_text: str, value: str) -> str:
    match = _ASSIGNMENT.match(binding_text)
    if not match:
        return binding_text
    old_value = match.group("value")
    comment = ""
    quote = ""
    if old_value[:1] in ("'", '"'):
        quote = old_value[0]
        closing = old_value.find(quote, 1)
        comment = old_value[closing + 1:] if closing > 0 else ""
    else:
        hash_at = re.search(r"\s+#", old_value)
        comment = old_value[hash_at.start():] if hash_at else ""
    return f"{match.group('lead')}{match.group('key')}{match.group('eq')}{quote}{value}{quote}{comment}{match.group('end')}"


def _check_round_trip(text: str, key: str, value: str, path: Path) -> None:
    from dotenv import dotenv_values

    parsed = dotenv_values(stream=io.StringIO(text), interpolate=False)
    if parsed.get(key) != value:
        raise EnvFileError(
            f"{path}: {key} would not read back as written (python-dotenv parses it differently); "
            "nothing was written",
            f"look at the {key} line(s) in {path} and fix their quoting",
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
