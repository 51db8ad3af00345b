"""The ``provision`` command's first step, before the CLI's imports (typer, the API: ~0.1 s).

``provision up`` after ``provision down`` starts the project's native server here, so that the
server's start and those imports overlap (backends/native_early.py); then the CLI runs, and the
native backend adopts the server (or restarts it, when the CLI's settings differ).
"""
from __future__ import annotations

import sys

# options of `provision up` that change nothing about the server (any other option: no head start)
HARMLESS = frozenset({"--json", "--debug", "--yes", "-y", "--install"})
# options read here, as the settings they are
SETTINGS = {"--port": "port", "--state-dir": "state_dir", "--backend": "backend"}


def main() -> None:
    overrides = up_overrides(sys.argv[1:])
    if overrides is not None:
        from .backends import native_early

        native_early.start(overrides)
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
