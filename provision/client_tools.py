"""The server's own command-line tools (mysql/mariadb, mysqldump/mariadb-dump), run on this machine.

Backends that run the server here (native, brew, existing) build their
``client_command()`` with ``local_command``. Credentials go through a 0600 option
file that exists only while the command runs, never through argv.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

TOOLS = {
    "client": ("mariadb", "mysql"),
    "dump": ("mariadb-dump", "mysqldump"),
}


def find_tool(kind: str, near: Path | None = None) -> Path | None:
    """The client or dump tool next to the server binary (``near``), else on PATH."""
    names = TOOLS[kind]
    if near is not None:
        for directory in (near, near.parent / "bin"):
            for name in names:
                candidate = directory / name
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return candidate
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def tool_flavor(path: Path) -> str:
    """"mariadb" or "mysql", from the tool's --version."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return "mariadb" if "mariadb" in out.lower() else "mysql"


def _option_value(value: str) -> str:
    # option files interpret \\ \n \t \" inside double quotes
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


@contextlib.contextmanager
def option_file(directory: Path, **options: str | int | None) -> Iterator[Path]:
    """A ``[client]`` option file readable only by this user; removed on exit."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f".client-{secrets.token_hex(6)}.cnf"
    lines = ["[client]"]
    for key, value in options.items():
        if value is not None:
            lines.append(f"{key.replace('_', '-')}={_option_value(str(value))}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def local_command(kind: str, *, user: str, password: str, host: str, port: int, directory: Path,
                  near: Path | None = None) -> Iterator[list[str] | None]:
    """argv of the local ``kind`` tool logged in as ``user``; None when the tool is not installed."""
    tool = find_tool(kind, near)
    if tool is None:
        yield None
        return
    with option_file(directory, user=user, password=password, host=host, port=port, protocol="TCP",
                     default_character_set="utf8mb4") as path:
        # --defaults-file (first argument) makes the tool read only this file: a ~/.my.cnf
        # [client] user/password would otherwise override the login (it is read after an extra file)
        argv = [str(tool), f"--defaults-file={path}"]
        if kind == "dump" and tool_flavor(tool) == "mysql":
            # MySQL's mysqldump writes SET @@GLOBAL.GTID_PURGED when the server has GTIDs on, and
            # loading that needs SUPER: a snapshot or clone would not load as the app user
            argv.append("--set-gtid-purged=OFF")
        yield argv
