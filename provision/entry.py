"""The ``provision`` command's first step, before the CLI's imports (typer, the API: ~0.1 s).

``provision up`` starts the project's server here when the state or the options say which it is,
so that the server's start and those imports overlap: a native server after ``down``
(backends/native_early.py), a Docker container (backends/docker_early.py). Then the CLI runs, and
the backend takes what started (or redoes it, when the CLI's settings differ).
"""
from __future__ import annotations

import logging
import sys

# options of `provision up` that change nothing about the server (any other option: no head start)
HARMLESS = frozenset({"--json", "--debug", "--yes", "-y", "--install"})
# options read here, as the settings they are
SETTINGS = {"--port": "port", "--state-dir": "state_dir", "--backend": "backend", "--image": "image"}


def main() -> None:
    overrides = up_overrides(sys.argv[1:])
    if overrides is not None:
        from .backends import docker_early, native_early

        for head_start in (native_early, docker_early):
            try:
                head_start.start(overrides)
            except Exception as exc:  # only a head start: the backend's own start decides, and reports
                logging.getLogger("provision").debug("no head start (%s)", exc)
    from .cli import main as cli

    cli()


def up_overrides(argv: list[str]) -> dict[str, str] | None:
    """The settings ``provision up [options]`` gives; None: another command, or another option."""
    if not argv or argv[0] != "up":
        return None
    overrides: dict[str, str] = {}
    words = iter(argv[1:])
    for word in words:
        name, equals, value = word.partition("=")
        if name in SETTINGS:
            value = value if equals else next(words, "")
            if not value:
                return None
            overrides[SETTINGS[name]] = value
        elif word not in HARMLESS:
            return None
    return overrides
