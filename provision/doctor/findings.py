"""What the doctor's checks share: a Finding (status, what was found, the fix), the Report,
and the Context the checks read (settings, recorded state, one admin connection)."""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

from ..config import Settings
from ..envfile import read_key
from ..probe import Server, ServerInfo, error_code, server_info
from ..state import StateDir
from ..url import DatabaseURL, parse
from ..project import recorded_backend
from ..project import current_url

log = logging.getLogger(__name__)

OK, WARN, ERROR, SKIP = "ok", "warn", "error", "skip"


@dataclass
class Finding:
    check: str
    status: str  # ok, warn, error, skip
    finding: str
    fix: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not any(f.status == ERROR for f in self.findings)

    def by_check(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]

    def blockers(self) -> list[dict[str, Any]]:
        return [b for f in self.by_check("locks") for b in f.details.get("blockers", [])]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "findings": [asdict(f) for f in self.findings]}


@dataclass
class Context:
    """What the checks share: settings, recorded state, and connections opened once."""

    settings: Settings
    state: StateDir
    recorded: dict[str, Any]
    backend: Any = None
    server: Server | None = None
    admin: Any = None  # an open admin connection, or None
    info: ServerInfo | None = None
    app_url: DatabaseURL | None = None
    url_source: str = ""
    admin_error: BaseException | None = None
    _python_missing: dict[str, list[str]] = field(default_factory=dict)

    @property
    def database(self) -> str | None:
        return self.recorded.get("database") or (self.app_url.database if self.app_url else None)

    @property
    def user(self) -> str | None:
        return self.recorded.get("user") or (self.app_url.user if self.app_url else None)

    def conn(self):
        """A connection that can read the project database's metadata: the admin's, else None."""
        return self.admin


Check = Callable[[Context], Iterator[Finding]]


def load_context(settings: Settings) -> Context:
    state = StateDir(settings.state_path)
    recorded = state.read()
    ctx = Context(settings, state, recorded)
    if recorded.get("backend"):
        ctx.backend = recorded_backend(settings, state, recorded)
        ctx.server = ctx.backend.server()
        ctx.app_url = current_url(settings, state)
        ctx.url_source = f"the state in {state.path}"
    else:
        env_value = read_key(settings.env_path, settings.env_key) or os.environ.get(settings.env_key)
        if env_value:
            with contextlib.suppress(Exception):
                ctx.app_url = parse(env_value)
                ctx.url_source = f"{settings.env_key} in {settings.env_path}"
    if ctx.server is not None:
        try:
            # a port held by something that accepts but never greets must not hang the doctor
            ctx.admin = ctx.server.connect(timeout=3, read_timeout=3)
            ctx.admin._read_timeout = 30  # PyMySQL applies it per read; queries may take longer
            ctx.info = server_info(ctx.admin)
        except Exception as exc:
            if error_code(exc) is None and not isinstance(exc, OSError):
                raise
            ctx.admin_error = exc
            ctx.admin = None
    return ctx


def is_local(ctx: Context) -> bool:
    return ctx.server.local if ctx.server else bool(ctx.app_url and ctx.app_url.host in ("127.0.0.1", "localhost"))


