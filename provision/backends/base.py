"""What every backend is: something that makes a MySQL server reachable.

Backends never bootstrap, write .env or diagnose: they return a ``Server`` (where it
is and how an admin logs in) and can stop, remove and describe what they run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ContextManager, Protocol

from ..config import Settings
from ..probe import Server
from ..state import StateDir


@dataclass(frozen=True)
class Started:
    server: Server
    action: str  # "initialized", "started", "restarted", "already running", "recovered", ...
    details: dict[str, Any] = field(default_factory=dict)  # recorded in state.json

    @property
    def changed(self) -> bool:
        return self.action != "already running"


class Backend(Protocol):
    name: str

    def __init__(self, settings: Settings, state: StateDir) -> None: ...

    def available(self) -> tuple[bool, str]:
        """Can this backend run here? (yes/no, and why)."""

    def start(self) -> Started:
        """Start or find the server; return once an admin login works."""

    def stop(self) -> str:
        """Stop what this backend started (data kept); say what happened."""

    def destroy(self) -> str:
        """Stop and remove what this backend made, data included; say what happened."""

    def status(self) -> dict[str, Any]:
        """State, version, port, health: plain data for `provision status`."""

    def logs_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for error messages."""

    def server(self) -> Server:
        """Where the server is and how an admin logs in, without starting anything
        (reset, snapshot, shell and doctor use it)."""

    def client_command(self, kind: str, *, user: str, password: str,
                       interactive: bool = False) -> ContextManager[list[str] | None]:
        """argv running the server's own "client" (mysql/mariadb) or "dump" tool (mysqldump/
        mariadb-dump) where the server is, logged in as user; the caller appends arguments and
        owns stdin/stdout. Credentials never go in argv (a 0600 option file or the environment,
        removed on exit). Yields None when there is no such tool."""

    # Optional (looked up with getattr: only some backends have them):
    #   dump_stream(database, options, *, user, password) -> (what, Iterator[bytes]) | None
    #       the server's dump tool run where the server is when that is not this machine
    #       (docker: inside the container; the password in the exec's environment); snapshots
    #       prefer it to client_command("dump"). None: no such tool.
    #   follow_logs(lines) -> Iterator[str]: the log's tail, then new text as it is written.
