"""`provision up` after `provision down`: the project's native server starts before the CLI's imports.

The CLI's imports (typer, the API, the driver: ~0.1 s) cost about as much as the server's own start
(~0.11 s); one after the other, `up` after `down` was 1.6x a bare start of the server. So the
command's first step (provision/entry.py), for ``provision up`` [a few options], reads what the last `up`
recorded and, when that was a native server that is now stopped, spawns it at once with its
recorded option file, holding the project's lock (``StateDir.hold_early``); the imports then run
while the server starts. ``NativeBackend.start`` adopts the process when the option file it would
write now is the one the server started with (same settings, same binary); otherwise it stops it
and starts the server its usual way. A process nobody adopted (the command failed before `up`
ran, or `up` chose another backend) is stopped when the command exits.

Anything unusual (no state, a crash's leftover files, the port taken, another port) leaves the
start to ``NativeBackend.start``: this is only a head start, never a second way to decide.
"""
from __future__ import annotations

import atexit
import logging
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STOP_TIMEOUT = 60.0


@dataclass
class Early:
    process: subprocess.Popen
    option_file: Path
    options: str  # the option file's text when the server started
    binary: str
    port: int


_started: Early | None = None


def spawn(binary: Path | str, option_file: Path, log_file: Path, cwd: Path) -> subprocess.Popen:
    """The native server as a detached process reading only ``option_file`` (the one way it is started)."""
    log_handle = open(log_file, "ab")
    try:
        # a new session: the server outlives this CLI and its terminal
        return subprocess.Popen(
            [str(binary), f"--defaults-file={option_file}"],
            stdin=subprocess.DEVNULL, stdout=log_handle, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, cwd=cwd,
        )
    finally:
        log_handle.close()


def start(overrides: dict[str, str]) -> None:
    """For ``provision up`` with these settings (entry.py): spawn the recorded, stopped native server now."""
    global _started
    _started = _spawn_recorded(overrides)
    if _started is not None:
        atexit.register(_stop_unadopted)


def take(option_file: Path) -> Early | None:
    """The server this command started early for ``option_file``, now the caller's to wait for."""
    global _started
    early, _started = _started, None
    if early is not None and early.option_file != option_file:
        _started = early  # another project's (a caller with another state dir): left to the exit
        return None
    return early


def stop(early: Early) -> None:
    """Stop a server that started early but is not the one wanted (its settings changed since)."""
    # not while it starts: MariaDB 10.11 sent SIGTERM between "Server socket created" and "ready for
    # connections" hung there, ignoring every later SIGTERM (measured: 60 s, then kill -9)
    _wait_for_greeting(early)
    if early.process.poll() is None:
        early.process.send_signal(signal.SIGTERM)  # a clean shutdown
        try:
            early.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            early.process.kill()
            early.process.wait()


def _wait_for_greeting(early: Early) -> None:
    """Until the server sends its handshake on its port (it serves connections), or exits."""
    deadline = time.monotonic() + STOP_TIMEOUT
    while early.process.poll() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", early.port), timeout=1.0) as connection:
                if connection.recv(4):
                    return
        except OSError:
            pass
        time.sleep(0.01)


def _spawn_recorded(overrides: dict[str, str]) -> Early | None:
    from ..config import load_settings
    from ..ports import is_listening
    from ..state import StateDir

    settings = load_settings(overrides)
    if settings.backend not in ("auto", "native"):
        return None
    state = StateDir(settings.state_path)
    recorded = state.read() if state.exists() else {}
    native = recorded.get("native") or {}
    if recorded.get("backend") != "native" or recorded.get("namespace") or not native.get("binary"):
        return None
    directory = state.path / "native"
    option_file, pid_file = directory / "my.cnf", directory / "mysqld.pid"
    binary = Path(native["binary"])
    if (not option_file.is_file() or not (directory / "data" / "mysql").is_dir() or pid_file.exists()
            or not binary.is_file() or binary.stat().st_mtime_ns != native.get("binary_mtime")):
        return None  # not ours to guess: never started, still running, a crash's leftovers, another binary
    port = settings.port_or_recorded(native.get("port"))
    if port != native.get("port") or is_listening("127.0.0.1", port):
        return None
    if not state.hold_early():
        return None  # another provision command holds the project: it goes first
    options = option_file.read_text(encoding="utf-8")
    process = spawn(binary, option_file, directory / "mysqld.log", directory)
    log.debug("native: started the recorded server early (pid %s)", process.pid)
    return Early(process, option_file, options, str(binary), port)


def _stop_unadopted() -> None:
    early = take(_started.option_file) if _started is not None else None
    if early is not None:
        stop(early)
