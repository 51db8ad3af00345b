"""The port a project's own server gets when the default port (3306) is held by another server.

The first choice is derived from the project's state directory path: the same project gets the
same port on every machine layout and after a reboot, and two projects share a first choice
with a chance of 1 in ``SPAN``. When it is taken, the next one is tried. The range sits below
Linux's ephemeral ports (32768 and up), so an outgoing connection never holds it by chance.

A project in the middle of its first ``up`` (initialising its data directory) has not bound its
port yet, so listening is not enough to see it: each choice is claimed in a per-user registry
(one small file per port, under a lock) before the server starts. A claim counts while the
claiming project's state records that port, or for ``CLAIM_TTL`` seconds while its first
``up`` runs; a destroyed or deleted project's claim lapses by itself.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

from .errors import ServerError
from .ports import is_listening

BASE = 13306
SPAN = 1000
CLAIM_TTL = 600.0  # longer than any first start (its readiness timeout is 60 s by default)


def first_choice(state_path: Path) -> int:
    digest = hashlib.sha256(str(Path(state_path).resolve()).encode()).digest()
    return BASE + int.from_bytes(digest[:4], "big") % SPAN


def registry_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"provision-{os.geteuid()}" / "ports"


def claim(state_path: Path, host: str = "127.0.0.1", registry: Path | None = None, *, reserve: bool = True) -> int:
    """A free port for this project's server, claimed for it; the same one on every call.
    ``reserve=False`` only says which port it would be (--dry-run, doctor)."""
    state_path = Path(state_path).resolve()
    registry = registry or registry_dir()
    start = first_choice(state_path)
    with _locked(registry):
        for offset in range(SPAN):
            port = BASE + (start - BASE + offset) % SPAN
            owner = _owner(registry / str(port))
            if owner == state_path:
                return port  # ours already (a retried first up)
            if owner is not None or is_listening(host, port):
                continue
            if reserve:
                (registry / str(port)).write_text(json.dumps({"state": str(state_path)}) + "\n")
            return port
    raise ServerError(f"no free port for the project's server in {BASE}-{BASE + SPAN - 1}",
                      "pass one with --port")


def _owner(path: Path) -> Path | None:
    """The state path of a live claim on this port, else None (a lapsed claim is removed)."""
    try:
        owner = Path(json.loads(path.read_text())["state"])
        age = time.time() - path.stat().st_mtime
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if age < CLAIM_TTL or _records_port(owner, int(path.name)):
        return owner
    with contextlib.suppress(OSError):
        path.unlink()
    return None


def _records_port(state_path: Path, port: int) -> bool:
    try:
        recorded = json.loads((state_path / "state.json").read_text())
    except (OSError, ValueError):
        return False
    return recorded.get("port") == port or any(
        isinstance(part, dict) and part.get("port") == port for part in recorded.values())


@contextlib.contextmanager
def _locked(registry: Path) -> Iterator[None]:
    registry.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(registry / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
