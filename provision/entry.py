"""The ``provision`` command's first step, before the CLI's imports (typer, the API: ~0.1 s).

``provision up`` after ``provision down`` starts the project's native server here, so that the
server's start and those imports overlap (backends/native_early.py); then the CLI runs.
"""
from __future__ import annotations

import sys


def main() -> None:
    from .backends import native_early

    native_early.start(sys.argv[1:])
    from .cli import main as cli

    cli()
