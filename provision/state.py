"""The state directory (``.devdb/``): what the last run set up, its secrets, and a lock.

``state.json`` is plain data (no secrets); ``secrets.json`` is mode 0600. Both are
replaced atomically. ``lock()`` serialises whole commands, so two ``make dev-db``
started together run one after the other and agree.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets as _secrets
import time
from pathlib import Path
from typing import Any, Iterator

from .errors import StateError
from .files import atomic_write

_GITIGNORE_LINE = ".devdb/"
# locks this process took ahead of its command (the head starts: native_early, docker_early), by state
# dir: the next lock() uses them
_held_early: dict[Path, Any] = {}


class StateDir:
    def __init__(self, path: Path):
        self.path = Path(path)

    # --- files ---------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def secrets_file(self) -> Path:
        return self.path / "secrets.json"

    def ensure(self) -> Path:
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            # a name of this process's own: two runs starting together must not race on it
            probe = self.path / f".write-test-{os.getpid()}-{_secrets.token_hex(4)}"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise StateError(
                f"state directory {self.path} is not writable ({exc.strerror or exc})",
                "fix its permissions, or point --state-dir (PROVISION_STATE_DIR) at a writable directory",
            ) from None
        return self.path

    def exists(self) -> bool:
        return self.state_file.is_file()

    def read(self) -> dict[str, Any]:
        return self._read_json(self.state_file)

    def write(self, data: dict[str, Any]) -> None:
        self.ensure()
        atomic_write(self.state_file, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(), 0o644)

    def update(self, **changes: Any) -> dict[str, Any]:
        data = self.read()
        data.update(changes)
        self.write(data)
        return data

    def clear(self) -> None:
        for path in (self.state_file, self.secrets_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # --- secrets -------------------------------------------------------------------
    def secret(self, name: str, *, generate: bool = False) -> str | None:
        """A stored secret; with ``generate``, made (and stored 0600) when missing."""
        data = self._read_json(self.secrets_file)
        if name in data or not generate:
            return data.get(name)
        data[name] = _secrets.token_urlsafe(24)
        self.ensure()
        atomic_write(self.secrets_file, (json.dumps(data, indent=2) + "\n").encode(), 0o600)
        return data[name]

    def set_secret(self, name: str, value: str) -> None:
        data = self._read_json(self.secrets_file)
        if data.get(name) == value:
            return
        data[name] = value
        self.ensure()
        atomic_write(self.secrets_file, (json.dumps(data, indent=2) + "\n").encode(), 0o600)

    # --- lock ----------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, timeout: float | None = None) -> Iterator[bool]:
        """Hold the project's lock; with ``timeout``, give up after that many seconds (yields False)."""
        self.ensure()
        early = _held_early.pop(self.path.resolve(), None)  # taken by this process already: hold_early
        with early or open(self.path / "lock", "a") as handle:
            if early is not None:
                pass
            elif timeout is None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            elif not _flock_within(handle, timeout):
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def hold_early(self) -> bool:
        """Take the project's lock now if it is free, for this process's next ``lock()``: a command's
        head start (native_early, docker_early) runs under the lock the command then holds. False if taken."""
        self.ensure()
        handle = open(self.path / "lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        _held_early[self.path.resolve()] = handle
        return True

    def add_to_gitignore(self, project_dir: Path) -> bool:
        """Add the state dir to the app's .gitignore, when it has one and lacks the line."""
        gitignore = project_dir / ".gitignore"
        try:
            relative = self.path.resolve().relative_to(project_dir.resolve())
        except ValueError:
            return False  # state lives outside the project
        line = f"{relative.as_posix()}/" if str(relative) != "." else _GITIGNORE_LINE
        if not gitignore.is_file():
            return False
        text = gitignore.read_text(encoding="utf-8")
        entries = {entry.strip().rstrip("/") for entry in text.splitlines()}
        if line.rstrip("/") in entries or "/" + line.rstrip("/") in entries:
            return False
        prefix = "" if not text or text.endswith("\n") else "\n"
        with open(gitignore, "a", encoding="utf-8") as handle:
            handle.write(f"{prefix}{line}\n")
        return True

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any]:
        return read_json(path, f"fix or remove {path} (provision destroy removes the whole state)")


def read_json(path: Path, hint: str) -> dict[str, Any]:
    """A JSON file of provision's: {} when it is missing; a StateError with ``hint`` when unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {path}: {exc}", hint) from None


def _flock_within(handle, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)  # sleep-ok: flock has no timed wait; poll the lock
