"""The ``provision`` command: parse options, call the API, render the result.

Expected failures are ProvisionError: ``error:``/``hint:`` on stderr and the error's
exit code, no traceback unless --debug. Progress goes to stderr through logging, the
result to stdout (JSON with --json).
"""
from __future__ import annotations

from . import branches, init, up, workflow  # noqa: F401  (each registers its commands on ``app``)
from .app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
