"""Progress of slow steps (a package install, an image pull, a data-directory init, the wait
for readiness), reported as log records so the library never prints.

``with step(log, "initialising the data directory"):`` logs a start record and an end record
(with the elapsed time); ``update(log, text, completed=, total=)`` in between says how far it
got. Each record carries ``progress`` ("start", "update", "end") in its ``extra``. The CLI
renders them with rich on a terminal (a spinner, a bar when the total is known); elsewhere
they are plain log lines (updates only with --debug), and --json hides them with the rest of INFO.
"""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Iterator


@contextlib.contextmanager
def step(log: logging.Logger, title: str, level: int = logging.INFO) -> Iterator[None]:
    """``level`` of the start record: WARNING for what must show even with --json (an install)."""
    started = time.monotonic()
    log.log(level, "%s ...", title, extra={"progress": "start", "step": title})
    ok = False
    try:
        yield
        ok = True
    finally:
        elapsed = time.monotonic() - started
        log.info("%s: %s in %.1f s", title, "done" if ok else "failed", elapsed,
                 extra={"progress": "end", "step": title, "ok": ok, "elapsed": elapsed})


def update(log: logging.Logger, text: str, *, completed: float | None = None, total: float | None = None) -> None:
    log.info("%s", text, extra={"progress": "update", "completed": completed, "total": total})
