"""A set of file edits, shown as one unified diff and written all or nothing.

Every edit is computed in memory first (old bytes, new bytes). Writing replaces each
file atomically with its old mode; if one write fails, the files already written get
their old bytes back (and new files are removed), so an interrupted ``init`` leaves
the app as it found it.
"""
from __future__ import annotations

import contextlib
import difflib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import InitError
from ..files import atomic_write


@dataclass(frozen=True)
class FileChange:
    path: Path            # absolute
    relative: str         # as shown to the user
    old: bytes | None     # None: the file is new
    new: bytes
    summary: str          # one line: what is added and why

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def diff(self) -> str:
        old = [] if self.old is None else self.old.decode("utf-8").splitlines(keepends=True)
        new = self.new.decode("utf-8").splitlines(keepends=True)
        lines = difflib.unified_diff(old, new, "/dev/null" if self.old is None else f"a/{self.relative}",
                                     f"b/{self.relative}")
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                       for line in lines)


def read_text(path: Path, relative: str) -> tuple[bytes | None, str]:
    """A file's bytes and text ("" when missing); clear errors for what init cannot edit."""
    if path.is_symlink() and not path.exists():
        raise InitError(f"{relative} is a broken symlink; nothing was written",
                        f"fix or remove {relative}, then run provision init again")
    if path.is_dir():
        raise InitError(f"{relative} is a directory; nothing was written",
                        f"move it away, then run provision init again")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        raise InitError(f"cannot read {relative}: {exc.strerror}; nothing was written",
                        f"check the permissions of {relative}") from None
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError:
        raise InitError(f"{relative} is not UTF-8 text; nothing was written",
                        f"convert {relative} to UTF-8, or add provision's lines by hand") from None


def line_ending(text: str) -> str:
    """The file's own line ending, so appended lines match it."""
    return "\r\n" if "\r\n" in text else "\n"


def append_block(text: str, block: str) -> str:
    """``text`` with ``block`` (written with \\n) appended after a blank line, in the file's line ending."""
    eol = line_ending(text)
    if text and not text.endswith("\n"):
        text += eol
    if text.strip():
        text += eol if not text.endswith(eol * 2) else ""
    return text + block.replace("\n", eol)


def write_all(changes: list[FileChange]) -> None:
    """Write every changed file atomically; on a failure put back the ones already written."""
    for change in changes:  # check before touching anything
        target = change.path.resolve() if change.path.is_symlink() else change.path
        if change.old is not None and not os.access(target, os.W_OK):
            raise InitError(f"{change.relative} is read-only; nothing was written",
                            f"make it writable (chmod u+w {change.relative}) and run provision init again")
        if not os.access(target.parent, os.W_OK):
            raise InitError(f"cannot write in {target.parent}; nothing was written",
                            "run provision init as the owner of the app's checkout")
    done: list[FileChange] = []
    try:
        for change in changes:
            _write(change, change.new)
            done.append(change)
    except OSError as exc:
        for change in reversed(done):
            with contextlib.suppress(OSError):
                if change.old is None:
                    change.path.unlink()
                else:
                    _write(change, change.old)
        raise InitError(f"cannot write {change.relative}: {exc.strerror}; every file was put back as it was",
                        "fix the cause (disk full? permissions?) and run provision init again") from None


def _write(change: FileChange, data: bytes) -> None:
    target = change.path.resolve() if change.path.is_symlink() else change.path  # keep a link a link
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    atomic_write(target, data, mode)
