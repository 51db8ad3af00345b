"""Processes by pid: is it alive (and the same process), what is its command line, wait for a condition.

Used by the native and brew backends and by the test servers' reaper; Linux reads /proc, other
systems fall back to ``ps`` (command lines) or answer conservatively (tokens).
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Callable


def token(pid: int) -> str:
    """Something that changes when a pid is reused: the start time (Linux), else ''."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def alive(pid: int, expected_token: str = "") -> bool:
    """The process runs (a zombie does not; our own exited child is collected on the way). With
    ``expected_token`` (from ``token()``), a reused pid is not the process we meant."""
    if pid <= 0:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that exited: reap it
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
    return not expected_token or token(pid) in ("", expected_token)


def cmdline(pid: int) -> str:
    """The process's command line, arguments joined by spaces; '' when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        pass
    try:  # macOS
        return subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True).stdout
    except OSError:
        return ""


def wait_until(condition: Callable[[], bool], timeout: float, *, first: float = 0.02, longest: float = 0.5) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass (backing off from ``first`` to
    ``longest`` seconds between polls); whether it held."""
    deadline = time.monotonic() + timeout
    delay = first
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(delay)
        delay = min(delay * 1.5, longest)
    return condition()
