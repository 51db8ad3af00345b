"""`provision up` on the docker backend: the container starts while the CLI imports.

Docker's part of an `up` is mostly waiting: ~0.2 s for the engine to start the container, then
0.2 s (MariaDB) to 0.7 s (MySQL) for the server in it. The CLI's imports before it (typer, the
API: ~0.05 s) can happen meanwhile. So the command's first step (entry.py), when the options or
the state say it is the docker backend on a port that ``choose`` cannot move (``--backend docker
--port N``, or the port the last `up` recorded), runs ``DockerBackend.start`` in a thread under
the project's lock (``StateDir.hold_early``). It goes on with the CLI once that thread waits for
the engine or the server (``before_waiting``), is done, or has had ``HEAD`` seconds (a pull), so
the two seldom compete for the interpreter; a warm `up` still never imports the Docker SDK.
``DockerBackend.start`` in `up` takes the result when it was made with the same settings
(``key``); else it starts again, which finds the container and reconciles it.

The thread's log records wait until the CLI sets up logging (``hand_over``), then go on live.
The process never exits in the middle of a start: it waits for the thread.
"""
from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Early:
    key: tuple
    waiting: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    started: Any = None  # base.Started
    error: BaseException | None = None
    records: list = field(default_factory=list)


_early: Early | None = None
HEAD = 0.5  # seconds the CLI waits for the thread to reach the engine (its requests take ~0.03-0.1 s)


def key(settings) -> tuple:
    """What DockerBackend.start depends on: the same key, the same start."""
    return (settings.project_dir, settings.state_path, settings.image, settings.docker_cache, settings.recreate,
            settings.port, "port" in settings.explicit, settings.timeout)


def start(overrides: dict[str, str]) -> None:
    """For ``provision up`` with these settings (entry.py): start the docker backend in a thread."""
    global _early
    backend = _backend(overrides)
    if backend is None:
        return
    early = _early = Early(key(backend.settings))
    _buffer_records(early)
    backend.before_waiting = early.waiting.set

    def run() -> None:
        try:
            early.started = backend.start_now()
        except BaseException as exc:  # handed to the DockerBackend.start that takes it
            early.error = exc
        finally:
            early.waiting.set()

    early.thread = threading.Thread(target=run, name="provision-docker-early", daemon=True)
    early.thread.start()
    atexit.register(early.thread.join)  # never cut a start off half-way (its own cleanup must run)
    early.waiting.wait(HEAD)


def take(settings) -> Early | None:
    """The early start made with these settings, finished; None when there is none (or another)."""
    global _early
    early, _early = _early, None
    if early is None:
        return None
    early.thread.join()
    return early if early.key == key(settings) else None


def _backend(overrides: dict[str, str]):
    from ..config import load_settings
    from ..state import StateDir

    settings = load_settings(overrides)
    state = StateDir(settings.state_path)
    recorded = state.read() if state.exists() else {}
    if settings.namespace or recorded.get("namespace"):
        return None
    recorded_port = (recorded.get("docker") or {}).get("port")
    if settings.backend == "docker":
        if "port" not in settings.explicit and not recorded_port:
            return None  # choose() may give the project a port of its own: not ours to guess
    elif settings.backend != "auto" or recorded.get("backend") != "docker" or not recorded_port:
        return None
    if not state.hold_early():
        return None  # another provision command holds the project: it goes first
    from . import get_backend  # by name: docker.py imports this module

    return get_backend("docker", settings, state)


class _Buffer(logging.Handler):
    """The early thread's records, until the CLI's logging takes them (``hand_over``)."""

    def __init__(self, early: Early):
        super().__init__(logging.DEBUG)
        self.early = early

    def emit(self, record: logging.LogRecord) -> None:
        self.early.records.append(record)

    def hand_over(self, handler: logging.Handler, level: int) -> None:
        for record in list(self.early.records):
            if record.levelno >= level:
                handler.handle(record)
        self.early.records.clear()


def _buffer_records(early: Early) -> None:
    logger = logging.getLogger("provision")
    logger.handlers[:] = [_Buffer(early)]
    logger.setLevel(logging.DEBUG)  # the CLI sets the level it wants when it takes over
    logger.propagate = False
